"""Partitions and delete by filter on the emulator's Milvus REST v2 / Zilliz Cloud cluster
endpoint, answered as the documents say (``tests/fixtures/milvus_partitions/*.json``):

- ``partitions/create|drop|has|list|load|release|get_stats`` and ``collections/get_load_state``
  (with ``partitionNames``); at most :data:`MAX_PARTITIONS` partitions per collection; a
  partition-key collection refuses manual create/drop (Milvus: "disable create partition if
  partition key mode is used"); ``_default`` cannot be dropped; a loaded partition must be
  released before it is dropped ("To successfully drop a partition, ensure that the partition is
  already released", drop-partition-v2).
- ``entities/delete`` by ``filter`` (optionally in one ``partitionName``: "If specified, the data
  is to be deleted from the specified partition", delete-v2), answered ``data: {}`` with no count.
  As on Milvus the filter is resolved to primary keys, and those keys are deleted.
- Released partitions are left out of whole-collection queries and a query naming one fails, as
  on Milvus (Milvus Lite itself keeps every partition loaded, so the emulator keeps the state).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_vectorimport.emulator.collections import _internal

if TYPE_CHECKING:
    from airflow_provider_vectorimport.emulator.core import Request
    from airflow_provider_vectorimport.emulator.zilliz import ZillizMilvusService

MAX_PARTITIONS = 1024
MILVUS_PARAM = 1100
MILVUS_COLLECTION_NOT_FOUND = 100
MILVUS_PARTITION_NOT_FOUND = 200
MILVUS_PARTITION_NOT_LOADED = 201
MILVUS_UNEXPECTED = 65535

Route = Callable[["Request", dict[str, Any]], Any]


class PartitionRoutes:
    """The routes above, sharing the service's collection store; install with :func:`install`."""

    def __init__(self, service: ZillizMilvusService) -> None:
        from airflow_provider_vectorimport.emulator.zilliz import _Err

        self.service = service
        self.store = service.collections
        self._Err = _Err
        self._lock = threading.Lock()
        #: (db, collection) -> partitions released by a partitions/release call
        self.released: dict[tuple[str, str], set[str]] = {}
        #: every filter delete answered (db, collection, partition, filter), for tests and the demo
        self.deletes: list[tuple[str, str, str, str]] = []

    def reset(self) -> None:
        with self._lock:
            self.released.clear()
            self.deletes.clear()

    # ---- helpers -----------------------------------------------------------------------------
    def _args(self, request: Request, params: Mapping[str, Any]) -> tuple[str, str]:
        svc = self.service
        name = svc._str(params, "collectionName", MILVUS_PARAM)
        db = svc._db(request, params)
        if not self.store.has(db, name):
            raise self._Err(
                MILVUS_COLLECTION_NOT_FOUND, f"collection not found[database={db}][collection={name}]"
            )
        return db, name

    def _partition(self, params: Mapping[str, Any]) -> str:
        return self.service._str(params, "partitionName", MILVUS_PARAM)

    def _names(self, params: Mapping[str, Any]) -> list[str]:
        names = params.get("partitionNames")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            raise self._Err(MILVUS_PARAM, "partitionNames must be a non-empty list of partition names")
        return names

    def _require(self, db: str, name: str, partition: str) -> None:
        if not self.store.has_partition(db, name, partition):
            raise self._Err(MILVUS_PARTITION_NOT_FOUND, f"partition not found[partition={partition}]")

    def _partition_key(self, db: str, name: str) -> str | None:
        schema = self.store.describe(db, name)
        return next((f.name for f in schema.fields if f.partition_key), None)

    def released_of(self, db: str, name: str) -> set[str]:
        with self._lock:
            return set(self.released.get((db, name), ()))

    def count(self, db: str, name: str, partitions: list[str], filter: str = "") -> int:
        """Rows in ``partitions`` (Milvus Lite's ``count(*)`` ignores ``partition_names``, so the
        keys are paged through instead)."""
        pk = self.store.describe(db, name).primary.name
        total, offset, page = 0, 0, 16384
        while True:
            with self.store._lock:
                got = self.store._client.query(
                    _internal(db, name),
                    filter=filter,
                    output_fields=[pk],
                    partition_names=partitions,
                    limit=page,
                    offset=offset,
                )
            total += len(got)
            if len(got) < page:
                return total
            offset += page

    def keys(
        self, db: str, name: str, filter: str, partitions: list[str] | None, params: Any = None
    ) -> list[Any]:
        """Primary keys of the rows matching ``filter`` (in ``partitions``): what a delete by
        filter resolves to on Milvus before it deletes those keys (Milvus Lite's own filter
        delete would ignore ``partition_name``)."""
        pk = self.store.describe(db, name).primary.name
        out: list[Any] = []
        offset, page = 0, 16384
        extra: dict[str, Any] = {"partition_names": partitions} if partitions else {}
        if isinstance(params, Mapping) and params:
            extra["filter_params"] = dict(params)
        while True:
            with self.store._lock:
                got = self.store._client.query(
                    _internal(db, name), filter=filter, output_fields=[pk], limit=page, offset=offset, **extra
                )
            out.extend(r[pk] for r in got)
            if len(got) < page:
                return out
            offset += page

    def loaded_partitions(self, db: str, name: str) -> list[str] | None:
        """The partitions a whole-collection read covers: None when none is released."""
        released = self.released_of(db, name)
        if not released:
            return None
        return [p for p in self.store.list_partitions(db, name) if p not in released]

    # ---- partitions --------------------------------------------------------------------------
    def create(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        db, name = self._args(request, params)
        partition = self._partition(params)
        if self._partition_key(db, name):
            raise self._Err(MILVUS_UNEXPECTED, "disable create partition if partition key mode is used")
        existing = self.store.list_partitions(db, name)
        if partition not in existing and len(existing) >= MAX_PARTITIONS:
            raise self._Err(
                MILVUS_UNEXPECTED,
                f"partition number ({len(existing)}) exceeds max configuration ({MAX_PARTITIONS}), "
                f"collection: {name}",
            )
        self.store.ensure_partition(db, name, partition)
        return {}

    def drop(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        db, name = self._args(request, params)
        partition = self._partition(params)
        if self._partition_key(db, name):
            raise self._Err(MILVUS_UNEXPECTED, "disable drop partition if partition key mode is used")
        if partition == "_default":
            raise self._Err(MILVUS_UNEXPECTED, "default partition cannot be deleted")
        if not self.store.has_partition(db, name, partition):
            return {}  # dropping a partition that is gone already succeeds
        if partition not in self.released_of(db, name):
            raise self._Err(
                MILVUS_UNEXPECTED,
                f"partition cannot be dropped, partition is loaded, please release it first "
                f"[partition={partition}]",
            )
        with self.store._lock:
            self.store._client.drop_partition(_internal(db, name), partition)
        with self._lock:
            self.released.get((db, name), set()).discard(partition)
        return {}

    def load(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        db, name = self._args(request, params)
        names = self._names(params)
        for p in names:
            self._require(db, name, p)
        with self._lock:
            self.released.get((db, name), set()).difference_update(names)
        return {}

    def release(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        db, name = self._args(request, params)
        names = self._names(params)
        for p in names:
            self._require(db, name, p)
        with self._lock:
            self.released.setdefault((db, name), set()).update(names)
        return {}

    def get_stats(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        db, name = self._args(request, params)
        partition = self._partition(params)
        self._require(db, name, partition)
        return {"rowCount": self.count(db, name, [partition])}

    def load_state(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        """``collections/get_load_state``: Milvus Lite loads every collection on create; a
        released partition is ``LoadStateNotLoad``."""
        svc = self.service
        name = svc._str(params, "collectionName", MILVUS_PARAM)
        db = svc._db(request, params)
        if not self.store.has(db, name):
            return {"loadState": "LoadStateNotExist", "loadProgress": 0, "message": ""}
        names = params.get("partitionNames") or []
        if not isinstance(names, list):
            raise self._Err(MILVUS_PARAM, "partitionNames must be a list of partition names")
        for p in names:
            self._require(db, name, p)
        released = self.released_of(db, name)
        loaded = not any(p in released for p in names) if names else True
        if loaded:
            return {"loadState": "LoadStateLoaded", "loadProgress": 100, "message": ""}
        return {"loadState": "LoadStateNotLoad", "loadProgress": 0, "message": ""}

    # ---- entities ----------------------------------------------------------------------------
    def delete(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        db, name = self._args(request, params)
        expr = params.get("filter")
        if params.get("id") is not None and expr:
            raise self._Err(MILVUS_PARAM, "Setting both id and filter results in an error")
        if not isinstance(expr, str) or not expr.strip():
            raise self._Err(MILVUS_PARAM, "missing required parameter 'filter' (a boolean expression)")
        partition = self.service._str(params, "partitionName", MILVUS_PARAM, required=False)
        if partition:
            self._require(db, name, partition)
        try:
            keys = self.keys(db, name, expr, [partition] if partition else None, params.get("exprParams"))
            self.store.delete_ids(db, name, keys)
        except Exception as exc:
            message = getattr(exc, "message", None) or str(exc)
            raise self._Err(MILVUS_PARAM, f"delete failed: {message}") from exc
        with self._lock:
            self.deletes.append((db, name, partition, expr))
        return {}

    def wrap_drop(self, original: Route) -> Route:
        """A dropped collection forgets its released partitions."""

        def drop(request: Request, params: dict[str, Any]) -> Any:
            result = original(request, params)
            key = (self.service._db(request, params), str(params.get("collectionName") or ""))
            with self._lock:
                self.released.pop(key, None)
            return result

        return drop

    def wrap_query(self, original: Route) -> Route:
        """Whole-collection queries skip released partitions; naming one fails (as on Milvus)."""

        def query(request: Request, params: dict[str, Any]) -> Any:
            svc = self.service
            name = svc._str(params, "collectionName", MILVUS_PARAM)
            db = svc._db(request, params)
            released = self.released_of(db, name)
            if released:
                named = params.get("partitionNames")
                if isinstance(named, list) and named:
                    hit = [p for p in named if p in released]
                    if hit:
                        raise self._Err(
                            MILVUS_PARTITION_NOT_LOADED, f"partition not loaded[partition={hit[0]}]"
                        )
                else:
                    loaded = self.loaded_partitions(db, name) or []
                    if not loaded:
                        raise self._Err(MILVUS_PARTITION_NOT_LOADED, "collection not loaded")
                    params = {**params, "partitionNames": loaded}
            named = params.get("partitionNames")
            fields = params.get("outputFields")
            if (
                isinstance(named, list)
                and named
                and isinstance(fields, list)
                and [str(f).strip() for f in fields] == ["count(*)"]
                and self.store.has(db, name)
            ):
                for p in named:
                    self._require(db, name, str(p))
                return [
                    {
                        "count(*)": self.count(
                            db, name, [str(p) for p in named], str(params.get("filter") or "")
                        )
                    }
                ]
            return original(request, params)

        return query


def install(service: ZillizMilvusService) -> PartitionRoutes:
    """Add the routes to ``service`` (routes another module already answers are kept)."""
    routes = PartitionRoutes(service)
    table = service._routes
    for path, handler in {
        "/v2/vectordb/partitions/create": routes.create,
        "/v2/vectordb/partitions/drop": routes.drop,
        "/v2/vectordb/partitions/load": routes.load,
        "/v2/vectordb/partitions/release": routes.release,
        "/v2/vectordb/partitions/get_stats": routes.get_stats,
        "/v2/vectordb/entities/delete": routes.delete,
    }.items():
        table[path] = handler
    table.setdefault("/v2/vectordb/collections/get_load_state", routes.load_state)
    if "/v2/vectordb/collections/drop" in table:
        table["/v2/vectordb/collections/drop"] = routes.wrap_drop(table["/v2/vectordb/collections/drop"])
    if "/v2/vectordb/entities/query" in table:
        table["/v2/vectordb/entities/query"] = routes.wrap_query(table["/v2/vectordb/entities/query"])
    return routes
