"""Schema checks and conversion of record batches to the output column types.

The fast path works on whole Arrow batches (casts, ``pyarrow.compute`` and NumPy over the flat
vector values); only when a vectorised step fails does the slow path walk that batch row by row in
Python, to name the offending row and field exactly. Rows are numbered from 1 within each input file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from airflow_provider_vectorimport.prepare.errors import RowError, TooManyErrors
from airflow_provider_vectorimport.prepare.halffloat import (  # noqa: F401 - FLOAT16_MAX re-exported
    FLOAT16_MAX,
    HALF_FLOAT_VECTORS,
    decode_value,
    half_limit,
)
from airflow_provider_vectorimport.prepare.schema import (
    DENSE_FLOAT_VECTORS,
    FLOAT_TYPES,
    INT_RANGES,
    INT_TYPES,
    META_FIELD,
    CollectionSchema,
    FieldSpec,
)
from airflow_provider_vectorimport.prepare.texttypes import STRING_TYPES, check_string_type

try:  # orjson is much faster where available (pymilvus depends on it); json is the fallback
    import orjson

    def json_loads(data: str | bytes) -> Any:
        if type(data) not in (str, bytes):  # orjson takes exact str / bytes only
            data = str(data) if isinstance(data, str) else bytes(data)
        return orjson.loads(data)

    def json_dumps(value: Any) -> str:
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()

    JSONDecodeError: tuple[type[Exception], ...] = (orjson.JSONDecodeError, ValueError)
except ImportError:  # pragma: no cover
    json_loads = json.loads  # type: ignore[assignment]

    def json_dumps(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)

    JSONDecodeError = (json.JSONDecodeError, ValueError)

FLOAT32_MAX = float(np.finfo(np.float32).max)
_MISSING = object()


class ErrorSink:
    """Collects row errors; raises :class:`TooManyErrors` once the budget is spent."""

    def __init__(self, mode: str = "fail_fast", max_errors: int = 100) -> None:
        self.limit = 1 if mode == "fail_fast" else max(1, int(max_errors))
        self.errors: list[RowError] = []
        self.truncated = False

    def add(self, file: str, row: int | None, field: str | None, message: str) -> None:
        if len(self.errors) >= self.limit:
            self.truncated = True
            raise TooManyErrors
        self.errors.append(RowError(file, row, field, message))
        if len(self.errors) >= self.limit:
            self.truncated = True  # stopped at the limit: more errors may follow
            raise TooManyErrors

    def __bool__(self) -> bool:
        return bool(self.errors)


@dataclass(frozen=True)
class Context:
    schema: CollectionSchema
    wide_floats: bool = False  # keep float64 (JSON writers)
    allow_nulls: bool = True  # NumPy files cannot hold nulls
    check_duplicates: bool = False


# ---------------------------------------------------------------------------------------------
# Python (row-by-row) conversion: the reference semantics, used for dict rows and to locate errors
# ---------------------------------------------------------------------------------------------
def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool | np.bool_)


def _check_int(v: Any, data_type: str) -> int:
    if isinstance(v, bool | np.bool_) or not isinstance(v, int | np.integer):
        if isinstance(v, float | np.floating) and float(v).is_integer():
            v = int(v)
        else:
            raise ValueError(f"expected an integer ({data_type}), got {_show(v)}")
    lo, hi = INT_RANGES[data_type]
    v = int(v)
    if not lo <= v <= hi:
        raise ValueError(f"{v} is out of range for {data_type} [{lo}, {hi}]")
    return v


NOT_IN_JSON = "NaN or infinite value: JSON files cannot hold it (use Parquet)"


def _check_float(v: Any, data_type: str, finite: bool = False) -> float:
    if not _is_number(v):
        raise ValueError(f"expected a number ({data_type}), got {_show(v)}")
    v = float(v)
    if data_type == "Float" and abs(v) > FLOAT32_MAX:  # inf too, as on the vectorised path
        raise ValueError(f"{v} is out of range for Float (float32)")
    if finite and not math.isfinite(v):
        raise ValueError(NOT_IN_JSON)
    return v


def utf8_problem(v: str) -> str | None:
    """Why ``v`` cannot be written as UTF-8 (a lone surrogate, e.g. from bytes decoded with
    ``surrogateescape``), or ``None`` when it can."""
    try:
        v.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"invalid UTF-8 in string (undecodable data at character {exc.start})"
    return None


def _json_problem(v: Any, depth: int = 0) -> str | None:
    """What in a JSON-like value cannot be written as JSON, described: a string that is not valid
    UTF-8, or a float JSON cannot hold (NaN / infinity, which the serialiser would write as null)."""
    if isinstance(v, str):
        return utf8_problem(v)
    if isinstance(v, float | np.floating) and not math.isfinite(v):
        return "NaN or infinite number (JSON cannot hold it)"
    if depth > 64:
        return None
    if isinstance(v, Mapping):
        for k, x in v.items():
            problem = _json_problem(k, depth + 1) if isinstance(k, str) else None
            problem = problem or _json_problem(x, depth + 1)
            if problem:
                return f"key {_show(k)}: {problem}"
    elif isinstance(v, list | tuple):
        for i, x in enumerate(v):
            problem = _json_problem(x, depth + 1)
            if problem:
                return f"element {i}: {problem}"
    return None


def _check_varchar(v: Any, max_length: int | None) -> str:
    if not isinstance(v, str):
        raise ValueError(f"expected a string (VarChar), got {_show(v)}")
    problem = utf8_problem(v)
    if problem:
        raise ValueError(problem)
    if max_length is not None:
        n = len(v.encode("utf-8"))
        if n > max_length:
            raise ValueError(f"string of {n} bytes exceeds max_length {max_length}")
    return v


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _scalar(data_type: str, v: Any, max_length: int | None, finite: bool = False) -> Any:
    if data_type == "Bool":
        if not isinstance(v, bool | np.bool_):
            raise ValueError(f"expected true or false (Bool), got {_show(v)}")
        return bool(v)
    if data_type in INT_TYPES:
        return _check_int(v, data_type)
    if data_type in FLOAT_TYPES:
        return _check_float(v, data_type, finite)
    return _check_varchar(v, max_length)


def _from_text(spec: FieldSpec, text: str) -> Any:
    """A CSV cell -> the Python value it stands for."""
    t = spec.data_type
    try:
        if t == "Bool":
            low = text.strip().lower()
            if low in ("true", "1"):
                return True
            if low in ("false", "0"):
                return False
            raise ValueError
        if t in INT_TYPES:
            return int(text)
        if t in FLOAT_TYPES:
            return float(text)
    except ValueError:
        raise ValueError(f"cannot read {_show(text)} as {t}") from None
    if t == "VarChar" or t in STRING_TYPES:
        return text
    if t == "JSON":
        return _JsonText(text)
    try:
        return json_loads(text)
    except JSONDecodeError:
        raise ValueError(f"malformed JSON in cell: {_show(text)}") from None


class _JsonText(str):
    """A string that already holds JSON text (from CSV / Parquet / Arrow string columns)."""


def convert_value(spec: FieldSpec, v: Any, *, wide_floats: bool = False) -> Any:
    """Check one non-null value against ``spec``; return it in the form the Arrow column takes.
    Raises ``ValueError`` with a message naming the problem."""
    t = spec.data_type
    if t in DENSE_FLOAT_VECTORS or t in ("Int8Vector", "BinaryVector"):
        if t in HALF_FLOAT_VECTORS:
            v = decode_value(v, t, spec.dim)  # bytes as pymilvus writes them -> float values
        if isinstance(v, bytes | bytearray) and t == "BinaryVector":
            v = list(v)
        if isinstance(v, np.ndarray):
            v = v.tolist()
        if not isinstance(v, list | tuple):
            raise ValueError(f"expected a list of numbers ({t}), got {_show(v)}")
        width = spec.vector_width
        if t == "BinaryVector" and len(v) == spec.dim and len(v) != width and all(x in (0, 1) for x in v):
            v = np.packbits(np.asarray(v, dtype=np.uint8)).tolist()  # the SDKs' list of bits
        if len(v) != width:
            unit = " bytes (dim/8)" if t == "BinaryVector" else ""
            raise ValueError(f"vector has {len(v)} values, expected dim {width}{unit}")
        if t in DENSE_FLOAT_VECTORS:
            limit = half_limit(t) if t in HALF_FLOAT_VECTORS else FLOAT32_MAX
            out = []
            for i, x in enumerate(v):
                if x is None:
                    raise ValueError(f"null value at index {i} (vectors cannot hold nulls)")
                if not _is_number(x):
                    raise ValueError(f"non-numeric value {_show(x)} at index {i}")
                x = float(x)
                if not math.isfinite(x):
                    raise ValueError(f"NaN or infinite value at index {i}")
                if abs(x) > limit:
                    raise ValueError(f"value {x} at index {i} is out of range for {t}")
                out.append(x)
            return out
        lo, hi = (-128, 127) if t == "Int8Vector" else (0, 255)
        for i, x in enumerate(v):
            if x is None:
                raise ValueError(f"null value at index {i} (vectors cannot hold nulls)")
            if isinstance(x, bool) or not isinstance(x, int | np.integer) or not lo <= x <= hi:
                raise ValueError(f"value {_show(x)} at index {i} is not an integer in [{lo}, {hi}]")
        return [int(x) for x in v]
    if t == "SparseFloatVector":
        if isinstance(v, _JsonText):
            v = json_loads(v)
        if not isinstance(v, Mapping):
            raise ValueError(f"expected an object {{index: value}} (SparseFloatVector), got {_show(v)}")
        if set(v) == {"indices", "values"}:
            if not isinstance(v["indices"], list) or not isinstance(v["values"], list):
                raise ValueError("'indices' and 'values' must be lists")
            if len(v["indices"]) != len(v["values"]):
                raise ValueError("'indices' and 'values' have different lengths")
            items = list(zip(v["indices"], v["values"], strict=True))
        else:
            items = list(v.items())
        out_sparse: dict[str, float] = {}
        for k, x in items:
            try:
                idx = int(k)
                if isinstance(k, float | bool) or idx < 0 or idx >= 2**32 - 1:
                    raise ValueError
            except (TypeError, ValueError):
                raise ValueError(f"sparse index {_show(k)} is not an integer in [0, 2^32-1)") from None
            if not _is_number(x) or not math.isfinite(float(x)):
                raise ValueError(f"sparse value at index {idx} is not a finite number: {_show(x)}")
            out_sparse[str(idx)] = float(x)
        return json_dumps(out_sparse)
    if t in STRING_TYPES:
        checked = check_string_type(t, v)
        problem = utf8_problem(checked)
        if problem:
            raise ValueError(problem)
        return checked
    if t == "JSON":
        if isinstance(v, _JsonText):
            try:
                json_loads(v)
            except JSONDecodeError:
                raise ValueError(f"malformed JSON text: {_show(str(v))}") from None
            return str(v)
        problem = _json_problem(v)
        if problem:
            raise ValueError(problem)
        try:
            return json_dumps(v)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"value is not JSON-serialisable: {exc}") from None
    if t == "Array":
        if isinstance(v, np.ndarray):
            v = v.tolist()
        if not isinstance(v, list | tuple):
            raise ValueError(f"expected a list (Array of {spec.element_type}), got {_show(v)}")
        if spec.max_capacity is not None and len(v) > spec.max_capacity:
            raise ValueError(f"array of {len(v)} elements exceeds max_capacity {spec.max_capacity}")
        out_arr = []
        for i, x in enumerate(v):
            if x is None:
                raise ValueError(f"element {i}: null value (array elements cannot be null)")
            try:
                out_arr.append(_scalar(spec.element_type or "", x, spec.max_length, wide_floats))
            except ValueError as exc:
                raise ValueError(f"element {i}: {exc}") from None
        return out_arr
    # wide_floats: the output is JSON, which has no NaN / Infinity (they would be written as null)
    return _scalar(t, v, spec.max_length, wide_floats)


def normalize_rows(
    rows: Iterable[Any],
    ctx: Context,
    sink: ErrorSink,
    file: str,
    first_row: int,
    *,
    text_cells: bool = False,
    json_text_strings: bool = False,
) -> pa.Table | None:
    """Check and convert Python rows (dicts). Returns the output table, or ``None`` after recording
    errors in ``sink``. ``text_cells``: values are CSV text; ``json_text_strings``: a ``str`` given for
    a JSON / sparse field is JSON text (Arrow / Parquet sources) rather than a JSON string value."""
    schema = ctx.schema
    fields = schema.data_fields
    columns: dict[str, list[Any]] = {f.name: [] for f in fields}
    meta: list[Any] = []
    known = {f.name for f in schema.fields}
    auto_pk = schema.primary.name if schema.auto_id else None
    failed = False
    for offset, row in enumerate(rows):
        rn = first_row + offset
        if not isinstance(row, Mapping):
            sink.add(file, rn, None, f"row is not a JSON object: {_show(row)}")
            failed = True
            continue
        row_failed = False
        for f in fields:
            v = row.get(f.name, _MISSING)
            if text_cells and isinstance(v, str) and v == "" and f.data_type not in ("VarChar", "Text"):
                v = None
            if v is _MISSING or v is None:
                if f.has_default:
                    v = f.default_value
                elif f.nullable and ctx.allow_nulls:
                    columns[f.name].append(None)
                    continue
                else:
                    if f.is_primary:
                        msg = "missing primary key"
                    elif f.nullable:
                        msg = "null value: NumPy files cannot hold nulls (use Parquet or JSON)"
                    else:
                        msg = (
                            "missing value for a non-nullable field"
                            if v is _MISSING
                            else "null value for a non-nullable field"
                        )
                    sink.add(file, rn, f.name, msg)
                    row_failed = True
                    continue
            else:
                try:
                    if text_cells and isinstance(v, str):
                        v = _from_text(f, v)
                    elif (
                        json_text_strings
                        and isinstance(v, str)
                        and f.data_type in ("JSON", "SparseFloatVector")
                    ):
                        v = _JsonText(v)
                    v = convert_value(f, v, wide_floats=ctx.wide_floats)
                except ValueError as exc:
                    sink.add(file, rn, f.name, str(exc))
                    row_failed = True
                    continue
            columns[f.name].append(v)
        extras: dict[str, Any] = {}
        for key, v in row.items():
            if key in known:
                if key == auto_pk and v is not None:
                    sink.add(
                        file,
                        rn,
                        key,
                        "the primary key is auto-id (autoId=true): it must be absent from the data",
                    )
                    row_failed = True
                continue
            if key == META_FIELD and schema.enable_dynamic_field:
                if isinstance(v, str) and (text_cells or json_text_strings):
                    try:
                        v = json_loads(v)
                    except JSONDecodeError:
                        v = None
                if not isinstance(v, Mapping):
                    sink.add(file, rn, key, "'$meta' must be a JSON object")
                    row_failed = True
                    continue
                extras.update(v)
            elif schema.enable_dynamic_field:
                extras[key] = v
            else:
                sink.add(
                    file, rn, key, "unknown field (the schema has no such field and dynamic fields are off)"
                )
                row_failed = True
        if schema.enable_dynamic_field:
            bad_keys = [k for k, x in extras.items() if _json_problem(k) or _json_problem(x)]
            if bad_keys:
                key = bad_keys[0]
                problem = _json_problem(key) or _json_problem(extras[key])
                sink.add(file, rn, str(key).encode("utf-8", "replace").decode(), str(problem))
                row_failed = True
            else:
                try:
                    meta.append(json_dumps(extras))
                except (TypeError, ValueError) as exc:
                    sink.add(file, rn, META_FIELD, f"dynamic field values are not JSON-serialisable: {exc}")
                    row_failed = True
        failed = failed or row_failed
    if failed:
        return None
    arrays = [pa.array(columns[f.name], type=f.arrow_type(ctx.wide_floats)) for f in fields]
    names = [f.name for f in fields]
    if schema.enable_dynamic_field:
        arrays.append(pa.array(meta, type=pa.string()))
        names.append(META_FIELD)
    return pa.Table.from_arrays(arrays, names=names)


# ---------------------------------------------------------------------------------------------
# Arrow (vectorised) path
# ---------------------------------------------------------------------------------------------
_NP_TYPES = {
    pa.int8(): np.int8,
    pa.int16(): np.int16,
    pa.int32(): np.int32,
    pa.int64(): np.int64,
    pa.uint8(): np.uint8,
    pa.float16(): np.float16,
    pa.float32(): np.float32,
    pa.float64(): np.float64,
}


def to_numpy(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A fixed-width Arrow array as NumPy, read straight off its buffers (values at null slots are
    undefined). pyarrow's own ``to_numpy`` imports pandas, ~1 s and ~60 MB we do not need."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    n, off = len(arr), arr.offset
    if pa.types.is_boolean(arr.type):
        bits = np.frombuffer(arr.buffers()[1], dtype=np.uint8)
        return np.unpackbits(bits, bitorder="little")[off : off + n].astype(bool)
    dtype = _NP_TYPES.get(arr.type)
    if dtype is None:
        return np.asarray(arr.to_pylist())
    buf = arr.buffers()[1]
    if buf is None:
        return np.zeros(n, dtype=dtype)
    return np.frombuffer(buf, dtype=dtype, count=off + n)[off:]


def valid_mask(arr: pa.Array) -> np.ndarray:
    """True where ``arr`` is not null."""
    if arr.null_count == 0:
        return np.ones(len(arr), dtype=bool)
    if arr.buffers()[0] is None:  # a NullArray
        return np.zeros(len(arr), dtype=bool)
    bits = np.frombuffer(arr.buffers()[0], dtype=np.uint8)
    return np.unpackbits(bits, bitorder="little")[arr.offset : arr.offset + len(arr)].astype(bool)


class NeedRowCheck(Exception):
    """A vectorised conversion failed; the batch must be walked row by row to name the error."""


def _rows_where(mask: Any) -> np.ndarray:
    if isinstance(mask, pa.Array | pa.ChunkedArray):
        if isinstance(mask, pa.ChunkedArray):
            mask = mask.combine_chunks()
        return np.flatnonzero(to_numpy(mask) & valid_mask(mask))
    return np.flatnonzero(np.asarray(mask))


def _report(sink: ErrorSink, file: str, first_row: int, rows: np.ndarray, field: str, message: Any) -> None:
    for r in rows[: sink.limit]:
        msg = message(int(r)) if callable(message) else message
        sink.add(file, first_row + int(r), field, msg)


def _parse_json_text_column(col: pa.Array, target: pa.DataType) -> pa.Array:
    """Vectors / arrays written as JSON text (CSV cells) -> a typed list column, vectorised through
    pyarrow's JSON reader. Raises NeedRowCheck when any cell does not parse."""
    import pyarrow.json as pj

    if len(col) == 0:
        return pa.array([], type=target)
    filled = pc.fill_null(col, "null")
    body = b"\n".join(b'{"v":' + s.encode() + b"}" for s in filled.to_pylist())
    try:
        table = pj.read_json(
            pa.BufferReader(body),
            read_options=pj.ReadOptions(block_size=max(1 << 20, len(body) + 1)),
            parse_options=pj.ParseOptions(explicit_schema=pa.schema([("v", target)])),
        )
    except pa.ArrowInvalid:
        raise NeedRowCheck from None
    if table.num_rows != len(col):
        raise NeedRowCheck
    return table.column("v").combine_chunks()


def conform_table(
    table: pa.Table, ctx: Context, sink: ErrorSink, file: str, first_row: int, *, text_cells: bool = False
) -> pa.Table | None:
    """Cast a batch to the output schema and run the vectorised checks. Returns ``None`` after
    recording errors; raises :class:`NeedRowCheck` when only a row-by-row walk can name the error."""
    schema = ctx.schema
    n = table.num_rows
    names = set(table.column_names)
    out: list[pa.Array] = []
    out_names: list[str] = []
    if _check_utf8(table, sink, file, first_row):
        return None
    failed = False
    if schema.auto_id and schema.primary.name in names:
        col = table.column(schema.primary.name)
        if col.null_count < n:
            raise NeedRowCheck
    for f in schema.data_fields:
        target = f.arrow_type(ctx.wide_floats)
        if f.name not in names:
            if f.has_default:
                col = pa.array([f.default_value] * n, type=target)
            elif f.nullable and ctx.allow_nulls:
                col = pa.nulls(n, type=target)
            else:
                if n:
                    sink.add(
                        file,
                        first_row,
                        f.name,
                        "missing primary key" if f.is_primary else "missing value for a non-nullable field",
                    )
                failed = True
                continue
            out.append(col)
            out_names.append(f.name)
            continue
        col = table.column(f.name).combine_chunks()
        if text_cells and f.data_type not in ("VarChar", "Text"):
            col = pc.if_else(pc.equal(col, ""), pa.scalar(None, col.type), col)
        col = _cast_column(col, f, target, text_cells)
        if col.null_count:
            if f.has_default:
                col = pc.fill_null(col, pa.scalar(f.default_value, type=target))
            elif not (f.nullable and ctx.allow_nulls):
                bad = _rows_where(pc.is_null(col))
                if f.is_primary:
                    msg = "missing primary key"
                elif f.nullable:
                    msg = "null value: NumPy files cannot hold nulls (use Parquet or JSON)"
                else:
                    msg = "missing or null value for a non-nullable field"
                _report(sink, file, first_row, bad, f.name, msg)
                failed = True
        if _check_column(col, f, sink, file, first_row, json_out=ctx.wide_floats):
            failed = True
        out.append(col)
        out_names.append(f.name)
    extras = [c for c in table.column_names if c not in {f.name for f in schema.fields}]
    if schema.enable_dynamic_field:
        if extras:
            raise NeedRowCheck  # build $meta row by row (rare, and Python objects anyway)
        out.append(pa.array(["{}"] * n, type=pa.string()))
        out_names.append(META_FIELD)
    elif extras:
        for name in extras:
            col = table.column(name)
            if col.null_count < n:
                bad = _rows_where(pc.is_valid(col))
                _report(
                    sink,
                    file,
                    first_row,
                    bad[:1],
                    name,
                    "unknown field (the schema has no such field and dynamic fields are off)",
                )
                failed = True
    if failed:
        return None
    return pa.Table.from_arrays(out, names=out_names)


def _has_strings(t: pa.DataType) -> bool:
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return True
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return _has_strings(t.value_type)
    if pa.types.is_struct(t):
        return any(_has_strings(t.field(i).type) for i in range(t.num_fields))
    return False


def _check_utf8(table: pa.Table, sink: ErrorSink, file: str, first_row: int) -> bool:
    """String data that is not valid UTF-8 (Parquet / Arrow / JSON readers do not check it): name the
    row and field instead of writing it into Parquet as is or failing later with a bare
    ``UnicodeDecodeError``. True when errors were recorded."""
    failed = False
    for name, col in zip(table.column_names, table.columns, strict=True):
        if not _has_strings(col.type):
            continue
        try:
            col.validate(full=True)  # Arrow's (SIMD) UTF-8 validation; cheap when the data is fine
            continue
        except pa.ArrowInvalid:
            pass
        bad = _invalid_utf8_rows(col.combine_chunks())
        for row, detail in bad[: sink.limit]:
            sink.add(file, first_row + row, name, f"invalid UTF-8 in string{detail}")
        failed = failed or bool(bad)
    return failed


def _invalid_utf8_rows(col: pa.Array) -> list[tuple[int, str]]:
    """(row, detail) of the values of ``col`` holding invalid UTF-8 (slow path, only after a failure)."""
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        binary = col.cast(pa.large_binary() if pa.types.is_large_string(t) else pa.binary())
        out = []
        for i, v in enumerate(binary.to_pylist()):
            if v is None:
                continue
            try:
                v.decode("utf-8")
            except UnicodeDecodeError as exc:
                out.append((i, f" (undecodable byte at offset {exc.start})"))
        return out
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        flat = pc.list_flatten(col)
        parents = to_numpy(pc.list_parent_indices(col))
        offsets = to_numpy(col.offsets) if not pa.types.is_fixed_size_list(t) else None
        rows: dict[int, str] = {}
        for i, detail in _invalid_utf8_rows(flat):
            r = int(parents[i])
            if r not in rows:
                index = i - int(offsets[r] - offsets[0]) if offsets is not None else i - r * t.list_size
                rows[r] = f" at element {index}{detail}"
        return sorted(rows.items())
    if pa.types.is_struct(t):
        rows2: dict[int, str] = {}
        for i in range(t.num_fields):
            for r, detail in _invalid_utf8_rows(col.field(i)):
                rows2.setdefault(r, f" (key {t.field(i).name!r}){detail}")
        return sorted(rows2.items())
    return []


def _cast_column(col: pa.Array, f: FieldSpec, target: pa.DataType, text_cells: bool) -> pa.Array:
    t = f.data_type
    if t in ("JSON", "SparseFloatVector"):
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            if t == "JSON":
                for s in col.to_pylist():
                    if s is not None:
                        try:
                            json_loads(s)
                        except JSONDecodeError:
                            raise NeedRowCheck from None
                return col.cast(pa.string())
        raise NeedRowCheck  # objects / sparse: normalised row by row
    if text_cells and (
        pa.types.is_string(col.type)
        and t not in ("VarChar", "Bool")
        and t not in INT_TYPES | FLOAT_TYPES
        and t not in STRING_TYPES
    ):
        col = _parse_json_text_column(col, target)
    if col.type == target:
        return col
    try:
        if pa.types.is_floating(_value_type(target)):
            if pa.types.is_string(col.type):
                return col.cast(target)
            return col.cast(target, safe=False)  # float64 -> float32: overflow shows as inf, checked after
        return col.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        raise NeedRowCheck from None


def _value_type(t: pa.DataType) -> pa.DataType:
    return t.value_type if pa.types.is_list(t) else t


def _lengths(lengths: pa.Array) -> np.ndarray:
    """Arrow lengths -> int64 NumPy, -1 for nulls. (NumPy, not ``pc`` with Python scalars: turning a
    Python scalar into Arrow makes pyarrow import pandas, which costs ~1 s and ~60 MB.)"""
    arr = to_numpy(lengths).astype(np.int64)
    if lengths.null_count:
        arr[~valid_mask(lengths)] = -1
    return arr


def _check_column(
    col: pa.Array, f: FieldSpec, sink: ErrorSink, file: str, first_row: int, *, json_out: bool = False
) -> bool:
    """Vectorised checks of an already typed column; True when errors were recorded. ``json_out``:
    the output is JSON, which cannot hold NaN or infinity."""
    t = f.data_type
    failed = False
    if t == "VarChar" and f.max_length is not None:
        lens = _lengths(pc.binary_length(col))
        bad = np.flatnonzero(lens > f.max_length)
        if len(bad):
            _report(
                sink,
                file,
                first_row,
                bad,
                f.name,
                lambda r: f"string of {int(lens[r])} bytes exceeds max_length {f.max_length}",
            )
            failed = True
    elif t in ("Timestamptz", "Geometry"):
        failed = _check_string_values(col, f, sink, file, first_row)
    elif t in FLOAT_TYPES:
        vals = to_numpy(col)
        valid = valid_mask(col)  # the values under nulls are undefined
        too_big = np.zeros(len(vals), dtype=bool)
        if t == "Float":
            with np.errstate(invalid="ignore"):
                too_big = (np.abs(vals) > FLOAT32_MAX if col.type == pa.float64() else np.isinf(vals)) & valid
            bad = np.flatnonzero(too_big)
            if len(bad):
                _report(sink, file, first_row, bad, f.name, "value is out of range for Float (float32)")
                failed = True
        if json_out:
            bad = np.flatnonzero(~np.isfinite(vals) & valid & ~too_big)
            if len(bad):
                _report(sink, file, first_row, bad, f.name, NOT_IN_JSON)
                failed = True
    elif t == "Array":
        failed = _check_null_elements(col, f, sink, file, first_row)
        lens = _lengths(pc.list_value_length(col))
        bad = np.flatnonzero(lens > (f.max_capacity or 0))
        if len(bad):
            _report(
                sink,
                file,
                first_row,
                bad,
                f.name,
                lambda r: f"array of {int(lens[r])} elements exceeds max_capacity {f.max_capacity}",
            )
            failed = True
        if f.element_type == "VarChar" and f.max_length is not None:
            flat = pc.list_flatten(col)
            over = np.flatnonzero(_lengths(pc.binary_length(flat)) > f.max_length)
            if len(over):
                parents = to_numpy(pc.list_parent_indices(col))
                rows = np.unique(parents[over])
                _report(sink, file, first_row, rows, f.name, f"an element exceeds max_length {f.max_length}")
                failed = True
        if f.element_type == "Float":
            failed = _check_finite_range(col, f, sink, file, first_row, FLOAT32_MAX, finite=False) or failed
        if f.element_type in FLOAT_TYPES and json_out and not failed:
            flat = pc.list_flatten(col)
            values = to_numpy(flat)
            nonfinite = np.flatnonzero(~np.isfinite(values) & valid_mask(flat))
            if len(nonfinite):
                parents = to_numpy(pc.list_parent_indices(col))
                offsets = to_numpy(col.offsets)

                def message(r: int) -> str:
                    first = nonfinite[np.searchsorted(parents[nonfinite], r)]
                    return f"element {int(first - (offsets[r] - offsets[0]))}: {NOT_IN_JSON}"

                _report(sink, file, first_row, np.unique(parents[nonfinite]), f.name, message)
                failed = True
    elif f.vector_width is not None:
        failed = _check_null_elements(col, f, sink, file, first_row)
        lens = _lengths(pc.list_value_length(col))
        bad = np.flatnonzero((lens != f.vector_width) & (lens >= 0))
        if len(bad) and t == "BinaryVector":
            raise NeedRowCheck  # maybe lists of dim bits, which the row path packs
        if len(bad):
            unit = " bytes (dim/8)" if t == "BinaryVector" else ""
            _report(
                sink,
                file,
                first_row,
                bad,
                f.name,
                lambda r: f"vector has {int(lens[r])} values, expected dim {f.vector_width}{unit}",
            )
            failed = True
        if t in DENSE_FLOAT_VECTORS:
            limit = half_limit(t) if t in HALF_FLOAT_VECTORS else FLOAT32_MAX
            failed = _check_finite_range(col, f, sink, file, first_row, limit, finite=True) or failed
    return failed


def _check_string_values(col: pa.Array, f: FieldSpec, sink: ErrorSink, file: str, first_row: int) -> bool:
    """Timestamptz / Geometry strings parsed one by one (the readers parse each); True on errors."""
    failed = False
    for r, value in enumerate(col.to_pylist()):
        if value is None:
            continue
        try:
            check_string_type(f.data_type, value)
        except ValueError as exc:
            sink.add(file, first_row + r, f.name, str(exc))
            failed = True
    return failed


def _check_null_elements(col: pa.Array, f: FieldSpec, sink: ErrorSink, file: str, first_row: int) -> bool:
    """A null inside a vector or an array (``[0.1, null, 0.3]``): the row path rejects it, so must this
    one (NumPy / JSON output would write the undefined value under the null, Parquet the null itself)."""
    flat = pc.list_flatten(col)
    if flat.null_count == 0:
        return False
    nulls = np.flatnonzero(~valid_mask(flat))
    parents = to_numpy(pc.list_parent_indices(col))
    offsets = to_numpy(col.offsets)
    rows = np.unique(parents[nulls])

    def message(r: int) -> str:
        first = nulls[np.searchsorted(parents[nulls], r)]
        index = int(first - (offsets[r] - offsets[0]))
        if f.data_type == "Array":
            return f"element {index}: null value (array elements cannot be null)"
        return f"null value at index {index} (vectors cannot hold nulls)"

    _report(sink, file, first_row, rows, f.name, message)
    return True


def _check_finite_range(
    col: pa.Array, f: FieldSpec, sink: ErrorSink, file: str, first_row: int, limit: float, *, finite: bool
) -> bool:
    flat = pc.list_flatten(col)
    values = to_numpy(flat)
    if values.dtype == np.float32 and limit >= FLOAT32_MAX:
        ok = np.isfinite(values) if finite else ~np.isinf(values)
    else:
        with np.errstate(invalid="ignore"):
            ok = np.abs(values) <= limit
        if not finite:
            ok |= np.isnan(values)
    if flat.null_count:
        ok |= ~valid_mask(flat)  # nulls are reported by _check_null_elements
    if ok.all():
        return False
    bad_values = np.flatnonzero(~ok)
    parents = to_numpy(pc.list_parent_indices(col))
    offsets = to_numpy(col.offsets)
    rows = np.unique(parents[bad_values])

    def message(r: int) -> str:
        first_bad = bad_values[np.searchsorted(parents[bad_values], r)]
        index = int(first_bad - (offsets[r] - offsets[0]))
        x = float(values[first_bad])
        if not math.isfinite(x):
            return f"NaN or infinite value at index {index}"
        return f"value {x} at index {index} is out of range for {f.data_type}"

    _report(sink, file, first_row, rows, f.name, message)
    return True


class DuplicateChecker:
    """Optional: primary keys repeated within one run (memory grows with the number of keys)."""

    def __init__(self, field: str) -> None:
        self.field = field
        self.seen: dict[Any, tuple[str, int]] = {}

    def check(self, table: pa.Table, sink: ErrorSink, file: str, first_row: int) -> bool:
        failed = False
        for i, key in enumerate(table.column(self.field).to_pylist()):
            prev = self.seen.get(key)
            if prev is not None:
                sink.add(
                    file,
                    first_row + i,
                    self.field,
                    f"duplicate primary key {key!r} (first seen in {prev[0]}, row {prev[1]})",
                )
                failed = True
            else:
                self.seen[key] = (file, first_row + i)
        return failed
