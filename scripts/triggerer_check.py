"""The real-triggerer check: a deferred import survives the death of its triggerer.

Starts the local emulator (in this process) and a real Airflow 3 deployment in a throw-away
AIRFLOW_HOME (SQLite, LocalExecutor): ``api-server``, ``scheduler``, ``dag-processor`` and
``triggerer``, each its own process. Triggers the example DAG ``vectorimport_import_pipeline``,
waits until ``import_into_milvus`` is deferred, kills the triggerer (SIGKILL, its whole process
group), checks the import is still deferred, starts a new triggerer, and waits for the DAG run to
succeed. Passes when both imports completed and the emulator counted exactly one job per
collection (a resumed trigger polls the job it was given; nothing is created twice).

    PYTHONPATH=$PWD python scripts/triggerer_check.py            # ~2-4 minutes; exit 0 = passed
    KEEP=1 PYTHONPATH=$PWD python scripts/triggerer_check.py     # keep the home (logs) afterwards

Not part of the test suite: it takes minutes and four Airflow processes.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from _deploy import Deployment, say

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "example_dags"
DAG_ID = "vectorimport_import_pipeline"
TASK = "import_into_milvus"
CONNECTIONS = {
    "ZILLIZ_DEFAULT": "ZILLIZ_EMULATOR",
    "ZILLIZ_CLOUD": "ZILLIZ_CLOUD_EMULATOR",
    "AWS_DEFAULT": "S3_EMULATOR",
}
DEPLOY = Deployment("vectorimport-triggerer-check-", EXAMPLES)
HOME = DEPLOY.home
query = DEPLOY.query
wait_for = DEPLOY.wait_for


def ti_state(run_id: str, task_id: str) -> str | None:
    rows = query(
        "select state from task_instance where dag_id=? and run_id=? and task_id=?", DAG_ID, run_id, task_id
    )
    return rows[0][0] if rows else None


def main() -> int:
    from airflow_provider_vectorimport.emulator import Emulator, EmulatorConfig

    # slow job steps so the import stays deferred long enough to kill the triggerer under it
    emulator = Emulator(EmulatorConfig(port=0, pace_seconds=4.0, data_dir=str(HOME / "emulator"))).start()
    ok = False
    try:
        env = emulator.connection_env()
        for ours, theirs in CONNECTIONS.items():
            os.environ[f"AIRFLOW_CONN_{ours}"] = env[f"AIRFLOW_CONN_{theirs}"]
        schema = json.loads((EXAMPLES / "schemas" / "articles.json").read_text())
        import requests

        for name in ("medium_articles", "medium_articles_cloud"):
            requests.post(
                f"{emulator.url}/v2/vectordb/collections/create",
                json={"collectionName": name, "schema": schema},
                headers={"Authorization": f"Bearer {emulator.api_key}"},
                timeout=60,
            ).raise_for_status()

        DEPLOY.migrate()
        DEPLOY.start_components("triggerer-1")
        DEPLOY.wait_parsed(DAG_ID)
        DEPLOY.airflow("dags", "unpause", DAG_ID)
        run_id = f"triggerer_check__{int(time.time())}"
        DEPLOY.airflow("dags", "trigger", DAG_ID, "--run-id", run_id, "--conf", '{"rows": 300}')
        say(f"triggered {run_id}; waiting for {TASK} to defer")
        wait_for(f"{TASK} to be deferred", lambda: ti_state(run_id, TASK) == "deferred", 300)
        assigned = (
            "select t.triggerer_id from trigger t join task_instance ti on ti.trigger_id = t.id "
            "where ti.run_id=? and ti.task_id=?"
        )
        wait_for(
            "the first triggerer to pick the trigger up",
            lambda: bool(query(assigned, run_id, TASK)) and query(assigned, run_id, TASK)[0][0] is not None,
            120,
        )
        first_job = query(assigned, run_id, TASK)[0][0]
        say(f"the trigger runs in triggerer job {first_job}")
        time.sleep(4)  # let it poll
        say("killing the triggerer (SIGKILL, whole process group) while the import is deferred")
        DEPLOY.stop("triggerer-1", signal.SIGKILL)
        time.sleep(5)
        state = ti_state(run_id, TASK)
        say(f"{TASK} is {state!r} with no triggerer; starting a new one")
        if state != "deferred":
            say("the import finished before the triggerer died: raise pace_seconds and rerun")
            return 2
        DEPLOY.start("triggerer-2", "triggerer")
        wait_for(
            "the DAG run to finish",
            lambda: query("select state from dag_run where run_id=?", run_id)[0][0] in ("success", "failed"),
            600,
        )
        run_state = query("select state from dag_run where run_id=?", run_id)[0][0]
        states = dict(query("select task_id, state from task_instance where run_id=?", run_id))
        created = emulator.stats().get("jobs_created", {})
        say(f"DAG run {run_state}; tasks {states}")
        say(f"emulator import jobs created per collection: {created}")
        # the trigger's lines go to the task's log, one file per triggerer job that ran it
        (new_job,) = query("select max(id) from job where job_type='TriggererJob'")[0]
        assert new_job != first_job
        task_logs = HOME / "airflow" / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={TASK}"
        per_triggerer = sorted(p.name for p in task_logs.glob("attempt=1.log.trigger.*.log"))
        resumed = task_logs / f"attempt=1.log.trigger.{new_job}.log"
        picked_up = resumed.exists() and "Trigger fired event" in resumed.read_text(errors="replace")
        say(f"trigger logs of {TASK}: {per_triggerer}")
        say(f"the new triggerer (job {new_job}) resumed the trigger and fired its event: {picked_up}")
        if picked_up:
            lines = [
                json.loads(x).get("event", "") for x in resumed.read_text().splitlines() if x.startswith("{")
            ]
            for line in lines:
                say(f"    {line}")
        ok = (
            run_state == "success"
            and states.get(TASK) == "success"
            and created.get("medium_articles") == 1
            and created.get("medium_articles_cloud") == 1
            and picked_up
        )
        say("PASSED" if ok else f"FAILED; logs in {HOME}")
        return 0 if ok else 1
    finally:
        DEPLOY.finish(emulator, ok)


if __name__ == "__main__":
    sys.exit(main())
