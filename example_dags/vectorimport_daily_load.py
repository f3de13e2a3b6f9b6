"""A daily, backfill-safe load: each day's input files -> prepare -> upload -> one Milvus import job.

Everything a run touches is keyed by its data interval (``2025-01-02`` for the day starting then; the
run id for a run that has no interval, e.g. a manual run of an unscheduled copy):

* inputs:   ``<input_root>/<day>/*.json|*.jsonl|*.csv|*.parquet`` (``input_root`` param; the
  ``VECTORIMPORT_DAILY_INPUT`` environment variable sets its default)
* prepared: ``$VECTORIMPORT_WORK_DIR/vectorimport/<dag_id>/<day>/prepared`` (replaced on re-runs)
* objects:  ``s3://<bucket>/daily/<collection>/<day>/`` (unchanged objects are skipped on re-runs)
* the import reuses a job of an earlier run reading the same day's files
  (``reattach_across_runs=True``), so re-running a day or backfilling a range twice leaves exactly
  one job per day.
* with the ``replace`` param (``--conf '{"replace": true}'``) each day is loaded into a partition of
  its own and *replaces* the day (``replace="partition"``, docs/replace.md): re-running a day whose
  inputs changed leaves exactly one copy of it, the corrected one.

A day with no input files fails its run naming the run and the folder, before anything is prepared,
uploaded or imported. Re-running a day whose *inputs changed* uploads the changed files and still
reuses the day's job (its files have the same names) unless the ``replace`` param is set.

Connections: ``zilliz_default`` (a Milvus endpoint, ``api_flavour: milvus``) and ``aws_default``
(the bucket Milvus reads). The collection must exist; its live schema drives the preparation.

Each successful import records an event on the collection's Asset (its extra: service, collection,
job id, rows, files and the day, which is also the event's partition key),
``milvus://<VECTORIMPORT_MILVUS_ENDPOINT>/default/daily_articles``; the DAG
``vectorimport_collection_smoke_test`` is scheduled on it.
"""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import DAG, Param, task
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_vectorimport.assets import milvus_collection_asset
from airflow_provider_vectorimport.operators.object_storage import UploadToObjectStorageOperator
from airflow_provider_vectorimport.operators.prepare import PrepareImportFilesOperator
from airflow_provider_vectorimport.operators.zilliz import ZillizImportOperator

WORK_DIR = os.environ.get("VECTORIMPORT_WORK_DIR", tempfile.gettempdir())
INPUT_ROOT = os.environ.get("VECTORIMPORT_DAILY_INPUT", WORK_DIR + "/vectorimport/daily_input")
# The data interval's first day; the run id (made path-safe) where a run has no data interval.
DAY = (
    "{{ (data_interval_start | ds) if data_interval_start "
    "else (run_id | replace(':', '_') | replace('+', '_')) }}"
)
INPUT_SUFFIXES = (".json", ".jsonl", ".csv", ".parquet")
COLLECTION = "daily_articles"
# The collection as an Asset (outlets are not templated: a fixed collection, the endpoint users name).
COLLECTION_ASSET = milvus_collection_asset(
    os.environ.get("VECTORIMPORT_MILVUS_ENDPOINT", "localhost:19530"), COLLECTION
)

with DAG(
    dag_id="vectorimport_daily_load",
    description="Daily, backfill-safe: the day's files -> prepare -> upload -> one Milvus import job per day",
    schedule="@daily",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=True,
    max_active_runs=4,
    params={
        "input_root": Param(INPUT_ROOT, type="string"),
        "bucket": Param("a-bucket", type="string"),
        # replace each day (one partition per day) instead of appending it
        "replace": Param(False, type="boolean"),
    },
    tags=["vectorimport", "example"],
) as dag:

    @task
    def day_inputs(params: dict, day: str, run_id: str) -> list[str]:
        """The files of this run's day, or a clear failure naming the run (no partial import)."""
        folder = Path(params["input_root"]) / day
        files = sorted(str(p) for p in folder.glob("*") if p.suffix in INPUT_SUFFIXES and p.is_file())
        if not files:
            raise AirflowFailException(
                f"run {run_id}: no input files for data interval {day} in {folder} "
                f"(expected {', '.join('*' + s for s in INPUT_SUFFIXES)}); nothing was imported"
            )
        print(f"run {run_id}: {len(files)} input file(s) for {day}")
        return files

    inputs = day_inputs(day=DAY)

    prepared = PrepareImportFilesOperator(
        task_id="prepare",
        inputs=inputs,
        schema_from={"conn_id": "zilliz_default", "collection": COLLECTION},
        output_dir=WORK_DIR + "/vectorimport/{{ dag.dag_id }}/" + DAY + "/prepared",
        format="parquet",
    )

    uploaded = UploadToObjectStorageOperator(
        task_id="upload",
        manifest=prepared.output,
        bucket="{{ params.bucket }}",
        prefix="daily/" + COLLECTION + "/" + DAY,
        conn_id="aws_default",
    )

    imported = ZillizImportOperator(
        task_id="import",
        zilliz_conn_id="zilliz_default",
        collection_name=COLLECTION,
        files=uploaded.output,
        reattach_across_runs=True,  # one job per day, however often the day runs
        # with params.replace: the day's partition d_<yyyymmdd> is replaced (one copy per day)
        replace="{{ 'partition' if (params.replace and data_interval_start) else '' }}",
        partition_name="{{ ('d_' ~ (data_interval_start | ds_nodash)) if (params.replace and data_interval_start) else '' }}",
        outlets=[COLLECTION_ASSET],  # a downstream DAG runs after each import
        outlet_partition=DAY,  # the event's extra (and partition key) name the day it loaded
        deferrable=True,
        poll_interval=1,
        timeout=1800,
        # A retry reattaches to the day's job (no second job). It also covers Airflow's resume-after-defer
        # race (apache/airflow#71580, #72716): a trigger firing before the scheduler saw the deferral's
        # exit can get the resumed task failed by that stale executor success.
        retries=2,
        retry_delay=timedelta(seconds=5),
    )

    @task
    def report(upload: dict, job: dict, day: str) -> dict:
        summary = {
            "day": day,
            "uploaded": upload["uploaded"],
            "skipped": upload["skipped"],
            "job_id": job["job_id"],
            "reattached": job.get("reattached"),
            "imported_rows": job["imported_rows"],
        }
        print(f"VECTORIMPORT_DAILY {summary}")
        return summary

    report(uploaded.output, imported.output, day=DAY)
