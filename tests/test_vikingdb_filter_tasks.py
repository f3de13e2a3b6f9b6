"""VikingDB filter_delete / filter_update operators against the signature-verifying emulator: the
scan stops in ``confirm`` showing the match count and sampled rows, nothing is deleted before the
confirmation, ``confirm=True`` confirms and waits for ``done``, the deferred path hands the task in
confirm back to the operator, and bad input fails before any request."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_vectorimport.exceptions import ConfigurationError
from airflow_provider_vectorimport.operators.vikingdb_filter import (
    VikingDBConfirmTaskOperator,
    VikingDBFilterDeleteOperator,
    VikingDBFilterUpdateOperator,
)
from tests.runtime import FakeTI, Store, context
from tests.test_vikingdb_operators import run_trigger
from tests.test_vikingdb_support import ROWS, start_env

SHANGHAI = [{"op": "must", "field": "city", "conds": ["shanghai"]}]


@pytest.fixture
def vdb(monkeypatch, tmp_path):
    env = start_env(monkeypatch, root=tmp_path, pace=0.05, conn_id="vikingdb_default")
    yield env
    env.server.stop()


def rows(env) -> list[dict]:
    return env.backend.collections["demo"]


def delete_op(**kw):
    args = dict(
        task_id="scan",
        collection_name="demo",
        filter_conds=SHANGHAI,
        poll_interval=0.05,
        timeout=30,
        deferrable=False,
    )
    return VikingDBFilterDeleteOperator(**{**args, **kw})


def test_scan_waits_in_confirm_showing_samples_then_confirm_deletes(vdb):
    ti = FakeTI(task_id="scan")
    summary = delete_op().execute(context(ti, Store()))
    assert summary["awaiting_confirmation"] is True and summary["status"] == "confirm"
    assert summary["total_filter_count"] == 20 and summary["sampled_rows"] == 5
    assert "matched **20** of 60 rows" in ti.xcoms["confirmation"] and "shanghai" in ti.xcoms["confirmation"]
    assert len(rows(vdb)) == len(ROWS)  # nothing deleted before the confirmation
    done = VikingDBConfirmTaskOperator(
        task_id="confirm", task_id_to_confirm=ti.xcoms["vikingdb_task_id"], poll_interval=0.05, timeout=30
    ).execute(context(FakeTI(task_id="confirm")))
    assert done["status"] == "done"
    left = rows(vdb)
    assert len(left) == 40 and all(r["city"] != "shanghai" for r in left)


def test_confirm_true_confirms_and_waits(vdb):
    summary = delete_op(confirm=True).execute(context(FakeTI(task_id="scan"), Store()))
    assert summary["status"] == "done" and summary["awaiting_confirmation"] is False
    assert len(rows(vdb)) == 40


def test_deferred_scan_hands_the_confirm_back(vdb):
    ti = FakeTI(task_id="scan")
    op = delete_op(deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context(ti, Store()))
    event = run_trigger(deferred.value.trigger)
    summary = delete_op(deferrable=True).execute_complete(context(ti), event)
    assert summary["awaiting_confirmation"] is True and len(rows(vdb)) == len(ROWS)


def test_bad_input_fails_before_any_request(vdb):
    with pytest.raises(ConfigurationError, match="filter_conds"):
        delete_op(filter_conds=[]).execute(context(FakeTI(), Store()))
    with pytest.raises(ConfigurationError, match="scalar fields only"):
        VikingDBFilterUpdateOperator(
            task_id="u", collection_name="demo", filter_conds=SHANGHAI, update_fields={"vector": [1]}
        ).execute(context(FakeTI(), Store()))
    with pytest.raises(ConfigurationError, match="task_id_to_confirm is empty"):
        VikingDBConfirmTaskOperator(task_id="c", task_id_to_confirm="").execute(context(FakeTI()))
    assert vdb.emulator.tasks_created.get("demo", 0) == 0


def test_filter_update_runs_to_done(vdb):
    summary = VikingDBFilterUpdateOperator(
        task_id="u",
        collection_name="demo",
        filter_conds=SHANGHAI,
        update_fields={"user_id": 7},
        poll_interval=0.05,
        timeout=30,
        deferrable=False,
    ).execute(context(FakeTI(), Store()))
    assert summary["task_type"] == "filter_update" and summary["status"] == "done"


def test_approval_chain_puts_a_hitl_approval_between_scan_and_confirm():
    import pendulum
    from airflow.providers.standard.operators.hitl import ApprovalOperator
    from airflow.sdk import DAG

    from airflow_provider_vectorimport.operators.vikingdb_filter import filter_delete_with_approval

    with DAG("approve_delete", schedule=None, start_date=pendulum.datetime(2025, 1, 1)) as dag:
        _scan, approve, confirm = filter_delete_with_approval(
            task_id="purge", collection_name="demo", filter_conds=SHANGHAI
        )
    assert isinstance(approve, ApprovalOperator)
    assert dag.task_dict["purge_scan"].downstream_task_ids == {"purge_approve"}
    assert dag.task_dict["purge_approve"].downstream_task_ids == {"purge_confirm"}
    assert "key='confirmation'" in approve.body and "purge_scan" in confirm.task_id_to_confirm
