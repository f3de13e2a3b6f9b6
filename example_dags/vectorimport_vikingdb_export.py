"""Export a VikingDB collection to TOS, download the files and process them in Arrow batches.

Connections (the demo points them at the local emulator):

* ``vikingdb_default`` - VikingDB (access key / secret key; requests are SignerV4-signed)
* ``aws_default``      - the TOS bucket through its S3 endpoint (``tos-s3-{region}.volces.com``,
  virtual-hosted style; ``provider: tos`` in the connection extra sets that up)

Each run exports under its own prefix, downloads to its own folder, and skips what is complete
when retried.
"""

from __future__ import annotations

import json
import os
import tempfile

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_vectorimport.operators.object_storage import DownloadFromObjectStorageOperator
from airflow_provider_vectorimport.operators.vikingdb import VikingDBExportOperator

WORK_DIR = os.environ.get("VECTORIMPORT_WORK_DIR", tempfile.gettempdir())
RUN_KEY = "{{ run_id | replace(':', '_') | replace('+', '_') }}"

with DAG(
    dag_id="vectorimport_vikingdb_export",
    description="VikingDB export task -> wait (deferrable) -> download -> process in Arrow batches",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "collection": Param("medium_articles", type="string"),
        "bucket": Param("vectorimport-demo", type="string"),
        "publications": Param(["The Startup", "UX Collective"], type="array"),
    },
    tags=["vectorimport", "example"],
) as dag:
    exported = VikingDBExportOperator(
        task_id="export",
        vikingdb_conn_id="vikingdb_default",
        collection_name="{{ params.collection }}",
        tos_path="{{ params.bucket }}/exports/" + RUN_KEY,
        file_type="parquet",
        # {field: [allowed values]}, ANDed across fields; a dict, or JSON text (templated here)
        filter='{"publication": {{ params.publications | tojson }}}',
        deferrable=True,
        poll_interval=1,
        timeout=3600,
    )

    downloaded = DownloadFromObjectStorageOperator(
        task_id="download",
        conn_id="aws_default",
        bucket="{{ params.bucket }}",
        prefix="exports/" + RUN_KEY,
        local_dir=WORK_DIR + "/vectorimport/exports/" + RUN_KEY,
    )

    @task
    def process(download: dict, export: dict) -> dict:
        """Stream the exported files in Arrow batches: bounded memory whatever the export size.

        ``iter_record_batches(download)`` reads exactly the files the download recorded (its manifest),
        not whatever else sits in the folder, and checks them all before the first batch."""
        import pyarrow.compute as pc

        from airflow_provider_vectorimport.storage import iter_record_batches

        rows = batches = 0
        claps = 0
        by_publication: dict[str, int] = {}
        for batch in iter_record_batches(download, batch_size=500):
            batches += 1
            rows += batch.num_rows
            if "claps" in batch.schema.names:
                claps += pc.sum(batch.column("claps")).as_py() or 0
            if "publication" in batch.schema.names:
                for item in pc.value_counts(batch.column("publication")).to_pylist():
                    by_publication[item["values"]] = by_publication.get(item["values"], 0) + item["counts"]
        summary = {
            "task_id": export["task_id"],
            "exported_to": export.get("tos_path"),
            "files": len(download["files"]),
            "bytes": download["total_bytes"],
            "rows": rows,
            "batches": batches,
            "total_claps": claps,
            "rows_by_publication": by_publication,
        }
        print("VECTORIMPORT_REPORT " + json.dumps(summary))
        return summary

    process(downloaded.output, exported.output)
    exported >> downloaded
