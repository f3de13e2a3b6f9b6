"""VikingDB task matching (issue 20 item 1.7, issue 21 matcher audit).

* volc-sdk-python ``VikingDBService.package_task`` reads ``collection_name`` at the top level of a
  task answer (``if "collection_name" in res_data``); the V2 get page puts it in ``task_config``. A
  task answered that way must still be found by "created anyway" and by reattach.
* The matcher compares the full ``tos_path`` (bucket and prefix), never a part of it: two mapped
  tasks exporting to ``bucket/run/shard-0`` and ``bucket/run/shard-1`` never share a task. A
  listing that does not report the parameters the task was created with cannot prove anything: such
  a candidate is named, not adopted.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_vectorimport.hooks.vikingdb import VikingDBHook
from airflow_provider_vectorimport.operators.vikingdb import STATE_KEY, VikingDBExportOperator
from airflow_provider_vectorimport.protocols.vikingdb import AmbiguousTaskError, choose_task, parse_task
from tests.runtime import FakeTI, Store, context
from tests.test_vikingdb_support import shared_server, start_env

PARAMS = {
    "collection_name": "demo",
    "tos_path": "bkt/run/shard-0",
    "file_type": "parquet",
    "export_all": True,
}


@pytest.fixture(scope="module")
def vikingdb_server():
    yield from shared_server()


@pytest.fixture
def vdb(monkeypatch, vikingdb_server, tmp_path):
    env = start_env(monkeypatch, server=vikingdb_server, root=tmp_path, pace=0.03, conn_id="vikingdb_default")
    yield env


def _answer(**top: Any) -> dict[str, Any]:
    return {"task_id": "t-1", "task_type": "data_export", "task_status": "running", **top}


@pytest.mark.parametrize(
    "payload",
    [
        _answer(task_params={"collection_name": "demo"}),  # V1 pages
        _answer(collection_name="demo", task_params={}),  # volc-sdk-python package_task
        _answer(collection_name="demo"),
        _answer(task_config={"collection_name": "demo"}),  # V2 get page
    ],
    ids=["task_params", "top_level", "top_level_only", "task_config"],
)
def test_collection_name_is_read_wherever_the_answer_puts_it(payload):
    assert parse_task(payload).collection_name == "demo"


def test_created_anyway_finds_a_task_answered_with_a_top_level_collection_name(vdb):
    """The create's answer is lost after the task was made; the list answers ``collection_name``
    at the top level (as the SDK reads it): the task is found, not created twice."""
    vdb.emulator.collection_name_at_top = True
    vdb.emulator.inject_fault("lost_answer")
    task_id = VikingDBHook().create_task("data_export", PARAMS)
    assert vdb.emulator.tasks_created["demo"] == 1
    assert task_id in vdb.emulator.tasks


def _export() -> VikingDBExportOperator:
    return VikingDBExportOperator(
        task_id="export",
        collection_name="demo",
        tos_path="bkt/run/shard-0",
        export_all=True,
        deferrable=False,
        poll_interval=0.02,
        wait_for_completion=False,
    )


@pytest.mark.parametrize("stored_id", [True, False], ids=["stored_task_id", "died_before_storing_it"])
def test_reattach_finds_a_task_answered_with_a_top_level_collection_name(vdb, stored_id):
    """Try 1 created the task; try 2 reattaches to it, whether the task state kept its id or only
    the first try's start (the try died between create and storing the id)."""
    vdb.emulator.collection_name_at_top = True
    store = Store()
    summary = _export().execute(context(FakeTI(try_number=1), store))
    if not stored_id:
        store[STATE_KEY] = {**store[STATE_KEY], "task_id": None}
    retried = _export().execute(context(FakeTI(try_number=2), store))
    assert retried["task_id"] == summary["task_id"]
    assert vdb.emulator.tasks_created["demo"] == 1


def test_a_sibling_shard_with_another_tos_path_is_never_taken(vdb):
    """Two mapped exports of one run: shard 1's task exists; shard 0's create is reset before the
    service processed it. Shard 0 must create its own task, not take shard 1's."""
    hook = VikingDBHook()
    sibling = hook.create_task("data_export", {**PARAMS, "tos_path": "bkt/run/shard-1"})
    vdb.emulator.inject_fault("reset_before")
    mine = hook.create_task("data_export", PARAMS)
    assert mine != sibling
    assert vdb.emulator.tasks_created["demo"] == 2


def test_a_listing_without_the_task_parameters_proves_nothing():
    """An answer that names the collection but not the ``tos_path`` the task was made with may be
    any task of the collection: named, never adopted, and not "no match" either (which would
    create a second task)."""
    listed = parse_task(
        {
            "task_id": "t-9",
            "task_type": "data_export",
            "task_status": "running",
            "collection_name": "demo",
            "create_time": "2026-12-01T00:00:05Z",
        }
    )
    with pytest.raises(AmbiguousTaskError) as err:
        choose_task(
            [listed], collection_name="demo", task_type="data_export", params=PARAMS, created_after=0.0
        )
    assert err.value.task_ids == ["t-9"]
    assert "tos_path" in str(err.value)
