"""Streaming, schema-checked preparation of bulk-import files (no Airflow needed).

>>> from airflow_provider_vectorimport.prepare import prepare_files
>>> manifest = prepare_files("articles.json", "schema.json", "/tmp/out", format="parquet")
>>> [g["files"] for g in manifest["groups"]]          # ready for files=[[...]]

Manifest (JSON-able, paths relative to ``root``)::

    {"format": "parquet", "root": "/abs/out", "schema_fingerprint": "<sha256 hex>",
     "total_rows": N, "total_bytes": N,
     "groups": [{"files": ["part-00000.parquet"], "rows": N, "bytes": N}, ...],
     "files": [{"path": "part-00000.parquet", "rows": N, "bytes": N}, ...],
     "target": "milvus", "columns": [...], "requests": [[0, 1, ...], ...]}

``requests`` splits the groups into import requests that respect the target's limits.
"""

from __future__ import annotations

from airflow_provider_vectorimport.prepare.api import FORMATS, LIMITS, parse_size, prepare_files
from airflow_provider_vectorimport.prepare.errors import PrepareError, RowError
from airflow_provider_vectorimport.prepare.schema import CollectionSchema, FieldSpec

__all__ = [
    "FORMATS",
    "LIMITS",
    "CollectionSchema",
    "FieldSpec",
    "PrepareError",
    "RowError",
    "parse_size",
    "prepare_files",
]
