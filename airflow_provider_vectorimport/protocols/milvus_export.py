"""Export from Milvus / Zilliz Cloud by a primary-key cursor over the REST v2 query call (pure: no I/O).

The call (Milvus ``request_v2.go`` ``QueryReqV2``; docs "Query (V2)"):
``POST /v2/vectordb/entities/query`` ``{"dbName", "collectionName", "partitionNames", "outputFields",
"filter", "limit", "offset"}``, answered ``{"code": 0, "data": [rows]}``. ``outputFields: ["count(*)"]``
answers ``[{"count(*)": n}]``. ``limit`` (+ ``offset``) is at most 16,384 (the query result window).
The SDK references say "the order of the returned entities cannot be guaranteed", so nothing here
relies on an order: the key space is cut into windows ``lo < pk <= hi`` that hold at most ``page_rows``
rows (counted), and each window is read with ``limit = page_rows + 1``. A query that returns fewer
rows than its limit returned every row of its window, so a window is accepted only then; windows are
disjoint and cover the whole key space in order, so no row is skipped or repeated and the export is
ordered by primary key. A window holding too many rows is split at its midpoint (integers: the
arithmetic mean; strings: the code-point midpoint) and the halves are read left to right.

Concurrent writes (documented in ``docs/migration.md``): a row that exists for the whole export is
written exactly once; a row inserted or deleted during the export is included iff it was present when
its window was read; an upsert of a row whose window was already read is exported in its old version.
With the collection's default (Bounded) consistency a write of the last seconds may not be visible yet.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from airflow_provider_vectorimport.exceptions import ConfigurationError
from airflow_provider_vectorimport.prepare.schema import META_FIELD, CollectionSchema, FieldSpec

QUERY_PATH = "/v2/vectordb/entities/query"
DESCRIBE_PATH = "/v2/vectordb/collections/describe"
PARTITIONS_PATH = "/v2/vectordb/partitions/list"
PARTITION_STATS_PATH = "/v2/vectordb/partitions/get_stats"
#: Milvus' query result window: offset + limit <= 16384
MAX_QUERY_WINDOW = 16384
MAX_PAGE_ROWS = MAX_QUERY_WINDOW - 1  # each window is read with limit page_rows + 1
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MANIFEST_NAME = "_vectorimport_export.json"
MANIFEST_FORMAT = "vectorimport-milvus-export"
FILE_TYPES = ("parquet", "json")
INT_PK_TYPES = ("Int64", "Int32", "Int16", "Int8")
STRING_PK_TYPES = ("VarChar", "String")


class ExportError(ConfigurationError):
    """The export cannot go on (bad input, a changed schema, an answer the documents do not give)."""


# ---- request bodies -----------------------------------------------------------------------------
def query_body(
    collection: str,
    *,
    filter: str,
    limit: int,
    output_fields: Sequence[str] | None = None,
    partitions: Sequence[str] | None = None,
    db_name: str | None = None,
) -> dict[str, Any]:
    """The body of one ``entities/query`` call."""
    if not 1 <= int(limit) <= MAX_QUERY_WINDOW:
        raise ExportError(f"query limit must be in [1, {MAX_QUERY_WINDOW}], got {limit}")
    body: dict[str, Any] = {
        "collectionName": collection,
        "dbName": db_name or "default",
        "filter": filter,
        "limit": int(limit),
        "outputFields": list(output_fields) if output_fields else ["*"],
    }
    if partitions:
        body["partitionNames"] = list(partitions)
    return body


def count_body(
    collection: str, *, filter: str, partitions: Sequence[str] | None = None, db_name: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "collectionName": collection,
        "dbName": db_name or "default",
        "filter": filter,
        "outputFields": ["count(*)"],
    }
    if partitions:
        body["partitionNames"] = list(partitions)
    return body


def parse_count(data: Any, where: str) -> int:
    if isinstance(data, list) and data and isinstance(data[0], Mapping) and "count(*)" in data[0]:
        return int(data[0]["count(*)"])
    raise ExportError(f"{where}: a count(*) query answered {str(data)[:200]!r}, not [{{'count(*)': n}}]")


def parse_rows(data: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(data, list) or not all(isinstance(r, Mapping) for r in data):
        raise ExportError(f"{where}: the query answered {str(data)[:200]!r}, not a list of rows")
    return [dict(r) for r in data]


# ---- key windows --------------------------------------------------------------------------------
def pk_kind(schema: CollectionSchema, collection: str) -> str:
    """``"int"`` or ``"str"``: how the primary key is compared and split."""
    pk = schema.primary
    if pk.data_type in INT_PK_TYPES:
        return "int"
    if pk.data_type in STRING_PK_TYPES:
        return "str"
    raise ExportError(
        f"collection {collection!r}: primary key {pk.name!r} of type {pk.data_type} cannot be scanned"
    )


def literal(value: Any, kind: str) -> str:
    """A key as a Milvus expression literal (strings double-quoted, JSON-escaped)."""
    if kind == "int":
        return str(int(value))
    return json.dumps(str(value), ensure_ascii=False)


def window_filter(pk: str, kind: str, lo: Any, hi: Any, user_filter: str = "") -> str:
    """``pk > lo and pk <= hi`` (either side open when None), and the user's filter."""
    parts = []
    if lo is not None:
        parts.append(f"{pk} > {literal(lo, kind)}")
    if hi is not None:
        parts.append(f"{pk} <= {literal(hi, kind)}")
    if user_filter and user_filter.strip():
        parts.append(f"({user_filter.strip()})")
    return " and ".join(parts)


_STR_BASE = 0x110000
_SURROGATES = range(0xD800, 0xE000)


def _digits_to_int(s: str, n: int) -> int:
    value = 0
    for i in range(n):
        value = value * _STR_BASE + (ord(s[i]) if i < len(s) else 0)
    return value


def string_midpoint(lo: str | None, hi: str) -> str | None:
    """A string ``m`` with ``lo < m < hi`` (code-point order, which is UTF-8 byte order), or None."""
    lo = lo or ""
    if not lo < hi:
        return None
    n = max(len(lo), len(hi)) + 1
    total = (_digits_to_int(lo, n) + _digits_to_int(hi, n)) // 2
    digits = []
    for _ in range(n):
        total, d = divmod(total, _STR_BASE)
        digits.append(d)
    chars = []
    for d in reversed(digits):
        if d in _SURROGATES:  # not a character: the next valid one, then stop
            chars.append(chr(0xE000))
            break
        if d < 0x20 and chars:  # control characters need escapes Milvus' parser rejects (\\u)
            chars.append(" ")
            break
        chars.append(chr(d))
    mid = "".join(chars).rstrip("\x00")
    return mid if lo < mid < hi else None


def midpoint(lo: Any, hi: Any, kind: str) -> Any:
    """A key strictly inside ``(lo, hi)`` splitting the window, or None when there is none."""
    if kind == "int":
        low = INT64_MIN - 1 if lo is None else int(lo)
        mid = (low + int(hi)) // 2
        return mid if low < mid < int(hi) else None
    return string_midpoint(lo, str(hi))


def key_sort(rows: list[dict[str, Any]], pk: str) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: r[pk])


# ---- rows -> Arrow --------------------------------------------------------------------------------
def export_fields(schema: CollectionSchema) -> tuple[FieldSpec, ...]:
    """Every field, the primary key included even when it is auto-generated (ids move intact)."""
    return schema.fields


def export_arrow_schema(schema: CollectionSchema) -> pa.Schema:
    """The Parquet schema of every part: the fields in collection order (JSON and sparse vectors as
    JSON text, float16/bfloat16 vectors as float32 lists), then ``$meta`` (the dynamic fields as one
    JSON object) when the collection has dynamic fields."""
    cols = [pa.field(f.name, f.arrow_type(), nullable=True) for f in export_fields(schema)]
    if schema.enable_dynamic_field:
        cols.append(pa.field(META_FIELD, pa.string()))
    return pa.schema(cols)


def _bytes(value: Any, where: str) -> bytes:
    if isinstance(value, str):  # Go encodes []byte as base64 in JSON
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            raise ExportError(f"{where}: {value[:40]!r} is not base64") from None
    if isinstance(value, list) and all(isinstance(b, int) for b in value):
        return bytes(value)
    raise ExportError(f"{where}: expected bytes (base64 or a list of bytes), got {type(value).__name__}")


def _half_floats(value: Any, kind: str, dim: int | None, where: str) -> list[float]:
    if isinstance(value, list) and all(isinstance(x, int | float) for x in value) and len(value) == dim:
        return [float(x) for x in value]
    raw = _bytes(value, where)
    if dim is not None and len(raw) != 2 * dim:
        raise ExportError(f"{where}: {len(raw)} bytes for a {kind} of dim {dim} (expected {2 * dim})")
    halves = struct.unpack(f"<{len(raw) // 2}H", raw)
    if kind == "Float16Vector":
        return list(struct.unpack(f"<{len(halves)}e", raw))
    return [struct.unpack("<f", struct.pack("<I", h << 16))[0] for h in halves]


def _sparse_text(value: Any, where: str) -> str:
    if isinstance(value, Mapping):
        items = sorted((int(k), float(v)) for k, v in value.items())
    elif isinstance(value, list):
        items = sorted((int(k), float(v)) for k, v in value)
    else:
        raise ExportError(f"{where}: a sparse vector must be an object of index: value, got {value!r}")
    return json.dumps({str(k): v for k, v in items}, separators=(",", ":"))


def _convert(f: FieldSpec, value: Any, where: str) -> Any:
    t = f.data_type
    if value is None:
        if f.nullable or f.default_value is not None:
            return None
        raise ExportError(f"{where}: null in a field that is not nullable")
    if t == "JSON":
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if t == "SparseFloatVector":
        return _sparse_text(value, where)
    if t in ("Float16Vector", "BFloat16Vector"):
        return _half_floats(value, t, f.dim, where)
    if t == "BinaryVector":
        return list(_bytes(value, where)) if not isinstance(value, list) else [int(b) for b in value]
    return value


def rows_to_table(rows: Iterable[Mapping[str, Any]], schema: CollectionSchema, collection: str) -> pa.Table:
    """Rows as the query answers them -> one Arrow table of :func:`export_arrow_schema`. Keys that are
    not fields go into ``$meta`` (dynamic fields); a row missing a field is named, with its key."""
    fields = export_fields(schema)
    names = {f.name for f in fields}
    pk = schema.primary.name
    columns: dict[str, list[Any]] = {f.name: [] for f in fields}
    meta: list[Any] = []
    for row in rows:
        key = row.get(pk)
        for f in fields:
            where = f"collection {collection!r}, {pk}={key!r}, field {f.name!r}"
            if f.name not in row:
                if f.nullable or f.default_value is not None:
                    columns[f.name].append(None)
                    continue
                raise ExportError(f"{where}: missing from the query answer")
            columns[f.name].append(_convert(f, row[f.name], where))
        if schema.enable_dynamic_field:
            extra = {k: v for k, v in row.items() if k not in names and k != META_FIELD}
            if isinstance(row.get(META_FIELD), Mapping):
                extra = {**row[META_FIELD], **extra}
            meta.append(json.dumps(extra, ensure_ascii=False, separators=(",", ":")) if extra else "{}")
    arrays = []
    arrow_schema = export_arrow_schema(schema)
    for f in fields:
        try:
            arrays.append(pa.array(columns[f.name], type=arrow_schema.field(f.name).type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as err:
            raise ExportError(f"collection {collection!r}, field {f.name!r}: {err}") from None
    if schema.enable_dynamic_field:
        arrays.append(pa.array(meta, type=pa.string()))
    return pa.Table.from_arrays(arrays, schema=arrow_schema)


def json_rows(table: pa.Table, schema: CollectionSchema) -> list[dict[str, Any]]:
    """A part's rows for a JSON part file (the Milvus/Zilliz import row format): JSON fields and
    sparse vectors as objects again, dynamic fields back at the top level."""
    decode = {f.name for f in export_fields(schema) if f.data_type in ("JSON", "SparseFloatVector")}
    out = []
    for row in table.to_pylist():
        for name in decode:
            if row.get(name) is not None:
                row[name] = json.loads(row[name])
        meta = row.pop(META_FIELD, None)
        if meta:
            row.update(json.loads(meta))
        out.append(row)
    return out


# ---- the manifest -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExportSpec:
    """What one export reads and how it writes: equal specs may resume each other's manifest."""

    collection: str
    db_name: str
    filter: str
    partitions: tuple[str, ...]
    file_type: str
    part_rows: int
    schema_fingerprint: str

    def to_json(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "db_name": self.db_name,
            "filter": self.filter,
            "partitions": list(self.partitions),
            "file_type": self.file_type,
            "part_rows": self.part_rows,
            "schema_fingerprint": self.schema_fingerprint,
        }


def part_name(index: int, file_type: str) -> str:
    return f"part-{index:05d}.{file_type}"


def is_part_name(name: str) -> bool:
    stem, _, ext = name.rpartition(".")
    return ext in FILE_TYPES and stem.startswith("part-") and stem[5:].isdigit()


def new_manifest(spec: ExportSpec, schema: CollectionSchema, *, pk: str, pk_kind: str) -> dict[str, Any]:
    return {
        "format": MANIFEST_FORMAT,
        "version": 1,
        "state": "running",
        "spec": spec.to_json(),
        "schema": schema.to_dict(),
        "primary_key": pk,
        "pk_kind": pk_kind,
        "parts": [],
        "cursor": None,
        "rows": 0,
    }


def check_manifest(manifest: Mapping[str, Any], spec: ExportSpec, where: str) -> None:
    """A manifest found under the prefix belongs to this export (else: an error naming the difference)."""
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ExportError(f"{where}: not a {MANIFEST_FORMAT} manifest; choose an empty prefix")
    theirs = manifest.get("spec") or {}
    ours = spec.to_json()
    diff = [f"{k}: {theirs.get(k)!r} there, {v!r} now" for k, v in ours.items() if theirs.get(k) != v]
    if diff:
        if theirs.get("schema_fingerprint") != ours["schema_fingerprint"] and len(diff) == 1:
            diff = ["the collection's schema changed since the export started"]
        raise ExportError(
            f"{where}: holds another export ({'; '.join(diff)}); use another prefix or delete that one"
        )
    if manifest.get("state") == "failed":
        raise ExportError(f"{where}: that export failed ({manifest.get('error')}); use another prefix")


def schema_change(before: CollectionSchema, after: CollectionSchema) -> str | None:
    """What changed between two describes of the collection (None: nothing)."""
    if before.fingerprint == after.fingerprint:
        return None
    old = {f.name: f.to_dict() for f in before.fields}
    new = {f.name: f.to_dict() for f in after.fields}
    changes = [f"field {n!r} added" for n in new if n not in old]
    changes += [f"field {n!r} dropped" for n in old if n not in new]
    changes += [f"field {n!r} changed" for n in old if n in new and old[n] != new[n]]
    if before.enable_dynamic_field != after.enable_dynamic_field:
        changes.append("enableDynamicField changed")
    return ", ".join(changes) or "the schema changed"


def summary(manifest: Mapping[str, Any], bucket: str, prefix: str) -> dict[str, Any]:
    """The export's result (XCom): where the parts are and how many rows they hold."""
    parts = list(manifest.get("parts") or [])
    return {
        "bucket": bucket,
        "prefix": prefix,
        "manifest_key": f"{prefix}{MANIFEST_NAME}",
        "state": manifest.get("state"),
        "file_type": (manifest.get("spec") or {}).get("file_type"),
        "collection": (manifest.get("spec") or {}).get("collection"),
        "rows": int(manifest.get("rows") or 0),
        "total_filter_count": int(manifest.get("rows") or 0),
        "parts": [p["key"] for p in parts],
        "count_at_start": manifest.get("count_at_start"),
        "count_at_end": manifest.get("count_at_end"),
        "resumed_from_part": manifest.get("resumed_from_part"),
    }


def scan_windows(
    query: Any, count: Any, *, pk: str, kind: str, page_rows: int, lo: Any = None, user_filter: str = ""
) -> Any:
    """Yield ``(rows sorted by key, cursor)`` window by window from ``lo`` (exclusive) to the end.

    ``count(filter) -> int`` and ``query(filter, limit) -> rows`` are the caller's calls (this stays
    pure). A window is read only when counted at most ``page_rows`` and accepted only when its query
    (``limit = page_rows + 1``) returned at most ``page_rows`` rows: then it returned all of them."""
    if not 1 <= page_rows <= MAX_PAGE_ROWS:
        raise ExportError(f"page_rows must be in [1, {MAX_PAGE_ROWS}], got {page_rows}")
    stack: list[Any] = [INT64_MAX if kind == "int" else None]
    while stack:
        hi = stack[-1]
        flt = window_filter(pk, kind, lo, hi, user_filter)
        n = count(flt)
        rows: list[dict[str, Any]] = []
        if n:
            rows = query(flt, page_rows + 1) if n <= page_rows else []
        if n > page_rows or len(rows) > page_rows:
            if hi is None:  # an open end (string keys): bound it by a key the service has
                sample = query(flt, page_rows + 1)
                bound = max(r[pk] for r in sample)
                stack.append(bound if window_filter(pk, kind, lo, bound) != flt else None)
                continue
            mid = midpoint(lo, hi, kind)
            if mid is None:
                raise ExportError(f"the window {flt!r} holds {n} rows but cannot be split")
            stack.append(mid)
            continue
        stack.pop()
        rows = key_sort(rows, pk)
        lo = hi if hi is not None else (rows[-1][pk] if rows else lo)
        if rows:
            yield rows, lo
