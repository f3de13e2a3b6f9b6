"""The distributed-executor check: the fan-out DAG's shards run on two Celery workers.

Starts Redis (Debian's ``redis-server``, installed with apt-get when missing) on 127.0.0.1 on a free
port, the local emulator (moto S3 + Milvus Lite, in this process) and a real Airflow 3 deployment in a
throw-away AIRFLOW_HOME (SQLite, ``CeleryExecutor`` with Redis as broker and result backend):
``api-server``, ``scheduler``, ``dag-processor``, ``triggerer`` and two Celery workers with distinct
names (``w1@<host>``, ``w2@<host>``, concurrency 2 each). Triggers ``vectorimport_fanout`` over
``SHARDS`` input shards with a small ``max_files_per_job`` (so the import is split into several
requests), waits for the run, then reads each task instance's ``hostname`` from the metadata DB
(each worker reports its name through ``[core] hostname_callable``, see
``scripts/celery_worker_name.py``) and prints the shard -> worker placement.

Passes when the run succeeded, the shards ran on both workers, the emulator counted exactly one
import job per request and the collection holds exactly the input rows.

    .venv/bin/python scripts/celery_check.py            # ~2-4 minutes; exit 0 = passed
    KEEP=1 .venv/bin/python scripts/celery_check.py     # keep the home (logs) afterwards
    SHARDS=8 FILES=16 .venv/bin/python scripts/celery_check.py

Needs the ``celery`` extra (``apache-airflow-providers-celery``, ``redis``) and root or an installed
``redis-server``. Not part of the test suite: it takes minutes and seven processes.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from _deploy import Deployment, free_port, say  # scripts/_deploy.py

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's provider (and emulator), as the components get it
from airflow_provider_vectorimport.emulator.examples import article_schema, write_fanout_inputs  # noqa: E402

EXAMPLES = ROOT / "example_dags"
DAG_ID = "vectorimport_fanout"
COLLECTION = "fanout_articles"
SHARDS = int(os.environ.get("SHARDS", "6"))
FILES = int(os.environ.get("FILES", str(2 * SHARDS)))
ROWS_PER_FILE = int(os.environ.get("ROWS_PER_FILE", "400"))
MAX_FILES_PER_JOB = int(os.environ.get("MAX_FILES_PER_JOB", str(max(1, SHARDS // 2 + 1))))
DIM = 16
SCHEMA = article_schema(DIM)
WORKERS = ("w1", "w2")
REDIS_PORT = free_port()
REDIS = f"redis://127.0.0.1:{REDIS_PORT}"
DEPLOY = Deployment(
    "vectorimport-celery-check-",
    EXAMPLES,
    {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__PARALLELISM": "8",
        # each worker names itself (VECTORIMPORT_WORKER_HOSTNAME) in task_instance.hostname
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "celery_worker_name.worker_hostname",
        "AIRFLOW__CELERY__BROKER_URL": f"{REDIS}/0",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"{REDIS}/1",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
    },
)
HOME = DEPLOY.home
os.environ["VECTORIMPORT_FANOUT_INPUT"] = str(HOME / "input")


def start_redis(binary: str) -> None:
    """redis-server on 127.0.0.1:REDIS_PORT, no persistence; watched and stopped with the rest."""
    log = open(HOME / "redis.log", "ab")  # closed with the process
    DEPLOY.procs["redis"] = subprocess.Popen(
        [binary, "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    say(f"started redis on 127.0.0.1:{REDIS_PORT} (pid {DEPLOY.procs['redis'].pid})")


def start_worker(name: str) -> None:
    """``airflow celery worker`` named ``<name>@<host>`` (in Celery and in task_instance.hostname)."""
    os.environ["VECTORIMPORT_WORKER_HOSTNAME"] = f"{name}@{socket.gethostname()}"
    try:
        DEPLOY.start(
            f"worker-{name}",
            "celery",
            "worker",
            "--celery-hostname",
            f"{name}@%h",
            "--concurrency",
            "2",
            "--skip-serve-logs",  # both on one machine: no second log server on the same port
            "--pid",
            str(HOME / f"worker-{name}.pid"),
        )
    finally:
        del os.environ["VECTORIMPORT_WORKER_HOSTNAME"]


def redis_server() -> str:
    """The redis-server binary; installed from Debian's package when missing (needs root)."""
    found = shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("redis-server is not installed: apt-get install -y redis-server (as root)")
    say("installing Debian's redis-server (apt-get install -y redis-server)")
    subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", "redis-server"],
        check=True,
        capture_output=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    return shutil.which("redis-server") or "/usr/bin/redis-server"


def write_inputs(folder: Path) -> int:
    """FILES JSON files of slightly different sizes, distinct ids; returns the row count."""
    return write_fanout_inputs(folder, FILES, ROWS_PER_FILE, DIM, growth=10, seed=13)


def worker_ready(name: str) -> bool:
    log = HOME / f"worker-{name}.log"
    return log.exists() and " ready." in log.read_text(errors="replace")


def main() -> int:
    import requests

    from airflow_provider_vectorimport.emulator import Emulator, EmulatorConfig

    started = time.monotonic()
    try:
        import airflow.providers.celery  # noqa: F401
        import redis  # noqa: F401
    except ImportError as exc:
        raise SystemExit(
            f"{exc.name} is missing: install the celery extra, e.g. `{sys.executable} -m uv pip install "
            f"-c constraints/constraints-3.11.txt -e '.[test,local,celery]'`"
        ) from None
    redis_bin = redis_server()
    emulator = Emulator(EmulatorConfig(port=0, pace_seconds=0.5, data_dir=str(HOME / "emulator"))).start()
    ok = False
    try:
        env = emulator.connection_env()
        os.environ["AIRFLOW_CONN_ZILLIZ_DEFAULT"] = env["AIRFLOW_CONN_ZILLIZ_EMULATOR"]
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = env["AIRFLOW_CONN_S3_EMULATOR"]

        def rest(path: str, body: dict) -> dict:
            resp = requests.post(
                f"{emulator.url}{path}",
                json=body,
                headers={"Authorization": f"Bearer {emulator.api_key}"},
                timeout=60,
            )
            payload = resp.json()
            if payload.get("code") not in (0, 200):
                raise SystemExit(f"{path}: {payload}")
            return payload.get("data") or {}

        rest("/v2/vectordb/collections/create", {"collectionName": COLLECTION, "schema": SCHEMA})
        total = write_inputs(HOME / "input")
        say(
            f"{FILES} input files, {total} rows; {SHARDS} shards, at most {MAX_FILES_PER_JOB} file groups a job"
        )

        DEPLOY.migrate()
        start_redis(redis_bin)
        DEPLOY.start_components()
        for name in WORKERS:
            start_worker(name)
        DEPLOY.wait_for("both Celery workers to be ready", lambda: all(map(worker_ready, WORKERS)), 180)
        DEPLOY.wait_parsed(DAG_ID)
        DEPLOY.airflow("dags", "unpause", DAG_ID)
        run_id = f"celery_check__{int(time.time())}"
        conf = {"shards": SHARDS, "batch": run_id, "max_files_per_job": MAX_FILES_PER_JOB}
        DEPLOY.airflow("dags", "trigger", DAG_ID, "--run-id", run_id, "--conf", json.dumps(conf))
        say(f"triggered {run_id}; waiting for it to finish")

        def run_state() -> str | None:
            rows = DEPLOY.query("select state from dag_run where run_id=?", run_id)
            return rows[0][0] if rows else None

        DEPLOY.wait_for("the DAG run to finish", lambda: run_state() in ("success", "failed"), 600)
        state = run_state()
        tis = DEPLOY.query(
            "select task_id, map_index, state, hostname, round((julianday(end_date) - julianday(start_date))"
            " * 86400, 1) from task_instance where dag_id=? and run_id=? order by task_id, map_index",
            DAG_ID,
            run_id,
        )
        say(f"DAG run {state}")
        print(f"\n{'task':<22} {'map':>4}  {'state':<8} {'worker (task_instance.hostname)':<34} seconds")
        for task_id, map_index, ti_state, hostname, seconds in tis:
            print(f"{task_id:<22} {map_index:>4}  {ti_state or '-':<8} {hostname or '-':<34} {seconds}")
        shards = [(m, h) for t, m, _, h, _ in tis if t == "prepare_upload_shard"]
        imports = [(m, h) for t, m, _, h, _ in tis if t == "import"]
        per_worker = {name: sum(1 for _, h in shards if (h or "").startswith(f"{name}@")) for name in WORKERS}
        created = emulator.stats().get("jobs_created", {})
        by_key = emulator.stats().get("jobs_created_by_key", {})
        landed = int(rest("/v2/vectordb/collections/get_stats", {"collectionName": COLLECTION})["rowCount"])
        print()
        say(f"shards per worker: {per_worker} ({len(shards)} shards)")
        say(
            f"import requests (mapped import tasks): {len(imports)}; jobs created: {created}; per key: {sorted(by_key.values())}"
        )
        say(f"rows: {total} in the inputs, {landed} in {COLLECTION}")
        say(f"elapsed {time.monotonic() - started:.0f} s")
        ok = (
            state == "success"
            and len(shards) == SHARDS
            and all(n > 0 for n in per_worker.values())
            and sum(per_worker.values()) == SHARDS
            and len(imports) >= 1
            and created == {COLLECTION: len(imports)}
            and landed == total
        )
        say("PASSED" if ok else f"FAILED; logs in {HOME}")
        return 0 if ok else 1
    finally:
        for name in WORKERS:  # before the broker they talk to
            DEPLOY.stop(f"worker-{name}")
        DEPLOY.finish(emulator, ok)


if __name__ == "__main__":
    sys.exit(main())
