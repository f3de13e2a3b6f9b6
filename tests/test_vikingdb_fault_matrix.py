"""The fault matrix, VikingDB columns: every fault x {export, import} gives exactly one task per
(run, task, map index), the right row count (rows exported; the collection's rows after an import)
and a clear outcome. The emulator on 127.0.0.1 reads and writes real files in moto's S3 server;
faults are deterministic (``VikingDBEmulator.inject_fault``). Operator level with the runtime
stand-in (task_state_store, try numbers); tests/test_vikingdb_dag.py runs the run-level cell in a
real DAG run."""

from __future__ import annotations

import asyncio
import importlib
import io
from typing import Any

import pandas  # noqa: F401  (loaded here once, not inside the emulator's first export)
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_vectorimport.operators.vikingdb import (
    STATE_KEY,
    VikingDBExportOperator,
    VikingDBImportOperator,
)
from tests.runtime import FakeTI, Store
from tests.test_vikingdb_support import ROWS, shared_server, start_env

NEW = [{"id": 1000 + i, "user_id": i % 10, "city": "wuhan", "vec": [float(i), 1.0]} for i in range(12)]
EXPORT_CONDS = [{"op": "must", "field": "city", "conds": ["beijing"]}]
EXPORTED = [r for r in ROWS if r["city"] == "beijing"]


@pytest.fixture(scope="module")
def vikingdb_server():
    yield from shared_server()


@pytest.fixture
def cell(monkeypatch, vikingdb_server, s3_client, bucket):
    env = start_env(
        monkeypatch,
        server=vikingdb_server,
        s3_client=s3_client,
        pace=0.02,
        conn_id="vikingdb_default",
        read_timeout=2.0,
    )
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(NEW), buf)
    s3_client.put_object(Bucket=bucket, Key="incoming/day1/part-0.parquet", Body=buf.getvalue())
    env.bucket, env.s3 = bucket, s3_client
    yield env


def operator(env, kind: str, **kwargs: Any):
    common: dict[str, Any] = dict(poll_interval=0.03, timeout=60, deferrable=False, collection_name="demo")
    common.update(kwargs)
    if kind == "export":
        return VikingDBExportOperator(
            task_id="export", tos_path=f"{env.bucket}/exports/day1", filter_conds=EXPORT_CONDS, **common
        )
    return VikingDBImportOperator(task_id="import", tos_path=f"{env.bucket}/incoming/day1", **common)


def ctx(store: Store | None, try_number: int = 1, run_id: str = "scheduled__2026-11-30", dag_id: str = "d"):
    ti = FakeTI(try_number, task_id="t")
    ti.run_id, ti.dag_id = run_id, dag_id
    return {"ti": ti, "run_id": run_id, "task_state_store": store}


def task_type(kind: str) -> str:
    return "data_export" if kind == "export" else "data_import"


def assert_cell(env, kind: str, summary: dict[str, Any], *, tasks: int = 1, imports: int = 1) -> None:
    """One task per run (``tasks`` runs in the cell), the right rows, a completed outcome."""
    assert env.emulator.created_counts() == {"demo": {task_type(kind): tasks}}
    assert summary["state"] == "completed" and summary["status"] == "done"
    if kind == "export":
        body = env.s3.get_object(Bucket=env.bucket, Key="exports/day1/0.parquet")["Body"].read()
        assert pq.read_table(io.BytesIO(body)).to_pylist() == EXPORTED
        assert summary["total_filter_count"] == len(EXPORTED)
    else:
        # the emulator keeps rows imported twice (as Milvus does): a duplicate task shows here
        assert len(env.backend.collections["demo"]) == len(ROWS) + imports * len(NEW)
        assert summary["total_filter_count"] == len(NEW)


KINDS = ["export", "import"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "fault", ["lost_answer", "reset_before", "gateway_502", "gateway_504", "quota", "read_timeout"]
)
def test_create_faults(cell, kind, fault):
    """lost create answer / reset after send / 502, 504 after the backend created the task /
    1000029 (HTTP 429) / read timeout."""
    cell.emulator.inject_fault(fault, delay=3.0)
    summary = operator(cell, kind).execute(ctx(Store()))
    assert_cell(cell, kind, summary)
    creates = [o for p, o in cell.emulator.requests if p == "/api/task/create"]
    assert len(creates) == (2 if fault in ("reset_before", "quota") else 1)


async def _run(trigger) -> list:
    return [event async for event in trigger.run()]


@pytest.mark.parametrize("kind", KINDS)
def test_trigger_recreated_from_serialize(cell, kind):
    store = Store()
    context = ctx(store)
    with pytest.raises(TaskDeferred) as deferred:
        operator(cell, kind, deferrable=True).execute(context)
    first = deferred.value.trigger
    with pytest.raises(TimeoutError):  # the triggerer dies mid-poll
        asyncio.run(asyncio.wait_for(_run(first), 0.01))
    classpath, kwargs = first.serialize()
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    (event,) = asyncio.run(_run(rebuilt))
    summary = operator(cell, kind, deferrable=True).execute_complete(context, event.payload)
    assert_cell(cell, kind, summary)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("stored_id", [True, False], ids=["id-stored", "killed-before-id-stored"])
def test_task_killed_after_create_and_retried(cell, kind, stored_id):
    store = Store()
    with pytest.raises(TaskDeferred):
        operator(cell, kind, deferrable=True).execute(ctx(store, 1))  # the worker is killed here
    if not stored_id:
        store[STATE_KEY] = {k: v for k, v in store[STATE_KEY].items() if k != "task_id"}
    summary = operator(cell, kind).execute(ctx(store, 2))
    assert summary["reattached"] is True
    assert_cell(cell, kind, summary)


@pytest.mark.parametrize("kind", KINDS)
def test_cleared_and_rerun_dag_run(cell, kind):
    store = Store()
    first = operator(cell, kind).execute(ctx(store, 1))
    again = operator(cell, kind).execute(ctx(store, 2))  # cleared: the same run, its task state kept
    assert again["task_id"] == first["task_id"] and again["reattached"] is True
    assert_cell(cell, kind, again)


@pytest.mark.parametrize("kind", KINDS)
def test_same_backfill_range_twice(cell, kind):
    """Two logical dates, backfilled twice: the second pass clears the same runs (their task
    states stay) -- two tasks in all, not four. Both runs read/write the same prefix here."""
    stores = {run: Store() for run in ("backfill__2026-11-29", "backfill__2026-11-30")}
    firsts = {run: operator(cell, kind).execute(ctx(s, 1, run)) for run, s in stores.items()}
    seconds = {run: operator(cell, kind).execute(ctx(s, 2, run)) for run, s in stores.items()}
    assert {r: s["task_id"] for r, s in seconds.items()} == {r: s["task_id"] for r, s in firsts.items()}
    assert len({s["task_id"] for s in firsts.values()}) == 2
    assert_cell(cell, kind, seconds["backfill__2026-11-30"], tasks=2, imports=2)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fault", [None, "lost_answer", "reset_before"])
def test_two_dags_same_prefix_same_day(cell, kind, fault):
    """Each DAG run gets its own task, even when the second one's create answer is lost right after
    the first one's task was made with the same parameters."""
    a = operator(cell, kind).execute(ctx(Store(), 1, dag_id="dag_a"))
    if fault:
        cell.emulator.inject_fault(fault)
    b = operator(cell, kind).execute(ctx(Store(), 1, dag_id="dag_b"))
    assert a["task_id"] != b["task_id"]
    assert_cell(cell, kind, b, tasks=2, imports=2)
    assert a["state"] == "completed" and a["total_filter_count"] == b["total_filter_count"]
