"""Fan-out for data that outgrows one worker: shards -> prepare + upload per mapped task -> merge ->
one Milvus import job per request of at most 1,024 file groups.

* ``plan_shards`` lists the input folder (``input_dir`` param; the ``VECTORIMPORT_FANOUT_INPUT``
  environment variable sets its default) and splits the files into ``shards`` lists balanced by size
  (the same files give the same shards on every re-run);
* ``prepare_upload_shard`` is mapped over them: any worker of a Celery or Kubernetes executor can take
  a shard; it checks the shard's rows against the live collection schema, writes the import files
  into its own work folder (``$VECTORIMPORT_WORK_DIR/vectorimport/<dag_id>/<batch>/shard-NNNNN``)
  and uploads them from there to ``s3://<bucket>/fanout/<collection>/<batch>/shard-NNNNN/``;
* ``merge_shards`` (runs when every shard is done, failed or not) checks that every shard succeeded
  and that no file group is there twice, and cuts the groups into import requests of at most
  ``max_files_per_job`` groups (default and ceiling: the service's 1,024);
* ``import`` is mapped over the requests: one job per request, each with its own exactly-once
  record and Idempotency-Key (both keyed by the map index); ``reattach_across_runs`` makes a re-run
  of the same batch reuse its jobs instead of importing again.

``batch`` (param) keys the work folders and object prefixes; empty: the data interval's first day, or
the run id for a run without one. Re-running a batch uploads nothing unchanged and creates no job.

A shard with bad data fails, naming the run, the shard (map index and input files), the file, row and
field; ``merge_shards`` then fails with every failed shard listed and nothing is imported (shards that
succeeded may have uploaded their objects; a re-run skips them).

Connections: ``zilliz_default`` (a Milvus endpoint, ``api_flavour: milvus``) and ``aws_default`` (the
bucket Milvus reads). The collection (``collection`` param, default ``fanout_articles``) must exist.
"""

from __future__ import annotations

import os
import tempfile

import pendulum
from airflow.sdk import DAG, Param, task
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_vectorimport.fanout import list_input_files, split_into_shards
from airflow_provider_vectorimport.operators.fanout import MergeShardsOperator, PrepareUploadShardOperator
from airflow_provider_vectorimport.operators.zilliz import ZillizImportOperator

WORK_DIR = os.environ.get("VECTORIMPORT_WORK_DIR", tempfile.gettempdir())
INPUT_DIR = os.environ.get("VECTORIMPORT_FANOUT_INPUT", WORK_DIR + "/vectorimport/fanout_input")
# The batch: the param, else the data interval's first day, else the run id (made path-safe).
BATCH = (
    "{{ params.batch if params.batch else ((data_interval_start | ds) if data_interval_start "
    "else (run_id | replace(':', '_') | replace('+', '_'))) }}"
)

with DAG(
    dag_id="vectorimport_fanout",
    description="Fan-out: one prepare+upload task per shard, merge, one Milvus import job per 1,024 file groups",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "input_dir": Param(INPUT_DIR, type="string"),
        "shards": Param(4, type="integer", minimum=1),
        "batch": Param("", type="string"),
        "bucket": Param("a-bucket", type="string"),
        "collection": Param("fanout_articles", type="string"),
        "max_files_per_job": Param(1024, type="integer", minimum=1, maximum=1024),
    },
    tags=["vectorimport", "example"],
) as dag:

    @task
    def plan_shards(params: dict, run_id: str) -> list[list[str]]:
        """The input files, split into ``shards`` size-balanced lists; no files fails the run."""
        try:
            files = list_input_files(params["input_dir"])
        except ValueError as exc:  # no such folder
            raise AirflowFailException(f"run {run_id}: {exc}; nothing was imported") from exc
        if not files:
            raise AirflowFailException(
                f"run {run_id}: no input files (*.json, *.jsonl, *.csv, *.parquet) in "
                f"{params['input_dir']}; nothing was imported"
            )
        shards = split_into_shards(files, int(params["shards"]))
        for i, shard in enumerate(shards):
            print(f"run {run_id}: shard {i}: {len(shard)} file(s)")
        return shards

    shards = plan_shards()

    prepared = PrepareUploadShardOperator.partial(
        task_id="prepare_upload_shard",
        schema_from={"conn_id": "zilliz_default", "collection": "{{ params.collection }}"},
        output_dir=WORK_DIR + "/vectorimport/{{ dag.dag_id }}/" + BATCH,
        format="parquet",
        bucket="{{ params.bucket }}",
        prefix="fanout/{{ params.collection }}/" + BATCH,
        storage_conn_id="aws_default",
    ).expand(inputs=shards)

    requests = MergeShardsOperator(
        task_id="merge_shards",
        shard_task_id="prepare_upload_shard",
        shards=shards,
        max_files_per_job="{{ params.max_files_per_job }}",
    )
    prepared >> requests

    imported = ZillizImportOperator.partial(
        task_id="import",
        zilliz_conn_id="zilliz_default",
        collection_name="{{ params.collection }}",
        reattach_across_runs=True,  # a re-run of the batch reuses each request's job
        deferrable=True,
        poll_interval=1,
        timeout=1800,
    ).expand(files=requests.output)

    @task
    def report(planned: list, chunks: list, jobs: list, run_id: str) -> dict:
        # one slice request: iterating a mapped result probes past its end, which Airflow logs as an error
        jobs = list(jobs[:])
        summary = {
            "run_id": run_id,
            "shards": len(planned),
            "requests": len(chunks),
            "file_groups": sum(len(c["files"]) for c in chunks),
            "jobs": [j["job_id"] for j in jobs],
            "reattached": [bool(j.get("reattached")) for j in jobs],
            "imported_rows": sum(int(j.get("imported_rows") or 0) for j in jobs),
        }
        print(f"VECTORIMPORT_FANOUT {summary}")
        return summary

    report(shards, requests.output, imported.output)
