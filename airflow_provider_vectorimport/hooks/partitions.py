"""Partitions, filter deletes and counts on a Milvus / Zilliz Cloud cluster: the bytes of
:mod:`airflow_provider_vectorimport.protocols.milvus_partitions`, sent through a
:class:`~airflow_provider_vectorimport.hooks.zilliz.ZillizHook` connection (Milvus at the
connection's host; Zilliz Cloud at its ``cluster_endpoint`` extra, where the API key is accepted).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_vectorimport.exceptions import ConfigurationError
from airflow_provider_vectorimport.hooks.zilliz import ZillizHook
from airflow_provider_vectorimport.protocols import milvus_partitions as proto
from airflow_provider_vectorimport.protocols.zilliz import ApiCall, _extra
from airflow_provider_vectorimport.utils import connection_extra


class PartitionHook:
    """Data-plane calls for one collection's partitions (synchronous: used by workers only)."""

    def __init__(self, zilliz_conn_id: str = ZillizHook.default_conn_name, *, hook: ZillizHook | None = None):
        self.hook = hook or ZillizHook(zilliz_conn_id)
        self._base: str | None = None

    @property
    def base_url(self) -> str:
        """``""`` for Milvus (the client's own base URL), the cluster endpoint for Zilliz Cloud."""
        if self._base is None:
            hook = self.hook
            if hook.flavour == "milvus":
                self._base = ""
            else:
                extra = connection_extra(hook.get_connection(hook.zilliz_conn_id))
                endpoint = str(_extra(extra, "cluster_endpoint", "")).rstrip("/")
                if not endpoint:
                    raise ConfigurationError(
                        f"connection {hook.zilliz_conn_id!r}: partitions and deletes on Zilliz Cloud go to "
                        "the cluster: set the cluster_endpoint extra (e.g. "
                        "https://in01-xxx.api.gcp-us-west1.zillizcloud.com)"
                    )
                self._base = endpoint if "://" in endpoint else f"https://{endpoint}"
        return self._base

    def db(self, db_name: str | None) -> str:
        return db_name or self.hook.config.db_name or "default"

    def call(self, call: ApiCall) -> Any:
        return self.hook._call(ApiCall(call.method, self.base_url + call.path, json=call.json))

    # -- collections
    def describe_collection(self, collection: str, *, db_name: str | None = None) -> Mapping[str, Any]:
        data = self.hook.describe_collection(collection, db_name=self.db(db_name))
        return data if isinstance(data, Mapping) else {}

    def load_state(
        self, collection: str, *, partitions: Sequence[str] | None = None, db_name: str | None = None
    ) -> str:
        call = proto.build_load_state_call(collection, partitions=partitions, db_name=self.db(db_name))
        return proto.parse_load_state(self.call(call))

    # -- partitions
    def list_partitions(self, collection: str, *, db_name: str | None = None) -> list[str]:
        call = proto.build_partition_call("list", collection, db_name=self.db(db_name))
        return proto.parse_partition_list(self.call(call))

    def has_partition(self, collection: str, partition: str, *, db_name: str | None = None) -> bool:
        call = proto.build_partition_call("has", collection, partition, db_name=self.db(db_name))
        return proto.parse_has(self.call(call))

    def create_partition(self, collection: str, partition: str, *, db_name: str | None = None) -> None:
        self.call(proto.build_partition_call("create", collection, partition, db_name=self.db(db_name)))

    def drop_partition(self, collection: str, partition: str, *, db_name: str | None = None) -> None:
        self.call(proto.build_partition_call("drop", collection, partition, db_name=self.db(db_name)))

    def load_partitions(
        self, collection: str, partitions: Sequence[str], *, db_name: str | None = None
    ) -> None:
        self.call(proto.build_partition_call("load", collection, list(partitions), db_name=self.db(db_name)))

    def release_partitions(
        self, collection: str, partitions: Sequence[str], *, db_name: str | None = None
    ) -> None:
        self.call(
            proto.build_partition_call("release", collection, list(partitions), db_name=self.db(db_name))
        )

    def partition_row_count(self, collection: str, partition: str, *, db_name: str | None = None) -> int:
        call = proto.build_partition_call("get_stats", collection, partition, db_name=self.db(db_name))
        return proto.parse_row_count(self.call(call))

    def wait_loaded(
        self,
        collection: str,
        partitions: Sequence[str],
        *,
        db_name: str | None = None,
        timeout: float = 600.0,
        poll_interval: float = 1.0,
    ) -> None:
        """Poll ``get_load_state`` until the partitions are ``LoadStateLoaded``."""
        end = time.monotonic() + timeout
        delay = min(0.05, poll_interval)
        while True:
            state = self.load_state(collection, partitions=partitions, db_name=db_name)
            if state == "LoadStateLoaded":
                return
            if time.monotonic() >= end:
                raise TimeoutError(
                    f"partitions {', '.join(partitions)} of {collection!r} still {state} after {timeout:.0f}s"
                )
            time.sleep(delay)
            delay = min(delay * 2, poll_interval)

    # -- entities
    def count(
        self,
        collection: str,
        *,
        filter: str = "",
        partitions: Sequence[str] | None = None,
        db_name: str | None = None,
    ) -> int:
        call = proto.build_count_call(
            collection, filter=filter, partitions=partitions, db_name=self.db(db_name)
        )
        return proto.parse_count(self.call(call))

    def query(
        self,
        collection: str,
        *,
        filter: str,
        output_fields: Sequence[str],
        partitions: Sequence[str] | None = None,
        limit: int = 1000,
        offset: int = 0,
        db_name: str | None = None,
    ) -> list[dict[str, Any]]:
        call = proto.build_query_call(
            collection,
            filter=filter,
            output_fields=output_fields,
            partitions=partitions,
            limit=limit,
            offset=offset,
            db_name=self.db(db_name),
        )
        data = self.call(call)
        return [dict(r) for r in data] if isinstance(data, list) else []

    def delete(
        self,
        collection: str,
        filter: str,
        *,
        partition: str | None = None,
        db_name: str | None = None,
    ) -> None:
        """Delete the rows matching ``filter`` (optionally in one partition). Milvus resolves the
        filter to primary keys and deletes those keys: rows of other partitions that hold the
        same keys go too."""
        self.call(proto.build_delete_call(collection, filter, partition=partition, db_name=self.db(db_name)))
