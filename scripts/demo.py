"""The main job, end to end on this machine: start the local emulator (Zilliz Cloud / Milvus /
VikingDB, backed by a moto S3 server and Milvus Lite), run the example DAGs with Airflow itself
(``dag.test()`` on a migrated SQLite DB in a throw-away AIRFLOW_HOME), print what happened, and stop
everything it started. Run it with ``bash scripts/demo.sh``.

``--ui`` then leaves the Airflow UI (``airflow api-server``) running on the same metadata DB, with
the demo's jobs on the provider's dashboard (Browse > Vector imports), and prints its URL and the
logins, until Ctrl-C. Each example DAG lives in its own DAG bundle owned by a team, so the logins
show the dashboard's permissions: ``admin`` sees every job, ``imports`` only the import pipeline's,
``exports`` only the VikingDB export's (the simple auth manager's multi-team mode).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "example_dags"

# example DAG conn id -> emulator connection
CONNECTIONS = {
    "ZILLIZ_DEFAULT": "ZILLIZ_EMULATOR",
    "ZILLIZ_CLOUD": "ZILLIZ_CLOUD_EMULATOR",
    "VIKINGDB_DEFAULT": "VIKINGDB_EMULATOR",
    "AWS_DEFAULT": "S3_EMULATOR",
}
DAGS = ("vectorimport_import_pipeline", "vectorimport_vikingdb_export")
#: DAG bundle (one folder, one team each) -> the example DAG file it holds
BUNDLES = {
    "imports": "vectorimport_import_pipeline.py",
    "exports": "vectorimport_vikingdb_export.py",
}
#: simple auth manager logins of ``--ui``: name -> (role, team or None, password)
USERS = {
    "admin": ("admin", None, "admin"),
    "imports": ("viewer", "imports", "imports"),
    "exports": ("viewer", "exports", "exports"),
}


def airflow_env(home: Path, *, teams: bool = False) -> dict[str, str]:
    """Airflow settings of the demo (AIRFLOW_HOME, SQLite DB, DAGs). ``teams``: each example DAG in
    its own bundle owned by a team, logins per :data:`USERS` (needs :func:`prepare_bundles`)."""
    env = {
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLES),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow' / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("DEMO_LOG_LEVEL", "WARNING"),
        "VECTORIMPORT_WORK_DIR": str(home / "work"),
        "NO_PROXY": "*",
    }
    if teams:
        env["AIRFLOW__API__HOST"] = "127.0.0.1"  # the API server listens on loopback only
        bundles = [
            {
                "name": name,
                "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                "kwargs": {"path": str(home / "dags" / name)},
                "team_name": name,
            }
            for name in BUNDLES
        ]
        users = [f"{name}:{role}" + (f":{team}" if team else "") for name, (role, team, _) in USERS.items()]
        env.update(
            {
                "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
                "AIRFLOW__CORE__MULTI_TEAM": "True",
                "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(users),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "airflow" / "passwords.json"),
                # the dashboard is registered through the provider's metadata (get_provider_info):
                # Airflow reads it when providers are discovered eagerly
                "AIRFLOW__CORE__LAZY_DISCOVER_PROVIDERS": "False",
            }
        )
    return env


def prepare_bundles(home: Path) -> None:
    """One folder per bundle with its example DAG (and the schemas it reads); the logins' passwords."""
    for name, dag_file in BUNDLES.items():
        folder = home / "dags" / name
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(EXAMPLES / dag_file, folder / dag_file)
        shutil.copytree(EXAMPLES / "schemas", folder / "schemas", dirs_exist_ok=True)
    (home / "airflow").mkdir(parents=True, exist_ok=True)
    passwords = {name: password for name, (_, _, password) in USERS.items()}
    (home / "airflow" / "passwords.json").write_text(json.dumps(passwords))


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


def airflow_cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "airflow", *args], check=True, capture_output=True)


def point_connections_at(emulator) -> None:
    env = emulator.connection_env()
    for ours, theirs in CONNECTIONS.items():
        os.environ[f"AIRFLOW_CONN_{ours}"] = env[f"AIRFLOW_CONN_{theirs}"]


def create_collections(emulator) -> None:
    schema = json.loads((EXAMPLES / "schemas" / "articles.json").read_text())
    for name in ("medium_articles", "medium_articles_cloud"):
        post(
            emulator.url,
            "/v2/vectordb/collections/create",
            emulator.api_key,
            {"collectionName": name, "schema": schema},
        )
        print(f"    {name}")


def run_dags(dag_folder: Path, dag_ids=DAGS) -> dict[str, str] | None:
    """``dag.test()`` each DAG; their states, or None on an import error / failed run."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(dag_folder))
    if bag.import_errors:
        for path, error in bag.import_errors.items():
            print(f"    import error in {path}:\n{error}")
        return None
    results = {}
    for dag_id in dag_ids:
        step(f"running DAG {dag_id}")
        started = time.monotonic()
        run = bag.get_dag(dag_id).test()
        results[dag_id] = str(run.state)
        print(f"    {dag_id}: {run.state} in {time.monotonic() - started:.1f}s")
        if str(run.state) != "success":
            return None
    return results


def report(emulator) -> None:
    step("what happened")
    stats = emulator.stats()
    print(f"    import jobs created per collection: {dict(sorted(stats.get('jobs_created', {}).items()))}")
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


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch_api_server(port: int, log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``airflow api-server`` on 127.0.0.1:port (one worker), in its own process group."""
    log = log_path.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "airflow", "api-server", "-H", "127.0.0.1", "-p", str(port), "-w", "1"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )


def wait_until_up(proc: subprocess.Popen, port: int, log_path: Path, timeout: float = 120) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"airflow api-server exited with {proc.returncode}; see {log_path}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/v2/version", timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    stop_process(proc)
    raise RuntimeError(
        f"airflow api-server did not answer on port {port} within {timeout:.0f} s; see {log_path}"
    )


def start_api_server(port: int, log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    proc = launch_api_server(port, log_path, env)
    wait_until_up(proc, port, log_path)
    return proc


def stop_process(proc: subprocess.Popen) -> None:
    """Stop a process started with start_new_session=True, and its children (uvicorn workers)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)


def serve_ui(home: Path, port: int) -> None:
    def stop_on_term(signum, frame):  # `kill` stops it like Ctrl-C does
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_term)
    url = f"http://127.0.0.1:{port}"
    step(f"starting the Airflow UI (airflow api-server) on {url}")
    server = start_api_server(port, home / "api-server.log")
    try:
        step("the dashboard is up")
        print(f"    dashboard:  {url}/plugin/vectorimport   (Airflow UI: Browse > Vector imports)")
        print(f"    page alone: {url}/vectorimport/    JSON API: {url}/vectorimport/api/jobs")
        print("    logins (user / password):")
        for name, (role, team, password) in USERS.items():
            scope = f"jobs of the '{team}' bundle's DAG only" if team else "every job"
            print(f"      {name} / {password}   ({role}: {scope})")
        print("    Ctrl-C stops the UI and the emulator.", flush=True)
        while server.poll() is None:
            time.sleep(1)
        print(f"    the API server exited ({server.returncode}); its log: {home / 'api-server.log'}")
    except KeyboardInterrupt:
        print("\n    stopping")
    finally:
        stop_process(server)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--ui",
        action="store_true",
        help="then leave the Airflow UI running with the demo's jobs on the dashboard (Ctrl-C stops)",
    )
    parser.add_argument("--port", type=int, default=8080, help="port of the Airflow UI with --ui (8080)")
    parser.add_argument(
        "--home",
        help="keep everything (Airflow home, metadata DB, logs) in this folder instead of a temp one",
    )
    args = parser.parse_args(argv)

    home = Path(args.home).resolve() if args.home else Path(tempfile.mkdtemp(prefix="vectorimport-demo-"))
    home.mkdir(parents=True, exist_ok=True)
    if args.ui:
        prepare_bundles(home)
    # Airflow reads its configuration at import: set it up before anything imports airflow.
    os.environ.update(airflow_env(home, teams=args.ui))
    dag_folder = home / "dags" if args.ui else EXAMPLES

    from airflow_provider_vectorimport.emulator import Emulator, EmulatorConfig

    step("starting the local emulator (S3 server on loopback, Milvus Lite)")
    emulator = Emulator(EmulatorConfig(port=0, pace_seconds=0.3, data_dir=str(home / "emulator"))).start()
    try:
        print(f"    emulator: {emulator.url}   S3: {emulator.s3_endpoint}")
        point_connections_at(emulator)

        step("creating the collections the example imports into")
        create_collections(emulator)

        step("migrating a fresh Airflow metadata DB (SQLite)")
        airflow_cli("db", "migrate")
        if args.ui:
            airflow_cli("teams", "sync")  # the teams the DAG bundles name

        results = run_dags(dag_folder)
        if results is None:
            return 1
        report(emulator)
        step(f"done: {', '.join(f'{k}={v}' for k, v in results.items())}")
        if args.ui:
            serve_ui(home, args.port)
        return 0
    finally:
        emulator.stop()
        if not (os.environ.get("DEMO_KEEP") or args.home):
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
