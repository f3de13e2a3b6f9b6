"""The main job, end to end on this machine: start the local emulator (Zilliz Cloud / Milvus /
VikingDB, backed by a moto S3 server and Milvus Lite), run the example DAGs with Airflow itself
(``dag.test()`` on a migrated SQLite DB in a throw-away AIRFLOW_HOME), print what happened, and stop
everything it started. Run it with ``bash scripts/demo.sh``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "example_dags"
HOME = Path(tempfile.mkdtemp(prefix="vectorimport-demo-"))

# Airflow reads its configuration at import: set it up before anything imports airflow.
os.environ.update(
    {
        "AIRFLOW_HOME": str(HOME / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLES),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{HOME / 'airflow' / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("DEMO_LOG_LEVEL", "WARNING"),
        "VECTORIMPORT_WORK_DIR": str(HOME / "work"),
        "NO_PROXY": "*",
    }
)

# example DAG conn id -> emulator connection
CONNECTIONS = {
    "ZILLIZ_DEFAULT": "ZILLIZ_EMULATOR",
    "ZILLIZ_CLOUD": "ZILLIZ_CLOUD_EMULATOR",
    "VIKINGDB_DEFAULT": "VIKINGDB_EMULATOR",
    "AWS_DEFAULT": "S3_EMULATOR",
}
DAGS = ("vectorimport_import_pipeline", "vectorimport_vikingdb_export")


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def post(url: str, path: str, token: str, body: dict) -> dict:
    import requests

    resp = requests.post(f"{url}{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    resp.raise_for_status()
    payload = resp.json()
    if payload.get("code") not in (0, 200):
        raise RuntimeError(f"{path}: {payload}")
    return payload.get("data") or {}


def main() -> int:
    from airflow_provider_vectorimport.emulator import Emulator, EmulatorConfig

    step("starting the local emulator (S3 server on loopback, Milvus Lite)")
    emulator = Emulator(EmulatorConfig(port=0, pace_seconds=0.3, data_dir=str(HOME / "emulator"))).start()
    try:
        print(f"    emulator: {emulator.url}   S3: {emulator.s3_endpoint}")
        env = emulator.connection_env()
        for ours, theirs in CONNECTIONS.items():
            os.environ[f"AIRFLOW_CONN_{ours}"] = env[f"AIRFLOW_CONN_{theirs}"]

        step("creating the collections the example imports into")
        schema = json.loads((EXAMPLES / "schemas" / "articles.json").read_text())
        for name in ("medium_articles", "medium_articles_cloud"):
            post(
                emulator.url,
                "/v2/vectordb/collections/create",
                emulator.api_key,
                {"collectionName": name, "schema": schema},
            )
            print(f"    {name}")

        step("migrating a fresh Airflow metadata DB (SQLite)")
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)

        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag(dag_folder=str(EXAMPLES))
        if bag.import_errors:
            for path, error in bag.import_errors.items():
                print(f"    import error in {path}:\n{error}")
            return 1
        results = {}
        for dag_id in DAGS:
            step(f"running DAG {dag_id}")
            started = time.monotonic()
            run = bag.get_dag(dag_id).test()
            results[dag_id] = str(run.state)
            print(f"    {dag_id}: {run.state} in {time.monotonic() - started:.1f}s")
            if str(run.state) != "success":
                return 1

        step("what happened")
        stats = emulator.stats()
        print(
            f"    import jobs created per collection: {dict(sorted(stats.get('jobs_created', {}).items()))}"
        )
        for name in ("medium_articles", "medium_articles_cloud"):
            count = post(
                emulator.url, "/v2/vectordb/collections/get_stats", emulator.api_key, {"collectionName": name}
            )
            print(f"    rows in {name}: {count.get('rowCount')}")
        probe = post(
            emulator.url,
            "/v2/vectordb/entities/query",
            emulator.api_key,
            {
                "collectionName": "medium_articles",
                "filter": "id == 7",
                "outputFields": ["id", "title", "title_vector"],
                "limit": 1,
            },
        )
        hits = post(
            emulator.url,
            "/v2/vectordb/entities/search",
            emulator.api_key,
            {
                "collectionName": "medium_articles",
                "data": [probe[0]["title_vector"]],
                "limit": 3,
                "outputFields": ["title", "publication"],
            },
        )
        print("    vector search with the vector of article 7, top 3:")
        for hit in hits:
            print(f"      {hit}")
        client = emulator.s3_client()
        listing = client.list_objects_v2(Bucket="vectorimport-demo", Prefix="exports/")
        exported = [(o["Key"], o["Size"]) for o in listing.get("Contents", [])]
        print(f"    VikingDB export wrote {len(exported)} file(s) to s3://vectorimport-demo/exports/:")
        for key, size in exported:
            print(f"      {key} ({size} bytes)")
        step(f"done: {', '.join(f'{k}={v}' for k, v in results.items())}")
        return 0
    finally:
        emulator.stop()
        if not os.environ.get("DEMO_KEEP"):
            shutil.rmtree(HOME, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
