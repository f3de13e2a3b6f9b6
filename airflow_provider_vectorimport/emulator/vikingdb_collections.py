"""VikingDB collection calls on the emulator: ``GET /api/collection/info`` and
``POST /api/collection/create``, signed like the task API (same credentials, same 1000001 on a bad
signature), answering with the documented envelope ``{code, message, request_id, data}``.

Documents: volcengine 84313/1254530 (``/collection/info``: GET, body ``collection_name``; ``data``
has ``collection_name, description, collection_aliases, primary_key, fields[field_name, field_type,
default_val, dim, pipeline_name], stat{data_number, data_storage}, index_names, index_num,
create_time, update_time, update_person``), ``/collection/create`` (POST, ``collection_name,
description, primary_key, fields``); errors 1000003 invalid request, 1000004 collection exist,
1000005 collection not exist. Field types: ``int64 float32 string bool list<string> list<int64>
vector sparse_vector text``.

The collections are the emulator's (Milvus Lite), so a VikingDB collection is also visible to the
task API (import / export) and a collection created through Milvus REST can be described here;
types VikingDB has no name for are shown lower-cased (``double``...), which is what a client that
only knows the documented types must reject.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_vectorimport.emulator.collections import CollectionExists, CollectionNotFound
from airflow_provider_vectorimport.emulator.core import Request, Response
from airflow_provider_vectorimport.emulator.schema import CollectionSchema, FieldSpec, SchemaError

INFO = "/api/collection/info"
CREATE = "/api/collection/create"
AUTO_ID = "__AUTO_ID__"
TEXT_MARK = "vikingdb:text"  # FieldSpec.description of a VikingDB ``text`` field (kept as VarChar)

_TO_MILVUS: dict[str, tuple[str, str | None]] = {
    "int64": ("Int64", None),
    "float32": ("Float", None),
    "string": ("VarChar", None),
    "text": ("VarChar", None),
    "bool": ("Bool", None),
    "list<string>": ("Array", "VarChar"),
    "list<int64>": ("Array", "Int64"),
    "vector": ("FloatVector", None),
    "sparse_vector": ("SparseFloatVector", None),
}
MAX_LENGTH = 65535
MAX_CAPACITY = 4096


def vikingdb_type(spec: FieldSpec) -> str:
    if spec.description == TEXT_MARK:
        return "text"
    for name, (dtype, element) in _TO_MILVUS.items():
        if name != "text" and dtype == spec.data_type and element == spec.element_type:
            return name
    return spec.data_type.lower()


def render_info(name: str, schema: CollectionSchema, *, rows: int, created: str) -> dict[str, Any]:
    """The ``data`` of ``/api/collection/info`` for an emulator collection."""
    primary = schema.primary
    fields = []
    for f in schema.fields:
        if f.is_primary and f.auto_id:
            continue  # VikingDB's generated key is not a declared field
        out: dict[str, Any] = {"field_name": f.name, "field_type": vikingdb_type(f)}
        if f.dim is not None:
            out["dim"] = f.dim
        if f.default_value is not None:
            out["default_val"] = f.default_value
        fields.append(out)
    return {
        "collection_name": name,
        "description": schema.description,
        "collection_aliases": [],
        "primary_key": AUTO_ID if primary.auto_id else primary.name,
        "fields": fields,
        "stat": {"data_number": rows, "data_storage": 0},
        "index_names": [],
        "index_num": 0,
        "create_time": created,
        "update_time": created,
        "update_person": "emulator",
    }


def schema_from_create(body: Mapping[str, Any]) -> CollectionSchema:
    """The emulator schema for a ``/api/collection/create`` body; SchemaError names the field."""
    raw_fields = body.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        raise SchemaError("fields must be a non-empty list")
    primary = body.get("primary_key") or AUTO_ID
    specs: list[FieldSpec] = []
    for i, raw in enumerate(raw_fields):
        if not isinstance(raw, Mapping):
            raise SchemaError(f"fields[{i}] must be an object")
        name = raw.get("field_name")
        if not isinstance(name, str) or not name:
            raise SchemaError(f"fields[{i}]: field_name is required")
        ftype = str(raw.get("field_type") or "").replace(" ", "").lower()
        if ftype not in _TO_MILVUS:
            raise SchemaError(f"field {name!r}: unknown field_type {raw.get('field_type')!r}")
        dtype, element = _TO_MILVUS[ftype]
        spec = FieldSpec(name=name, data_type=dtype, element_type=element, is_primary=name == primary)
        if ftype == "text":
            spec.description = TEXT_MARK
        if dtype == "FloatVector":
            dim = raw.get("dim")
            if not isinstance(dim, int) or dim <= 0:
                raise SchemaError(f"field {name!r}: a vector field needs a positive integer dim")
            spec.dim = dim
        if dtype == "VarChar" or element == "VarChar":
            spec.max_length = MAX_LENGTH
        if element:
            spec.max_capacity = MAX_CAPACITY
        if spec.is_primary and dtype not in ("Int64", "VarChar"):
            raise SchemaError(f"primary key {name!r} must be int64 or string")
        if not spec.is_primary and raw.get("default_val") is not None:
            spec.default_value = raw["default_val"]
        specs.append(spec)
    if primary == AUTO_ID:
        specs.insert(0, FieldSpec(name=AUTO_ID, data_type="Int64", is_primary=True, auto_id=True))
    elif not any(s.is_primary for s in specs):
        raise SchemaError(f"primary_key {primary!r} is not one of the fields")
    if not any(s.is_vector for s in specs):
        raise SchemaError("a collection needs a vector or sparse_vector field")
    return CollectionSchema(fields=specs, description=str(body.get("description") or ""))


class VikingDBCollectionService:
    """Serves the collection calls with the running VikingDB task emulation's credentials."""

    def __init__(self, vikingdb: Callable[[], Any], collections: Callable[[], Any]) -> None:
        self._vikingdb = vikingdb
        self._collections = collections
        self._created: dict[str, str] = {}

    def handle(self, request: Request) -> Response | None:
        if request.path not in (INFO, CREATE):
            return None
        viking = self._vikingdb()
        store = self._collections()
        if viking is None or store is None:
            return None
        refused = viking.signature_error(request)
        if refused is not None:
            return viking._error(1000001, refused)
        expected = "GET" if request.path == INFO else "POST"
        if request.method != expected:
            return viking._error(1000003, f"{request.method} not allowed, use {expected}")
        try:
            body = request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return viking._error(1000003, "body must be a JSON object")
        name = body.get("collection_name") or body.get("collection_alias")
        if not isinstance(name, str) or not name:
            return viking._error(1000003, "collection_name is required")
        if request.path == INFO:
            try:
                schema = store.describe("default", name)
            except CollectionNotFound:
                return viking._error(1000005, name)
            created = self._created.get(name) or time.strftime("%Y-%m-%d %H:%M:%S")
            return viking._envelope(
                render_info(name, schema, rows=store.count("default", name), created=created)
            )
        try:
            schema = schema_from_create(body)
            store.create("default", name, schema)
        except SchemaError as exc:
            return viking._error(1000003, str(exc))
        except CollectionExists:
            return viking._envelope(code=1000004, message=f"collection exist: {name}", status=400)
        self._created[name] = time.strftime("%Y-%m-%d %H:%M:%S")
        return viking._envelope(None)
