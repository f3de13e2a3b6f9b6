"""ZillizImportJobTrigger: serialization, exactly one event per outcome, transient errors survived,
no secrets in kwargs, against a scripted HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import importlib
import json
import time

import pytest

from airflow_provider_vectorimport.emulator.core import Response
from airflow_provider_vectorimport.triggers.zilliz import ZillizImportJobTrigger
from tests.loopback import ScriptedService, ok, serve

API_KEY = "sk-trigger-secret-42"
PATH = "/v2/vectordb/jobs/import/getProgress"


def progress(state: str, pct: int, **extra):
    return ok(
        {
            "jobId": "job-7",
            "collectionName": "c",
            "state": state,
            "progress": pct,
            # Zilliz Cloud v2 shape: top-level totalRows = rows inserted, per-file rows in details
            "totalRows": pct * 10,
            "details": [{"fileName": "1.parquet", "importedRows": pct * 10, "totalRows": 1000}],
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
        "extra": {"api_flavour": "v2", "cluster_id": "in01-t", "max_attempts": 1},
    }
    monkeypatch.setenv("AIRFLOW_CONN_ZILLIZ_TRIGGER", json.dumps(conn))
    yield svc
    server.stop()


def trigger(**kwargs) -> ZillizImportJobTrigger:
    defaults = dict(conn_id="zilliz_trigger", job_id="job-7", poll_interval=0.05, end_time=time.time() + 30)
    return ZillizImportJobTrigger(**{**defaults, **kwargs})


async def collect(trig) -> list:
    return [event async for event in trig.run()]


def test_serialize_round_trip_holds_no_secrets():
    trig = trigger(end_time=1234.5)
    classpath, kwargs = trig.serialize()
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert set(kwargs) == {"conn_id", "job_id", "poll_interval", "end_time"}
    assert API_KEY not in json.dumps(kwargs)
    # what the triggerer stores must survive Airflow's own serde (3.2+ rejects what it can't encode)
    from airflow.sdk.serde import deserialize, serialize

    assert deserialize(serialize(kwargs)) == kwargs


async def test_one_success_event_after_progress(service, capsys):
    service.script(
        "POST", PATH, progress("Pending", 0), progress("Importing", 45), progress("Completed", 100)
    )
    events = await collect(trigger())
    assert len(events) == 1
    payload = events[0].payload
    assert payload["status"] == "success" and payload["job_id"] == "job-7"
    assert payload["job"]["imported_rows"] == 1000
    assert len(service.requests) == 3
    logged = capsys.readouterr().out  # Airflow's structlog writes to stdout
    assert "running (Importing) 45%, rows 450/1000" in logged  # progress logged on each poll


async def test_one_failed_event_with_reason(service):
    service.script(
        "POST", PATH, progress("Importing", 10), progress("Failed", 30, reason="file a.parquet: dim mismatch")
    )
    events = await collect(trigger())
    assert [e.payload["status"] for e in events] == ["failed"]
    assert events[0].payload["job"]["reason"] == "file a.parquet: dim mismatch"


async def test_timeout_event_at_the_deadline(service):
    service.script("POST", PATH, progress("Importing", 80))
    events = await collect(trigger(end_time=time.time() + 0.3))
    assert [e.payload["status"] for e in events] == ["timeout"]
    assert len(service.requests) >= 2


async def test_no_event_while_running(service):
    service.script("POST", PATH, progress("Importing", 50))
    gen = trigger().run()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(gen.__anext__(), timeout=0.5)
    await gen.aclose()
    assert len(service.requests) >= 3


async def test_transient_errors_are_survived(service):
    service.script("POST", PATH, Response(503, "busy"), Response(502, "gateway"), progress("Completed", 100))
    events = await collect(trigger())
    assert [e.payload["status"] for e in events] == ["success"]


async def test_non_retryable_error_is_one_error_event(service):
    service.script("POST", PATH, Response(200, {"code": 90144, "message": "No jobId record found"}))
    events = await collect(trigger())
    assert [e.payload["status"] for e in events] == ["error"]
    assert "No jobId record found" in events[0].payload["message"]
    assert API_KEY not in json.dumps(events[0].payload)


async def test_trigger_never_uses_the_sync_connection_lookup(service, monkeypatch):
    """In the triggerer a sync ``get_connection`` on the event loop blocks it (or fails, Airflow #55799):
    the trigger must only use the common-compat async helpers. Those use the async lookup where it is
    safe (Airflow >= 3.3.2, whose connections mask secrets asynchronously: ``aextra_dejson``); before
    that they run the sync lookup in a worker thread, never on the event loop."""
    import threading

    from airflow.providers.common.compat.sdk import Connection
    from airflow.sdk import BaseHook

    async_masking = hasattr(Connection, "aextra_dejson")
    original = BaseHook.get_connection.__func__
    threads: list[int] = []

    def sync_lookup(cls, *args, **kwargs):
        threads.append(threading.get_ident())
        if async_masking:
            raise AssertionError("sync get_connection called from a trigger")
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(sync_lookup))
    service.script("POST", PATH, progress("Completed", 100))
    events = await collect(trigger())
    assert [e.payload["status"] for e in events] == ["success"]
    if async_masking:
        assert threads == []
    else:  # common-compat's fallback on Airflow < 3.3.2: off the event loop's thread
        assert threads and threading.get_ident() not in threads
