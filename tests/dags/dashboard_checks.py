"""DAGs for the dashboard tests (tests/dashboard_env.py copies this file into the ``imports`` bundle):

* ``vectorimport_dashboard_checks``: an import of a file that is not in the bucket (the job fails,
  the task fails) next to a task of *another* operator that pushes a ``job_id`` XCom of its own
  (the dashboard must skip it), and a sibling task whose return value is 15 MB (the listing must
  never read it);
* ``vectorimport_dashboard_slow``: an import left deferred (the test stops the run while the
  trigger waits), so the dashboard shows a running job without a summary.

Connections come from the environment (the emulator's), like the example DAGs'."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_vectorimport.operators.zilliz import ZillizImportOperator

with DAG(
    "vectorimport_dashboard_checks",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
) as checks:
    ZillizImportOperator(
        task_id="import_missing_file",
        zilliz_conn_id="zilliz_default",
        collection_name="medium_articles",
        files=[["articles/not-there/part-00000.parquet"]],
        deferrable=True,
        poll_interval=0.2,
        timeout=120,
    )

    @task
    def other_job(ti=None) -> dict:
        ti.xcom_push(key="job_id", value="not-a-vector-import-job")
        return {"run_id": 5, "state": "TERMINATED"}

    other_job()

    @task
    def big_sibling() -> str:
        return "x" * 15_000_000  # a 15 MB return value beside an import of the same run

    big_sibling()

with DAG(
    "vectorimport_dashboard_slow",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
) as slow:
    ZillizImportOperator(
        task_id="import_slowly",
        zilliz_conn_id="zilliz_cloud",
        storage_conn_id="aws_default",
        collection_name="medium_articles_cloud",
        object_url="{{ dag_run.conf['object_url'] }}",
        deferrable=True,
        poll_interval=600,
        timeout=1800,
    )
