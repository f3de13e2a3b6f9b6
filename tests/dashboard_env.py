"""Produce the dashboard tests' jobs for real: ``python tests/dashboard_env.py HOME``.

In its own process (Airflow reads its configuration once per process), with the demo's Airflow
settings in multi-team mode (scripts/demo.py: the example DAGs in DAG bundles, one team each, logins
``admin``, ``imports``, ``exports``), against the local emulator:

1. the demo's two example DAGs (Milvus + Zilliz Cloud imports; a VikingDB export), 300 rows;
2. ``vectorimport_dashboard_checks`` (tests/dags/dashboard_checks.py, in the ``imports`` bundle): a
   failed import of a missing file and another operator's ``job_id`` XCom;
3. ``vectorimport_dashboard_slow``: an import the emulator paces at a minute per step, run without
   a triggerer: its task stays deferred in the metadata DB with only the XComs pushed before
   deferring (then the run is killed).

Prints ``DASHBOARD_DB_READY {connections}`` once the metadata DB is migrated (the test then starts
``airflow api-server`` on the same SQLite DB with :func:`server_env` and those connections) and one
JSON line ``DASHBOARD_ENV {...}`` with what was produced. With ``--serve`` the emulator then keeps
serving (for the dashboard's live refresh) until stdin is closed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("vectorimport_demo", ROOT / "scripts" / "demo.py")
demo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(demo)

CHECKS_FILE = Path(__file__).parent / "dags" / "dashboard_checks.py"
ROWS = 300


def server_env(home: Path) -> dict[str, str]:
    """The environment of the API server (and of this script's Airflow)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(demo.airflow_env(home, teams=True))
    env["AIRFLOW__API_AUTH__JWT_SECRET"] = "dashboard-test-jwt-secret-0123456789"
    env["AIRFLOW__API__SECRET_KEY"] = "dashboard-test-secret-key"
    env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return env


def _db(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(home / "airflow" / "airflow.db", timeout=30)


def _ti_state(home: Path, dag_id: str, task_id: str) -> str | None:
    with _db(home) as conn:
        row = conn.execute(
            "select state from task_instance where dag_id=? and task_id=?", (dag_id, task_id)
        ).fetchone()
    return row[0] if row else None


class _Deferred(BaseException):
    """Ends ``dag.test()`` (which catches Exception) once the task deferred."""


def run_slow_deferred(home: Path, dag, object_url: str) -> str:
    """Run the slow DAG without the inline triggerer ``dag.test()`` uses (``_run_task`` with
    ``run_triggerer=False``): its task stays deferred, as when it waits for a triggerer; then the
    run is abandoned (it stays running)."""
    import airflow.sdk.definitions.dag as dag_module

    run_task = dag_module._run_task

    def without_triggerer(*, ti, task, run_triggerer=False):
        result = run_task(ti=ti, task=task, run_triggerer=False)
        if ti.state == "deferred":
            raise _Deferred
        return result

    dag_module._run_task = without_triggerer
    try:
        dag.test(run_conf={"object_url": object_url})
    except _Deferred:
        pass
    finally:
        dag_module._run_task = run_task
    return _ti_state(home, dag.dag_id, "import_slowly") or "missing"


def create_teams() -> None:
    """The teams the DAG bundles name (what ``airflow teams sync`` does, without another CLI start)."""
    from airflow.models.team import Team
    from airflow.utils.session import create_session

    with create_session() as session:
        for name in demo.BUNDLES:
            session.add(Team(name=name))


def _t(label: str, started: float = time.monotonic()) -> None:
    print(f"  [{time.monotonic() - started:6.1f}s] {label}", file=sys.stderr, flush=True)


def main(home: Path, keep_serving: bool = False) -> int:
    home.mkdir(parents=True, exist_ok=True)
    demo.prepare_bundles(home)
    shutil.copy2(CHECKS_FILE, home / "dags" / "imports" / CHECKS_FILE.name)
    os.environ.update(server_env(home))

    from airflow_provider_vectorimport.emulator import Emulator, EmulatorConfig

    migrate = subprocess.Popen(  # meanwhile the emulator starts
        [sys.executable, "-m", "airflow", "db", "migrate"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    emulator = Emulator(EmulatorConfig(port=0, pace_seconds=0.1, data_dir=str(home / "emulator"))).start()
    try:
        _t("emulator up")
        demo.point_connections_at(emulator)
        demo.create_collections(emulator)
        _, err = migrate.communicate(timeout=300)
        if migrate.returncode:
            print(err.decode(errors="replace")[-3000:], file=sys.stderr)
            return 1
        create_teams()
        # the test may start the API server now, with these connections (for the live refresh)
        conns = {f"AIRFLOW_CONN_{ours}": os.environ[f"AIRFLOW_CONN_{ours}"] for ours in demo.CONNECTIONS}
        print("DASHBOARD_DB_READY " + json.dumps(conns), flush=True)
        _t("migrated")

        from airflow.dag_processing.dagbag import DagBag

        states = {}
        bags = {name: DagBag(dag_folder=str(home / "dags" / name)) for name in demo.BUNDLES}
        for bag in bags.values():
            if bag.import_errors:
                print(bag.import_errors)
                return 1
        _t("parsed")
        pipeline = bags["imports"].get_dag("vectorimport_import_pipeline")
        states[pipeline.dag_id] = str(pipeline.test(run_conf={"rows": ROWS}).state)
        _t("pipeline")
        export = bags["exports"].get_dag("vectorimport_vikingdb_export")
        states[export.dag_id] = str(export.test().state)
        _t("export")
        checks = bags["imports"].get_dag("vectorimport_dashboard_checks")
        states[checks.dag_id] = str(checks.test().state)

        _t("checks")
        with _db(home) as conn:
            (manifest,) = conn.execute(
                "select value from xcom where dag_id='vectorimport_import_pipeline' "
                "and task_id='upload' and key='return_value'"
            ).fetchone()
        urls = json.loads(manifest)["object_urls"]
        object_url = urls[0] if isinstance(urls[0], str) else urls[0][0]
        # each step of the next job takes a minute: still running when the task defers
        emulator.engine.pace_seconds = 60.0
        slow_state = run_slow_deferred(
            home, bags["imports"].get_dag("vectorimport_dashboard_slow"), object_url
        )
        _t("slow")
        stats = emulator.stats()
        rows = {
            name: demo.post(
                emulator.url, "/v2/vectordb/collections/get_stats", emulator.api_key, {"collectionName": name}
            ).get("rowCount")
            for name in ("medium_articles", "medium_articles_cloud")
        }
        print(
            "DASHBOARD_ENV "
            + json.dumps(
                {
                    "runs": states,
                    "slow_task": slow_state,
                    "jobs_created": stats.get("jobs_created"),
                    "rows_imported": rows,
                }
            ),
            flush=True,
        )
        if keep_serving:
            sys.stdin.read()  # the emulator serves (live refreshes) until the test closes our stdin
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]).resolve(), keep_serving="--serve" in sys.argv[2:]))
