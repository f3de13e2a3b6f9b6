"""Process helpers shared by the scripted checks that run a real Airflow deployment
(``scripts/triggerer_check.py``, ``scripts/celery_check.py``): start Airflow components (each in
its own process group, logging to ``<home>/<name>.log``), stop them, wait for a condition while
watching that none died, and read the SQLite metadata DB.

Also :func:`worker_hostname`, a ``[core] hostname_callable`` that names a Celery worker by the
``VECTORIMPORT_WORKER_HOSTNAME`` environment variable, so that task instances run by two workers
on one machine record which worker ran them (``task_instance.hostname``).
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def worker_hostname() -> str:
    """``[core] hostname_callable`` for several workers on one machine: the name this worker was
    given in ``VECTORIMPORT_WORKER_HOSTNAME``, else the machine's FQDN."""
    return os.environ.get("VECTORIMPORT_WORKER_HOSTNAME") or socket.getfqdn()


class Deployment:
    """The processes of one throw-away deployment whose logs and SQLite DB live under ``home``."""

    def __init__(self, home: Path, db: Path) -> None:
        self.home = home
        self.db = db
        self.procs: dict[str, subprocess.Popen] = {}

    def start(
        self, name: str, *args: str, command: Sequence[str] | None = None, env: dict[str, str] | None = None
    ) -> subprocess.Popen:
        """``python -m airflow <args>`` (or ``command``), its output in ``<home>/<name>.log``."""
        log = open(self.home / f"{name}.log", "ab")  # closed with the process
        proc = subprocess.Popen(
            list(command) if command else [sys.executable, "-m", "airflow", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # its own process group: stopped (or killed) as a whole
        )
        self.procs[name] = proc
        say(f"started {name} (pid {proc.pid})")
        return proc

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
        for name in reversed(list(self.procs)):
            self.stop(name)

    def query(self, sql: str, *args: object) -> list[tuple]:
        with sqlite3.connect(self.db, timeout=10) as conn:
            return conn.execute(sql, args).fetchall()

    def wait_for(self, what: str, predicate: Callable[[], bool], timeout: float) -> None:
        """Poll ``predicate`` every second; exit naming a component that died, or on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise SystemExit(f"{name} exited ({proc.returncode}); see {self.home / (name + '.log')}")
            if predicate():
                return
            time.sleep(1)
        raise SystemExit(f"timed out waiting for {what}; logs in {self.home}")

    def airflow(self, *args: str) -> str:
        """Run an ``airflow`` CLI command to completion; its stdout (raises on failure)."""
        proc = subprocess.run([sys.executable, "-m", "airflow", *args], capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(f"airflow {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        return proc.stdout
