"""Migrate a VikingDB collection into Milvus: export (filter_conds) -> download -> transform in Arrow
batches -> prepare -> upload -> import -> verify.

* export:    VikingDB ``data_export`` task of the rows matching ``filter_conds`` (Parquet, to TOS)
* download:  exactly the exported objects (a manifest of what was fetched)
* transform: a declarative mapping (rename / drop / cast, then an optional callable) applied per
  Arrow batch (:mod:`airflow_provider_vectorimport.transform`); a mapping that drops the primary key
  or changes a vector's dimension fails here, naming the field, before anything is uploaded
* prepare:   checked against the *target* collection's live schema
* import:    one Milvus bulk-import job (reattached on retries)
* verify:    the target's row count equals the export's, and a sample of ids, titles and vectors
  read back equal (:func:`airflow_provider_vectorimport.verify.verify_import`)

Connections: ``vikingdb_default`` (VikingDB), ``aws_default`` (the bucket: TOS through its S3
endpoint for the export, and the one Milvus reads), ``zilliz_default`` (Milvus, ``api_flavour:
milvus``). The target collection must exist.
"""

from __future__ import annotations

import json
import os
import tempfile

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_vectorimport.operators.object_storage import (
    DownloadFromObjectStorageOperator,
    UploadToObjectStorageOperator,
)
from airflow_provider_vectorimport.operators.prepare import PrepareImportFilesOperator
from airflow_provider_vectorimport.operators.vikingdb import VikingDBExportOperator
from airflow_provider_vectorimport.operators.zilliz import ZillizImportOperator

WORK_DIR = os.environ.get("VECTORIMPORT_WORK_DIR", tempfile.gettempdir())
RUN_KEY = "{{ run_id | replace(':', '_') | replace('+', '_') }}"
RUN_DIR = WORK_DIR + "/vectorimport/{{ dag.dag_id }}/" + RUN_KEY

# Source (VikingDB) -> target (Milvus) fields: rename, drop, cast; a callable could follow
# (``function``: RecordBatch -> RecordBatch) for anything else.
MAPPING = {
    "rename": {"doc_id": "id", "text": "title", "emb": "vector"},
    "drop": ["city"],
    "cast": {"vector": "float32"},
}
SAMPLE_SIZE = 5

with DAG(
    dag_id="vectorimport_migration",
    description="VikingDB export -> download -> transform (Arrow batches) -> prepare -> upload -> Milvus import -> verify",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "source_collection": Param("viking_docs", type="string"),
        "target_collection": Param("migrated_docs", type="string"),
        "export_bucket": Param("vectorimport-demo", type="string"),
        "milvus_bucket": Param("a-bucket", type="string"),
        "filter_conds": Param([{"op": "must", "field": "city", "conds": ["beijing"]}], type="array"),
    },
    tags=["vectorimport", "example"],
) as dag:
    exported = VikingDBExportOperator(
        task_id="export",
        vikingdb_conn_id="vikingdb_default",
        collection_name="{{ params.source_collection }}",
        tos_path="{{ params.export_bucket }}/migration/" + RUN_KEY,
        filter_conds="{{ params.filter_conds | tojson }}",
        file_type="parquet",
        deferrable=True,
        poll_interval=1,
        timeout=3600,
    )

    downloaded = DownloadFromObjectStorageOperator(
        task_id="download",
        conn_id="aws_default",
        bucket="{{ params.export_bucket }}",
        prefix="migration/" + RUN_KEY,
        local_dir=RUN_DIR + "/export",
    )
    exported >> downloaded

    @task
    def transform(download: dict, params: dict, run_dir: str) -> dict:
        """The mapping over the export in Arrow batches, checked against the target's live schema."""
        import pyarrow.parquet as pq

        from airflow_provider_vectorimport.schema_source import fetch_collection_schema
        from airflow_provider_vectorimport.transform import transform_export

        target = fetch_collection_schema("zilliz_default", params["target_collection"])
        result = transform_export(download, MAPPING, run_dir + "/transformed", target_schema=target)
        # a sample of the rows as they should land, for the verify step (small: a few rows)
        sample = pq.ParquetFile(result["files"][0]).read_row_group(0).slice(0, SAMPLE_SIZE).to_pylist()
        print(f"transformed {result['rows']} row(s) into {len(result['files'])} file(s)")
        return {**result, "sample": sample}

    transformed = transform(downloaded.output, run_dir=RUN_DIR)

    prepared = PrepareImportFilesOperator(
        task_id="prepare",
        inputs=transformed["files"],
        schema_from={"conn_id": "zilliz_default", "collection": "{{ params.target_collection }}"},
        output_dir=RUN_DIR + "/prepared",
        format="parquet",
    )

    uploaded = UploadToObjectStorageOperator(
        task_id="upload",
        manifest=prepared.output,
        bucket="{{ params.milvus_bucket }}",
        prefix="migration/" + RUN_KEY,
        conn_id="aws_default",
    )

    imported = ZillizImportOperator(
        task_id="import",
        zilliz_conn_id="zilliz_default",
        collection_name="{{ params.target_collection }}",
        files=uploaded.output,
        deferrable=True,
        poll_interval=1,
        timeout=3600,
    )

    @task
    def verify(export: dict, moved: dict, job: dict, params: dict) -> dict:
        """Row counts equal to the export's; a sample of ids and vectors read back equal."""
        from airflow_provider_vectorimport.verify import VerificationError, verify_import

        exported_rows = int(export["total_filter_count"])
        if moved["rows"] != exported_rows:
            raise VerificationError(
                f"the export counted {exported_rows} row(s) but {moved['rows']} were transformed"
            )
        checked = verify_import(
            "zilliz_default",
            params["target_collection"],
            expected_rows=exported_rows,
            sample=moved["sample"],
        )
        summary = {
            "exported_rows": exported_rows,
            "transformed_rows": moved["rows"],
            "imported_rows": job["imported_rows"],
            "target_rows": checked["rows"],
            "sampled": checked["sampled"],
            "fields": checked["fields"],
        }
        print("VECTORIMPORT_MIGRATION " + json.dumps(summary))
        return summary

    verify(exported.output, transformed, imported.output)
