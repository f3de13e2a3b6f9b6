"""A corpus of bad inputs: each gives the expected error naming file, row and field, and writes nothing."""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_vectorimport.prepare import PrepareError, prepare_files
from tests.test_prepare_helpers import ALL_TYPES_SCHEMA, DATA, make_rows

ARTICLES = json.loads((DATA / "articles_schema.json").read_text())


def good(i: int = 1, **over):
    row = {"id": i, "title": f"t{i}", "title_vector": [0.5] * 8, "reading_time": 3, "tags": ["a"]}
    row.update(over)
    return row


def without(key, **over):
    row = good(2, **over)
    row.pop(key)
    return row


# (case id, second row as JSON text, expected field, expected message fragment)
JSONL_CASES = [
    (
        "dim",
        json.dumps(good(2, title_vector=[0.5] * 7)),
        "title_vector",
        "vector has 7 values, expected dim 8",
    ),
    (
        "non_numeric",
        json.dumps(good(2, title_vector=["a"] + [0.5] * 7)),
        "title_vector",
        "non-numeric value 'a' at index 0",
    ),
    (
        # quoted numbers packed without spaces: once slipped through the fast CSV number parser
        "quoted_numbers",
        json.dumps(good(2, title_vector=[str(0.5)] * 8), separators=(",", ":")),
        "title_vector",
        "non-numeric value '0.5' at index 0",
    ),
    (
        "vector_not_list",
        json.dumps(good(2, title_vector="0.5,0.5")),
        "title_vector",
        "expected a list of numbers",
    ),
    ("float32_overflow", json.dumps(good(2, title_vector=[0.5] * 7 + [1e39])), "title_vector", "index 7"),
    ("missing_pk", json.dumps(without("id")), "id", "missing primary key"),
    ("null_pk", json.dumps(good(2, id=None)), "id", "missing primary key"),
    (
        "string_for_int",
        json.dumps(good(2, reading_time="3")),
        "reading_time",
        "expected an integer (Int64), got '3'",
    ),
    ("float_for_int", json.dumps(good(2, reading_time=2.5)), "reading_time", "expected an integer"),
    (
        "varchar_too_long",
        json.dumps(good(2, title="x" * 65)),
        "title",
        "string of 65 bytes exceeds max_length 64",
    ),
    ("varchar_bytes", json.dumps(good(2, title="é" * 33)), "title", "66 bytes exceeds max_length 64"),
    ("number_for_varchar", json.dumps(good(2, title=5)), "title", "expected a string"),
    ("missing_required", json.dumps(without("reading_time")), "reading_time", "missing"),
    (
        "array_capacity",
        json.dumps(good(2, tags=["a", "b", "c", "d"])),
        "tags",
        "array of 4 elements exceeds max_capacity 3",
    ),
    ("array_element_length", json.dumps(good(2, tags=["a", "123456789"])), "tags", "exceeds max_length 8"),
    ("array_element_type", json.dumps(good(2, tags=["a", 5])), "tags", "element 1: expected a string"),
    ("unknown_field", json.dumps(good(2, color="red")), "color", "unknown field"),
    ("malformed_json", '{"id": 2, "title": }', None, "malformed JSON"),
    ("not_an_object", "[1, 2]", None, "not a JSON object"),
]


@pytest.mark.parametrize(("case", "line", "field", "fragment"), JSONL_CASES, ids=[c[0] for c in JSONL_CASES])
def test_bad_jsonl_rows(tmp_path, case, line, field, fragment):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(good(1)) + "\n" + line + "\n" + json.dumps(good(3)) + "\n")
    out = tmp_path / "out"
    with pytest.raises(PrepareError) as err:
        prepare_files(str(src), ARTICLES, out)
    assert len(err.value.errors) == 1, err.value
    e = err.value.errors[0]
    assert (e.file, e.row, e.field) == (str(src), 2, field), str(e)
    assert fragment in e.message, e.message
    assert str(e) in str(err.value)
    assert not out.exists()
    assert os.listdir(tmp_path) == ["in.jsonl"]  # no staging left behind


ALL_TYPES_CASES = [
    ("int8_range", {"i8": 300}, "i8", "300 is out of range for Int8"),
    ("bool_type", {"b": "yes"}, "b", "expected true or false"),
    ("nan_vector", {"fv": [0.1, float("nan"), 0, 0]}, "fv", "NaN or infinite value at index 1"),
    ("inf_vector", {"bf16": [float("inf"), 0, 0, 0]}, "bf16", "NaN or infinite value at index 0"),
    ("float16_range", {"f16": [70000.0, 0, 0, 0]}, "f16", "out of range for Float16Vector"),
    ("binary_range", {"bv": [256, 0]}, "bv", "not an integer in [0, 255]"),
    ("binary_dim", {"bv": [1, 2, 3]}, "bv", "vector has 3 values, expected dim 2 bytes (dim/8)"),
    ("int8_vector", {"i8v": [1, 2, 3, 200]}, "i8v", "not an integer in [-128, 127]"),
    ("sparse_index", {"sp": {"-1": 0.5}}, "sp", "sparse index"),
    ("sparse_value", {"sp": {"1": "x"}}, "sp", "not a finite number"),
    ("json_unserialisable", {"j": {1, 2}}, "j", "not JSON-serialisable"),
    ("null_non_nullable", {"s": None}, "s", "null value for a non-nullable field"),
    ("float_range", {"f": 1e39}, "f", "out of range for Float"),
]


@pytest.mark.parametrize(
    ("case", "change", "field", "fragment"), ALL_TYPES_CASES, ids=[c[0] for c in ALL_TYPES_CASES]
)
def test_bad_values_of_every_type(tmp_path, case, change, field, fragment):
    rows = make_rows(5)
    rows[3].update(change)
    out = tmp_path / "out"
    with pytest.raises(PrepareError) as err:
        prepare_files(iter(rows), ALL_TYPES_SCHEMA, out)
    e = err.value.errors[0]
    assert (e.row, e.field) == (4, field), str(e)
    assert fragment in e.message
    assert not out.exists()


def test_vectorised_checks_on_arrow_and_parquet_inputs(tmp_path):
    """Typed inputs go through the vectorised checks; errors still name the row."""
    vectors = np.full((6, 8), 0.5)
    vectors[4, 2] = np.nan
    table = pa.table(
        {
            "id": pa.array(range(6), pa.int64()),
            "title": ["a", "b", "c", "d", "e", "x" * 70],
            "title_vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), 8),
            "reading_time": [1, 2, None, 4, 5, 6],
            "tags": [[], [], [], [], ["a", "b", "c", "d"], []],
        }
    )
    src = tmp_path / "in.parquet"
    pq.write_table(table, src, row_group_size=2)
    with pytest.raises(PrepareError) as err:
        prepare_files(str(src), ARTICLES, tmp_path / "out", mode="collect")
    got = sorted((e.row, e.field, e.message) for e in err.value.errors)
    assert got == [
        (3, "reading_time", "missing or null value for a non-nullable field"),
        (5, "tags", "array of 4 elements exceeds max_capacity 3"),
        (5, "title_vector", "NaN or infinite value at index 2"),
        (6, "title", "string of 70 bytes exceeds max_length 64"),
    ]
    assert {e.file for e in err.value.errors} == {str(src)}
    assert not (tmp_path / "out").exists()


def test_collect_mode_reports_up_to_max_errors(tmp_path):
    src = tmp_path / "in.jsonl"
    lines = [json.dumps(good(i, title_vector=[1.0] * (i % 8 + 1))) for i in range(1, 11)]  # row 7 ok (dim 8)
    src.write_text("\n".join(lines))
    with pytest.raises(PrepareError) as err:
        prepare_files(str(src), ARTICLES, tmp_path / "out", mode="collect")
    assert [e.row for e in err.value.errors] == [1, 2, 3, 4, 5, 6, 8, 9, 10]
    assert not err.value.truncated
    with pytest.raises(PrepareError) as err:
        prepare_files(str(src), ARTICLES, tmp_path / "out", mode="collect", max_errors=3)
    assert [e.row for e in err.value.errors] == [1, 2, 3] and err.value.truncated
    assert "more may follow" in str(err.value)
    with pytest.raises(PrepareError) as err:
        prepare_files(str(src), ARTICLES, tmp_path / "out")  # fail_fast
    assert len(err.value.errors) == 1
    assert err.value.to_dict()["errors"][0] == {
        "file": str(src),
        "row": 1,
        "field": "title_vector",
        "message": "vector has 2 values, expected dim 8",
    }


def test_duplicate_primary_keys_optional(tmp_path):
    rows = [good(1), good(2), good(1)]
    m = prepare_files(iter(rows), ARTICLES, tmp_path / "ok")  # off by default
    assert m["total_rows"] == 3
    with pytest.raises(PrepareError) as err:
        prepare_files(iter(rows), ARTICLES, tmp_path / "dup", check_duplicates=True)
    e = err.value.errors[0]
    assert (e.row, e.field) == (
        3,
        "id",
    ) and "duplicate primary key 1 (first seen in <rows #0>, row 1)" in e.message


def test_auto_id_key_must_be_absent(tmp_path):
    schema = {**ARTICLES, "autoId": True}
    with pytest.raises(PrepareError) as err:
        prepare_files([good(1)], schema, tmp_path / "o")
    assert (err.value.errors[0].field, err.value.errors[0].row) == ("id", 1)
    assert "auto-id" in err.value.errors[0].message


def test_numpy_rejects_nulls(tmp_path):
    schema = {
        "fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "v", "dataType": "FloatVector", "elementTypeParams": {"dim": 2}},
            {
                "fieldName": "n",
                "dataType": "VarChar",
                "nullable": True,
                "elementTypeParams": {"max_length": 5},
            },
        ]
    }
    rows = [{"id": 1, "v": [1, 2], "n": "a"}, {"id": 2, "v": [1, 2]}]
    assert prepare_files(iter(rows), schema, tmp_path / "p")["total_rows"] == 2
    with pytest.raises(PrepareError) as err:
        prepare_files(iter(rows), schema, tmp_path / "n", format="numpy")
    assert (err.value.errors[0].row, err.value.errors[0].field) == (2, "n")
    assert "NumPy files cannot hold nulls" in err.value.errors[0].message


JSON_FILE_CASES = [
    (
        "missing_comma",
        '{"rows": [' + json.dumps(good(1)) + "\n" + json.dumps(good(2)) + "]}",
        2,
        "missing ','",
    ),
    ("trailing_comma", '{"rows": [' + json.dumps(good(1)) + ",]}", 2, "unexpected ','"),
    ("truncated", '{"rows": [' + json.dumps(good(1)) + "," + json.dumps(good(2))[:30], 2, "truncated"),
    ("scalar_row", "[" + json.dumps(good(1)) + ", 5, " + json.dumps(good(3)) + "]", 2, "not a JSON object"),
    ("array_row", "[" + json.dumps(good(1)) + ", [1]]", 2, "not a JSON object"),
    ("after_array", "[" + json.dumps(good(1)) + "] x", 2, "unexpected content after the rows array"),
    ("no_rows_key", '{"data": [' + json.dumps(good(1)) + "]}", None, 'expected {"rows": [...]}'),
    ("bad_inside_row", "[" + json.dumps(good(1)) + ', {"id": 2,, "x": 1}]', 2, "malformed JSON"),
]


@pytest.mark.parametrize(
    ("case", "text", "row", "fragment"), JSON_FILE_CASES, ids=[c[0] for c in JSON_FILE_CASES]
)
def test_malformed_json_files(tmp_path, case, text, row, fragment):
    src = tmp_path / "in.json"
    src.write_text(text)
    with pytest.raises(PrepareError) as err:
        prepare_files(str(src), ARTICLES, tmp_path / "out", format="parquet")
    e = err.value.errors[0]
    assert (e.file, e.row) == (str(src), row), str(e)
    assert fragment in e.message, e.message
    assert not (tmp_path / "out").exists()


def test_errors_in_later_files_name_that_file(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.json"
    a.write_text(json.dumps(good(1)) + "\n")
    b.write_text(json.dumps({"rows": [good(2), good(3), good(4, reading_time=None)]}))
    with pytest.raises(PrepareError) as err:
        prepare_files([str(a), str(b)], ARTICLES, tmp_path / "out")
    e = err.value.errors[0]
    assert (e.file, e.row, e.field) == (str(b), 3, "reading_time")
