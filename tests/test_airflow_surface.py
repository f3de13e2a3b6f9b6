"""The Airflow 3.x surface on real runs: asset event extras and partition keys recorded by
``dag.test()`` against the emulator, and the Deadline Alert callback run by Airflow's own
``CallbackTrigger`` (as the triggerer runs it) against a loopback webhook."""

from __future__ import annotations

import asyncio
import json
import logging

pytest_plugins = ["airflow_provider_vectorimport.emulator.pytest_plugin"]


def _asset_events(uri: str) -> list:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri == uri)
        ).scalars()
        return [(dict(e.extra or {}), getattr(e, "partition_key", None)) for e in rows]


def test_import_outlet_event_carries_what_the_job_did(load_dag, vectorimport_emulator, monkeypatch):
    from tests.test_zilliz_fault_matrix import ROWS, setup_cell

    em = vectorimport_emulator
    conn_id, name, key = setup_cell(em, monkeypatch, "milvus-nokey")
    monkeypatch.setenv("VECTORIMPORT_AE_CONN", conn_id)
    monkeypatch.setenv("VECTORIMPORT_AE_COLLECTION", name)
    monkeypatch.setenv("VECTORIMPORT_AE_KEY", key)
    dag = load_dag("asset_event_extras")
    run = dag.test()
    assert run.state == "success"

    (asset,) = dag.get_task("import").outlets
    events = _asset_events(asset.uri)
    assert len(events) == 1, events
    extra, partition_key = events[0]
    assert extra["service"] == "milvus" and extra["collection"] == name
    assert extra["state"] == "completed" and extra["rows"] == ROWS
    assert extra["job_id"]
    assert extra["files"] == [key] and extra["files_count"] == 1
    assert extra["partition"] == "2026-12-01"  # the rendered template
    assert partition_key == "2026-12-01"  # Airflow 3.3: the event's own partition key
    text = json.dumps(extra)
    assert "password" not in text and "secret" not in text.lower()


def test_asset_event_extra_caps_file_names():
    from airflow_provider_vectorimport.outlets import MAX_FILES_IN_EXTRA, asset_event_extra

    extra = asset_event_extra(
        "zilliz", collection="c", job_id="j", state="completed", rows=5, files=[f"f{i}" for i in range(250)]
    )
    assert len(extra["files"]) == MAX_FILES_IN_EXTRA and extra["files_count"] == 250
    assert "partition" not in extra


def test_deadline_callback_runs_in_airflows_callback_trigger():
    from airflow.triggers.callback import CallbackTrigger

    from tests.loopback import Response, ScriptedService, serve

    svc = ScriptedService()
    svc.script("POST", "/hook", Response(200, {"ok": True}))
    server = serve(svc)
    context = {
        "dag_id": "nightly",
        "run_id": "scheduled__2026-12-01",
        "deadline": {"deadline_time": "02:00Z"},
    }
    trigger = CallbackTrigger(
        "airflow_provider_vectorimport.alerts.import_deadline_missed",
        {"what": "nightly import of articles", "webhook_url": f"{server.url}/hook", "context": context},
    )

    async def events() -> list:
        return [event.payload async for event in trigger.run()]

    # Airflow's logging set-up keeps records away from caplog: listen on the module's logger itself
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("airflow_provider_vectorimport.alerts")
    logger.addHandler(handler)
    try:
        payloads = asyncio.run(events())
    finally:
        logger.removeHandler(handler)
        server.stop()
    assert [p["state"] for p in payloads] == ["running", "success"], payloads
    expected = (
        "vectorimport: nightly import of articles is late: DAG 'nightly' run 'scheduled__2026-12-01' "
        "has not finished by its deadline (deadline 02:00Z)"
    )
    assert payloads[-1]["body"] == expected
    assert [r.getMessage() for r in records] == [expected]
    (call,) = svc.calls("/hook")
    assert call.body == {"text": expected}


def test_a_dag_with_the_deadline_callback_serializes_as_the_scheduler_stores_it():
    """The docs' Deadline Alert snippet: the DAG serializes with our callback's import path (what the
    scheduler stores and the triggerer later imports)."""
    from datetime import timedelta

    import pendulum
    from airflow.sdk import DAG, AsyncCallback, DeadlineAlert, DeadlineReference
    from airflow.serialization.serialized_objects import DagSerialization

    from airflow_provider_vectorimport.alerts import import_deadline_missed

    with DAG(
        "nightly_with_deadline",
        schedule="@daily",
        start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
        deadline=DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT,
            interval=timedelta(hours=2),
            callback=AsyncCallback(import_deadline_missed, kwargs={"what": "nightly import"}),
        ),
    ) as dag:
        pass
    text = json.dumps(DagSerialization.to_dict(dag))
    assert "airflow_provider_vectorimport.alerts.import_deadline_missed" in text
    assert "nightly import" in text
