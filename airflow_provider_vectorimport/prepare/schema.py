"""Collection schemas in the Milvus REST v2 JSON form, and the Arrow / NumPy types they map to.

A schema is what users already write for ``POST /v2/vectordb/collections/create``::

    {"autoId": false, "enableDynamicField": true,
     "fields": [{"fieldName": "id", "dataType": "Int64", "isPrimary": true},
                {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": 768}},
                {"fieldName": "tags", "dataType": "Array", "elementDataType": "VarChar",
                 "elementTypeParams": {"max_capacity": 8, "max_length": 32}}]}

The whole create-collection body (``{"collectionName": ..., "schema": {...}}``) is accepted too.
The in-memory column types below are what the checks work on; the writers (``prepare/writers.py``)
turn them into the file layouts the Milvus import readers read and pymilvus ``LocalBulkWriter`` writes
(Float16Vector / BFloat16Vector: ``list<float32>`` here, ``2 * dim`` bytes per row in Parquet and
NumPy files, see ``prepare/halffloat.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from airflow_provider_vectorimport.exceptions import ConfigurationError
from airflow_provider_vectorimport.prepare.texttypes import STRING_TYPES

META_FIELD = "$meta"

# canonical name -> accepted spellings (lower-cased, without "_")
_TYPE_ALIASES: dict[str, tuple[str, ...]] = {
    "Bool": ("bool", "boolean"),
    "Int8": ("int8",),
    "Int16": ("int16",),
    "Int32": ("int32",),
    "Int64": ("int64",),
    "Float": ("float", "float32"),
    "Double": ("double", "float64"),
    "VarChar": ("varchar", "string"),
    "JSON": ("json",),
    "Text": ("text",),
    "Timestamptz": ("timestamptz",),
    "Geometry": ("geometry",),
    "Array": ("array",),
    "FloatVector": ("floatvector",),
    "Float16Vector": ("float16vector",),
    "BFloat16Vector": ("bfloat16vector",),
    "Int8Vector": ("int8vector",),
    "BinaryVector": ("binaryvector",),
    "SparseFloatVector": ("sparsefloatvector", "sparsevector"),
}
_LOOKUP = {alias: name for name, aliases in _TYPE_ALIASES.items() for alias in aliases}

INT_TYPES = {"Int8", "Int16", "Int32", "Int64"}
FLOAT_TYPES = {"Float", "Double"}
SCALAR_TYPES = {"Bool", *INT_TYPES, *FLOAT_TYPES, "VarChar"}
DENSE_FLOAT_VECTORS = {"FloatVector", "Float16Vector", "BFloat16Vector"}
VECTOR_TYPES = {*DENSE_FLOAT_VECTORS, "Int8Vector", "BinaryVector", "SparseFloatVector"}
ARRAY_ELEMENT_TYPES = SCALAR_TYPES

_ARROW_SCALAR = {
    "Bool": pa.bool_(),
    "Int8": pa.int8(),
    "Int16": pa.int16(),
    "Int32": pa.int32(),
    "Int64": pa.int64(),
    "Float": pa.float32(),
    "Double": pa.float64(),
    "VarChar": pa.string(),
}
INT_RANGES = {"Int8": (-(2**7), 2**7 - 1), "Int16": (-(2**15), 2**15 - 1), "Int32": (-(2**31), 2**31 - 1)}
INT_RANGES["Int64"] = (-(2**63), 2**63 - 1)


# Keys prepare reads, or knows to have no effect on the files (index, clustering, analyzer settings).
# Any other key is an error naming it: a schema is never read with a part of it silently dropped.
BODY_KEYS = frozenset(
    {"collectionName", "dbName", "schema", "indexParams", "params", "description", "properties"}
)
SCHEMA_KEYS = frozenset(
    {
        "autoId",
        "autoID",
        "auto_id",
        "enableDynamicField",
        "enable_dynamic_field",
        "fields",
        "functions",
        "description",
        "fingerprint",  # schema.json written next to prepared files (schema_source.write_schema_file)
        "source",
    }
)
FIELD_KEYS = frozenset(
    {
        "fieldName",
        "name",
        "dataType",
        "type",
        "isPrimary",
        "is_primary",
        "autoId",
        "autoID",
        "elementTypeParams",
        "elementDataType",
        "nullable",
        "defaultValue",
        "default_value",
        "description",
        "isPartitionKey",
        "isClusteringKey",
    }
)
PARAM_KEYS = frozenset(
    {
        "dim",
        "max_length",
        "max_capacity",
        # text-search settings of a VarChar: no effect on the file layout
        "enable_analyzer",
        "enable_match",
        "analyzer_params",
        "multi_analyzer_params",
        "mmap_enabled",
        "mmap.enabled",
    }
)


def check_keys(raw: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    """ConfigurationError naming the first key of ``raw`` that is not in ``known``."""
    unknown = sorted(str(k) for k in raw if k not in known)
    if unknown:
        raise ConfigurationError(
            f"schema: {where}: unknown key {unknown[0]!r}"
            + (f" (and {', '.join(map(repr, unknown[1:]))})" if len(unknown) > 1 else "")
            + f"; prepare understands {', '.join(sorted(known))}"
        )


def canonical_type(name: Any, where: str) -> str:
    key = str(name or "").replace("_", "").lower()
    if key not in _LOOKUP:
        raise ConfigurationError(
            f"schema: {where}: unknown dataType {name!r}; use one of {sorted(_TYPE_ALIASES)}"
        )
    return _LOOKUP[key]


def _int_param(params: Mapping[str, Any], key: str, where: str, required: bool) -> int | None:
    value = params.get(key)
    if value is None:
        if required:
            raise ConfigurationError(f"schema: {where}: elementTypeParams.{key} is required")
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigurationError(
            f"schema: {where}: elementTypeParams.{key} must be an integer, got {value!r}"
        ) from None
    if number <= 0:
        raise ConfigurationError(f"schema: {where}: elementTypeParams.{key} must be positive, got {number}")
    return number


@dataclass(frozen=True)
class FieldSpec:
    """One collection field."""

    name: str
    data_type: str
    is_primary: bool = False
    dim: int | None = None
    max_length: int | None = None
    max_capacity: int | None = None
    element_type: str | None = None
    nullable: bool = False
    default_value: Any = None
    auto_id: bool = False

    @property
    def is_vector(self) -> bool:
        return self.data_type in VECTOR_TYPES

    @property
    def has_default(self) -> bool:
        return self.default_value is not None

    def arrow_type(self, wide_floats: bool = False) -> pa.DataType:
        """The column type written (Parquet) / held in memory. ``wide_floats`` keeps float64 for the
        JSON writers so values are written back exactly as read."""
        t = self.data_type
        if t in _ARROW_SCALAR:
            if wide_floats and t == "Float":
                return pa.float64()
            return _ARROW_SCALAR[t]
        if t in ("JSON", "SparseFloatVector") or t in STRING_TYPES:
            return pa.string()
        if t == "Array":
            elem = _ARROW_SCALAR[self.element_type or ""]
            if wide_floats and self.element_type == "Float":
                elem = pa.float64()
            return pa.list_(elem)
        if t in DENSE_FLOAT_VECTORS:
            return pa.list_(pa.float64() if wide_floats else pa.float32())
        if t == "Int8Vector":
            return pa.list_(pa.int8())
        if t == "BinaryVector":
            return pa.list_(pa.uint8())
        raise AssertionError(t)  # pragma: no cover

    @property
    def vector_width(self) -> int | None:
        """Values per row of a dense vector (BinaryVector: dim bits -> dim / 8 bytes)."""
        if self.data_type == "BinaryVector":
            return (self.dim or 0) // 8
        if self.data_type in VECTOR_TYPES and self.data_type != "SparseFloatVector":
            return self.dim
        return None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"fieldName": self.name, "dataType": self.data_type}
        if self.is_primary:
            out["isPrimary"] = True
        params = {
            k: v
            for k, v in (
                ("dim", self.dim),
                ("max_length", self.max_length),
                ("max_capacity", self.max_capacity),
            )
            if v is not None
        }
        if params:
            out["elementTypeParams"] = params
        if self.element_type:
            out["elementDataType"] = self.element_type
        if self.nullable:
            out["nullable"] = True
        if self.default_value is not None:
            out["defaultValue"] = self.default_value
        return out


@dataclass(frozen=True)
class CollectionSchema:
    """A collection schema; build it with :meth:`load`, :meth:`from_dict` or :meth:`from_file`."""

    fields: tuple[FieldSpec, ...]
    auto_id: bool = False
    enable_dynamic_field: bool = False
    _by_name: dict[str, FieldSpec] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_name.update({f.name: f for f in self.fields})

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def load(cls, schema: CollectionSchema | Mapping[str, Any] | str | os.PathLike[str]) -> CollectionSchema:
        if isinstance(schema, CollectionSchema):
            return schema
        if isinstance(schema, Mapping):
            return cls.from_dict(schema)
        if isinstance(schema, str | os.PathLike):
            text = str(schema)
            if text.lstrip().startswith("{"):
                return cls.from_dict(json.loads(text))
            return cls.from_file(text)
        raise ConfigurationError(
            f"schema must be a dict, a JSON file path or a CollectionSchema, got {type(schema)}"
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> CollectionSchema:
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            raise ConfigurationError(f"schema file not found: {path}") from None
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"schema file {path}: malformed JSON: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CollectionSchema:
        if not isinstance(data, Mapping):
            raise ConfigurationError("schema must be a JSON object")
        if "fields" not in data and isinstance(data.get("schema"), Mapping):
            check_keys(data, BODY_KEYS, "the create-collection body")
            data = data["schema"]  # a whole create-collection request body
        if data.get("structArrayFields"):
            raise ConfigurationError(
                "schema: structArrayFields (Array-of-Struct fields) are not supported by prepare yet"
            )
        check_keys({k: v for k, v in data.items() if k != "structArrayFields"}, SCHEMA_KEYS, "the schema")
        if data.get("functions"):
            outputs = [
                str(n)
                for fn in data["functions"]
                if isinstance(fn, Mapping)
                for n in fn.get("outputFieldNames") or []
            ]
            raise ConfigurationError(
                "schema: functions (e.g. BM25) are not supported by prepare: their output fields "
                f"{outputs} are made by the service, not read from files"
            )
        raw_fields = data.get("fields")
        if not isinstance(raw_fields, list) or not raw_fields:
            raise ConfigurationError("schema: 'fields' must be a non-empty list")
        auto_id = bool(data.get("autoId", data.get("autoID", data.get("auto_id", False))))
        dynamic = bool(data.get("enableDynamicField", data.get("enable_dynamic_field", False)))
        specs: list[FieldSpec] = []
        seen: set[str] = set()
        for i, raw in enumerate(raw_fields):
            if not isinstance(raw, Mapping):
                raise ConfigurationError(f"schema: fields[{i}] must be an object")
            name = raw.get("fieldName", raw.get("name"))
            if not isinstance(name, str) or not name:
                raise ConfigurationError(f"schema: fields[{i}]: 'fieldName' is required")
            where = f"field {name!r}"
            if name in seen:
                raise ConfigurationError(f"schema: {where} is declared twice")
            if name == META_FIELD:
                raise ConfigurationError(f"schema: {where}: '$meta' is reserved for dynamic fields")
            seen.add(name)
            check_keys(raw, FIELD_KEYS, where)
            dtype = canonical_type(raw.get("dataType", raw.get("type")), where)
            params = raw.get("elementTypeParams") or {}
            if not isinstance(params, Mapping):
                raise ConfigurationError(f"schema: {where}: elementTypeParams must be an object")
            check_keys(params, PARAM_KEYS, f"{where} elementTypeParams")
            is_primary = bool(raw.get("isPrimary", raw.get("is_primary", False)))
            field_auto = bool(raw.get("autoId", raw.get("autoID", False)))
            dim = max_length = max_capacity = None
            element_type = None
            if dtype in VECTOR_TYPES and dtype != "SparseFloatVector":
                dim = _int_param(params, "dim", where, True)
                if dtype == "BinaryVector" and dim is not None and dim % 8:
                    raise ConfigurationError(
                        f"schema: {where}: BinaryVector dim is in bits, must be a multiple of 8"
                    )
            if dtype == "VarChar":
                max_length = _int_param(params, "max_length", where, True)
            if dtype == "Array":
                element_type = canonical_type(raw.get("elementDataType"), f"{where} elementDataType")
                if element_type not in ARRAY_ELEMENT_TYPES:
                    raise ConfigurationError(f"schema: {where}: Array of {element_type} is not supported")
                max_capacity = _int_param(params, "max_capacity", where, True)
                if element_type == "VarChar":
                    max_length = _int_param(params, "max_length", where, True)
            nullable = bool(raw.get("nullable", False))
            default = raw.get("defaultValue", raw.get("default_value"))
            if is_primary:
                if dtype not in ("Int64", "VarChar"):
                    raise ConfigurationError(f"schema: {where}: a primary key must be Int64 or VarChar")
                if nullable or default is not None:
                    raise ConfigurationError(
                        f"schema: {where}: a primary key cannot be nullable or have a default"
                    )
            spec = FieldSpec(
                name=name,
                data_type=dtype,
                is_primary=is_primary,
                dim=dim,
                max_length=max_length,
                max_capacity=max_capacity,
                element_type=element_type,
                nullable=nullable,
                default_value=None,
                auto_id=is_primary and (auto_id or field_auto),
            )
            if default is not None:
                from airflow_provider_vectorimport.prepare.validation import convert_value

                try:
                    default = convert_value(spec, default, wide_floats=True)
                except ValueError as exc:
                    raise ConfigurationError(f"schema: {where}: bad defaultValue: {exc}") from None
                spec = FieldSpec(**{**spec.__dict__, "default_value": default})
            specs.append(spec)
        primaries = [s for s in specs if s.is_primary]
        if len(primaries) != 1:
            raise ConfigurationError(
                f"schema: exactly one field must have isPrimary=true, found {len(primaries)}"
            )
        if not any(s.is_vector for s in specs):
            raise ConfigurationError("schema: a collection needs at least one vector field")
        return cls(fields=tuple(specs), auto_id=primaries[0].auto_id, enable_dynamic_field=dynamic)

    # ---- queries ------------------------------------------------------------------------------
    @property
    def primary(self) -> FieldSpec:
        return next(f for f in self.fields if f.is_primary)

    def get(self, name: str) -> FieldSpec | None:
        return self._by_name.get(name)

    @property
    def data_fields(self) -> tuple[FieldSpec, ...]:
        """Fields that appear in the data files (an auto-id primary key does not)."""
        return tuple(f for f in self.fields if not f.auto_id)

    def output_columns(self) -> list[str]:
        cols = [f.name for f in self.data_fields]
        if self.enable_dynamic_field:
            cols.append(META_FIELD)
        return cols

    def arrow_schema(self, wide_floats: bool = False) -> pa.Schema:
        cols = [pa.field(f.name, f.arrow_type(wide_floats)) for f in self.data_fields]
        if self.enable_dynamic_field:
            cols.append(pa.field(META_FIELD, pa.string()))
        return pa.schema(cols)

    def to_dict(self) -> dict[str, Any]:
        return {
            "autoId": self.auto_id,
            "enableDynamicField": self.enable_dynamic_field,
            "fields": [f.to_dict() for f in self.fields],
        }

    @property
    def fingerprint(self) -> str:
        """sha256 of the canonical schema: equal schemas give equal fingerprints."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()
