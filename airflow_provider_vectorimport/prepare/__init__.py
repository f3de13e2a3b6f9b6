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

``requests`` splits the groups into import requests that respect the target's limits
(Milvus: <= 16 GB per file, <= 1024 files per request; Zilliz Cloud: NumPy folder <= 10 GB, <= 100 GB
per import, one JSON file per v1 job); ``chunk_size`` is capped below the per-file limit.

Checks (before anything is written): vector dimension, non-numeric / NaN / Inf / out-of-range vector
values, missing or null primary key, optional duplicate primary keys (``check_duplicates``), scalar
types and integer ranges, VarChar ``max_length`` (UTF-8 bytes), Array ``max_capacity`` and element
types, unknown fields when dynamic fields are off, an auto-id key present in the data, malformed JSON.
Each :class:`RowError` names the input file, the row (1-based record number in that file: a CSV header
and blank JSON Lines are not counted) and the field. ``mode="collect"`` reports up to ``max_errors``.

Memory stays bounded (about 10 blocks of ``block_size``, 4 MB by default, plus one 16 MB Parquet row
group) whatever the input size: see ``bench/prepare.py`` for figures.
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
