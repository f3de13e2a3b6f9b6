"""The ops dashboard against a real ``airflow api-server`` (simple auth manager, multi-team mode:
one DAG bundle and one team per example DAG) on the SQLite metadata DB of real DAG runs against the
emulator (tests/dashboard_env.py): the JSON API (counts, filters, pagination, permissions, bad
input, no secrets) and, in headless Chromium, the page inside the Airflow UI.

One API server for the whole module. The expected values are read independently from the metadata
DB (sqlite3) and from the emulator's side, not from the dashboard's code."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))
import dashboard_env  # noqa: E402

demo = dashboard_env.demo
PASSWORDS = {name: password for name, (_, _, password) in demo.USERS.items()}
ARTIFACTS = Path(os.environ.get("VECTORIMPORT_ARTIFACTS", ROOT / "bench" / "out"))
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PIPELINE, EXPORT = "vectorimport_import_pipeline", "vectorimport_vikingdb_export"
CHECKS, SLOW = "vectorimport_dashboard_checks", "vectorimport_dashboard_slow"


@dataclass
class Dashboard:
    url: str
    home: Path
    produced: dict
    tokens: dict[str, str] = field(default_factory=dict)
    connections: dict[str, str] = field(default_factory=dict)

    def get(self, path: str, user: str | None = "admin", **params) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}
        return requests.get(
            f"{self.url}{path}", params=params, headers=headers, timeout=30, allow_redirects=False
        )

    def jobs(self, user: str = "admin", **params) -> dict:
        resp = self.get("/vectorimport/api/jobs", user, **params)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def db(self, sql: str, *args) -> list[tuple]:
        with sqlite3.connect(self.home / "airflow" / "airflow.db") as conn:
            return conn.execute(sql, args).fetchall()

    def xcom(self, dag_id: str, task_id: str, key: str):
        rows = self.db("select value from xcom where dag_id=? and task_id=? and key=?", dag_id, task_id, key)
        return json.loads(rows[0][0]) if rows else None


def _wait_for_line(path: Path, marker: str, proc: subprocess.Popen, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace") if path.exists() else ""
        for line in text.splitlines():
            if line.startswith(marker):
                return line
        if proc.poll() is not None:
            text = path.read_text(errors="replace") if path.exists() else ""
            for line in text.splitlines():
                if line.startswith(marker):
                    return line
            raise AssertionError(f"{marker} never printed (exit {proc.returncode}):\n{text[-4000:]}")
        time.sleep(0.3)
    raise AssertionError(f"{marker} not printed within {timeout:.0f}s")


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory) -> Dashboard:
    home = tmp_path_factory.mktemp("dashboard")
    env = dashboard_env.server_env(home)
    setup_log = home / "setup.log"
    with setup_log.open("wb") as out:
        setup = subprocess.Popen(
            [sys.executable, str(Path(__file__).parent / "dashboard_env.py"), str(home), "--serve"],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    server = None
    try:
        ready = _wait_for_line(setup_log, "DASHBOARD_DB_READY ", setup, 300)
        port = demo.free_port()
        # starts while the DAGs run; the emulator's connections serve the live refresh
        server_env = {**env, **json.loads(ready.split(" ", 1)[1])}
        server = demo.launch_api_server(port, home / "api-server.log", server_env)
        line = _wait_for_line(setup_log, "DASHBOARD_ENV ", setup, 400)
        demo.wait_until_up(server, port, home / "api-server.log")
        board = Dashboard(
            f"http://127.0.0.1:{port}",
            home,
            json.loads(line.split(" ", 1)[1]),
            connections=json.loads(ready.split(" ", 1)[1]),
        )
        for user, password in PASSWORDS.items():
            resp = requests.post(
                f"{board.url}/auth/token", json={"username": user, "password": password}, timeout=30
            )
            assert resp.status_code == 201, resp.text
            board.tokens[user] = resp.json()["access_token"]
        yield board
    finally:
        if server is not None:
            demo.stop_process(server)
        setup.stdin.close()  # the emulator stops
        try:
            setup.wait(timeout=60)
        except subprocess.TimeoutExpired:
            setup.kill()
            setup.wait()


def _by_task(jobs: list[dict]) -> dict[str, dict]:
    return {f"{j['dag_id']}.{j['task_id']}": j for j in jobs}


# --- the runs behind the tests ---------------------------------------------------------------------
def test_the_runs_produced_the_expected_mix(dashboard):
    assert dashboard.produced["runs"] == {PIPELINE: "success", EXPORT: "success", CHECKS: "failed"}
    assert dashboard.produced["slow_task"] == "deferred"


def test_the_plugin_is_loaded_by_the_api_server(dashboard):
    resp = dashboard.get("/api/v2/plugins")
    assert resp.status_code == 200, resp.text
    (plugin,) = [p for p in resp.json()["plugins"] if p["name"] == "vectorimport_dashboard"]
    assert [a["url_prefix"] for a in plugin["fastapi_apps"]] == ["/vectorimport"]
    (view,) = plugin["external_views"]
    assert (view["href"], view["destination"], view["url_route"]) == ("/vectorimport/", "nav", "vectorimport")


# --- authentication -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path", ["/vectorimport/api/jobs", "/vectorimport/api/job", "/vectorimport/api/meta"]
)
def test_anonymous_requests_are_refused(dashboard, path):
    resp = dashboard.get(path, user=None)
    assert resp.status_code == 401, resp.text
    bad = requests.get(f"{dashboard.url}{path}", headers={"Authorization": "Bearer not-a-jwt"}, timeout=30)
    assert bad.status_code in (401, 403) and "job_id" not in bad.text


def test_the_page_sends_anonymous_users_to_the_login(dashboard):
    resp = dashboard.get("/vectorimport/", user=None)
    assert resp.status_code in (302, 303, 307)
    assert resp.headers["location"].startswith("/auth/login")
    assert "vectorimport" in resp.headers["location"]
    page = requests.get(
        f"{dashboard.url}/vectorimport/", cookies={"_token": dashboard.tokens["admin"]}, timeout=30
    )
    assert page.status_code == 200 and "Vector import jobs" in page.text


# --- what the API answers -------------------------------------------------------------------------
def test_admin_sees_every_job_of_the_runs(dashboard):
    data = dashboard.jobs()
    jobs = _by_task(data["jobs"])
    assert set(jobs) == {
        f"{PIPELINE}.import_into_milvus",
        f"{PIPELINE}.import_into_zilliz_cloud",
        f"{EXPORT}.export",
        f"{CHECKS}.import_missing_file",
        f"{SLOW}.import_slowly",
    }
    assert data["total"] == 5 and data["skipped_rows"] == 1  # other_job's job_id XCom is not ours
    assert data["totals"]["by_state"] == {"completed": 3, "failed": 1, "running": 1}

    rows = dashboard.produced["rows_imported"]
    milvus, cloud = jobs[f"{PIPELINE}.import_into_milvus"], jobs[f"{PIPELINE}.import_into_zilliz_cloud"]
    assert (milvus["service"], milvus["collection"], milvus["state"]) == (
        "milvus",
        "medium_articles",
        "completed",
    )
    assert (cloud["service"], cloud["collection"], cloud["state"]) == (
        "zilliz",
        "medium_articles_cloud",
        "completed",
    )
    assert milvus["rows"] == rows["medium_articles"] and cloud["rows"] == rows["medium_articles_cloud"]
    assert milvus["job_id"] == dashboard.xcom(PIPELINE, "import_into_milvus", "job_id")
    assert cloud["console_url"] == dashboard.xcom(PIPELINE, "import_into_zilliz_cloud", "console_url")
    # Milvus has no console: no link to its REST endpoint (a 401 in a browser), and still told apart
    assert (
        milvus["console_url"] is None and dashboard.xcom(PIPELINE, "import_into_milvus", "console_url") == ""
    )

    export = jobs[f"{EXPORT}.export"]
    summary = dashboard.xcom(EXPORT, "export", "return_value")
    assert (export["service"], export["kind"], export["state"]) == ("vikingdb", "export", "completed")
    assert export["job_id"] == summary["task_id"] and export["rows"] == summary["total_filter_count"] > 0
    assert data["totals"]["rows_completed"] == milvus["rows"] + cloud["rows"] + export["rows"]
    for job in data["jobs"]:
        assert job["try_number"] == 1 and job["map_index"] == -1
        assert (
            job["ti_url"]
            == f"/dags/{job['dag_id']}/runs/{requests.utils.quote(job['run_id'], safe='')}/tasks/{job['task_id']}"
        )


def test_a_deferred_task_shows_as_a_running_job(dashboard):
    job = _by_task(dashboard.jobs()["jobs"])[f"{SLOW}.import_slowly"]
    assert (job["state"], job["ti_state"]) == ("running", "deferred")
    assert dashboard.xcom(SLOW, "import_slowly", "return_value") is None  # no summary yet
    assert job["job_id"] == dashboard.xcom(SLOW, "import_slowly", "job_id")
    assert job["console_url"] == dashboard.xcom(SLOW, "import_slowly", "console_url")
    assert job["collection"] == "medium_articles_cloud"  # from the rendered template fields
    assert job["rows"] is None and job["duration_seconds"] >= 0


def test_a_failed_import_shows_as_failed(dashboard):
    job = _by_task(dashboard.jobs()["jobs"])[f"{CHECKS}.import_missing_file"]
    assert (job["state"], job["ti_state"], job["service"]) == ("failed", "failed", "milvus")
    assert job["job_id"] == dashboard.xcom(CHECKS, "import_missing_file", "job_id")
    assert job["collection"] == "medium_articles"
    # the task raised (deferred path, real runtime), but pushed its summary first: the detail has
    # the job's reason and its per-file records, naming the missing file
    pushed = dashboard.xcom(CHECKS, "import_missing_file", "job_summary")
    assert (pushed["job_id"], pushed["state"]) == (job["job_id"], "failed") and pushed["reason"]
    resp = dashboard.get(
        "/vectorimport/api/job",
        dag_id=CHECKS,
        run_id=job["run_id"],
        task_id="import_missing_file",
        map_index=-1,
    )
    assert resp.status_code == 200, resp.text
    detail = resp.json()
    assert detail["reason"] == job["reason"] == pushed["reason"]
    assert [(f["name"], f["reason"]) for f in detail["files"]] == [
        (f["name"], f["reason"]) for f in pushed["files"]
    ]
    assert "not-there/part-00000.parquet" in json.dumps([detail["reason"], detail["files"]])


def test_the_detail_has_the_per_file_records(dashboard):
    listed = _by_task(dashboard.jobs()["jobs"])[f"{PIPELINE}.import_into_milvus"]
    assert "files" not in listed
    resp = dashboard.get(
        "/vectorimport/api/job",
        dag_id=PIPELINE,
        run_id=listed["run_id"],
        task_id="import_into_milvus",
        map_index=-1,
    )
    assert resp.status_code == 200, resp.text
    job = resp.json()
    summary = dashboard.xcom(PIPELINE, "import_into_milvus", "return_value")
    assert [f["name"] for f in job["files"]] == [f["name"] for f in summary["files"]]
    assert sum(f["rows"] for f in job["files"]) == listed["rows"]
    missing = dashboard.get(
        "/vectorimport/api/job", dag_id=PIPELINE, run_id="nope", task_id="import_into_milvus"
    )
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"service": "vikingdb"}, {f"{EXPORT}.export"}),
        (
            {"service": "milvus,zilliz", "state": "completed"},
            {f"{PIPELINE}.import_into_milvus", f"{PIPELINE}.import_into_zilliz_cloud"},
        ),
        ({"state": "failed"}, {f"{CHECKS}.import_missing_file"}),
        ({"state": ["running", "failed"]}, {f"{CHECKS}.import_missing_file", f"{SLOW}.import_slowly"}),
        (
            {"collection": "medium_articles_cloud"},
            {f"{PIPELINE}.import_into_zilliz_cloud", f"{SLOW}.import_slowly"},
        ),
        ({"dag_id": PIPELINE}, {f"{PIPELINE}.import_into_milvus", f"{PIPELINE}.import_into_zilliz_cloud"}),
        ({"since": "2020-01-01T00:00:00Z", "until": "2020-01-31T00:00:00Z"}, set()),
    ],
)
def test_filters(dashboard, params, expected):
    data = dashboard.jobs(**params)
    assert set(_by_task(data["jobs"])) == expected
    assert data["total"] == len(expected)


def test_pagination_walks_every_job_once_newest_first(dashboard):
    everything = dashboard.jobs()["jobs"]
    pages = [dashboard.jobs(limit=2, offset=offset) for offset in (0, 2, 4, 6)]
    assert [len(p["jobs"]) for p in pages] == [2, 2, 1, 0]
    assert all(p["total"] == 5 for p in pages)
    walked = [j["job_id"] for p in pages for j in p["jobs"]]
    assert walked == [j["job_id"] for j in everything] and len(set(walked)) == 5
    starts = [j["start_date"] for j in everything]
    assert starts == sorted(starts, reverse=True)


# --- permissions ----------------------------------------------------------------------------------
def test_a_user_sees_only_the_dags_of_their_team(dashboard):
    imports = dashboard.jobs("imports")
    assert {j["dag_id"] for j in imports["jobs"]} == {PIPELINE, CHECKS, SLOW}
    assert imports["total"] == 4
    exports = dashboard.jobs("exports")
    assert {j["dag_id"] for j in exports["jobs"]} == {EXPORT} and exports["total"] == 1
    assert exports["totals"]["rows_completed"] == exports["jobs"][0]["rows"]  # no rows of other teams
    assert dashboard.jobs("exports", service="milvus")["total"] == 0


def test_a_dag_the_user_may_not_read_is_refused(dashboard):
    resp = dashboard.get("/vectorimport/api/jobs", "exports", dag_id=PIPELINE)
    assert resp.status_code == 403 and "may not read" in resp.json()["detail"]
    unknown = dashboard.get("/vectorimport/api/jobs", "admin", dag_id="no_such_dag")
    assert (
        unknown.status_code == 403
        and unknown.json()["detail"].replace("no_such_dag", PIPELINE) == resp.json()["detail"]
    )
    run_id = _by_task(dashboard.jobs()["jobs"])[f"{PIPELINE}.import_into_milvus"]["run_id"]
    detail = dashboard.get(
        "/vectorimport/api/job", "exports", dag_id=PIPELINE, run_id=run_id, task_id="import_into_milvus"
    )
    assert detail.status_code == 404 and "job_id" not in detail.text


# --- live refresh ---------------------------------------------------------------------------------
def _live(dashboard, job: dict, user: str = "admin") -> requests.Response:
    return dashboard.get(
        "/vectorimport/api/job/live",
        user,
        dag_id=job["dag_id"],
        run_id=job["run_id"],
        task_id=job["task_id"],
        map_index=job["map_index"],
    )


def test_live_refresh_asks_the_service_through_the_trigger_connection(dashboard):
    job = _by_task(dashboard.jobs()["jobs"])[f"{SLOW}.import_slowly"]
    first = _live(dashboard, job)
    assert first.status_code == 200, first.text
    live = first.json()
    assert live["live"] is True and live["job_id"] == job["job_id"]
    # the emulator paces this job at a minute per step: the service says it is still waiting
    assert live["state"] in ("pending", "running") and live["raw_state"]
    assert live["collection"] == "medium_articles_cloud"
    second = _live(dashboard, job)  # within 15 s: the cached answer, no second service call
    assert second.status_code == 200 and second.json()["cached"] is True
    assert second.json()["fetched_at"] == live["fetched_at"]


def test_live_refresh_only_for_waiting_jobs_the_user_may_read(dashboard):
    jobs = _by_task(dashboard.jobs()["jobs"])
    done = _live(dashboard, jobs[f"{PIPELINE}.import_into_milvus"])
    assert done.status_code == 409
    assert _live(dashboard, jobs[f"{SLOW}.import_slowly"], user="exports").status_code == 404
    anonymous = dashboard.get("/vectorimport/api/job/live", user=None, dag_id=SLOW, run_id="r", task_id="t")
    assert anonymous.status_code == 401


def test_a_cached_live_answer_never_carries_another_callers_record():
    """The live cache holds the service's answer only: two DAGs (two teams) whose deferred tasks
    name the same job id each get a record of their own task instance, never the other's."""
    from airflow_provider_vectorimport.plugins.api import _LiveLimiter, live_record
    from airflow_provider_vectorimport.plugins.jobs import TaskRow

    def row(dag_id: str) -> TaskRow:
        return TaskRow(
            dag_id=dag_id,
            run_id=f"manual__{dag_id}",
            task_id="import",
            map_index=-1,
            try_number=1,
            state="deferred",
            operator="ZillizImportOperator",
            start_date=None,
            end_date=None,
            duration=None,
            xcoms={"job_id": "job-7"},
        )

    limiter = _LiveLimiter(15.0, 20, 60.0)
    key = ("zilliz", "zilliz_cloud", "job-7")
    summary = {"job_id": "job-7", "state": "running", "progress": 40, "collection_name": "c"}
    limiter.store(key, summary, "2026-12-05T00:00:00+00:00")
    for dag_id in ("team_a_dag", "team_b_dag"):
        cached = limiter.cached(key)
        assert cached is not None
        record = live_record(row(dag_id), *cached)
        assert record is not None
        assert (record["dag_id"], record["run_id"], record["job_id"]) == (
            dag_id,
            f"manual__{dag_id}",
            "job-7",
        )
        assert f"/dags/{dag_id}/" in record["ti_url"]
    # one call per job in flight, and a bound on all of them
    assert limiter.begin(key) is None and "already" in (limiter.begin(key) or "")
    for i in range(limiter.concurrency - 1):
        assert limiter.begin(("zilliz", "c", f"j{i}")) is None
    assert "too many" in (limiter.begin(("zilliz", "c", "one-more")) or "")
    limiter.end(key)
    assert limiter.begin(("zilliz", "c", "one-more")) is None


def test_listing_reads_only_the_listed_jobs_own_xcom(dashboard, monkeypatch):
    """A sibling task's 15 MB return value in the same run is never read or decoded by a listing."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from airflow_provider_vectorimport.plugins import api

    (size,) = dashboard.db("select length(value) from xcom where dag_id=? and task_id='big_sibling'", CHECKS)[
        0
    ]
    assert size > 15_000_000
    decoded: list[int] = []
    real = api.decode_xcom
    monkeypatch.setattr(api, "decode_xcom", lambda v: decoded.append(len(str(v))) or real(v))
    engine = create_engine(f"sqlite:///{dashboard.home / 'airflow' / 'airflow.db'}")
    with Session(engine) as session:
        rows = api._load_rows(session, {CHECKS})
    assert {r.task_id for r in rows} == {"import_missing_file", "other_job"}
    assert decoded and max(decoded) < 1_000_000, sorted(decoded)[-3:]
    listed = _by_task(dashboard.jobs(dag_id=CHECKS)["jobs"])
    assert set(listed) == {f"{CHECKS}.import_missing_file"}


# --- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"bogus": "1"}, "bogus"),
        ({"service": "pinecone"}, "service"),
        ({"state": "done"}, "state"),
        ({"limit": "0"}, "limit"),
        ({"limit": "100000"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2020-01-01T00:00:00Z"}, "window"),
        ({"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "before"),
        ({"dag_id": [PIPELINE, EXPORT]}, "dag_id"),
        ({"collection": "x" * 5000}, "collection"),
        ({"until": "0001-01-01"}, "until"),  # was a 500: the default window ran before year 1
        ({"until": "0001-01-03T00:00:00"}, "until"),
        ({"since": "0001-01-01T00:00:00Z", "until": "0001-01-02T00:00:00Z"}, "years"),
        ({"until": "9999-12-31T23:59:59"}, "until"),
    ],
)
def test_bad_input_is_a_clear_400(dashboard, params, names):
    resp = dashboard.get("/vectorimport/api/jobs", **params)
    assert resp.status_code == 400, resp.text
    assert names in resp.json()["detail"]


def test_bad_detail_requests(dashboard):
    assert dashboard.get("/vectorimport/api/job", dag_id=PIPELINE).status_code == 400
    assert (
        dashboard.get(
            "/vectorimport/api/job", dag_id=PIPELINE, run_id="r", task_id="t", map_index="x"
        ).status_code
        == 400
    )
    assert (
        dashboard.get(
            "/vectorimport/api/job", dag_id=PIPELINE, run_id="r", task_id="t", extra="1"
        ).status_code
        == 400
    )


def test_no_secret_in_any_answer(dashboard):
    from airflow_provider_vectorimport.emulator.server import EmulatorConfig

    cfg = EmulatorConfig()
    secrets = {
        cfg.api_key,
        cfg.s3_secret_key,
        *cfg.vikingdb_credentials.values(),
        "dashboard-test-jwt-secret",
    }
    secrets |= set(dashboard.tokens.values())  # the caller's own JWT is not echoed either
    bodies = [dashboard.get("/vectorimport/api/jobs").text, dashboard.get("/vectorimport/api/meta").text]
    bodies.append(_live(dashboard, _by_task(dashboard.jobs()["jobs"])[f"{SLOW}.import_slowly"]).text)
    for job in dashboard.jobs()["jobs"]:
        bodies.append(
            dashboard.get(
                "/vectorimport/api/job", dag_id=job["dag_id"], run_id=job["run_id"], task_id=job["task_id"]
            ).text
        )
    bodies.append(
        requests.get(
            f"{dashboard.url}/vectorimport/", cookies={"_token": dashboard.tokens["admin"]}, timeout=30
        ).text
    )
    for body in bodies:
        for secret in secrets:
            assert secret not in body


# --- in a real browser ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    required = os.environ.get("VECTORIMPORT_REQUIRE_BROWSER") == "1"  # set by .ci/run
    if not Path(CHROMIUM).exists():
        (pytest.fail if required else pytest.skip)(f"no chromium at {CHROMIUM} (apt-get install -y chromium)")
    try:
        import playwright.sync_api as playwright_api
    except ImportError:
        (pytest.fail if required else pytest.skip)("playwright is not installed (the test extra has it)")
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def _login(browser, dashboard, user: str, next_path: str):
    context = browser.new_context(viewport={"width": 1500, "height": 950})
    page = context.new_page()
    page.goto(f"{dashboard.url}{next_path}")
    page.wait_for_url(re.compile(r".*/auth/login.*"), timeout=30_000)
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(PASSWORDS[user])
    page.get_by_role("button", name="Sign in").click()
    return context, page


def _dashboard_frame(page):
    page.wait_for_selector("iframe", timeout=60_000)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for frame in page.frames:
            if frame.url.rstrip("/").endswith("/vectorimport") and frame != page.main_frame:
                return frame
        time.sleep(0.2)
    raise AssertionError(f"no dashboard frame in {[f.url for f in page.frames]}")


def test_browser_admin_sees_the_jobs_in_the_airflow_ui(dashboard, browser):
    context, page = _login(browser, dashboard, "admin", "/")
    try:
        page.wait_for_url(re.compile(rf"{re.escape(dashboard.url)}/?(dags)?$"), timeout=60_000)
        # the navigation entry the plugin adds: Browse > Vector imports
        page.get_by_role("button", name="Browse").click()
        page.get_by_role("menuitem", name="Vector imports").click()
        page.wait_for_url(re.compile(r".*/plugin/vectorimport(/.*)?$"), timeout=30_000)
        frame = _dashboard_frame(page)
        frame.wait_for_selector("tr.job", timeout=60_000)
        rows = frame.locator("tr.job")
        assert rows.count() == 5
        states = sorted(rows.nth(i).get_attribute("data-state") for i in range(5))
        assert states == ["completed", "completed", "completed", "failed", "running"]
        expected = dashboard.produced["rows_imported"]
        milvus = frame.locator("tr.job", has_text="import_into_milvus")
        assert f"{expected['medium_articles']:,}" in milvus.inner_text()
        assert "completed" in milvus.inner_text()
        running = frame.locator("tr.job[data-state=running]")
        assert "import_slowly" in running.inner_text()
        # the deferred job's row is refreshed live from the service (through the API server)
        live = frame.wait_for_selector("tr.job[data-live='1']", timeout=30_000)
        assert "import_slowly" in live.inner_text() and "live" in live.inner_text()
        assert frame.locator("[data-chip=failed] b").inner_text() == "1"
        # the timeline: one lane per DAG, one bar per job, rows/s from the job's rows and duration
        jobs = frame.evaluate(
            "async () => (await (await fetch('api/jobs?limit=50&since='"
            " + new Date(Date.now() - 168 * 3600e3).toISOString(), {credentials: 'same-origin'})).json()).jobs"
        )
        bars = frame.locator("#timeline rect.tl-job")
        assert bars.count() == len(jobs) == 5
        lanes = frame.locator("#timeline text[data-lane]").evaluate_all("ns => ns.map(n => n.dataset.lane)")
        assert sorted(lanes) == sorted({job["dag_id"] for job in jobs})
        done = next(job for job in jobs if job["task_id"] == "import_into_milvus")
        bar = frame.locator("#timeline rect.tl-job[data-task=import_into_milvus]")
        assert bar.get_attribute("data-state") == "completed"
        rate = float(bar.get_attribute("data-rows-per-s"))
        assert rate == pytest.approx(done["rows"] / done["duration_seconds"], rel=1e-3) and rate > 0
        assert "rows/s" in bar.locator("title").text_content()
        # the detail of the completed Milvus job: its file with the rows it imported
        milvus.click()
        frame.wait_for_selector("#files")
        assert f"{expected['medium_articles']:,}" in frame.locator("#files").inner_text()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        # the link to the task instance opens Airflow's own page for it
        # the console link opens the service's console in a new tab (the UI's iframe sandbox has no
        # allow-popups: the page opens it from the UI's document)
        requested: list[str] = []
        context.on("request", lambda request: requested.append(request.url))
        assert milvus.locator("a", has_text="console").count() == 0  # Milvus has no console page
        cloud = frame.locator("tr.job", has_text="import_into_zilliz_cloud")
        with context.expect_page(timeout=30_000):
            cloud.locator("a", has_text="console").click()
        console = dashboard.xcom(PIPELINE, "import_into_zilliz_cloud", "console_url")
        assert any(url.split("#")[0] == console.split("#")[0] for url in requested), requested
        # the task instance link routes the Airflow UI itself to the task instance's page
        row = frame.locator("tr.job", has_text="import_missing_file")
        row.locator("a", has_text="import_missing_file").click()
        deadline = time.monotonic() + 30
        while "/tasks/import_missing_file" not in page.url and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        assert re.search(
            r"/dags/vectorimport_dashboard_checks/runs/[^/]+/tasks/import_missing_file", page.url
        ), page.url
    finally:
        context.close()


def test_browser_a_restricted_user_sees_only_their_jobs(dashboard, browser):
    context, page = _login(browser, dashboard, "exports", "/vectorimport/")
    try:
        page.wait_for_url(re.compile(r".*/vectorimport/$"), timeout=60_000)
        page.wait_for_selector("tr.job", timeout=60_000)
        rows = page.locator("tr.job")
        assert rows.count() == 1
        assert "vikingdb" in rows.first.inner_text() and "medium_articles" in rows.first.inner_text()
        page.screenshot(path=str(ARTIFACTS / "dashboard-exports-user.png"), full_page=True)
    finally:
        context.close()


# --- a hung service (last: its call keeps its slot until the service answers) ----------------------
def test_a_hung_service_never_takes_the_api_server_with_it(dashboard):
    """15 live refreshes of a job whose service hangs: the DB endpoints (the dashboard's and
    Airflow's own) keep answering, one call goes out and ends in a 504 after 10 s, the rest are
    429 at once. Before, each refresh held a metadata-DB session while it waited."""
    import concurrent.futures

    conns = dashboard.connections
    emulator = json.loads(conns["AIRFLOW_CONN_ZILLIZ_CLOUD"])["host"].rstrip("/")
    faults = requests.post(
        f"{emulator}/_emulator/faults",
        json={"latency_ms": 25_000, "paths": ["/v2/vectordb/jobs/import/getProgress"]},
        timeout=30,
    )
    assert faults.status_code == 200, faults.text
    try:
        time.sleep(16)  # past the 15 s the earlier tests' answer is cached
        job = _by_task(dashboard.jobs()["jobs"])[f"{SLOW}.import_slowly"]
        with concurrent.futures.ThreadPoolExecutor(15) as pool:
            started = time.monotonic()
            live = [pool.submit(_live, dashboard, job) for _ in range(15)]
            time.sleep(1)
            listing = dashboard.get("/vectorimport/api/jobs")
            core = dashboard.get("/api/v2/dags", limit=5)
            answers = [f.result() for f in live]
            took = time.monotonic() - started
        assert listing.status_code == 200 and listing.json()["total"] >= 5, listing.text
        assert core.status_code == 200, core.text
        codes = sorted(a.status_code for a in answers)
        assert codes == [429] * 14 + [504], codes
        assert "did not answer within 10 s" in next(a for a in answers if a.status_code == 504).text
        print(f"15 live refreshes of a hung job answered in {took:.1f} s; listing and /api/v2/dags: 200")
    finally:
        requests.post(f"{emulator}/_emulator/faults", json={}, timeout=30)
