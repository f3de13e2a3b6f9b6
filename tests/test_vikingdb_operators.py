"""VikingDB export/import operators and the task sensor: bad input rejected before any request,
polling and deferred paths, failures with the service's err_msg, and retries that reattach instead
of creating a second task. HTTP goes to the signature-verifying emulator on 127.0.0.1; the Airflow
runtime context is a small stand-in (test_vikingdb_dag.py runs the real one)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowRescheduleException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)

from airflow_provider_vectorimport.exceptions import ConfigurationError, JobFailedError
from airflow_provider_vectorimport.hooks.vikingdb import VikingDBHook
from airflow_provider_vectorimport.operators.vikingdb import (
    STATE_KEY,
    VikingDBExportOperator,
    VikingDBImportOperator,
)
from airflow_provider_vectorimport.sensors.vikingdb import VikingDBTaskSensor
from airflow_provider_vectorimport.triggers.vikingdb import VikingDBTaskTrigger
from airflow_provider_vectorimport.utils import SUMMARY_XCOM_KEY
from tests.runtime import FakeTI, Store, context
from tests.test_vikingdb_support import ROWS, SK, start_env


@pytest.fixture
def vdb(monkeypatch, tmp_path):
    env = start_env(monkeypatch, root=tmp_path, pace=0.05, conn_id="vikingdb_default")
    yield env
    env.server.stop()


def export_op(**kwargs: Any) -> VikingDBExportOperator:
    defaults: dict[str, Any] = dict(
        task_id="export",
        collection_name="demo",
        tos_path="exports/op",
        filter={"city": ["shanghai"]},
        poll_interval=0.05,
        timeout=30,
        deferrable=False,
    )
    return VikingDBExportOperator(**{**defaults, **kwargs})


def run_trigger(trigger: VikingDBTaskTrigger) -> dict[str, Any]:
    async def collect() -> list:
        return [e async for e in trigger.run()]

    events = asyncio.run(collect())
    assert len(events) == 1
    return events[0].payload


# --- bad input: a clear error before any request --------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"filter": "[1, 2]"}, "filter takes the legacy"),
        ({"filter": ["city"]}, "filter takes the legacy"),
        ({"filter": "{city: beijing}"}, "filter is not valid JSON"),
        ({"filter": {"city": ["x"]}, "export_all": True}, "not both"),
        ({"filter": None}, "filter .* or export_all=True"),
        ({"tos_path": "tos://bucket/prefix"}, "not a URL"),
        ({"tos_path": "https://tos-cn-beijing.volces.com/bucket/x"}, "not a URL"),
        ({"tos_path": "s3:bucket/x"}, "not a URL"),
        ({"tos_path": "/prefix/only"}, "has no bucket"),
        ({"tos_path": ""}, "tos_path must be 'bucket/prefix'"),
        ({"tos_path": "Bad_Bucket/x"}, "not a valid TOS bucket name"),
        ({"file_type": "csv"}, "file_type must be one of parquet, json"),
        ({"collection_name": " "}, "collection_name"),
        ({"export_all": "yes", "filter": None}, "export_all must be True or False"),
    ],
)
def test_bad_export_arguments_fail_at_construction(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        export_op(**kwargs)


def test_bad_import_arguments_fail_at_construction():
    with pytest.raises(ConfigurationError, match="ignore_error"):
        VikingDBImportOperator(task_id="i", collection_name="demo", tos_path="bkt1/x", ignore_error="no")
    with pytest.raises(ConfigurationError, match="file_type"):
        VikingDBImportOperator(task_id="i", collection_name="demo", tos_path="bkt1/x", file_type="npy")


def test_airflow_task_type_is_the_operator_class_name():
    """Airflow's ``BaseOperator.task_type`` (UI, task_instance.operator) is not overridden by the
    service's task type, which lives in ``vikingdb_task_type``."""
    assert export_op().task_type == "VikingDBExportOperator"
    imp = VikingDBImportOperator(task_id="i", collection_name="demo", tos_path="bkt1/x")
    assert imp.task_type == "VikingDBImportOperator"
    assert (export_op().vikingdb_task_type, imp.vikingdb_task_type) == ("data_export", "data_import")


def test_templated_bad_input_fails_at_execute_before_any_request(vdb):
    op = export_op(tos_path="{{ params.where }}", filter="{{ params.flt }}")  # not validated yet
    op.tos_path, op.filter = "s3://bucket/x", '{"city": ["x"]}'  # as rendered
    with pytest.raises(ConfigurationError, match="not a URL"):
        op.execute(context())
    op.tos_path, op.filter = "bucket/x", '"just a string"'
    with pytest.raises(ConfigurationError, match="JSON object"):
        op.execute(context())
    assert vdb.emulator.requests == []


# --- polling path ----------------------------------------------------------------------------------
def test_export_polling_returns_summary_with_files(vdb):
    ti = FakeTI()
    store = Store()
    summary = export_op().execute(context(ti, store))
    expected = [r for r in ROWS if r["city"] == "shanghai"]
    assert summary["status"] == "done" and summary["state"] == "completed"
    assert summary["total_filter_count"] == len(expected) and summary["total_data_count"] == len(ROWS)
    assert summary["tos_path"] == "exports/op" and summary["tos_uri"] == "tos://exports/op"
    assert summary["files"] is None  # the service lists no files; no storage_conn_id to list them
    assert pq.read_table(vdb.root / "exports" / "op" / "0.parquet").to_pylist() == expected
    assert ti.xcoms["vikingdb_task_id"] == summary["task_id"] == store[STATE_KEY]["task_id"]
    assert store[STATE_KEY]["last_status"] == "done" and store[STATE_KEY]["rows"] == len(expected)
    assert (
        ti.xcoms["console_url"] == summary["console_url"] and "collection_name=demo" in summary["console_url"]
    )
    assert summary["reattached"] is False
    json.dumps(summary)
    assert SK not in json.dumps(summary)
    assert vdb.emulator.tasks_created["demo"] == 1


def test_export_all_json(vdb):
    summary = export_op(filter=None, export_all=True, file_type="json", tos_path="exports/all").execute(
        context()
    )
    assert summary["total_filter_count"] == len(ROWS)
    lines = (vdb.root / "exports" / "all" / "0.json").read_text().splitlines()
    assert [json.loads(line) for line in lines] == ROWS
    (task,) = VikingDBHook().list_tasks()
    assert task.task_params == {
        "collection_name": "demo",
        "tos_path": "exports/all",
        "file_type": "json",
        "export_all": True,
    }


def test_no_wait_returns_at_once(vdb):
    vdb.emulator.pace_seconds = 60
    summary = export_op(wait_for_completion=False).execute(context())
    assert summary["waited"] is False and summary["state"] == "pending"


def test_polling_timeout(vdb):
    vdb.emulator.pace_seconds = 60
    with pytest.raises(AirflowException, match=r"still init after [01]s"):
        export_op(timeout=0.3).execute(context())


def _write_rows(root, key: str, rows: list[dict]) -> None:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def test_import_success_and_failure(vdb):
    new = [{"id": 100 + i, "user_id": i, "city": "wuhan", "vec": [1.0, 2.0]} for i in range(7)]
    _write_rows(vdb.root, "incoming/good/part-0.parquet", new)
    op = VikingDBImportOperator(
        task_id="imp", collection_name="demo", tos_path="incoming/good", poll_interval=0.05, deferrable=False
    )
    summary = op.execute(context())
    assert summary["state"] == "completed" and summary["total_filter_count"] == 7
    assert vdb.backend.collections["demo"][-7:] == new

    _write_rows(vdb.root, "incoming/bad/part-0.parquet", [{"id": 1, "other": "x"}])
    bad = VikingDBImportOperator(
        task_id="imp", collection_name="demo", tos_path="incoming/bad", poll_interval=0.05, deferrable=False
    )
    ti = FakeTI()
    with pytest.raises(JobFailedError, match=r"incoming/bad/part-0.parquet row 0: fields do not match"):
        bad.execute(context(ti))
    failed = ti.xcoms[SUMMARY_XCOM_KEY]  # pushed before raising: the dashboard's per-file reason
    assert (failed["task_id"], failed["state"]) == (ti.xcoms["vikingdb_task_id"], "failed")
    assert "incoming/bad/part-0.parquet row 0: fields do not match" in failed["err_msg"]
    assert SK not in json.dumps(failed)
    lenient = VikingDBImportOperator(
        task_id="imp",
        collection_name="demo",
        tos_path="incoming/bad",
        ignore_error=True,
        poll_interval=0.05,
        deferrable=False,
    )
    assert lenient.execute(context())["state"] == "completed"


# --- deferred path -----------------------------------------------------------------------------------
def test_export_defers_then_completes(vdb):
    ti = FakeTI()
    op = export_op(deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context(ti, Store()))
    trigger = deferred.value.trigger
    assert isinstance(trigger, VikingDBTaskTrigger) and deferred.value.method_name == "execute_complete"
    _, kwargs = trigger.serialize()
    assert SK not in json.dumps(kwargs) and kwargs["job_id"] == ti.xcoms["vikingdb_task_id"]
    assert "console_url" in ti.xcoms  # pushed before waiting
    event = run_trigger(trigger)
    assert event["status"] == "success"
    summary = export_op(deferrable=True).execute_complete(context(ti), event)
    assert summary["task_id"] == kwargs["job_id"] and summary["tos_path"] == "exports/op"


def test_deferred_failure_carries_err_msg(vdb):
    op = VikingDBImportOperator(
        task_id="imp", collection_name="demo", tos_path="nothing/here", deferrable=True, poll_interval=0.05
    )
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context())
    event = run_trigger(deferred.value.trigger)
    assert event["status"] == "failed"
    ti = FakeTI()
    with pytest.raises(JobFailedError, match=r"no \.parquet files under nothing/here"):
        op.execute_complete(context(ti), event)
    failed = ti.xcoms[SUMMARY_XCOM_KEY]
    assert failed["task_id"] == event["job_id"] and failed["state"] == "failed"
    assert (
        "no .parquet files under nothing/here" in failed["err_msg"] and failed["tos_path"] == "nothing/here"
    )


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (None, "Unexpected trigger event"),
        ({"foo": 1}, "Unexpected trigger event"),
        ({"status": "weird", "job_id": "t"}, "Unexpected trigger event"),
        ({"status": "timeout", "job_id": "t", "message": "late"}, "did not finish"),
        ({"status": "error", "job_id": "t", "message": "boom"}, "boom"),
    ],
)
def test_execute_complete_rejects_bad_events(event, message):
    with pytest.raises(AirflowException, match=message):
        export_op().execute_complete(context(), event)


# --- retries reattach ---------------------------------------------------------------------------------
def test_retry_reattaches_via_task_state(vdb):
    store = Store()
    op = export_op(deferrable=True)
    with pytest.raises(TaskDeferred):
        op.execute(context(FakeTI(1), store))
    first = store[STATE_KEY]["task_id"]
    # the worker died; try 2 with the same task_state_store
    ti2 = FakeTI(2)
    summary = export_op().execute(context(ti2, store))
    assert summary["task_id"] == first and summary["reattached"] is True
    assert vdb.emulator.tasks_created["demo"] == 1


def run_context(try_number: int, store: Store | None = None, started: float | None = None) -> dict[str, Any]:
    """A context whose dag run started at ``started`` (the fallback window without a task state)."""
    import datetime as dt
    from types import SimpleNamespace

    ctx = context(FakeTI(try_number), store)
    ctx["dag_run"] = SimpleNamespace(start_date=dt.datetime.fromtimestamp(started or time.time(), dt.UTC))
    return ctx


def test_retry_reattaches_via_list_tasks_without_store(vdb):
    started = time.time()
    with pytest.raises(TaskDeferred):
        export_op(deferrable=True).execute(run_context(1, None, started))
    summary = export_op().execute(run_context(2, None, started))
    assert summary["reattached"] is True and vdb.emulator.tasks_created["demo"] == 1
    # a different tos_path is a different task: no false reattachment
    other = export_op(tos_path="exports/other").execute(run_context(2, None, started))
    assert other["reattached"] is False and vdb.emulator.tasks_created["demo"] == 2


def test_first_try_never_reattaches_and_failed_task_is_replaced(vdb):
    export_op().execute(context(FakeTI(1)))
    export_op().execute(context(FakeTI(1)))
    assert vdb.emulator.tasks_created["demo"] == 2  # two runs, two tasks
    store = Store()
    op = VikingDBImportOperator(
        task_id="imp", collection_name="demo", tos_path="nothing/here", poll_interval=0.05, deferrable=False
    )
    with pytest.raises(JobFailedError):
        op.execute(context(FakeTI(1), store))
    failed = store[STATE_KEY]["task_id"]
    with pytest.raises(JobFailedError):
        op.execute(context(FakeTI(2), store))
    assert store[STATE_KEY]["task_id"] != failed and vdb.emulator.tasks_created["demo"] == 4


# --- sensor --------------------------------------------------------------------------------------------
def _task(vdb, **params: Any) -> str:
    return VikingDBHook().create_task(
        "data_export",
        {"collection_name": "demo", "tos_path": "s/x", "file_type": "parquet", "export_all": True, **params},
    )


def sensor(task_id: str, **kwargs: Any) -> VikingDBTaskSensor:
    defaults: dict[str, Any] = dict(
        task_id="wait", vikingdb_task_id=task_id, poke_interval=0.05, timeout=30, deferrable=False
    )
    return VikingDBTaskSensor(**{**defaults, **kwargs})


def test_sensor_poke_mode_succeeds(vdb):
    ti = FakeTI()
    result = sensor(_task(vdb)).execute(context(ti))
    assert result["state"] == "completed" and result["total_filter_count"] == len(ROWS)
    assert "console_url" in ti.xcoms


def test_sensor_reschedule_mode(vdb):
    vdb.emulator.pace_seconds = 60
    with pytest.raises(AirflowRescheduleException):
        sensor(_task(vdb), mode="reschedule").execute(context())


def test_sensor_poke_timeout_and_soft_fail(vdb):
    vdb.emulator.pace_seconds = 60
    task_id = _task(vdb)
    with pytest.raises(AirflowSensorTimeout):
        sensor(task_id, timeout=0.2).execute(context())
    with pytest.raises(AirflowSkipException):
        sensor(task_id, timeout=0.2, soft_fail=True).execute(context())


def test_sensor_fails_on_failed_task(vdb):
    task_id = VikingDBHook().create_task(
        "data_import", {"collection_name": "demo", "tos_path": "no/files", "file_type": "json"}
    )
    with pytest.raises(JobFailedError, match=r"no \.json files"):
        sensor(task_id).execute(context())


def test_sensor_deferrable_paths(vdb):
    vdb.emulator.pace_seconds = 60
    task_id = _task(vdb)
    s = sensor(task_id, deferrable=True, timeout=0.3)
    with pytest.raises(TaskDeferred) as deferred:
        s.execute(context())
    event = run_trigger(deferred.value.trigger)
    assert event["status"] == "timeout"
    with pytest.raises(AirflowSensorTimeout):
        s.execute_complete(context(), event)
    with pytest.raises(AirflowSkipException):
        sensor(task_id, deferrable=True, soft_fail=True).execute_complete(context(), event)
    vdb.emulator.pace_seconds = 0.02
    time.sleep(0.2)
    event = run_trigger(VikingDBTaskTrigger(conn_id="vikingdb_default", job_id=task_id, poll_interval=0.05))
    assert sensor(task_id, deferrable=True).execute_complete(context(), event)["state"] == "completed"
    with pytest.raises(AirflowException, match="Unexpected"):
        s.execute_complete(context(), None)


def test_sensor_confirm(vdb, capsys):
    task_id = VikingDBHook().create_task(
        "filter_delete", {"collection_name": "demo", "filter": {"city": ["x"]}, "need_confirm": True}
    )
    deadline = time.time() + 10
    while VikingDBHook().get_task(task_id).raw_status != "confirm":
        assert time.time() < deadline
        time.sleep(0.05)
    with pytest.raises(AirflowSensorTimeout):
        sensor(task_id, timeout=0.3).execute(context())
    assert "waiting for confirmation" in capsys.readouterr().out
    with pytest.raises(JobFailedError, match="manual confirmation"):
        sensor(task_id, fail_on_confirm=True).execute(context())
    VikingDBHook().update_task(task_id)
    assert sensor(task_id).execute(context())["status"] == "done"


def test_openlineage_export_and_import(vdb):
    pytest.importorskip("airflow.providers.openlineage")
    op = export_op()
    op.execute(context(FakeTI(), Store()))
    lineage = op.get_openlineage_facets_on_complete(None)
    assert [(d.namespace.split("://")[0], d.name) for d in lineage.inputs] == [("vikingdb", "demo")]
    (out,) = lineage.outputs
    assert (out.namespace, out.name) == ("s3://exports", "op")
    assert out.outputFacets["outputStatistics"].rowCount == len([r for r in ROWS if r["city"] == "shanghai"])
