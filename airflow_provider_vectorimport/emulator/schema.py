"""Collection schemas as the emulator keeps them: parsed from the Milvus REST v2 ``collections/create``
body, rendered as the REST v2 ``collections/describe`` answer, turned into a pymilvus schema, and used
to validate import rows (types, vector dims, varchar lengths, missing fields, auto-id keys) with
errors that name the row and the field.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

INT_RANGES = {
    "Int8": (-(2**7), 2**7 - 1),
    "Int16": (-(2**15), 2**15 - 1),
    "Int32": (-(2**31), 2**31 - 1),
    "Int64": (-(2**63), 2**63 - 1),
}
SCALAR_TYPES = {
    "Bool",
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "Float",
    "Double",
    "VarChar",
    "JSON",
    "Array",
    "Text",
    "Timestamptz",
    "Geometry",
}
VECTOR_TYPES = {
    "FloatVector",
    "BinaryVector",
    "Float16Vector",
    "BFloat16Vector",
    "Int8Vector",
    "SparseFloatVector",
}
HALF_VECTOR_TYPES = frozenset({"Float16Vector", "BFloat16Vector"})
# file kinds whose readers take Float16Vector / BFloat16Vector as 2*dim bytes a row (Parquet binary or
# list<uint8>, NumPy uint8); JSON, JSONL, CSV and REST inserts carry dim numbers
BYTE_LAYOUT_SOURCES = frozenset({"parquet", "npy"})
_ALIASES = {t.lower(): t for t in SCALAR_TYPES | VECTOR_TYPES}
_ALIASES.update(
    {"string": "VarChar", "varchar": "VarChar", "boolean": "Bool", "int": "Int64", "json": "JSON"}
)


class SchemaError(ValueError):
    """The collection schema given to ``collections/create`` is not usable."""


class RowError(ValueError):
    """A row does not fit the collection schema."""


def _dtype(value: Any, where: str) -> str:
    if not isinstance(value, str) or value.lower() not in _ALIASES:
        raise SchemaError(f"{where}: unknown dataType {value!r}")
    return _ALIASES[value.lower()]


@dataclass
class FieldSpec:
    name: str
    data_type: str
    is_primary: bool = False
    auto_id: bool = False
    dim: int | None = None
    max_length: int | None = None
    max_capacity: int | None = None
    element_type: str | None = None
    nullable: bool = False
    default_value: Any = None
    partition_key: bool = False
    description: str = ""

    @property
    def is_vector(self) -> bool:
        return self.data_type in VECTOR_TYPES


@dataclass
class CollectionSchema:
    fields: list[FieldSpec]
    enable_dynamic_field: bool = False
    description: str = ""
    index_params: list[dict[str, Any]] = field(default_factory=list)

    @property
    def primary(self) -> FieldSpec:
        return next(f for f in self.fields if f.is_primary)

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def vector_fields(self) -> list[FieldSpec]:
        return [f for f in self.fields if f.is_vector]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CollectionSchema:
        return cls(
            fields=[FieldSpec(**f) for f in data["fields"]],
            enable_dynamic_field=bool(data.get("enable_dynamic_field")),
            description=str(data.get("description") or ""),
            index_params=list(data.get("index_params") or []),
        )

    # ---- Milvus REST v2 forms ------------------------------------------------------------
    @classmethod
    def from_rest(cls, body: Mapping[str, Any]) -> CollectionSchema:
        """From a ``collections/create`` body: the full ``schema`` form or the quick-setup form
        (``dimension``, ``primaryFieldName``, ``vectorFieldName``, ``idType``, ``autoId``...)."""
        schema = body.get("schema")
        index_params = body.get("indexParams") or []
        if not isinstance(index_params, list):
            raise SchemaError("indexParams must be a list")
        if schema is None:
            dim = body.get("dimension")
            if not isinstance(dim, int) or dim <= 0:
                raise SchemaError("give either schema or a positive integer dimension")
            pk_type = _dtype(body.get("idType") or "Int64", "idType")
            pk = FieldSpec(
                name=body.get("primaryFieldName") or "id",
                data_type=pk_type,
                is_primary=True,
                auto_id=bool(body.get("autoId", False)),
                max_length=int((body.get("params") or {}).get("max_length", 65535))
                if pk_type == "VarChar"
                else None,
            )
            vec = FieldSpec(name=body.get("vectorFieldName") or "vector", data_type="FloatVector", dim=dim)
            metric = body.get("metricType") or "COSINE"
            return cls(
                fields=[pk, vec],
                enable_dynamic_field=True,
                index_params=index_params or [{"fieldName": vec.name, "metricType": metric}],
            )
        if not isinstance(schema, Mapping):
            raise SchemaError("schema must be an object")
        raw_fields = schema.get("fields")
        if not isinstance(raw_fields, list) or not raw_fields:
            raise SchemaError("schema.fields must be a non-empty list")
        auto_id = bool(schema.get("autoId", False))
        fields: list[FieldSpec] = []
        for i, raw in enumerate(raw_fields):
            where = f"schema.fields[{i}]"
            if not isinstance(raw, Mapping):
                raise SchemaError(f"{where} must be an object")
            name = raw.get("fieldName") or raw.get("name")
            if not isinstance(name, str) or not name:
                raise SchemaError(f"{where}: fieldName is required")
            where = f"{where} ({name!r})"
            dtype = _dtype(raw.get("dataType") or raw.get("type"), where)
            params = dict(raw.get("elementTypeParams") or {})
            is_primary = bool(raw.get("isPrimary") or raw.get("primaryKey"))
            spec = FieldSpec(
                name=name,
                data_type=dtype,
                is_primary=is_primary,
                auto_id=is_primary and bool(raw.get("autoId", auto_id)),
                nullable=bool(raw.get("nullable", False)),
                default_value=raw.get("defaultValue"),
                partition_key=bool(raw.get("isPartitionKey", False)),
                description=str(raw.get("description") or ""),
            )
            try:
                if dtype in VECTOR_TYPES and dtype != "SparseFloatVector":
                    spec.dim = int(params["dim"])
                    if spec.dim <= 0:
                        raise ValueError
                if dtype == "VarChar" or (dtype == "Array" and raw.get("elementDataType") == "VarChar"):
                    spec.max_length = int(params.get("max_length", 65535))
                if dtype == "Array":
                    spec.element_type = _dtype(raw.get("elementDataType"), f"{where} elementDataType")
                    spec.max_capacity = int(params["max_capacity"])
            except (KeyError, TypeError, ValueError) as exc:
                raise SchemaError(f"{where}: missing or invalid elementTypeParams for {dtype}") from exc
            fields.append(spec)
        primaries = [f for f in fields if f.is_primary]
        if len(primaries) != 1:
            raise SchemaError(f"schema needs exactly one primary field, got {len(primaries)}")
        if primaries[0].data_type not in {"Int64", "VarChar"}:
            raise SchemaError(f"primary field {primaries[0].name!r} must be Int64 or VarChar")
        if not any(f.is_vector for f in fields):
            raise SchemaError("schema needs at least one vector field")
        names = [f.name for f in fields]
        if len(set(names)) != len(names):
            raise SchemaError("schema has duplicate field names")
        indexed = {ip.get("fieldName") for ip in index_params if isinstance(ip, Mapping)}
        index_params = [dict(ip) for ip in index_params if isinstance(ip, Mapping)] + [
            {"fieldName": f.name, "indexName": f.name, "metricType": _default_metric(f.data_type)}
            for f in fields
            if f.is_vector and f.name not in indexed
        ]
        return cls(
            fields=fields,
            enable_dynamic_field=bool(schema.get("enableDynamicField", False)),
            description=str(body.get("description") or ""),
            index_params=index_params,
        )

    def to_rest(self, name: str, *, row_count: int | None = None) -> dict[str, Any]:
        """The ``collections/describe`` ``data`` object, as Milvus' REST v2 renders it."""
        fields = []
        for i, f in enumerate(self.fields):
            out: dict[str, Any] = {
                "id": 100 + i,
                "name": f.name,
                "type": f.data_type,
                "primaryKey": f.is_primary,
                "autoId": f.auto_id,
                "partitionKey": f.partition_key,
                "clusteringKey": False,
                "nullable": f.nullable,
                "description": f.description,
            }
            params = []
            if f.dim is not None:
                params.append({"key": "dim", "value": str(f.dim)})
            if f.max_length is not None:
                params.append({"key": "max_length", "value": str(f.max_length)})
            if f.max_capacity is not None:
                params.append({"key": "max_capacity", "value": str(f.max_capacity)})
            if params:
                out["params"] = params
            if f.element_type:
                out["elementType"] = f.element_type
            if f.default_value is not None:
                out["defaultValue"] = f.default_value
            fields.append(out)
        indexes = [
            {
                "fieldName": ip.get("fieldName"),
                "indexName": ip.get("indexName") or ip.get("fieldName"),
                "metricType": ip.get("metricType") or "COSINE",
            }
            for ip in self.index_params
        ]
        data = {
            "collectionName": name,
            "collectionID": 450000000000000000 + zlib.crc32(name.encode()),
            "description": self.description,
            "autoId": self.primary.auto_id,
            "enableDynamicField": self.enable_dynamic_field,
            "fields": fields,
            "functions": [],
            "indexes": indexes,
            "load": "LoadStateLoaded",
            "partitionsNum": 1,  # the documented key (docs example, Milvus handler_v2); not "partitions"
            "properties": [],
            "shardsNum": 1,
            "consistencyLevel": "Strong",
            "aliases": [],
        }
        if row_count is not None:
            data["rowCount"] = row_count
        return data

    def metric_for(self, field_name: str) -> str:
        for ip in self.index_params:
            if ip.get("fieldName") == field_name:
                return str(ip.get("metricType") or "COSINE").upper()
        return "COSINE"


def _default_metric(data_type: str) -> str:
    return {"BinaryVector": "HAMMING", "SparseFloatVector": "IP"}.get(data_type, "COSINE")


# ---- row validation --------------------------------------------------------------------------
def _is_int(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return True
    return hasattr(v, "dtype") and getattr(v.dtype, "kind", "") in "iu"


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        out = float(v)
    except (TypeError, ValueError):
        return None
    return out


def _scalar(spec_type: str, value: Any, max_length: int | None, what: str) -> Any:
    if spec_type in INT_RANGES:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not _is_int(value):
            raise RowError(f"{what}: expected {spec_type}, got {type(value).__name__} {value!r:.40}")
        value = int(value)
        lo, hi = INT_RANGES[spec_type]
        if not lo <= value <= hi:
            raise RowError(f"{what}: {value} out of range for {spec_type}")
        return value
    if spec_type in {"Float", "Double"}:
        num = _number(value)
        if num is None or isinstance(value, str):
            raise RowError(f"{what}: expected {spec_type}, got {type(value).__name__} {value!r:.40}")
        if math.isnan(num) or math.isinf(num):
            raise RowError(f"{what}: {spec_type} must be finite, got {num}")
        return num
    if spec_type == "Bool":
        if hasattr(value, "dtype") and value.dtype.kind == "b":
            value = bool(value)
        if not isinstance(value, bool):
            raise RowError(f"{what}: expected Bool, got {type(value).__name__} {value!r:.40}")
        return value
    if spec_type == "VarChar":
        if not isinstance(value, str):
            raise RowError(f"{what}: expected VarChar (string), got {type(value).__name__} {value!r:.40}")
        size = len(value.encode("utf-8"))
        if max_length is not None and size > max_length:
            raise RowError(f"{what}: string of {size} bytes exceeds max_length {max_length}")
        return value
    if spec_type == "Text":
        if not isinstance(value, str):
            raise RowError(f"{what}: expected Text (string), got {type(value).__name__} {value!r:.40}")
        return value
    if spec_type == "Timestamptz":
        return _timestamptz(value, what)
    if spec_type == "Geometry":
        return _wkt(value, what)
    if spec_type == "JSON":
        if isinstance(value, str | bytes):
            try:
                return json.loads(value)
            except ValueError as exc:
                raise RowError(f"{what}: not valid JSON ({exc})") from exc
        if isinstance(value, dict | list | int | float | bool):
            return value
        raise RowError(f"{what}: expected JSON, got {type(value).__name__}")
    raise RowError(f"{what}: unsupported type {spec_type}")


def _timestamptz(value: Any, what: str) -> str:
    """An ISO 8601 date-time string (the readers' timestamptz.ValidateAndReturnUnixMicroTz)."""
    import datetime

    if not isinstance(value, str):
        raise RowError(
            f"{what}: expected Timestamptz (ISO 8601 string), got {type(value).__name__} {value!r:.40}"
        )
    try:
        datetime.datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError as exc:
        raise RowError(f"{what}: invalid Timestamptz {value!r:.40}: {exc}") from None
    return value


def _wkt(value: Any, what: str) -> str:
    """WKT text (the readers' ConvertWKTToWKB); parsed with shapely where it is installed, else by
    the store on insert."""
    if not isinstance(value, str):
        raise RowError(f"{what}: expected Geometry (WKT string), got {type(value).__name__} {value!r:.40}")
    try:
        import shapely
    except ImportError:  # pragma: no cover
        return value
    try:
        shapely.from_wkt(value)
    except Exception as exc:
        raise RowError(f"{what}: invalid WKT {value!r:.40}: {str(exc).splitlines()[0]}") from None
    return value


def _as_list(value: Any) -> list[Any] | None:
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        value = value.tolist()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, list) else None


def _fast_vector(value: Any, dim: int | None) -> list[float] | None:
    """The common case in one numpy pass: a list/array of ``dim`` finite numbers. None: take the
    slow path (which names the exact problem)."""
    import numpy as np

    if isinstance(value, str | bytes | bytearray | Mapping):
        return None
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        return None
    if arr.ndim != 1 or arr.shape[0] != dim or arr.dtype.kind not in "iuf":
        return None
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        return None
    return arr.astype(np.float64).tolist()


def _half_bytes(spec: FieldSpec, value: Any, what: str) -> list[float]:
    """A Float16Vector / BFloat16Vector value of a Parquet / NumPy file: 2*dim little-endian bytes
    (``bytes`` from a binary column, ints from list<uint8> or a uint8 array), decoded to floats."""
    import ml_dtypes
    import numpy as np

    width = 2 * (spec.dim or 0)
    if isinstance(value, bytes | bytearray | memoryview):
        raw = np.frombuffer(bytes(value), dtype=np.uint8)
    else:
        items = value.tolist() if hasattr(value, "tolist") else value
        if not isinstance(items, list) or not all(_is_int(b) and 0 <= int(b) <= 255 for b in items):
            raise RowError(
                f"{what}: expected {width} bytes (2*dim, dim={spec.dim}), got {type(value).__name__}"
            )
        raw = np.asarray(items, dtype=np.uint8)
    if raw.size != width:
        raise RowError(
            f"{what}: vector of {raw.size} bytes, the collection expects {width} (2*dim, dim={spec.dim})"
        )
    dtype = np.dtype("<f2") if spec.data_type == "Float16Vector" else np.dtype(ml_dtypes.bfloat16)
    floats = raw.view(dtype).astype(np.float64)
    if not np.isfinite(floats).all():
        raise RowError(f"{what}: vector holds a NaN or infinite {spec.data_type} value")
    return floats.tolist()


def _check_field(spec: FieldSpec, value: Any, what: str, source: str = "json") -> Any:
    t = spec.data_type
    if t in HALF_VECTOR_TYPES and source in BYTE_LAYOUT_SOURCES:
        return _half_bytes(spec, value, what)
    if t == "Int8Vector":
        vec = _as_list(value)
        if vec is None or len(vec) != spec.dim:
            got = f"{len(vec)} values" if vec is not None else type(value).__name__
            raise RowError(f"{what}: expected {spec.dim} int8 values (dim={spec.dim}), got {got}")
        for x in vec:
            if not _is_int(x) or not -128 <= int(x) <= 127:
                raise RowError(f"{what}: vector element {x!r:.20} is not an int8 (-128..127)")
        return [float(x) for x in vec]
    if t in {"FloatVector", "Float16Vector", "BFloat16Vector"}:
        fast = _fast_vector(value, spec.dim)
        if fast is not None:
            return fast
        vec = _as_list(value)
        if vec is None:
            raise RowError(f"{what}: expected a list of {spec.dim} floats, got {type(value).__name__}")
        if len(vec) != spec.dim:
            raise RowError(f"{what}: vector has {len(vec)} dimensions, the collection expects dim={spec.dim}")
        out = []
        for x in vec:
            num = _number(x)
            if num is None or math.isnan(num) or math.isinf(num):
                raise RowError(f"{what}: vector element {x!r:.20} is not a finite number")
            out.append(num)
        return out
    if t == "BinaryVector":
        if isinstance(value, bytes | bytearray):
            raw: list[Any] | None = list(value)
        else:
            raw = _as_list(value)
        if raw is None or len(raw) * 8 != spec.dim or not all(_is_int(b) and 0 <= int(b) <= 255 for b in raw):
            raise RowError(f"{what}: expected {(spec.dim or 0) // 8} bytes (dim={spec.dim})")
        return bytes(int(b) for b in raw)
    if t == "SparseFloatVector":
        sparse = json.loads(value) if isinstance(value, str) else value
        if isinstance(sparse, Mapping) and {"indices", "values"} <= set(sparse):
            sparse = dict(zip(sparse["indices"], sparse["values"], strict=False))
        if not isinstance(sparse, Mapping) or not sparse:
            raise RowError(f"{what}: expected a sparse vector {{index: value}}")
        try:
            return {int(k): float(v) for k, v in sparse.items()}
        except (TypeError, ValueError) as exc:
            raise RowError(f"{what}: sparse vector keys must be ints and values floats") from exc
    if t == "Array":
        items = _as_list(value)
        if items is None:
            raise RowError(f"{what}: expected an array of {spec.element_type}")
        if spec.max_capacity is not None and len(items) > spec.max_capacity:
            raise RowError(f"{what}: array of {len(items)} exceeds max_capacity {spec.max_capacity}")
        return [
            _scalar(spec.element_type or "", x, spec.max_length, f"{what}[{j}]") for j, x in enumerate(items)
        ]
    return _scalar(t, value, spec.max_length, what)


def validate_row(schema: CollectionSchema, row: Any, where: str, *, source: str = "json") -> dict[str, Any]:
    """Check one row against ``schema``; return the row ready for insertion. ``where`` names the
    file and row (``"data/1.parquet: row 7"``); errors read ``<where>: field 'x': <problem>``.
    ``source`` is the file kind (``parquet``, ``npy``, ``json``, ``jsonl``, ``csv``): Parquet and NumPy
    carry Float16Vector / BFloat16Vector as bytes, the others (and REST inserts) as numbers."""
    if not isinstance(row, Mapping):
        raise RowError(f"{where}: a row must be an object, got {type(row).__name__}")
    row = dict(row)
    out: dict[str, Any] = {}
    meta = row.pop("$meta", None)
    for spec in schema.fields:
        what = f"{where}: field {spec.name!r}"
        present = spec.name in row
        value = row.pop(spec.name, None)
        if spec.is_primary and spec.auto_id:
            if present and value is not None:
                raise RowError(
                    f"{what}: the primary key is auto-generated (autoId), the file must not contain it"
                )
            continue
        if value is None or (isinstance(value, float) and math.isnan(value) and not spec.is_vector):
            if spec.nullable or spec.default_value is not None:
                out[spec.name] = spec.default_value
                continue
            raise RowError(f"{what}: missing (the field is not nullable and has no default)")
        out[spec.name] = _check_field(spec, value, what, source)
    if meta is not None:
        if isinstance(meta, str):
            try:
                meta = json.loads(meta)
            except ValueError as exc:
                raise RowError(f"{where}: field '$meta': not valid JSON") from exc
        if not isinstance(meta, Mapping):
            raise RowError(f"{where}: field '$meta': must be a JSON object")
        row = {**meta, **row}
    if row:
        if not schema.enable_dynamic_field:
            raise RowError(
                f"{where}: field {sorted(row)[0]!r}: not in the collection schema (dynamic fields are disabled)"
            )
        for key, value in row.items():
            out[key] = value.tolist() if hasattr(value, "tolist") else value
    return out
