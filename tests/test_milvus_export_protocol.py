"""The pure part of the Milvus / Zilliz Cloud export (protocols/milvus_export.py): key windows that
never skip or repeat a key whatever order the query answers in, string midpoints, the documented
count(*) answer, and rows (every type the REST answer carries) -> the Parquet schema of a part."""

from __future__ import annotations

import base64
import json
import random
import struct

import pytest

from airflow_provider_vectorimport.prepare.schema import CollectionSchema
from airflow_provider_vectorimport.protocols.milvus_export import (
    ExportError,
    ExportSpec,
    check_manifest,
    midpoint,
    new_manifest,
    parse_count,
    query_body,
    rows_to_table,
    string_midpoint,
    window_filter,
)

SCHEMA = CollectionSchema.from_dict(
    {
        "autoId": False,
        "enableDynamicField": True,
        "fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {
                "fieldName": "s",
                "dataType": "VarChar",
                "elementTypeParams": {"max_length": 64},
                "nullable": True,
            },
            {"fieldName": "j", "dataType": "JSON", "nullable": True},
            {
                "fieldName": "arr",
                "dataType": "Array",
                "elementDataType": "Int64",
                "elementTypeParams": {"max_capacity": 8},
            },
            {"fieldName": "v", "dataType": "FloatVector", "elementTypeParams": {"dim": 2}},
            {"fieldName": "h", "dataType": "Float16Vector", "elementTypeParams": {"dim": 2}},
            {"fieldName": "sp", "dataType": "SparseFloatVector"},
        ],
    }
)


def test_window_filter_combines_the_key_window_and_the_users_filter():
    assert window_filter("id", "int", 5, 9, 'city == "x"') == 'id > 5 and id <= 9 and (city == "x")'
    assert window_filter("pk", "str", None, 'a"b', "") == 'pk <= "a\\"b"'
    assert window_filter("id", "int", None, None) == ""


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_string_midpoints_lie_strictly_inside_their_window(seed):
    rng = random.Random(seed)
    for _ in range(500):
        a, b = sorted(
            "".join(chr(rng.choice([0x41, 0x7A, 0xE9, 0x4E2D, 0x1F600])) for _ in range(rng.randint(0, 4)))
            for _ in range(2)
        )
        mid = string_midpoint(a, b)
        if mid is not None:
            assert a < mid < b
            json.dumps(mid)  # a valid expression literal


def test_integer_midpoints_and_a_window_that_cannot_be_split():
    assert midpoint(0, 10, "int") == 5
    assert midpoint(4, 5, "int") is None
    assert midpoint(None, 2**63 - 1, "int") == -1


def test_count_answer_is_the_documented_shape_or_named():
    assert parse_count([{"count(*)": 7}], "q") == 7
    with pytest.raises(ExportError, match="count"):
        parse_count([{"id": 1}], "q")
    with pytest.raises(ExportError, match="16384"):
        query_body("c", filter="", limit=20000)


def test_rows_of_every_type_become_one_arrow_table_with_meta_and_nulls():
    half = base64.b64encode(struct.pack("<2e", 0.5, -2.0)).decode()
    rows = [
        {
            "id": 1,
            "s": None,
            "j": {"k": 1},
            "arr": [1, 2],
            "v": [0.1, 0.2],
            "h": half,
            "sp": {"10": 0.5, "3": 1},
            "extra": "x",
        },
        {"id": 2, "s": "b", "j": None, "arr": [], "v": [1.0, 2.0], "h": [1.0, 0.25], "sp": {}},
    ]
    table = rows_to_table(rows, SCHEMA, "c")
    out = table.to_pylist()
    assert out[0]["h"] == [0.5, -2.0] and out[1]["h"] == [1.0, 0.25]
    assert json.loads(out[0]["sp"]) == {"3": 1.0, "10": 0.5} and out[0]["s"] is None
    assert json.loads(out[0]["$meta"]) == {"extra": "x"} and out[1]["$meta"] == "{}"
    with pytest.raises(ExportError, match=r"id=3.*field 'v'"):
        rows_to_table([{"id": 3, "s": "a", "j": None, "arr": [], "h": [1, 1], "sp": {}}], SCHEMA, "c")


def test_a_manifest_of_another_export_is_refused_naming_the_difference():
    spec = ExportSpec("c", "default", "", (), "parquet", 1000, SCHEMA.fingerprint)
    manifest = new_manifest(spec, SCHEMA, pk="id", pk_kind="int")
    check_manifest(manifest, spec, "s3://b/p/")
    other = ExportSpec("c", "default", "id > 3", (), "parquet", 1000, SCHEMA.fingerprint)
    with pytest.raises(ExportError, match="filter"):
        check_manifest(manifest, other, "s3://b/p/")
