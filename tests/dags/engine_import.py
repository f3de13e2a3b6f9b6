"""Test DAG: import the requests an engine's parts were planned into (``engines.plan_import_requests``),
one mapped import per request, reattaching across runs (a re-run of the run key imports nothing).
The requests file and the collection come from the test's environment."""

from __future__ import annotations

import json
import os

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_vectorimport.operators.zilliz import ZillizImportOperator

with DAG("engine_import", schedule=None, start_date=pendulum.datetime(2025, 1, 1), catchup=False) as dag:

    @task
    def requests() -> list:
        with open(os.environ["VECTORIMPORT_ENGINE_REQUESTS"]) as fh:
            return json.load(fh)

    imported = ZillizImportOperator.partial(
        task_id="import",
        zilliz_conn_id="zilliz_default",
        collection_name=os.environ.get("VECTORIMPORT_ENGINE_COLLECTION", "engine_articles"),
        reattach_across_runs=True,
        deferrable=False,
        poll_interval=0.05,
        timeout=120,
    ).expand(files=requests())

    @task
    def report(jobs: list) -> None:
        jobs = list(jobs[:])
        summary = {
            "jobs": [j["job_id"] for j in jobs],
            "reattached": [bool(j.get("reattached")) for j in jobs],
            "imported_rows": sum(int(j.get("imported_rows") or 0) for j in jobs),
        }
        with open(os.environ["VECTORIMPORT_DAGTEST_OUT"], "w") as fh:
            json.dump(summary, fh)

    report(imported.output)
