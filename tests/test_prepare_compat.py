"""Our Parquet / NumPy outputs have the column names, dtypes and layout of pymilvus LocalBulkWriter's
for the same schema and rows (pymilvus[bulk_writer] is a test extra only)."""

from __future__ import annotations

import glob
import json
import logging
import os

import ml_dtypes
import numpy as np
import pyarrow.parquet as pq
import pytest

from airflow_provider_vectorimport.prepare import prepare_files
from tests.test_prepare_helpers import ALL_TYPES_SCHEMA, make_rows, numpy_schema

bulk_writer = pytest.importorskip("pymilvus.bulk_writer", reason="needs pymilvus[bulk_writer]")
from pymilvus import CollectionSchema, DataType, FieldSchema  # noqa: E402

logging.getLogger("pymilvus").setLevel(logging.WARNING)

_TYPES = {
    "Bool": DataType.BOOL,
    "Int8": DataType.INT8,
    "Int16": DataType.INT16,
    "Int32": DataType.INT32,
    "Int64": DataType.INT64,
    "Float": DataType.FLOAT,
    "Double": DataType.DOUBLE,
    "VarChar": DataType.VARCHAR,
    "JSON": DataType.JSON,
    "Array": DataType.ARRAY,
    "FloatVector": DataType.FLOAT_VECTOR,
    "Float16Vector": DataType.FLOAT16_VECTOR,
    "BFloat16Vector": DataType.BFLOAT16_VECTOR,
    "BinaryVector": DataType.BINARY_VECTOR,
    "Int8Vector": DataType.INT8_VECTOR,
    "SparseFloatVector": DataType.SPARSE_FLOAT_VECTOR,
}


def pymilvus_schema(schema: dict) -> CollectionSchema:
    fields = []
    for f in schema["fields"]:
        params = {k: int(v) for k, v in (f.get("elementTypeParams") or {}).items()}
        kwargs = dict(params)
        if f.get("elementDataType"):
            kwargs["element_type"] = _TYPES[f["elementDataType"]]
        if f.get("nullable"):
            kwargs["nullable"] = True
        if "defaultValue" in f:
            kwargs["default_value"] = f["defaultValue"]
        fields.append(
            FieldSchema(f["fieldName"], _TYPES[f["dataType"]], is_primary=f.get("isPrimary", False), **kwargs)
        )
    return CollectionSchema(fields, enable_dynamic_field=schema.get("enableDynamicField", False))


def lbw_rows(rows: list[dict]) -> list[dict]:
    """LocalBulkWriter takes rows as the SDK does: default-valued fields present, sparse keys as ints."""
    out = []
    for r in rows:
        r = dict(r)
        r.setdefault("dv", 7)
        r["bv"] = np.array(r["bv"], dtype=np.uint8)  # bytes; a plain list means bits to the SDK
        # released pymilvus (v2.5.0 ... v3.0.1) takes half vectors as NumPy float16 / bfloat16 arrays
        # and writes their bytes; a plain float list is the master-only float input (pymilvus#3507)
        r["f16"] = np.asarray(r["f16"], dtype=np.float32).astype(np.float16)
        r["bf16"] = np.asarray(r["bf16"], dtype=np.float32).astype(ml_dtypes.bfloat16)
        if "sp" in r:
            r["sp"] = {int(k): v for k, v in r["sp"].items()}
        out.append(r)
    return out


def run_lbw(schema: dict, rows: list[dict], path, file_type) -> list[str]:
    writer = bulk_writer.LocalBulkWriter(
        schema=pymilvus_schema(schema), local_path=str(path), file_type=file_type
    )
    for row in lbw_rows(rows):
        writer.append_row(row)
    writer.commit()
    return [f for batch in writer.batch_files for f in batch]


def test_parquet_layout_matches_local_bulk_writer(tmp_path):
    rows = make_rows(20)
    theirs = run_lbw(ALL_TYPES_SCHEMA, rows, tmp_path / "lbw", bulk_writer.BulkFileType.PARQUET)
    ours = prepare_files(iter(rows), ALL_TYPES_SCHEMA, tmp_path / "ours", format="parquet")
    assert len(theirs) == 1 and theirs[0].endswith(".parquet")
    t_theirs = pq.read_table(theirs[0])
    t_ours = pq.read_table(os.path.join(ours["root"], ours["files"][0]["path"]))
    assert t_ours.column_names == t_theirs.column_names
    for name in t_ours.column_names:
        assert t_ours.schema.field(name).type == t_theirs.schema.field(name).type, name
    # same values, where both encode them the same way (JSON texts may differ in spacing)
    for name in (
        "id",
        "b",
        "i8",
        "i16",
        "i32",
        "f",
        "d",
        "s",
        "arr",
        "sarr",
        "fv",
        "f16",
        "bf16",
        "bv",
        "i8v",
        "ns",
        "dv",
    ):
        assert t_ours.column(name).to_pylist() == t_theirs.column(name).to_pylist(), name
    for name in ("j", "sp", "$meta"):
        assert [json.loads(x) for x in t_ours.column(name).to_pylist()] == [
            json.loads(x) for x in t_theirs.column(name).to_pylist()
        ], name


def test_numpy_layout_matches_local_bulk_writer(tmp_path):
    rows = make_rows(20, numpy_compatible=True)
    schema = numpy_schema()
    theirs = run_lbw(schema, rows, tmp_path / "lbw", bulk_writer.BulkFileType.NUMPY)
    ours = prepare_files(iter(rows), schema, tmp_path / "ours", format="numpy")
    assert len(ours["groups"]) == 1
    their_folder = os.path.dirname(theirs[0])
    assert os.path.basename(their_folder) == "1" and ours["groups"][0]["files"][0].startswith("1/")
    their_names = sorted(os.path.basename(p) for p in glob.glob(os.path.join(their_folder, "*.npy")))
    our_names = sorted(os.path.basename(p) for p in ours["groups"][0]["files"])
    assert our_names == their_names
    for name in our_names:
        a = np.load(os.path.join(ours["root"], "1", name))
        b = np.load(os.path.join(their_folder, name))
        assert a.shape == b.shape, name
        if a.dtype.kind == "U":  # unicode; the width follows the longest text, and JSON spacing differs
            assert b.dtype.kind == "U", name
        else:
            assert a.dtype == b.dtype, name
        if name in ("j.npy", "$meta.npy"):
            assert [json.loads(x) for x in a] == [json.loads(x) for x in b], name
        else:
            assert np.array_equal(a, b), name
