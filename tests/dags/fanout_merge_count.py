"""A fan-out whose merge is told a shard count or plan that may disagree with what was mapped:
``mapped`` shard task instances run (each returns a small manifest of its own object), while
``merge_count`` is given ``planned`` as a number and ``merge_plan`` a plan of ``planned`` shards.
Issue 21: merge must take every mapped shard of the run, and refuse a count or plan that disagrees."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_vectorimport.operators.fanout import MergeShardsOperator

with DAG(
    dag_id="fanout_merge_count",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    render_template_as_native_obj=True,
    params={"mapped": Param(5, type="integer"), "planned": Param(4, type="integer")},
) as dag:

    @task
    def mapped_plan(params: dict) -> list[list[str]]:
        return [[f"/in/part{i:02d}.json"] for i in range(int(params["mapped"]))]

    @task
    def stated_plan(params: dict) -> list[list[str]]:
        return [[f"/in/part{i:02d}.json"] for i in range(int(params["planned"]))]

    @task
    def shard(inputs: list[str], ti=None) -> dict:
        key = f"fanout/c/b/shard-{ti.map_index:05d}/part-00000.parquet"
        return {
            "bucket": "b",
            "format": "parquet",
            "target": "milvus",
            "groups": [{"keys": [key], "urls": [f"s3://b/{key}"], "rows": 2, "bytes": 10}],
            "shard_index": ti.map_index,
            "shard_inputs": inputs,
        }

    shards = shard.expand(inputs=mapped_plan())
    merge_count = MergeShardsOperator(
        task_id="merge_count", shard_task_id="shard", shards="{{ params.planned }}"
    )
    merge_plan = MergeShardsOperator(task_id="merge_plan", shard_task_id="shard", shards=stated_plan())
    shards >> [merge_count, merge_plan]
