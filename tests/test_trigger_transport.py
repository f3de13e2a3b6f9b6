"""Triggers at triggerer scale, against real sockets on 127.0.0.1 (tests/netserver.py):

* every trigger of an event loop shares one pooled session per endpoint (counted TCP connections),
  closed when the loop ends;
* deadlines hold, even when the server stalls in the middle of a retry;
* a trickling server cannot hold a call (async and sync total timeouts);
* a certificate that does not verify is a clear error event naming the host and the cause, never
  retried and never retried without verification; a private CA works with the ``ca_bundle`` extra;
* progress lines on change, heartbeat lines at a bounded rate otherwise.

No timed assertions: the generous ``asyncio.wait_for`` bounds only prove "not hanging".
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import pytest

from airflow_provider_vectorimport.exceptions import DeadlineExceeded, TlsError, TransportError
from airflow_provider_vectorimport.http import (
    AsyncHttpClient,
    HttpClient,
    RetryPolicy,
    TlsSettings,
    pooled_session,
    pooled_session_count,
)
from airflow_provider_vectorimport.triggers.vikingdb import VikingDBTaskTrigger
from airflow_provider_vectorimport.triggers.zilliz import ZillizImportJobTrigger
from tests.netserver import Answer, NetServer, make_cert

API_KEY = "sk-transport-secret-77"
VDB_SK = "vdb-transport-secret-sk"
Z_PATH = "/v2/vectordb/jobs/import/getProgress"
V_PATH = "/api/task/info"


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    root = tmp_path_factory.mktemp("certs")
    return {
        "good": make_cert(root / "good"),  # 127.0.0.1 + localhost
        "other": make_cert(root / "other", names=("other.example",)),  # right CA, wrong host
    }


def zilliz_conn(monkeypatch, conn_id: str, url: str, **extra) -> str:
    conn = {
        "conn_type": "zilliz",
        "host": url,
        "password": API_KEY,
        "extra": {"api_flavour": "v2", "cluster_id": "in01-t", **extra},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


def vikingdb_conn(monkeypatch, conn_id: str, url: str, **extra) -> str:
    conn = {"conn_type": "vikingdb", "host": url, "login": "AK-T", "password": VDB_SK, "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


def progress(job_id: str, state: str = "Importing", pct: int = 40) -> dict:
    data = {"jobId": job_id, "state": state, "progress": pct, "importedRows": pct, "totalRows": 100}
    return {"code": 0, "data": data}


def task(task_id: str, status: str = "running", pct: int = 40) -> dict:
    info = {"task_progress": f"{pct}%", "scan_data_count": pct, "total_data_count": 100}
    return {
        "code": 0,
        "data": {"task_id": task_id, "task_type": "data_import", "task_status": status, "process_info": info},
    }


def finishing_after(polls: int):
    """Every job/task answers 'running' ``polls - 1`` times, then finished."""
    seen: dict[str, int] = {}
    lock = threading.Lock()

    def handler(method: str, path: str, body) -> Answer:
        key = body.get("jobId") or body.get("task_id")
        with lock:
            seen[key] = seen.get(key, 0) + 1
            n = seen[key]
        done = n >= polls
        if path.startswith(Z_PATH):
            return Answer(body=progress(key, "Completed" if done else "Importing", 100 if done else 40))
        return Answer(body=task(key, "done" if done else "running", 100 if done else 40))

    return handler


async def run_all(triggers, bound: float = 60.0) -> list[dict]:
    async def one(trig):
        return [e.payload async for e in trig.run()]

    results = await asyncio.wait_for(asyncio.gather(*(one(t) for t in triggers)), bound)
    assert all(len(r) == 1 for r in results), results  # exactly one event per trigger
    return [r[0] for r in results]


# ----------------------------------------------------------------------------- one pool per loop


async def test_many_triggers_share_one_keep_alive_pool(monkeypatch, certs):
    """M triggers x N polls over HTTPS: a handful of TLS connections, not N x M."""
    m, n = 25, 6
    with NetServer(finishing_after(n), cert=certs["good"]) as srv:
        conn_id = zilliz_conn(monkeypatch, "z_pool", srv.url, ca_bundle=str(certs["good"][0]))
        triggers = [
            ZillizImportJobTrigger(conn_id, f"job-{i}", poll_interval=0.05, end_time=time.time() + 60)
            for i in range(m)
        ]
        events = await run_all(triggers)
        counts = srv.counts
    assert [e["status"] for e in events] == ["success"] * m
    assert counts["requests"] == m * n
    # keep-alive: never more connections than triggers polling at once, far fewer than requests
    assert counts["handshakes"] == counts["connections"] <= m
    assert counts["connections"] * 3 <= counts["requests"]
    assert pooled_session_count() == 1


async def test_both_services_share_the_loop_pool_per_endpoint(monkeypatch, certs):
    with (
        NetServer(finishing_after(3), cert=certs["good"]) as zsrv,
        NetServer(finishing_after(3), cert=certs["good"]) as vsrv,
    ):
        ca = str(certs["good"][0])
        zc = zilliz_conn(monkeypatch, "z_mixed", zsrv.url, ca_bundle=ca)
        vc = vikingdb_conn(monkeypatch, "v_mixed", vsrv.url, ca_bundle=ca)
        end = time.time() + 60
        triggers = [ZillizImportJobTrigger(zc, f"j{i}", 0.05, end) for i in range(10)]
        triggers += [VikingDBTaskTrigger(vc, f"t{i}", 0.05, end) for i in range(10)]
        events = await run_all(triggers)
        assert pooled_session_count() == 2  # one per endpoint, not one per trigger or per hook
        zc_counts, vc_counts = zsrv.counts, vsrv.counts
    assert [e["status"] for e in events] == ["success"] * 20
    for counts in (zc_counts, vc_counts):
        assert counts["requests"] == 30 and counts["connections"] <= 10


def test_the_pool_is_closed_when_the_loop_ends(certs):
    seen = {}

    async def main():
        session = await pooled_session("https://127.0.0.1:1", RetryPolicy())
        assert await pooled_session("https://127.0.0.1:1", RetryPolicy()) is session
        other = await pooled_session(
            "https://127.0.0.1:1", RetryPolicy(tls=TlsSettings(ca_bundle=str(certs["good"][0])))
        )
        assert other is not session  # different TLS settings, different pool
        seen["sessions"] = (session, other)

    asyncio.run(main())
    assert all(s.closed for s in seen["sessions"])


def test_the_tls_context_is_built_off_the_event_loop(monkeypatch, certs):
    """Reading the system CA store takes ~0.1 s: the first trigger of a loop must not stall every
    other trigger of the triggerer while it does (the real function runs, in a worker thread)."""
    from airflow_provider_vectorimport import http

    built_on: list[int] = []
    real = http.ssl_context

    def recording(tls):
        built_on.append(threading.get_ident())
        return real(tls)

    monkeypatch.setattr(http, "ssl_context", recording)
    loop_thread: list[int] = []

    async def main():
        loop_thread.append(threading.get_ident())
        await pooled_session("https://127.0.0.1:1", RetryPolicy())  # system CAs
        await pooled_session(
            "https://127.0.0.1:1", RetryPolicy(tls=TlsSettings(ca_bundle=str(certs["good"][0])))
        )

    asyncio.run(main())
    assert len(built_on) == 2 and loop_thread[0] not in built_on


# ----------------------------------------------------------------------------- deadlines


async def test_deadline_holds_when_the_server_stalls_mid_retry(monkeypatch):
    """First answer 503 (retried), the retry stalls far past the deadline: the trigger still ends
    with a timeout event at the deadline instead of waiting for the read timeout and more retries."""
    answers = iter([Answer(503, {"code": 503, "message": "busy"})])

    def handler(method, path, body):
        return next(answers, Answer(stall=120, body=progress("job-s")))

    with NetServer(handler) as srv:
        conn_id = zilliz_conn(
            monkeypatch, "z_stall", srv.url, max_attempts=8, backoff_initial=0.05, timeout=100
        )
        trig = ZillizImportJobTrigger(conn_id, "job-s", poll_interval=5, end_time=time.time() + 1.5)
        events = await run_all([trig], bound=20)
        assert srv.counts["requests"] == 2
    assert events[0]["status"] == "timeout"
    assert "deadline" in events[0]["message"] and "127.0.0.1" in events[0]["message"]


def test_sync_request_stops_at_its_deadline():
    with NetServer(lambda m, p, b: Answer(stall=120, body={"code": 0})) as srv:
        client = HttpClient(
            service="zilliz",
            base_url=srv.url,
            checker=lambda s, b, h: b,
            policy=RetryPolicy(backoff_initial=0.05),
        )
        with pytest.raises(DeadlineExceeded, match="deadline"):
            _in_thread(lambda: client.request("POST", "/x", json={}, deadline=time.time() + 1.0), bound=20)


# ----------------------------------------------------------------------------- trickling servers


def _in_thread(fn, bound: float):
    """Run a blocking call with a generous bound so a hang fails the test instead of the run."""
    box: dict = {}

    def target():
        try:
            box["result"] = fn()
        except BaseException as exc:  # re-raised below
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(bound)
    assert not thread.is_alive(), f"still running after {bound}s"
    if "error" in box:
        raise box["error"]
    return box["result"]


TRICKLE = Answer(body={"code": 0, "data": {"pad": "x" * 200}}, trickle=0.3)
POLICY = RetryPolicy(max_attempts=1, read_timeout=5, total_timeout=1.5)


async def test_async_call_to_a_trickling_server_ends_at_the_total_timeout():
    with NetServer(lambda m, p, b: TRICKLE) as srv:
        client = AsyncHttpClient(service="zilliz", base_url=srv.url, checker=lambda s, b, h: b, policy=POLICY)
        with pytest.raises(TransportError, match=r"no complete answer within 1\.5s"):
            await asyncio.wait_for(client.request("POST", "/x", json={}), 20)


@pytest.mark.parametrize("headers_too", [False, True], ids=["body", "headers"])
def test_sync_call_to_a_trickling_server_ends_at_the_total_timeout(headers_too):
    answer = Answer(body=TRICKLE.body, trickle=0.3, trickle_headers=headers_too)
    with NetServer(lambda m, p, b: answer) as srv:
        client = HttpClient(service="zilliz", base_url=srv.url, checker=lambda s, b, h: b, policy=POLICY)
        with pytest.raises(TransportError, match=r"no complete answer within 1\.5s"):
            _in_thread(lambda: client.request("POST", "/x", json={}), bound=20)


def test_total_timeout_does_not_cut_a_slow_but_complete_answer():
    with NetServer(lambda m, p, b: Answer(body={"code": 0, "v": 1}, stall=0.3)) as srv:
        client = HttpClient(service="zilliz", base_url=srv.url, checker=lambda s, b, h: b, policy=POLICY)
        assert client.request("POST", "/x", json={})["v"] == 1
        assert client.request("POST", "/x", json={})["v"] == 1
        assert srv.counts["connections"] == 1  # one requests.Session per client: keep-alive


# ----------------------------------------------------------------------------- TLS


async def test_bad_certificate_is_a_clear_error_event_never_an_insecure_retry(monkeypatch, certs):
    with NetServer(finishing_after(1), cert=certs["good"]) as srv:
        conn_id = zilliz_conn(monkeypatch, "z_badcert", srv.url, max_attempts=5)  # no ca_bundle
        trig = ZillizImportJobTrigger(conn_id, "job-c", poll_interval=0.05, end_time=time.time() + 30)
        events = await run_all([trig], bound=20)
        counts = srv.counts
    event = events[0]
    assert event["status"] == "error"
    host = srv.url.removeprefix("https://")
    assert host in event["message"] and "certificate" in event["message"]
    assert "self-signed" in event["message"] or "self signed" in event["message"]
    assert counts.get("requests", 0) == 0  # nothing was ever sent without verification
    assert counts["connections"] == 1  # and the handshake was not retried
    assert API_KEY not in json.dumps(event)


async def test_certificate_for_another_host_names_the_mismatch(monkeypatch, certs):
    with NetServer(finishing_after(1), cert=certs["other"]) as srv:
        conn_id = zilliz_conn(monkeypatch, "z_otherhost", srv.url, ca_bundle=str(certs["other"][0]))
        trig = ZillizImportJobTrigger(conn_id, "job-h", poll_interval=0.05, end_time=time.time() + 30)
        events = await run_all([trig], bound=20)
        assert srv.counts.get("requests", 0) == 0
    assert events[0]["status"] == "error"
    assert "127.0.0.1" in events[0]["message"] and "mismatch" in events[0]["message"].lower()


def test_sync_bad_certificate_is_not_retried(certs):
    with NetServer(finishing_after(1), cert=certs["good"]) as srv:
        client = HttpClient(
            service="milvus",
            base_url=srv.url,
            checker=lambda s, b, h: b,
            policy=RetryPolicy(backoff_initial=0.01),
        )
        with pytest.raises(TlsError, match=r"127\.0\.0\.1") as info:
            client.request("POST", V_PATH, json={"task_id": "t"})
        assert "certificate verify failed" in str(info.value)
        assert srv.counts["connections"] == 1 and srv.counts.get("requests", 0) == 0


async def test_verification_off_is_explicit_and_loud(monkeypatch, certs, caplog):
    with NetServer(finishing_after(2), cert=certs["good"]) as srv:
        vc = vikingdb_conn(monkeypatch, "v_insecure", srv.url, verify_ssl="false")
        with caplog.at_level("WARNING", logger="airflow_provider_vectorimport.http"):
            events = await run_all([VikingDBTaskTrigger(vc, "t-1", 0.05, time.time() + 30)], bound=20)
    assert events[0]["status"] == "success"
    assert any("VERIFICATION IS OFF" in r.getMessage() and srv.url in r.getMessage() for r in caplog.records)


def test_tls_extras_are_validated():
    from airflow_provider_vectorimport.exceptions import ConfigurationError

    assert RetryPolicy.from_extra({}).tls == TlsSettings(verify=True, ca_bundle=None)
    assert RetryPolicy.from_extra({"verify_ssl": "False"}).tls.verify is False
    assert RetryPolicy.from_extra({"ca_bundle": "/x.pem"}).tls.requests_verify == "/x.pem"
    with pytest.raises(ConfigurationError, match="verify_ssl"):
        RetryPolicy.from_extra({"verify_ssl": "maybe"})
    with pytest.raises(ConfigurationError, match="contradict"):
        RetryPolicy.from_extra({"verify_ssl": False, "ca_bundle": "/x.pem"})


async def test_unreadable_ca_bundle_is_an_error_event_naming_the_extra(monkeypatch, tmp_path, certs):
    with NetServer(finishing_after(1), cert=certs["good"]) as srv:
        conn_id = zilliz_conn(monkeypatch, "z_noca", srv.url, ca_bundle=str(tmp_path / "missing.pem"))
        events = await run_all([ZillizImportJobTrigger(conn_id, "j", 0.05, time.time() + 30)], bound=20)
    assert events[0]["status"] == "error" and "ca_bundle" in events[0]["message"]


# ----------------------------------------------------------------------------- logs at scale


async def test_progress_on_change_and_a_bounded_heartbeat(monkeypatch, capsys):
    """~40 polls of an unchanged job: one progress line and a few heartbeats, not 40 lines; every
    change is a progress line."""
    count = {"n": 0}

    def handler(method, path, body):
        count["n"] += 1
        n = count["n"]
        if n < 40:
            return Answer(body=progress("job-q", "Importing", 40))
        if n < 45:
            return Answer(body=progress("job-q", "Importing", 60))
        return Answer(body=progress("job-q", "Completed", 100))

    with NetServer(handler) as srv:
        conn_id = zilliz_conn(monkeypatch, "z_quiet", srv.url)
        trig = ZillizImportJobTrigger(conn_id, "job-q", poll_interval=0.025, end_time=time.time() + 60)
        trig.heartbeat_interval = 0.25
        events = await run_all([trig])
    assert events[0]["status"] == "success"
    lines = [line for line in capsys.readouterr().out.splitlines() if "job job-q" in line]
    progress_lines = [line for line in lines if "unchanged for" not in line]
    heartbeats = [line for line in lines if "unchanged for" in line]
    assert [("40%" in x, "60%" in x, "100%" in x) for x in progress_lines] == [
        (True, False, False),
        (False, True, False),
        (False, False, True),
    ]
    assert 1 <= len(heartbeats) <= 10  # 39 unchanged polls took > 1 heartbeat interval
    assert all("waiting" in h and "40%" in h for h in heartbeats)


# ----------------------------------------------------------------------------- connection loading


async def test_connection_is_loaded_once_and_masked_without_the_blocking_call(monkeypatch):
    import airflow.sdk.log as sdk_log
    from airflow.sdk import BaseHook

    def blocking_mask(*args, **kwargs):
        raise AssertionError("sync mask_secret called on the event loop")

    lookups = {"n": 0}
    original = BaseHook.aget_connection.__func__

    async def counting(cls, conn_id):
        lookups["n"] += 1
        return await original(cls, conn_id)

    monkeypatch.setattr(sdk_log, "mask_secret", blocking_mask)
    monkeypatch.setattr(BaseHook, "aget_connection", classmethod(counting))
    with NetServer(finishing_after(4)) as srv:
        conn_id = zilliz_conn(monkeypatch, "z_once", srv.url)
        events = await run_all([ZillizImportJobTrigger(conn_id, "j", 0.02, time.time() + 30)])
    assert events[0]["status"] == "success"
    assert lookups["n"] == 1  # four polls, one connection lookup
    from airflow.sdk._shared.secrets_masker import redact

    assert API_KEY not in str(redact(f"token {API_KEY}"))


def test_polling_operator_stops_at_its_timeout_when_the_server_stalls(monkeypatch):
    """The non-deferrable path has the same deadline: a poll stalled past ``timeout`` (with retries
    left) ends the task with the timeout message instead of waiting out read timeouts."""
    from airflow.sdk.exceptions import AirflowException

    from airflow_provider_vectorimport.operators.zilliz import ZillizImportOperator
    from tests.runtime import FakeTI, Store, context

    polls = {"n": 0}

    def handler(method, path, body):
        if path.endswith("/create"):
            return Answer(body={"code": 0, "data": {"jobId": "job-p"}})
        if path.endswith("/list"):
            return Answer(body={"code": 0, "data": {"records": []}})
        polls["n"] += 1
        if polls["n"] == 1:
            return Answer(body=progress("job-p"))
        return Answer(stall=120, body=progress("job-p"))

    with NetServer(handler) as srv:
        zilliz_conn(monkeypatch, "zilliz_default", srv.url, max_attempts=8, timeout=100)
        op = ZillizImportOperator(
            task_id="import",
            collection_name="articles",
            object_url="s3://bucket/a.parquet",
            poll_interval=0.2,
            timeout=2,
            deferrable=False,
        )
        with pytest.raises(AirflowException, match=r"still running after 2s.*no answer before the deadline"):
            _in_thread(lambda: op.execute(context(FakeTI(), Store())), bound=30)
