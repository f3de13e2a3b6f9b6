"""Test DAG: one day's import with ``replace=`` (the slice's partition, or the rows of a field
slice). The connection, collection, file, mode and result file come from the test's environment."""

from __future__ import annotations

import json
import os

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_vectorimport.operators.zilliz import ZillizImportOperator

_conn = os.environ.get("VI_REPLACE_CONN", "zilliz_emulator")
_source = os.environ.get("VI_REPLACE_FILE", "missing.parquet")
_mode = os.environ.get("VI_REPLACE_MODE", "partition")
_where = (
    {"files": [[_source]]}
    if _conn == "zilliz_emulator"
    else {"object_urls": [[f"s3://{os.environ.get('VI_REPLACE_BUCKET', 'b')}/{_source}"]]}
)
_replace = dict(replace="partition", partition_name="d_20260101")
if _mode == "field":
    _replace = dict(replace={"field": "day", "value": "2026-01-01"})

with DAG("replace_slice", schedule=None, start_date=pendulum.datetime(2025, 1, 1), catchup=False) as dag:
    imported = ZillizImportOperator(
        task_id="import",
        zilliz_conn_id=_conn,
        collection_name=os.environ.get("VI_REPLACE_COLLECTION", "articles"),
        deferrable=os.environ.get("VI_REPLACE_DEFERRABLE", "1") == "1",
        poll_interval=0.05,
        timeout=120,
        **_where,  # type: ignore[arg-type]
        **_replace,  # type: ignore[arg-type]
    )

    @task
    def record(summary: dict) -> None:
        with open(os.environ["VI_REPLACE_OUT"], "w") as fh:
            json.dump(summary, fh)

    record(imported.output)
