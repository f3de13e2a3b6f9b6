"""Runs after each import into the daily collection: a search smoke test on the collection Asset.

Scheduled on ``milvus://<VECTORIMPORT_MILVUS_ENDPOINT>/default/daily_articles``, the outlet of
``vectorimport_daily_load``'s import task: every successful import records an Asset event and this DAG
runs. It prints what each triggering event says the import did (the extra the provider's import
operators put on their outlet events: job id, rows, the day). For each triggering event (or, when run by hand, for the Asset it is scheduled on) it checks
that the collection has rows and that a search with one stored row's own vector finds that row first
(:func:`airflow_provider_vectorimport.verify.search_smoke_test`), failing with the collection's name.

Connection: ``zilliz_default`` (the Milvus endpoint the Asset names).
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_vectorimport.assets import milvus_collection_asset, parse_collection_asset
from airflow_provider_vectorimport.verify import search_smoke_test

COLLECTION_ASSET = milvus_collection_asset(
    os.environ.get("VECTORIMPORT_MILVUS_ENDPOINT", "localhost:19530"), "daily_articles"
)

with DAG(
    dag_id="vectorimport_collection_smoke_test",
    description="After each import into the collection (its Asset): row count and a search smoke test",
    schedule=[COLLECTION_ASSET],
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["vectorimport", "example"],
) as dag:

    @task
    def smoke_test(triggering_asset_events=None) -> list[dict]:
        events = triggering_asset_events or {}
        uris = sorted({asset.uri for asset in events}) or [COLLECTION_ASSET.uri]
        results = []
        for uri in uris:
            ref = parse_collection_asset(uri)
            result = search_smoke_test("zilliz_default", ref.collection, db_name=ref.db_name)
            # what the import said it did (the outlet event's extra: job id, rows, the day loaded)
            loads = [
                event.extra
                for asset, asset_events in events.items()
                if asset.uri == uri
                for event in asset_events
            ]
            for load in loads:
                print(
                    f"VECTORIMPORT_SMOKE_EVENT {uri}: job {load.get('job_id')} rows {load.get('rows')} "
                    f"partition {load.get('partition')}"
                )
            result["loads"] = [
                {key: load.get(key) for key in ("job_id", "rows", "partition", "files_count")}
                for load in loads
            ]
            print(f"VECTORIMPORT_SMOKE {uri}: {result}")
            results.append(result)
        return results

    smoke_test()
