"""The local emulator over real HTTP: collections in Milvus Lite, import files in a moto S3 server,
the Zilliz Cloud v1/v2 and Milvus job APIs, validation with named failure reasons, Idempotency-Key,
fault injection and the admin endpoints."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests

from airflow_provider_vectorimport.emulator import Emulator, EmulatorConfig
from airflow_provider_vectorimport.emulator.storage import parse_object_url

pytest_plugins = ["airflow_provider_vectorimport.emulator.pytest_plugin"]

DIM = 4
CLUSTER = "in01-emulator"


# ---------------------------------------------------------------------------------------- helpers
def call(
    emu: Emulator, path: str, body: Any = None, *, token: str | None = None, **kw: Any
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token or emu.api_key}", **kw.pop("headers", {})}
    return requests.post(emu.url + path, json=body or {}, headers=headers, timeout=10, **kw)


def ok(resp: requests.Response) -> Any:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["code"] in (0, 200), body
    return body["data"]


def create_collection(
    emu: Emulator, name: str = "docs", *, auto_id: bool = False, dynamic: bool = True, max_length: int = 32
) -> None:
    schema = {
        "autoId": auto_id,
        "enableDynamicField": dynamic,
        "fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "vec", "dataType": "FloatVector", "elementTypeParams": {"dim": DIM}},
            {"fieldName": "title", "dataType": "VarChar", "elementTypeParams": {"max_length": max_length}},
        ],
    }
    index = [{"fieldName": "vec", "metricType": "L2", "indexName": "vec"}]
    ok(
        call(
            emu,
            "/v2/vectordb/collections/create",
            {"collectionName": name, "schema": schema, "indexParams": index},
        )
    )


def rows(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"id": i, "vec": [float(i), 0.0, 1.0, 0.5], "title": f"doc {i}"} for i in range(start, start + n)]


def put(emu: Emulator, key: str, data: bytes, bucket: str | None = None) -> None:
    emu.s3_client().put_object(Bucket=bucket or emu.milvus_bucket, Key=key, Body=data)


def parquet_bytes(items: list[dict[str, Any]]) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(items), buf)
    return buf.getvalue()


def npy_bytes(array: Any) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def count(emu: Emulator, name: str = "docs") -> int:
    return ok(
        call(emu, "/v2/vectordb/entities/query", {"collectionName": name, "outputFields": ["count(*)"]})
    )[0]["count(*)"]


def wait_job(
    emu: Emulator, job_id: str, *, cluster: str | None = None, timeout: float = 30
) -> tuple[dict, list]:
    """Poll until terminal; return the final payload and every (state, progress) seen."""
    path = "/v2/vectordb/jobs/import/getProgress" if cluster else "/v2/vectordb/jobs/import/describe"
    body: dict[str, Any] = {"jobId": job_id}
    if cluster:
        body["clusterId"] = cluster
    seen: list[tuple[str, int]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = ok(call(emu, path, body))
        if not seen or seen[-1] != (data["state"], data["progress"]):
            seen.append((data["state"], data["progress"]))
        if data["state"] in ("Completed", "Failed"):
            return data, seen
        time.sleep(0.005)
    raise AssertionError(f"job {job_id} not terminal after {timeout}s: {seen}")


# ------------------------------------------------------------------------------------ collections
def test_collections_create_describe_list_drop(vectorimport_emulator: Emulator) -> None:
    emu = vectorimport_emulator
    create_collection(emu, "docs")
    described = ok(call(emu, "/v2/vectordb/collections/describe", {"collectionName": "docs"}))
    fields = {f["name"]: f for f in described["fields"]}
    assert fields["id"]["primaryKey"] is True and fields["id"]["type"] == "Int64"
    assert {"key": "dim", "value": "4"} in fields["vec"]["params"]
    assert {"key": "max_length", "value": "32"} in fields["title"]["params"]
    assert described["indexes"][0]["metricType"] == "L2"
    assert described["enableDynamicField"] is True
    assert ok(call(emu, "/v2/vectordb/collections/list")) == ["docs"]
    # same schema again is accepted; another database keeps its own namespace
    create_collection(emu, "docs")
    ok(
        call(
            emu,
            "/v2/vectordb/collections/create",
            {"collectionName": "other", "dimension": 4},
            headers={"DB-Name": "db2"},
        )
    )
    assert ok(call(emu, "/v2/vectordb/collections/list", headers={"DB-Name": "db2"})) == ["other"]
    assert ok(call(emu, "/v2/vectordb/collections/list")) == ["docs"]
    ok(call(emu, "/v2/vectordb/collections/drop", {"collectionName": "docs"}))
    assert ok(call(emu, "/v2/vectordb/collections/has", {"collectionName": "docs"})) == {"has": False}
    missing = call(emu, "/v2/vectordb/collections/describe", {"collectionName": "docs"}).json()
    assert missing["code"] == 100 and "docs" in missing["message"]


def test_collection_create_rejects_bad_schema_naming_the_field(vectorimport_emulator: Emulator) -> None:
    emu = vectorimport_emulator
    bad = {
        "collectionName": "bad",
        "schema": {
            "fields": [
                {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
                {"fieldName": "vec", "dataType": "FloatVector", "elementTypeParams": {}},
            ]
        },
    }
    body = call(emu, "/v2/vectordb/collections/create", bad).json()
    assert body["code"] == 1100
    assert "'vec'" in body["message"] and "FloatVector" in body["message"]
    create_collection(emu, "docs")
    conflict = call(
        emu,
        "/v2/vectordb/collections/create",
        {"collectionName": "docs", "dimension": 8},
    ).json()
    assert conflict["code"] != 0 and "different schema" in conflict["message"]
    # types Milvus Lite cannot store are refused up front, by name, with HTTP 200 + code
    binary = {
        "collectionName": "bin",
        "schema": {
            "fields": [
                {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
                {"fieldName": "bits", "dataType": "BinaryVector", "elementTypeParams": {"dim": 16}},
            ]
        },
    }
    resp = call(emu, "/v2/vectordb/collections/create", binary)
    assert resp.status_code == 200 and resp.json()["code"] == 1100
    assert "'bits'" in resp.json()["message"] and "BinaryVector" in resp.json()["message"]
    assert ok(call(emu, "/v2/vectordb/collections/has", {"collectionName": "bin"})) == {"has": False}


# ------------------------------------------------------------------------------- Milvus import
def test_milvus_import_lifecycle_loads_searchable_rows(vectorimport_emulator: Emulator) -> None:
    emu = vectorimport_emulator
    create_collection(emu)
    put(emu, "batch/1.parquet", parquet_bytes(rows(20)))
    put(emu, "batch/2.json", json.dumps({"rows": rows(5, start=20)}).encode())
    put(emu, "batch/3.jsonl", "\n".join(json.dumps(r) for r in rows(5, start=25)).encode())
    job_id = ok(
        call(
            emu,
            "/v2/vectordb/jobs/import/create",
            {"collectionName": "docs", "files": [["batch/1.parquet"], ["batch/2.json"], ["batch/3.jsonl"]]},
        )
    )["jobId"]
    final, seen = wait_job(emu, job_id)
    assert seen[-1] == ("Completed", 100)
    assert [p for _, p in seen] == sorted(p for _, p in seen), "progress must never go back"
    # the full history, as recorded by the emulator (polling may skip short steps)
    history = requests.get(emu.url + "/_emulator/jobs", params={"jobId": job_id}, timeout=10).json()["data"][
        "history"
    ]
    states = [s for s, _ in history]
    assert states[:3] == ["Pending", "PreImporting", "Importing"]
    assert states[-3:] == ["Sorting", "IndexBuilding", "Completed"]
    assert ["Importing", 80] in history and ["IndexBuilding", 90] in history
    progress = [p for _, p in history]
    assert progress == sorted(progress) and len(set(progress)) >= 6, history
    assert final["totalRows"] == final["importedRows"] == 30
    # Milvus reports each file group as fmt.Sprintf("%v", paths)
    assert [d["fileName"] for d in final["details"]] == [
        "[batch/1.parquet]",
        "[batch/2.json]",
        "[batch/3.jsonl]",
    ]
    assert all(d["state"] == "Completed" and d["progress"] == 100 for d in final["details"])
    assert final["details"][0]["totalRows"] == 20 and final["details"][0]["fileSize"] > 0
    assert count(emu) == 30
    hits = ok(
        call(
            emu,
            "/v2/vectordb/entities/search",
            {
                "collectionName": "docs",
                "data": [[27.0, 0.0, 1.0, 0.5]],
                "limit": 1,
                "outputFields": ["title"],
            },
        )
    )
    assert hits[0]["id"] == 27 and hits[0]["title"] == "doc 27"
    listed = ok(call(emu, "/v2/vectordb/jobs/import/list", {"collectionName": "docs"}))
    assert [r["jobId"] for r in listed["records"]] == [job_id]
    assert listed["records"][0]["state"] == "Completed"
    assert emu.stats()["jobs_created"] == {"docs": 1}


def test_numpy_folder_and_dynamic_fields(vectorimport_emulator: Emulator) -> None:
    emu = vectorimport_emulator
    create_collection(emu)
    n = 6
    put(emu, "np/0/id.npy", npy_bytes(np.arange(n, dtype=np.int64)))
    put(emu, "np/0/vec.npy", npy_bytes(np.ones((n, DIM), dtype=np.float32)))
    put(emu, "np/0/title.npy", npy_bytes(np.array([f"t{i}" for i in range(n)])))
    put(emu, "np/0/$meta.npy", npy_bytes(np.array([json.dumps({"lang": "en", "n": i}) for i in range(n)])))
    job_id = ok(
        call(emu, "/v2/vectordb/jobs/import/create", {"collectionName": "docs", "files": [["np/0/"]]})
    )["jobId"]
    final, _ = wait_job(emu, job_id)
    assert final["state"] == "Completed", final["reason"]
    assert final["importedRows"] == n and final["details"][0]["fileName"].startswith("[np/0/")
    got = ok(
        call(
            emu,
            "/v2/vectordb/entities/query",
            {"collectionName": "docs", "filter": 'lang == "en" and n >= 4', "outputFields": ["id", "lang"]},
        )
    )
    assert sorted(r["id"] for r in got) == [4, 5]


@pytest.mark.parametrize(
    ("bad_rows", "expected"),
    [
        ([{"id": 1, "vec": [1.0, 2.0], "title": "x"}], ["row 0", "'vec'", "dim=4"]),
        ([{"id": 1, "vec": [1.0] * DIM, "title": "y" * 40}], ["row 0", "'title'", "max_length 32"]),
        ([{"id": 1, "vec": [1.0] * DIM}], ["row 0", "'title'", "missing"]),
        ([{"id": "one", "vec": [1.0] * DIM, "title": "x"}], ["row 0", "'id'", "Int64"]),
    ],
)
def test_bad_file_fails_job_names_file_and_loads_nothing(
    vectorimport_emulator: Emulator, bad_rows: list[dict], expected: list[str]
) -> None:
    emu = vectorimport_emulator
    create_collection(emu)
    put(emu, "good.parquet", parquet_bytes(rows(10)))
    put(emu, "bad.json", json.dumps({"rows": bad_rows}).encode())
    job_id = ok(
        call(
            emu,
            "/v2/vectordb/jobs/import/create",
            {"collectionName": "docs", "files": [["good.parquet"], ["bad.json"]]},
        )
    )["jobId"]
    final, _ = wait_job(emu, job_id)
    assert final["state"] == "Failed"
    assert "bad.json" in final["reason"]
    for part in expected:
        assert part in final["reason"], final["reason"]
    bad_detail = next(d for d in final["details"] if d["fileName"] == "[bad.json]")
    assert bad_detail["state"] == "Failed" and "bad.json" in bad_detail["reason"]
    assert final["importedRows"] == 0
    assert count(emu) == 0, "a failed job must load nothing, not even its good files"


def test_auto_id_key_in_file_and_missing_file_fail_clearly(vectorimport_emulator: Emulator) -> None:
    emu = vectorimport_emulator
    create_collection(emu, "auto", auto_id=True, dynamic=False)
    put(emu, "with_pk.parquet", parquet_bytes(rows(3)))
    job_id = ok(
        call(
            emu, "/v2/vectordb/jobs/import/create", {"collectionName": "auto", "files": [["with_pk.parquet"]]}
        )
    )["jobId"]
    final, _ = wait_job(emu, job_id)
    assert final["state"] == "Failed" and "autoId" in final["reason"] and "with_pk.parquet" in final["reason"]
    job_id = ok(
        call(emu, "/v2/vectordb/jobs/import/create", {"collectionName": "auto", "files": [["nope.parquet"]]})
    )["jobId"]
    final, _ = wait_job(emu, job_id)
    assert final["state"] == "Failed" and "nope.parquet" in final["reason"] and "not found" in final["reason"]
    # a good auto-id file loads and gets generated keys
    put(emu, "no_pk.parquet", parquet_bytes([{k: v for k, v in r.items() if k != "id"} for r in rows(3)]))
    job_id = ok(
        call(emu, "/v2/vectordb/jobs/import/create", {"collectionName": "auto", "files": [["no_pk.parquet"]]})
    )["jobId"]
    assert wait_job(emu, job_id)[0]["state"] == "Completed"
    assert count(emu, "auto") == 3


def test_milvus_create_errors(vectorimport_emulator: Emulator) -> None:
    emu = vectorimport_emulator
    missing = call(
        emu, "/v2/vectordb/jobs/import/create", {"collectionName": "ghost", "files": [["a.parquet"]]}
    ).json()
    assert missing["code"] == 100 and "ghost" in missing["message"]
    create_collection(emu)
    no_files = call(emu, "/v2/vectordb/jobs/import/create", {"collectionName": "docs"}).json()
    assert no_files["code"] == 1100 and "files" in no_files["message"]
    bad_group = call(emu, "/v2/vectordb/jobs/import/create", {"collectionName": "docs", "files": [[]]}).json()
    assert bad_group["code"] == 1100 and "files[0]" in bad_group["message"]
    no_part = call(
        emu,
        "/v2/vectordb/jobs/import/create",
        {"collectionName": "docs", "partitionName": "p9", "files": [["a.parquet"]]},
    ).json()
    assert no_part["code"] == 200 and "p9" in no_part["message"]
    unknown = call(emu, "/v2/vectordb/jobs/import/describe", {"jobId": "12345"}).json()
    assert unknown["code"] != 0 and "12345" in unknown["message"]
    assert emu.stats()["jobs_created"] == {}


# ------------------------------------------------------------------------------------ idempotency
def test_idempotency_key_on_milvus_create_is_collection_scoped(vectorimport_emulator: Emulator) -> None:
    emu = vectorimport_emulator
    create_collection(emu, "a")
    create_collection(emu, "b")
    put(emu, "x.parquet", parquet_bytes(rows(4)))

    def create(collection: str, key: str | None) -> str:
        headers = {"Idempotency-Key": key} if key else {}
        body = {"collectionName": collection, "files": [["x.parquet"]]}
        return ok(call(emu, "/v2/vectordb/jobs/import/create", body, headers=headers))["jobId"]

    first = create("a", "run-1")
    assert create("a", "run-1") == first  # a retry reattaches
    other_collection = create("b", "run-1")
    assert other_collection != first
    fresh = create("a", "run-2")
    assert fresh not in (first, other_collection)
    assert emu.stats()["jobs_created"] == {"a": 2, "b": 1}
    assert wait_job(emu, first)[0]["state"] == wait_job(emu, fresh)[0]["state"] == "Completed"
    bad = call(
        emu,
        "/v2/vectordb/jobs/import/create",
        {"collectionName": "a", "files": [["x.parquet"]]},
        headers={"Idempotency-Key": "k" * 300},
    ).json()
    assert bad["code"] == 1100 and "Idempotency-Key" in bad["message"]


def test_zilliz_ignores_idempotency_key(vectorimport_emulator: Emulator) -> None:
    emu = vectorimport_emulator
    create_collection(emu)
    put(emu, "z.parquet", parquet_bytes(rows(2)), bucket="vectorimport-demo")
    body = {"clusterId": CLUSTER, "collectionName": "docs", "objectUrl": "s3://vectorimport-demo/z.parquet"}
    first = ok(call(emu, "/v2/vectordb/jobs/import/create", body, headers={"Idempotency-Key": "same"}))[
        "jobId"
    ]
    second = ok(call(emu, "/v2/vectordb/jobs/import/create", body, headers={"Idempotency-Key": "same"}))[
        "jobId"
    ]
    assert first != second and first.startswith("job-")
    assert emu.stats()["jobs_created"] == {"docs": 2}


# ----------------------------------------------------------------------------------- Zilliz Cloud
def test_zilliz_v2_folder_url_progress_and_paged_list(vectorimport_emulator: Emulator) -> None:
    emu = vectorimport_emulator
    create_collection(emu)
    put(emu, "set/part-1.parquet", parquet_bytes(rows(5)), bucket="vectorimport-demo")
    put(emu, "set/part-2.parquet", parquet_bytes(rows(5, start=5)), bucket="vectorimport-demo")
    put(emu, "set/README.txt", b"ignored", bucket="vectorimport-demo")
    path_style = f"{emu.s3_endpoint}/vectorimport-demo/set/"
    body = {
        "clusterId": CLUSTER,
        "collectionName": "docs",
        "objectUrls": [[path_style]],
        "accessKey": "AKIA-should-not-leak",
        "secretKey": "secret-should-not-leak",
    }
    job_id = ok(call(emu, "/v2/vectordb/jobs/import/create", body))["jobId"]
    final, seen = wait_job(emu, job_id, cluster=CLUSTER)
    assert {s for s, _ in seen} <= {"Pending", "Importing", "Completed"}
    assert final["state"] == "Completed" and final["progress"] == 100
    # Zilliz Cloud v2 reports basenames, and no top-level importedRows: totalRows = rows inserted
    assert [d["fileName"] for d in final["details"]] == ["part-1.parquet", "part-2.parquet"]
    assert "importedRows" not in final and final["totalRows"] == 10 and count(emu) == 10
    assert "should-not-leak" not in json.dumps(final)
    for _ in range(2):
        ok(
            call(
                emu,
                "/v2/vectordb/jobs/import/create",
                {**body, "objectUrls": [["s3://vectorimport-demo/set/part-1.parquet"]]},
            )
        )
    page = ok(
        call(emu, "/v2/vectordb/jobs/import/list", {"clusterId": CLUSTER, "pageSize": 2, "currentPage": 2})
    )
    assert page["count"] == 3 and page["currentPage"] == 2 and len(page["records"]) == 1
    assert page["records"][0]["jobId"] == job_id  # newest first
    # pymilvus asks /describe with a clusterId too
    assert (
        ok(call(emu, "/v2/vectordb/jobs/import/describe", {"jobId": job_id, "clusterId": CLUSTER}))["state"]
        == "Completed"
    )


def test_zilliz_errors_are_http_200_with_codes(vectorimport_emulator: Emulator) -> None:
    emu = vectorimport_emulator
    create_collection(emu)
    body = {"clusterId": CLUSTER, "collectionName": "docs", "objectUrl": "s3://vectorimport-demo/x.parquet"}
    bad_key = call(emu, "/v2/vectordb/jobs/import/create", body, token="wrong")
    assert bad_key.status_code == 200 and bad_key.json() == {
        "code": 21119,
        "message": "The apikey is illegal.",
    }
    unknown_cluster = call(emu, "/v2/vectordb/jobs/import/create", {**body, "clusterId": "in99-nope"})
    assert unknown_cluster.status_code == 200 and unknown_cluster.json()["code"] == 90102
    unknown_job = call(
        emu, "/v2/vectordb/jobs/import/getProgress", {"clusterId": CLUSTER, "jobId": "job-x"}
    ).json()
    assert unknown_job["code"] == 90144 and "job-x" in unknown_job["message"]
    bad_page = call(emu, "/v2/vectordb/jobs/import/list", {"clusterId": CLUSTER, "pageSize": 1000}).json()
    assert bad_page["code"] == 80000 and "pageSize" in bad_page["message"]
    bad_url = call(emu, "/v2/vectordb/jobs/import/create", {**body, "objectUrl": "ftp://host/file"}).json()
    assert bad_url["code"] == 80000 and "ftp://host/file" in bad_url["message"]
    milvus_bad_key = call(emu, "/v2/vectordb/jobs/import/list", {}, token="wrong")
    assert milvus_bad_key.status_code == 401 and milvus_bad_key.json()["code"] == 1800
    root = call(emu, "/v2/vectordb/jobs/import/list", {}, token="root:Milvus")
    assert ok(root) == {"count": 0, "currentPage": 1, "pageSize": 0, "records": []}
    assert emu.stats()["jobs_created"] == {}


def test_zilliz_v1_create_get_list(vectorimport_emulator: Emulator) -> None:
    emu = vectorimport_emulator
    emu.set_pace(0.1)  # the first poll surely sees the job running (reset() restores the pace)
    create_collection(emu)
    put(emu, "v1/data.json", json.dumps(rows(8)).encode(), bucket="vectorimport-demo")
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    resp = requests.post(
        emu.url + "/v1/vector/collections/import",
        json={
            "clusterId": CLUSTER,
            "collectionName": "docs",
            "objectUrl": "s3://vectorimport-demo/v1/data.json",
        },
        headers=headers,
        timeout=10,
    ).json()
    assert resp["code"] == 200
    job_id = resp["data"]["jobId"]
    running_seen = False
    for _ in range(2000):
        got = requests.get(
            emu.url + "/v1/vector/collections/import/get",
            params={"jobId": job_id, "clusterId": CLUSTER},
            headers=headers,
            timeout=10,
        ).json()
        assert got["code"] == 200
        data = got["data"]
        assert 0.0 <= data["readyPercentage"] <= 1.0
        if data["completeTime"] is None:
            running_seen = True
        else:
            break
        time.sleep(0.005)
    assert running_seen
    assert data["readyPercentage"] == 1.0 and data["errorMessage"] is None
    assert data["details"][0]["fileName"] == "v1/data.json"
    listed = requests.get(
        emu.url + "/v1/vector/collections/import/list",
        params={"clusterId": CLUSTER, "pageSize": 10, "currentPage": 1},
        headers=headers,
        timeout=10,
    ).json()
    assert listed["data"]["tasks"] == [
        {"collectionName": "docs", "jobId": job_id, "state": "ImportCompleted"}
    ]
    bad = requests.get(
        emu.url + "/v1/vector/collections/import/list",
        params={"clusterId": CLUSTER},
        headers={"Authorization": "Bearer nope"},
        timeout=10,
    )
    assert bad.status_code == 200 and bad.json()["code"] == 80001
    assert count(emu) == 8


def test_parse_object_url_forms() -> None:
    hosts = ("127.0.0.1:9000", "localhost:9000")
    assert parse_object_url("s3://bkt/a/b.parquet") == ("bkt", "a/b.parquet")
    assert parse_object_url("http://127.0.0.1:9000/bkt/a/b.parquet", endpoint_hosts=hosts) == (
        "bkt",
        "a/b.parquet",
    )
    assert parse_object_url("http://bkt.localhost:9000/a/", endpoint_hosts=hosts) == ("bkt", "a/")
    assert parse_object_url("https://bkt.s3.us-east-1.amazonaws.com/k.json") == ("bkt", "k.json")
    for bad in ("", "ftp://x/y", "s3:///key"):
        with pytest.raises(ValueError):
            parse_object_url(bad)


# ------------------------------------------------------------------------------- fault injection
def test_faults_are_deterministic_with_a_seed(vectorimport_emulator: Emulator) -> None:
    emu = vectorimport_emulator

    def pattern() -> list[int]:
        emu.set_faults(
            rate_429=0.3, rate_5xx=0.2, seed=7, retry_after=2, paths=["/v2/vectordb/jobs/import/list"]
        )
        out = []
        for _ in range(30):
            resp = call(emu, "/v2/vectordb/jobs/import/list", {})
            out.append(resp.status_code)
            if resp.status_code == 429:
                assert resp.headers["Retry-After"] == "2"
        return out

    first, second = pattern(), pattern()
    assert first == second
    assert {200, 429, 503} == set(first)
    # paths limit the faults: other routes are untouched
    assert call(emu, "/v2/vectordb/collections/list").status_code == 200
    stats = emu.stats()
    assert stats["faults_injected"]["429"] == 2 * first.count(429)
    assert stats["faults_injected"]["5xx"] == 2 * first.count(503)


def test_dropped_connections_and_admin_endpoint(vectorimport_emulator: Emulator) -> None:
    emu = vectorimport_emulator
    resp = requests.post(emu.url + "/_emulator/faults", json={"rate_drop": 1.0, "seed": 1}, timeout=10)
    assert resp.status_code == 200 and resp.json()["data"]["rate_drop"] == 1.0
    with pytest.raises(requests.ConnectionError):
        call(emu, "/v2/vectordb/collections/list")
    # the admin routes themselves are never faulted
    stats = requests.get(emu.url + "/_emulator/stats", timeout=10).json()["data"]
    assert stats["faults_injected"]["drop"] == 1
    bad = requests.post(emu.url + "/_emulator/faults", json={"rate_429": 3}, timeout=10)
    assert bad.status_code == 400 and "rate_429" in bad.json()["message"]
    unknown = requests.post(emu.url + "/_emulator/faults", json={"rate_teapot": 0.1}, timeout=10)
    assert unknown.status_code == 400 and "rate_teapot" in unknown.json()["message"]
    assert requests.post(emu.url + "/_emulator/reset", json={}, timeout=10).status_code == 200
    assert ok(call(emu, "/v2/vectordb/collections/list")) == []


@pytest.mark.parametrize("fail_at", [50, 85])
def test_job_failing_at_n_percent_rolls_back(vectorimport_emulator: Emulator, fail_at: int) -> None:
    emu = vectorimport_emulator
    create_collection(emu)
    put(emu, "f.parquet", parquet_bytes(rows(40)))
    emu.set_faults(fail_job_at_percent=fail_at)
    job_id = ok(
        call(emu, "/v2/vectordb/jobs/import/create", {"collectionName": "docs", "files": [["f.parquet"]]})
    )["jobId"]
    final, _ = wait_job(emu, job_id)
    assert final["state"] == "Failed" and f"injected failure at {fail_at}%" in final["reason"]
    progress = [p for _, p in emu.job_history(job_id)]
    assert max(progress) < fail_at
    assert any(p > 0 for p in progress), "the job made progress (and inserted rows) before failing"
    assert count(emu) == 0
    emu.set_faults()
    job_id = ok(
        call(emu, "/v2/vectordb/jobs/import/create", {"collectionName": "docs", "files": [["f.parquet"]]})
    )["jobId"]
    assert wait_job(emu, job_id)[0]["state"] == "Completed"
    assert count(emu) == 40


# ------------------------------------------------------------------------------------ other modes
def test_local_dir_mode_and_connection_env(tmp_path) -> None:
    (tmp_path / "files" / "a-bucket" / "in").mkdir(parents=True)
    (tmp_path / "files" / "a-bucket" / "in" / "1.parquet").write_bytes(parquet_bytes(rows(3)))
    config = EmulatorConfig(pace_seconds=0, local_dir=str(tmp_path / "files"), data_dir=str(tmp_path / "db"))
    with Emulator(config) as emu:
        assert emu.s3_endpoint is None
        env = emu.connection_env()
        zilliz = json.loads(env["AIRFLOW_CONN_ZILLIZ_EMULATOR"])
        assert zilliz == {
            "conn_type": "zilliz",
            "host": emu.url,
            "password": emu.api_key,
            "extra": {"api_flavour": "milvus"},
        }
        cloud = json.loads(env["AIRFLOW_CONN_ZILLIZ_CLOUD_EMULATOR"])
        assert cloud["extra"] == {
            "api_flavour": "v2",
            "cluster_id": "in01-emulator",
            "cluster_endpoint": emu.url,
        }
        viking = json.loads(env["AIRFLOW_CONN_VIKINGDB_EMULATOR"])
        assert viking["host"] == f"127.0.0.1:{emu.port}" and viking["login"] == "emulator-ak"
        assert "AIRFLOW_CONN_S3_EMULATOR" not in env
        create_collection(emu)
        job_id = ok(
            call(emu, "/v2/vectordb/jobs/import/create", {"collectionName": "docs", "files": [["in/"]]})
        )["jobId"]
        assert wait_job(emu, job_id)[0]["importedRows"] == 3
    # data_dir persists: a new emulator on the same folder still has the collection and rows
    with Emulator(config) as emu:
        assert ok(call(emu, "/v2/vectordb/collections/list")) == ["docs"]
        assert count(emu) == 3


def test_lost_create_response_then_retry_with_same_key_creates_one_job(
    vectorimport_emulator: Emulator,
) -> None:
    emu = vectorimport_emulator
    create_collection(emu)
    put(emu, "l.parquet", parquet_bytes(rows(3)))
    body = {"collectionName": "docs", "files": [["l.parquet"]]}
    emu.set_faults(rate_lost_response=1.0, paths=["/v2/vectordb/jobs/import/create"])
    with pytest.raises(requests.ConnectionError):
        call(emu, "/v2/vectordb/jobs/import/create", body, headers={"Idempotency-Key": "lost-1"})
    assert emu.stats()["jobs_created"] == {"docs": 1}, "the request was processed, only its answer was lost"
    assert emu.stats()["faults_injected"] == {"lost_response": 1}
    emu.set_faults()
    job_id = ok(call(emu, "/v2/vectordb/jobs/import/create", body, headers={"Idempotency-Key": "lost-1"}))[
        "jobId"
    ]
    listed = ok(call(emu, "/v2/vectordb/jobs/import/list", {"collectionName": "docs"}))["records"]
    assert [r["jobId"] for r in listed] == [job_id]
    assert emu.stats()["jobs_created"] == {"docs": 1}
    assert wait_job(emu, job_id)[0]["state"] == "Completed" and count(emu) == 3


def test_import_into_partition(vectorimport_emulator: Emulator) -> None:
    emu = vectorimport_emulator
    create_collection(emu)
    ok(call(emu, "/v2/vectordb/partitions/create", {"collectionName": "docs", "partitionName": "p1"}))
    assert "p1" in ok(call(emu, "/v2/vectordb/partitions/list", {"collectionName": "docs"}))
    put(emu, "p.parquet", parquet_bytes(rows(6)))
    body = {"collectionName": "docs", "partitionName": "p1", "files": [["p.parquet"]]}
    job_id = ok(call(emu, "/v2/vectordb/jobs/import/create", body))["jobId"]
    final, _ = wait_job(emu, job_id)
    assert final["state"] == "Completed"
    stats = ok(
        call(emu, "/v2/vectordb/collections/get_stats", {"collectionName": "docs", "partitionNames": ["p1"]})
    )
    assert stats == {"rowCount": 6}
    # Milvus Lite ignores partition filters on reads, so only the import target is checked here
    missing = call(emu, "/v2/vectordb/jobs/import/create", {**body, "partitionName": "nope"}).json()
    assert missing["code"] == 200 and "nope" in missing["message"]


def test_reset_stops_running_jobs_and_rolls_back(vectorimport_emulator: Emulator) -> None:
    emu = vectorimport_emulator
    create_collection(emu)
    put(emu, "r.parquet", parquet_bytes(rows(400)))
    emu.set_pace(0.5)  # slow enough to catch it mid-import (reset() restores the pace)
    job_id = ok(
        call(emu, "/v2/vectordb/jobs/import/create", {"collectionName": "docs", "files": [["r.parquet"]]})
    )["jobId"]
    for _ in range(1000):
        data = ok(call(emu, "/v2/vectordb/jobs/import/describe", {"jobId": job_id}))
        if data["importedRows"] > 0:
            break
        time.sleep(0.01)
    assert 0 < data["importedRows"] < 400, data
    emu.reset(drop_collections=False)
    assert emu.engine.pace_seconds == emu.config.pace_seconds
    assert count(emu) == 0, "rows of a job cut short by reset must be rolled back"
    assert ok(call(emu, "/v2/vectordb/jobs/import/list", {}))["records"] == []
    gone = call(emu, "/v2/vectordb/jobs/import/describe", {"jobId": job_id}).json()
    assert gone["code"] != 0


def test_external_s3_endpoint(s3_endpoint: str, tmp_path) -> None:
    """``s3_endpoint`` set: no moto of its own, buckets created on (and files read from) that endpoint."""
    config = EmulatorConfig(
        pace_seconds=0, s3_endpoint=s3_endpoint, data_dir=str(tmp_path), milvus_bucket="ext-bucket"
    )
    with Emulator(config) as emu:
        assert emu.s3_endpoint == s3_endpoint
        create_collection(emu)
        put(emu, "e.jsonl", "\n".join(json.dumps(r) for r in rows(4)).encode())
        job_id = ok(
            call(emu, "/v2/vectordb/jobs/import/create", {"collectionName": "docs", "files": [["e.jsonl"]]})
        )["jobId"]
        assert wait_job(emu, job_id)[0]["importedRows"] == 4
        assert (
            json.loads(emu.connection_env()["AIRFLOW_CONN_S3_EMULATOR"])["extra"]["endpoint_url"]
            == s3_endpoint
        )


def test_latency_fault_trips_a_client_timeout(vectorimport_emulator: Emulator) -> None:
    emu = vectorimport_emulator
    emu.set_faults(latency_ms=1500, paths=["/v2/vectordb/collections/list"])
    with pytest.raises(requests.Timeout):
        requests.post(
            emu.url + "/v2/vectordb/collections/list",
            json={},
            headers={"Authorization": f"Bearer {emu.api_key}"},
            timeout=0.2,
        )
    assert ok(call(emu, "/v2/vectordb/collections/has", {"collectionName": "x"})) == {
        "has": False
    }  # not delayed


def test_import_into_another_database(vectorimport_emulator: Emulator) -> None:
    emu = vectorimport_emulator
    db = {"DB-Name": "analytics"}
    ok(call(emu, "/v2/vectordb/collections/create", {"collectionName": "docs", "dimension": DIM}, headers=db))
    put(emu, "db/1.json", json.dumps([{"id": i, "vector": [1.0] * DIM} for i in range(3)]).encode())
    job_id = ok(
        call(
            emu,
            "/v2/vectordb/jobs/import/create",
            {"collectionName": "docs", "files": [["db/1.json"]]},
            headers=db,
        )
    )["jobId"]
    assert wait_job(emu, job_id)[0]["state"] == "Completed"
    assert ok(call(emu, "/v2/vectordb/collections/get_stats", {"collectionName": "docs"}, headers=db)) == {
        "rowCount": 3
    }
    # the default database has no such collection; the job list is per database
    assert call(emu, "/v2/vectordb/collections/get_stats", {"collectionName": "docs"}).json()["code"] == 100
    assert (
        ok(call(emu, "/v2/vectordb/jobs/import/list", {"dbName": "analytics"}))["records"][0]["jobId"]
        == job_id
    )
    assert ok(call(emu, "/v2/vectordb/jobs/import/list", {}))["records"] == []
