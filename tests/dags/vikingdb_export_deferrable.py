"""Test DAG: export a VikingDB collection through the deferrable path (one retry allowed: the test
makes the first try fail right after the create), wait on the task again with the deferrable sensor,
and record both summaries. The connection (``vikingdb_dagtest``), the bucket
and the result file come from the test's environment."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_vectorimport.operators.vikingdb import VikingDBExportOperator
from airflow_provider_vectorimport.sensors.vikingdb import VikingDBTaskSensor

BUCKET = os.environ.get("VIKINGDB_DAGTEST_BUCKET", "vikingdb-dagtest")

with DAG(
    "vikingdb_export_deferrable", schedule=None, start_date=pendulum.datetime(2025, 1, 1), catchup=False
) as dag:
    exported = VikingDBExportOperator(
        task_id="export",
        vikingdb_conn_id="vikingdb_dagtest",
        collection_name="demo",
        tos_path=BUCKET + "/exports/{{ run_id | replace(':', '-') | replace('+', '-') }}",
        file_type="parquet",
        filter='{"city": ["beijing"], "user_id": [3, 6, 9]}',
        storage_conn_id="s3_dagtest",
        retries=1,
        retry_delay=timedelta(0),
        deferrable=True,
        poll_interval=0.1,
        timeout=120,
    )
    waited = VikingDBTaskSensor(
        task_id="wait_again",
        vikingdb_conn_id="vikingdb_dagtest",
        vikingdb_task_id="{{ ti.xcom_pull(task_ids='export', key='vikingdb_task_id') }}",
        deferrable=True,
        poke_interval=0.1,
        timeout=60,
    )

    @task
    def record(summary: dict, sensed: dict) -> None:
        with open(os.environ["VIKINGDB_DAGTEST_OUT"], "w") as fh:
            json.dump({"summary": summary, "sensed": sensed}, fh)

    record(exported.output, waited.output)
    exported >> waited
