"""Prepare -> upload -> bulk import, into self-hosted Milvus and into Zilliz Cloud.

Connections (the demo points them at the local emulator; in production, at the real services):

* ``aws_default``   - S3 / S3-compatible bucket the services read from (``vectorimport_s3`` or ``aws`` type)
* ``zilliz_default`` - a Milvus cluster endpoint (``api_flavour: milvus``)
* ``zilliz_cloud``   - Zilliz Cloud (``api_flavour: v2``, ``cluster_id``, ``cluster_endpoint`` for the
  schema check), reading the bucket with the keys of ``aws_default`` (``storage_conn_id``) - never with
  keys in the DAG

No hand-kept schema file: ``prepare`` reads the schema from the live Milvus collection
(``schema_from``), writes it next to the files (``schema.json``) and into the manifest, and each import
checks the target collection's live schema against it before creating a job (``schema_check``).

Each run writes its files under its own prefix (the run id), so backfills and re-runs never mix data;
a retried import reattaches to the job its earlier try created instead of importing twice.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from pathlib import Path

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_vectorimport.operators.object_storage import UploadToObjectStorageOperator
from airflow_provider_vectorimport.operators.prepare import PrepareImportFilesOperator
from airflow_provider_vectorimport.operators.zilliz import ZillizImportOperator

WORK_DIR = os.environ.get("VECTORIMPORT_WORK_DIR", tempfile.gettempdir())
RUN_DIR = WORK_DIR + "/vectorimport/{{ dag.dag_id }}/{{ run_id | replace(':', '_') | replace('+', '_') }}"
PREFIX = "articles/{{ run_id | replace(':', '_') | replace('+', '_') }}"

with DAG(
    dag_id="vectorimport_import_pipeline",
    description="Prepare medium_articles-shaped rows, upload them, bulk import into Milvus and Zilliz Cloud",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "rows": Param(2000, type="integer", minimum=1),
        "bucket": Param("a-bucket", type="string"),
        "collection": Param("medium_articles", type="string"),
    },
    tags=["vectorimport", "example"],
) as dag:

    @task
    def generate_rows(params: dict, run_dir: str) -> str:
        """Write the seed's ``{"rows": [...]}`` JSON (what users export from their systems)."""
        rng = random.Random(42)
        path = Path(run_dir) / "input" / "medium_articles.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as fh:
            fh.write('{"rows": [')
            for i in range(int(params["rows"])):
                row = {
                    "id": i,
                    "title": f"Article {i}",
                    "title_vector": [round(rng.uniform(-1, 1), 6) for _ in range(64)],
                    "link": f"https://example.com/articles/{i}",
                    "reading_time": rng.randint(1, 30),
                    "publication": rng.choice(["The Startup", "Towards Data Science", "UX Collective"]),
                    "claps": rng.randint(0, 5000),
                    "responses": rng.randint(0, 100),
                }
                fh.write(("," if i else "") + json.dumps(row))
            fh.write("]}")
        return str(path)

    source = generate_rows(run_dir=RUN_DIR)

    prepared = PrepareImportFilesOperator(
        task_id="prepare",
        inputs=[source],
        schema_from={"conn_id": "zilliz_default", "collection": "{{ params.collection }}"},
        output_dir=RUN_DIR + "/prepared",
        format="parquet",
    )

    uploaded = UploadToObjectStorageOperator(
        task_id="upload",
        manifest=prepared.output,
        bucket="{{ params.bucket }}",
        prefix=PREFIX,
        conn_id="aws_default",
    )

    into_milvus = ZillizImportOperator(
        task_id="import_into_milvus",
        zilliz_conn_id="zilliz_default",
        collection_name="{{ params.collection }}",
        files=uploaded.output,  # the upload manifest's files=[[...]]
        deferrable=True,
        poll_interval=1,
        timeout=1800,
    )

    into_zilliz_cloud = ZillizImportOperator(
        task_id="import_into_zilliz_cloud",
        zilliz_conn_id="zilliz_cloud",
        storage_conn_id="aws_default",
        collection_name="{{ params.collection }}_cloud",
        object_urls=uploaded.output,  # the upload manifest's object_urls
        deferrable=True,
        poll_interval=1,
        timeout=1800,
    )

    @task
    def report(manifest: dict, milvus: dict, cloud: dict) -> dict:
        summary = {
            "prepared_rows": manifest["total_rows"],
            "uploaded_files": len(manifest["files"]),
            "milvus": {k: milvus[k] for k in ("job_id", "state", "imported_rows", "duration_seconds")},
            "zilliz_cloud": {k: cloud[k] for k in ("job_id", "state", "imported_rows", "duration_seconds")},
        }
        print("VECTORIMPORT_REPORT " + json.dumps(summary))
        return summary

    report(uploaded.output, into_milvus.output, into_zilliz_cloud.output)
