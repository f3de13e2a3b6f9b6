"""The daily, backfill-safe example DAG (``example_dags/vectorimport_daily_load.py``) with Airflow's
``dag.test(logical_date=...)`` against the local emulator (moto S3 + Milvus Lite): one import job per
day however often a day runs, unchanged objects not uploaded again, a day without files failing
before anything is imported."""

from __future__ import annotations

import ast
import re

import pendulum
import pytest

from airflow_provider_vectorimport.emulator.examples import DAILY_SCHEMA as SCHEMA
from airflow_provider_vectorimport.emulator.examples import create_collection, rest, row_count, write_day

pytest_plugins = ["airflow_provider_vectorimport.emulator.pytest_plugin"]

__all__ = ["SCHEMA", "rest"]  # test_assets.py reuses them


@pytest.fixture
def daily(vectorimport_emulator_env, monkeypatch, tmp_path, load_dag):
    em = vectorimport_emulator_env
    env = em.connection_env()
    monkeypatch.setenv("AIRFLOW_CONN_ZILLIZ_DEFAULT", env["AIRFLOW_CONN_ZILLIZ_EMULATOR"])
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", env["AIRFLOW_CONN_S3_EMULATOR"])
    monkeypatch.setenv("VECTORIMPORT_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("VECTORIMPORT_DAILY_INPUT", str(tmp_path / "input"))
    monkeypatch.setenv("VECTORIMPORT_MILVUS_ENDPOINT", em.url)
    create_collection(em, "daily_articles", SCHEMA)
    return em, tmp_path / "input", load_dag("example_daily_load")


def reports(capfd) -> list[dict]:
    """The report task's summaries printed since the last call."""
    out = "".join(capfd.readouterr())
    return [ast.literal_eval(m) for m in re.findall(r"VECTORIMPORT_DAILY (\{.*?\})", out)]


def rows(em) -> int:
    return row_count(em, "daily_articles")


def test_two_days_two_jobs_and_a_rerun_day_reuses_its_job(daily, capfd, load_dag):
    em, root, dag = daily
    write_day(root, "2025-01-02", range(0, 30))
    write_day(root, "2025-01-03", range(30, 50))

    first = dag.test(logical_date=pendulum.datetime(2025, 1, 2, tz="UTC"))
    second = dag.test(logical_date=pendulum.datetime(2025, 1, 3, tz="UTC"))
    assert (first.state, second.state) == ("success", "success")
    day1, day2 = reports(capfd)
    assert (day1["day"], day2["day"]) == ("2025-01-02", "2025-01-03")
    assert day1["uploaded"] > 0 and day1["imported_rows"] == 30 and day2["imported_rows"] == 20
    assert em.stats()["jobs_created"] == {"daily_articles": 2}
    assert rows(em) == 50
    keys = sorted(
        o["Key"] for o in em.s3_client().list_objects_v2(Bucket=em.milvus_bucket, Prefix="daily/")["Contents"]
    )
    assert any(k.startswith("daily/daily_articles/2025-01-02/") for k in keys)
    assert any(k.startswith("daily/daily_articles/2025-01-03/") for k in keys)

    again = dag.test(logical_date=pendulum.datetime(2025, 1, 2, tz="UTC"))  # the same day, re-run
    assert again.state == "success"
    (rerun,) = reports(capfd)
    assert rerun["uploaded"] == 0 and rerun["skipped"] == day1["uploaded"]  # nothing re-uploaded
    assert rerun["job_id"] == day1["job_id"] and rerun["reattached"] is True
    assert em.stats()["jobs_created"] == {"daily_articles": 2}  # still one job per day
    assert rows(em) == 50  # nothing imported twice
    print("jobs per collection after 2 days + 1 re-run:", em.stats()["jobs_created"])

    # each successful import recorded an event on the collection's Asset ...
    uri = f"milvus://{em.url.split('://')[1]}/default/daily_articles"
    assert asset_events(uri) == 3
    # ... whose extra says what each import did, and whose partition key is the day it loaded
    extras = asset_event_extras(uri)
    assert [(e["partition"], e["rows"], key) for e, key in extras] == [
        ("2025-01-02", 30, "2025-01-02"),
        ("2025-01-03", 20, "2025-01-03"),
        ("2025-01-02", 30, "2025-01-02"),  # the re-run reattached to the day's job
    ]
    assert extras[0][0]["job_id"] == extras[2][0]["job_id"] == day1["job_id"]
    assert extras[0][0]["service"] == "milvus" and extras[0][0]["collection"] == "daily_articles"
    # ... and the DAG scheduled on that Asset runs its search smoke test on the collection
    consumer = load_dag("example_collection_smoke_test")
    assert [a.uri for a in consumer.timetable.asset_condition.objects] == [uri]
    smoke = consumer.test()
    assert smoke.state == "success"
    out = "".join(capfd.readouterr())
    (line,) = re.findall(rf"VECTORIMPORT_SMOKE {re.escape(uri)}: (\{{.*?\}})$", out, re.M)
    result = ast.literal_eval(line)
    assert result["rows"] == 50 and result["top_ids"][0] == result["probe_id"]


def asset_event_extras(uri: str) -> list[tuple[dict, str | None]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.uri == uri)
            .order_by(AssetEvent.id)
        )
        return [(dict(e.extra or {}), getattr(e, "partition_key", None)) for e in events]


def asset_events(uri: str) -> int:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        return session.scalar(
            select(func.count())
            .select_from(AssetEvent)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.uri == uri)
        )


def test_a_day_without_files_fails_naming_the_run(daily, capfd):
    em, root, dag = daily
    (root / "2025-01-05").mkdir(parents=True)
    run = dag.test(logical_date=pendulum.datetime(2025, 1, 5, tz="UTC"))
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["day_inputs"] == "failed"
    # nothing downstream ran: no preparation, no upload, no import
    assert {states[t] for t in ("prepare", "upload", "import", "report")} == {"upstream_failed"}
    logs = "".join(capfd.readouterr())
    folder = root / "2025-01-05"
    assert f"run {run.run_id}: no input files for data interval 2025-01-05 in {folder}" in logs
    assert em.stats()["jobs_created"] == {}
    day_prefix = "daily/daily_articles/2025-01-05/"
    listing = em.s3_client().list_objects_v2(Bucket=em.milvus_bucket, Prefix=day_prefix)
    assert listing.get("KeyCount", 0) == 0  # nothing uploaded
