"""A real Airflow 3 deployment for the scripted checks (scripts/triggerer_check.py,
scripts/backfill_check.py): a throw-away AIRFLOW_HOME with SQLite and the LocalExecutor, each Airflow
component (``api-server``, ``scheduler``, ``dag-processor``, ``triggerer``) its own process in its own
process group, logging to ``<home>/<name>.log``.

    deploy = Deployment("vectorimport-x-check-", EXAMPLES, {"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False"})
    deploy.migrate(); deploy.start_components("triggerer")
    deploy.wait_parsed(DAG_ID); deploy.airflow("dags", "unpause", DAG_ID)
    ...
    deploy.stop_all()

The environment is set in this process (``os.environ``) so that the Airflow CLI commands run by
:meth:`Deployment.airflow` and the components see the same home, DB and connections.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).resolve().parent
# SQLite waits this long for a lock (pysqlite's default is 5 s): four busy Airflow processes and the
# CLI share one file, and a `database is locked` halfway through `airflow backfill create` leaves a
# backfill without its runs. Airflow imports it: [database] sql_alchemy_connect_args.
SQLITE_CONNECT_ARGS = {"timeout": 60}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


class Deployment:
    """Airflow's processes on a fresh SQLite home; ``home`` holds the AIRFLOW_HOME and the logs."""

    def __init__(self, prefix: str, dags_folder: Path, extra_env: dict[str, str] | None = None) -> None:
        self.home = Path(tempfile.mkdtemp(prefix=prefix))
        self.db = self.home / "airflow" / "airflow.db"
        self.api_port = free_port()
        self.procs: dict[str, subprocess.Popen] = {}
        os.environ.update(
            {
                "AIRFLOW_HOME": str(self.home / "airflow"),
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.api_port}/execution/",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.db}",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "_deploy.SQLITE_CONNECT_ARGS",
                "AIRFLOW__API_AUTH__JWT_SECRET": "deployment-check-not-a-secret",
                "AIRFLOW__API__SECRET_KEY": "deployment-check-not-a-secret",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
                "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "8",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                "VECTORIMPORT_WORK_DIR": str(self.home / "work"),
                "PYTHONPATH": os.pathsep.join((str(ROOT), str(SCRIPTS), os.environ.get("PYTHONPATH", ""))),
                "NO_PROXY": "*",
                **(extra_env or {}),
            }
        )

    # --- processes -----------------------------------------------------------------------------
    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.home / f"{name}.log", "ab")  # closed with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "airflow", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped (or killed) as a whole
        )
        self.procs[name] = proc
        say(f"started {name} (pid {proc.pid})")
        return proc

    def start_components(self, triggerer_name: str = "triggerer") -> None:
        """api-server (the tasks' Execution API), dag-processor, scheduler and one triggerer."""
        self.start("api-server", "api-server", "--port", str(self.api_port), "--host", "127.0.0.1")
        self.start("dag-processor", "dag-processor")
        self.start("scheduler", "scheduler")
        self.start(triggerer_name, "triggerer")

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
            proc.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(10)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def finish(self, emulator, ok: bool) -> None:
        """End of a check: stop every component and the emulator; remove the home (logs, DB) when
        the check passed, unless ``KEEP`` is set."""
        self.stop_all()
        emulator.stop()
        if ok and not os.environ.get("KEEP"):
            shutil.rmtree(self.home, ignore_errors=True)

    # --- the CLI and the DB ----------------------------------------------------------------------
    def airflow(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """An ``airflow`` CLI command against this deployment (output captured)."""
        result = subprocess.run([sys.executable, "-m", "airflow", *args], capture_output=True, text=True)
        if check and result.returncode != 0:
            raise SystemExit(
                f"airflow {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}"
            )
        return result

    def migrate(self) -> None:
        say(f"AIRFLOW_HOME {self.home / 'airflow'}; migrating the SQLite DB")
        self.airflow("db", "migrate")

    def query(self, sql: str, *args: object) -> list[tuple]:
        with sqlite3.connect(self.db, timeout=10) as conn:
            return conn.execute(sql, args).fetchall()

    def wait_for(self, what: str, predicate: Callable[[], bool], timeout: float) -> None:
        """Poll ``predicate`` every second; fail when a component died or ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise SystemExit(f"{name} exited ({proc.returncode}); see {self.home / (name + '.log')}")
            if predicate():
                return
            time.sleep(1)
        raise SystemExit(f"timed out waiting for {what}; logs in {self.home}")

    def wait_parsed(self, dag_id: str, timeout: float = 180) -> None:
        self.wait_for(
            f"{dag_id} to be parsed",
            lambda: (
                bool(self.query("select 1 from dag where dag_id=?", dag_id)) if self.db.exists() else False
            ),
            timeout,
        )
