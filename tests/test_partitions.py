"""Partitions and delete by filter (Milvus REST v2 / Zilliz Cloud cluster): the documents' examples
(``tests/fixtures/milvus_partitions/*.json``, each naming its page) are what the builders send and
what the parsers read, the emulator answers them with the documented fields only, and the rules the
replace feature builds on (release before drop, ``_default`` stays, partition-key collections,
1,024 partitions, deletes by primary key) hold against the emulator."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_vectorimport.emulator import partitions as emu_partitions
from airflow_provider_vectorimport.emulator.examples import rest
from airflow_provider_vectorimport.exceptions import ConfigurationError, ServiceError
from airflow_provider_vectorimport.hooks.partitions import PartitionHook
from airflow_provider_vectorimport.protocols import milvus_partitions as proto

pytest_plugins = ["airflow_provider_vectorimport.emulator.pytest_plugin"]

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "milvus_partitions").glob("*.json"))
DIM = 4
SCHEMA = {
    "autoId": False,
    "enableDynamicField": False,
    "fields": [
        {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "day", "dataType": "VarChar", "elementTypeParams": {"max_length": 16}},
        {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": DIM}},
    ],
}


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def build(call: str, request: dict[str, Any]):
    collection = request["collectionName"]
    if call == "delete":
        return proto.build_delete_call(collection, request["filter"])
    if call == "get_load_state":
        return proto.build_load_state_call(collection, partitions=request.get("partitionNames"))
    partition = request.get("partitionName", request.get("partitionNames"))
    return proto.build_partition_call(call, collection, partition)


def test_every_fixture_names_its_page():
    assert {load(p)["call"] for p in FIXTURES} == {
        "create",
        "drop",
        "has",
        "list",
        "load",
        "release",
        "get_stats",
        "delete",
        "get_load_state",
    }
    for path in FIXTURES:
        assert load(path)["_source"].startswith(("https://", "shared/reference")), path.name


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_builders_send_the_documented_request(path):
    data = load(path)
    call = build(data["call"], data["request"])
    assert (call.method, call.path, call.json) == (data["method"], data["path"], data["request"])


def test_parsers_read_the_documented_answers():
    answers = {load(p)["call"]: load(p)["response"]["data"] for p in FIXTURES}
    assert proto.parse_partition_list(answers["list"]) == ["_default"]
    assert proto.parse_has(answers["has"]) is True
    assert proto.parse_row_count(answers["get_stats"]) == 0
    assert proto.parse_load_state(answers["get_load_state"]) == "LoadStateLoaded"
    with pytest.raises(ServiceError):
        proto.parse_has({})
    with pytest.raises(ServiceError):
        proto.parse_count([])


def test_bad_names_and_filters_are_refused_before_any_request():
    for bad in ("", "2026-01-01", "day 1", "a" * 256, None):
        with pytest.raises(ConfigurationError, match="partition name"):
            proto.build_partition_call("create", "c", bad)
    with pytest.raises(ConfigurationError, match="non-empty filter"):
        proto.build_delete_call("c", "  ")
    with pytest.raises(ConfigurationError, match="at least one"):
        proto.build_partition_call("load", "c", [])


def test_slice_filter_follows_the_field_type():
    describe = {
        "fields": [
            {"name": "id", "type": "Int64", "primaryKey": True},
            {"name": "day", "type": "VarChar"},
            {"name": "n", "type": "Int32"},
            {"name": "vector", "type": "FloatVector"},
        ]
    }
    assert proto.slice_filter(describe, "day", "2026-01-02") == 'day == "2026-01-02"'
    assert proto.slice_filter(describe, "day", 'a"b') == 'day == "a\\"b"'
    assert proto.slice_filter(describe, "n", "7") == "n == 7"
    with pytest.raises(ConfigurationError, match="not in the collection's schema"):
        proto.slice_filter(describe, "dayz", "x")
    with pytest.raises(ConfigurationError, match="scalar"):
        proto.slice_filter(describe, "vector", "x")
    with pytest.raises(ConfigurationError, match="not an integer"):
        proto.slice_filter(describe, "n", "x")


# ----------------------------------------------------------------------------- the emulator


def collection(emulator, schema: dict[str, Any] = SCHEMA) -> str:
    name = f"p_{uuid.uuid4().hex[:8]}"
    rest(emulator, "/v2/vectordb/collections/create", {"collectionName": name, "schema": schema})
    return name


def rows(ids, day: str) -> list[dict[str, Any]]:
    return [{"id": i, "day": day, "vector": [0.1 * (i % 7)] * DIM} for i in ids]


def answer(emulator, path: str, body: dict[str, Any]) -> dict[str, Any]:
    import requests

    resp = requests.post(
        f"{emulator.url}{path}",
        json=body,
        headers={"Authorization": f"Bearer {emulator.api_key}"},
        timeout=30,
    )
    return resp.json()


def test_emulator_answers_the_documented_examples(vectorimport_emulator):
    emulator = vectorimport_emulator
    name = collection(emulator)
    by_call = {load(p)["call"]: load(p) for p in FIXTURES}
    order = ["create", "has", "get_stats", "get_load_state", "release", "load", "release", "drop", "list"]
    for call in order:
        data = by_call[call]
        body = {**data["request"], "collectionName": name}
        got = answer(emulator, data["path"], body)
        assert got.keys() == data["response"].keys(), (call, got)
        assert got["code"] == 0, (call, got)
        assert type(got["data"]) is type(data["response"]["data"]), call
        if call in ("create", "drop", "load", "release"):
            assert got["data"] == {}, call
    assert answer(emulator, by_call["list"]["path"], {"collectionName": name})["data"] == ["_default"]
    rest(emulator, "/v2/vectordb/partitions/load", {"collectionName": name, "partitionNames": ["_default"]})
    rest(emulator, "/v2/vectordb/entities/insert", {"collectionName": name, "data": rows([0, 1, 2], "d")})
    got = answer(
        emulator, by_call["delete"]["path"], {**by_call["delete"]["request"], "collectionName": name}
    )
    assert got == {"code": 0, "data": {}}
    count = rest(
        emulator, "/v2/vectordb/entities/query", {"collectionName": name, "outputFields": ["count(*)"]}
    )
    assert count == [{"count(*)": 1}]


def test_emulator_partition_rules(vectorimport_emulator, monkeypatch):
    emulator = vectorimport_emulator
    name = collection(emulator)
    base = {"collectionName": name}
    rest(emulator, "/v2/vectordb/partitions/create", {**base, "partitionName": "d1"})
    # a loaded partition is not dropped, _default never
    got = answer(emulator, "/v2/vectordb/partitions/drop", {**base, "partitionName": "d1"})
    assert got["code"] != 0 and "release it first" in got["message"]
    got = answer(emulator, "/v2/vectordb/partitions/drop", {**base, "partitionName": "_default"})
    assert got["code"] != 0 and "default partition" in got["message"]
    # released partitions drop out of whole-collection reads; naming one fails
    rest(
        emulator, "/v2/vectordb/entities/insert", {**base, "data": rows(range(3), "a"), "partitionName": "d1"}
    )
    rest(emulator, "/v2/vectordb/entities/insert", {**base, "data": rows(range(10, 12), "b")})
    count = {**base, "outputFields": ["count(*)"]}
    assert rest(emulator, "/v2/vectordb/entities/query", count) == [{"count(*)": 5}]
    rest(emulator, "/v2/vectordb/partitions/release", {**base, "partitionNames": ["d1"]})
    state = rest(emulator, "/v2/vectordb/collections/get_load_state", {**base, "partitionNames": ["d1"]})
    assert state["loadState"] == "LoadStateNotLoad"
    assert rest(emulator, "/v2/vectordb/entities/query", count) == [{"count(*)": 2}]
    got = answer(emulator, "/v2/vectordb/entities/query", {**count, "partitionNames": ["d1"]})
    assert got["code"] != 0 and "not loaded" in got["message"]
    rest(emulator, "/v2/vectordb/partitions/drop", {**base, "partitionName": "d1"})
    assert rest(emulator, "/v2/vectordb/partitions/list", base) == ["_default"]
    assert rest(emulator, "/v2/vectordb/partitions/drop", {**base, "partitionName": "d1"}) == {}
    # the partition limit
    monkeypatch.setattr(emu_partitions, "MAX_PARTITIONS", 2)
    rest(emulator, "/v2/vectordb/partitions/create", {**base, "partitionName": "d2"})
    got = answer(emulator, "/v2/vectordb/partitions/create", {**base, "partitionName": "d3"})
    assert got["code"] != 0 and "exceeds max configuration" in got["message"]


def test_emulator_refuses_manual_partitions_on_partition_key_collections(vectorimport_emulator):
    schema = json.loads(json.dumps(SCHEMA))
    schema["fields"][1]["isPartitionKey"] = True
    name = collection(vectorimport_emulator, schema)
    got = answer(
        vectorimport_emulator,
        "/v2/vectordb/partitions/create",
        {"collectionName": name, "partitionName": "x"},
    )
    assert got["code"] != 0 and "partition key" in got["message"]


def test_emulator_delete_in_a_partition(vectorimport_emulator):
    """A delete naming a partition resolves its filter there only (rows of the same slice in
    another partition stay), then deletes those primary keys."""
    emulator = vectorimport_emulator
    name = collection(emulator)
    base = {"collectionName": name}
    rest(emulator, "/v2/vectordb/partitions/create", {**base, "partitionName": "old"})
    rest(emulator, "/v2/vectordb/partitions/create", {**base, "partitionName": "new"})
    rest(
        emulator, "/v2/vectordb/entities/insert", {**base, "data": rows([1, 2], "x"), "partitionName": "old"}
    )
    rest(emulator, "/v2/vectordb/entities/insert", {**base, "data": rows([3], "x"), "partitionName": "new"})
    rest(emulator, "/v2/vectordb/entities/delete", {**base, "filter": 'day == "x"', "partitionName": "old"})
    left = rest(
        emulator, "/v2/vectordb/entities/query", {**base, "filter": "id >= 0", "outputFields": ["id"]}
    )
    assert [r["id"] for r in left] == [3]
    assert emulator.zilliz.partitions.deletes[-1] == ("default", name, "old", 'day == "x"')


@pytest.mark.parametrize("conn_id", ["zilliz_emulator", "zilliz_cloud_emulator"])
def test_hook_against_the_emulator(vectorimport_emulator_env, conn_id):
    emulator = vectorimport_emulator_env
    name = collection(emulator)
    hook = PartitionHook(conn_id)
    hook.create_partition(name, "d20260101")
    assert hook.has_partition(name, "d20260101") and not hook.has_partition(name, "nope")
    assert sorted(hook.list_partitions(name)) == ["_default", "d20260101"]
    rest(
        emulator,
        "/v2/vectordb/entities/insert",
        {"collectionName": name, "data": rows(range(4), "a"), "partitionName": "d20260101"},
    )
    assert hook.partition_row_count(name, "d20260101") == 4
    assert hook.count(name, partitions=["d20260101"]) == 4
    assert hook.count(name, filter="id < 2") == 2
    hook.delete(name, "id < 2", partition="d20260101")
    assert hook.count(name) == 2
    hook.release_partitions(name, ["d20260101"])
    assert hook.load_state(name, partitions=["d20260101"]) == "LoadStateNotLoad"
    hook.load_partitions(name, ["d20260101"])
    hook.wait_loaded(name, ["d20260101"], timeout=5)
    hook.release_partitions(name, ["d20260101"])
    hook.drop_partition(name, "d20260101")
    assert hook.list_partitions(name) == ["_default"]
