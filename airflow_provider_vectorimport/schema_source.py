"""A collection's schema read from the live service, converted to the schema model ``prepare`` uses.

* Milvus (REST v2) and Zilliz Cloud (the cluster endpoint serves the same API):
  ``POST /v2/vectordb/collections/describe`` ``{"collectionName", "dbName"}``; the answer's ``data``
  lists ``fields`` as ``{"name", "type", "primaryKey", "autoId", "nullable", "defaultValue",
  "params": [{"key": "dim", "value": "768"}], "elementType"}`` (Milvus ``handler_v2.go``
  ``printFieldDetail``; docs "Describe Collection (V2)").
* VikingDB: ``GET /api/collection/info`` ``{"collection_name"}`` (signed like the task API); the
  answer's ``data`` has ``primary_key`` and ``fields`` ``[{"field_name", "field_type", "dim",
  "default_val"}]`` with the field types ``int64 float32 string bool list<string> list<int64> vector
  sparse_vector text`` (volcengine docs 84313/1254530, "/collection/info").

The converters are pure (no I/O): :func:`schema_from_milvus_describe` and
:func:`schema_from_vikingdb_info`. :func:`fetch_collection_schema` picks the hook from the
connection type and does the one request. Types the provider cannot prepare files for raise
:class:`UnsupportedSchemaError` naming the collection and the field.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

from airflow_provider_vectorimport.exceptions import ConfigurationError
from airflow_provider_vectorimport.prepare.schema import ARRAY_ELEMENT_TYPES, CollectionSchema, canonical_type

SCHEMA_FILE = "schema.json"

# Defaults for parameters a describe answer may leave out (the services' maxima).
DEFAULT_MAX_LENGTH = 65535
DEFAULT_MAX_CAPACITY = 4096

#: VikingDB field type -> (Milvus dataType, Array element type)
VIKINGDB_TYPES: dict[str, tuple[str, str | None]] = {
    "int64": ("Int64", None),
    "float32": ("Float", None),
    "string": ("VarChar", None),
    "bool": ("Bool", None),
    "list<string>": ("Array", "VarChar"),
    "list<int64>": ("Array", "Int64"),
    "vector": ("FloatVector", None),
    "sparse_vector": ("SparseFloatVector", None),
    "text": ("VarChar", None),
}
VIKINGDB_AUTO_ID = "__AUTO_ID__"


class UnsupportedSchemaError(ConfigurationError):
    """The live collection uses a field type the provider cannot prepare or check yet."""


class CollectionNotFoundError(ConfigurationError):
    """The collection named for the schema does not exist on the service."""


def _unsupported(collection: str, field: str, what: str) -> UnsupportedSchemaError:
    return UnsupportedSchemaError(
        f"collection {collection!r}: field {field!r}: {what} is not supported by this provider yet"
    )


def _unwrap_envelope(answer: Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(answer.get("data"), Mapping) and "code" in answer:
        return answer["data"]
    return answer


def _params(raw: Any) -> dict[str, str]:
    """``params`` as Milvus renders it (a list of ``{"key", "value"}``) or a plain object."""
    if isinstance(raw, Mapping):
        return {str(k): str(v) for k, v in raw.items()}
    out: dict[str, str] = {}
    for item in raw or []:
        if isinstance(item, Mapping) and "key" in item:
            out[str(item["key"])] = str(item.get("value"))
    return out


def _default_value(raw: Any) -> Any:
    """``defaultValue`` as a plain value: Milvus may render the protobuf ``ValueField``
    (``{"Data": {"LongData": 5}}`` / ``{"long_data": 5}``)."""
    while isinstance(raw, Mapping) and len(raw) == 1:
        raw = next(iter(raw.values()))
    return raw


_SIZED_TYPE = re.compile(r"^\s*([A-Za-z0-9_]+)\s*\((\d+)\)\s*$")

# What a describe answer carries (Milvus handler_v2.go printFieldDetail / getCollectionDetails; the
# "Describe Collection (V2)" docs example). A key outside these is an error naming it when it could
# change the files: at the top a list (it may carry fields, like structArrayFields), on a field any
# set value. Unknown scalars at the top (timestamps, ids) are not about fields and are ignored.
DESCRIBE_KEYS = frozenset(
    {
        "collectionName",
        "collectionID",
        "dbName",
        "description",
        "autoId",
        "enableDynamicField",
        "fields",
        "functions",
        "indexes",
        "load",
        "partitionsNum",
        "properties",
        "shardsNum",
        "consistencyLevel",
        "aliases",
        "rowCount",
    }
)
DESCRIBE_FIELD_KEYS = frozenset(
    {
        "id",
        "name",
        "fieldName",
        "type",
        "dataType",
        "primaryKey",
        "isPrimary",
        "autoId",
        "partitionKey",
        "clusteringKey",
        "nullable",
        "defaultValue",
        "description",
        "params",
        "elementTypeParams",
        "elementType",
        "elementDataType",
        "isFunctionOutput",
    }
)


def _check_describe_keys(name: str, data: Mapping[str, Any]) -> None:
    for key, value in data.items():
        if key in DESCRIBE_KEYS or not isinstance(value, list) or not value:
            continue
        raise UnsupportedSchemaError(
            f"collection {name!r}: the describe answer has {key!r}, which prepare does not understand "
            "(it may carry fields, e.g. Array-of-Struct fields); refusing rather than leaving them out "
            "of the files"
        )


def _check_describe_field_keys(name: str, fname: str, raw: Mapping[str, Any]) -> None:
    unknown = sorted(
        str(k) for k, v in raw.items() if k not in DESCRIBE_FIELD_KEYS and v not in (None, False, "", [], {})
    )
    if unknown:
        raise UnsupportedSchemaError(
            f"collection {name!r}: field {fname!r}: unknown key {unknown[0]!r} in the describe answer; "
            "refusing rather than ignoring a property that may change the files"
        )


def schema_from_milvus_describe(answer: Mapping[str, Any], collection: str | None = None) -> CollectionSchema:
    """Convert a ``collections/describe`` answer (the envelope or its ``data``) to a schema."""
    data = _unwrap_envelope(answer)
    name = str(collection or data.get("collectionName") or "?")
    raw_fields = data.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        raise ConfigurationError(f"collection {name!r}: the describe answer lists no fields")
    _check_describe_keys(name, data)
    fields: list[dict[str, Any]] = []
    for raw in raw_fields:
        fname = str(raw.get("name") or raw.get("fieldName") or "")
        if not fname or fname == "$meta":
            continue
        _check_describe_field_keys(name, fname, raw)
        type_text = str(raw.get("type") or raw.get("dataType") or "")
        params = _params(raw.get("params") or raw.get("elementTypeParams"))
        sized = _SIZED_TYPE.match(type_text)  # the old v1 form "VarChar(256)" / "FloatVector(768)"
        if sized:
            type_text = sized.group(1)
            key = "dim" if "vector" in type_text.lower() else "max_length"
            params.setdefault(key, sized.group(2))
        if raw.get("isFunctionOutput"):
            raise _unsupported(name, fname, "a function output field (e.g. BM25)")
        try:
            dtype = canonical_type(type_text, f"field {fname!r}")
        except ConfigurationError:
            raise _unsupported(name, fname, f"type {type_text!r}") from None
        out: dict[str, Any] = {"fieldName": fname, "dataType": dtype}
        if raw.get("primaryKey") or raw.get("isPrimary"):
            out["isPrimary"] = True
            out["autoId"] = bool(raw.get("autoId", data.get("autoId", False)))
        if raw.get("nullable"):
            out["nullable"] = True
        default = _default_value(raw.get("defaultValue"))
        if default is not None:
            out["defaultValue"] = default
        elem_params: dict[str, Any] = {}
        if "dim" in params:
            elem_params["dim"] = int(params["dim"])
        if dtype == "Array":
            element = str(raw.get("elementType") or raw.get("elementDataType") or "")
            try:
                out["elementDataType"] = canonical_type(element, f"field {fname!r} elementType")
            except ConfigurationError:
                raise _unsupported(name, fname, f"Array of {element!r}") from None
            if out["elementDataType"] not in ARRAY_ELEMENT_TYPES:
                raise _unsupported(name, fname, f"Array of {element!r}")
            elem_params["max_capacity"] = int(params.get("max_capacity", DEFAULT_MAX_CAPACITY))
            if out["elementDataType"] == "VarChar":
                elem_params["max_length"] = int(params.get("max_length", DEFAULT_MAX_LENGTH))
        if dtype == "VarChar":
            elem_params["max_length"] = int(params.get("max_length", DEFAULT_MAX_LENGTH))
        if elem_params:
            out["elementTypeParams"] = elem_params
        fields.append(out)
    body = {
        "autoId": bool(data.get("autoId", False)),
        "enableDynamicField": bool(data.get("enableDynamicField", False)),
        "fields": fields,
    }
    return _build(name, body)


def _build(collection: str, body: Mapping[str, Any]) -> CollectionSchema:
    try:
        return CollectionSchema.from_dict(body)
    except UnsupportedSchemaError:
        raise
    except ConfigurationError as exc:
        raise ConfigurationError(f"collection {collection!r}: {exc}") from None


def schema_from_vikingdb_info(answer: Mapping[str, Any], collection: str | None = None) -> CollectionSchema:
    """Convert a VikingDB ``/api/collection/info`` answer (the envelope or its ``data``)."""
    data = _unwrap_envelope(answer)
    name = str(collection or data.get("collection_name") or "?")
    raw_fields = data.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        raise ConfigurationError(f"collection {name!r}: the collection info lists no fields")
    primary = str(data.get("primary_key") or VIKINGDB_AUTO_ID)
    fields: list[dict[str, Any]] = []
    for raw in raw_fields:
        fname = str(raw.get("field_name") or "")
        ftype = str(raw.get("field_type") or "").strip().lower().replace(" ", "")
        if ftype not in VIKINGDB_TYPES:
            raise _unsupported(name, fname, f"VikingDB field type {raw.get('field_type')!r}")
        if ftype == "text" and raw.get("pipeline_name"):
            raise _unsupported(name, fname, "a text field with a vectorization pipeline")
        dtype, element = VIKINGDB_TYPES[ftype]
        out: dict[str, Any] = {"fieldName": fname, "dataType": dtype}
        params: dict[str, Any] = {}
        if dtype == "FloatVector":
            if raw.get("dim") is None:
                raise ConfigurationError(f"collection {name!r}: field {fname!r}: a vector field without dim")
            params["dim"] = int(raw["dim"])
        if dtype == "VarChar" or element == "VarChar":
            params["max_length"] = DEFAULT_MAX_LENGTH
        if element:
            out["elementDataType"] = element
            params["max_capacity"] = DEFAULT_MAX_CAPACITY
        if params:
            out["elementTypeParams"] = params
        if fname == primary:
            out["isPrimary"] = True
        elif raw.get("default_val") is not None:
            out["defaultValue"] = raw["default_val"]
        fields.append(out)
    if primary not in {f["fieldName"] for f in fields}:  # no primary key given: VikingDB generates one
        fields.insert(0, {"fieldName": primary, "dataType": "Int64", "isPrimary": True, "autoId": True})
    return _build(name, {"autoId": False, "enableDynamicField": False, "fields": fields})


def vikingdb_field_types(schema: CollectionSchema, collection: str = "?") -> dict[str, str]:
    """field name -> VikingDB field type, for the fields the data files carry; raises
    :class:`UnsupportedSchemaError` for a field VikingDB has no type for."""
    out: dict[str, str] = {}
    for f in schema.data_fields:
        match = [
            t
            for t, (d, e) in VIKINGDB_TYPES.items()
            if d == f.data_type and e == f.element_type and t != "text"
        ]
        if not match:
            what = f"{f.data_type}" + (f" of {f.element_type}" if f.element_type else "")
            raise _unsupported(collection, f.name, f"{what} (VikingDB has no such field type)")
        out[f.name] = match[0]
    return out


# ---------------------------------------------------------------------------------------- fetching
def describe_collection(conn_id: str, collection: str, *, db_name: str | None = None) -> dict[str, Any]:
    """The raw describe answer (``data``) and the service it came from: ``{"service", "data"}``.
    The hook is chosen by the connection's type (``zilliz`` or ``vikingdb``)."""
    from airflow.sdk import BaseHook

    from airflow_provider_vectorimport.exceptions import NotFoundError

    if not collection or not isinstance(collection, str):
        raise ConfigurationError(f"a collection name is required to read its schema, got {collection!r}")
    from airflow_provider_vectorimport.utils import quiet_short_extra_masking

    with quiet_short_extra_masking():  # settings extras (api_flavour: v2) are not short "secrets"
        conn_type = (BaseHook.get_connection(conn_id).conn_type or "").lower()
    try:
        if conn_type == "vikingdb":
            from airflow_provider_vectorimport.hooks.vikingdb import VikingDBHook

            return {"service": "vikingdb", "data": VikingDBHook(conn_id).describe_collection(collection)}
        if conn_type == "zilliz":
            from airflow_provider_vectorimport.hooks.zilliz import ZillizHook

            data = ZillizHook(conn_id).describe_collection(collection, db_name=db_name)
            return {"service": "milvus", "data": data}
    except NotFoundError as exc:
        where = f" in database {db_name!r}" if db_name else ""
        raise CollectionNotFoundError(
            f"collection {collection!r} does not exist{where} (connection {conn_id!r}): {exc}"
        ) from exc
    raise ConfigurationError(
        f"connection {conn_id!r} has type {conn_type!r}: reading a collection schema needs a "
        "'zilliz' or 'vikingdb' connection"
    )


def fetch_collection_schema(conn_id: str, collection: str, *, db_name: str | None = None) -> CollectionSchema:
    """The live collection's schema, in the model ``prepare`` uses."""
    answer = describe_collection(conn_id, collection, db_name=db_name)
    if not isinstance(answer["data"], Mapping):
        raise ConfigurationError(
            f"collection {collection!r}: unexpected describe answer {answer['data']!r:.200}"
        )
    if answer["service"] == "vikingdb":
        return schema_from_vikingdb_info(answer["data"], collection)
    return schema_from_milvus_describe(answer["data"], collection)


def parse_schema_from(value: Any) -> dict[str, Any]:
    """``{"conn_id", "collection", "db_name"}`` from a dict or ``"CONN:COLLECTION"`` /
    ``"CONN:DB.COLLECTION"`` text; ConfigurationError naming the problem."""
    if isinstance(value, str):
        conn_id, sep, rest = value.partition(":")
        if not sep or not conn_id or not rest:
            raise ConfigurationError(f"expected CONN_ID:COLLECTION (or CONN_ID:DB.COLLECTION), got {value!r}")
        db, dot, coll = rest.rpartition(".")
        return {"conn_id": conn_id, "collection": coll, "db_name": db if dot else None}
    if isinstance(value, Mapping):
        unknown = set(value) - {"conn_id", "collection", "db_name"}
        if unknown or not value.get("conn_id") or not value.get("collection"):
            raise ConfigurationError(
                "schema_from must be {'conn_id': ..., 'collection': ..., 'db_name': optional}, "
                f"got {dict(value)!r}"
            )
        return {
            "conn_id": value["conn_id"],
            "collection": value["collection"],
            "db_name": value.get("db_name"),
        }
    raise ConfigurationError(
        f"schema_from must be a dict or 'CONN_ID:COLLECTION', got {type(value).__name__}"
    )


def write_schema_file(
    out_dir: str | os.PathLike[str], schema: CollectionSchema, source: Mapping[str, Any]
) -> str:
    """Write ``schema.json`` (the schema + where it came from + its fingerprint) into ``out_dir``."""
    path = os.path.join(os.fspath(out_dir), SCHEMA_FILE)
    doc = {
        **schema.to_dict(),
        "fingerprint": schema.fingerprint,
        "source": {k: v for k, v in source.items() if v is not None},
    }
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2, sort_keys=True, default=str)
    os.replace(tmp, path)
    return path


def resolve_prepare_schema(schema: Any, schema_from: Any) -> tuple[Any, dict[str, Any] | None]:
    """For ``prepare``: exactly one of a schema (dict / JSON / file) or ``schema_from`` (a connection
    and collection). Returns ``(schema, source)``; ``source`` is None for a given schema."""
    if (schema is None) == (schema_from is None):
        raise ConfigurationError(
            "give either schema (a dict or a JSON file) or schema_from (a connection and collection), not "
            + ("both" if schema is not None else "neither")
        )
    if schema_from is None:
        return schema, None
    source = parse_schema_from(schema_from)
    fetched = fetch_collection_schema(source["conn_id"], source["collection"], db_name=source["db_name"])
    return fetched, source


def attach_schema(
    manifest: dict[str, Any], schema: CollectionSchema, source: Mapping[str, Any]
) -> dict[str, Any]:
    """After prepare: write ``schema.json`` next to the files and note it in the manifest."""
    write_schema_file(manifest["root"], schema, source)
    manifest["schema_file"] = SCHEMA_FILE
    manifest["schema_source"] = {k: v for k, v in source.items() if v is not None}
    return manifest
