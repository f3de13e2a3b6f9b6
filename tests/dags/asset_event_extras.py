"""Test DAG: an import with a collection Asset outlet and ``outlet_partition``; the test reads the
Asset event Airflow recorded (its extra and partition key) from the metadata DB."""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import DAG

from airflow_provider_vectorimport.assets import milvus_collection_asset
from airflow_provider_vectorimport.operators.zilliz import ZillizImportOperator

ASSET = milvus_collection_asset("emulator:19530", os.environ.get("VECTORIMPORT_AE_COLLECTION", "c"))

with DAG("asset_event_extras", schedule=None, start_date=pendulum.datetime(2025, 1, 1), catchup=False) as dag:
    ZillizImportOperator(
        task_id="import",
        zilliz_conn_id=os.environ.get("VECTORIMPORT_AE_CONN", "zilliz_ae"),
        collection_name=os.environ.get("VECTORIMPORT_AE_COLLECTION", "c"),
        files=[[os.environ.get("VECTORIMPORT_AE_KEY", "k.parquet")]],
        outlets=[ASSET],
        outlet_partition="{{ params.day }}",
        params={"day": "2026-12-01"},
        deferrable=True,
        poll_interval=0.05,
        timeout=60,
    )
