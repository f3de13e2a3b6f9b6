"""Create without duplicates, sync and async: one send per attempt, a blind resend only where the
request provably never reached the service, a look at the (whole, paged) task list after every
ambiguous failure and once more after the last one. Against the signature-verifying emulator on
127.0.0.1 with deterministic faults (emulator/vikingdb.py ``inject_fault``)."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid

import pytest

from airflow_provider_vectorimport.emulator.vikingdb import _Task
from airflow_provider_vectorimport.exceptions import RetryableServiceError, ServiceError, TransportError
from airflow_provider_vectorimport.hooks.vikingdb import (
    AMBIGUOUS,
    CHECK_THEN_RAISE,
    CHECK_THEN_RESEND,
    FATAL,
    NOT_SENT,
    RAISE,
    RESEND,
    AmbiguousTaskError,
    AsyncVikingDBHook,
    CreateOutcomeUnknownError,
    CreatePlan,
    VikingDBHook,
    classify_create_failure,
)
from airflow_provider_vectorimport.http import HttpClient
from tests.test_vikingdb_support import conn_json, shared_server, start_env

EXPORT = {"collection_name": "demo", "tos_path": "exports/create", "file_type": "parquet", "export_all": True}


@pytest.fixture(scope="module")
def vikingdb_server():
    yield from shared_server()


@pytest.fixture
def vdb(monkeypatch, vikingdb_server, tmp_path):
    env = start_env(monkeypatch, server=vikingdb_server, root=tmp_path, read_timeout=1.0)
    env.emulator.pace_seconds = 60  # tasks stay "init": these tests are about creating them
    yield env


def create(env, mode: str, params=EXPORT, conn_id: str | None = None) -> str:
    """The sync or the async hook's create_task."""
    conn_id = conn_id or env.conn_id
    if mode == "sync":
        return VikingDBHook(conn_id).create_task("data_export", params)

    async def run() -> str:
        async with AsyncVikingDBHook(conn_id) as hook:
            return await hook.create_task("data_export", params)

    return asyncio.run(run())


def creates(env) -> list[str]:
    return [o for p, o in env.emulator.requests if p == "/api/task/create"]


# --- the pure decisions -----------------------------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_classification_of_real_failures(vdb):
    refused = HttpClient(service="t", base_url=f"http://127.0.0.1:{_closed_port()}", checker=lambda *a: a)
    refused.policy = refused.policy.__class__(max_attempts=1)
    with pytest.raises(TransportError) as err:
        refused.request("POST", "/x", json={})
    assert classify_create_failure(err.value) == NOT_SENT

    hook = VikingDBHook(vdb.conn_id)
    vdb.emulator.inject_fault("reset_before", 9, path="/api/task/info")
    with pytest.raises(TransportError) as err:
        hook.get_task("x")
    assert classify_create_failure(err.value) == AMBIGUOUS  # reset after the request was sent
    vdb.emulator.inject_fault("read_timeout", 9, path="/api/task/info", delay=1.3)
    with pytest.raises(TransportError) as err:
        hook.get_task("x")
    assert classify_create_failure(err.value) == AMBIGUOUS

    assert classify_create_failure(RetryableServiceError("q", code=1000029, http_status=429)) == NOT_SENT
    assert classify_create_failure(RetryableServiceError("q", code=None, http_status=429)) == NOT_SENT
    assert classify_create_failure(RetryableServiceError("i", code=1000028, http_status=500)) == AMBIGUOUS
    assert classify_create_failure(RetryableServiceError("g", http_status=502)) == AMBIGUOUS
    assert classify_create_failure(ServiceError("auth", code=1000001)) == FATAL


def test_create_plan_decisions():
    plan = CreatePlan(max_attempts=3)
    plan.start_attempt()
    assert plan.after_failure(RetryableServiceError("q", code=1000029)) == RESEND
    plan.start_attempt()
    assert plan.after_failure(RetryableServiceError("i", code=1000028)) == CHECK_THEN_RESEND
    plan.start_attempt()
    assert plan.after_failure(RetryableServiceError("q", code=1000029)) == CHECK_THEN_RAISE

    quota_only = CreatePlan(max_attempts=2)
    quota_only.start_attempt(), quota_only.after_failure(RetryableServiceError("q", code=1000029))
    quota_only.start_attempt()
    assert quota_only.after_failure(RetryableServiceError("q", code=1000029)) == RAISE

    fatal_after = CreatePlan(max_attempts=5)
    fatal_after.start_attempt(), fatal_after.after_failure(TransportError("reset"))
    fatal_after.start_attempt()
    assert fatal_after.after_failure(ServiceError("bad", code=1000003)) == CHECK_THEN_RAISE
    single = CreatePlan(max_attempts=1)
    single.start_attempt()
    assert single.after_failure(TransportError("reset")) == CHECK_THEN_RAISE


# --- every fault, sync and async ------------------------------------------------------------------------
FAULTS = [
    ("lost_answer", True, 1),
    ("reset_before", False, 1),
    ("gateway_502", True, 1),
    ("gateway_504", True, 1),
    ("read_timeout", True, 1),
    ("internal_after", True, 1),
    ("quota", False, 0),
]
# the sync hook meets every fault again in test_vikingdb_fault_matrix.py (through the operators)
CASES = [("async", *f) for f in FAULTS] + [
    ("sync", *f) for f in FAULTS if f[0] in ("lost_answer", "internal_after")
]


@pytest.mark.parametrize(("mode", "fault", "created_by_fault", "list_calls"), CASES)
def test_one_task_whatever_the_fault(vdb, mode, fault, created_by_fault, list_calls):
    vdb.emulator.inject_fault(fault, delay=2.0)
    task_id = create(vdb, mode)
    assert vdb.emulator.tasks_created["demo"] == 1  # a blind resend makes it 2
    assert list(vdb.emulator.tasks) == [task_id]
    assert len(creates(vdb)) == (1 if created_by_fault else 2)
    assert vdb.emulator.count("/api/task/list") == list_calls  # a quota answer needs no look


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_last_ambiguous_failure_is_checked_before_giving_up(vdb, monkeypatch, mode):
    monkeypatch.setenv(
        "AIRFLOW_CONN_VIKINGDB_ONE", conn_json(vdb.server, max_attempts=1, backoff_initial=0.05)
    )
    vdb.emulator.inject_fault("lost_answer")
    task_id = create(vdb, mode, conn_id="vikingdb_one")
    assert list(vdb.emulator.tasks) == [task_id] and len(creates(vdb)) == 1
    # nothing was created: the original error, after one look
    vdb.emulator.inject_fault("reset_before")
    with pytest.raises(TransportError):
        create(vdb, mode, params={**EXPORT, "tos_path": "exports/other"}, conn_id="vikingdb_one")
    assert vdb.emulator.tasks_created["demo"] == 1 and vdb.emulator.count("/api/task/list") == 2


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_two_candidates_fail_naming_both(vdb, mode):
    first = create(vdb, mode)  # e.g. another run exporting the same collection to the same prefix
    vdb.emulator.inject_fault("lost_answer")
    with pytest.raises(AmbiguousTaskError) as err:
        create(vdb, mode)
    second = next(t for t in vdb.emulator.tasks if t != first)
    assert set(err.value.task_ids) == {first, second}
    assert first in str(err.value) and second in str(err.value)
    assert vdb.emulator.tasks_created["demo"] == 2  # nothing was sent a third time


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_list_error_during_the_check_never_resends(vdb, mode):
    vdb.emulator.inject_fault("lost_answer")
    vdb.emulator.inject_error(1000002, 10, path="/api/task/list")
    with pytest.raises(CreateOutcomeUnknownError, match=r"Not sending it again.*look in the console"):
        create(vdb, mode)
    assert len(creates(vdb)) == 1 and vdb.emulator.tasks_created["demo"] == 1


def _old_tasks(env, n: int, *, params: dict | None = None, age: float = 0.0) -> list[str]:
    """``n`` tasks of the same collection with other parameters, put straight into the emulator."""
    ids = []
    now = time.time() - age
    for i in range(n):
        task = _Task(
            task_id=str(uuid.uuid4()),
            task_type="data_export",
            task_params=params or {**EXPORT, "tos_path": f"exports/n{i}"},
            created=now + i * 1e-3,
            update_person="someone",
        )
        env.emulator.tasks[task.task_id] = task
        ids.append(task.task_id)
    return ids


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_the_check_reads_every_page(vdb, mode):
    vdb.emulator.pace_seconds = 60  # keep them all pending
    # 120 tasks of the collection that list before ours (dated later): ours is on page 2 of 100
    _old_tasks(vdb, 120, age=-30)
    vdb.emulator.inject_fault("lost_answer")
    task_id = create(vdb, mode)
    assert vdb.emulator.tasks[task_id].task_params == EXPORT
    assert vdb.emulator.tasks_created["demo"] == 1
    pages = [o for p, o in vdb.emulator.requests if p == "/api/task/list"]
    assert len(pages) == 2


def test_sdk_style_list_sees_only_the_first_page(vdb, monkeypatch):
    """What the V1 SDK's ``{}`` would see: 20 tasks (the V2 page's default), never the older ones."""
    _old_tasks(vdb, 25)
    monkeypatch.setenv("AIRFLOW_CONN_VIKINGDB_SDKLIST", conn_json(vdb.server, task_list_paging="none"))
    assert len(VikingDBHook("vikingdb_sdklist").list_tasks()) == 20
    assert len(VikingDBHook(vdb.conn_id).list_tasks()) == 25
