"""Schema from the live collection: the documented describe answers (fixtures) convert to prepare's
schema model, and against the emulator the schema fetched for each service (Milvus, Zilliz Cloud via
the cluster endpoint, VikingDB via /api/collection/info) equals the one the collection was created
with. Bad input: a missing collection, a type the provider does not support yet."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import requests

from airflow_provider_vectorimport.exceptions import ConfigurationError
from airflow_provider_vectorimport.hooks.vikingdb import VikingDBHook
from airflow_provider_vectorimport.prepare.schema import CollectionSchema
from airflow_provider_vectorimport.schema_source import (
    CollectionNotFoundError,
    UnsupportedSchemaError,
    fetch_collection_schema,
    parse_schema_from,
    schema_from_milvus_describe,
    schema_from_vikingdb_info,
    vikingdb_field_types,
)

pytest_plugins = ["airflow_provider_vectorimport.emulator.pytest_plugin"]

FIXTURES = Path(__file__).parent / "fixtures"

MILVUS_SCHEMA = {
    "autoId": False,
    "enableDynamicField": True,
    "fields": [
        {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "title", "dataType": "VarChar", "elementTypeParams": {"max_length": 128}},
        {"fieldName": "score", "dataType": "Double", "nullable": True},
        {"fieldName": "n", "dataType": "Int32"},
        {
            "fieldName": "tags",
            "dataType": "Array",
            "elementDataType": "VarChar",
            "elementTypeParams": {"max_capacity": 8, "max_length": 16},
        },
        {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": 8}},
    ],
}

VIKINGDB_CREATE = {
    "description": "schema test",
    "primary_key": "id",
    "fields": [
        {"field_name": "id", "field_type": "int64"},
        {"field_name": "vector", "field_type": "vector", "dim": 4},
        {"field_name": "title", "field_type": "string"},
        {"field_name": "price", "field_type": "float32"},
        {"field_name": "online", "field_type": "bool"},
        {"field_name": "tags", "field_type": "list<string>"},
        {"field_name": "user_ids", "field_type": "list<int64>"},
    ],
}


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def milvus_rest(em, path: str, body: dict) -> dict:
    resp = requests.post(
        f"{em.url}{path}", json=body, headers={"Authorization": f"Bearer {em.api_key}"}, timeout=30
    )
    return resp.json()


# ------------------------------------------------------------------------------- pure converters
def test_documented_milvus_describe_converts():
    doc = fixture("milvus_describe_collection_v2.json")
    schema = schema_from_milvus_describe(doc["response"])
    assert schema.primary.name == "id" and schema.primary.data_type == "Int64" and not schema.auto_id
    assert schema.get("vector").data_type == "FloatVector" and schema.get("vector").dim == 5
    assert schema.enable_dynamic_field is True
    assert [f.name for f in schema.fields] == ["id", "vector"]


def test_documented_vikingdb_info_converts():
    doc = fixture("vikingdb_collection_info.json")
    schema = schema_from_vikingdb_info(doc["response"])
    types = {f.name: (f.data_type, f.element_type) for f in schema.fields}
    assert types == {
        "id": ("Int64", None),
        "vector": ("FloatVector", None),
        "sparse": ("SparseFloatVector", None),
        "price": ("Float", None),
        "title": ("VarChar", None),
        "online": ("Bool", None),
        "tags": ("Array", "VarChar"),
        "user_ids": ("Array", "Int64"),
    }
    assert schema.primary.name == "id" and schema.get("vector").dim == 4
    assert schema.get("online").default_value is False and schema.get("title").default_value == ""
    # and back: every field has a VikingDB type for the writer
    assert vikingdb_field_types(schema)["tags"] == "list<string>"


def test_vikingdb_without_primary_key_gets_the_generated_one():
    data = {"collection_name": "c", "fields": [{"field_name": "v", "field_type": "vector", "dim": 2}]}
    schema = schema_from_vikingdb_info(data)
    assert schema.primary.name == "__AUTO_ID__" and schema.auto_id
    assert [f.name for f in schema.data_fields] == ["v"]


def test_old_sized_type_form_and_wrapped_default():
    data = {
        "collectionName": "c",
        "fields": [
            {"name": "id", "type": "VarChar(32)", "primaryKey": True},
            {"name": "v", "type": "FloatVector(3)"},
            {"name": "n", "type": "Int64", "defaultValue": {"Data": {"LongData": 7}}},
        ],
    }
    schema = schema_from_milvus_describe(data)
    assert schema.primary.max_length == 32 and schema.get("v").dim == 3
    assert schema.get("n").default_value == 7


@pytest.mark.parametrize(
    "field, expected",
    [
        ({"name": "geo", "type": "ArrayOfVector"}, "type 'ArrayOfVector'"),
        ({"name": "geo", "type": "Array", "elementType": "JSON", "params": []}, "Array of 'JSON'"),
        ({"name": "geo", "type": "SparseFloatVector", "isFunctionOutput": True}, "function output"),
    ],
)
def test_unsupported_milvus_type_names_collection_and_field(field, expected):
    data = {
        "collectionName": "docs",
        "fields": [
            {"name": "id", "type": "Int64", "primaryKey": True},
            {"name": "v", "type": "FloatVector", "params": [{"key": "dim", "value": "2"}]},
            field,
        ],
    }
    with pytest.raises(UnsupportedSchemaError) as err:
        schema_from_milvus_describe(data)
    assert "collection 'docs'" in str(err.value) and "field 'geo'" in str(err.value)
    assert expected in str(err.value)


def test_unsupported_vikingdb_type_names_collection_and_field():
    data = {
        "collection_name": "pics",
        "primary_key": "id",
        "fields": [{"field_name": "id", "field_type": "int64"}, {"field_name": "img", "field_type": "image"}],
    }
    with pytest.raises(
        UnsupportedSchemaError, match=r"collection 'pics': field 'img': VikingDB field type 'image'"
    ):
        schema_from_vikingdb_info(data)


def test_vikingdb_writer_rejects_types_vikingdb_lacks():
    schema = CollectionSchema.from_dict(MILVUS_SCHEMA)
    with pytest.raises(UnsupportedSchemaError, match=r"field 'score': Double"):
        vikingdb_field_types(schema, "docs")


def test_parse_schema_from():
    assert parse_schema_from("milvus:db1.articles") == {
        "conn_id": "milvus",
        "collection": "articles",
        "db_name": "db1",
    }
    assert parse_schema_from({"conn_id": "c", "collection": "x"})["db_name"] is None
    with pytest.raises(ConfigurationError, match="CONN_ID:COLLECTION"):
        parse_schema_from("no-colon")
    with pytest.raises(ConfigurationError, match="schema_from must be"):
        parse_schema_from({"conn": "c"})


# ------------------------------------------------------------------------------- against the emulator
def test_milvus_and_zilliz_cloud_schema_equals_the_created_one(vectorimport_emulator_env):
    em = vectorimport_emulator_env
    name = f"s_{uuid.uuid4().hex[:8]}"
    assert milvus_rest(
        em, "/v2/vectordb/collections/create", {"collectionName": name, "schema": MILVUS_SCHEMA}
    )["code"] in (0, 200)
    expected = CollectionSchema.from_dict(MILVUS_SCHEMA)
    milvus = fetch_collection_schema("zilliz_emulator", name)
    cloud = fetch_collection_schema("zilliz_cloud_emulator", name)  # via the cluster_endpoint extra
    assert milvus == expected and milvus.fingerprint == expected.fingerprint
    assert cloud == expected


def test_emulator_milvus_describe_has_the_documented_shape(vectorimport_emulator_env):
    em = vectorimport_emulator_env
    name = f"s_{uuid.uuid4().hex[:8]}"
    milvus_rest(em, "/v2/vectordb/collections/create", {"collectionName": name, "schema": MILVUS_SCHEMA})
    doc = fixture("milvus_describe_collection_v2.json")["response"]
    got = milvus_rest(em, "/v2/vectordb/collections/describe", {"collectionName": name, "dbName": "default"})
    assert got["code"] == doc["code"]
    assert set(doc["data"]) <= set(got["data"]), set(doc["data"]) - set(got["data"])
    doc_field_keys = set().union(*(f.keys() for f in doc["data"]["fields"]))
    for field in got["data"]["fields"]:
        assert doc_field_keys - {"params"} <= set(field), field
        assert all(isinstance(p["value"], str) for p in field.get("params", []))  # "dim": "5", as documented


def test_vikingdb_schema_equals_the_created_one(vectorimport_emulator_env):
    name = f"v_{uuid.uuid4().hex[:8]}"
    hook = VikingDBHook("vikingdb_emulator")
    hook.get_conn().request(
        "POST", "/api/collection/create", json={"collection_name": name, **VIKINGDB_CREATE}
    )
    fetched = fetch_collection_schema("vikingdb_emulator", name)
    expected = schema_from_vikingdb_info({"collection_name": name, **VIKINGDB_CREATE})
    assert fetched == expected
    info = hook.describe_collection(name)
    doc = fixture("vikingdb_collection_info.json")["response"]["data"]
    assert set(info) == set(doc)  # the documented keys, no more, no less
    assert {f["field_name"]: f["field_type"] for f in info["fields"]} == {
        f["field_name"]: f["field_type"] for f in VIKINGDB_CREATE["fields"]
    }


def test_vikingdb_info_is_signed_and_get_only(vectorimport_emulator_env):
    em = vectorimport_emulator_env
    resp = requests.get(f"{em.url}/api/collection/info", json={"collection_name": "x"}, timeout=10)
    assert resp.status_code == 401 and resp.json()["code"] == 1000001
    hook = VikingDBHook("vikingdb_emulator")
    from airflow_provider_vectorimport.exceptions import InvalidRequestError

    with pytest.raises(InvalidRequestError, match="use GET"):
        hook.get_conn().request("POST", "/api/collection/info", json={"collection_name": "x"})


@pytest.mark.parametrize("conn_id", ["zilliz_emulator", "zilliz_cloud_emulator", "vikingdb_emulator"])
def test_missing_collection_is_named(vectorimport_emulator_env, conn_id):
    with pytest.raises(CollectionNotFoundError, match=r"collection 'nope_[0-9a-f]+' does not exist"):
        fetch_collection_schema(conn_id, f"nope_{uuid.uuid4().hex[:6]}")


def test_zilliz_cloud_needs_the_cluster_endpoint(vectorimport_emulator_env, monkeypatch):
    conn = json.loads(vectorimport_emulator_env.connection_env()["AIRFLOW_CONN_ZILLIZ_CLOUD_EMULATOR"])
    del conn["extra"]["cluster_endpoint"]
    monkeypatch.setenv("AIRFLOW_CONN_ZILLIZ_NO_ENDPOINT", json.dumps(conn))
    with pytest.raises(ConfigurationError, match="cluster_endpoint"):
        fetch_collection_schema("zilliz_no_endpoint", "anything")
