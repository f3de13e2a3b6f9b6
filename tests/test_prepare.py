"""prepare_files: round trips for every format, input kind and type; chunking; manifest; CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_vectorimport.exceptions import ConfigurationError
from airflow_provider_vectorimport.prepare import CollectionSchema, PrepareError, parse_size, prepare_files
from tests.test_prepare_helpers import (
    ALL_TYPES_SCHEMA,
    DATA,
    as_half,
    decode_half_bytes,
    expected,
    make_rows,
    numpy_schema,
    read_back,
)


def _write_inputs(tmp_path, rows, kind):
    """The same rows as each supported input kind."""
    if kind == "json_rows":
        p = tmp_path / "in.json"
        p.write_text(json.dumps({"rows": rows}))
        return str(p)
    if kind == "json_array_pretty":
        p = tmp_path / "in.json"
        p.write_text(json.dumps(rows, indent=2))
        return str(p)
    if kind == "jsonl":
        p = tmp_path / "in.jsonl"
        p.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
        return str(p)
    if kind == "dicts":
        return iter(rows)
    raise AssertionError(kind)


@pytest.mark.parametrize("fmt", ["parquet", "json", "jsonl"])
@pytest.mark.parametrize("kind", ["json_rows", "json_array_pretty", "jsonl", "dicts"])
def test_round_trip_every_type(tmp_path, fmt, kind):
    rows = make_rows(40)
    src = _write_inputs(tmp_path, rows, kind)
    manifest = prepare_files(src, ALL_TYPES_SCHEMA, tmp_path / "out", format=fmt)
    assert manifest["total_rows"] == 40
    got = read_back(manifest)
    assert got == expected(rows, float32=fmt == "parquet")


@pytest.mark.parametrize("kind", ["json_rows", "jsonl", "dicts"])
def test_round_trip_numpy(tmp_path, kind):
    rows = make_rows(30, numpy_compatible=True)
    src = _write_inputs(tmp_path, rows, kind)
    manifest = prepare_files(src, numpy_schema(), tmp_path / "out", format="numpy")
    got = read_back(manifest)
    want = expected(rows, float32=True)
    assert got == want
    group = manifest["groups"][0]["files"]
    assert group[0] == "1/id.npy" and "1/$meta.npy" in group
    root = manifest["root"]
    assert np.load(os.path.join(root, "1/fv.npy")).dtype == np.float32
    assert np.load(os.path.join(root, "1/fv.npy")).shape == (30, 4)
    assert np.load(os.path.join(root, "1/bv.npy")).dtype == np.uint8
    assert np.load(os.path.join(root, "1/bv.npy")).shape == (30, 2)
    assert np.load(os.path.join(root, "1/i8v.npy")).dtype == np.int8
    assert np.load(os.path.join(root, "1/s.npy")).dtype.kind == "U"
    assert np.load(os.path.join(root, "1/j.npy")).dtype.kind == "U"


def test_round_trip_parquet_input_and_arrow_and_pandas(tmp_path):
    rows = make_rows(25)
    first = prepare_files(iter(rows), ALL_TYPES_SCHEMA, tmp_path / "a", format="parquet")
    parquet_in = os.path.join(first["root"], first["files"][0]["path"])
    # our Parquet output is valid Parquet input (JSON / sparse / $meta held as JSON text)
    again = prepare_files(parquet_in, ALL_TYPES_SCHEMA, tmp_path / "b", format="jsonl")
    assert read_back(again) == expected(rows, float32=True)
    # an Arrow table and a DataFrame of plain columns
    schema = json.loads((DATA / "articles_schema.json").read_text())
    table = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "title": ["a", "b", "c"],
            "title_vector": pa.array([[float(i)] * 8 for i in range(3)], pa.list_(pa.float64(), 8)),
            "reading_time": pa.array([1, 2, 3], pa.int32()),
            "tags": [["x"], [], ["y", "z"]],
        }
    )
    m1 = prepare_files(table, schema, tmp_path / "c")
    out = pq.read_table(os.path.join(m1["root"], m1["files"][0]["path"]))
    assert out.schema.field("title_vector").type == pa.list_(pa.float32())
    assert out.schema.field("reading_time").type == pa.int64()
    assert out.column("title_vector").to_pylist()[2] == [2.0] * 8
    m2 = prepare_files(table.to_pandas(), schema, tmp_path / "d", format="json")
    assert [r["tags"] for r in read_back(m2)] == [["x"], [], ["y", "z"]]


def test_csv_input(tmp_path):
    schema = json.loads((DATA / "articles_schema.json").read_text())
    csv = tmp_path / "in.csv"
    csv.write_text(
        "id,title,title_vector,reading_time,tags\n"
        '1,"hello, world","[0.5, 1, 2, 3, 4, 5, 6, 7]",3,"[""a""]"\n'
        '2,plain,"[1,1,1,1,1,1,1,1]",4,[]\n'
    )
    manifest = prepare_files(str(csv), schema, tmp_path / "out", format="jsonl")
    got = read_back(manifest)
    assert got == [
        {
            "id": 1,
            "title": "hello, world",
            "title_vector": [0.5, 1, 2, 3, 4, 5, 6, 7],
            "reading_time": 3,
            "tags": ["a"],
        },
        {"id": 2, "title": "plain", "title_vector": [1.0] * 8, "reading_time": 4, "tags": []},
    ]
    bad = tmp_path / "bad.csv"
    bad.write_text('id,title,title_vector,reading_time,tags\n1,t,"[1,2,3,4,5,6,7,8]",x,[]\n')
    with pytest.raises(PrepareError) as err:
        prepare_files(str(bad), schema, tmp_path / "out2")
    e = err.value.errors[0]
    assert (e.file, e.row, e.field) == (str(bad), 1, "reading_time")


def test_json_scanner_tricky_text_and_tiny_blocks(tmp_path):
    """Strings holding braces, brackets, quotes and backslashes; pretty-printed rows; blocks far
    smaller than one row (forces rows to straddle reads)."""
    schema = json.loads((DATA / "articles_schema.json").read_text())
    want = json.loads((DATA / "articles.json").read_text())["rows"]
    for block, threads in (("64KB", True), (1 << 16, False)):
        m = prepare_files(
            str(DATA / "articles.json"),
            schema,
            tmp_path / f"o{block}",
            format="json",
            block_size=block,
            threads=threads,
        )
        assert read_back(m) == want
    # many rows, tiny blocks: every boundary case of the carry-over
    rows = [
        {"id": i, "title": '}{"]' * (i % 3), "title_vector": [i / 3] * 8, "reading_time": i, "tags": ["]"]}
        for i in range(2000)
    ]
    src = tmp_path / "many.json"
    src.write_text(json.dumps({"rows": rows}, indent=1))
    m = prepare_files(str(src), schema, tmp_path / "many", format="jsonl", block_size=1 << 16)
    assert read_back(m) == rows


def test_chunking_and_manifest(tmp_path):
    schema = json.loads((DATA / "articles_schema.json").read_text())
    rows = [
        {"id": i, "title": "t", "title_vector": [0.25] * 8, "reading_time": i, "tags": []}
        for i in range(5000)
    ]
    m = prepare_files(iter(rows), schema, tmp_path / "p", chunk_size="64KB")
    assert len(m["groups"]) > 2
    assert m["total_rows"] == 5000 == sum(g["rows"] for g in m["groups"])
    assert (
        m["total_bytes"]
        == sum(f["bytes"] for f in m["files"])
        == sum(os.path.getsize(os.path.join(m["root"], f["path"])) for f in m["files"])
    )
    assert [g["files"] for g in m["groups"]] == [[f"part-{i:05d}.parquet"] for i in range(len(m["groups"]))]
    assert read_back(m) == [{**r, "title_vector": [0.25] * 8} for r in rows]
    assert m["root"] == str(tmp_path / "p") and m["requests"] == [list(range(len(m["groups"])))]
    assert m["schema_fingerprint"] == CollectionSchema.load(schema).fingerprint
    json.dumps(m)  # JSON-able
    no_tags = ({k: v for k, v in r.items() if k != "tags"} for r in rows)
    n = prepare_files(
        no_tags, schema | {"fields": schema["fields"][:4]}, tmp_path / "n", format="numpy", chunk_size="64KB"
    )
    assert len(n["groups"]) > 2
    assert n["groups"][1]["files"] == ["2/id.npy", "2/title.npy", "2/title_vector.npy", "2/reading_time.npy"]
    # zilliz: one JSON file per request (v1 takes one JSON file per job)
    z = prepare_files(iter(rows), schema, tmp_path / "z", format="json", chunk_size="64KB", target="zilliz")
    assert z["requests"] == [[i] for i in range(len(z["groups"]))]


def test_out_dir_rules_and_arguments(tmp_path):
    schema = json.loads((DATA / "articles_schema.json").read_text())
    src = str(DATA / "articles.json")
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("x")
    with pytest.raises(ConfigurationError, match="not empty"):
        prepare_files(src, schema, out)
    with pytest.raises(ConfigurationError, match=r"holds files this step did not write \(old.txt\)"):
        prepare_files(src, schema, out, overwrite=True)
    assert (out / "old.txt").exists()
    (out / "old.txt").unlink()
    (out / "part-00003.parquet").write_text("stale")
    m = prepare_files(src, schema, out, overwrite=True)
    assert sorted(os.listdir(out)) == ["part-00000.parquet"] and m["total_rows"] == 3
    assert not [p for p in os.listdir(tmp_path) if ".tmp-" in p]
    with pytest.raises(ConfigurationError, match="format"):
        prepare_files(src, schema, tmp_path / "x", format="csv")
    with pytest.raises(ConfigurationError, match="file not found"):
        prepare_files(str(tmp_path / "missing.json"), schema, tmp_path / "x")
    with pytest.raises(ConfigurationError, match="'tags': Array fields cannot be written as NumPy"):
        prepare_files(src, schema, tmp_path / "x", format="numpy")
    assert parse_size("512MB") == 512 << 20 and parse_size("1.5k") == 1536 and parse_size(10) == 10
    with pytest.raises(ConfigurationError):
        parse_size("lots")


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"fields": []}, "non-empty"),
        (
            {"fields": [{"fieldName": "v", "dataType": "FloatVector", "elementTypeParams": {"dim": 4}}]},
            "isPrimary",
        ),
        ({"fields": [{"fieldName": "id", "dataType": "Int64", "isPrimary": True}]}, "vector field"),
        (
            {
                "fields": [
                    {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
                    {"fieldName": "v", "dataType": "FloatVector"},
                ]
            },
            "elementTypeParams.dim is required",
        ),
        (
            {
                "fields": [
                    {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
                    {"fieldName": "v", "dataType": "Vec"},
                ]
            },
            "unknown dataType 'Vec'",
        ),
        (
            {
                "fields": [
                    {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
                    {"fieldName": "v", "dataType": "BinaryVector", "elementTypeParams": {"dim": 12}},
                ]
            },
            "multiple of 8",
        ),
        (
            {
                "fields": [
                    {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
                    {"fieldName": "v", "dataType": "FloatVector", "elementTypeParams": {"dim": 2}},
                    {"fieldName": "n", "dataType": "Int8", "defaultValue": 1000},
                ]
            },
            "bad defaultValue",
        ),
    ],
)
def test_bad_schemas(schema, message):
    with pytest.raises(ConfigurationError, match=message):
        CollectionSchema.load(schema)


def test_schema_from_file_and_create_collection_body(tmp_path):
    s1 = CollectionSchema.load(str(DATA / "all_types_schema.json"))
    body = {"collectionName": "c", "schema": ALL_TYPES_SCHEMA}
    s2 = CollectionSchema.load(body)
    assert s1.fingerprint == s2.fingerprint
    assert s1.get("s").max_length == 20 and s1.get("bv").vector_width == 2 and s1.enable_dynamic_field
    assert s1.get("dv").default_value == 7
    changed = json.loads(json.dumps(ALL_TYPES_SCHEMA))
    changed["fields"][11]["elementTypeParams"]["dim"] = 8
    assert CollectionSchema.load(changed).fingerprint != s1.fingerprint


def test_auto_id_primary_key_is_not_written(tmp_path):
    schema = {
        "autoId": True,
        "fields": [
            {"fieldName": "pk", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "v", "dataType": "FloatVector", "elementTypeParams": {"dim": 2}},
        ],
    }
    m = prepare_files([{"v": [1, 2]}, {"v": [3, 4]}], schema, tmp_path / "o")
    t = pq.read_table(os.path.join(m["root"], m["files"][0]["path"]))
    assert t.column_names == ["v"] and t.column("v").to_pylist() == [[1.0, 2.0], [3.0, 4.0]]


def test_binary_vector_as_bits_or_bytes(tmp_path):
    schema = {
        "fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "bv", "dataType": "BinaryVector", "elementTypeParams": {"dim": 16}},
        ]
    }
    bits = [1, 0, 0, 0, 0, 0, 0, 1] + [0] * 7 + [1]
    rows = [{"id": 1, "bv": bits}, {"id": 2, "bv": [129, 1]}, {"id": 3, "bv": bytes([7, 8])}]
    m = prepare_files(iter(rows), schema, tmp_path / "o", format="numpy")
    assert np.load(os.path.join(m["root"], "1", "bv.npy")).tolist() == [[129, 1], [129, 1], [7, 8]]


def _cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "airflow_provider_vectorimport.prepare.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


def test_cli_prints_manifest_and_fails_on_bad_data(tmp_path):
    out = tmp_path / "out"
    r = _cli(
        "--schema",
        str(DATA / "articles_schema.json"),
        "--format",
        "jsonl",
        "--out",
        str(out),
        "--chunk-size",
        "1MB",
        str(DATA / "articles.json"),
    )
    assert r.returncode == 0, r.stderr
    manifest = json.loads(r.stdout)
    assert manifest["total_rows"] == 3 and manifest["groups"][0]["files"] == ["part-00000.jsonl"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "title": "t", "title_vector": [1,2,3], "reading_time": 1, "tags": []}\n')
    r = _cli("--schema", str(DATA / "articles_schema.json"), "--out", str(tmp_path / "o2"), str(bad))
    assert r.returncode == 1 and r.stdout == ""
    assert f"{bad}, row 1, field 'title_vector': vector has 3 values, expected dim 8" in r.stderr
    assert not (tmp_path / "o2").exists()
    r = _cli("--schema", str(tmp_path / "nope.json"), "--out", str(tmp_path / "o3"), str(bad))
    assert r.returncode == 2 and "schema file not found" in r.stderr


def test_vectorimport_entry_point_has_prepare(tmp_path):
    from airflow_provider_vectorimport.cli import main

    rc = main(
        [
            "prepare",
            "--schema",
            str(DATA / "articles_schema.json"),
            "--out",
            str(tmp_path / "o"),
            str(DATA / "articles.json"),
        ]
    )
    assert rc == 0 and (tmp_path / "o" / "part-00000.parquet").exists()


def test_wide_vectors_take_the_split_path_and_still_name_errors(tmp_path):
    """Rows of >= 512 bytes send their float vectors through the CSV number parser; results and
    errors must be the same as on the general path."""
    schema = {
        "fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "a", "dataType": "FloatVector", "elementTypeParams": {"dim": 64}},
            {"fieldName": "t", "dataType": "VarChar", "elementTypeParams": {"max_length": 40}},
            {"fieldName": "b", "dataType": "BFloat16Vector", "elementTypeParams": {"dim": 32}},
        ]
    }
    rng = np.random.default_rng(3)
    rows = [
        {
            "id": i,
            "t": f'"a": [1, 2] {{ {i}',
            "b": [float(x) for x in rng.uniform(-1, 1, 32)],
            "a": [float(x) for x in rng.uniform(-1, 1, 64)],
        }
        for i in range(700)
    ]
    for layout in ("compact", "pretty"):
        src = tmp_path / f"{layout}.json"
        src.write_text(json.dumps({"rows": rows}, indent=2 if layout == "pretty" else None))
        m = prepare_files(str(src), schema, tmp_path / f"out-{layout}", block_size="64KB")
        t = pq.read_table(os.path.join(m["root"], m["files"][0]["path"]))
        assert t.column("a").to_pylist() == [[float(np.float32(x)) for x in r["a"]] for r in rows]
        assert t.schema.field("b").type == pa.list_(pa.uint8())  # bfloat16 bytes, as the readers take
        b = [decode_half_bytes(v, "BFloat16Vector") for v in t.column("b").to_pylist()]
        assert b == [as_half(r["b"], "BFloat16Vector") for r in rows]
        assert t.column("t").to_pylist() == [r["t"] for r in rows]
        j = prepare_files(str(src), schema, tmp_path / f"json-{layout}", format="jsonl", block_size="64KB")
        assert read_back(j) == rows  # float64 kept for the JSON writers: exact
    bad_rows = [dict(r) for r in rows]
    bad_rows[555] = {**rows[555], "a": rows[555]["a"][:63]}
    bad_rows[600] = {**rows[600], "b": [*rows[600]["b"][:31], "x"]}
    src = tmp_path / "bad.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in bad_rows))
    with pytest.raises(PrepareError) as err:
        prepare_files(str(src), schema, tmp_path / "bad", mode="collect", block_size="64KB")
    assert [(e.row, e.field) for e in err.value.errors] == [(556, "a"), (601, "b")]
    assert "vector has 63 values, expected dim 64" in err.value.errors[0].message
    assert "non-numeric value 'x' at index 31" in err.value.errors[1].message
