"""Milvus REST v2 / Zilliz Cloud cluster data plane for partitions and deletes, pure: request
builders, answer parsers and the naming and filter rules :mod:`airflow_provider_vectorimport.replace`
builds on. No I/O: :class:`~airflow_provider_vectorimport.hooks.partitions.PartitionHook` sends them.

The calls (``tests/fixtures/milvus_partitions/*.json``, each naming its page): partitions
``create``/``drop``/``has``/``list``/``load``/``release``/``get_stats`` (singular ``partitionName``
for create/drop/has/get_stats, plural ``partitionNames`` for load/release), ``entities/delete``
by filter, ``entities/query`` with ``count(*)`` and ``collections/get_load_state``. Every one is a
``POST`` with a JSON body, on the Milvus host or on the Zilliz Cloud cluster endpoint.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_vectorimport.exceptions import ConfigurationError, ServiceError
from airflow_provider_vectorimport.protocols.zilliz import ApiCall

__all__ = [
    "MAX_PARTITIONS",
    "PARTITION_PATHS",
    "build_count_call",
    "build_delete_call",
    "build_load_state_call",
    "build_partition_call",
    "build_query_call",
    "check_partition_name",
    "literal",
    "literal_list",
    "parse_count",
    "parse_has",
    "parse_load_state",
    "parse_partition_list",
    "parse_row_count",
    "partition_key_field",
    "slice_filter",
]

#: "at most 1,024 partitions per collection" (Milvus manage-partitions.md; Zilliz Cloud limits page)
MAX_PARTITIONS = 1024

PARTITION_PATHS = {
    "create": "/v2/vectordb/partitions/create",
    "drop": "/v2/vectordb/partitions/drop",
    "has": "/v2/vectordb/partitions/has",
    "list": "/v2/vectordb/partitions/list",
    "load": "/v2/vectordb/partitions/load",
    "release": "/v2/vectordb/partitions/release",
    "get_stats": "/v2/vectordb/partitions/get_stats",
}
_PLURAL = {"load", "release"}
_NO_PARTITION = {"list"}

#: Milvus names: a letter or underscore first, then letters, digits and underscores, <= 255 chars
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")


def check_partition_name(name: Any, *, what: str = "partition name") -> str:
    """The name, or :class:`ConfigurationError` naming the rule it breaks (before any request)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigurationError(
            f"{what} {name!r} is not a valid Milvus partition name: it must start with a letter or "
            "an underscore and hold only letters, digits and underscores (at most 255 characters)"
        )
    return name


def _body(collection: str, db_name: str | None) -> dict[str, Any]:
    if not collection:
        raise ConfigurationError("collection name is required")
    body: dict[str, Any] = {"collectionName": collection}
    if db_name:
        body["dbName"] = db_name
    return body


def build_partition_call(
    op: str, collection: str, partition: str | Sequence[str] | None = None, *, db_name: str | None = None
) -> ApiCall:
    """``POST /v2/vectordb/partitions/<op>``; ``partition`` is one name (create, drop, has,
    get_stats) or a list (load, release); ``list`` takes none."""
    if op not in PARTITION_PATHS:
        raise ValueError(f"unknown partition call {op!r}; expected one of {', '.join(PARTITION_PATHS)}")
    body = _body(collection, db_name)
    if op in _PLURAL:
        names = [partition] if isinstance(partition, str) else list(partition or [])
        if not names:
            raise ConfigurationError(f"partitions/{op} needs at least one partition name")
        body["partitionNames"] = [check_partition_name(n) for n in names]
    elif op not in _NO_PARTITION:
        if not isinstance(partition, str):
            raise ConfigurationError(f"partitions/{op} needs one partition name")
        body["partitionName"] = check_partition_name(partition)
    return ApiCall("POST", PARTITION_PATHS[op], json=body)


def build_delete_call(
    collection: str,
    filter: str,
    *,
    partition: str | None = None,
    db_name: str | None = None,
    expr_params: Mapping[str, Any] | None = None,
) -> ApiCall:
    """``POST /v2/vectordb/entities/delete`` by a boolean expression (never an empty one: that
    would mean every row)."""
    if not isinstance(filter, str) or not filter.strip():
        raise ConfigurationError("a delete needs a non-empty filter expression")
    body = _body(collection, db_name)
    body["filter"] = filter
    if partition:
        body["partitionName"] = check_partition_name(partition)
    if expr_params:
        body["exprParams"] = dict(expr_params)
    return ApiCall("POST", "/v2/vectordb/entities/delete", json=body)


def build_query_call(
    collection: str,
    *,
    filter: str = "",
    output_fields: Sequence[str] = (),
    partitions: Sequence[str] | None = None,
    limit: int | None = None,
    offset: int | None = None,
    db_name: str | None = None,
) -> ApiCall:
    """``POST /v2/vectordb/entities/query``."""
    body = _body(collection, db_name)
    body["filter"] = filter
    if output_fields:
        body["outputFields"] = list(output_fields)
    if partitions:
        body["partitionNames"] = [check_partition_name(p) for p in partitions]
    if limit is not None:
        body["limit"] = int(limit)
    if offset:
        body["offset"] = int(offset)
    return ApiCall("POST", "/v2/vectordb/entities/query", json=body)


def build_count_call(
    collection: str,
    *,
    filter: str = "",
    partitions: Sequence[str] | None = None,
    db_name: str | None = None,
) -> ApiCall:
    """A ``count(*)`` query: the rows a reader sees now (``get_stats`` may count deleted rows
    until compaction)."""
    return build_query_call(
        collection, filter=filter, output_fields=["count(*)"], partitions=partitions, db_name=db_name
    )


def build_load_state_call(
    collection: str, *, partitions: Sequence[str] | None = None, db_name: str | None = None
) -> ApiCall:
    """``POST /v2/vectordb/collections/get_load_state`` (optionally of some partitions)."""
    body = _body(collection, db_name)
    if partitions:
        body["partitionNames"] = [check_partition_name(p) for p in partitions]
    return ApiCall("POST", "/v2/vectordb/collections/get_load_state", json=body)


# ----------------------------------------------------------------------------- parsers


def parse_partition_list(data: Any) -> list[str]:
    """``data`` of partitions/list: ``["_default", …]``."""
    if not isinstance(data, list) or not all(isinstance(n, str) for n in data):
        raise ServiceError(f"unexpected partitions/list answer: {data!r:.200}", service="milvus")
    return list(data)


def parse_has(data: Any) -> bool:
    if not isinstance(data, Mapping) or not isinstance(data.get("has"), bool):
        raise ServiceError(f"unexpected partitions/has answer: {data!r:.200}", service="milvus")
    return bool(data["has"])


def parse_row_count(data: Any) -> int:
    """``data`` of partitions/get_stats or collections/get_stats: ``{"rowCount": n}``."""
    if not isinstance(data, Mapping) or "rowCount" not in data:
        raise ServiceError(f"unexpected get_stats answer: {data!r:.200}", service="milvus")
    return int(data["rowCount"])


def parse_count(data: Any) -> int:
    """``data`` of a ``count(*)`` query: ``[{"count(*)": n}]``."""
    if isinstance(data, list) and data and isinstance(data[0], Mapping) and "count(*)" in data[0]:
        return int(data[0]["count(*)"])
    raise ServiceError(f"unexpected count(*) answer: {data!r:.200}", service="milvus")


def parse_load_state(data: Any) -> str:
    """``LoadStateLoaded`` / ``LoadStateLoading`` / ``LoadStateNotLoad`` / ``LoadStateNotExist``."""
    if not isinstance(data, Mapping) or not isinstance(data.get("loadState"), str):
        raise ServiceError(f"unexpected get_load_state answer: {data!r:.200}", service="milvus")
    return str(data["loadState"])


# ----------------------------------------------------------------------------- schema and filters


def _describe_fields(describe: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    fields = describe.get("fields") if isinstance(describe, Mapping) else None
    return [f for f in fields or [] if isinstance(f, Mapping)]


def partition_key_field(describe: Mapping[str, Any]) -> str | None:
    """The partition-key field of a collections/describe answer (``partitionKey: true``), if any."""
    for f in _describe_fields(describe):
        if f.get("partitionKey") is True or str(f.get("partitionKey")).lower() == "true":
            return str(f.get("name") or f.get("fieldName"))
    return None


def field_type(describe: Mapping[str, Any], name: str) -> str | None:
    """The ``type`` of field ``name`` in a collections/describe answer, or None when absent."""
    for f in _describe_fields(describe):
        if (f.get("name") or f.get("fieldName")) == name:
            return str(f.get("type") or f.get("dataType") or "")
    return None


def primary_field(describe: Mapping[str, Any]) -> tuple[str, bool]:
    """``(name, autoId)`` of the primary key of a collections/describe answer."""
    for f in _describe_fields(describe):
        if f.get("primaryKey") is True or f.get("isPrimary") is True:
            auto = f.get("autoId", describe.get("autoID", describe.get("autoId", False)))
            return str(f.get("name") or f.get("fieldName")), bool(auto)
    raise ServiceError("the collection's description names no primary key", service="milvus")


_SCALAR_TYPES = {"Bool", "Int8", "Int16", "Int32", "Int64", "Float", "Double", "VarChar", "String"}


def literal(value: Any) -> str:
    """A Milvus boolean-expression literal: strings JSON-quoted (escapes included), numbers and
    booleans as written; anything else is refused."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    raise ConfigurationError(f"a slice value must be a string, a number or a boolean, got {value!r}")


def literal_list(values: Sequence[Any]) -> str:
    """``[v1, v2, …]`` of :func:`literal` values (for ``<pk> in [...]``)."""
    return "[" + ", ".join(literal(v) for v in values) + "]"


def slice_filter(describe: Mapping[str, Any], field: str, value: Any) -> str:
    """``<field> == <value>`` for a scalar field of the collection, with the value cast to the
    field's type; :class:`ConfigurationError` for a field the schema lacks or cannot compare."""
    kind = field_type(describe, field)
    if kind is None:
        names = ", ".join(str(f.get("name") or f.get("fieldName")) for f in _describe_fields(describe))
        raise ConfigurationError(
            f"replace field {field!r} is not in the collection's schema (fields: {names})"
        )
    if kind not in _SCALAR_TYPES:
        raise ConfigurationError(
            f"replace field {field!r} is a {kind} field; a slice needs a scalar field "
            f"({', '.join(sorted(_SCALAR_TYPES))})"
        )
    if kind in {"Int8", "Int16", "Int32", "Int64"}:
        try:
            value = int(value)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(
                f"replace value {value!r} is not an integer ({field} is {kind})"
            ) from exc
    elif kind in {"Float", "Double"}:
        try:
            value = float(value)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"replace value {value!r} is not a number ({field} is {kind})") from exc
    elif kind == "Bool":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise ConfigurationError(f"replace value {value!r} is not a boolean ({field} is Bool)")
    elif not isinstance(value, str):
        value = str(value)
    return f"{field} == {literal(value)}"
