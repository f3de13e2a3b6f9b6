"""The vector database behind the emulator: Milvus Lite (``pymilvus.MilvusClient`` on a local
``.db`` file), so imported rows are really stored and searchable. Schemas are also kept in
``schemas.json`` next to the ``.db`` (Milvus Lite drops some type parameters on describe).

Databases (``dbName`` / ``DB-Name``) other than ``default`` are namespaced collection names.
"""

from __future__ import annotations

import builtins
import json
import logging
import threading
from pathlib import Path
from typing import Any

from airflow_provider_vectorimport.emulator.schema import CollectionSchema, SchemaError

log = logging.getLogger(__name__)


class _NoMvccWarning(logging.Filter):
    """Milvus Lite cannot hand out MVCC timestamps; pymilvus' iterator warns on every scan."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "mvccTs" not in record.getMessage()


logging.getLogger("pymilvus.client.iterator.query_iterator").addFilter(_NoMvccWarning())


class _LiteUnimplementedRpc(logging.Filter):
    """Milvus Lite's in-process gRPC adapter does not implement every RPC pymilvus tries (e.g.
    ``AllocTimestamp`` on create collection); pymilvus falls back, but grpc logs each one as an
    error with a traceback, which reads like a failure in the emulator's output."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (isinstance(exc, NotImplementedError) and "Method not implemented" in str(exc))


logging.getLogger("grpc._server").addFilter(_LiteUnimplementedRpc())


class CollectionNotFound(LookupError):
    pass


class CollectionExists(ValueError):
    pass


INSERT_CHUNK = 2000  # rows per Milvus Lite insert call

_DATA_TYPES = {
    "Bool": "BOOL",
    "Int8": "INT8",
    "Int16": "INT16",
    "Int32": "INT32",
    "Int64": "INT64",
    "Float": "FLOAT",
    "Double": "DOUBLE",
    "VarChar": "VARCHAR",
    "JSON": "JSON",
    "Array": "ARRAY",
    # Milvus Lite has no TEXT and refuses most WKT but points and polygons: both kept as VarChar of the
    # longest Lite allows (the emulator has checked the values before)
    "Text": "VARCHAR",
    "Timestamptz": "TIMESTAMPTZ",
    "Geometry": "VARCHAR",
    "FloatVector": "FLOAT_VECTOR",
    "BinaryVector": "BINARY_VECTOR",
    # Milvus Lite has no Float16Vector, BFloat16Vector or Int8Vector: the emulator keeps their (already
    # validated and decoded) values as float vectors; the schema it reports keeps the real type
    "Float16Vector": "FLOAT_VECTOR",
    "BFloat16Vector": "FLOAT_VECTOR",
    "Int8Vector": "FLOAT_VECTOR",
    "SparseFloatVector": "SPARSE_FLOAT_VECTOR",
}


def _dt(name: str) -> Any:
    from pymilvus import DataType

    return getattr(DataType, _DATA_TYPES[name])


def _internal(db: str | None, name: str) -> str:
    db = (db or "default").strip() or "default"
    return name if db == "default" else f"{db}__{name}"


class CollectionStore:
    """Collections in Milvus Lite. Every call holds one lock: Milvus Lite is a single local process."""

    def __init__(self, data_dir: str | Path) -> None:
        from pymilvus import MilvusClient

        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._client = MilvusClient(uri=str(self.data_dir / "emulator.db"))
        self._schemas_path = self.data_dir / "schemas.json"
        self._schemas: dict[str, CollectionSchema] = {}
        if self._schemas_path.exists():
            raw = json.loads(self._schemas_path.read_text())
            self._schemas = {k: CollectionSchema.from_json(v) for k, v in raw.items()}
        existing = set(self._client.list_collections())
        self._schemas = {k: v for k, v in self._schemas.items() if k in existing}

    def _save(self) -> None:
        self._schemas_path.write_text(json.dumps({k: v.to_json() for k, v in self._schemas.items()}))

    # ---- collections ------------------------------------------------------------------------
    def create(self, db: str | None, name: str, schema: CollectionSchema) -> None:
        from pymilvus import MilvusClient

        key = _internal(db, name)
        with self._lock:
            if key in self._schemas or self._client.has_collection(key):
                raise CollectionExists(f"collection already exists[collection={name}]")
            ms = MilvusClient.create_schema(
                auto_id=schema.primary.auto_id, enable_dynamic_field=schema.enable_dynamic_field
            )
            for f in schema.fields:
                kwargs: dict[str, Any] = {}
                if f.is_primary:
                    kwargs["is_primary"] = True
                    kwargs["auto_id"] = f.auto_id
                if f.dim is not None:
                    kwargs["dim"] = f.dim
                if f.max_length is not None:
                    kwargs["max_length"] = f.max_length
                if f.data_type in ("Text", "Geometry"):
                    kwargs["max_length"] = 65535
                if f.max_capacity is not None:
                    kwargs["max_capacity"] = f.max_capacity
                if f.element_type:
                    kwargs["element_type"] = _dt(f.element_type)
                if f.nullable:
                    kwargs["nullable"] = True
                if f.default_value is not None:
                    kwargs["default_value"] = f.default_value
                if f.partition_key:
                    kwargs["is_partition_key"] = True
                ms.add_field(f.name, _dt(f.data_type), **kwargs)
            index = self._client.prepare_index_params()
            for f in schema.vector_fields:
                if f.data_type == "SparseFloatVector":
                    index.add_index(f.name, metric_type="IP", index_type="SPARSE_INVERTED_INDEX")
                elif f.data_type == "BinaryVector":
                    index.add_index(f.name, metric_type="HAMMING", index_type="BIN_FLAT")
                else:
                    metric = schema.metric_for(f.name)
                    index.add_index(f.name, metric_type=metric, index_type="FLAT")
            try:
                self._client.create_collection(key, schema=ms, index_params=index)
            except Exception as exc:  # e.g. a type Milvus Lite does not support (BinaryVector...)
                message = getattr(exc, "message", None) or str(exc)
                raise SchemaError(f"the emulator's Milvus Lite cannot create {name!r}: {message}") from exc
            self._schemas[key] = schema
            self._save()

    def describe(self, db: str | None, name: str) -> CollectionSchema:
        with self._lock:
            schema = self._schemas.get(_internal(db, name))
        if schema is None:
            raise CollectionNotFound(f"collection not found[collection={name}]")
        return schema

    def has(self, db: str | None, name: str) -> bool:
        return _internal(db, name) in self._schemas

    def list(self, db: str | None) -> list[str]:
        db = (db or "default").strip() or "default"
        with self._lock:
            keys = sorted(self._schemas)
        if db == "default":
            return [k for k in keys if "__" not in k]
        prefix = f"{db}__"
        return [k[len(prefix) :] for k in keys if k.startswith(prefix)]

    def drop(self, db: str | None, name: str) -> None:
        key = _internal(db, name)
        with self._lock:
            if key not in self._schemas:
                raise CollectionNotFound(f"collection not found[collection={name}]")
            self._client.drop_collection(key)
            del self._schemas[key]
            self._save()

    def drop_all(self) -> None:
        with self._lock:
            for key in list(self._schemas):
                self._client.drop_collection(key)
            self._schemas.clear()
            self._save()

    def ensure_partition(self, db: str | None, name: str, partition: str | None) -> None:
        if not partition or partition == "_default":
            return
        key = _internal(db, name)
        with self._lock:
            if not self._client.has_partition(key, partition):
                self._client.create_partition(key, partition)

    def list_partitions(self, db: str | None, name: str) -> builtins.list[str]:
        self.describe(db, name)
        with self._lock:
            return list(self._client.list_partitions(_internal(db, name)))

    def has_partition(self, db: str | None, name: str, partition: str) -> bool:
        if partition in ("", "_default"):
            return True
        with self._lock:
            return bool(self._client.has_partition(_internal(db, name), partition))

    # ---- data -------------------------------------------------------------------------------
    def insert(
        self, db: str | None, name: str, rows: builtins.list[dict[str, Any]], partition: str | None = None
    ) -> builtins.list[Any]:
        """Insert validated rows; returns their primary keys (generated ones for autoId)."""
        if not rows:
            return []
        key = _internal(db, name)
        kwargs = {"partition_name": partition} if partition and partition != "_default" else {}
        ids: list[Any] = []
        try:
            for start in range(0, len(rows), INSERT_CHUNK):  # release the lock between chunks
                with self._lock:
                    result = self._client.insert(key, rows[start : start + INSERT_CHUNK], **kwargs)
                ids.extend(result["ids"])
        except Exception:
            self.delete_ids(db, name, ids)  # all or nothing
            raise
        return ids

    def delete_ids(self, db: str | None, name: str, ids: builtins.list[Any]) -> None:
        if not ids:
            return
        key = _internal(db, name)
        with self._lock:
            for start in range(0, len(ids), 1000):
                self._client.delete(key, ids=ids[start : start + 1000])

    def count(
        self, db: str | None, name: str, filter: str = "", partitions: builtins.list[str] | None = None
    ) -> int:
        self.describe(db, name)
        kwargs = {"partition_names": partitions} if partitions else {}
        with self._lock:
            res = self._client.query(_internal(db, name), filter=filter, output_fields=["count(*)"], **kwargs)
        return int(res[0]["count(*)"]) if res else 0

    def query(
        self,
        db: str | None,
        name: str,
        *,
        filter: str = "",
        output_fields: builtins.list[str] | None = None,
        limit: int = 100,
        offset: int = 0,
        partitions: builtins.list[str] | None = None,
    ) -> builtins.list[dict[str, Any]]:
        self.describe(db, name)
        if output_fields and [f.strip() for f in output_fields] == ["count(*)"]:
            return [{"count(*)": self.count(db, name, filter, partitions)}]
        kwargs = {"partition_names": partitions} if partitions else {}
        with self._lock:
            res = self._client.query(
                _internal(db, name),
                filter=filter,
                output_fields=output_fields or ["*"],
                limit=limit,
                offset=offset,
                **kwargs,
            )
        return [_plain(r) for r in res]

    def scan(self, db: str | None, name: str, *, batch_size: int = 1000) -> builtins.list[dict[str, Any]]:
        """Every row of the collection (for VikingDB exports)."""
        self.describe(db, name)
        out: list[dict[str, Any]] = []
        with self._lock:
            it = self._client.query_iterator(_internal(db, name), batch_size=batch_size, output_fields=["*"])
            try:
                while True:
                    batch = it.next()
                    if not batch:
                        break
                    out.extend(_plain(r) for r in batch)
            finally:
                it.close()
        return out

    def search(
        self,
        db: str | None,
        name: str,
        vectors: builtins.list[Any],
        *,
        anns_field: str | None = None,
        limit: int = 10,
        filter: str = "",
        output_fields: builtins.list[str] | None = None,
    ) -> builtins.list[builtins.list[dict[str, Any]]]:
        schema = self.describe(db, name)
        vector_fields = schema.vector_fields
        field = anns_field or vector_fields[0].name
        with self._lock:
            res = self._client.search(
                _internal(db, name),
                data=vectors,
                anns_field=field,
                limit=limit,
                filter=filter,
                output_fields=output_fields or [],
            )
        out = []
        for hits in res:
            rows = []
            for hit in hits:
                row = {"id": hit.get("id"), "distance": hit.get("distance")}
                row.update(_plain(hit.get("entity") or {}))
                rows.append(row)
            out.append(rows)
        return out

    def close(self) -> None:
        """Close the client and stop this data dir's Milvus Lite server (it runs in-process)."""
        with self._lock:
            try:
                self._client.close()
            except Exception:  # pragma: no cover - best effort at shutdown
                log.debug("closing the Milvus Lite client failed", exc_info=True)
            try:
                from milvus_lite.server_manager import server_manager_instance

                server_manager_instance.release_server(str(self.data_dir / "emulator.db"))
            except Exception:  # pragma: no cover - other milvus-lite versions
                log.debug("stopping the Milvus Lite server failed", exc_info=True)


def _plain(row: Any) -> dict[str, Any]:
    out = {}
    for k, v in dict(row).items():
        if isinstance(v, bytes | bytearray):
            v = list(v)
        elif hasattr(v, "tolist"):
            v = v.tolist()
        elif isinstance(v, list) and v and hasattr(v[0], "tolist"):
            v = [x.tolist() for x in v]
        out[k] = v
    return out
