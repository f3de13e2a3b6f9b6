"""End to end inside Airflow: ``dag.test()`` on a migrated SQLite DB exports a VikingDB collection
through the deferrable path (the trigger runs inline) against the signature-verifying emulator,
which writes Parquet into a real S3 endpoint (moto server mode on 127.0.0.1); then the sensor.
The first try fails right after its create and the retry reattaches through the real
task_state_store: the run-level "task killed after create and retried" cell of the fault matrix."""

from __future__ import annotations

import io
import json

import pyarrow.parquet as pq

from airflow_provider_vectorimport.emulator.core import HTTPServerThread
from airflow_provider_vectorimport.emulator.vikingdb import InMemoryVikingDBBackend, VikingDBEmulator
from tests.test_vikingdb_support import AK, ROWS, SK, conn_json


def test_deferrable_export_in_a_real_dag_run(load_dag, monkeypatch, tmp_path, s3_client, s3_endpoint, bucket):
    backend = InMemoryVikingDBBackend({"demo": list(ROWS)}, s3_client=s3_client)
    emulator = VikingDBEmulator({AK: SK}, backend, pace_seconds=0.1)
    out = tmp_path / "result.json"
    with HTTPServerThread([emulator]) as server:
        monkeypatch.setenv("AIRFLOW_CONN_VIKINGDB_DAGTEST", conn_json(server))
        monkeypatch.setenv("VIKINGDB_DAGTEST_BUCKET", bucket)
        monkeypatch.setenv(
            "AIRFLOW_CONN_S3_DAGTEST",
            json.dumps(
                {
                    "conn_type": "aws",
                    "login": "testing-ak",
                    "password": "testing-sk",
                    "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"},
                }
            ),
        )
        monkeypatch.setenv("VIKINGDB_DAGTEST_OUT", str(out))
        # the first try dies right after its create (its first info call is refused): the retry
        # must find the task through Airflow's real task_state_store, not create a second one
        emulator.inject_error(1000002, 1, path="/api/task/info")
        run = load_dag("vikingdb_export_deferrable").test()

    assert run.state == "success"
    result = json.loads(out.read_text())
    summary, sensed = result["summary"], result["sensed"]
    expected = [r for r in ROWS if r["city"] == "beijing" and r["user_id"] in (3, 6, 9)]
    assert summary["status"] == "done" and summary["total_filter_count"] == len(expected) > 0
    assert summary["reattached"] is True and emulator.count("/api/task/info", "1000002") == 1
    assert summary["tos_path"].startswith(f"{bucket}/exports/manual__")
    assert summary["tos_uri"] == f"tos://{summary['tos_path']}"
    assert summary["console_url"].startswith("https://console.volcengine.com/vikingdb/")
    assert sensed["task_id"] == summary["task_id"] and sensed["state"] == "completed"
    # the files really landed where the summary says (listed by the operator: the service lists none)
    (location,) = summary["files"]
    assert location.startswith(summary["tos_path"] + "/")
    key = location.split("/", 1)[1]
    body = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert pq.read_table(io.BytesIO(body)).to_pylist() == expected
    # one task, polled several times by the trigger, every request signed correctly
    assert emulator.tasks_created["demo"] == 1
    (create,) = [b for b in emulator.tasks.values()]
    assert create.task_params["filter_conds"] == [
        {"op": "must", "field": "city", "conds": ["beijing"]},
        {"op": "must", "field": "user_id", "conds": [3, 6, 9]},
    ]
    assert emulator.count("/api/task/info", "ok") >= 4
    assert not [o for _, o in emulator.requests if o.startswith("auth")]
    assert SK not in out.read_text()
