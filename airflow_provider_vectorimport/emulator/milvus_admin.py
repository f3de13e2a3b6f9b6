"""Milvus REST v2 (and the Zilliz Cloud cluster data plane) for collections' lifecycle: indexes with
their build state, load / release / load state, and aliases (create, atomic alter, describe, list,
drop), with every data-plane call resolving an alias to its collection.

Mounted in front of :class:`~airflow_provider_vectorimport.emulator.zilliz.ZillizMilvusService`: it
answers the index, load and alias routes itself, adds index, load and alias facts to
``collections/create`` / ``describe`` / ``drop``, and for the entity, stats, partition and import routes
rewrites an alias in ``collectionName`` to its collection and refuses reads on an unloaded one, then
lets that service answer.

What is answered is what the documents say (``shared/reference/api-audit-2026-12.md`` part 2a, the
web-content pages ``manage-aliases.md``, ``create-collection.md``, ``load-and-release.md``,
``index-vector-fields.md``; error codes from milvus ``pkg/util/merr/errors.go``):

* a collection created with ``indexParams`` (or the quick-setup form) is indexed and loaded; one created
  from a schema without them has no index and is not loaded until ``indexes/create`` and
  ``collections/load`` (with ``strict_load``; without it, the emulator's older behaviour: every
  collection starts indexed and loaded, so older tests and the quick start keep working);
* an index builds asynchronously (``InProgress`` -> ``Finished``); load needs an index on every vector
  field (code 700) and is asynchronous (``LoadStateLoading`` -> ``LoadStateLoaded``);
* search / query / get on a collection that is not loaded answer code 101 ``collection not loaded``;
* an alias points at one collection; ``alter`` switches it in one step; a name is resolved first as a
  collection, then as an alias; a collection that still has aliases cannot be dropped (Milvus >= 2.5.5),
  nor can a collection be dropped through an alias.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_vectorimport.emulator.collections import CollectionNotFound, CollectionStore
from airflow_provider_vectorimport.emulator.core import Request, Response
from airflow_provider_vectorimport.emulator.zilliz import _Err as _ServiceErr

# milvus pkg/util/merr/errors.go
COLLECTION_NOT_FOUND = 100
COLLECTION_NOT_LOADED = 101
INDEX_NOT_FOUND = 700
PARAMETER_INVALID = 1100
ALIAS_NOT_FOUND = 1600
ALIAS_COLLECTION_CONFLICT = 1601
ALIAS_ALREADY_EXIST = 1602
FIELD_NOT_FOUND = 1700
UNEXPECTED = 65535

LOAD_NOT_EXIST = "LoadStateNotExist"
LOAD_NOT_LOAD = "LoadStateNotLoad"
LOAD_LOADING = "LoadStateLoading"
LOAD_LOADED = "LoadStateLoaded"

#: routes whose ``collectionName`` may be an alias (resolved before the collection service answers)
RESOLVED_ROUTES = frozenset(
    {
        "/v2/vectordb/collections/describe",
        "/v2/vectordb/collections/get_stats",
        "/v2/vectordb/entities/query",
        "/v2/vectordb/entities/search",
        "/v2/vectordb/entities/get",
        "/v2/vectordb/entities/insert",
        "/v2/vectordb/entities/upsert",
        "/v2/vectordb/entities/delete",
        "/v2/vectordb/partitions/create",
        "/v2/vectordb/partitions/drop",
        "/v2/vectordb/partitions/list",
        "/v2/vectordb/partitions/has",
        "/v2/vectordb/partitions/get_stats",
        "/v2/vectordb/partitions/load",
        "/v2/vectordb/partitions/release",
        "/v2/vectordb/jobs/import/create",
    }
)
#: reads that need a loaded collection
READ_ROUTES = frozenset(
    {"/v2/vectordb/entities/query", "/v2/vectordb/entities/search", "/v2/vectordb/entities/get"}
)
_PROPERTY_PARAMS = {"ttlSeconds": "collection.ttl.seconds", "mmap.enabled": "mmap.enabled"}


class _Err(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class IndexRecord:
    field_name: str
    index_name: str
    index_type: str
    metric_type: str
    params: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    build_seconds: float = 0.0
    #: the emulator's default index of the older behaviour: a later ``indexes/create`` replaces it
    implicit: bool = False

    def finished(self, now: float) -> bool:
        return now >= self.started + self.build_seconds

    def same(self, other: IndexRecord) -> bool:
        return (self.index_type, self.metric_type, self.params) == (
            other.index_type,
            other.metric_type,
            other.params,
        )


@dataclass
class CollectionState:
    indexes: dict[str, IndexRecord] = field(default_factory=dict)
    load: str = LOAD_NOT_LOAD
    load_started: float = 0.0
    load_seconds: float = 0.0
    properties: list[dict[str, str]] = field(default_factory=list)
    consistency_level: str = "Bounded"
    shards_num: int = 1


class ClusterState:
    """Aliases, indexes and load states of the emulated collections, one lock for all (alter is atomic)."""

    def __init__(self, *, strict_load: bool = False) -> None:
        self.lock = threading.RLock()
        self.strict_load = strict_load
        self.default_strict_load = strict_load
        self.aliases: dict[tuple[str, str], str] = {}
        self.collections: dict[tuple[str, str], CollectionState] = {}
        #: counters for tests: alias switches and reads refused as not loaded
        self.alters = 0
        self.refused_reads = 0

    def reset(self) -> None:
        with self.lock:
            self.aliases.clear()
            self.collections.clear()
            self.strict_load = self.default_strict_load
            self.alters = self.refused_reads = 0

    def resolve(self, db: str, name: str, exists: Callable[[str, str], bool]) -> str:
        """A collection name as is; else the collection an alias points at; else the name."""
        with self.lock:
            if exists(db, name):
                return name
            return self.aliases.get((db, name), name)

    def aliases_of(self, db: str, collection: str) -> list[str]:
        with self.lock:
            return sorted(a for (d, a), c in self.aliases.items() if d == db and c == collection)


def _db(request: Request, params: Mapping[str, Any]) -> str:
    return str(params.get("dbName") or request.header("db-name") or "default").strip() or "default"


def _name(params: Mapping[str, Any], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value:
        raise _Err(PARAMETER_INVALID, f"missing required parameters: {key}")
    return value


class MilvusClusterService:
    """The ``Service`` for indexes, load state and aliases (see the module docstring)."""

    def __init__(
        self,
        inner: Any,
        collections: Callable[[], CollectionStore],
        state: ClusterState,
        *,
        pace: Callable[[], float] = lambda: 0.0,
    ) -> None:
        #: the collection service that creates, describes and drops (ZillizMilvusService)
        self.inner = inner
        self._collections = collections
        self.state = state
        self.pace = pace
        self._routes: dict[str, Callable[[Request, dict[str, Any]], Any]] = {
            "/v2/vectordb/indexes/create": self._index_create,
            "/v2/vectordb/indexes/describe": self._index_describe,
            "/v2/vectordb/indexes/list": self._index_list,
            "/v2/vectordb/indexes/drop": self._index_drop,
            "/v2/vectordb/collections/load": self._load,
            "/v2/vectordb/collections/release": self._release,
            "/v2/vectordb/collections/get_load_state": self._load_state,
            "/v2/vectordb/aliases/create": self._alias_create,
            "/v2/vectordb/aliases/alter": self._alias_alter,
            "/v2/vectordb/aliases/describe": self._alias_describe,
            "/v2/vectordb/aliases/list": self._alias_list,
            "/v2/vectordb/aliases/drop": self._alias_drop,
        }

    @property
    def collections(self) -> CollectionStore:
        return self._collections()

    # ---- dispatch ---------------------------------------------------------------------------
    def handle(self, request: Request) -> Response | None:
        path = request.path.rstrip("/") or "/"
        own = self._routes.get(path)
        if own is None and path not in RESOLVED_ROUTES and path not in _HOOKED:
            return None
        try:
            params = request.json() if request.body else {}
        except ValueError:
            return None  # the collection service names the bad body
        if not isinstance(params, dict):
            return None
        if own is None and path in RESOLVED_ROUTES and params.get("clusterId"):
            return None  # a Zilliz Cloud control-plane import: names a collection, never an alias
        try:
            if own is not None or path in _HOOKED:
                self.inner._authenticate(request, False, params)
            if own is not None:
                return self._ok(own(request, params))
            if path in _HOOKED:
                return _HOOKED[path](self, request, params)
            return self._pass_through(request, params, path)
        except _Err as err:
            return Response(200, {"code": err.code, "message": err.message})
        except _ServiceErr as err:  # the collection service's authentication error
            return Response(err.status, {"code": err.code, "message": err.message})
        except CollectionNotFound as exc:
            return Response(200, {"code": COLLECTION_NOT_FOUND, "message": str(exc)})

    @staticmethod
    def _ok(data: Any) -> Response:
        return Response(200, {"code": 0, "data": data})

    def _resolve(self, db: str, name: str) -> str:
        return self.state.resolve(db, name, self.collections.has)

    def _pass_through(self, request: Request, params: dict[str, Any], path: str) -> Response | None:
        name = params.get("collectionName")
        if not isinstance(name, str) or not name:
            return None
        db = _db(request, params)
        with self.state.lock:
            target = self._resolve(db, name)
            if path in READ_ROUTES and self.collections.has(db, target):
                if self._load_of(db, target) != LOAD_LOADED:
                    self.state.refused_reads += 1
                    raise _Err(COLLECTION_NOT_LOADED, f"collection not loaded[collection={target}]")
        if target != name:
            request.body = json.dumps({**params, "collectionName": target}).encode()
        return None

    # ---- state ------------------------------------------------------------------------------
    def _coll(self, db: str, name: str) -> CollectionState:
        """The state of an existing collection (made on first sight for collections created before)."""
        with self.state.lock:
            st = self.state.collections.get((db, name))
            if st is None:
                schema = self.collections.describe(db, name)  # raises CollectionNotFound
                st = CollectionState(load=LOAD_LOADED)
                for ip in schema.index_params:
                    rec = _record(ip, implicit=True)
                    st.indexes[rec.index_name] = rec
                self.state.collections[(db, name)] = st
            return st

    def _load_of(self, db: str, name: str) -> str:
        st = self._coll(db, name)
        if st.load == LOAD_LOADING:
            now = time.monotonic()
            if all(i.finished(now) for i in st.indexes.values()) and now >= st.load_started + st.load_seconds:
                st.load = LOAD_LOADED
        return st.load

    def _existing(self, request: Request, params: Mapping[str, Any]) -> tuple[str, str]:
        db = _db(request, params)
        name = self._resolve(db, _name(params, "collectionName"))
        if not self.collections.has(db, name):
            raise _Err(COLLECTION_NOT_FOUND, f"collection not found[database={db}][collection={name}]")
        return db, name

    # ---- collections (hooked around the collection service) ----------------------------------
    def _create(self, request: Request, params: dict[str, Any]) -> Response | None:
        name = _name(params, "collectionName")
        db = _db(request, params)
        with self.state.lock:
            if (db, name) in self.state.aliases:
                raise _Err(
                    ALIAS_COLLECTION_CONFLICT,
                    f"alias and collection name conflict[database={db}][alias={name}]",
                )
            existed = self.collections.has(db, name)
            response = self.inner.handle(request)
            if response is None or not isinstance(response.body, dict) or response.body.get("code") != 0:
                return response
            if existed:
                return response
            explicit = bool(params.get("indexParams")) or params.get("schema") is None
            schema = self.collections.describe(db, name)
            st = CollectionState()
            given = params.get("params")
            raw: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
            st.consistency_level = str(raw.get("consistencyLevel") or "Bounded")
            st.shards_num = int(raw.get("shardsNum") or 1)
            st.properties = [
                {"key": key, "value": str(raw[p])} for p, key in _PROPERTY_PARAMS.items() if p in raw
            ]
            if explicit or not self.state.strict_load:
                for ip in schema.index_params:
                    rec = _record(ip, implicit=not explicit)
                    st.indexes[rec.index_name] = rec
                st.load = LOAD_LOADED
            self.state.collections[(db, name)] = st
            return response

    def _describe(self, request: Request, params: dict[str, Any]) -> Response | None:
        db = _db(request, params)
        name = params.get("collectionName")
        if isinstance(name, str) and name:
            target = self._resolve(db, name)
            if target != name:
                request.body = json.dumps({**params, "collectionName": target}).encode()
            name = target
        response = self.inner.handle(request)
        if (
            response is None
            or not isinstance(response.body, dict)
            or response.body.get("code") != 0
            or not isinstance(name, str)
        ):
            return response
        data = dict(response.body.get("data") or {})
        with self.state.lock:
            st = self._coll(db, name)
            data["load"] = self._load_of(db, name)
            data["aliases"] = self.state.aliases_of(db, name)
            data["indexes"] = [
                {"fieldName": i.field_name, "indexName": i.index_name, "metricType": i.metric_type}
                for i in st.indexes.values()
            ]
            data["properties"] = list(st.properties)
            data["consistencyLevel"] = st.consistency_level
            data["shardsNum"] = st.shards_num
        return Response(200, {**response.body, "data": data})

    def _drop(self, request: Request, params: dict[str, Any]) -> Response | None:
        name = _name(params, "collectionName")
        db = _db(request, params)
        with self.state.lock:
            if not self.collections.has(db, name) and (db, name) in self.state.aliases:
                raise _Err(UNEXPECTED, f"cannot drop the collection via alias = {name}")
            aliases = self.state.aliases_of(db, name)
            if aliases:
                raise _Err(
                    UNEXPECTED,
                    f"unable to drop the collection [{name}] because it has associated aliases {aliases}, "
                    "please remove all aliases before dropping the collection",
                )
            response = self.inner.handle(request)
            if response is not None and isinstance(response.body, dict) and response.body.get("code") == 0:
                self.state.collections.pop((db, name), None)
            return response

    # ---- indexes ----------------------------------------------------------------------------
    def _index_create(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        db, name = self._existing(request, params)
        raw = params.get("indexParams")
        if not isinstance(raw, list) or not raw:
            raise _Err(PARAMETER_INVALID, "missing required parameters: indexParams")
        schema = self.collections.describe(db, name)
        records = []
        for i, ip in enumerate(raw):
            if not isinstance(ip, Mapping) or not isinstance(ip.get("fieldName"), str):
                raise _Err(PARAMETER_INVALID, f"indexParams[{i}]: missing required parameters: fieldName")
            spec = schema.field(ip["fieldName"])
            if spec is None:
                raise _Err(FIELD_NOT_FOUND, f"field not found[field={ip['fieldName']}]")
            if spec.is_vector and not ip.get("metricType") and spec.data_type != "SparseFloatVector":
                raise _Err(PARAMETER_INVALID, f"indexParams[{i}]: metricType is required for a vector field")
            rec = _record(ip)
            rec.build_seconds = 2 * self.pace()
            records.append(rec)
        with self.state.lock:
            st = self._coll(db, name)
            for rec in records:
                current = st.indexes.get(rec.index_name) or next(
                    (x for x in st.indexes.values() if x.field_name == rec.field_name), None
                )
                if current is not None and not current.implicit:
                    if current.same(rec) and current.index_name == rec.index_name:
                        continue  # the same index again: accepted, nothing rebuilt
                    raise _Err(
                        UNEXPECTED,
                        "CreateIndex failed: at most one distinct index is allowed per field",
                    )
                if current is not None:
                    del st.indexes[current.index_name]
                st.indexes[rec.index_name] = rec
        return {}

    def _index_describe(self, request: Request, params: dict[str, Any]) -> list[dict[str, Any]]:
        db, name = self._existing(request, params)
        index_name = _name(params, "indexName")
        total = self.collections.count(db, name)
        with self.state.lock:
            rec = self._coll(db, name).indexes.get(index_name)
            if rec is None:
                raise _Err(INDEX_NOT_FOUND, f"index not found[indexName={index_name}]")
            done = rec.finished(time.monotonic())
        return [
            {
                "fieldName": rec.field_name,
                "indexName": rec.index_name,
                "indexType": rec.index_type,
                "metricType": rec.metric_type,
                "indexState": "Finished" if done else "InProgress",
                "indexedRows": total if done else 0,
                "pendingRows": 0 if done else total,
                "totalRows": total,
                "failReason": "",
            }
        ]

    def _index_list(self, request: Request, params: dict[str, Any]) -> list[str]:
        db, name = self._existing(request, params)
        with self.state.lock:
            return list(self._coll(db, name).indexes)

    def _index_drop(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        db, name = self._existing(request, params)
        index_name = _name(params, "indexName")
        with self.state.lock:
            st = self._coll(db, name)
            if index_name not in st.indexes:
                raise _Err(INDEX_NOT_FOUND, f"index not found[indexName={index_name}]")
            if self._load_of(db, name) != LOAD_NOT_LOAD:
                raise _Err(
                    UNEXPECTED,
                    f"index cannot be dropped, collection is loaded, please release it first[{name}]",
                )
            del st.indexes[index_name]
        return {}

    # ---- load -------------------------------------------------------------------------------
    def _load(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        db, name = self._existing(request, params)
        schema = self.collections.describe(db, name)
        with self.state.lock:
            st = self._coll(db, name)
            indexed = {i.field_name for i in st.indexes.values()}
            for f in schema.vector_fields:
                if f.name not in indexed:
                    raise _Err(
                        INDEX_NOT_FOUND,
                        f"index not found[collection={name}]: there is no vector index on field: [{f.name}], "
                        "please create index firstly",
                    )
            if self._load_of(db, name) == LOAD_NOT_LOAD:
                st.load = LOAD_LOADING
                st.load_started = time.monotonic()
                st.load_seconds = 2 * self.pace()
        return {}

    def _release(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        db, name = self._existing(request, params)
        with self.state.lock:
            self._coll(db, name).load = LOAD_NOT_LOAD
        return {}

    def _load_state(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        """The collection's state; with ``partitionNames`` on a loaded collection, theirs (a released
        partition is ``LoadStateNotLoad``: emulator/partitions.py). An unknown collection is
        ``LoadStateNotExist``. ``message`` as the 2.4 reference shows it (the zdoc example omits it)."""
        db = _db(request, params)
        name = self._resolve(db, _name(params, "collectionName"))
        if not self.collections.has(db, name):
            return {"loadState": LOAD_NOT_EXIST, "loadProgress": 0, "message": ""}
        with self.state.lock:
            state = self._load_of(db, name)
            st = self._coll(db, name)
            if state == LOAD_LOADING:
                span = max(st.load_seconds, 1e-9)
                progress = min(99, int(100 * (time.monotonic() - st.load_started) / span))
            else:
                progress = 100 if state == LOAD_LOADED else 0
        partitions = getattr(self.inner, "partitions", None)
        if state == LOAD_LOADED and params.get("partitionNames") and partitions is not None:
            return dict(partitions.load_state(request, {**params, "collectionName": name}))
        return {"loadState": state, "loadProgress": progress, "message": ""}

    # ---- aliases ----------------------------------------------------------------------------
    def _alias_target(self, db: str, params: Mapping[str, Any]) -> str:
        collection = _name(params, "collectionName")
        if not self.collections.has(db, collection):
            if (db, collection) in self.state.aliases:
                raise _Err(
                    ALIAS_COLLECTION_CONFLICT,
                    f"alias and collection name conflict[{collection} is an alias, not a collection]",
                )
            raise _Err(COLLECTION_NOT_FOUND, f"collection not found[database={db}][collection={collection}]")
        return collection

    def _alias_create(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        db = _db(request, params)
        alias = _name(params, "aliasName")
        with self.state.lock:
            collection = self._alias_target(db, params)
            if self.collections.has(db, alias):
                raise _Err(ALIAS_COLLECTION_CONFLICT, f"alias and collection name conflict[alias={alias}]")
            current = self.state.aliases.get((db, alias))
            if current is not None:
                raise _Err(
                    ALIAS_ALREADY_EXIST,
                    f"alias already exist[database={db}][alias={alias}]: it points at {current}",
                )
            self.state.aliases[(db, alias)] = collection
        return {}

    def _alias_alter(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        db = _db(request, params)
        alias = _name(params, "aliasName")
        with self.state.lock:
            collection = self._alias_target(db, params)
            if (db, alias) not in self.state.aliases:
                raise _Err(ALIAS_NOT_FOUND, f"alias not found[database={db}][alias={alias}]")
            self.state.aliases[(db, alias)] = collection
            self.state.alters += 1
        return {}

    def _alias_describe(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        db = _db(request, params)
        alias = _name(params, "aliasName")
        with self.state.lock:
            collection = self.state.aliases.get((db, alias))
        if collection is None:
            raise _Err(ALIAS_NOT_FOUND, f"alias not found[database={db}][alias={alias}]")
        return {"aliasName": alias, "collectionName": collection, "dbName": db}

    def _alias_list(self, request: Request, params: dict[str, Any]) -> list[str]:
        db = _db(request, params)
        only = params.get("collectionName") or None
        with self.state.lock:
            return sorted(a for (d, a), c in self.state.aliases.items() if d == db and only in (None, c))

    def _alias_drop(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        db = _db(request, params)
        alias = _name(params, "aliasName")
        with self.state.lock:
            self.state.aliases.pop((db, alias), None)  # dropping a missing alias succeeds
        return {}


def _record(ip: Mapping[str, Any], *, implicit: bool = False) -> IndexRecord:
    params = dict(ip.get("params") or {})
    index_type = str(ip.get("indexType") or params.pop("index_type", "") or "AUTOINDEX")
    params.pop("index_type", None)
    return IndexRecord(
        field_name=str(ip.get("fieldName")),
        index_name=str(ip.get("indexName") or ip.get("fieldName")),
        index_type=index_type,
        metric_type=str(ip.get("metricType") or "").upper(),
        params=params,
        implicit=implicit,
    )


_HOOKED: dict[str, Callable[[MilvusClusterService, Request, dict[str, Any]], Response | None]] = {
    "/v2/vectordb/collections/create": MilvusClusterService._create,
    "/v2/vectordb/collections/describe": MilvusClusterService._describe,
    "/v2/vectordb/collections/drop": MilvusClusterService._drop,
}
