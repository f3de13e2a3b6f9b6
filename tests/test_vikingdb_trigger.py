"""VikingDBTaskTrigger against the signature-verifying emulator on 127.0.0.1: one event per
outcome, progress logged each poll, transient errors survived, confirm made visible, no secrets."""

from __future__ import annotations

import importlib
import json
import time

import pytest

from airflow_provider_vectorimport.hooks.vikingdb import VikingDBHook
from airflow_provider_vectorimport.triggers.vikingdb import VikingDBTaskTrigger
from tests.test_vikingdb_support import SK, conn_json, start_env

EXPORT = {"collection_name": "demo", "tos_path": "exports/trig", "file_type": "json"}


@pytest.fixture
def vdb(monkeypatch, tmp_path):
    env = start_env(monkeypatch, root=tmp_path, pace=0.1, session_token="sts-secret-token")
    yield env
    env.server.stop()


def trigger(vdb, job_id: str, **kwargs) -> VikingDBTaskTrigger:
    defaults = dict(conn_id=vdb.conn_id, job_id=job_id, poll_interval=0.03, end_time=time.time() + 20)
    return VikingDBTaskTrigger(**{**defaults, **kwargs})


async def collect(trig) -> list:
    return [event async for event in trig.run()]


def test_serialize_round_trip_holds_no_secrets(vdb):
    trig = trigger(vdb, "task-1", end_time=1234.5, fail_on_confirm=True)
    classpath, kwargs = trig.serialize()
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert set(kwargs) == {"conn_id", "job_id", "poll_interval", "end_time", "fail_on_confirm"}
    dumped = json.dumps(kwargs)
    assert SK not in dumped and "sts-secret-token" not in dumped


async def test_success_event_with_progress_logged(vdb, capsys):
    vdb.emulator.session_tokens = {}  # the token is sent and signed; this emulator does not require it
    task_id = VikingDBHook(vdb.conn_id).create_task(
        "data_export", {**EXPORT, "filter": {"city": ["beijing"]}}
    )
    events = await collect(trigger(vdb, task_id))
    out = capsys.readouterr().out
    assert len(events) == 1
    payload = events[0].payload
    assert payload["status"] == "success" and payload["job_id"] == task_id
    assert payload["job"]["state"] == "completed" and payload["job"]["total_filter_count"] == 20
    polls = [line for line in out.splitlines() if f"task {task_id}" in line]
    assert len(polls) >= 3 and any("running" in m and "scanned" in m for m in polls)
    assert any("init" in m or "queued" in m for m in polls) and "done 100%" in polls[-1]
    assert SK not in out and "sts-secret-token" not in out


async def test_failed_event_carries_err_msg(vdb):
    task_id = VikingDBHook(vdb.conn_id).create_task(
        "data_import", {"collection_name": "demo", "tos_path": "nothing/here", "file_type": "parquet"}
    )
    events = await collect(trigger(vdb, task_id))
    assert len(events) == 1 and events[0].payload["status"] == "failed"
    assert "no .parquet files under nothing/here" in events[0].payload["message"]
    assert events[0].payload["job"]["err_msg"].startswith("no .parquet files")


async def test_timeout_event(vdb):
    task_id = VikingDBHook(vdb.conn_id).create_task("data_export", EXPORT)
    vdb.emulator.pace_seconds = 60
    events = await collect(trigger(vdb, task_id, end_time=time.time() + 0.3))
    assert [e.payload["status"] for e in events] == ["timeout"]


async def test_transient_errors_are_survived(vdb, monkeypatch):
    task_id = VikingDBHook(vdb.conn_id).create_task("data_export", EXPORT)
    # one HTTP attempt per poll, so each injected error reaches the trigger's own retry loop
    monkeypatch.setenv("AIRFLOW_CONN_VIKINGDB_ONESHOT", conn_json(vdb.server, max_attempts=1))
    vdb.emulator.inject_error(1000029, 3)
    vdb.emulator.inject_error(1000028, 2)
    events = await collect(trigger(vdb, task_id, conn_id="vikingdb_oneshot"))
    assert [e.payload["status"] for e in events] == ["success"]
    outcomes = [o for p, o in vdb.emulator.requests if p == "/api/task/info"]
    assert outcomes[:5] == ["1000029"] * 3 + ["1000028"] * 2 and outcomes[-1] == "ok"


async def test_auth_error_is_one_error_event(vdb, monkeypatch):
    vdb.emulator.credentials[next(iter(vdb.emulator.credentials))] = "rotated-secret"
    events = await collect(trigger(vdb, "task-x"))
    assert len(events) == 1 and events[0].payload["status"] == "error"
    assert "1000001" in events[0].payload["message"]
    assert vdb.emulator.count("/api/task/info") == 1


async def test_unknown_task_is_error_event(vdb):
    events = await collect(trigger(vdb, "no-such-task"))
    assert [e.payload["status"] for e in events] == ["error"]
    assert "1000035" in events[0].payload["message"]


def _confirm_task(vdb) -> str:
    return VikingDBHook(vdb.conn_id).create_task(
        "filter_delete", {"collection_name": "demo", "filter": {"city": ["x"]}, "need_confirm": True}
    )


async def test_confirm_is_logged_with_each_heartbeat_until_deadline(vdb, capsys):
    task_id = _confirm_task(vdb)
    trig = trigger(vdb, task_id, end_time=time.time() + 1.5)
    trig.heartbeat_interval = 0.3
    events = await collect(trig)
    assert [e.payload["status"] for e in events] == ["timeout"]
    hints = [line for line in capsys.readouterr().out.splitlines() if "waiting for confirmation" in line]
    assert len(hints) >= 2 and all("warning" in line for line in hints)


async def test_fail_on_confirm(vdb):
    task_id = _confirm_task(vdb)
    events = await collect(trigger(vdb, task_id, fail_on_confirm=True))
    assert len(events) == 1 and events[0].payload["status"] == "failed"
    assert events[0].payload["job"]["status"] == "confirm"
