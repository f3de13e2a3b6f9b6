"""ZillizImportOperator and ZillizImportJobSensor: polling and deferred paths, failures, and
retries that reattach instead of creating a second job. HTTP goes to a scripted server on 127.0.0.1;
the Airflow runtime context is a small stand-in (the DAG-level tests run the real one)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout, AirflowSkipException, TaskDeferred

from airflow_provider_vectorimport.exceptions import ConfigurationError, JobFailedError
from airflow_provider_vectorimport.hooks.zilliz import AmbiguousJobError
from airflow_provider_vectorimport.operators.zilliz import ZillizImportOperator
from airflow_provider_vectorimport.sensors.zilliz import ZillizImportJobSensor
from airflow_provider_vectorimport.utils import SUMMARY_XCOM_KEY, idempotency_key
from tests.loopback import ScriptedService, ok, serve
from tests.runtime import FakeTI, Store, context

API_KEY = "sk-operator-secret-99"
CREATE = "/v2/vectordb/jobs/import/create"
PROGRESS = "/v2/vectordb/jobs/import/getProgress"
LIST = "/v2/vectordb/jobs/import/list"
URL = "s3://bucket/data/part-0.parquet"


def job(state: str, pct: int, rows: int = 1000, **extra) -> Any:
    return ok(
        {
            "jobId": "job-1",
            "collectionName": "articles",
            "state": state,
            "progress": pct,
            "totalRows": rows * pct // 100,  # v2: rows this job inserted
            "details": [
                {
                    "fileName": "part-0.parquet",  # v2 reports the basename
                    "state": state,
                    "progress": pct,
                    "importedRows": rows * pct // 100,
                    "totalRows": rows,
                }
            ],
            **extra,
        }
    )


@pytest.fixture
def service(monkeypatch):
    svc = ScriptedService()
    # the job list a create consults first (jobs already there are never this task's)
    svc.script("POST", "/v2/vectordb/jobs/import/list", ok({"count": 0, "records": []}))
    svc.script("GET", "/v1/vector/collections/import/list", ok({"count": 0, "tasks": []}, code=200))
    server = serve(svc)
    conn = {
        "conn_type": "zilliz",
        "host": server.url,
        "password": API_KEY,
        "extra": {"api_flavour": "v2", "cluster_id": "in01-op", "max_attempts": 2, "backoff_initial": 0.01},
    }
    monkeypatch.setenv("AIRFLOW_CONN_ZILLIZ_DEFAULT", json.dumps(conn))
    yield svc
    server.stop()


def operator(**kwargs) -> ZillizImportOperator:
    defaults = dict(
        task_id="import", collection_name="articles", object_url=URL, poll_interval=0.05, deferrable=False
    )
    return ZillizImportOperator(**{**defaults, **kwargs})


def test_polling_path_returns_summary(service):
    service.script("POST", CREATE, ok({"jobId": "job-1"}))
    service.script("POST", PROGRESS, job("Pending", 0), job("Importing", 50), job("Completed", 100))
    ti = FakeTI()
    ctx = context(ti, Store())
    summary = operator().execute(ctx)
    assert summary["state"] == "completed" and summary["imported_rows"] == 1000
    assert summary["files"][0]["name"] == "part-0.parquet"
    assert ti.xcoms["job_id"] == "job-1" and "in01-op" in ti.xcoms["console_url"]
    (create,) = service.calls(CREATE)
    assert create.headers["idempotency-key"] == idempotency_key(ctx, "articles", None, None, None, URL)
    assert API_KEY not in json.dumps(summary)


def test_deferred_path_hands_over_to_the_trigger(service):
    service.script("POST", CREATE, ok({"jobId": "job-1"}))
    service.script("POST", PROGRESS, job("Importing", 10), job("Importing", 60), job("Completed", 100))
    ti = FakeTI()
    op = operator(deferrable=True, timeout=60)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context(ti, Store()))
    # Job id and console URL are visible before the wait starts.
    assert ti.xcoms["job_id"] == "job-1" and ti.xcoms["console_url"]
    trig = deferred.value.trigger
    _, kwargs = trig.serialize()
    assert kwargs["job_id"] == "job-1" and kwargs["conn_id"] == "zilliz_default"
    assert API_KEY not in json.dumps(kwargs)
    assert deferred.value.method_name == "execute_complete"
    events = asyncio.run(_collect(trig))
    assert [e.payload["status"] for e in events] == ["success"]
    summary = op.execute_complete(context(ti), events[0].payload)
    assert summary["state"] == "completed" and summary["total_rows"] == 1000


async def _collect(trig):
    return [e async for e in trig.run()]


def test_failed_job_raises_with_failing_files(service):
    service.script("POST", CREATE, ok({"jobId": "job-1"}))
    service.script(
        "POST",
        PROGRESS,
        ok(
            {
                "jobId": "job-1",
                "state": "Failed",
                "progress": 20,
                "reason": "1 file failed",
                "details": [
                    {
                        "fileName": "data/part-0.parquet",
                        "state": "Failed",
                        "reason": "row 12: field title_vector: dim 767 != 768",
                    }
                ],
            }
        ),
    )
    ti = FakeTI()
    with pytest.raises(JobFailedError) as info:
        operator().execute(context(ti, Store()))
    assert "data/part-0.parquet: row 12: field title_vector: dim 767 != 768" in str(info.value)
    assert ti.xcoms[SUMMARY_XCOM_KEY]["files"][0]["reason"] == "row 12: field title_vector: dim 767 != 768"


def test_deferred_failure_and_empty_job_push_their_summary(service):
    """execute_complete (the deferred path) pushes the summary before raising, for a failed job and
    for one that completed with 0 rows; a successful job pushes none (its return value is it)."""
    failed = ok(
        {
            "jobId": "job-1",
            "state": "Failed",
            "progress": 20,
            "reason": "1 file failed",
            "details": [{"fileName": "data/part-0.parquet", "state": "Failed", "reason": "dim 767 != 768"}],
        }
    )
    service.script("POST", PROGRESS, failed, job("Completed", 100, rows=0), job("Completed", 100))
    event = {"status": "failed", "job_id": "job-1", "message": "Failed"}
    ti = FakeTI()
    with pytest.raises(JobFailedError, match="dim 767 != 768"):
        operator(deferrable=True).execute_complete(context(ti, Store()), event)
    summary = ti.xcoms[SUMMARY_XCOM_KEY]
    assert (summary["job_id"], summary["state"], summary["reason"]) == ("job-1", "failed", "1 file failed")
    assert summary["files"][0]["name"] == "data/part-0.parquet" and "console_url" in summary
    assert API_KEY not in json.dumps(summary)
    ti = FakeTI()
    with pytest.raises(JobFailedError, match="0 rows"):
        operator(deferrable=True).execute_complete(context(ti, Store()), {**event, "status": "success"})
    assert ti.xcoms[SUMMARY_XCOM_KEY]["imported_rows"] == 0
    ti = FakeTI()
    returned = operator(deferrable=True).execute_complete(
        context(ti, Store()), {**event, "status": "success"}
    )
    assert returned["state"] == "completed" and SUMMARY_XCOM_KEY not in ti.xcoms


def test_completed_with_zero_rows_fails_by_default(service):
    service.script("POST", CREATE, ok({"jobId": "job-1"}))
    service.script(
        "POST",
        PROGRESS,
        ok({"jobId": "job-1", "state": "Completed", "progress": 100, "importedRows": 0, "totalRows": 0}),
    )
    with pytest.raises(JobFailedError, match="0 rows"):
        operator().execute(context(FakeTI(), Store()))
    assert operator(fail_on_empty=False).execute(context(FakeTI(), Store()))["imported_rows"] == 0


def test_retry_reattaches_via_task_state(service):
    service.script("POST", CREATE, ok({"jobId": "job-1"}))
    service.script("POST", PROGRESS, job("Importing", 30), job("Importing", 40), job("Completed", 100))
    store = Store()
    with pytest.raises(AirflowException, match="still running"):
        operator(timeout=0.01).execute(context(FakeTI(try_number=1), store))
    assert store["zilliz_import_job_id"]["job_id"] == "job-1"
    summary = operator().execute(context(FakeTI(try_number=2), store))
    assert summary["job_id"] == "job-1" and summary["reattached"] is True
    assert len(service.calls(CREATE)) == 1  # no duplicate import


def test_retry_without_task_state_never_adopts_an_unprovable_job(service):
    """Without task state nothing proves that a job reading the same files is this task's (it may
    be yesterday's, or another DAG's): fail naming it, and import again only with resubmit=True."""
    service.script("POST", CREATE, ok({"jobId": "job-1"}))
    service.script("POST", PROGRESS, job("Importing", 30))
    with pytest.raises(AirflowException, match="still running"):
        operator(timeout=0.01).execute(context(FakeTI(try_number=1), None))
    service.script(
        "POST",
        LIST,
        ok({"count": 1, "records": [{"collectionName": "articles", "jobId": "job-1", "state": "Importing"}]}),
    )
    with pytest.raises(AmbiguousJobError, match="job-1") as err:
        operator().execute(context(FakeTI(try_number=2), None))
    assert err.value.job_ids == ["job-1"] and "resubmit=True" in str(err.value)
    assert len(service.calls(CREATE)) == 1
    service.script("POST", CREATE, ok({"jobId": "job-2"}))
    service.script("POST", PROGRESS, job("Completed", 100))
    summary = operator(resubmit=True).execute(context(FakeTI(try_number=3), None))
    assert summary["reattached"] is False and len(service.calls(CREATE)) == 2


def test_retry_after_failed_job_creates_a_new_one(service):
    service.script("POST", CREATE, ok({"jobId": "job-2"}))
    service.script(
        "POST",
        PROGRESS,
        ok({"jobId": "job-1", "state": "Failed", "reason": "S3 reset"}),
        job("Completed", 100),
    )
    store = Store(zilliz_import_job_id="job-1")
    summary = operator().execute(context(FakeTI(try_number=2), store))
    assert len(service.calls(CREATE)) == 1 and store["zilliz_import_job_id"]["job_id"] == "job-2"
    assert summary["reattached"] is False


def test_bad_arguments_fail_before_any_request(service):
    with pytest.raises(ConfigurationError, match="exactly one of"):
        operator(object_url=None).execute(context(FakeTI(), Store()))
    with pytest.raises(ConfigurationError, match="exactly one of"):
        operator(object_urls=[URL]).execute(context(FakeTI(), Store()))
    assert service.requests == []


def test_unexpected_event_is_rejected(service):
    op = operator()
    for event in (None, {}, {"status": "error", "job_id": "j", "message": "boom"}):
        with pytest.raises(AirflowException):
            op.execute_complete(context(FakeTI()), event)


# ----------------------------------------------------------------------------- sensor


def sensor(**kwargs) -> ZillizImportJobSensor:
    defaults = dict(task_id="wait", job_id="job-1", poke_interval=0.05, timeout=30, deferrable=False)
    return ZillizImportJobSensor(**{**defaults, **kwargs})


def test_sensor_poke_states(service):
    service.script("POST", PROGRESS, job("Importing", 80, raw="IndexBuilding"), job("Completed", 100))
    s = sensor()
    ctx = context(FakeTI())
    assert s.poke(ctx) is False
    done = s.poke(ctx)
    assert done.is_done and done.xcom_value["imported_rows"] == 1000


def test_sensor_fails_on_failed_job(service):
    service.script("POST", PROGRESS, ok({"jobId": "job-1", "state": "Failed", "reason": "schema mismatch"}))
    with pytest.raises(JobFailedError, match="schema mismatch"):
        sensor().poke(context(FakeTI()))


def test_sensor_deferrable_and_timeout(service):
    service.script("POST", PROGRESS, job("Importing", 10))
    s = sensor(deferrable=True, timeout=5)
    with pytest.raises(TaskDeferred) as deferred:
        s.execute(context(FakeTI()))
    _, kwargs = deferred.value.trigger.serialize()
    assert kwargs["end_time"] <= time.time() + 5.5 and API_KEY not in json.dumps(kwargs)
    with pytest.raises(AirflowSensorTimeout):
        s.execute_complete(context(FakeTI()), {"status": "timeout", "job_id": "job-1"})
    with pytest.raises(AirflowSkipException):
        sensor(deferrable=True, soft_fail=True).execute_complete(context(FakeTI()), {"status": "timeout"})


def test_openlineage_inputs_and_output_rows(service):
    pytest.importorskip("airflow.providers.openlineage")
    service.script("POST", CREATE, ok({"jobId": "job-1"}))
    service.script("POST", PROGRESS, job("Completed", 100, rows=321))
    op = operator(
        object_url=None, object_urls=[["s3://bucket/data/a.parquet"], ["s3://bucket/data/b.parquet"]]
    )
    op.execute(context(FakeTI(), Store()))
    lineage = op.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [
        ("s3://bucket", "data/a.parquet"),
        ("s3://bucket", "data/b.parquet"),
    ]
    (out,) = lineage.outputs
    assert (out.namespace, out.name) == ("zilliz://in01-op", "default.articles")
    assert out.outputFacets["outputStatistics"].rowCount == 321


def _iso(epoch: float, fmt: str = "%Y-%m-%dT%H:%M:%S+08:00", hours: int = 8) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, dt.timezone(dt.timedelta(hours=hours))).strftime(fmt)


@pytest.mark.parametrize(
    "times, expect",
    [
        # the service's completion time with its zone: the job's own length, not the 1.8 s of polling
        (lambda t0: {"completeTime": _iso(t0)}, lambda d: 0.0 < d <= 1.0),
        # createTime and completeTime, naive (one clock, one zone): their difference exactly
        (
            lambda t0: {"createTime": "2024-04-01 12:00:00", "completeTime": "2024-04-01 12:00:05"},
            lambda d: d == 5.0,
        ),
        # a naive completion time alone (zone unknown; the zdoc v2 example's form): until noticed
        (lambda t0: {"completeTime": _iso(t0, "%Y-%m-%d %H:%M:%S")}, lambda d: d >= 1.8),
    ],
    ids=["zoned-complete-time", "service-create-and-complete", "naive-complete-time-alone"],
)
def test_duration_is_the_services_own_where_it_says(service, times, expect):
    """Found by a new user: a 5 s job read 30 s on the dashboard, the time until the trigger noticed."""
    created: list[float] = []

    def create(_request):
        created.append(time.time())
        return ok({"jobId": "job-1"})

    service.script("POST", CREATE, create)
    service.script(
        "POST",
        PROGRESS,
        job("Importing", 50),
        job("Importing", 50),
        job("Importing", 50),
        lambda _request: job("Completed", 100, **times(created[0])),
    )
    began = time.time()
    summary = operator(poll_interval=0.6).execute(context(FakeTI(), Store()))
    assert time.time() - began >= 1.8  # three polls before the operator saw the job done
    assert expect(summary["duration_seconds"]), summary["duration_seconds"]
