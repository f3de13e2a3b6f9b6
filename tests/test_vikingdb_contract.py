"""The VikingDB task API as the documents show it (tests/fixtures/vikingdb/*.json, each naming its
page): the hook's builders produce the documented requests, its parsers read every documented
response, and the emulator answers with exactly the documented field sets (no ``files``)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_vectorimport.emulator.vikingdb import ERRORS
from airflow_provider_vectorimport.exceptions import NotFoundError
from airflow_provider_vectorimport.hooks.vikingdb import (
    CREATE_PATH,
    DROP_PATH,
    INFO_PATH,
    LIST_PATH,
    UPDATE_PATH,
    TaskListing,
    VikingDBHook,
    build_create_body,
    build_drop_body,
    build_info_body,
    build_list_body,
    build_update_body,
    check_vikingdb_response,
    parse_create_response,
    parse_list_page,
    parse_task,
    parse_time,
)
from airflow_provider_vectorimport.models import JobState
from airflow_provider_vectorimport.operators.vikingdb import VikingDBExportOperator, VikingDBImportOperator
from airflow_provider_vectorimport.signing import SigningCredentials, VolcengineSigner
from tests.test_vikingdb_support import AK, SK, shared_server, start_env

FIXTURES = Path(__file__).parent / "fixtures" / "vikingdb"


def fx(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def test_every_fixture_names_its_source():
    names = sorted(p.stem for p in FIXTURES.glob("*.json"))
    assert len(names) >= 19
    for name in names:
        assert fx(name)["source"], name


# --- requests -------------------------------------------------------------------------------------------
def test_builders_produce_the_documented_requests():
    for name in (
        "create_request_export_seed004",
        "create_request_export_filter_conds_1544711",
        "create_request_export_all_seed004",
        "create_request_import_sdk",
    ):
        doc = fx(name)
        assert doc["path"] == CREATE_PATH
        assert build_create_body(doc["body"]["task_type"], doc["body"]["task_params"]) == doc["body"], name
    task_id = fx("info_request_seed004")["body"]["task_id"]
    assert (INFO_PATH, build_info_body(task_id)) == (
        fx("info_request_seed004")["path"],
        fx("info_request_seed004")["body"],
    )
    assert (DROP_PATH, build_drop_body(task_id)) == (
        fx("drop_request_sdk")["path"],
        fx("drop_request_sdk")["body"],
    )
    assert (UPDATE_PATH, build_update_body(task_id)) == (
        fx("update_request_sdk")["path"],
        fx("update_request_sdk")["body"],
    )
    assert (LIST_PATH, build_list_body()) == (
        fx("list_request_sdk_v1")["path"],
        fx("list_request_sdk_v1")["body"],
    )
    paged = fx("list_request_paged_v2_1960509")["body"]
    assert TaskListing(collection_name="example", task_type="data_export").next_body() == paged
    assert TaskListing(paged=False).next_body() == fx("list_request_sdk_v1")["body"]


def _operator_params(op: Any) -> dict[str, Any]:
    return build_create_body(op.vikingdb_task_type, op.task_params())


def test_operators_send_the_documented_bodies():
    seed = fx("create_request_export_seed004")["body"]
    legacy = VikingDBExportOperator(
        task_id="e",
        collection_name="example",
        tos_path="data-export/task_example",
        filter={"user_id": [5, 9], "city": ["beijing"]},
        filter_field="filter",
    )
    body = _operator_params(legacy)
    assert body["task_params"].pop("file_type") == "parquet"  # the documented default, sent explicitly
    assert body == seed
    current = fx("create_request_export_filter_conds_1544711")["body"]
    op = VikingDBExportOperator(
        task_id="e",
        collection_name="example",
        tos_path="data-export/task_example",
        filter_conds=current["task_params"]["filter_conds"],
    )
    assert _operator_params(op) == current
    every = fx("create_request_export_all_seed004")["body"]
    op = VikingDBExportOperator(
        task_id="e",
        collection_name="example",
        tos_path="data-export/task_example",
        file_type="json",
        export_all=True,
    )
    assert _operator_params(op) == every
    imp = VikingDBImportOperator(task_id="i", collection_name="example", tos_path="data-import/task_example")
    assert _operator_params(imp) == fx("create_request_import_sdk")["body"]


# --- responses ------------------------------------------------------------------------------------------
def _data(name: str) -> Any:
    doc = fx(name)
    return check_vikingdb_response(doc["http_status"], doc["body"], {})


def test_parsers_read_every_documented_response():
    assert parse_create_response(_data("create_response_seed004")) == "3b4f1c2e-8d5a-4c1e-9b7f-2a6d0e9c1f55"
    task = parse_task(_data("info_response_seed004"))
    assert task.state is JobState.RUNNING and task.progress == 50.0
    assert (task.total_data_count, task.total_filter_count, task.scan_data_count) == (1000, 120, 500)
    assert task.sampled_data and task.sampled_timestamp == 1796018400 and task.err_msg is None
    assert task.task_params["filter"] == {"user_id": [5, 9], "city": ["beijing"]}
    assert parse_time(task.create_time) == parse_time("2026-11-30T06:00:00Z")
    naive = parse_task(_data("info_response_naive_time"))
    assert naive.state is JobState.COMPLETED and parse_time(naive.create_time) == parse_time(task.create_time)
    v2 = parse_task(fx("info_result_v2_1960512")["result"])
    assert v2.state is JobState.FAILED and v2.err_msg == "no permission to write tos" and v2.progress == 10.0
    assert v2.task_params["filter_conds"][0]["op"] == "must" and v2.sampled_timestamp == 1796018400
    assert parse_time(v2.create_time) == parse_time("2026-11-30T06:00:00Z")  # +08:00 read exactly
    page = parse_list_page(_data("list_response_v1_sdk"))
    assert [parse_task(i).task_id for i in page.items] == [task.task_id] and page.total is None
    v2_page = parse_list_page(fx("list_result_v2_1960509")["result"])
    assert v2_page.total == 1 and parse_task(v2_page.items[0]).task_params["export_all"] is True
    assert _data("drop_response_sdk") is None and _data("update_response_sdk") is None
    err = fx("error_task_not_exist_seed004")
    with pytest.raises(NotFoundError) as exc:
        check_vikingdb_response(err["http_status"], err["body"], {})
    assert exc.value.code == 1000035 and exc.value.request_id == "r-missing"


def test_emulator_error_table_is_the_documented_one():
    for row in fx("errors_seed004")["errors"]:
        assert ERRORS[row["code"]] == (row["http_status"], row["message"]), row


# --- the emulator answers with the documented field sets --------------------------------------------
def _keys(value: Any) -> set[str]:
    return set(value) if isinstance(value, dict) else set()


@pytest.fixture(scope="module")
def vikingdb_server():
    yield from shared_server()


@pytest.fixture
def vdb(monkeypatch, vikingdb_server, tmp_path):
    env = start_env(monkeypatch, server=vikingdb_server, root=tmp_path, pace=0.02)
    yield env


def _raw(env, path: str, body: dict[str, Any]) -> requests.Response:
    payload = json.dumps(body).encode()
    url = f"{env.server.url}{path}"
    headers = {"Content-Type": "application/json"}
    headers.update(
        VolcengineSigner(SigningCredentials(AK, SK, "cn-north-1", "air"))("POST", url, headers, payload)
    )
    return requests.post(url, data=payload, headers=headers, timeout=10)


def test_emulator_answers_only_documented_fields(vdb):
    create_doc = fx("create_response_seed004")["body"]
    info_doc = fx("info_response_seed004")["body"]
    # the documented request, on the emulator's collection "demo"
    body = fx("create_request_export_filter_conds_1544711")["body"]
    body = {**body, "task_params": {**body["task_params"], "collection_name": "demo"}}
    resp = _raw(vdb, CREATE_PATH, body)
    answer = resp.json()
    assert resp.status_code == 200 and _keys(answer) == _keys(create_doc)
    assert _keys(answer["data"]) == _keys(create_doc["data"])
    task_id = answer["data"]["task_id"]
    deadline = time.time() + 10
    seen_statuses = set()
    while True:
        info = _raw(vdb, INFO_PATH, {"task_id": task_id}).json()
        assert _keys(info) == _keys(info_doc)
        assert _keys(info["data"]) == _keys(info_doc["data"])
        assert _keys(info["data"]["process_info"]) == _keys(info_doc["data"]["process_info"])  # no files
        assert parse_time(info["data"]["create_time"]) is not None
        seen_statuses.add(info["data"]["task_status"])
        if info["data"]["task_status"] == "done":
            break
        assert time.time() < deadline
        time.sleep(0.02)
    assert "done" in seen_statuses
    listed = _raw(vdb, LIST_PATH, fx("list_request_sdk_v1")["body"]).json()
    list_doc = fx("list_response_v1_sdk")["body"]
    assert _keys(listed) == _keys(list_doc) and isinstance(listed["data"], list)
    assert [_keys(item) for item in listed["data"]] == [_keys(list_doc["data"][0])]
    paged = _raw(
        vdb, LIST_PATH, {**fx("list_request_paged_v2_1960509")["body"], "collection_name": "demo"}
    ).json()
    assert [item["task_id"] for item in paged["data"]] == [task_id]
    bad_page = _raw(vdb, LIST_PATH, {"page_size": 101}).json()
    assert bad_page["code"] == 1000003
    dropped = _raw(vdb, DROP_PATH, {"task_id": task_id}).json()
    assert _keys(dropped) == _keys(fx("drop_response_sdk")["body"]) and dropped["data"] is None
    missing = _raw(vdb, INFO_PATH, {"task_id": task_id})
    err_doc = fx("error_task_not_exist_seed004")
    assert missing.status_code == err_doc["http_status"] and _keys(missing.json()) == _keys(err_doc["body"])
    assert missing.json()["message"].startswith(err_doc["body"]["message"])


def test_emulator_update_answers_the_documented_envelope(vdb):
    hook = VikingDBHook(vdb.conn_id)
    task_id = hook.create_task(
        "filter_delete", {"collection_name": "demo", "filter": {"city": ["x"]}, "need_confirm": True}
    )
    deadline = time.time() + 10
    while hook.get_task(task_id).raw_status != "confirm":
        assert time.time() < deadline
        time.sleep(0.02)
    answer = _raw(vdb, UPDATE_PATH, {"task_id": task_id, "task_status": "confirmed"}).json()
    assert _keys(answer) == _keys(fx("update_response_sdk")["body"]) and answer["data"] is None


def test_unknown_or_newly_spelled_status_is_running_never_terminal():
    base = fx("info_response_seed004")["body"]["data"]
    for status in ("succeeded", "Done ", "finished", "", "cancelled"):
        task = parse_task({**base, "task_status": status})
        assert task.state is JobState.RUNNING and not task.is_terminal, status
    assert parse_task({**base, "task_status": "DONE"}).state is JobState.COMPLETED  # case only


def test_a_huge_retry_after_is_capped():
    from airflow_provider_vectorimport.hooks.vikingdb import _backoff
    from airflow_provider_vectorimport.http import RetryPolicy

    policy = RetryPolicy(retry_after_max=120.0)
    assert _backoff(policy, 1, 10**6) == 120.0
    assert _backoff(policy, 1, 3.0) == 3.0
