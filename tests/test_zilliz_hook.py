"""ZillizHook, all three flavours, against a scripted HTTP server on 127.0.0.1 that checks the exact
paths, headers and bodies the services document (shared/reference/service-apis.md)."""

from __future__ import annotations

import json
import time

import pytest

from airflow_provider_vectorimport import __version__
from airflow_provider_vectorimport.emulator.core import Response
from airflow_provider_vectorimport.exceptions import (
    AuthenticationError,
    ConfigurationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RetryableServiceError,
    TransportError,
)
from airflow_provider_vectorimport.hooks.zilliz import ZillizHook
from airflow_provider_vectorimport.http import RetryPolicy
from airflow_provider_vectorimport.models import JobState
from tests.loopback import DROP, ScriptedService, ok, serve

FAST = RetryPolicy(max_attempts=4, backoff_initial=0.01, backoff_max=0.05, read_timeout=5)
API_KEY = "sk-test-0123456789abcdef"


@pytest.fixture
def service():
    svc = ScriptedService()
    # the job list a create consults first (jobs already there are never this task's)
    svc.script("POST", "/v2/vectordb/jobs/import/list", ok({"count": 0, "records": []}))
    svc.script("GET", "/v1/vector/collections/import/list", ok({"count": 0, "tasks": []}, code=200))
    server = serve(svc)
    svc.url = server.url
    yield svc
    server.stop()


def make_hook(monkeypatch, service, flavour="v2", conn_id="zilliz_test", **extra):
    extra = {"api_flavour": flavour, **extra}
    if flavour in ("v1", "v2"):
        extra.setdefault("cluster_id", "in01-abc")
    conn = {"conn_type": "zilliz", "host": service.url, "password": API_KEY, "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return ZillizHook(conn_id, retry_policy=FAST)


V2_PROGRESS = {
    "jobId": "job-01",
    "collectionName": "medium_articles",
    "fileName": "prefix/part-00000.parquet",
    "fileSize": 1024,
    "state": "Importing",
    "progress": 45,
    "completeTime": "",
    "reason": "",
    "totalRows": 1000,
    "importedRows": 450,
    "details": [
        {
            "fileName": "prefix/part-00000.parquet",
            "fileSize": 1024,
            "state": "Importing",
            "progress": 45,
            "importedRows": 450,
            "totalRows": 1000,
        },
    ],
}


def test_v2_create_sends_documented_request(monkeypatch, service):
    service.script("POST", "/v2/vectordb/jobs/import/create", ok({"jobId": "job-01"}))
    hook = make_hook(monkeypatch, service, db_name="db1")
    job_id = hook.create_import_job(
        "medium_articles",
        object_urls=[["s3://bucket/prefix/part-00000.parquet"], ["s3://bucket/prefix/part-00001.parquet"]],
        partition_name="p1",
        idempotency_key="af-key-1",
        storage_credentials={"access_key": "AK", "secret_key": "SK", "session_token": "TOKEN"},
    )
    assert job_id == "job-01"
    (req,) = service.calls("/v2/vectordb/jobs/import/create")
    assert req.method == "POST"
    assert req.headers["authorization"] == f"Bearer {API_KEY}"
    assert req.headers["content-type"] == "application/json"
    assert req.headers["idempotency-key"] == "af-key-1"
    assert f"airflow-provider-vectorimport/{__version__}" in req.headers["user-agent"]
    assert req.body == {
        "clusterId": "in01-abc",
        "collectionName": "medium_articles",
        "objectUrls": [["s3://bucket/prefix/part-00000.parquet"], ["s3://bucket/prefix/part-00001.parquet"]],
        "partitionName": "p1",
        "dbName": "db1",
        "accessKey": "AK",
        "secretKey": "SK",
        "token": "TOKEN",
    }


def test_v2_progress_and_list(monkeypatch, service):
    service.script("POST", "/v2/vectordb/jobs/import/getProgress", ok(V2_PROGRESS))
    service.script(
        "POST",
        "/v2/vectordb/jobs/import/list",
        ok(
            {
                "count": 2,
                "currentPage": 1,
                "pageSize": 10,
                "records": [
                    {"collectionName": "medium_articles", "jobId": "job-01", "state": "Importing"},
                    {"collectionName": "other", "jobId": "job-00", "state": "Completed"},
                ],
            }
        ),
    )
    hook = make_hook(monkeypatch, service)
    job = hook.get_import_job("job-01")
    assert (job.state, job.progress, job.imported_rows, job.total_rows) == (JobState.RUNNING, 45.0, 450, 1000)
    assert job.files[0].name == "prefix/part-00000.parquet" and job.files[0].imported_rows == 450
    assert service.calls("/v2/vectordb/jobs/import/getProgress")[0].body == {
        "jobId": "job-01",
        "clusterId": "in01-abc",
    }
    jobs = hook.list_import_jobs("medium_articles", page_size=10)
    assert [j.job_id for j in jobs] == ["job-01"]
    assert service.calls("/v2/vectordb/jobs/import/list")[0].body == {
        "clusterId": "in01-abc",
        "pageSize": 10,
        "currentPage": 1,
        "collectionName": "medium_articles",  # as pymilvus list_import_jobs sends it to Zilliz
    }


def test_v1_flavour_paths_and_progress(monkeypatch, service):
    service.script("POST", "/v1/vector/collections/import", ok({"jobId": "job-v1"}, code=200))
    service.script(
        "GET",
        "/v1/vector/collections/import/get",
        ok(
            {
                "collectionName": "c",
                "fileName": "f.json",
                "fileSize": 10,
                "readyPercentage": 0.5,
                "completeTime": None,
                "errorMessage": None,
                "jobId": "job-v1",
                "details": [
                    {
                        "fileName": "f.json",
                        "fileSize": 10,
                        "readyPercentage": 0.5,
                        "completeTime": None,
                        "errorMessage": None,
                    }
                ],
            },
            code=200,
        ),
        ok(
            {
                "collectionName": "c",
                "fileName": "f.json",
                "readyPercentage": 1.0,
                "completeTime": "2025-01-01T00:00:00Z",
                "errorMessage": None,
                "jobId": "job-v1",
            },
            code=200,
        ),
    )
    hook = make_hook(monkeypatch, service, flavour="v1")
    assert (
        hook.create_import_job(
            "c", object_url="s3://b/f.json", storage_credentials={"access_key": "AK", "secret_key": "SK"}
        )
        == "job-v1"
    )
    (create,) = service.calls("/v1/vector/collections/import")
    assert create.body == {
        "clusterId": "in01-abc",
        "collectionName": "c",
        "objectUrl": "s3://b/f.json",
        "accessKey": "AK",
        "secretKey": "SK",
    }
    running = hook.get_import_job("job-v1")
    assert running.state is JobState.RUNNING and running.progress == 50.0
    get = service.calls("/v1/vector/collections/import/get")[0]
    assert get.method == "GET" and get.query == {"jobId": "job-v1", "clusterId": "in01-abc"}
    done = hook.get_import_job("job-v1")
    assert done.state is JobState.COMPLETED and done.progress == 100.0
    with pytest.raises(ConfigurationError, match="one object URL"):
        hook.create_import_job("c", object_urls=["s3://b/1.json", "s3://b/2.json"])


def test_v1_failed_job_names_files(monkeypatch, service):
    service.script(
        "GET",
        "/v1/vector/collections/import/get",
        ok(
            {
                "jobId": "j",
                "readyPercentage": 0.2,
                "completeTime": None,
                "errorMessage": "bad file",
                "details": [{"fileName": "a.json", "errorMessage": "row 3: field vector dim 3 != 768"}],
            },
            code=200,
        ),
    )
    job = make_hook(monkeypatch, service, flavour="v1").get_import_job("j")
    assert job.state is JobState.FAILED
    assert "a.json: row 3: field vector dim 3 != 768" in job.failure_message()


def test_milvus_create_describe_with_db_header(monkeypatch, service):
    service.script("POST", "/v2/vectordb/jobs/import/create", ok({"jobId": "448"}))
    service.script(
        "POST",
        "/v2/vectordb/jobs/import/describe",
        ok(
            {
                "jobId": "448",
                "collectionName": "c",
                "state": "IndexBuilding",
                "progress": 80,
                "importedRows": 100,
                "totalRows": 100,
                "details": [],
            }
        ),
    )
    hook = make_hook(monkeypatch, service, flavour="milvus", db_name="analytics")
    job_id = hook.create_import_job(
        "c",
        files=[["a/1.parquet"], ["b/id.npy", "b/vec.npy"]],
        options={"timeout": "300s"},
        idempotency_key="k",
    )
    assert job_id == "448"
    (create,) = service.calls("/v2/vectordb/jobs/import/create")
    assert create.headers["db-name"] == "analytics"
    assert create.body == {
        "collectionName": "c",
        "files": [["a/1.parquet"], ["b/id.npy", "b/vec.npy"]],
        "dbName": "analytics",
        "options": {"timeout": "300s"},
    }
    job = hook.get_import_job("448")
    # 80 % while indexes build: running, not stuck and not terminal.
    assert job.state is JobState.RUNNING and job.raw_state == "IndexBuilding" and not job.is_terminal


def test_milvus_describe_falls_back_to_get_progress(monkeypatch, service):
    service.script(
        "POST",
        "/v2/vectordb/jobs/import/get_progress",
        ok({"jobId": "1", "state": "Completed", "progress": 100, "importedRows": 5, "totalRows": 5}),
    )
    job = make_hook(monkeypatch, service, flavour="milvus").get_import_job("1")
    assert job.state is JobState.COMPLETED and job.imported_rows == 5
    assert [r.path for r in service.requests] == [
        "/v2/vectordb/jobs/import/describe",
        "/v2/vectordb/jobs/import/get_progress",
    ]


@pytest.mark.parametrize(
    ("code", "exc"),
    [
        (80001, AuthenticationError),
        (21119, AuthenticationError),
        (96015, PermissionDeniedError),
        (90144, NotFoundError),
        (40021, NotFoundError),
        (80000, InvalidRequestError),
    ],
)
def test_errors_sent_with_http_200_are_typed_and_not_retried(monkeypatch, service, code, exc):
    service.script(
        "POST",
        "/v2/vectordb/jobs/import/getProgress",
        Response(200, {"code": code, "message": f"message for {code}"}),
    )
    with pytest.raises(exc) as info:
        make_hook(monkeypatch, service).get_import_job("job-x")
    assert info.value.code == code and info.value.http_status == 200
    assert f"message for {code}" in str(info.value)
    assert len(service.requests) == 1  # auth/parameter errors are never retried


def test_429_retry_after_is_honoured(monkeypatch, service):
    service.script(
        "POST",
        "/v2/vectordb/jobs/import/getProgress",
        Response(429, {"code": 429, "message": "rate limited"}, {"Retry-After": "1"}),
        ok(V2_PROGRESS),
    )
    hook = make_hook(monkeypatch, service)
    start = time.monotonic()
    assert hook.get_import_job("job-01").progress == 45
    assert time.monotonic() - start >= 0.9  # waited what the server asked, not the 10 ms backoff
    assert len(service.requests) == 2


def test_5xx_then_success_and_connection_reset(monkeypatch, service):
    service.script(
        "POST",
        "/v2/vectordb/jobs/import/getProgress",
        Response(503, "upstream unavailable"),
        DROP,
        ok(V2_PROGRESS),
    )
    assert make_hook(monkeypatch, service).get_import_job("job-01").state is JobState.RUNNING
    assert len(service.requests) == 3


def test_retries_are_bounded(monkeypatch, service):
    service.script("POST", "/v2/vectordb/jobs/import/getProgress", Response(502, "bad gateway"))
    with pytest.raises(RetryableServiceError) as info:
        make_hook(monkeypatch, service).get_import_job("job-01")
    assert info.value.http_status == 502
    assert len(service.requests) == FAST.max_attempts


def test_connection_refused_is_a_transport_error(monkeypatch):
    conn = {
        "conn_type": "zilliz",
        "host": "http://127.0.0.1:9",
        "password": "k",
        "extra": {"api_flavour": "milvus"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_ZILLIZ_DOWN", json.dumps(conn))
    hook = ZillizHook("zilliz_down", retry_policy=RetryPolicy(max_attempts=2, backoff_initial=0.01))
    with pytest.raises(TransportError):
        hook.get_import_job("1")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"collection_name": ""}, "collection_name is required"),
        ({"collection_name": "c"}, "exactly one of"),
        ({"collection_name": "c", "object_url": "s3://b/k", "object_urls": ["s3://b/j"]}, "exactly one of"),
        ({"collection_name": "c", "files": [["a.parquet"]]}, "Milvus form"),
    ],
)
def test_bad_input_fails_before_any_request(monkeypatch, service, kwargs, match):
    hook = make_hook(monkeypatch, service)
    name = kwargs.pop("collection_name")
    with pytest.raises(ConfigurationError, match=match):
        hook.create_import_job(name, **kwargs)
    assert service.requests == []


def test_bad_connection_settings(monkeypatch, service):
    with pytest.raises(ConfigurationError, match="unknown api_flavour"):
        _ = make_hook(monkeypatch, service, flavour="v3").config
    with pytest.raises(ConfigurationError, match="cluster_id"):
        _ = make_hook(monkeypatch, service, flavour="v2", cluster_id="").config
    with pytest.raises(ConfigurationError, match="page_size"):
        make_hook(monkeypatch, service).list_import_jobs(page_size=1000)
    with pytest.raises(ConfigurationError, match="job_id is required"):
        make_hook(monkeypatch, service).get_import_job("")
    assert service.requests == []


def test_default_base_urls(monkeypatch):
    def cfg(extra, host=""):
        monkeypatch.setenv(
            "AIRFLOW_CONN_Z",
            json.dumps({"conn_type": "zilliz", "host": host, "password": "k", "extra": extra}),
        )
        return ZillizHook("z").config

    assert cfg({"cluster_id": "in01-x"}).base_url == "https://api.cloud.zilliz.com"
    assert cfg({"cluster_id": "in01-x", "china": True}).base_url == "https://api.cloud.zilliz.com.cn"
    assert (
        cfg({"api_flavour": "v1", "cluster_id": "in01-x", "cloud_region": "gcp-us-west1"}).base_url
        == "https://controller.api.gcp-us-west1.zillizcloud.com"
    )
    assert cfg({"api_flavour": "milvus"}, host="milvus:19530").base_url == "http://milvus:19530"
    with pytest.raises(ConfigurationError, match="cloud_region"):
        cfg({"api_flavour": "v1", "cluster_id": "in01-x"})


def test_surprising_payload_is_not_a_key_error(monkeypatch, service):
    service.script("POST", "/v2/vectordb/jobs/import/getProgress", ok({"jobId": "j"}), ok(None))
    hook = make_hook(monkeypatch, service)
    job = hook.get_import_job("j")
    assert job.state is JobState.PENDING and job.files == [] and job.imported_rows is None
    with pytest.raises(Exception) as info:
        hook.get_import_job("j")
    assert not isinstance(info.value, KeyError) and "without data" in str(info.value)


async def test_async_get_uses_the_same_rules(monkeypatch, service):
    service.script(
        "POST",
        "/v2/vectordb/jobs/import/getProgress",
        Response(500, {"code": 500, "message": "oops"}),
        ok({**V2_PROGRESS, "state": "Completed"}),
    )
    job = await make_hook(monkeypatch, service).aget_import_job("job-01")
    assert job.state is JobState.COMPLETED and job.progress == 100.0
    assert len(service.requests) == 2
