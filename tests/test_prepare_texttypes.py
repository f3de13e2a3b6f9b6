"""Text, Timestamptz and Geometry (Milvus 2.6): prepare writes them as UTF-8 strings (pymilvus
``bulk_writer/constants.py``: ``pa.string()``, ``np.dtype("str")``), checks Timestamptz as ISO 8601 with
an offset and Geometry as WKT before anything is written (errors name file, row and field), and the
emulator imports the files and answers the values back (audit 2026-12 item 1.9)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_vectorimport.emulator import Emulator
from airflow_provider_vectorimport.prepare import PrepareError, prepare_files
from airflow_provider_vectorimport.prepare.schema import CollectionSchema
from airflow_provider_vectorimport.prepare.texttypes import check_timestamptz, check_wkt
from tests.test_emulator import call, ok, put, wait_job

pytest_plugins = ["airflow_provider_vectorimport.emulator.pytest_plugin"]

SCHEMA: dict[str, Any] = {
    "autoId": False,
    "enableDynamicField": False,
    "fields": [
        {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "vec", "dataType": "FloatVector", "elementTypeParams": {"dim": 2}},
        {"fieldName": "body", "dataType": "Text", "elementTypeParams": {"enable_analyzer": True}},
        {"fieldName": "at", "dataType": "Timestamptz", "nullable": True},
        {"fieldName": "where", "dataType": "Geometry"},
    ],
}
LONG = "x" * 70_000  # Text has no max_length (a VarChar stops at 65,535 bytes)


def rows() -> list[dict[str, Any]]:
    return [
        {
            "id": 0,
            "vec": [0.0, 1.0],
            "body": "short",
            "at": "2025-05-01T10:00:00+08:00",
            "where": "POINT (1 2)",
        },
        {
            "id": 1,
            "vec": [1.0, 1.0],
            "body": LONG,
            "at": "2025-05-01T02:00:00Z",
            "where": "LINESTRING (0 0, 1 1)",
        },
        {
            "id": 2,
            "vec": [2.0, 1.0],
            "body": "",
            "at": None,
            "where": "POLYGON ((0 0, 1 0, 1 1, 0 1, 0 0))",
        },
    ]


def test_schema_reads_the_three_types():
    schema = CollectionSchema.from_dict(SCHEMA)
    assert [schema.get(n).data_type for n in ("body", "at", "where")] == ["Text", "Timestamptz", "Geometry"]
    assert all(schema.get(n).arrow_type() == pa.string() for n in ("body", "at", "where"))


@pytest.mark.parametrize(
    "value",
    [
        "2025-05-01T10:00:00+08:00",
        "2025-05-01T10:00:00Z",
        "2025-05-01 10:00:00.123456789-05:00",
        "2025-05-01T10:00Z",
    ],
)
def test_timestamptz_with_offset_is_accepted(value: str) -> None:
    assert check_timestamptz(value) == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-05-01T10:00:00", "no UTC offset"),
        ("2025-13-01T10:00:00Z", "invalid date-time"),
        ("yesterday", "not an ISO 8601"),
        (1714550400, "expected an ISO 8601"),
    ],
)
def test_bad_timestamptz_is_named(value: Any, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        check_timestamptz(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("POINT (1)", "invalid WKT"),
        ("CIRCLE (0 0, 1)", "invalid WKT"),
        ('{"type": "Point", "coordinates": [1, 2]}', "GeoJSON"),
        ("0101000000000000000000F03F0000000000000040", "hex WKB"),
        (bytes.fromhex("0101000000000000000000F03F0000000000000040"), "bytes"),
    ],
)
def test_bad_wkt_is_named(value: Any, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        check_wkt(value)


@pytest.mark.parametrize("fmt", ["parquet", "numpy", "json"])
def test_files_carry_strings(tmp_path: Path, fmt: str) -> None:
    data = rows() if fmt != "numpy" else [dict(r, at=r["at"] or "2025-01-01T00:00:00Z") for r in rows()]
    manifest = prepare_files(iter(data), SCHEMA, tmp_path / "out", format=fmt)
    root = Path(manifest["root"])
    if fmt == "parquet":
        table = pq.read_table(root / manifest["files"][0]["path"])
        for name in ("body", "at", "where"):
            assert table.schema.field(name).type == pa.string()
        assert table.column("body").to_pylist()[1] == LONG and table.column("at").to_pylist()[2] is None
    elif fmt == "numpy":
        folder = root / manifest["groups"][0]["files"][0].split("/")[0]
        for name in ("body", "at", "where"):
            assert np.load(folder / f"{name}.npy").dtype.kind == "U", name
        assert np.load(folder / "where.npy")[2] == "POLYGON ((0 0, 1 0, 1 1, 0 1, 0 0))"
    else:
        doc = json.loads((root / manifest["files"][0]["path"]).read_text())
        got = doc["rows"] if isinstance(doc, dict) else doc
        assert [r["where"] for r in got] == [r["where"] for r in data]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("at", "2025-05-01T10:00:00", "no UTC offset"),
        ("where", "POINT (1)", "invalid WKT"),
        ("where", '{"type": "Point", "coordinates": [1, 2]}', "GeoJSON"),
        ("body", 5, "expected a string (Text)"),
    ],
)
@pytest.mark.parametrize("source", ["rows", "parquet", "csv"])
def test_bad_values_name_file_row_and_field(
    tmp_path: Path, field: str, value: Any, expected: str, source: str
) -> None:
    data = rows()
    data[1][field] = value
    out = tmp_path / "out"
    if source == "rows":
        inputs: Any = iter(data)
        file = None
    elif source == "parquet":
        if field == "body":
            pytest.skip("a Parquet string column cannot hold an int")
        inputs = str(tmp_path / "in.parquet")
        pq.write_table(pa.Table.from_pylist(data), inputs)
        file = "in.parquet"
    else:
        if field == "body":
            pytest.skip("every CSV cell is text")
        inputs = str(tmp_path / "in.csv")
        lines = ["id,vec,body,at,where"] + [
            f'{r["id"]},"{json.dumps(r["vec"])}",{r["body"][:10]},{r["at"] or ""},"{r["where"].replace(chr(34), chr(34) * 2)}"'
            for r in data
        ]
        Path(inputs).write_text("\n".join(lines) + "\n")
        file = "in.csv"
    with pytest.raises(PrepareError) as err:
        prepare_files(inputs, SCHEMA, out)
    first = err.value.errors[0]
    assert (first.row, first.field) == (2, field), first  # 1-based: the second record
    assert expected in first.message, first
    if file:
        assert first.file.endswith(file), first
    assert not out.exists() or not any(out.iterdir())


def test_local_bulk_writer_writes_the_same_types(tmp_path: Path) -> None:
    bulk_writer = pytest.importorskip("pymilvus.bulk_writer", reason="needs pymilvus[bulk_writer]")
    from pymilvus import CollectionSchema as PmSchema
    from pymilvus import DataType, FieldSchema

    schema = PmSchema(
        [
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("vec", DataType.FLOAT_VECTOR, dim=2),
            FieldSchema("body", DataType.TEXT),
            FieldSchema("at", DataType.TIMESTAMPTZ),
            FieldSchema("where", DataType.GEOMETRY),
        ]
    )
    writer = bulk_writer.LocalBulkWriter(
        schema=schema, local_path=str(tmp_path / "lbw"), file_type=bulk_writer.BulkFileType.PARQUET
    )
    data = [dict(r, at=r["at"] or "2025-01-01T00:00:00Z", body=r["body"][:100]) for r in rows()]
    for r in data:
        writer.append_row(r)
    writer.commit()
    theirs = pq.read_table(writer.batch_files[0][0])
    manifest = prepare_files(iter(data), SCHEMA, tmp_path / "ours")
    ours = pq.read_table(Path(manifest["root"]) / manifest["files"][0]["path"])
    for name in ("body", "at", "where"):
        assert ours.schema.field(name).type == theirs.schema.field(name).type, name
        assert ours.column(name).to_pylist() == theirs.column(name).to_pylist(), name


# ------------------------------------------------------------------------------------ emulator
def test_emulator_imports_and_answers_the_values(vectorimport_emulator: Emulator, tmp_path: Path) -> None:
    emu = vectorimport_emulator
    index = [{"fieldName": "vec", "metricType": "L2", "indexName": "vec"}]
    ok(
        call(
            emu,
            "/v2/vectordb/collections/create",
            {"collectionName": "geo", "schema": SCHEMA, "indexParams": index},
        )
    )
    described = ok(call(emu, "/v2/vectordb/collections/describe", {"collectionName": "geo"}))
    assert {f["name"]: f["type"] for f in described["fields"]}["where"] == "Geometry"
    data = [dict(r, body=r["body"][:1000]) for r in rows()]  # the emulator's store keeps Text as VarChar
    manifest = prepare_files(iter(data), SCHEMA, tmp_path / "out")
    put(emu, "geo/0.parquet", (Path(manifest["root"]) / manifest["files"][0]["path"]).read_bytes())
    job = ok(
        call(emu, "/v2/vectordb/jobs/import/create", {"collectionName": "geo", "files": [["geo/0.parquet"]]})
    )
    final, _ = wait_job(emu, job["jobId"])
    assert final["state"] == "Completed", final["reason"]
    got = ok(
        call(
            emu,
            "/v2/vectordb/entities/query",
            {"collectionName": "geo", "filter": "id >= 0", "outputFields": ["id", "body", "at", "where"]},
        )
    )
    by_id = {r["id"]: r for r in got}
    assert by_id[0]["where"] == "POINT (1 2)" and by_id[2]["at"] is None
    assert by_id[0]["at"] == "2025-05-01T02:00:00Z"  # stored as an instant, answered in UTC
    assert by_id[1]["body"] == data[1]["body"]


def test_emulator_refuses_bad_wkt_naming_file_row_and_field(vectorimport_emulator: Emulator) -> None:
    emu = vectorimport_emulator
    index = [{"fieldName": "vec", "metricType": "L2", "indexName": "vec"}]
    ok(
        call(
            emu,
            "/v2/vectordb/collections/create",
            {"collectionName": "geo", "schema": SCHEMA, "indexParams": index},
        )
    )
    bad = rows()
    bad[1]["where"] = "POINT (1)"
    bad[1]["body"] = "b"
    put(emu, "bad.json", json.dumps({"rows": bad}).encode())
    job = ok(call(emu, "/v2/vectordb/jobs/import/create", {"collectionName": "geo", "files": [["bad.json"]]}))
    final, _ = wait_job(emu, job["jobId"])
    assert final["state"] == "Failed"
    for part in ("bad.json", "row 1", "'where'", "WKT"):
        assert part in final["reason"], final["reason"]
