"""Prepare import files in a DAG: rows from a TaskFlow task and a JSON file, templated output folder.

Driven by env vars set by tests/test_prepare_operator.py.
"""

from __future__ import annotations

import json
import os
from datetime import datetime

from airflow.sdk import DAG, task

from airflow_provider_vectorimport.operators.prepare import PrepareImportFilesOperator

OUT = os.environ.get("VECTORIMPORT_PREPARE_OUT", "/tmp/vectorimport-prepare-out")
SRC = os.environ.get("VECTORIMPORT_PREPARE_SRC", "/tmp/vectorimport-prepare-src.json")
SCHEMA = os.environ.get("VECTORIMPORT_PREPARE_SCHEMA", "/tmp/vectorimport-prepare-schema.json")

with DAG("prepare_articles", schedule=None, start_date=datetime(2024, 1, 1), catchup=False) as dag:

    @task
    def make_rows() -> list[dict]:
        return [
            {
                "id": 100 + i,
                "title": f"from taskflow {i}",
                "title_vector": [i / 8] * 8,
                "reading_time": i,
                "tags": ["tf"],
            }
            for i in range(5)
        ]

    from_rows = PrepareImportFilesOperator(
        task_id="prepare_rows",
        inputs=make_rows(),
        schema=SCHEMA,
        output_dir=OUT + "/{{ run_id }}/rows",
        format="parquet",
    )
    from_file = PrepareImportFilesOperator(
        task_id="prepare_file",
        inputs=[SRC],
        schema=SCHEMA,
        output_dir=OUT + "/{{ run_id }}/file",
        format="jsonl",
        chunk_size="{{ params.chunk }}",
        params={"chunk": "1MB"},
    )

    @task
    def check(rows_manifest: dict, file_manifest: dict) -> None:
        with open(os.path.join(OUT, "summary.json"), "w") as fh:
            json.dump({"rows": rows_manifest, "file": file_manifest}, fh)

    check(from_rows.output, from_file.output)
