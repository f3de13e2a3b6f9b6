"""The dashboard's reading of what the operators record (pure): real operator summaries
(``job_summary`` / ``task_summary`` of real parsed jobs), deferred tasks without a summary, and the
rows it must skip or clean (other operators, older versions, hostile values)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow_provider_vectorimport.hooks.vikingdb import parse_task
from airflow_provider_vectorimport.models import FileDetail, ImportJob, JobState
from airflow_provider_vectorimport.operators.vikingdb import task_summary
from airflow_provider_vectorimport.operators.zilliz import job_summary
from airflow_provider_vectorimport.plugins.jobs import (
    FAILURE_SUMMARY_KEY,
    XCOM_KEYS,
    TaskRow,
    build_job,
    matches,
    safe_url,
    ti_path,
    totals,
)
from airflow_provider_vectorimport.utils import SUMMARY_XCOM_KEY

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
CLOUD_URL = "https://cloud.zilliz.com/clusters/in01-x/import?jobId=job-1"
MILVUS_URL = "http://milvus:19530/v2/vectordb/jobs/import/describe#jobId=42"


def row(xcoms, *, state="success", operator="ZillizImportOperator", rendered=None, **kw) -> TaskRow:
    base = dict(
        dag_id="d",
        run_id="manual__2026-11-30T07:00:00+00:00",
        task_id="import",
        map_index=-1,
        try_number=1,
        state=state,
        operator=operator,
        start_date=NOW - timedelta(minutes=10),
        end_date=NOW - timedelta(minutes=5),
        duration=300.0,
        xcoms=xcoms,
        rendered=rendered,
    )
    base.update(kw)
    return TaskRow(**base)


def zilliz_job(state=JobState.COMPLETED, **kw) -> ImportJob:
    files = [
        FileDetail(name="a.parquet", state=JobState.COMPLETED, imported_rows=10, total_rows=10),
        FileDetail(name="b.parquet", state=JobState.FAILED, reason="column 'vec' has dim 3, expected 4"),
    ]
    return ImportJob(
        job_id="job-1",
        state=state,
        progress=100.0,
        imported_rows=10,
        total_rows=20,
        collection_name="articles",
        files=files,
        raw_state="Completed",
        **kw,
    )


def test_a_failed_job_shows_the_reasons_of_the_summary_pushed_before_raising():
    """A failed task returns nothing; the dashboard reads the summary it pushed under job_summary."""
    assert FAILURE_SUMMARY_KEY == SUMMARY_XCOM_KEY and SUMMARY_XCOM_KEY in XCOM_KEYS
    failed = zilliz_job(JobState.FAILED, reason="1 of 2 files failed")
    summary = job_summary(failed, duration=3.0, console_url=CLOUD_URL, reattached=False)
    xcoms = {"job_id": "job-1", "console_url": CLOUD_URL, SUMMARY_XCOM_KEY: summary}
    job = build_job(row(xcoms, state="failed"), now=NOW)
    assert (job["state"], job["reason"], job["collection"]) == ("failed", "1 of 2 files failed", "articles")
    assert job["files"][1] == {
        "name": "b.parquet",
        "state": "failed",
        "progress": 0.0,
        "rows": None,
        "total_rows": None,
        "size": None,
        "reason": "column 'vec' has dim 3, expected 4",
    }
    assert job["files_failed"] == 1
    # a VikingDB task: the service's err_msg (it names the file and row) is the reason
    task = parse_task(
        {
            "task_id": "t-9",
            "task_type": "data_import",
            "task_status": "fail",
            "task_params": {"collection_name": "docs", "tos_path": "bkt/in", "file_type": "parquet"},
            "process_info": {"err_msg": "bkt/in/part-0.parquet row 0: fields do not match"},
        }
    )
    vik = build_job(
        row(
            {"vikingdb_task_id": "t-9", SUMMARY_XCOM_KEY: task_summary(task)},
            state="failed",
            operator="VikingDBImportOperator",
        ),
        now=NOW,
    )
    assert (vik["service"], vik["kind"], vik["state"]) == ("vikingdb", "import", "failed")
    assert vik["reason"] == "bkt/in/part-0.parquet row 0: fields do not match"
    # without it (older provider versions) the failed job has no reason and no files
    bare = build_job(row({"job_id": "job-1"}, state="failed"), now=NOW)
    assert (bare["state"], bare["reason"], bare["files"]) == ("failed", None, [])
    # a summary of another job is never shown for this one
    other = build_job(row({**xcoms, "job_id": "job-2"}, state="failed"), now=NOW)
    assert other["reason"] is None and other["files"] == []


def test_a_finished_zilliz_job_from_its_real_summary():
    summary = job_summary(zilliz_job(), duration=12.5, console_url=CLOUD_URL, reattached=False)
    job = build_job(row({"job_id": "job-1", "console_url": CLOUD_URL, "return_value": summary}), now=NOW)
    assert job["service"] == "zilliz" and job["kind"] == "import"
    assert (job["collection"], job["job_id"], job["state"]) == ("articles", "job-1", "completed")
    assert (job["rows"], job["total_rows"], job["duration_seconds"]) == (10, 20, 12.5)
    assert job["console_url"] == CLOUD_URL
    assert [f["name"] for f in job["files"]] == ["a.parquet", "b.parquet"]
    assert job["files"][1]["reason"] == "column 'vec' has dim 3, expected 4" and job["files_failed"] == 1
    assert job["reattached"] is False and job["try_number"] == 1


def test_milvus_is_told_apart_by_its_console_url():
    summary = job_summary(zilliz_job(), duration=1.0)
    job = build_job(row({"job_id": "job-1", "console_url": MILVUS_URL, "return_value": summary}), now=NOW)
    assert job["service"] == "milvus"


def test_a_milvus_job_without_a_console_link_is_still_milvus():
    summary = job_summary(zilliz_job(), duration=1.0, console_url="")
    pushed = build_job(
        row({"job_id": "job-1", "console_url": "", "console_service": "milvus", "return_value": summary}),
        now=NOW,
    )
    assert pushed["service"] == "milvus" and pushed["console_url"] is None
    declared = build_job(row({"job_id": "job-1", "return_value": {**summary, "service": "milvus"}}), now=NOW)
    assert declared["service"] == "milvus"
    assert build_job(row({"job_id": "job-1", "return_value": summary}), now=NOW)["service"] == "zilliz"


def test_a_vikingdb_export_counts_the_exported_rows():
    task = parse_task(
        {
            "task_id": "t-1",
            "task_type": "data_export",
            "task_status": "done",
            "task_params": {"collection_name": "docs", "tos_path": "bkt/out", "file_type": "parquet"},
            # documented process_info: no file list (seed 004); the operator lists the prefix itself
            "process_info": {"total_data_count": 100, "total_filter_count": 42},
        }
    )
    summary = task_summary(
        task, console_url="https://console.volcengine.com/vikingdb/x", files=["bkt/out/0.parquet"]
    )
    job = build_job(
        row(
            {"vikingdb_task_id": "t-1", "return_value": summary},
            operator="VikingDBExportOperator",
            task_id="export",
        ),
        now=NOW,
    )
    assert (job["service"], job["kind"], job["collection"]) == ("vikingdb", "export", "docs")
    assert job["state"] == summary["state"]
    assert job["rows"] == summary["total_filter_count"] == 42
    assert job["files"] == [{"name": "bkt/out/0.parquet"}]
    assert job["output"] == "tos://bkt/out"


def test_a_deferred_task_is_running_with_what_it_pushed():
    pushed = {
        "job_id": "job-9",
        "console_url": CLOUD_URL,
        "submitted_at": (NOW - timedelta(seconds=90)).timestamp(),
    }
    job = build_job(row(pushed, state="deferred", rendered={"collection_name": "rendered_coll"}), now=NOW)
    assert (job["state"], job["job_id"], job["collection"]) == ("running", "job-9", "rendered_coll")
    assert job["duration_seconds"] == 90.0 and job["progress"] is None and job["rows"] is None
    assert job["console_url"] == CLOUD_URL


def test_a_failed_task_is_failed_even_without_a_summary():
    job = build_job(row({"job_id": "job-3"}, state="failed"), now=NOW)
    assert job["state"] == "failed" and job["duration_seconds"] == 300.0


def test_rows_that_are_not_ours_are_skipped():
    # another operator pushing a job_id, with its own return value
    assert (
        build_job(row({"job_id": "x", "return_value": {"run_id": 5}}, operator="DatabricksRunNowOperator"))
        is None
    )
    # no job id at all
    assert build_job(row({"return_value": {"state": "completed"}})) is None
    # a job id of an unusable type
    assert build_job(row({"job_id": {"nested": 1}})) is None


def test_rows_of_older_versions_degrade_instead_of_failing():
    # a summary from an older provider: a bare string, or a dict without the fields we know
    for old in ("job-1 completed", {"id": "job-1"}, ["job-1"], None):
        job = build_job(row({"job_id": "job-1", "return_value": old}), now=NOW)
        assert job["job_id"] == "job-1" and job["state"] == "unknown" and job["rows"] is None
    # wrong types inside a summary are dropped field by field
    summary = {
        "job_id": "job-1",
        "state": "bogus",
        "imported_rows": "many",
        "progress": float("nan"),
        "files": "a.parquet",
    }
    job = build_job(row({"job_id": "job-1", "return_value": summary}), now=NOW)
    assert (
        job["state"] == "unknown" and job["rows"] is None and job["progress"] is None and job["files"] == []
    )


def test_extra_fields_never_reach_the_dashboard():
    summary = job_summary(zilliz_job(), duration=1.0, api_key="sk-secret", created_at=NOW.timestamp())
    summary["files"][0]["token"] = "tok-secret"
    job = build_job(row({"job_id": "job-1", "return_value": summary}), now=NOW)
    assert "sk-secret" not in repr(job) and "tok-secret" not in repr(job)


def test_console_links_are_http_without_credentials():
    assert safe_url("javascript:alert(1)") is None
    assert safe_url("https://user:pw@cloud.zilliz.com/x?jobId=1") == "https://cloud.zilliz.com/x?jobId=1"
    assert safe_url("http://127.0.0.1:8080/p#f") == "http://127.0.0.1:8080/p#f"
    job = build_job(row({"job_id": "j", "console_url": "javascript:alert(1)"}, state="running"), now=NOW)
    assert job["console_url"] is None


def test_links_filters_and_totals():
    job = build_job(row({"job_id": "job-1", "return_value": job_summary(zilliz_job())}), now=NOW)
    assert ti_path(job) == "/dags/d/runs/manual__2026-11-30T07%3A00%3A00%2B00%3A00/tasks/import"
    assert ti_path({**job, "map_index": 3}, "/airflow/").endswith("/tasks/import/mapped/3")
    assert ti_path({**job, "map_index": 3}, "/airflow/").startswith("/airflow/dags/")
    assert matches(job, services={"zilliz"}, states={"completed"}, collection="articles")
    assert not matches(job, services={"vikingdb"})
    assert not matches(job, states={"failed"})
    assert not matches(job, collection="other")
    failed = build_job(row({"job_id": "job-2"}, state="failed"), now=NOW)
    assert totals([job, failed]) == {
        "jobs": 2,
        "by_state": {"completed": 1, "failed": 1},
        "rows_completed": 10,
    }


def test_the_plugin_is_registered_both_ways():
    """In the provider metadata (read with ``lazy_discover_providers = False``) and as an
    ``airflow.plugins`` entry point (read by default), under the same name and class."""
    import importlib
    import tomllib
    from pathlib import Path

    from airflow.plugins_manager import AirflowPlugin

    from airflow_provider_vectorimport.get_provider_info import get_provider_info

    (entry,) = get_provider_info()["plugins"]
    module, _, name = entry["plugin-class"].rpartition(".")
    plugin = getattr(importlib.import_module(module), name)
    assert issubclass(plugin, AirflowPlugin) and plugin.name == entry["name"]
    pyproject = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    points = pyproject["project"]["entry-points"]["airflow.plugins"]
    assert points == {entry["name"]: f"{module}:{name}"}
    (app,) = plugin.fastapi_apps
    assert app["url_prefix"] == "/vectorimport"
    routes = {route.path for route in app["app"].routes}
    assert {"/", "/api/jobs", "/api/job", "/api/meta"} <= routes
    (view,) = plugin.external_views
    assert view["href"] == app["url_prefix"] + "/" and view["destination"] == "nav"


def test_live_refresh_limiter_caches_per_job_and_caps_calls():
    from airflow_provider_vectorimport.plugins.api import _LiveLimiter

    limiter = _LiveLimiter(ttl=60.0, calls=2, per=60.0)
    key = ("cls", "conn", "job-1")
    assert limiter.cached(key) is None
    assert limiter.take() == 0.0 and limiter.take() == 0.0
    wait = limiter.take()  # the third call within the minute must wait
    assert 0 < wait <= 60.0
    limiter.store(key, {"state": "running"}, "2026-12-05T10:00:00+00:00")
    assert limiter.cached(key) == ({"state": "running"}, "2026-12-05T10:00:00+00:00")
    assert limiter.cached(("cls", "conn", "job-2")) is None
    expired = _LiveLimiter(ttl=0.0, calls=1, per=60.0)
    expired.store(key, {"state": "running"}, "2026-12-05T10:00:00+00:00")
    assert expired.cached(key) is None
