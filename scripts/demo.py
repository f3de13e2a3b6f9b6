"""The main job, end to end on this machine: start the local emulator (Zilliz Cloud / Milvus /
VikingDB, backed by a moto S3 server and Milvus Lite), run every example DAG with Airflow itself
(``dag.test()`` on a migrated SQLite DB in a throw-away AIRFLOW_HOME) after the set-up each needs,
print what each did (rows landed, jobs per collection, the migration's verify figures), and stop
everything it started. Run it with ``bash scripts/demo.sh``.

Every DAG in example_dags has an entry in :data:`RUNS` (its set-up, its ``dag.test()`` arguments,
what to print, its bundle): the demo refuses to start when a DAG has none, so none is silently
skipped.

``--ui`` then leaves the Airflow UI (``airflow api-server``) running on the same metadata DB, with
the demo's jobs on the provider's dashboard (Browse > Vector imports), and prints its URL and the
logins, until Ctrl-C. The example DAGs live in DAG bundles owned by teams, so the logins show the
dashboard's permissions: ``admin`` sees every job, ``imports`` only the import DAGs' (the import
pipeline, the daily load and its smoke test), ``exports`` only the VikingDB export's,
``migrations`` only the migration's (the simple auth manager's multi-team mode).
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
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "example_dags"

# example DAG conn id -> emulator connection
CONNECTIONS = {
    "ZILLIZ_DEFAULT": "ZILLIZ_EMULATOR",
    "ZILLIZ_CLOUD": "ZILLIZ_CLOUD_EMULATOR",
    "VIKINGDB_DEFAULT": "VIKINGDB_EMULATOR",
    "AWS_DEFAULT": "S3_EMULATOR",
}
#: the day the demo's daily load runs for (one logical date) and the rows it loads that day
DAILY_DAY = "2025-01-02"
DAILY_ROWS = 500
#: the fan-out's input files, rows per file (each file one row longer) and its run's params
FANOUT_FILES, FANOUT_ROWS = 8, 100
FANOUT_CONF = {"shards": 4, "max_files_per_job": 2}
#: the migration's VikingDB source rows (two in three match its filter_conds and are migrated)
MIGRATION_ROWS = 1500


class DemoRun(NamedTuple):
    """How the demo runs one example DAG: ``setup(emulator, home)`` before it, ``dag.test(**kwargs)``,
    then ``report(emulator, run, home)`` prints its outcome (and returns it, for the summary line).
    ``bundle``: the DAG bundle (and team) it belongs to with ``--ui``; ``file``: its file in
    example_dags (default ``<dag id>.py``)."""

    bundle: str
    setup: Callable[[Any, Path], None] | None = None
    kwargs: Mapping[str, Any] = MappingProxyType({})
    report: Callable[[Any, Any, Path], Any] | None = None
    file: str | None = None


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
        "VECTORIMPORT_DAILY_INPUT": str(home / "daily_input"),
        "VECTORIMPORT_FANOUT_INPUT": str(home / "fanout_input"),
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
    """One folder per bundle with its example DAGs (and the schemas they read); the logins' passwords."""
    for name, dag_files in BUNDLES.items():
        folder = home / "dags" / name
        folder.mkdir(parents=True, exist_ok=True)
        for dag_file in dag_files:
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
    # the Milvus endpoint the collection Assets name (the daily load's outlet, the smoke test's schedule)
    os.environ["VECTORIMPORT_MILVUS_ENDPOINT"] = emulator.url


def create_collections(emulator) -> None:
    """The import pipeline's collections (Milvus and Zilliz Cloud), ``articles.json``'s schema."""
    from airflow_provider_vectorimport.emulator.examples import create_collection

    schema = json.loads((EXAMPLES / "schemas" / "articles.json").read_text())
    for name in ("medium_articles", "medium_articles_cloud"):
        create_collection(emulator, name, schema)
        print(f"    created collection {name}")


# ------------------------------------------------------------------ set-up and outcome of each DAG
def task_result(run, task_id: str) -> Any:
    """The ``return_value`` XCom of a task of a finished ``dag.test()`` run."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id, task_ids=task_id, key="return_value")
        ).first()
        return XComModel.deserialize_value(row) if row is not None else None


def asset_events(uri: str) -> int:
    """How many events the metadata DB holds for an Asset."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        return session.scalar(
            select(func.count())
            .select_from(AssetEvent)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.uri == uri)
        )


def jobs_for(emulator, *collections: str) -> dict[str, int]:
    created = emulator.stats().get("jobs_created", {})
    return {name: created.get(name, 0) for name in collections}


def report_import_pipeline(emulator, run, home: Path) -> dict:
    from airflow_provider_vectorimport.emulator.examples import rest, row_count

    collections = ("medium_articles", "medium_articles_cloud")
    rows = {name: row_count(emulator, name) for name in collections}
    for name in collections:
        print(f"    rows in {name}: {rows[name]}")
    print(f"    import jobs: {jobs_for(emulator, *collections)}")
    probe = rest(
        emulator,
        "/v2/vectordb/entities/query",
        {
            "collectionName": "medium_articles",
            "filter": "id == 7",
            "outputFields": ["title_vector"],
            "limit": 1,
        },
    )
    hits = rest(
        emulator,
        "/v2/vectordb/entities/search",
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
    return rows


def report_vikingdb_export(emulator, run, home: Path) -> list:
    listing = emulator.s3_client().list_objects_v2(Bucket="vectorimport-demo", Prefix="exports/")
    exported = [(o["Key"], o["Size"]) for o in listing.get("Contents", [])]
    export = task_result(run, "export") or {}
    print(
        f"    VikingDB export of {export.get('total_filter_count')} row(s) wrote {len(exported)} file(s) "
        "to s3://vectorimport-demo/exports/:"
    )
    for key, size in exported:
        print(f"      {key} ({size} bytes)")
    return exported


def setup_daily_load(emulator, home: Path) -> None:
    from airflow_provider_vectorimport.emulator.examples import (
        DAILY_COLLECTION,
        DAILY_SCHEMA,
        create_collection,
        write_day,
    )

    create_collection(emulator, DAILY_COLLECTION, DAILY_SCHEMA)
    path = write_day(os.environ["VECTORIMPORT_DAILY_INPUT"], DAILY_DAY, range(DAILY_ROWS))
    print(f"    created collection {DAILY_COLLECTION}; {DAILY_ROWS} rows for {DAILY_DAY} in {path}")


def daily_asset_uri() -> str:
    from airflow_provider_vectorimport.assets import milvus_collection_asset
    from airflow_provider_vectorimport.emulator.examples import DAILY_COLLECTION

    return milvus_collection_asset(os.environ["VECTORIMPORT_MILVUS_ENDPOINT"], DAILY_COLLECTION).uri


def report_daily_load(emulator, run, home: Path) -> dict:
    from airflow_provider_vectorimport.emulator.examples import DAILY_COLLECTION, row_count

    day = task_result(run, "report") or {}
    rows = row_count(emulator, DAILY_COLLECTION)
    print(
        f"    daily load for {day.get('day')}: {day.get('uploaded')} object(s) uploaded, job "
        f"{day.get('job_id')} imported {day.get('imported_rows')} row(s); rows in {DAILY_COLLECTION}: {rows}"
    )
    print(f"    import jobs: {jobs_for(emulator, DAILY_COLLECTION)}")
    uri = daily_asset_uri()
    print(f"    events on the collection Asset {uri}: {asset_events(uri)}")
    return day


def report_smoke_test(emulator, run, home: Path) -> list:
    results = task_result(run, "smoke_test") or []
    for result in results:
        print(
            f"    smoke test on {result['collection']}: {result['rows']} row(s); a search with row "
            f"{result['probe_id']}'s own vector returned {result['top_ids']} (that row first)"
        )
    return results


def setup_fanout(emulator, home: Path) -> None:
    from airflow_provider_vectorimport.emulator.examples import (
        DAILY_SCHEMA,
        FANOUT_COLLECTION,
        create_collection,
        write_fanout_inputs,
    )

    create_collection(emulator, FANOUT_COLLECTION, DAILY_SCHEMA)
    folder = os.environ["VECTORIMPORT_FANOUT_INPUT"]
    rows = write_fanout_inputs(folder, FANOUT_FILES, FANOUT_ROWS)
    print(
        f"    created collection {FANOUT_COLLECTION}; {FANOUT_FILES} input files ({rows} rows) in {folder}; "
        f"run conf {FANOUT_CONF}"
    )


def report_fanout(emulator, run, home: Path) -> dict:
    from airflow_provider_vectorimport.emulator.examples import FANOUT_COLLECTION, row_count

    summary = task_result(run, "report") or {}
    print(
        f"    fan-out: {summary.get('shards')} shard(s) prepared and uploaded by mapped tasks, "
        f"{summary.get('file_groups')} file group(s) in {summary.get('requests')} import request(s), "
        f"jobs {summary.get('jobs')} imported {summary.get('imported_rows')} row(s); "
        f"rows in {FANOUT_COLLECTION}: {row_count(emulator, FANOUT_COLLECTION)}"
    )
    print(f"    import jobs: {jobs_for(emulator, FANOUT_COLLECTION)}")
    return summary


def setup_migration(emulator, home: Path) -> None:
    from airflow_provider_vectorimport.emulator.examples import (
        MIGRATION_CLOUD_TARGET,
        MIGRATION_SOURCE,
        MIGRATION_TARGET,
        migration_rows,
        seed_migration,
    )

    rows = seed_migration(emulator, migration_rows(MIGRATION_ROWS))
    print(
        f"    VikingDB source collection {MIGRATION_SOURCE}: {len(rows)} row(s); "
        f"empty targets {MIGRATION_TARGET} (Milvus), {MIGRATION_CLOUD_TARGET} (Zilliz Cloud)"
    )


def report_migration(emulator, run, home: Path) -> dict:
    verified = task_result(run, "verify") or {}
    print(
        f"    migration verify: exported {verified.get('exported_rows')} row(s), "
        f"transformed {verified.get('transformed_rows')}"
    )
    for label, target in (verified.get("targets") or {}).items():
        print(
            f"    migration verify {label}: collection {target['collection']}, job {target['job_id']} imported "
            f"{target['imported_rows']} row(s), {target['rows']} row(s) in the collection, "
            f"{target['sampled']} sampled row(s) read back equal ({', '.join(target['fields'])})"
        )
    collections = [t["collection"] for t in (verified.get("targets") or {}).values()]
    print(f"    import jobs: {jobs_for(emulator, *collections)}")
    return verified


#: every example DAG, in the order the demo runs them (dag id -> how). The VikingDB export reads the
#: collection the import pipeline filled; the smoke test (scheduled on the daily load's collection
#: Asset) runs after the daily load.
RUNS: dict[str, DemoRun] = {
    "vectorimport_import_pipeline": DemoRun(
        bundle="imports",
        setup=lambda emulator, home: create_collections(emulator),
        report=report_import_pipeline,
    ),
    "vectorimport_vikingdb_export": DemoRun(bundle="exports", report=report_vikingdb_export),
    "vectorimport_daily_load": DemoRun(
        bundle="imports",
        setup=setup_daily_load,
        kwargs={"logical_date": DAILY_DAY},
        report=report_daily_load,
    ),
    "vectorimport_collection_smoke_test": DemoRun(bundle="imports", report=report_smoke_test),
    "vectorimport_fanout": DemoRun(
        bundle="imports", setup=setup_fanout, kwargs={"run_conf": FANOUT_CONF}, report=report_fanout
    ),
    "vectorimport_migration": DemoRun(bundle="migrations", setup=setup_migration, report=report_migration),
}
#: DAG bundle (one folder, one team each) -> the example DAG files it holds
BUNDLES: dict[str, tuple[str, ...]] = {}
for _dag_id, _run in RUNS.items():
    BUNDLES.setdefault(_run.bundle, ())
    BUNDLES[_run.bundle] += (_run.file or f"{_dag_id}.py",)
#: simple auth manager logins of ``--ui``: name -> (role, team or None, password)
USERS = {"admin": ("admin", None, "admin")} | {name: ("viewer", name, name) for name in BUNDLES}


def bundle_problems(examples: Path = EXAMPLES) -> list[str]:
    """Example DAG files that no :data:`RUNS` entry names (so no bundle holds them), and entries
    whose file does not exist: the demo must run every example DAG."""
    files = {p.name for p in examples.glob("*.py") if not p.name.startswith("_")}
    named = {run.file or f"{dag_id}.py" for dag_id, run in RUNS.items()}
    problems = [
        f"example_dags/{name} has no entry in scripts/demo.py RUNS: the demo runs every example DAG "
        "(add its dag id with its set-up, dag.test() arguments and bundle)"
        for name in sorted(files - named)
    ]
    problems += [
        f"scripts/demo.py RUNS names {name}, which example_dags does not have"
        for name in sorted(named - files)
    ]
    return problems


def coverage_problems(dag_ids) -> list[str]:
    """DAGs found in the DAG folder that :data:`RUNS` does not run, and RUNS entries not found."""
    found = set(dag_ids)
    problems = [
        f"example DAG {dag_id} has no entry in scripts/demo.py RUNS: the demo runs every example DAG "
        "(add it with its set-up, dag.test() arguments and bundle)"
        for dag_id in sorted(found - set(RUNS))
    ]
    problems += [
        f"scripts/demo.py RUNS names {dag_id}, which no example DAG file defines"
        for dag_id in RUNS
        if dag_id not in found
    ]
    return problems


def _test_kwargs(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    import pendulum

    out = dict(kwargs)
    for key in ("logical_date", "run_after"):
        if isinstance(out.get(key), str):
            out[key] = pendulum.parse(out[key])
    return out


def run_dags(
    dag_folder: Path, emulator, home: Path, runs: Mapping[str, DemoRun] | None = None
) -> dict[str, str] | None:
    """Every DAG of :data:`RUNS`: its set-up, ``dag.test()``, its outcome. Their states, or None on an
    import error, a DAG the demo does not run, or a failed run."""
    from airflow.dag_processing.dagbag import DagBag

    runs = RUNS if runs is None else runs
    bag = DagBag(dag_folder=str(dag_folder))
    if bag.import_errors:
        for path, error in bag.import_errors.items():
            print(f"    import error in {path}:\n{error}")
        return None
    problems = coverage_problems(bag.dag_ids)
    if problems:
        print("\n".join(f"    {p}" for p in problems), file=sys.stderr)
        return None
    results = {}
    for dag_id, how in runs.items():
        step(f"running DAG {dag_id}")
        started = time.monotonic()
        if how.setup is not None:
            how.setup(emulator, home)
        run = bag.get_dag(dag_id).test(**_test_kwargs(how.kwargs))
        results[dag_id] = str(run.state)
        print(f"    {dag_id}: {run.state} in {time.monotonic() - started:.1f}s", flush=True)
        if str(run.state) != "success":
            return None
        if how.report is not None:
            how.report(emulator, run, home)
    return results


def summary(emulator) -> None:
    step("what happened")
    stats = emulator.stats()
    print(f"    import jobs created per collection: {dict(sorted(stats.get('jobs_created', {}).items()))}")


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
            scope = f"jobs of the '{team}' bundle's DAGs only" if team else "every job"
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

    problems = bundle_problems()  # before anything starts: the demo runs every example DAG
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 2
    home = Path(args.home).resolve() if args.home else Path(tempfile.mkdtemp(prefix="vectorimport-demo-"))
    home.mkdir(parents=True, exist_ok=True)
    if args.ui:
        prepare_bundles(home)
    # Airflow reads its configuration at import: set it up before anything imports airflow.
    os.environ.update(airflow_env(home, teams=args.ui))
    dag_folder = home / "dags" if args.ui else EXAMPLES

    from airflow_provider_vectorimport.emulator import Emulator, EmulatorConfig

    demo_started = time.monotonic()
    step("starting the local emulator (S3 server on loopback, Milvus Lite)")
    emulator = Emulator(EmulatorConfig(port=0, pace_seconds=0.3, data_dir=str(home / "emulator"))).start()
    try:
        print(f"    emulator: {emulator.url}   S3: {emulator.s3_endpoint}")
        point_connections_at(emulator)

        step("migrating a fresh Airflow metadata DB (SQLite)")
        airflow_cli("db", "migrate")
        if args.ui:
            airflow_cli("teams", "sync")  # the teams the DAG bundles name

        results = run_dags(dag_folder, emulator, home)
        if results is None:
            return 1
        summary(emulator)
        step(f"done: {', '.join(f'{k}={v}' for k, v in results.items())}")
        print(f"    demo took {time.monotonic() - demo_started:.1f}s", flush=True)
        if args.ui:
            serve_ui(home, args.port)
        return 0
    finally:
        emulator.stop()
        if not (os.environ.get("DEMO_KEEP") or args.home):
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
