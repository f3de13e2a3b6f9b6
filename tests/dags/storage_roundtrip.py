"""Upload a folder to S3, download it back under a run-specific prefix, check the round trip.

Driven by env vars set by tests/test_object_storage.py (source folder, bucket, output folder, conn id).
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG, task

from airflow_provider_vectorimport.operators.object_storage import (
    DownloadFromObjectStorageOperator,
    UploadToObjectStorageOperator,
)

SRC = os.environ.get("VECTORIMPORT_STORAGE_SRC", "/tmp/vectorimport-storage-src")
BUCKET = os.environ.get("VECTORIMPORT_STORAGE_BUCKET", "vectorimport-test")
OUT = os.environ.get("VECTORIMPORT_STORAGE_OUT", "/tmp/vectorimport-storage-out")
CONN = os.environ.get("VECTORIMPORT_STORAGE_CONN", "storage_dagtest")

with DAG("storage_roundtrip", schedule=None, start_date=datetime(2024, 1, 1), catchup=False) as dag:
    upload = UploadToObjectStorageOperator(
        task_id="upload",
        source=SRC,
        bucket=BUCKET,
        prefix="runs/{{ dag.dag_id }}/{{ run_id }}",
        conn_id=CONN,
        multipart_threshold=5 * 1024 * 1024,
        multipart_chunksize=5 * 1024 * 1024,
        progress_interval=0,
    )
    download = DownloadFromObjectStorageOperator(
        task_id="download",
        bucket="{{ ti.xcom_pull(task_ids='upload')['bucket'] }}",
        prefix="{{ ti.xcom_pull(task_ids='upload')['prefix'] }}",
        local_dir=OUT + "/{{ run_id }}",
        conn_id=CONN,
        verify_checksum=True,
    )

    @task
    def check(uploaded: dict, downloaded: dict) -> dict:
        for f in downloaded["files"]:
            rel = f["key"][len(uploaded["prefix"]) + 1 :]
            if Path(f["path"]).read_bytes() != (Path(SRC) / rel).read_bytes():
                raise ValueError(f"round trip changed {rel}")
        summary = {"uploaded": uploaded, "downloaded": downloaded}
        Path(OUT, "summary.json").write_text(json.dumps(summary))
        return {"files": len(downloaded["files"])}

    upload >> download
    check(upload.output, download.output)
