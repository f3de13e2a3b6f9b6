"""Reattach rules of the VikingDB operators: only a task this task instance made (created since its
first try started, same collection, type and parameters, equal not subset), running before done, two
candidates fail naming both, a stored task the service forgot is decided from its recorded state,
and a reattached task's duration counts from the first try. Emulator on 127.0.0.1; the Airflow
context is the small stand-in of tests/runtime.py."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_vectorimport.emulator.vikingdb import _Task
from airflow_provider_vectorimport.hooks.vikingdb import (
    AmbiguousTaskError,
    VikingDBHook,
    choose_task,
    normalize_params,
    parse_task,
    parse_time,
    parse_time_zone,
)
from airflow_provider_vectorimport.models import JobState
from airflow_provider_vectorimport.operators.vikingdb import (
    FINISHED,
    REFUSE,
    RESUBMIT,
    STATE_KEY,
    TaskForgottenError,
    TaskRecord,
    VikingDBExportOperator,
    VikingDBImportOperator,
    decide_forgotten,
)
from tests.runtime import FakeTI, Store, context
from tests.test_vikingdb_support import ROWS, shared_server, start_env

PARAMS = {"collection_name": "demo", "tos_path": "exports/re", "file_type": "parquet", "export_all": True}


@pytest.fixture(scope="module")
def vikingdb_server():
    yield from shared_server()


@pytest.fixture
def vdb(monkeypatch, vikingdb_server, tmp_path):
    env = start_env(monkeypatch, server=vikingdb_server, root=tmp_path, pace=0.03, conn_id="vikingdb_default")
    yield env


def op(**kwargs: Any) -> VikingDBExportOperator:
    defaults: dict[str, Any] = dict(
        task_id="export",
        collection_name="demo",
        tos_path="exports/re",
        export_all=True,
        poll_interval=0.03,
        timeout=30,
        deferrable=False,
    )
    return VikingDBExportOperator(**{**defaults, **kwargs})


def ctx(try_number: int, store: Store | None, run_start: float | None = None) -> dict[str, Any]:
    c = context(FakeTI(try_number), store)
    if run_start is not None:
        c["dag_run"] = SimpleNamespace(start_date=dt.datetime.fromtimestamp(run_start, dt.UTC))
    return c


def put_task(env, *, created: float, params: dict | None = None, status_done: bool = False) -> str:
    task = _Task(
        task_id=str(uuid.uuid4()),
        task_type="data_export",
        task_params=dict(params or PARAMS),
        created=created,
        update_person="another-run",
    )
    env.emulator.tasks[task.task_id] = task
    env.emulator.tasks_created["demo"] += 1
    return task.task_id


# --- pure rules ---------------------------------------------------------------------------------------
def _t(task_id: str, status: str, created: str, **params: Any) -> Any:
    return parse_task(
        {
            "task_id": task_id,
            "task_type": "data_export",
            "task_status": status,
            "create_time": created,
            "task_params": {**PARAMS, **params},
        }
    )


def test_choose_task_rules():
    since = parse_time("2026-11-30T06:00:00Z")
    old_done = _t("old", "done", "2026-11-30T05:59:00Z")
    mine = _t("mine", "running", "2026-11-30T06:00:05Z")
    done = _t("done1", "done", "2026-11-30T06:00:01Z")
    superset = _t("sup", "running", "2026-11-30T06:00:02Z", filter_conds=[{"op": "must"}])
    failed = _t("bad", "fail", "2026-11-30T06:00:03Z")
    pick = dict(collection_name="demo", task_type="data_export", params=PARAMS, created_after=since)
    assert choose_task([old_done, mine, done, superset, failed], **pick).task_id == "mine"  # running first
    assert choose_task([old_done, done, failed], **pick).task_id == "done1"
    assert choose_task([old_done], **pick) is None  # before the first try: another run's
    assert choose_task([superset], **pick) is None  # more parameters: not the same task
    assert choose_task([failed], **pick) is None
    assert choose_task([failed], **pick, include_failed=True).task_id == "bad"
    other = _t("mine2", "queued", "2026-11-30T06:00:09Z")
    with pytest.raises(AmbiguousTaskError) as err:
        choose_task([mine, other, done], **pick)
    assert err.value.task_ids == ["mine", "mine2"] and "mine2" in str(err.value)


def test_params_compare_equal_not_subset():
    assert normalize_params({**PARAMS, "file_type": None}) == normalize_params(
        {**PARAMS, "tos_path": "/exports/re/", "ignore_error": False, "project_name": "default"}
    )
    assert normalize_params(PARAMS) != normalize_params({**PARAMS, "file_type": "json"})
    assert normalize_params({"collection_name": "demo"}) != normalize_params(PARAMS)


def test_create_time_forms_and_zone():
    utc = parse_time("2026-11-30T06:00:00Z")
    assert parse_time("2026-11-30T14:00:00+08:00") == utc
    assert parse_time("2026-11-30 06:00:00") == utc  # naive: UTC by default
    assert parse_time("2026-11-30 14:00:00", parse_time_zone("+08:00")) == utc
    assert parse_time("2026-11-30 14:00:00", parse_time_zone("Asia/Shanghai")) == utc
    assert parse_time(str(int(utc * 1000))) == utc


def test_forgotten_task_decisions():
    assert decide_forgotten(TaskRecord(task_id="t", last_status="running"), False) == REFUSE
    assert decide_forgotten(TaskRecord(task_id="t", last_status=None), False) == REFUSE
    assert decide_forgotten(TaskRecord(task_id="t", last_status="done"), False) == FINISHED
    assert decide_forgotten(TaskRecord(task_id="t", last_status="fail"), False) == RESUBMIT
    assert decide_forgotten(TaskRecord(task_id="t", last_status="running"), True) == RESUBMIT
    assert TaskRecord.from_state("legacy-id").task_id == "legacy-id"


# --- against the emulator --------------------------------------------------------------------------------
def test_retry_never_adopts_an_earlier_runs_task(vdb):
    """Yesterday's completed task with the same parameters is not this run's result."""
    put_task(vdb, created=time.time() - 86400)
    start = time.time()
    summary = op().execute(ctx(2, None, run_start=start))  # try 2, nothing stored
    assert summary["reattached"] is False and vdb.emulator.tasks_created["demo"] == 2
    assert summary["total_filter_count"] == len(ROWS)


def test_killed_before_the_id_was_stored_reattaches_by_first_try_time(vdb):
    store = Store()
    first = op(wait_for_completion=False)
    first.execute(ctx(1, store))
    task_id = store[STATE_KEY]["task_id"]
    started = store[STATE_KEY]["first_try_started"]
    store[STATE_KEY] = {"first_try_started": started}  # the worker died right after create
    time.sleep(0.2)
    summary = op().execute(ctx(2, store))
    assert summary["task_id"] == task_id and summary["reattached"] is True
    assert vdb.emulator.tasks_created["demo"] == 1
    # the duration counts from the first try, not from the reattach
    assert 0.2 <= summary["duration_seconds"] <= time.time() - started + 0.01
    assert summary["started_at"] == dt.datetime.fromtimestamp(started, dt.UTC).isoformat(timespec="seconds")


def test_two_candidates_fail_naming_both(vdb):
    start = time.time()
    a = put_task(vdb, created=start + 1)
    b = put_task(vdb, created=start + 2)
    with pytest.raises(AmbiguousTaskError) as err:
        op().execute(ctx(2, None, run_start=start))
    assert set(err.value.task_ids) == {a, b} and a in str(err.value) and b in str(err.value)
    assert vdb.emulator.tasks_created["demo"] == 2  # nothing created


def test_forgotten_task_is_not_resubmitted_silently(vdb):
    store = Store()
    with pytest.raises(TaskDeferred):
        op(deferrable=True).execute(ctx(1, store))
    forgotten = store[STATE_KEY]["task_id"]
    VikingDBHook().drop_task(forgotten)  # the service no longer knows it (1000035)
    with pytest.raises(TaskForgottenError, match=r"no longer known.*resubmit_unknown_task=True") as err:
        op().execute(ctx(2, store))
    assert forgotten in str(err.value) and "last seen 'init'" in str(err.value)
    assert vdb.emulator.tasks_created["demo"] == 1
    summary = op(resubmit_unknown_task=True).execute(ctx(3, store))
    assert summary["task_id"] != forgotten and vdb.emulator.tasks_created["demo"] == 2


def test_forgotten_done_task_reports_done(vdb):
    store = Store()
    first = op().execute(ctx(1, store))
    assert first["state"] == "completed"
    VikingDBHook().drop_task(first["task_id"])
    again = op().execute(ctx(2, store))  # a cleared run, after the service forgot the task
    assert again["forgotten_by_service"] is True and again["task_id"] == first["task_id"]
    assert again["rows"] == len(ROWS) and vdb.emulator.tasks_created["demo"] == 1


def test_cleared_run_reuses_its_done_task(vdb):
    store = Store()
    first = op().execute(ctx(1, store))
    again = op().execute(ctx(1, store))  # cleared: try numbers start over, the task state stays
    assert again["task_id"] == first["task_id"] and again["reattached"] is True
    assert vdb.emulator.tasks_created["demo"] == 1


def test_import_retry_reattaches_and_rows_count_once(vdb, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    new = [{"id": 500 + i, "user_id": i, "city": "x", "vec": [1.0, 2.0]} for i in range(5)]
    (tmp_path / "inbox" / "p").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(new), tmp_path / "inbox" / "p" / "a.parquet")
    store = Store()
    imp = dict(task_id="imp", collection_name="demo", tos_path="inbox/p", poll_interval=0.03, deferrable=True)
    with pytest.raises(TaskDeferred):
        VikingDBImportOperator(**imp).execute(ctx(1, store))
    summary = VikingDBImportOperator(**{**imp, "deferrable": False}).execute(ctx(2, store))
    assert summary["reattached"] is True and summary["state"] == JobState.COMPLETED.value
    assert len(vdb.backend.collections["demo"]) == len(ROWS) + 5
    assert vdb.emulator.tasks_created["demo"] == 1


@pytest.mark.parametrize(("zone", "reattached"), [("UTC", True), ("+08:00", False)])
def test_naive_create_time_is_read_in_the_connection_zone(
    monkeypatch, vikingdb_server, tmp_path, zone, reattached
):
    """A service answering naive ``YYYY-mm-dd HH:MM:SS`` (UTC here): read as UTC, the retry finds its
    task; declared as +08:00, the task looks 8 h older than the first try and is not a candidate."""
    env = start_env(
        monkeypatch,
        server=vikingdb_server,
        root=tmp_path,
        pace=0.03,
        conn_id="vikingdb_default",
        create_time_zone=zone,
    )
    env.emulator.time_format = "naive"
    store = Store()
    op(wait_for_completion=False).execute(ctx(1, store))
    store[STATE_KEY] = {"first_try_started": store[STATE_KEY]["first_try_started"]}
    summary = op().execute(ctx(2, store))
    assert summary["reattached"] is reattached
    assert env.emulator.tasks_created["demo"] == (1 if reattached else 2)
    assert "T" not in summary["create_time"]


def test_stored_task_with_other_parameters_is_not_reused(vdb):
    """A cleared run whose arguments changed (another prefix): a different task, not the old one."""
    store = Store()
    first = op().execute(ctx(1, store))
    again = op(tos_path="exports/re2").execute(ctx(2, store))
    assert again["task_id"] != first["task_id"] and again["tos_path"] == "exports/re2"
    assert vdb.emulator.tasks_created["demo"] == 2
