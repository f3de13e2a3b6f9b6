"""Prepare inside Spark, Dask or Ray: each engine partition writes checked import files straight to
object storage and returns a small manifest; the manifests are merged into import requests that the
import operators run exactly once. No Airflow imports here (engines' workers need not have Airflow).

>>> from airflow_provider_vectorimport.engines import prepare_batches, plan_import_requests
>>> manifest = prepare_batches(batches, schema=schema, out="s3://bucket/run-key", part_id=3)
>>> requests = plan_import_requests(all_manifests, parts=8)   # -> ZillizImportOperator(files=...)

See docs/engines.md.
"""

from __future__ import annotations

from airflow_provider_vectorimport.engines.partition import PartConflictError, part_name, prepare_batches
from airflow_provider_vectorimport.engines.plan import merge_parts, plan_import_requests

__all__ = ["PartConflictError", "merge_parts", "part_name", "plan_import_requests", "prepare_batches"]
