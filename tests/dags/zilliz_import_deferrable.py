"""Test DAG: import through the deferrable path, then check the summary in a downstream task.
The connection (``zilliz_dagtest``) and the result file come from the test's environment."""

from __future__ import annotations

import json
import os

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_vectorimport.operators.zilliz import ZillizImportOperator
from airflow_provider_vectorimport.sensors.zilliz import ZillizImportJobSensor

with DAG(
    "zilliz_import_deferrable", schedule=None, start_date=pendulum.datetime(2025, 1, 1), catchup=False
) as dag:
    imported = ZillizImportOperator(
        task_id="import",
        zilliz_conn_id="zilliz_dagtest",
        collection_name="articles",
        object_urls=[["s3://bucket/{{ run_id | replace(':', '-') }}/part-0.parquet"]],
        deferrable=True,
        poll_interval=0.1,
        timeout=120,
    )
    waited = ZillizImportJobSensor(
        task_id="wait_again",
        zilliz_conn_id="zilliz_dagtest",
        job_id="{{ ti.xcom_pull(task_ids='import', key='job_id') }}",
        deferrable=True,
        poke_interval=0.1,
        timeout=60,
    )

    @task
    def record(summary: dict, sensed: dict) -> None:
        with open(os.environ["VECTORIMPORT_DAGTEST_OUT"], "w") as fh:
            json.dump({"summary": summary, "sensed": sensed}, fh)

    record(imported.output, waited.output)
    imported >> waited
