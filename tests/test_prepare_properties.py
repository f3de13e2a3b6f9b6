"""Property-based tests of ``prepare_files`` (Hypothesis): what passes is exactly what the services read.

* Random schemas over every supported type (nullable fields, defaults, dynamic fields, sparse and
  binary vectors, arrays, JSON) x random valid rows -> prepare -> read back as the services do
  (Parquet with pyarrow, NumPy folders with ``numpy.load``, JSON / JSON Lines with ``json``) and
  compared value for value.
* Random corruptions of valid rows (a null in a vector, a wrong dimension, NaN / Inf, an out-of-range
  integer, invalid UTF-8, a file cut mid-row) -> rejected, naming the right row and field, and nothing
  written.

Bounded for CI: fixed ``max_examples`` (40 per test), ``deadline=None``, ``derandomize=True`` (the
same examples on every run, no example database). A larger run:
``VECTORIMPORT_HYPOTHESIS_EXAMPLES=1000 pytest tests/test_prepare_properties.py``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from airflow_provider_vectorimport.prepare import PrepareError, prepare_files
from tests.test_prepare_helpers import _half_fields, as_half, decode_half_bytes

EXAMPLES = int(os.environ.get("VECTORIMPORT_HYPOTHESIS_EXAMPLES", "40"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

INT_RANGES = {"Int8": 2**7, "Int16": 2**15, "Int32": 2**31, "Int64": 2**63}
SCALARS = ["Bool", "Int8", "Int16", "Int32", "Int64", "Float", "Double", "VarChar"]
VECTORS = ["FloatVector", "Float16Vector", "BFloat16Vector", "Int8Vector", "BinaryVector"]
BAD = "\udcff"  # byte 0xff under surrogateescape: invalid UTF-8 once written

# ------------------------------------------------------------------------------------------------
# strategies: schemas and rows
# ------------------------------------------------------------------------------------------------
# no NUL: NumPy unicode arrays drop trailing NULs (numpy's format, not ours); no surrogates
TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=8)
FINITE32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=6,
)


@st.composite
def field_specs(draw: Any, name: str, *, numpy: bool, fast: bool) -> dict[str, Any]:
    kinds = SCALARS + VECTORS
    if not fast:
        kinds = [*kinds, "JSON"]
        if not numpy:
            kinds = [*kinds, "SparseFloatVector"]
    if not numpy:
        kinds = [*kinds, "Array"]
    t = draw(st.sampled_from(kinds))
    spec: dict[str, Any] = {"fieldName": name, "dataType": t}
    params: dict[str, Any] = {}
    if t in VECTORS:
        params["dim"] = draw(st.sampled_from([8, 16])) if t == "BinaryVector" else draw(st.integers(1, 6))
    if t == "VarChar":
        params["max_length"] = draw(st.integers(4, 40))
    if t == "Array":
        spec["elementDataType"] = draw(st.sampled_from(SCALARS))
        params["max_capacity"] = draw(st.integers(1, 4))
        if spec["elementDataType"] == "VarChar":
            params["max_length"] = draw(st.integers(4, 40))
    if params:
        spec["elementTypeParams"] = params
    if t not in VECTORS and t != "SparseFloatVector":
        if not numpy and draw(st.booleans()):
            spec["nullable"] = True
        if t in SCALARS and draw(st.integers(0, 3)) == 0:
            spec["defaultValue"] = draw(scalar_values(t, params.get("max_length")))
    return spec


@st.composite
def schemas(draw: Any, *, numpy: bool = False, fast: bool = False) -> dict[str, Any]:
    pk_type = draw(st.sampled_from(["Int64", "VarChar"]))
    pk: dict[str, Any] = {"fieldName": "pk", "dataType": pk_type, "isPrimary": True}
    if pk_type == "VarChar":
        pk["elementTypeParams"] = {"max_length": 24}
    auto_id = pk_type == "Int64" and draw(st.integers(0, 4)) == 0
    n = draw(st.integers(1, 6))
    fields = [draw(field_specs(f"f{i}", numpy=numpy, fast=fast)) for i in range(n)]
    if not any(f["dataType"] in VECTORS or f["dataType"] == "SparseFloatVector" for f in fields):
        fields.append(
            draw(field_specs("vec", numpy=True, fast=True).filter(lambda f: f["dataType"] in VECTORS))
        )
    dynamic = not fast and draw(st.booleans())
    return {"autoId": auto_id, "enableDynamicField": dynamic, "fields": [pk, *fields]}


def scalar_values(t: str, max_length: int | None = None) -> st.SearchStrategy[Any]:
    if t == "Bool":
        return st.booleans()
    if t in INT_RANGES:
        return st.integers(-INT_RANGES[t], INT_RANGES[t] - 1)
    if t == "Float":
        return FINITE32
    if t == "Double":
        return st.floats(allow_nan=False, allow_infinity=False)
    return TEXT.filter(lambda s: len(s.encode()) <= (max_length or 0))


def field_values(f: dict[str, Any]) -> st.SearchStrategy[Any]:
    t = f["dataType"]
    params = f.get("elementTypeParams", {})
    if t in SCALARS:
        return scalar_values(t, params.get("max_length"))
    if t == "JSON":
        return JSON_VALUES.filter(lambda v: v is not None)
    if t == "Array":
        return st.lists(
            scalar_values(f["elementDataType"], params.get("max_length")), max_size=params["max_capacity"]
        )
    dim = params.get("dim")
    if t == "FloatVector":
        return st.lists(FINITE32, min_size=dim, max_size=dim)
    if t == "BFloat16Vector":  # within bfloat16's range (its max, 3.3895e38, is below float32's)
        return st.lists(
            st.floats(float(np.float32(-3.38e38)), float(np.float32(3.38e38)), width=32),
            min_size=dim,
            max_size=dim,
        )
    if t == "Float16Vector":
        return st.lists(st.floats(-65504, 65504, width=32), min_size=dim, max_size=dim)
    if t == "Int8Vector":
        return st.lists(st.integers(-128, 127), min_size=dim, max_size=dim)
    if t == "BinaryVector":
        return st.lists(st.integers(0, 255), min_size=dim // 8, max_size=dim // 8)
    if t == "SparseFloatVector":
        return st.dictionaries(st.integers(0, 2**32 - 2), FINITE32, min_size=1, max_size=4)
    raise AssertionError(t)


@st.composite
def rows_for(draw: Any, schema: dict[str, Any], *, numpy: bool = False) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 6))
    rows = []
    for i in range(n):
        row: dict[str, Any] = {}
        for f in schema["fields"]:
            if f.get("isPrimary"):
                if not schema["autoId"]:
                    row["pk"] = i if f["dataType"] == "Int64" else f"k{i}"
                continue
            choice = draw(st.integers(0, 5))
            if choice == 0 and "defaultValue" in f:
                continue  # absent: the default applies
            if choice == 1 and f.get("nullable") and not numpy:
                row[f["fieldName"]] = None
                continue
            row[f["fieldName"]] = draw(field_values(f))
        if schema["enableDynamicField"]:
            extras = draw(st.dictionaries(st.sampled_from(["x", "y", "z"]), JSON_VALUES, max_size=2))
            row.update(extras)
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------------------------
# inputs and reading back as the services do
# ------------------------------------------------------------------------------------------------
def _write(tmp: str, reader: str, rows: list[dict[str, Any]], schema: dict[str, Any]) -> Any:
    if reader == "rows":
        return [dict(r) for r in rows]
    if reader == "jsonl":
        path = os.path.join(tmp, "in.jsonl")
        with open(path, "wb") as fh:
            fh.write(b"\n".join(_dump(r) for r in rows) + b"\n")
        return path
    if reader == "json":
        path = os.path.join(tmp, "in.json")
        with open(path, "wb") as fh:
            fh.write(b'{"rows": [' + b",\n".join(_dump(r) for r in rows) + b"]}")
        return path
    if reader in ("arrow", "parquet"):
        table = _arrow_input(rows, schema)
        if reader == "arrow":
            return table
        path = os.path.join(tmp, "in.parquet")
        pq.write_table(table, path)
        return path
    raise AssertionError(reader)


def _dump(row: dict[str, Any]) -> bytes:
    """A row as JSON text; NaN / Infinity (not JSON) are written as 1e999, which JSON readers take as
    infinity."""
    text = json.dumps(_no_nan(row), ensure_ascii=False).encode("utf-8", "surrogateescape")
    return text.replace(b'"__INF__"', b"1e999").replace(b'"__NINF__"', b"-1e999")


def _no_nan(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return "__NINF__" if v < 0 else "__INF__"
    if isinstance(v, list):
        return [_no_nan(x) for x in v]
    if isinstance(v, dict):
        return {k: _no_nan(x) for k, x in v.items()}
    return v


def _arrow_input(rows: list[dict[str, Any]], schema: dict[str, Any]) -> pa.Table:
    """Typed input as an upstream system would hold it (ints as int64, floats as float64)."""
    cols: dict[str, pa.Array] = {}
    for f in schema["fields"]:
        name, t = f["fieldName"], f["dataType"]
        if f.get("isPrimary") and schema["autoId"]:
            continue
        values = [r.get(name) for r in rows]
        if all(name not in r for r in rows):
            continue
        if t == "VarChar" or (t == "Array" and f["elementDataType"] == "VarChar"):
            cols[name] = _string_with_bad_bytes(values, nested=t == "Array")
            continue
        if t == "Bool":
            typ = pa.bool_()
        elif t in INT_RANGES or t in ("Int8Vector", "BinaryVector"):
            typ = pa.int64()
        elif t == "Array" and f["elementDataType"] == "Bool":
            typ = pa.bool_()
        elif t == "Array" and f["elementDataType"] in INT_RANGES:
            typ = pa.int64()
        else:
            typ = pa.float64()
        if t in VECTORS or t == "Array":
            typ = pa.list_(typ)
        cols[name] = pa.array(values, type=typ)
    return pa.table(cols)


def _string_with_bad_bytes(values: list[Any], *, nested: bool) -> pa.Array:
    """Strings (or lists of them) to Arrow; BAD becomes the raw byte 0xff (invalid UTF-8)."""

    def enc(v: Any) -> Any:
        if v is None:
            return None
        if isinstance(v, list):
            return [enc(x) for x in v]
        return v.encode("utf-8", "surrogateescape")

    raw = pa.array([enc(v) for v in values], type=pa.list_(pa.binary()) if nested else pa.binary())
    if nested:
        child = raw.values
        strings = pa.StringArray.from_buffers(
            len(child), child.buffers()[1], child.buffers()[2], child.buffers()[0]
        )
        return pa.ListArray.from_arrays(raw.offsets, strings, mask=raw.is_null())
    return pa.StringArray.from_buffers(len(raw), raw.buffers()[1], raw.buffers()[2], raw.buffers()[0])


def read_back(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    root, fmt = manifest["root"], manifest["format"]
    out: list[dict[str, Any]] = []
    for group in manifest["groups"]:
        if fmt == "parquet":
            for rel in group["files"]:
                out.extend(pq.read_table(os.path.join(root, rel)).to_pylist())
        elif fmt == "numpy":
            cols = {os.path.basename(rel)[:-4]: np.load(os.path.join(root, rel)) for rel in group["files"]}
            n = len(next(iter(cols.values())))
            out.extend(
                {k: (a[i].tolist() if a.ndim == 2 else a[i].item()) for k, a in cols.items()}
                for i in range(n)
            )
        else:
            for rel in group["files"]:
                with open(os.path.join(root, rel), encoding="utf-8") as fh:
                    text = fh.read()
                # JSON Lines are split at "\n" only (str.splitlines would also cut at U+2028 etc.)
                lines = [ln for ln in text.split("\n") if ln]
                out.extend(json.loads(text)["rows"] if fmt == "json" else map(json.loads, lines))
    for k, dt in _half_fields(manifest).items():  # 2 * dim bytes per row -> floats, as the readers do
        for r in out:
            if r.get(k) is not None:
                r[k] = decode_half_bytes(r[k], dt)
    return out


def _f32(x: float) -> float:
    return float(np.float32(x))


def expected_row(row: dict[str, Any], schema: dict[str, Any], fmt: str) -> dict[str, Any]:
    """What a service reads for ``row`` from ``fmt``: defaults applied, float32 where the column is,
    JSON / sparse / $meta as JSON text (Parquet, NumPy) or embedded (JSON writers)."""
    narrow = fmt in ("parquet", "numpy")
    text_json = fmt in ("parquet", "numpy")
    known = {f["fieldName"] for f in schema["fields"]}
    out: dict[str, Any] = {}
    for f in schema["fields"]:
        name, t = f["fieldName"], f["dataType"]
        if f.get("isPrimary") and schema["autoId"]:
            continue
        v = row.get(name)
        if v is None and "defaultValue" in f:
            v = f["defaultValue"]
        if v is None:
            out[name] = None
            continue
        if t == "Float" or (t == "Array" and f["elementDataType"] == "Float"):
            conv = _f32 if narrow else float
            v = [conv(x) for x in v] if t == "Array" else conv(v)
        elif t == "Double" or (t == "Array" and f["elementDataType"] == "Double"):
            v = [float(x) for x in v] if t == "Array" else float(v)
        elif t in ("Float16Vector", "BFloat16Vector") and narrow:
            v = as_half(v, t)  # 2 bytes per value in Parquet / NumPy (the readers' layout)
        elif t in ("FloatVector", "Float16Vector", "BFloat16Vector"):
            v = [_f32(x) if narrow else float(x) for x in v]
        elif t == "SparseFloatVector":
            v = {str(k): float(x) for k, x in v.items()}
        out[name] = ("JSON_TEXT", v) if text_json and t in ("JSON", "SparseFloatVector") else v
    if schema["enableDynamicField"]:
        extras = {k: v for k, v in row.items() if k not in known}
        out["$meta"] = ("JSON_TEXT", extras) if text_json else extras
    return out


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, tuple) and want and want[0] == "JSON_TEXT":
        return isinstance(got, str) and _same(json.loads(got), want[1])
    if isinstance(want, float):
        return isinstance(got, float) and (got == want or (math.isnan(got) and math.isnan(want)))
    if isinstance(want, bool) or want is None:
        return got is want or (got == want and type(got) is type(want))
    if isinstance(want, int):
        return isinstance(got, int) and not isinstance(got, bool) and got == want
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(map(_same, got, want))
    if isinstance(want, dict):
        return (
            isinstance(got, dict) and got.keys() == want.keys() and all(_same(got[k], want[k]) for k in want)
        )
    return got == want


def _assert_round_trip(rows: list[dict[str, Any]], schema: dict[str, Any], fmt: str, reader: str) -> None:
    tmp = tempfile.mkdtemp(prefix="vi-prop-")
    try:
        inputs = _write(tmp, reader, rows, schema)
        manifest = prepare_files(inputs, schema, os.path.join(tmp, "out"), format=fmt, threads=False)
        got = read_back(manifest)
        want = [expected_row(r, schema, fmt) for r in rows]
        assert manifest["total_rows"] == len(rows)
        assert len(got) == len(want)
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert g.keys() == w.keys(), (i, g, w)
            for k in w:
                assert _same(g[k], w[k]), f"row {i + 1}, field {k!r}: wrote {g[k]!r}, expected {w[k]!r}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------------------------------------
# valid rows round-trip exactly
# ------------------------------------------------------------------------------------------------
@SETTINGS
@given(
    data=st.data(),
    fmt=st.sampled_from(["parquet", "json", "jsonl"]),
    reader=st.sampled_from(["rows", "jsonl", "json"]),
)
def test_valid_rows_round_trip_exactly(data, fmt, reader):
    schema = data.draw(schemas())
    rows = data.draw(rows_for(schema))
    _assert_round_trip(rows, schema, fmt, reader)


@SETTINGS
@given(data=st.data(), reader=st.sampled_from(["rows", "jsonl", "json"]))
def test_valid_rows_round_trip_numpy(data, reader):
    schema = data.draw(schemas(numpy=True))
    rows = data.draw(rows_for(schema, numpy=True))
    _assert_round_trip(rows, schema, "numpy", reader)


@SETTINGS
@given(
    data=st.data(),
    fmt=st.sampled_from(["parquet", "numpy", "jsonl"]),
    reader=st.sampled_from(["arrow", "parquet", "jsonl"]),
)
def test_valid_rows_round_trip_on_the_fast_path(data, fmt, reader):
    """Typed inputs (and JSON Lines without JSON / sparse / dynamic fields) take the vectorised path."""
    schema = data.draw(schemas(numpy=fmt == "numpy", fast=True))
    rows = data.draw(rows_for(schema, numpy=fmt == "numpy"))
    _assert_round_trip(rows, schema, fmt, reader)


# ------------------------------------------------------------------------------------------------
# corruptions are rejected with the right row and field
# ------------------------------------------------------------------------------------------------
CORRUPTIONS = ["vector_null", "wrong_dim", "nan_inf", "int_range", "bad_utf8", "array_null", "truncate"]


def _applicable(kind: str, f: dict[str, Any]) -> bool:
    t = f["dataType"]
    if kind in ("vector_null", "wrong_dim"):
        return t in VECTORS
    if kind == "nan_inf":
        return t in ("FloatVector", "Float16Vector", "BFloat16Vector")
    if kind == "int_range":
        return (t in INT_RANGES and t != "Int64") or t == "Int8Vector"
    if kind == "bad_utf8":
        return t == "VarChar" or (t == "Array" and f["elementDataType"] == "VarChar")
    if kind == "array_null":
        return t == "Array"
    return False


def _corrupt(kind: str, f: dict[str, Any], v: Any, draw: Any) -> tuple[Any, str]:
    """The corrupted value and a fragment of the error message expected for it."""
    t = f["dataType"]
    if kind == "vector_null":
        i = draw(st.integers(0, len(v) - 1))
        return [*v[:i], None, *v[i + 1 :]], f"null value at index {i}"
    if kind == "wrong_dim":
        return [*v, v[0]], f"vector has {len(v) + 1} values"
    if kind == "nan_inf":
        i = draw(st.integers(0, len(v) - 1))
        return [*v[:i], draw(st.sampled_from([math.nan, math.inf, -math.inf])), *v[i + 1 :]], (
            f"NaN or infinite value at index {i}"
        )
    if kind == "int_range":
        if t == "Int8Vector":
            return [*v[:-1], 128], "not an integer in [-128, 127]"
        return INT_RANGES[t], "out of range"
    if kind == "bad_utf8":
        if t == "Array":
            return [*v[: f["elementTypeParams"]["max_capacity"] - 1], f"a{BAD}"], "invalid UTF-8"
        return f"a{BAD}", "invalid UTF-8"
    if kind == "array_null":
        return [*v[: f["elementTypeParams"]["max_capacity"] - 1], None], "null value"
    raise AssertionError(kind)


@st.composite
def corrupted_cases(
    draw: Any, reader: str
) -> tuple[dict[str, Any], list[dict[str, Any]], int, str | None, str]:
    fast = reader in ("arrow", "parquet", "jsonl_fast")
    schema = draw(schemas(fast=fast))
    rows = draw(rows_for(schema))
    while len(rows) < 2:
        rows = rows + draw(rows_for(schema))
    for n, r in enumerate(rows):
        if "pk" in r:
            r["pk"] = n if isinstance(r["pk"], int) else f"k{n}"
    r = draw(st.integers(0, len(rows) - 1))
    kinds = [
        (k, f)
        for k in CORRUPTIONS
        for f in schema["fields"]
        if _applicable(k, f) and rows[r].get(f["fieldName"]) is not None
    ]
    if reader in ("jsonl", "json"):
        kinds.append(("truncate", None))
    assume(kinds)
    kind, f = draw(st.sampled_from(kinds))
    if kind == "truncate" or f is None:
        return schema, rows, r, None, "truncate"
    value, fragment = _corrupt(kind, f, rows[r][f["fieldName"]], draw)
    rows[r][f["fieldName"]] = value
    return schema, rows, r, f["fieldName"], fragment


def _assert_rejected(schema, rows, r, field, fragment, reader, fmt):
    tmp = tempfile.mkdtemp(prefix="vi-prop-")
    try:
        if fragment == "truncate":
            src = _write(tmp, "jsonl" if reader.startswith("jsonl") else reader, rows, schema)
            data = open(src, "rb").read()
            # cut inside row r (1-based r + 1): keep the rows before it and part of it
            lines = data.split(b"\n") if src.endswith(".jsonl") else None
            if lines is not None:
                head = b"\n".join(lines[:r])
                cut = (head + b"\n" if r else b"") + lines[r][: max(1, len(lines[r]) // 2)]
                expect_row, fragment = r + 1, "malformed JSON"
            else:
                cut = data[: len(data) - 3]  # the rows array is not closed
                expect_row, fragment = None, "truncated"
            with open(src, "wb") as fh:
                fh.write(cut)
            inputs: Any = src
        else:
            inputs = _write(tmp, "jsonl" if reader.startswith("jsonl") else reader, rows, schema)
            expect_row = r + 1
        out = os.path.join(tmp, "out")
        with pytest.raises(PrepareError) as err:
            prepare_files(inputs, schema, out, format=fmt, threads=False)
        e = err.value.errors[0]
        if expect_row is not None:
            assert e.row == expect_row, str(e)
        assert e.field == field, str(e)
        assert fragment in e.message, str(e)
        assert not os.path.exists(out)
        assert not [n for n in os.listdir(tmp) if n.startswith(".")], os.listdir(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@SETTINGS
@given(
    data=st.data(),
    reader=st.sampled_from(["arrow", "parquet", "jsonl_fast"]),
    fmt=st.sampled_from(["parquet", "json"]),
)
def test_corruptions_rejected_on_the_fast_path(data, reader, fmt):
    schema, rows, r, field, fragment = data.draw(corrupted_cases(reader))
    _assert_rejected(schema, rows, r, field, fragment, reader, fmt)


@SETTINGS
@given(
    data=st.data(),
    reader=st.sampled_from(["rows", "jsonl", "json"]),
    fmt=st.sampled_from(["parquet", "jsonl"]),
)
def test_corruptions_rejected_on_every_path(data, reader, fmt):
    schema, rows, r, field, fragment = data.draw(corrupted_cases(reader))
    _assert_rejected(schema, rows, r, field, fragment, reader, fmt)


@SETTINGS
@given(data=st.data(), reader=st.sampled_from(["arrow", "jsonl_fast", "rows"]))
def test_null_in_vector_always_rejected(data, reader):
    """The mutation target: a null inside a dense vector, on the Arrow path and the row path."""
    schema = data.draw(schemas(fast=True))
    rows = data.draw(rows_for(schema))
    vec = next(f for f in schema["fields"] if f["dataType"] in VECTORS)
    r = data.draw(st.integers(0, len(rows) - 1))
    value, fragment = _corrupt("vector_null", vec, rows[r][vec["fieldName"]], data.draw)
    rows[r][vec["fieldName"]] = value
    for fmt in ("parquet", "json"):
        _assert_rejected(schema, rows, r, vec["fieldName"], fragment, reader, fmt)


@SETTINGS
@given(
    data=st.data(),
    reader=st.sampled_from(["rows", "arrow"]),
    fmt=st.sampled_from(["json", "jsonl"]),
    value=st.sampled_from([math.nan, math.inf, -math.inf]),
)
def test_json_output_rejects_numbers_it_cannot_hold(data, reader, fmt, value):
    """JSON has no NaN / Infinity: a JSON writer would turn them into null. Double / Float scalars and
    float arrays are checked for JSON output (Parquet keeps them, as IEEE floats)."""
    schema = data.draw(schemas(fast=True))
    floats = [
        f
        for f in schema["fields"]
        if f["dataType"] in ("Float", "Double")
        or (f["dataType"] == "Array" and f["elementDataType"] in ("Float", "Double"))
    ]
    assume(floats)
    rows = data.draw(rows_for(schema))
    f = data.draw(st.sampled_from(floats))
    r = data.draw(st.integers(0, len(rows) - 1))
    if f["dataType"] == "Array":
        if f["elementDataType"] == "Float" and math.isinf(value):
            value = math.nan  # an infinite Float element is out of range (float32) whatever the format
        rows[r][f["fieldName"]] = [value]
        fragment = "element 0: NaN or infinite value: JSON files cannot hold it"
    else:
        rows[r][f["fieldName"]] = value
        fragment = (
            "out of range for Float"
            if f["dataType"] == "Float" and math.isinf(value)
            else "NaN or infinite value: JSON files cannot hold it"
        )
    _assert_rejected(schema, rows, r, f["fieldName"], fragment, reader, fmt)
