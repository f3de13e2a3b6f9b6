"""The emulator reads Float16Vector / BFloat16Vector / Int8Vector files the way the Milvus 2.5 / 2.6
import readers do (milvus-io/milvus ``internal/util/importutilv2/parquet/field_reader.go``:
``ReadBinaryData`` takes arrow BINARY or LIST<uint8> of ``dim*2`` bytes a row; ``numpy/field_reader.go``:
``ReadN[uint8]`` with ``count *= dim*2``, ``ReadN[int8]`` for Int8Vector; ``json/row_parser.go``: ``dim``
numbers), and refuses the old float layout there. pymilvus' own ``LocalBulkWriter`` files (released
3.0.x, ``bulk_writer/constants.py``: ``pa.list_(pa.uint8())`` / ``np.dtype("uint8")``) and the files of
``prepare_files`` both import; the values read back are the ones written."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_vectorimport.emulator import Emulator
from airflow_provider_vectorimport.prepare import prepare_files
from tests.test_emulator import call, count, npy_bytes, ok, put, wait_job

pytest_plugins = ["airflow_provider_vectorimport.emulator.pytest_plugin"]

DIM = 4
N = 5
SCHEMA: dict[str, Any] = {
    "autoId": False,
    "enableDynamicField": False,
    "fields": [
        {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "vec", "dataType": "FloatVector", "elementTypeParams": {"dim": DIM}},
        {"fieldName": "f16", "dataType": "Float16Vector", "elementTypeParams": {"dim": DIM}},
        {"fieldName": "bf16", "dataType": "BFloat16Vector", "elementTypeParams": {"dim": DIM}},
        {"fieldName": "i8v", "dataType": "Int8Vector", "elementTypeParams": {"dim": DIM}},
    ],
}


def float_rows() -> list[dict[str, Any]]:
    # values exact in both half types, so what is read back can be compared with ==
    return [
        {
            "id": i,
            "vec": [float(i), 0.5, 1.0, 2.0],
            "f16": [0.5 * i, -1.0, 0.25, 3.0],
            "bf16": [float(i), 2.0, -0.5, 1.5],
            "i8v": [i, -i, 127, -128],
        }
        for i in range(N)
    ]


def create(emu: Emulator, name: str = "halves") -> None:
    index = [{"fieldName": f, "metricType": "L2", "indexName": f} for f in ("vec", "f16", "bf16", "i8v")]
    ok(
        call(
            emu,
            "/v2/vectordb/collections/create",
            {"collectionName": name, "schema": SCHEMA, "indexParams": index},
        )
    )


def run_import(emu: Emulator, files: list[list[str]], name: str = "halves") -> dict[str, Any]:
    job_id = ok(call(emu, "/v2/vectordb/jobs/import/create", {"collectionName": name, "files": files}))[
        "jobId"
    ]
    final, _ = wait_job(emu, job_id)
    return final


def read_back(emu: Emulator, name: str = "halves") -> dict[int, dict[str, Any]]:
    got = ok(
        call(
            emu,
            "/v2/vectordb/entities/query",
            {"collectionName": name, "filter": "id >= 0", "outputFields": ["id", "f16", "bf16", "i8v"]},
        )
    )
    return {r["id"]: r for r in got}


def assert_values(emu: Emulator) -> None:
    back = read_back(emu)
    assert sorted(back) == list(range(N))
    for row in float_rows():
        got = back[row["id"]]
        for name in ("f16", "bf16", "i8v"):
            assert [float(x) for x in got[name]] == [float(x) for x in row[name]], (name, got)


def parquet_of(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def put_dir(emu: Emulator, local: Path, prefix: str) -> None:
    for path in sorted(local.rglob("*")):
        if path.is_file() and path.suffix in (".parquet", ".npy", ".json"):
            put(emu, f"{prefix}/{path.relative_to(local).as_posix()}", path.read_bytes())


# ------------------------------------------------------------------------ files that must import
def test_pymilvus_local_bulk_writer_files_import(vectorimport_emulator: Emulator, tmp_path: Path) -> None:
    bulk_writer = pytest.importorskip("pymilvus.bulk_writer", reason="needs pymilvus[bulk_writer]")
    from pymilvus import CollectionSchema, DataType, FieldSchema

    logging.getLogger("pymilvus").setLevel(logging.WARNING)
    schema = CollectionSchema(
        [
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("vec", DataType.FLOAT_VECTOR, dim=DIM),
            FieldSchema("f16", DataType.FLOAT16_VECTOR, dim=DIM),
            FieldSchema("bf16", DataType.BFLOAT16_VECTOR, dim=DIM),
            FieldSchema("i8v", DataType.INT8_VECTOR, dim=DIM),
        ]
    )
    emu = vectorimport_emulator
    create(emu)
    for file_type, prefix in (
        (bulk_writer.BulkFileType.PARQUET, "lbw-pq"),
        (bulk_writer.BulkFileType.NUMPY, "lbw-np"),
    ):
        out = tmp_path / prefix
        writer = bulk_writer.LocalBulkWriter(schema=schema, local_path=str(out), file_type=file_type)
        for row in float_rows():
            writer.append_row(
                {
                    **row,
                    # released pymilvus takes half vectors as NumPy float16 / bfloat16 arrays
                    "f16": np.asarray(row["f16"], dtype=np.float16),
                    "bf16": np.asarray(row["bf16"], dtype=ml_dtypes.bfloat16),
                    "i8v": np.asarray(row["i8v"], dtype=np.int8),
                }
            )
        writer.commit()
        files = [f for batch in writer.batch_files for f in batch]
        if file_type == bulk_writer.BulkFileType.PARQUET:
            # the byte layout on disk: list<uint8> of 2*dim bytes
            assert pq.read_schema(files[0]).field("f16").type == pa.list_(pa.uint8())
        else:
            assert np.load(next(f for f in files if f.endswith("f16.npy"))).shape == (N, 2 * DIM)
        root = Path(files[0]).parent
        put_dir(emu, root, prefix)
        group = (
            [f"{prefix}/{Path(f).name}" for f in files]
            if file_type == bulk_writer.BulkFileType.NUMPY
            else None
        )
        final = run_import(emu, [group or [f"{prefix}/{Path(files[0]).name}"]])
        assert final["state"] == "Completed", final["reason"]
        assert_values(emu)
        ok(call(emu, "/v2/vectordb/entities/delete", {"collectionName": "halves", "filter": "id >= 0"}))


@pytest.mark.parametrize("fmt", ["parquet", "numpy", "json"])
def test_prepare_files_import(vectorimport_emulator: Emulator, tmp_path: Path, fmt: str) -> None:
    emu = vectorimport_emulator
    create(emu)
    manifest = prepare_files(iter(float_rows()), SCHEMA, tmp_path / "out", format=fmt)
    put_dir(emu, Path(manifest["root"]), "prep")
    groups = [[f"prep/{f}" for f in g["files"]] for g in manifest["groups"]]
    final = run_import(emu, groups)
    assert final["state"] == "Completed", final["reason"]
    assert final["importedRows"] == N
    assert_values(emu)


def test_hand_written_byte_layouts_import(vectorimport_emulator: Emulator) -> None:
    """Parquet binary columns (the other layout ReadBinaryData takes) and JSON dim numbers."""
    emu = vectorimport_emulator
    create(emu)
    rows = float_rows()
    table = pa.table(
        {
            "id": [r["id"] for r in rows],
            "vec": [r["vec"] for r in rows],
            "f16": pa.array([np.asarray(r["f16"], dtype="<f2").tobytes() for r in rows], pa.binary()),
            "bf16": pa.array(
                [np.asarray(r["bf16"], dtype=ml_dtypes.bfloat16).tobytes() for r in rows], pa.binary()
            ),
            "i8v": pa.array([r["i8v"] for r in rows], pa.list_(pa.int8())),
        }
    )
    put(emu, "bin.parquet", parquet_of(table))
    final = run_import(emu, [["bin.parquet"]])
    assert final["state"] == "Completed", final["reason"]
    assert_values(emu)
    ok(call(emu, "/v2/vectordb/entities/delete", {"collectionName": "halves", "filter": "id >= 0"}))
    put(emu, "rows.json", json.dumps({"rows": rows}).encode())
    final = run_import(emu, [["rows.json"]])
    assert final["state"] == "Completed", final["reason"]
    assert_values(emu)


# ------------------------------------------------------------------------ files that must fail
def _table(**over: Any) -> pa.Table:
    rows = float_rows()
    cols: dict[str, Any] = {
        "id": [r["id"] for r in rows],
        "vec": [r["vec"] for r in rows],
        "f16": pa.array(
            [list(np.asarray(r["f16"], dtype="<f2").view(np.uint8)) for r in rows], pa.list_(pa.uint8())
        ),
        "bf16": pa.array(
            [list(np.asarray(r["bf16"], dtype=ml_dtypes.bfloat16).view(np.uint8)) for r in rows],
            pa.list_(pa.uint8()),
        ),
        "i8v": pa.array([r["i8v"] for r in rows], pa.list_(pa.int8())),
    }
    cols.update(over)
    return pa.table(cols)


@pytest.mark.parametrize(
    ("over", "expected"),
    [
        # the old provider layout: dim float32 values (only master servers with milvus#52306 read it)
        (
            {"f16": pa.array([r["f16"] for r in float_rows()], pa.list_(pa.float32()))},
            ["bad.parquet", "'f16'", "binary or list<uint8>", "8 bytes"],
        ),
        (
            {"bf16": pa.array([r["bf16"] for r in float_rows()], pa.list_(pa.float32()))},
            ["bad.parquet", "'bf16'", "binary or list<uint8>"],
        ),
        (
            {"f16": pa.array([[1, 2, 3, 4, 5, 6]] * N, pa.list_(pa.uint8()))},
            ["bad.parquet", "row 0", "'f16'", "6 bytes", "expects 8"],
        ),
        (
            {"i8v": pa.array([r["i8v"] for r in float_rows()], pa.list_(pa.int64()))},
            ["bad.parquet", "'i8v'", "list<int8>"],
        ),
    ],
)
def test_wrong_parquet_layouts_fail_naming_file_and_field(
    vectorimport_emulator: Emulator, over: dict[str, Any], expected: list[str]
) -> None:
    emu = vectorimport_emulator
    create(emu)
    put(emu, "bad.parquet", parquet_of(_table(**over)))
    final = run_import(emu, [["bad.parquet"]])
    assert final["state"] == "Failed"
    for part in expected:
        assert part in final["reason"], final["reason"]
    assert count(emu, "halves") == 0


@pytest.mark.parametrize(
    ("name", "array", "expected"),
    [
        ("f16", np.zeros((N, DIM), dtype=np.float32), ["np/f16.npy", "'f16'", "uint8 of shape (n, 8)"]),
        ("bf16", np.zeros((N, DIM), dtype=np.uint8), ["np/bf16.npy", "'bf16'", "uint8 of shape (n, 8)"]),
        ("i8v", np.zeros((N, DIM), dtype=np.int16), ["np/i8v.npy", "'i8v'", "int8 of shape (n, 4)"]),
    ],
)
def test_wrong_numpy_layouts_fail_naming_file_and_field(
    vectorimport_emulator: Emulator, name: str, array: np.ndarray, expected: list[str]
) -> None:
    emu = vectorimport_emulator
    create(emu)
    rows = float_rows()
    arrays = {
        "id": np.arange(N, dtype=np.int64),
        "vec": np.asarray([r["vec"] for r in rows], dtype=np.float32),
        "f16": np.asarray([r["f16"] for r in rows], dtype="<f2").view(np.uint8),
        "bf16": np.asarray([r["bf16"] for r in rows], dtype=ml_dtypes.bfloat16).view(np.uint8),
        "i8v": np.asarray([r["i8v"] for r in rows], dtype=np.int8),
        name: array,
    }
    for field_name, arr in arrays.items():
        put(emu, f"np/{field_name}.npy", npy_bytes(arr))
    final = run_import(emu, [["np/"]])
    assert final["state"] == "Failed"
    for part in expected:
        assert part in final["reason"], final["reason"]
    assert count(emu, "halves") == 0


def test_json_half_vectors_are_numbers_not_bytes(vectorimport_emulator: Emulator) -> None:
    emu = vectorimport_emulator
    create(emu)
    rows = float_rows()
    rows[2]["f16"] = list(np.asarray(rows[2]["f16"], dtype="<f2").view(np.uint8).tolist())  # 8 "bytes"
    put(emu, "bytes.json", json.dumps(rows).encode())
    final = run_import(emu, [["bytes.json"]])
    assert final["state"] == "Failed"
    for part in ("bytes.json", "row 2", "'f16'", "dim=4"):
        assert part in final["reason"], final["reason"]
