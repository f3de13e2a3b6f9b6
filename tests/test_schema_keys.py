"""A schema is never read with a part of it left out: a key prepare does not understand, in a schema
file / create body or in a live ``collections/describe`` answer, is an error naming it (issue 20;
audit 2026-12 item 1.3: structArrayFields were dropped silently)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_vectorimport.exceptions import ConfigurationError
from airflow_provider_vectorimport.prepare import prepare_files
from airflow_provider_vectorimport.prepare.schema import CollectionSchema
from airflow_provider_vectorimport.schema_source import (
    UnsupportedSchemaError,
    schema_from_milvus_describe,
    write_schema_file,
)

FIXTURES = Path(__file__).parent / "fixtures"

SCHEMA: dict[str, Any] = {
    "autoId": False,
    "enableDynamicField": False,
    "fields": [
        {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "vec", "dataType": "FloatVector", "elementTypeParams": {"dim": 2}},
        {
            "fieldName": "title",
            "dataType": "VarChar",
            "elementTypeParams": {"max_length": 64, "enable_analyzer": True, "enable_match": True},
            "isClusteringKey": False,
            "description": "the title",
        },
    ],
}


def test_known_keys_load():
    schema = CollectionSchema.from_dict(SCHEMA)
    assert [f.name for f in schema.fields] == ["id", "vec", "title"]
    body = {"collectionName": "c", "dbName": "db", "schema": SCHEMA, "indexParams": [], "params": {}}
    assert CollectionSchema.from_dict(body) == schema


def _with(path: tuple[Any, ...], key: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(SCHEMA)
    target: Any = doc
    for part in path:
        target = target[part]
    target[key] = value
    return doc


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (_with((), "enableDynamicFields", True), ["the schema", "'enableDynamicFields'"]),
        (_with(("fields", 1), "isPrimaryKey", True), ["field 'vec'", "'isPrimaryKey'"]),
        (
            _with(("fields", 1, "elementTypeParams"), "dimension", 8),
            ["field 'vec' elementTypeParams", "'dimension'"],
        ),
        (_with(("fields", 2), "elementTypeParam", {}), ["field 'title'", "'elementTypeParam'"]),
        (
            {"collectionName": "c", "schema": SCHEMA, "indexParam": []},
            ["create-collection body", "'indexParam'"],
        ),
        (
            _with((), "structArrayFields", [{"name": "clips", "fields": []}]),
            ["structArrayFields", "not supported"],
        ),
        (
            _with(
                (),
                "functions",
                [
                    {
                        "name": "bm25",
                        "type": "BM25",
                        "inputFieldNames": ["title"],
                        "outputFieldNames": ["sparse"],
                    }
                ],
            ),
            ["functions", "'sparse'"],
        ),
    ],
)
def test_unknown_schema_keys_are_named(doc: dict[str, Any], expected: list[str]) -> None:
    with pytest.raises(ConfigurationError) as err:
        CollectionSchema.from_dict(doc)
    for part in expected:
        assert part in str(err.value), str(err.value)


def test_schema_file_with_unknown_key_fails_before_any_file_is_written(tmp_path: Path) -> None:
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(_with(("fields", 1), "isPrimaryKey", True)))
    out = tmp_path / "out"
    with pytest.raises(ConfigurationError, match="isPrimaryKey"):
        prepare_files(iter([{"id": 1, "vec": [0.0, 1.0], "title": "t"}]), str(path), out)
    assert not out.exists() or not any(out.iterdir())


def test_the_schema_file_written_next_to_prepared_files_reads_back(tmp_path: Path) -> None:
    schema = CollectionSchema.from_dict(SCHEMA)
    path = write_schema_file(tmp_path, schema, {"conn_id": "c", "collection": "x"})
    assert CollectionSchema.from_file(path) == schema


# -------------------------------------------------------------------------------- describe answers
def documented_describe() -> dict[str, Any]:
    # docs.zilliz.com.cn/reference/restful/describe-collection-v2, example output
    return json.loads((FIXTURES / "milvus_describe_collection_v2.json").read_text())["response"]


def test_documented_describe_answer_still_converts():
    schema = schema_from_milvus_describe(documented_describe())
    assert [f.name for f in schema.fields] == ["id", "vector"]


@pytest.mark.parametrize("key", ["structArrayFields", "structFields"])
def test_describe_answer_with_an_unknown_field_list_is_refused(key: str) -> None:
    answer = documented_describe()
    answer["data"][key] = [{"name": "clips", "type": "Array", "elementType": "Struct", "fields": []}]
    with pytest.raises(UnsupportedSchemaError) as err:
        schema_from_milvus_describe(answer)
    assert "collection 'test_collection'" in str(err.value) and repr(key) in str(err.value)


def test_describe_answer_unknown_scalars_and_empty_lists_are_not_fields():
    answer = documented_describe()
    answer["data"].update({"createdTimestamp": 1733300000, "structArrayFields": [], "newList": []})
    assert [f.name for f in schema_from_milvus_describe(answer).fields] == ["id", "vector"]


def test_describe_field_with_an_unknown_set_key_is_refused():
    answer = documented_describe()
    answer["data"]["fields"][1]["isNamespaceKey"] = False  # unset: no effect
    schema_from_milvus_describe(answer)
    answer["data"]["fields"][1]["elementFields"] = [{"name": "x"}]
    with pytest.raises(UnsupportedSchemaError) as err:
        schema_from_milvus_describe(answer)
    assert "field 'vector'" in str(err.value) and "'elementFields'" in str(err.value)
