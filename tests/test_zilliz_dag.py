"""End to end inside Airflow: ``dag.test()`` on a migrated SQLite DB runs the import operator through
the deferrable path (the trigger runs inline) against a loopback server, then the sensor."""

from __future__ import annotations

import json

from tests.loopback import ScriptedService, ok, serve

pytest_plugins = ["airflow_provider_vectorimport.emulator.pytest_plugin"]

API_KEY = "sk-dagtest-secret-123"


def test_deferrable_import_in_a_real_dag_run(load_dag, monkeypatch, tmp_path, capfd):
    svc = ScriptedService()
    # a create first lists the collection's jobs (those are never this task's)
    svc.script("POST", "/v2/vectordb/jobs/import/list", ok({"count": 0, "records": []}))
    server = serve(svc)
    try:
        svc.script("POST", "/v2/vectordb/jobs/import/create", ok({"jobId": "job-dag"}))
        progress = [
            ok(
                {
                    "jobId": "job-dag",
                    "state": state,
                    "progress": pct,
                    "importedRows": pct * 5,
                    "totalRows": 500,
                    "collectionName": "articles",
                }
            )
            for state, pct in (("Pending", 0), ("Importing", 40), ("Importing", 80), ("Completed", 100))
        ]
        svc.script("POST", "/v2/vectordb/jobs/import/getProgress", *progress)
        conn = {
            "conn_type": "zilliz",
            "host": server.url,
            "password": API_KEY,
            "extra": {"api_flavour": "v2", "cluster_id": "in01-dag"},
        }
        monkeypatch.setenv("AIRFLOW_CONN_ZILLIZ_DAGTEST", json.dumps(conn))
        out = tmp_path / "result.json"
        monkeypatch.setenv("VECTORIMPORT_DAGTEST_OUT", str(out))

        dag = load_dag("zilliz_import_deferrable")
        run = dag.test()
    finally:
        server.stop()

    assert run.state == "success"
    logs = "".join(capfd.readouterr())
    assert "job job-dag running (Importing) 40%" in logs  # the trigger's progress reached the logs
    assert API_KEY not in logs  # and the API key never did
    result = json.loads(out.read_text())
    assert result["summary"]["job_id"] == "job-dag" and result["summary"]["imported_rows"] == 500
    assert result["sensed"]["state"] == "completed"
    (create,) = svc.calls("/v2/vectordb/jobs/import/create")
    # the template rendered the run id into the object URL; no secret in the body
    assert create.body["objectUrls"][0][0].startswith("s3://bucket/manual__")
    assert API_KEY not in json.dumps(create.body)
    assert len(svc.calls("/v2/vectordb/jobs/import/getProgress")) >= 4


def test_task_killed_after_create_is_retried_by_airflow_and_reattaches(
    load_dag, vectorimport_emulator, monkeypatch, tmp_path
):
    """A real DAG run (dag.test, real task_state_store): try 1 creates the job and dies, Airflow
    retries, try 2 reattaches; the emulator created one job and the collection holds the rows once."""
    from tests.test_zilliz_fault_matrix import ROWS, jobs_created, row_count, settle, setup_cell

    em = vectorimport_emulator
    conn_id, name, key = setup_cell(em, monkeypatch, "milvus-nokey")
    out = tmp_path / "summary.json"
    monkeypatch.setenv("VECTORIMPORT_EO_CONN", conn_id)
    monkeypatch.setenv("VECTORIMPORT_EO_COLLECTION", name)
    monkeypatch.setenv("VECTORIMPORT_EO_KEY", key)
    monkeypatch.setenv("VECTORIMPORT_DAGTEST_OUT", str(out))
    run = load_dag("zilliz_exactly_once").test()
    settle(em, name)
    assert run.state == "success"
    summary = json.loads(out.read_text())
    assert summary["reattached"] is True and summary["state"] == "completed"
    assert (jobs_created(em, name), row_count(em, name)) == (1, ROWS)
