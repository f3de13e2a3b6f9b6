"""The emulator's Milvus REST v2 / Zilliz Cloud data plane for indexes, load state and aliases
(emulator/milvus_admin.py), over real HTTP: the vendor examples in ``tests/fixtures/milvus_cluster/``
(each names its page), build and load states, and reads through an alias."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_vectorimport.emulator import Emulator

pytest_plugins = ["airflow_provider_vectorimport.emulator.pytest_plugin"]

FIXTURES = Path(__file__).parent / "fixtures" / "milvus_cluster"
DIM = 4
SCHEMA = {
    "autoId": False,
    "enableDynamicField": False,
    "fields": [
        {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": DIM}},
    ],
}
CODES = json.loads((FIXTURES / "errors.json").read_text())["codes"]


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def call(emu: Emulator, path: str, body: dict[str, Any], *, token: str | None = None) -> dict[str, Any]:
    resp = requests.post(
        emu.url + path, json=body, headers={"Authorization": f"Bearer {token or emu.api_key}"}, timeout=10
    )
    return resp.json()


def ok(emu: Emulator, path: str, body: dict[str, Any]) -> Any:
    answer = call(emu, path, body)
    assert answer["code"] == 0, answer
    return answer.get("data")


def create(emu: Emulator, name: str, *, indexed: bool = False, rows: int = 0, start: int = 0) -> None:
    body: dict[str, Any] = {"collectionName": name, "schema": SCHEMA}
    if indexed:
        body["indexParams"] = [{"fieldName": "vector", "indexName": "vector", "metricType": "COSINE"}]
    ok(emu, "/v2/vectordb/collections/create", body)
    if rows:
        data = [{"id": i, "vector": [1.0, float(i), 0.0, 0.5]} for i in range(start, start + rows)]
        ok(emu, "/v2/vectordb/entities/insert", {"collectionName": name, "data": data})


def count(emu: Emulator, name: str) -> Any:
    return call(emu, "/v2/vectordb/entities/query", {"collectionName": name, "outputFields": ["count(*)"]})


def poll(emu: Emulator, path: str, body: dict[str, Any], done: Any, timeout: float = 10) -> list[Any]:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = ok(emu, path, body)
        seen.append(data)
        if done(data):
            return seen
        time.sleep(0.005)
    raise AssertionError(f"{path} never done: {seen[-3:]}")


@pytest.fixture
def emu(vectorimport_emulator: Emulator) -> Emulator:
    vectorimport_emulator.cluster.strict_load = True
    return vectorimport_emulator


def test_vendor_examples_have_the_documented_shapes(emu):
    create(emu, "quick_setup", indexed=True)
    create(emu, "custom_setup_indexed", indexed=True)
    ok(emu, "/v2/vectordb/aliases/create", {"aliasName": "bob", "collectionName": "quick_setup"})
    for name in ("alias_describe.json", "alias_list.json", "index_describe.json"):
        fx = fixture(name)
        assert call(emu, fx["path"], fx["request"]) == fx["response"], fx["_source"]
    fx = fixture("load_state.json")  # the 2.4 reference adds "message": "" (tests/fixtures/milvus_partitions)
    got = call(emu, fx["path"], fx["request"])
    assert {**got, "data": {k: got["data"][k] for k in fx["response"]["data"]}} == fx["response"]
    fx = fixture("alias_alter.json")
    assert call(emu, fx["path"], fx["request"]) == fx["response"]
    described = ok(emu, "/v2/vectordb/aliases/describe", {"aliasName": "bob"})
    assert described["collectionName"] == "custom_setup_indexed"


def test_schema_without_index_is_unloaded_until_indexed_and_loaded(emu):
    emu.set_pace(0.05)
    create(emu, "docs", rows=5)
    described = ok(emu, "/v2/vectordb/collections/describe", {"collectionName": "docs"})
    assert described["load"] == "LoadStateNotLoad" and described["indexes"] == []
    assert count(emu, "docs")["code"] == CODES["collection not loaded"]
    assert (
        call(emu, "/v2/vectordb/collections/load", {"collectionName": "docs"})["code"]
        == CODES["index not found"]
    )

    index = {"fieldName": "vector", "indexName": "vec_idx", "metricType": "IP", "indexType": "HNSW"}
    ok(emu, "/v2/vectordb/indexes/create", {"collectionName": "docs", "indexParams": [index]})
    states = poll(
        emu,
        "/v2/vectordb/indexes/describe",
        {"collectionName": "docs", "indexName": "vec_idx"},
        lambda d: d[0]["indexState"] == "Finished",
    )
    assert states[0][0]["indexState"] == "InProgress" and states[0][0]["pendingRows"] == 5
    assert states[-1][0] == {
        "fieldName": "vector",
        "indexName": "vec_idx",
        "indexType": "HNSW",
        "metricType": "IP",
        "indexState": "Finished",
        "indexedRows": 5,
        "pendingRows": 0,
        "totalRows": 5,
        "failReason": "",
    }
    ok(emu, "/v2/vectordb/collections/load", {"collectionName": "docs"})
    loads = poll(
        emu,
        "/v2/vectordb/collections/get_load_state",
        {"collectionName": "docs"},
        lambda d: d["loadState"] == "LoadStateLoaded",
    )
    assert loads[0]["loadState"] == "LoadStateLoading"
    assert ok(
        emu, "/v2/vectordb/entities/query", {"collectionName": "docs", "outputFields": ["count(*)"]}
    ) == [{"count(*)": 5}]
    # a second, different index on the same field is refused; the same one again is accepted
    other = {**index, "indexType": "IVF_FLAT"}
    assert (
        call(emu, "/v2/vectordb/indexes/create", {"collectionName": "docs", "indexParams": [other]})["code"]
        == 65535
    )
    ok(emu, "/v2/vectordb/indexes/create", {"collectionName": "docs", "indexParams": [index]})
    assert ok(emu, "/v2/vectordb/indexes/list", {"collectionName": "docs"}) == ["vec_idx"]
    # dropping an index needs a released collection
    assert (
        call(emu, "/v2/vectordb/indexes/drop", {"collectionName": "docs", "indexName": "vec_idx"})["code"]
        == 65535
    )
    ok(emu, "/v2/vectordb/collections/release", {"collectionName": "docs"})
    assert count(emu, "docs")["code"] == CODES["collection not loaded"]
    ok(emu, "/v2/vectordb/indexes/drop", {"collectionName": "docs", "indexName": "vec_idx"})


def test_created_with_index_params_is_loaded(emu):
    create(emu, "docs", indexed=True, rows=3)
    described = ok(emu, "/v2/vectordb/collections/describe", {"collectionName": "docs"})
    assert described["load"] == "LoadStateLoaded"
    assert described["indexes"] == [{"fieldName": "vector", "indexName": "vector", "metricType": "COSINE"}]
    assert count(emu, "docs")["data"] == [{"count(*)": 3}]


def test_reads_through_an_alias_follow_an_atomic_alter(emu):
    create(emu, "blue", indexed=True, rows=3)
    create(emu, "green", indexed=True, rows=7, start=100)
    ok(emu, "/v2/vectordb/aliases/create", {"aliasName": "articles", "collectionName": "blue"})
    assert count(emu, "articles")["data"] == [{"count(*)": 3}]
    stats = ok(emu, "/v2/vectordb/collections/get_stats", {"collectionName": "articles"})
    assert stats == {"rowCount": 3}
    described = ok(emu, "/v2/vectordb/collections/describe", {"collectionName": "articles"})
    assert described["collectionName"] == "blue" and described["aliases"] == ["articles"]

    ok(emu, "/v2/vectordb/aliases/alter", {"aliasName": "articles", "collectionName": "green"})
    assert count(emu, "articles")["data"] == [{"count(*)": 7}]
    hits = ok(
        emu,
        "/v2/vectordb/entities/search",
        {"collectionName": "articles", "data": [[1.0, 100.0, 0.0, 0.5]], "limit": 1},
    )
    assert hits[0]["id"] >= 100
    assert ok(emu, "/v2/vectordb/aliases/list", {}) == ["articles"]
    assert ok(emu, "/v2/vectordb/aliases/list", {"collectionName": "blue"}) == []


def test_alias_errors_name_the_documented_codes(emu):
    create(emu, "blue", indexed=True)
    ok(emu, "/v2/vectordb/aliases/create", {"aliasName": "articles", "collectionName": "blue"})
    again = call(emu, "/v2/vectordb/aliases/create", {"aliasName": "articles", "collectionName": "blue"})
    assert again["code"] == CODES["alias already exist"]
    clash = call(emu, "/v2/vectordb/aliases/create", {"aliasName": "blue", "collectionName": "blue"})
    assert clash["code"] == CODES["alias and collection name conflict"]
    missing = call(emu, "/v2/vectordb/aliases/alter", {"aliasName": "nope", "collectionName": "blue"})
    assert missing["code"] == CODES["alias not found"]
    no_target = call(emu, "/v2/vectordb/aliases/alter", {"aliasName": "articles", "collectionName": "nope"})
    assert no_target["code"] == CODES["collection not found"]
    assert (
        call(emu, "/v2/vectordb/aliases/describe", {"aliasName": "nope"})["code"] == CODES["alias not found"]
    )
    named_like_alias = call(
        emu, "/v2/vectordb/collections/create", {"collectionName": "articles", "schema": SCHEMA}
    )
    assert named_like_alias["code"] == CODES["alias and collection name conflict"]
    # a collection with an alias cannot be dropped, nor through its alias
    assert call(emu, "/v2/vectordb/collections/drop", {"collectionName": "blue"})["code"] == 65535
    assert call(emu, "/v2/vectordb/collections/drop", {"collectionName": "articles"})["code"] == 65535
    assert ok(emu, "/v2/vectordb/collections/has", {"collectionName": "blue"}) == {"has": True}
    ok(emu, "/v2/vectordb/aliases/drop", {"aliasName": "articles"})
    ok(emu, "/v2/vectordb/aliases/drop", {"aliasName": "articles"})  # a missing alias drops quietly
    ok(emu, "/v2/vectordb/collections/drop", {"collectionName": "blue"})
    assert call(emu, "/v2/vectordb/aliases/list", {}, token="wrong")["code"] == 1800


def test_reset_forgets_aliases_and_restores_the_configured_load_mode(emu):
    create(emu, "blue", indexed=True)
    ok(emu, "/v2/vectordb/aliases/create", {"aliasName": "articles", "collectionName": "blue"})
    emu.reset()
    assert emu.cluster.strict_load is False
    assert ok(emu, "/v2/vectordb/aliases/list", {}) == []
    create(emu, "plain")  # the older behaviour: indexed and loaded without indexParams
    assert ok(emu, "/v2/vectordb/collections/get_load_state", {"collectionName": "plain"})["loadState"] == (
        "LoadStateLoaded"
    )
