"""Data-plane calls on Milvus / Zilliz Cloud for exports (query, count, describe): the hook moves
bytes only; what to send and how to read the answers is :mod:`..protocols.milvus_export`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from airflow_provider_vectorimport.exceptions import ConfigurationError
from airflow_provider_vectorimport.hooks.zilliz import ZillizHook
from airflow_provider_vectorimport.protocols.milvus_export import (
    DESCRIBE_PATH,
    QUERY_PATH,
    count_body,
    parse_count,
    parse_rows,
    pk_kind,
    query_body,
    scan_windows,
)
from airflow_provider_vectorimport.protocols.zilliz import ApiCall, _extra
from airflow_provider_vectorimport.schema_source import schema_from_milvus_describe
from airflow_provider_vectorimport.utils import connection_extra


class MilvusDataHook(ZillizHook):
    """The ``zilliz`` connection's data plane: Milvus at its host, Zilliz Cloud at ``cluster_endpoint``."""

    def data_url(self, path: str) -> str:
        if self.config.flavour == "milvus":
            return path
        extra = connection_extra(self.get_connection(self.zilliz_conn_id))
        endpoint = str(_extra(extra, "cluster_endpoint", "")).rstrip("/")
        if not endpoint:
            raise ConfigurationError(
                f"connection {self.zilliz_conn_id!r}: exports from Zilliz Cloud need the cluster_endpoint extra"
            )
        return f"{endpoint if '://' in endpoint else 'https://' + endpoint}{path}"

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        return self._call(ApiCall("POST", self.data_url(path), json=body))

    def query(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        return parse_rows(self._post(QUERY_PATH, body), str(body.get("collectionName")))

    def count(self, body: dict[str, Any]) -> int:
        return parse_count(self._post(QUERY_PATH, body), str(body.get("collectionName")))

    def describe(self, collection: str, db_name: str | None = None) -> Any:
        return self._post(DESCRIBE_PATH, {"collectionName": collection, "dbName": db_name or "default"})

    def scan(
        self,
        collection: str,
        *,
        filter: str = "",
        partitions: Sequence[str] | None = None,
        page_rows: int = 1000,
        after: Any = None,
        db_name: str | None = None,
    ) -> Iterator[tuple[list[dict[str, Any]], Any]]:
        """Every row (of ``partitions``, matching ``filter``) in key order, one window at a time."""
        schema = schema_from_milvus_describe(self.describe(collection, db_name), collection)
        pk = schema.primary.name

        def count(flt: str) -> int:
            return self.count(count_body(collection, filter=flt, partitions=partitions, db_name=db_name))

        def query(flt: str, limit: int) -> list[dict[str, Any]]:
            return self.query(
                query_body(collection, filter=flt, limit=limit, partitions=partitions, db_name=db_name)
            )

        return scan_windows(
            query,
            count,
            pk=pk,
            kind=pk_kind(schema, collection),
            page_rows=page_rows,
            lo=after,
            user_filter=filter,
        )
