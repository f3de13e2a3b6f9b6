"""Migrate a VikingDB collection into Milvus and Zilliz Cloud: export (filter_conds) -> download ->
transform in Arrow batches -> prepare -> upload -> import into both -> verify both.

* export:    VikingDB ``data_export`` task of the rows matching ``filter_conds`` (Parquet, to TOS)
* download:  exactly the exported objects (a manifest of what was fetched)
* transform: a declarative mapping (rename / drop / cast, then an optional callable) applied per
  Arrow batch (:mod:`airflow_provider_vectorimport.transform`), checked against *both* targets'
  live schemas; a mapping that drops the primary key or changes a vector's dimension fails here,
  naming the target and the field, before anything is uploaded or imported
* prepare:   checked against the Milvus target collection's live schema
* upload:    once; both services read the same objects
* import:    one Milvus bulk-import job and one Zilliz Cloud import job (each reattached on retries;
  Zilliz Cloud reads the objects with the keys of ``aws_default``, never keys in the DAG)
* verify:    on each target, the row count equals the export's and a sample of ids, titles and
  vectors reads back equal (:func:`airflow_provider_vectorimport.verify.verify_targets`); a failure
  names the target, the collection, the id and the field

Connections: ``vikingdb_default`` (VikingDB), ``aws_default`` (the bucket: TOS through its S3
endpoint for the export, and the one Milvus and Zilliz Cloud read), ``zilliz_default`` (Milvus,
``api_flavour: milvus``), ``zilliz_cloud`` (Zilliz Cloud, ``api_flavour: v2``, ``cluster_id``,
``cluster_endpoint``). Both target collections must exist.
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
# target label -> (connection, the param naming its collection)
TARGETS = {
    "milvus": ("zilliz_default", "target_collection"),
    "zilliz_cloud": ("zilliz_cloud", "cloud_collection"),
}

with DAG(
    dag_id="vectorimport_migration",
    description=(
        "VikingDB export -> download -> transform (Arrow batches) -> prepare -> upload "
        "-> import into Milvus and Zilliz Cloud -> verify both"
    ),
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "source_collection": Param("viking_docs", type="string"),
        "target_collection": Param("migrated_docs", type="string"),
        "cloud_collection": Param("migrated_docs_cloud", type="string"),
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
        """The mapping over the export in Arrow batches, checked against every target's live schema."""
        from airflow_provider_vectorimport.schema_source import fetch_collection_schema
        from airflow_provider_vectorimport.transform import transform_export
        from airflow_provider_vectorimport.verify import read_sample

        targets = {
            f"{label} {params[param]!r}": fetch_collection_schema(conn_id, params[param])
            for label, (conn_id, param) in TARGETS.items()
        }
        result = transform_export(download, MAPPING, run_dir + "/transformed", target_schemas=targets)
        print(f"transformed {result['rows']} row(s) into {len(result['files'])} file(s)")
        # a sample of the rows as they should land, for the verify step (small: a few rows)
        return {**result, "sample": read_sample(result["files"], SAMPLE_SIZE)}

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

    into_milvus = ZillizImportOperator(
        task_id="import_into_milvus",
        zilliz_conn_id="zilliz_default",
        collection_name="{{ params.target_collection }}",
        files=uploaded.output,  # the upload manifest's files=[[...]]
        deferrable=True,
        poll_interval=1,
        timeout=3600,
    )

    into_zilliz_cloud = ZillizImportOperator(
        task_id="import_into_zilliz_cloud",
        zilliz_conn_id="zilliz_cloud",
        storage_conn_id="aws_default",
        collection_name="{{ params.cloud_collection }}",
        object_urls=uploaded.output,  # the upload manifest's object_urls
        deferrable=True,
        poll_interval=1,
        timeout=3600,
    )

    @task
    def verify(export: dict, moved: dict, milvus: dict, zilliz_cloud: dict, params: dict) -> dict:
        """On each target: row count equal to the export's; a sample of ids and vectors read back equal."""
        from airflow_provider_vectorimport.verify import verify_targets

        jobs = {"milvus": milvus, "zilliz_cloud": zilliz_cloud}
        summary = verify_targets(
            {
                label: {"conn_id": conn_id, "collection": params[param], "job": jobs[label]}
                for label, (conn_id, param) in TARGETS.items()
            },
            exported_rows=int(export["total_filter_count"]),
            transformed_rows=moved["rows"],
            sample=moved["sample"],
        )
        print("VECTORIMPORT_MIGRATION " + json.dumps(summary))
        return summary

    verify(exported.output, transformed, into_milvus.output, into_zilliz_cloud.output)
