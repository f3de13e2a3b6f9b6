"""VikingDBHook (sync and async) against the signature-verifying VikingDB emulator on 127.0.0.1."""

from __future__ import annotations

import json
import time

import pyarrow.parquet as pq
import pytest

from airflow_provider_vectorimport.emulator.core import HTTPServerThread
from airflow_provider_vectorimport.emulator.vikingdb import (
    DROP_CONNECTION,
    InMemoryVikingDBBackend,
    VikingDBEmulator,
)
from airflow_provider_vectorimport.exceptions import (
    AuthenticationError,
    ConfigurationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RetryableServiceError,
)
from airflow_provider_vectorimport.hooks.vikingdb import AsyncVikingDBHook, VikingDBHook, parse_task
from airflow_provider_vectorimport.models import JobState
from tests.test_vikingdb_support import AK, ROWS, SK, conn_json, start_env


@pytest.fixture
def vdb(monkeypatch, tmp_path):
    env = start_env(monkeypatch, root=tmp_path)
    yield env
    env.server.stop()


EXPORT = {"collection_name": "demo", "tos_path": "exports/run1", "file_type": "parquet"}


def wait_done(hook: VikingDBHook, task_id: str, timeout: float = 10.0) -> tuple[list[str], object]:
    seen: list[str] = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        task = hook.get_task(task_id)
        if not seen or seen[-1] != task.raw_status:
            seen.append(task.raw_status)
        if task.is_terminal:
            return seen, task
        time.sleep(0.02)
    raise AssertionError(f"task {task_id} not finished, saw {seen}")


def test_export_lifecycle_and_files(vdb):
    hook = VikingDBHook(vdb.conn_id)
    flt = {"user_id": [5, 9], "city": ["beijing", "shanghai"]}
    task_id = hook.create_task("data_export", {**EXPORT, "filter": flt})
    seen, task = wait_done(hook, task_id)
    assert seen[0] in ("init", "queued") and "running" in seen and seen[-1] == "done"
    assert task.state is JobState.COMPLETED and task.progress == 100.0
    expected = [r for r in ROWS if r["user_id"] in (5, 9) and r["city"] in ("beijing", "shanghai")]
    assert task.total_data_count == len(ROWS)
    assert task.total_filter_count == len(expected) > 0
    assert task.sampled_data == expected[:5]
    table = pq.read_table(vdb.root / "exports" / "run1" / "0.parquet")
    assert table.to_pylist() == expected
    assert task.task_params["filter"] == flt
    assert vdb.emulator.tasks_created["demo"] == 1


def test_list_drop_and_find(vdb):
    hook = VikingDBHook(vdb.conn_id)
    before = time.time() - 1
    a = hook.create_task("data_export", EXPORT)
    b = hook.create_task("data_export", {**EXPORT, "file_type": "json"})
    assert {t.task_id for t in hook.list_tasks(collection_name="demo")} == {a, b}
    assert hook.list_tasks(task_type="data_import") == []
    found = hook.find_task(
        collection_name="demo", task_type="data_export", params=EXPORT, created_after=before
    )
    assert found is not None and found.task_id == a
    assert (
        hook.find_task(
            collection_name="demo", task_type="data_export", params=EXPORT, created_after=time.time() + 3600
        )
        is None
    )
    hook.drop_task(a)
    with pytest.raises(NotFoundError) as err:
        hook.get_task(a)
    assert err.value.code == 1000035 and err.value.request_id and err.value.http_status == 404


def test_wrong_secret_key_is_rejected_without_retry(vdb, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_VIKINGDB_BAD", conn_json(vdb.server, sk="not-the-secret"))
    with pytest.raises(AuthenticationError) as err:
        VikingDBHook("vikingdb_bad").list_tasks()
    assert err.value.code == 1000001 and err.value.request_id
    assert "signature does not match" in err.value.message
    assert vdb.emulator.count("/api/task/list") == 1  # auth errors are never retried


def test_unknown_access_key_rejected(vdb, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_VIKINGDB_BAD", conn_json(vdb.server, ak="AKLTsomeoneelse"))
    with pytest.raises(AuthenticationError, match="unknown access key"):
        VikingDBHook("vikingdb_bad").get_task("x")


def test_stale_x_date_rejected(monkeypatch, tmp_path):
    backend = InMemoryVikingDBBackend({"demo": []}, local_root=tmp_path)
    # the service's clock runs an hour ahead of ours: our X-Date looks stale to it
    emulator = VikingDBEmulator({AK: SK}, backend, clock=lambda: time.time() + 3600)
    with HTTPServerThread([emulator]) as server:
        monkeypatch.setenv("AIRFLOW_CONN_VIKINGDB_SKEW", conn_json(server))
        with pytest.raises(AuthenticationError, match="stale"):
            VikingDBHook("vikingdb_skew").list_tasks()


def test_tampered_body_rejected(monkeypatch, tmp_path):
    backend = InMemoryVikingDBBackend({"demo": list(ROWS)}, local_root=tmp_path)
    emulator = VikingDBEmulator({AK: SK}, backend)

    def tamper(request):  # a man in the middle rewrites the collection name
        request.body = request.body.replace(b'"demo"', b'"dem0"')
        return None

    with HTTPServerThread([emulator], middleware=[tamper]) as server:
        monkeypatch.setenv("AIRFLOW_CONN_VIKINGDB_MITM", conn_json(server))
        with pytest.raises(AuthenticationError, match="X-Content-Sha256"):
            VikingDBHook("vikingdb_mitm").create_task("data_export", EXPORT)
    assert emulator.tasks_created["demo"] == 0 and emulator.tasks_created["dem0"] == 0


@pytest.mark.parametrize(("code", "status"), [(1000029, None), (1000028, None), (1000029, 200)])
def test_quota_and_internal_errors_are_retried_and_resigned(vdb, code, status):
    vdb.emulator.inject_error(code, 2, http_status=status, path="/api/task/create")
    hook = VikingDBHook(vdb.conn_id)
    task_id = hook.create_task("data_export", EXPORT)
    assert task_id and vdb.emulator.tasks_created["demo"] == 1
    outcomes = [o for p, o in vdb.emulator.requests if p == "/api/task/create"]
    assert outcomes == [str(code), str(code), "ok"]  # each retry passed signature verification again
    # a quota rejection is unambiguous; an internal error may hide a created task: look before resending
    assert vdb.emulator.count("/api/task/list") == (0 if code == 1000029 else 2)
    vdb.emulator.inject_error(code, 2, http_status=status, path="/api/task/info")
    assert hook.get_task(task_id).task_id == task_id


@pytest.mark.parametrize(("code", "status"), [(DROP_CONNECTION, None), (1000028, 500), (1000028, 200)])
def test_create_whose_answer_is_lost_does_not_duplicate(vdb, code, status):
    vdb.emulator.inject_error(code, 1, http_status=status, path="/api/task/create", after_processing=True)
    hook = VikingDBHook(vdb.conn_id)
    task_id = hook.create_task("data_export", EXPORT)
    assert vdb.emulator.tasks_created["demo"] == 1  # the blind retry would have made it 2
    (only,) = hook.list_tasks()
    assert only.task_id == task_id
    assert vdb.emulator.count("/api/task/create") == 1


def test_retry_budget_exhausted_raises_retryable(vdb):
    vdb.emulator.inject_error(1000029, 10)
    with pytest.raises(RetryableServiceError) as err:
        VikingDBHook(vdb.conn_id).list_tasks()
    assert err.value.code == 1000029
    assert vdb.emulator.count("/api/task/list") == 4  # max_attempts from the connection


@pytest.mark.parametrize(
    ("code", "exc"),
    [(1000002, PermissionDeniedError), (1000003, InvalidRequestError), (1000005, NotFoundError)],
)
def test_typed_errors(vdb, code, exc):
    vdb.emulator.inject_error(code)
    with pytest.raises(exc) as err:
        VikingDBHook(vdb.conn_id).get_task("whatever")
    assert err.value.code == code and err.value.request_id and err.value.message


def test_real_service_errors(vdb):
    hook = VikingDBHook(vdb.conn_id)
    with pytest.raises(NotFoundError) as err:
        hook.create_task("data_export", {**EXPORT, "collection_name": "nope"})
    assert err.value.code == 1000005 and "nope" in err.value.message
    with pytest.raises(InvalidRequestError) as err:
        hook.create_task("data_export", {**EXPORT, "tos_path": "s3://bucket/x"})
    assert err.value.code == 1000003
    with pytest.raises(ConfigurationError, match="task_type"):
        hook.create_task("data_exprot", EXPORT)
    assert vdb.emulator.count("/api/task/create") == 2


def test_confirm_then_update(vdb):
    hook = VikingDBHook(vdb.conn_id)
    task_id = hook.create_task(
        "filter_delete", {"collection_name": "demo", "filter": {"city": ["beijing"]}, "need_confirm": True}
    )
    deadline = time.time() + 10
    while (task := hook.get_task(task_id)).state is not JobState.NEEDS_CONFIRMATION:
        assert time.time() < deadline and not task.is_terminal, task
        time.sleep(0.02)
    assert task.raw_status == "confirm" and not task.is_terminal
    hook.update_task(task_id, "confirmed")
    assert hook.get_task(task_id).state in (JobState.RUNNING, JobState.COMPLETED)
    _, task = wait_done(hook, task_id)
    assert task.state is JobState.COMPLETED
    assert all(r["city"] != "beijing" for r in vdb.backend.collections["demo"])
    with pytest.raises(InvalidRequestError, match="not waiting for confirmation"):
        hook.update_task(task_id, "confirmed")


def test_missing_credentials_fail_before_any_request(vdb, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_VIKINGDB_NOSK",
        json.dumps({"conn_type": "vikingdb", "login": AK, "host": vdb.server.host, "port": vdb.server.port}),
    )
    with pytest.raises(ConfigurationError, match="password"):
        VikingDBHook("vikingdb_nosk").list_tasks()
    assert vdb.emulator.requests == []


def test_session_token_is_signed_and_checked(monkeypatch, tmp_path):
    backend = InMemoryVikingDBBackend({"demo": []}, local_root=tmp_path)
    emulator = VikingDBEmulator({AK: SK}, backend, session_tokens={AK: "sts-token-1"})
    with HTTPServerThread([emulator]) as server:
        monkeypatch.setenv("AIRFLOW_CONN_VIKINGDB_STS", conn_json(server, session_token="sts-token-1"))
        monkeypatch.setenv("AIRFLOW_CONN_VIKINGDB_STS_BAD", conn_json(server, session_token="sts-wrong"))
        assert VikingDBHook("vikingdb_sts").list_tasks() == []
        with pytest.raises(AuthenticationError, match="X-Security-Token"):
            VikingDBHook("vikingdb_sts_bad").list_tasks()


def test_settings_defaults_and_secrets_not_in_repr(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_VIKINGDB_DEFAULTS", json.dumps({"conn_type": "vikingdb", "login": AK, "password": SK})
    )
    settings = VikingDBHook("vikingdb_defaults").settings
    assert settings.base_url == "https://api-vikingdb.volces.com"
    assert settings.credentials.region == "cn-north-1" and settings.credentials.service == "air"
    assert SK not in repr(settings)
    assert settings.console_url("demo", "t-1").startswith("https://console.volcengine.com/vikingdb/")


def test_parse_task_mapping():
    base = {"task_id": "t", "task_type": "data_export", "task_params": {"collection_name": "c"}}
    cases = {
        "init": JobState.PENDING,
        "queued": JobState.PENDING,
        "running": JobState.RUNNING,
        "done": JobState.COMPLETED,
        "fail": JobState.FAILED,
        "confirm": JobState.NEEDS_CONFIRMATION,
        "confirmed": JobState.RUNNING,
    }
    for raw, state in cases.items():
        assert parse_task({**base, "task_status": raw}).state is state
    task = parse_task(
        {
            **base,
            "task_status": "running",
            "process_info": {
                "task_progress": "50%",
                "total_data_count": "1000",
                "scan_data_count": 500,
                "err_msg": "",
            },
        }
    )
    assert task.progress == 50.0 and task.total_data_count == 1000 and task.scan_data_count == 500
    assert task.err_msg is None and "50%" in task.describe()


async def test_async_hook(vdb):
    async with AsyncVikingDBHook(vdb.conn_id) as hook:
        task_id = await hook.create_task("data_export", EXPORT)
        task = await hook.get_task(task_id)
        assert task.task_id == task_id and task.task_type == "data_export"
        assert [t.task_id for t in await hook.list_tasks(collection_name="demo")] == [task_id]
        vdb.emulator.inject_error(1000029)
        assert (await hook.get_task(task_id)).task_id == task_id
        with pytest.raises(AuthenticationError):
            vdb.emulator.credentials[AK] = "rotated"
            await hook.get_task(task_id)


def test_official_sdk_client_is_accepted_by_the_emulator(vdb):
    """The other direction: the emulator's verification accepts what the official SDK signs."""
    viking_db = pytest.importorskip("volcengine.viking_db")
    from volcengine.viking_db.common import TaskType
    from volcengine.viking_db.exception import UnauthorizedException

    host = f"{vdb.server.host}:{vdb.server.port}"
    sdk = viking_db.VikingDBService(host=host, region="cn-north-1", ak=AK, sk=SK, scheme="http")
    task_id = sdk.create_task(TaskType.Data_export, {**EXPORT, "export_all": True})
    assert VikingDBHook(vdb.conn_id).get_task(task_id).task_params["export_all"] is True
    assert sdk.get_task(task_id).task_id == task_id
    sdk.set_sk("wrong-secret")
    with pytest.raises(UnauthorizedException) as err:
        sdk.get_task(task_id)
    assert err.value.code == 1000001


def test_test_connection(vdb, monkeypatch):
    assert VikingDBHook(vdb.conn_id).test_connection() == (True, "Connection successfully tested")
    monkeypatch.setenv("AIRFLOW_CONN_VIKINGDB_BAD", conn_json(vdb.server, sk="not-the-secret"))
    ok, message = VikingDBHook("vikingdb_bad").test_connection()
    assert ok is False and "1000001" in message and "not-the-secret" not in message
