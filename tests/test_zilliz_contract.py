"""The documents hold the hooks and the emulator: every request/response example of the vendor
documents for Zilliz Cloud v1/v2 and Milvus (``tests/fixtures/{zilliz,milvus}/*.json``, each naming
its page in ``_source``) must be produced by the hooks' builders and read by their parsers, and the
emulator may answer only with the fields those examples show. Plus the pure rules behind
exactly-once: file-name formats, file-set equality, the Idempotency-Key, states, Retry-After."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from airflow_provider_vectorimport import exceptions as exc_mod
from airflow_provider_vectorimport.exceptions import ConfigurationError, NotFoundError, RetryableServiceError
from airflow_provider_vectorimport.hooks.zilliz import (
    ZillizConfig,
    build_abort_call,
    build_commit_call,
    build_create_call,
    build_get_call,
    build_list_call,
    check_zilliz_response,
    config_from_connection,
    console_url,
    map_state,
    match_file_sets,
    next_list_page,
    parse_import_job,
    parse_job_id,
    parse_job_list,
    parse_reported_file_name,
)
from airflow_provider_vectorimport.http import RetryPolicy, _make_wait, request_not_processed
from airflow_provider_vectorimport.models import JobState
from airflow_provider_vectorimport.utils import idempotency_key
from tests.loopback import ScriptedService, ok, serve
from tests.runtime import FakeTI, context

pytest_plugins = ["airflow_provider_vectorimport.emulator.pytest_plugin"]

FIXTURES = sorted((Path(__file__).parent / "fixtures").glob("*/*.json"))
ZM_FIXTURES = [p for p in FIXTURES if p.parent.name in ("zilliz", "milvus")]


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def cfg(flavour: str, **kw: Any) -> ZillizConfig:
    base = {"v1": "https://controller.api.gcp-us-west1.zillizcloud.com", "v2": "https://api.cloud.zilliz.com"}
    return ZillizConfig(
        flavour=flavour,
        base_url=base.get(flavour, "http://milvus:19530"),
        token="k",
        cluster_id=kw.pop("cluster_id", "inxx-xxxxxxxxxxxxxxx" if flavour != "milvus" else None),
        **kw,
    )


def conn(login: str | None = None, password: str = "secret-key", conn_id: str = "z") -> Any:
    return SimpleNamespace(conn_id=conn_id, host="", port=None, login=login, password=password)


# ----------------------------------------------------------------------------- fixtures: requests


def test_every_fixture_names_its_source():
    assert len(ZM_FIXTURES) >= 15
    for path in ZM_FIXTURES:
        data = load(path)
        assert data.get("_source"), f"{path.name} names no source page"
        assert data["flavour"] in ("v1", "v2", "milvus") and "response" in data


def _builder_body(data: dict[str, Any]) -> Any:
    """Build the fixture's request with the hooks' builders from the same arguments."""
    flavour, req = data["flavour"], data.get("request") or {}
    query = data.get("request_query") or {}
    config = cfg(flavour, cluster_id=req.get("clusterId") or query.get("clusterId"))
    if data["call"] == "create":
        creds = {"access_key": req.get("accessKey"), "secret_key": req.get("secretKey")}
        kwargs: dict[str, Any] = {"storage_credentials": creds, "partition_name": req.get("partitionName")}
        if flavour == "milvus":
            kwargs["files"] = req["files"]
        else:
            kwargs["object_url"] = req["objectUrl"]
        return build_create_call(config, req["collectionName"], **kwargs)
    if data["call"] == "get":
        job_id = req.get("jobId") or query.get("jobId")
        return build_get_call(config, job_id, describe=data["path"].endswith("/describe"))
    if data["call"] == "commit":
        return build_commit_call(config, req["jobId"])
    if data["call"] == "list":
        return build_list_call(
            config,
            collection_name=req.get("collectionName"),
            page_size=int(req.get("pageSize") or query.get("pageSize") or 100),
            current_page=int(req.get("currentPage") or query.get("currentPage") or 1),
        )
    raise AssertionError(data["call"])


@pytest.mark.parametrize(
    "path",
    [p for p in ZM_FIXTURES if "request" in load(p) or "request_query" in load(p)],
    ids=lambda p: p.stem,
)
def test_builders_produce_the_documented_request(path):
    data = load(path)
    call = _builder_body(data)
    assert (call.method, call.path) == (data["method"], data["path"])
    if "request_query" in data:
        assert {k: str(v) for k, v in (call.params or {}).items()} == {
            k: str(v) for k, v in data["request_query"].items()
        }
        assert call.json is None
        return
    # the documented fields with a value, exactly; empty documented strings may be left out
    documented = {k: v for k, v in data["request"].items() if v not in ("", None)}
    assert call.json == documented


# ----------------------------------------------------------------------------- fixtures: responses


@pytest.mark.parametrize("path", ZM_FIXTURES, ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_parsers_read_every_documented_response(path):
    data = load(path)
    flavour, body, expect = data["flavour"], data["response"], data.get("expect", {})
    if "error" in expect:
        with pytest.raises(getattr(exc_mod, expect["error"])):
            check_zilliz_response(200, body, {}, flavour=flavour)
        return
    payload = check_zilliz_response(200, body, {}, flavour=flavour)
    if data["call"] == "create":
        assert parse_job_id(payload) == expect.get("job_id", payload.get("jobId"))
    elif data["call"] == "list":
        jobs = parse_job_list(flavour, payload)
        assert [[j.job_id, j.state.value] for j in jobs] == expect["jobs"]
    elif data["call"] == "get":
        job = parse_import_job(flavour, payload)
        for name in ("state", "progress", "imported_rows", "total_rows", "reason"):
            if name in expect:
                got = getattr(job, name)
                assert (got.value if isinstance(got, JobState) else got) == expect[name], name
        if "files" in expect:
            assert [f.name for f in job.files] == expect["files"]
            assert all(parse_reported_file_name(f.name) for f in job.files)
        if "file_reasons" in expect:
            assert [f.reason for f in job.failed_files] == expect["file_reasons"]


# ----------------------------------------------------------------------------- the emulator's shapes


def _fields(data: dict[str, Any], flavour: str, call: str) -> tuple[set[str], set[str]]:
    """(documented top-level data fields, documented detail fields) over the fixtures of a call."""
    top: set[str] = set()
    detail: set[str] = set()
    for path in ZM_FIXTURES:
        fx = load(path)
        if fx["flavour"] != flavour or fx["call"] != call or "error" in fx.get("expect", {}):
            continue
        payload = fx["response"].get("data") or {}
        top |= set(payload) | set((fx.get("response_optional") or {}).get("data", []))
        for item in payload.get("details") or []:
            detail |= set(item)
        for item in payload.get("records") or payload.get("tasks") or []:
            detail |= set(item)
    return top, detail


def _post(em, path: str, body: dict, *, get: bool = False) -> dict:
    headers = {"Authorization": f"Bearer {em.api_key}"}
    if get:
        resp = requests.get(f"{em.url}{path}", params=body, headers=headers, timeout=30)
    else:
        resp = requests.post(f"{em.url}{path}", json=body, headers=headers, timeout=30)
    payload = resp.json()
    assert payload["code"] in (0, 200), payload
    return payload


def test_emulator_answers_only_documented_fields(vectorimport_emulator):
    """Runs one import per flavour on the emulator and checks every field of its create, progress
    and list answers against the fixtures' field sets (no top-level importedRows on Zilliz v2, no
    partitionName/dbName/createTime extras, fileName in each service's own format)."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    em = vectorimport_emulator
    name = f"c_{uuid.uuid4().hex[:8]}"
    schema = {
        "fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": 2}},
        ]
    }
    _post(em, "/v2/vectordb/collections/create", {"collectionName": name, "schema": schema})
    buf = io.BytesIO()
    pq.write_table(pa.table({"id": [1, 2], "vector": [[0.1, 0.2], [0.3, 0.4]]}), buf)
    key = f"{name}/{uuid.uuid4()}/1.parquet"
    em.s3_client().put_object(Bucket=em.milvus_bucket, Key=key, Body=buf.getvalue())
    url = f"s3://{em.milvus_bucket}/{key}"
    creates = {
        "v2": (
            "/v2/vectordb/jobs/import/create",
            {"clusterId": em.cluster_id, "collectionName": name, "objectUrl": url},
        ),
        "v1": (
            "/v1/vector/collections/import",
            {"clusterId": em.cluster_id, "collectionName": name, "objectUrl": url},
        ),
        "milvus": ("/v2/vectordb/jobs/import/create", {"collectionName": name, "files": [[key]]}),
    }
    checked = 0
    for flavour, (path, body) in creates.items():
        created = _post(em, path, body)
        assert set(created) == {"code", "data"} and set(created["data"]) == {"jobId"}
        job_id = created["data"]["jobId"]
        progress_call = {
            "v2": (
                "/v2/vectordb/jobs/import/getProgress",
                {"clusterId": em.cluster_id, "jobId": job_id},
                False,
            ),
            "v1": ("/v1/vector/collections/import/get", {"clusterId": em.cluster_id, "jobId": job_id}, True),
            "milvus": ("/v2/vectordb/jobs/import/describe", {"jobId": job_id}, False),
        }[flavour]
        deadline = time.time() + 30
        while True:
            data = _post(em, progress_call[0], progress_call[1], get=progress_call[2])["data"]
            if data.get("completeTime") or time.time() > deadline:
                break
            time.sleep(0.05)
        if flavour == "v2":
            assert "importedRows" not in data  # v2 documents totalRows (rows inserted) only
        top, detail = _fields(data, flavour, "get")
        assert set(data) <= top, f"{flavour}: undocumented fields {set(data) - top}"
        for item in data.get("details") or []:
            assert set(item) <= detail, f"{flavour}: undocumented detail fields {set(item) - detail}"
        job = parse_import_job(flavour, data, job_id)
        assert job.state is JobState.COMPLETED and match_file_sets([f.name for f in job.files], [url]).equal
        list_call = {
            "v2": (
                "/v2/vectordb/jobs/import/list",
                {"clusterId": em.cluster_id, "pageSize": 10, "currentPage": 1},
                False,
            ),
            "v1": (
                "/v1/vector/collections/import/list",
                {"clusterId": em.cluster_id, "pageSize": 10, "currentPage": 1},
                True,
            ),
            "milvus": ("/v2/vectordb/jobs/import/list", {"collectionName": name}, False),
        }[flavour]
        listed = _post(em, list_call[0], list_call[1], get=list_call[2])["data"]
        ltop, lrec = _fields(listed, flavour, "list")
        assert set(listed) <= ltop | {"records", "tasks"}, f"{flavour} list: {set(listed) - ltop}"
        for record in listed.get("records") or listed.get("tasks") or []:
            assert set(record) <= lrec, f"{flavour} list record: {set(record) - lrec}"
        checked += 1
    assert checked == 3


# ----------------------------------------------------------------------------- file names


@pytest.mark.parametrize(
    ("reported", "paths"),
    [
        ("[a/1.parquet]", ["a/1.parquet"]),  # Milvus current: fmt.Sprintf("%v", paths)
        ("[1/id.npy 1/vec.npy]", ["1/id.npy", "1/vec.npy"]),  # a NumPy group
        ('id:448761313698322012 paths:"a6fb2d1c-x/1.parquet" ', ["a6fb2d1c-x/1.parquet"]),  # Milvus 2.3/2.4
        ('id:1 paths:"a/id.npy" paths:"a/vec.npy"', ["a/id.npy", "a/vec.npy"]),
        ("medium_articles_2020_dpr.json", ["medium_articles_2020_dpr.json"]),  # Zilliz v2: basename
        ("1af78216-xxxx/1.parquet", ["1af78216-xxxx/1.parquet"]),  # Zilliz v1: object path
        ("s3://bkt/a/1.parquet", ["s3://bkt/a/1.parquet"]),
        ("", []),
        (None, []),
        ("[]", []),
    ],
)
def test_file_name_parser_reads_every_documented_format(reported, paths):
    assert parse_reported_file_name(reported) == paths


def test_file_sets_must_be_equal_not_covering():
    want = ["s3://b/run2/1.parquet", "s3://b/run2/2.parquet"]
    assert match_file_sets(["[run2/1.parquet]", "[run2/2.parquet]"], want).equal
    assert not match_file_sets(["[run2/1.parquet]"], want).equal  # a subset is not the same job
    assert not match_file_sets(["[run2/1.parquet]", "[run2/2.parquet]", "[run2/3.parquet]"], want).equal
    assert not match_file_sets(["[run1/1.parquet]", "[run1/2.parquet]"], want).equal  # other run's files
    # the bucket counts where the service reports it
    assert not match_file_sets(["s3://other/run2/1.parquet", "s3://other/run2/2.parquet"], want).equal
    assert match_file_sets(["s3://b/run2/1.parquet", "s3://b/run2/2.parquet"], want).equal
    # Zilliz v2 basenames: equal only as a multiset of the same size, and flagged basename-only
    basename = match_file_sets(["1.parquet", "2.parquet"], want)
    assert basename.equal and basename.basename_only
    assert not match_file_sets(["1.parquet"], want).equal
    assert not match_file_sets(["1.parquet", "1.parquet"], want).equal
    # https object URLs (OSS, virtual-hosted S3) name their bucket in the host
    oss = "https://b.oss-cn-hangzhou.aliyuncs.com/run2/1.parquet"
    assert match_file_sets(["s3://b/run2/1.parquet"], [oss]).equal


# ----------------------------------------------------------------------------- one-line bugs


def _ctx(run_id: str = "manual__2026-11-30", map_index: int = -1, try_number: int = 1) -> Any:
    ti = FakeTI(try_number=try_number)
    ti.run_id, ti.map_index = run_id, map_index
    return context(ti)


def test_idempotency_key_is_per_run_task_and_map_index():
    base = idempotency_key(_ctx(), "articles", None, None, None, "s3://b/k")
    assert base == idempotency_key(_ctx(try_number=3), "articles", None, None, None, "s3://b/k")  # tries
    assert base != idempotency_key(_ctx(map_index=0), "articles", None, None, None, "s3://b/k")
    assert idempotency_key(_ctx(map_index=0), "a") != idempotency_key(_ctx(map_index=1), "a")
    assert base != idempotency_key(
        _ctx(run_id="manual__2026-12-01"), "articles", None, None, None, "s3://b/k"
    )
    # one fixed expected value: the key must not change between releases (a changed key is a new job)
    assert base == "af-d.import-c0c4a3fef2039b7c750e5f91aafb6f502ffcbca2"


@pytest.mark.parametrize("raw", ["Archived", "IMPORT_QUEUED", "Importing2", "weird state", "Uncommitted"])
def test_unknown_or_newly_spelled_states_are_never_terminal(raw):
    state = map_state(raw)
    assert not state.is_terminal and state is not JobState.COMPLETED
    if raw != "Uncommitted":
        assert state is JobState.RUNNING


def test_known_spellings():
    assert (
        map_state("IMPORT_COMPLETED") is JobState.COMPLETED and map_state("import_failed") is JobState.FAILED
    )
    assert (
        map_state("Committing") is JobState.RUNNING
        and map_state("Uncommitted") is JobState.NEEDS_CONFIRMATION
    )


def test_huge_retry_after_is_capped():
    policy = RetryPolicy(retry_after_max=7.0, backoff_initial=0.5)
    wait = _make_wait(policy)
    error = RetryableServiceError("slow down", retry_after=10**9, http_status=429)
    state = SimpleNamespace(outcome=SimpleNamespace(exception=lambda: error), attempt_number=1)
    assert wait(state) == 7.0
    error_small = RetryableServiceError("slow down", retry_after=2, http_status=429)
    state_small = SimpleNamespace(outcome=SimpleNamespace(exception=lambda: error_small), attempt_number=1)
    assert wait(state_small) == 2.0


def test_only_unprocessed_failures_count_as_safe_to_resend():
    unsent = exc_mod.TransportError("refused")
    unsent.request_sent = False  # type: ignore[attr-defined]
    sent = exc_mod.TransportError("reset")
    assert request_not_processed(unsent) and not request_not_processed(sent)
    assert request_not_processed(RetryableServiceError("x", http_status=429))
    assert not request_not_processed(RetryableServiceError("x", http_status=502))
    assert not request_not_processed(RetryableServiceError("x", http_status=504))


def test_connection_refused_is_classified_unsent_and_retried():
    """A port nobody listens on: the create is resent blindly (it never reached a service)."""
    import socket

    from airflow_provider_vectorimport.http import HttpClient

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    client = HttpClient(
        service="zilliz",
        base_url=f"http://127.0.0.1:{port}",
        checker=lambda s, b, h: b,
        policy=RetryPolicy(max_attempts=2, backoff_initial=0.01, backoff_max=0.01),
    )
    with pytest.raises(exc_mod.TransportError) as err:
        client.request("POST", "/x", json={}, retry_unsent_only=True)
    assert err.value.request_sent is False  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------- issue 10 items


def test_milvus_code_200_is_partition_not_found_but_v1_success():
    body = {"code": 200, "message": "partition not found[partition=p]"}
    with pytest.raises(NotFoundError):
        check_zilliz_response(200, body, {}, flavour="milvus")
    assert check_zilliz_response(200, {"code": 200, "data": {"jobId": "j"}}, {}, flavour="v1") == {
        "jobId": "j"
    }
    with pytest.raises(Exception):  # noqa: B017 - v2 documents code 0 only
        check_zilliz_response(200, {"code": 200, "message": "x"}, {}, flavour="v2")


def test_milvus_files_from_a_foreign_bucket_are_refused_naming_the_argument():
    config = cfg("milvus", milvus_bucket="milvus-bkt")
    with pytest.raises(ConfigurationError, match=r"object_urls\[0\]\[0\].*own bucket"):
        build_create_call(config, "c", object_urls=["s3://other/a.parquet"])
    with pytest.raises(ConfigurationError, match=r"files\[1\]\[0\]"):
        build_create_call(config, "c", files=[["a.parquet"], ["s3://other/b.parquet"]])
    call = build_create_call(config, "c", files=[["s3://milvus-bkt/a.parquet"], ["b.parquet"]])
    assert call.json["files"] == [["a.parquet"], ["b.parquet"]]
    with pytest.raises(ConfigurationError, match="milvus_bucket"):
        build_create_call(cfg("milvus"), "c", files=["s3://any/a.parquet"])


def test_zilliz_v2_rows_come_from_total_rows_and_details():
    job = parse_import_job("v2", {"jobId": "j", "state": "Completed", "totalRows": 0, "details": []})
    assert job.imported_rows == 0  # so fail_on_empty can fire on Zilliz
    job = parse_import_job(
        "v2",
        {
            "state": "Importing",
            "totalRows": 5,
            "details": [
                {"fileName": "a", "importedRows": 3, "totalRows": 10},
                {"fileName": "b", "importedRows": 2, "totalRows": 10},
            ],
        },
    )
    assert (job.imported_rows, job.total_rows) == (5, 20)
    # an undocumented top-level importedRows is not read for v2
    assert (
        parse_import_job("v2", {"state": "Completed", "importedRows": 99, "totalRows": 7}).imported_rows == 7
    )


def test_project_id_needs_region_id_and_console_link_has_its_own_extra():
    with pytest.raises(ConfigurationError, match="project_id and region_id must be set together"):
        config_from_connection(conn(), {"api_flavour": "v2", "cluster_id": "in01", "project_id": "proj-1"})
    config = config_from_connection(
        conn(),
        {"api_flavour": "v2", "cluster_id": "in01", "project_id": "proj-1", "region_id": "aws-us-west-2"},
    )
    body = build_create_call(config, "c", object_url="s3://b/k").json
    assert (body["projectId"], body["regionId"]) == ("proj-1", "aws-us-west-2")
    linked = config_from_connection(
        conn(),
        {
            "api_flavour": "v2",
            "cluster_id": "in01",
            "console_project_id": "proj-9",
            "console_url_template": "https://cloud.zilliz.com/projects/{project_id}/jobs/{job_id}",
        },
    )
    assert "projectId" not in build_create_call(linked, "c", object_url="s3://b/k").json
    assert console_url(linked, "job-1") == "https://cloud.zilliz.com/projects/proj-9/jobs/job-1"


def test_a_milvus_job_links_only_to_a_page_the_connection_names():
    """Milvus has no console; its REST endpoint answers a browser's GET with 401, so no link by default."""
    host = SimpleNamespace(
        conn_id="m", host="http://milvus:19530", port=None, login=None, password="root:Milvus"
    )
    milvus = config_from_connection(host, {"api_flavour": "milvus"})
    assert console_url(milvus, "42") == ""
    attu = config_from_connection(
        host, {"api_flavour": "milvus", "console_url_template": "http://attu:3000/#/jobs?id={job_id}"}
    )
    assert console_url(attu, "42") == "http://attu:3000/#/jobs?id=42"


def test_v1_refuses_a_session_token():
    creds = {"access_key": "AK", "secret_key": "SK", "session_token": "TOKEN"}
    with pytest.raises(ConfigurationError, match="no token field"):
        build_create_call(cfg("v1"), "c", object_url="s3://b/k", storage_credentials=creds)
    assert (
        build_create_call(cfg("v2"), "c", object_url="s3://b/k", storage_credentials=creds).json["token"]
        == "TOKEN"
    )


def test_v2_uses_the_api_key_alone_v1_and_milvus_accept_user_password():
    assert (
        config_from_connection(conn("user"), {"api_flavour": "v2", "cluster_id": "in01"}).token
        == "secret-key"
    )
    v1 = config_from_connection(
        conn("user"), {"api_flavour": "v1", "cluster_id": "in01", "cloud_region": "r"}
    )
    assert v1.token == "user:secret-key"
    milvus = SimpleNamespace(conn_id="m", host="http://m:19530", port=None, login="root", password="Milvus")
    assert config_from_connection(milvus, {"api_flavour": "milvus"}).token == "root:Milvus"


def test_one_object_url_per_sub_list():
    with pytest.raises(ConfigurationError, match=r"object_urls\[1\] holds 2 URLs"):
        build_create_call(cfg("v2"), "c", object_urls=[["s3://b/a"], ["s3://b/b", "s3://b/c"]])
    assert build_create_call(cfg("v2"), "c", object_urls=["s3://b/a", "s3://b/b"]).json["objectUrls"] == [
        ["s3://b/a"],
        ["s3://b/b"],
    ]


def test_abort_speaks_the_v2_endpoint_for_zilliz_cloud():
    call = build_abort_call(cfg("v2"), "job-1")
    assert (call.path, call.json) == (
        "/v2/vectordb/jobs/import/abort",
        {"jobId": "job-1", "clusterId": "inxx-xxxxxxxxxxxxxxx"},
    )
    with pytest.raises(ConfigurationError):
        build_abort_call(cfg("v1"), "job-1")


def test_list_pages_are_all_read(monkeypatch):
    """Zilliz Cloud lists are paged (count/currentPage/pageSize): every page is read, and v2 asks
    for the collection (as pymilvus does)."""
    svc = ScriptedService()
    pages = [
        ok(
            {
                "count": 5,
                "currentPage": p,
                "pageSize": 2,
                "records": [
                    {"collectionName": "c", "jobId": f"job-{i}", "state": "Completed"}
                    for i in range(2 * p - 2, min(2 * p, 5))
                ],
            }
        )
        for p in (1, 2, 3)
    ]
    svc.script("POST", "/v2/vectordb/jobs/import/list", *pages)
    server = serve(svc)
    try:
        from airflow_provider_vectorimport.hooks.zilliz import ZillizHook

        extra = {"api_flavour": "v2", "cluster_id": "in01-x"}
        monkeypatch.setenv(
            "AIRFLOW_CONN_ZPAGE",
            json.dumps({"conn_type": "zilliz", "host": server.url, "password": "k-123456", "extra": extra}),
        )
        jobs = ZillizHook("zpage").list_all_import_jobs("c", page_size=2)
    finally:
        server.stop()
    assert [j.job_id for j in jobs] == [f"job-{i}" for i in range(5)]
    sent = [r.body for r in svc.calls("/v2/vectordb/jobs/import/list")]
    assert [b["currentPage"] for b in sent] == [1, 2, 3] and all(b["collectionName"] == "c" for b in sent)
    assert next_list_page("milvus", {"count": 500}, 1, 100, 100) is None  # Milvus answers at once


def test_auto_commit_false_needs_commit_before_any_request():
    from airflow_provider_vectorimport.operators.zilliz import ZillizImportOperator

    op = ZillizImportOperator(
        task_id="t",
        collection_name="c",
        files=[["a.parquet"]],
        options={"auto_commit": "false"},
        deferrable=False,
    )
    with pytest.raises(ConfigurationError, match="commit=True"):
        op.execute(context(FakeTI()))


def test_uncommitted_milvus_job_is_committed_with_commit_true(monkeypatch):
    """Milvus with auto_commit=false stops at Uncommitted until /jobs/import/commit."""
    from airflow_provider_vectorimport.operators.zilliz import ZillizImportOperator

    svc = ScriptedService()
    svc.script("POST", "/v2/vectordb/jobs/import/list", ok({"records": []}))
    svc.script("POST", "/v2/vectordb/jobs/import/create", ok({"jobId": "77"}))
    state = {"committed": False}

    def describe(_request):
        done = state["committed"]
        return ok(
            {
                "jobId": "77",
                "state": "Completed" if done else "Uncommitted",
                "progress": 100 if done else 90,
                "importedRows": 4,
                "totalRows": 4,
                "details": [{"fileName": "[a.parquet]"}],
            }
        )

    def commit(_request):
        state["committed"] = True
        return ok({})

    svc.script("POST", "/v2/vectordb/jobs/import/describe", describe)
    svc.script("POST", "/v2/vectordb/jobs/import/commit", commit)
    server = serve(svc)
    try:
        conn = {
            "conn_type": "zilliz",
            "host": server.url,
            "password": "k-123456",
            "extra": {"api_flavour": "milvus"},
        }
        monkeypatch.setenv("AIRFLOW_CONN_ZCOMMIT", json.dumps(conn))
        kwargs = dict(
            task_id="t",
            zilliz_conn_id="zcommit",
            collection_name="c",
            files=[["a.parquet"]],
            options={"auto_commit": "false"},
            deferrable=False,
            poll_interval=0.01,
            timeout=10,
        )
        summary = ZillizImportOperator(**kwargs, commit=True).execute(context(FakeTI()))
    finally:
        server.stop()
    assert summary["state"] == "completed" and len(svc.calls("/v2/vectordb/jobs/import/commit")) == 1
    assert svc.calls("/v2/vectordb/jobs/import/commit")[0].body == {"jobId": "77"}
    assert svc.calls("/v2/vectordb/jobs/import/create")[0].body["options"] == {"auto_commit": "false"}


def test_job_seconds_reads_the_documented_time_forms():
    from airflow_provider_vectorimport.protocols.common import job_seconds

    started, now = 1711972800.0, 1711972830.0  # 2024-04-01T12:00:00Z, noticed 30 s later
    # milvus.io describe (tests/fixtures/milvus/get_progress_v24.json): RFC 3339 with Z
    assert job_seconds(None, "2024-04-01T12:00:05Z", started, now) == 6.0  # ended within 12:00:05
    assert job_seconds(None, "2024-04-01T12:00:05Z", started, started + 5.5) == 5.5  # noticed sooner
    assert job_seconds(None, "2024-04-01T12:00:05.250Z", started, now) == 5.25
    assert job_seconds(None, "2024-04-01T20:00:05.000+08:00", started, now) == 5.0
    # zdoc v2 getProgress (tests/fixtures/zilliz/v2_get_progress.json): naive, zone unsaid
    assert job_seconds(None, "2024-04-01 12:00:05", started, now) == 30.0
    assert job_seconds("2024-04-01 19:59:58", "2024-04-01 20:00:05", started, now) == 7.0
    # still running ("" / null) and a completion time off by hours: until noticed
    assert job_seconds(None, "", started, now) == job_seconds(None, None, started, now) == 30.0
    assert job_seconds(None, "2024-04-01T15:00:00Z", started, now) == 30.0
    assert job_seconds(None, None, None, now) is None
