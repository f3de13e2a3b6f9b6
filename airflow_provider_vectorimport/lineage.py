"""OpenLineage datasets for the provider's operators (used only when the OpenLineage provider is
installed; every import happens inside the functions, so it stays an optional extra).

Naming: object storage follows the OpenLineage convention (namespace ``s3://{bucket}``, name = key);
collections use namespace ``milvus://{host}`` / ``zilliz://{cluster_id}`` / ``vikingdb://{host}``
and name ``{db}.{collection}``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit


def object_dataset(url_or_key: str, *, default_namespace: str) -> tuple[str, str]:
    """(namespace, name) of an object URL (``s3://b/k``, ``https://host/b/k``) or a bare key."""
    if "://" not in url_or_key:
        return default_namespace, url_or_key.lstrip("/")
    parts = urlsplit(url_or_key)
    if parts.scheme in ("s3", "s3a", "oss", "tos", "gs"):
        return f"s3://{parts.netloc}", parts.path.lstrip("/")
    bucket, _, key = parts.path.lstrip("/").partition("/")
    return f"s3://{bucket}", key


def operator_lineage(
    inputs: Iterable[tuple[str, str]],
    outputs: Iterable[tuple[str, str]],
    *,
    output_rows: int | None = None,
    output_bytes: int | None = None,
) -> Any:
    """An ``OperatorLineage``, or ``None`` when the OpenLineage provider is not installed."""
    try:
        from airflow.providers.common.compat.openlineage.facet import (
            Dataset,
            OutputDataset,
            OutputStatisticsOutputDatasetFacet,
        )
        from airflow.providers.openlineage.extractors import OperatorLineage
    except ImportError:
        return None
    stats = None
    if output_rows is not None or output_bytes is not None:
        stats = OutputStatisticsOutputDatasetFacet(rowCount=output_rows, size=output_bytes)
    return OperatorLineage(
        inputs=[Dataset(namespace=ns, name=name) for ns, name in inputs],
        outputs=[
            OutputDataset(namespace=ns, name=name, outputFacets={"outputStatistics": stats} if stats else {})
            for ns, name in outputs
        ],
    )
