"""Test DAG: an import whose first try dies right after the create (it gives up waiting at once),
retried by Airflow; the retry must reattach through the real task_state_store. Connection, collection
and object key come from the test's environment."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_vectorimport.operators.zilliz import ZillizImportOperator


class DiesOnFirstTry(ZillizImportOperator):
    """Try 1 creates the job, then stops waiting at once (as if killed); later tries wait."""

    def execute(self, context):
        if context["ti"].try_number <= 1:
            self.timeout = 0.0
        return super().execute(context)


with DAG(
    "zilliz_exactly_once", schedule=None, start_date=pendulum.datetime(2025, 1, 1), catchup=False
) as dag:
    imported = DiesOnFirstTry(
        task_id="import",
        zilliz_conn_id=os.environ.get("VECTORIMPORT_EO_CONN", "zilliz_eo"),
        collection_name=os.environ.get("VECTORIMPORT_EO_COLLECTION", "c"),
        files=[[os.environ.get("VECTORIMPORT_EO_KEY", "k.parquet")]],
        deferrable=False,
        poll_interval=0.05,
        timeout=60,
        retries=1,
        retry_delay=timedelta(seconds=0),
    )

    @task
    def record(summary: dict) -> None:
        with open(os.environ["VECTORIMPORT_DAGTEST_OUT"], "w") as fh:
            json.dump(summary, fh)

    record(imported.output)
