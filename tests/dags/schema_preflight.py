"""Test DAG: prepare files from the live collection's schema, upload them, then the collection
changes (the test's ``change`` step), then the import: the preflight must stop it before any job.
Everything comes from the environment the test sets (emulator connections, collection, paths)."""

from __future__ import annotations

import json
import os

import pendulum
import requests
from airflow.sdk import DAG, task

from airflow_provider_vectorimport.operators.object_storage import UploadToObjectStorageOperator
from airflow_provider_vectorimport.operators.prepare import PrepareImportFilesOperator
from airflow_provider_vectorimport.operators.zilliz import ZillizImportOperator

COLLECTION = os.environ.get("VECTORIMPORT_PREFLIGHT_COLLECTION", "preflight")

with DAG("schema_preflight", schedule=None, start_date=pendulum.datetime(2025, 1, 1), catchup=False) as dag:
    prepared = PrepareImportFilesOperator(
        task_id="prepare",
        inputs=os.environ.get("VECTORIMPORT_PREFLIGHT_INPUT", "/nonexistent.json"),
        schema_from={"conn_id": "zilliz_emulator", "collection": COLLECTION},
        output_dir=os.environ.get("VECTORIMPORT_PREFLIGHT_OUT", "/tmp/preflight-out"),
    )
    uploaded = UploadToObjectStorageOperator(
        task_id="upload",
        manifest=prepared.output,
        bucket=os.environ.get("VECTORIMPORT_PREFLIGHT_BUCKET"),
        prefix="preflight/{{ run_id | replace(':', '_') | replace('+', '_') }}",
        conn_id="s3_emulator",
    )

    @task
    def change() -> None:
        """Someone recreates the collection with another vector dimension."""
        new = json.loads(os.environ.get("VECTORIMPORT_PREFLIGHT_NEW_SCHEMA", "null"))
        if new is None:
            return
        url = os.environ["VECTORIMPORT_PREFLIGHT_URL"]
        headers = {"Authorization": f"Bearer {os.environ['VECTORIMPORT_PREFLIGHT_KEY']}"}
        for path, body in (
            ("/v2/vectordb/collections/drop", {"collectionName": COLLECTION}),
            ("/v2/vectordb/collections/create", {"collectionName": COLLECTION, "schema": new}),
        ):
            answer = requests.post(url + path, json=body, headers=headers, timeout=30).json()
            assert answer["code"] in (0, 200), answer

    imported = ZillizImportOperator(
        task_id="import",
        zilliz_conn_id="zilliz_emulator",
        collection_name=COLLECTION,
        files=uploaded.output,
        deferrable=False,
        poll_interval=0.1,
        timeout=120,
        retries=0,
    )
    uploaded >> change() >> imported
