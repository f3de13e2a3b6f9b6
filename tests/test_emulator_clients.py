"""The emulator against the vendors' own clients (pymilvus bulk import REST functions and its
RemoteBulkWriter, the volcengine SDK's VikingDB task calls) and against this provider's hooks."""

from __future__ import annotations

import io
import time
from typing import Any

import pyarrow.parquet as pq
import pytest
import requests

from airflow_provider_vectorimport.emulator import Emulator

pytest_plugins = ["airflow_provider_vectorimport.emulator.pytest_plugin"]

DIM = 4
CLUSTER = "in01-emulator"


def _rest(emu: Emulator, path: str, body: dict[str, Any]) -> Any:
    resp = requests.post(
        emu.url + path, json=body, headers={"Authorization": f"Bearer {emu.api_key}"}, timeout=10
    )
    assert resp.status_code == 200 and resp.json()["code"] == 0, resp.text
    return resp.json()["data"]


def _collection(emu: Emulator, name: str = "docs") -> None:
    _rest(
        emu,
        "/v2/vectordb/collections/create",
        {
            "collectionName": name,
            "schema": {
                "enableDynamicField": True,
                "fields": [
                    {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
                    {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": DIM}},
                    {"fieldName": "city", "dataType": "VarChar", "elementTypeParams": {"max_length": 32}},
                ],
            },
        },
    )


def _rows(n: int) -> list[dict[str, Any]]:
    cities = ["beijing", "shanghai"]
    return [{"id": i, "vector": [float(i), 1.0, 0.0, 0.0], "city": cities[i % 2]} for i in range(n)]


def _count(emu: Emulator, name: str = "docs") -> int:
    return _rest(emu, "/v2/vectordb/entities/query", {"collectionName": name, "outputFields": ["count(*)"]})[
        0
    ]["count(*)"]


# ------------------------------------------------------------------------------------------ pymilvus
def _pymilvus_schema() -> Any:
    from pymilvus import CollectionSchema, DataType, FieldSchema

    return CollectionSchema(
        [
            FieldSchema("id", DataType.INT64, is_primary=True),
            FieldSchema("vector", DataType.FLOAT_VECTOR, dim=DIM),
            FieldSchema("city", DataType.VARCHAR, max_length=32),
        ],
        enable_dynamic_field=True,
    )


@pytest.mark.parametrize("file_type", ["PARQUET", "JSON", "JSONL", "NUMPY", "CSV"])
def test_pymilvus_remote_bulk_writer_then_bulk_import(
    vectorimport_emulator: Emulator, tmp_path, file_type: str
) -> None:
    """Files written by pymilvus' own RemoteBulkWriter (minio client -> the emulator's S3) import
    through pymilvus' bulk_import / get_import_progress / list_import_jobs."""
    from pymilvus.bulk_writer import (
        BulkFileType,
        RemoteBulkWriter,
        bulk_import,
        get_import_progress,
        list_import_jobs,
    )

    emu = vectorimport_emulator
    _collection(emu)
    endpoint = emu.s3_endpoint.split("://", 1)[1]
    writer = RemoteBulkWriter(
        schema=_pymilvus_schema(),
        remote_path="bulk",
        connect_param=RemoteBulkWriter.S3ConnectParam(
            endpoint=endpoint,
            access_key="emulator-ak",
            secret_key="emulator-sk",
            bucket_name=emu.milvus_bucket,
            secure=False,
        ),
        file_type=getattr(BulkFileType, file_type),
        local_path=str(tmp_path / "writer"),
    )
    for row in _rows(50):
        writer.append_row({**row, "tag": f"t{row['id']}"})  # "tag" goes to the dynamic field
    writer.commit()
    files = writer.batch_files
    assert files, "the writer produced no file"

    resp = bulk_import(url=emu.url, api_key=emu.api_key, collection_name="docs", files=files)
    job_id = resp.json()["data"]["jobId"]
    states = []
    for _ in range(3000):
        data = get_import_progress(url=emu.url, api_key=emu.api_key, job_id=job_id).json()["data"]
        states.append(data["state"])
        if data["state"] in ("Completed", "Failed"):
            break
        time.sleep(0.005)
    assert data["state"] == "Completed", data["reason"]
    assert data["importedRows"] == 50 and states[-1] == "Completed"
    assert ["IndexBuilding", 90] in emu.job_history(job_id)
    listed = list_import_jobs(url=emu.url, api_key="root:Milvus", collection_name="docs").json()["data"]
    assert [r["jobId"] for r in listed["records"]] == [job_id]
    assert _count(emu) == 50
    got = _rest(
        emu,
        "/v2/vectordb/entities/query",
        {"collectionName": "docs", "filter": 'tag == "t7"', "outputFields": ["id"]},
    )
    assert [r["id"] for r in got] == [7]


def test_pymilvus_zilliz_cloud_mode_and_wrong_key(vectorimport_emulator: Emulator) -> None:
    from pymilvus.bulk_writer import bulk_import, get_import_progress, list_import_jobs
    from pymilvus.exceptions import MilvusException

    emu = vectorimport_emulator
    _collection(emu)
    import pyarrow as pa

    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(_rows(12)), buf)
    emu.s3_client().put_object(Bucket="vectorimport-demo", Key="cloud/1.parquet", Body=buf.getvalue())
    resp = bulk_import(
        url=emu.url,
        api_key=emu.api_key,
        cluster_id=CLUSTER,
        collection_name="docs",
        object_urls=[["s3://vectorimport-demo/cloud/1.parquet"]],
        access_key="ak",
        secret_key="sk",
    )
    job_id = resp.json()["data"]["jobId"]
    assert job_id.startswith("job-")
    for _ in range(3000):
        data = get_import_progress(
            url=emu.url, api_key=emu.api_key, job_id=job_id, cluster_id=CLUSTER
        ).json()["data"]
        if data["state"] in ("Completed", "Failed"):
            break
        time.sleep(0.005)
    assert data["state"] == "Completed" and data["totalRows"] == 12
    records = list_import_jobs(url=emu.url, api_key=emu.api_key, cluster_id=CLUSTER).json()["data"]["records"]
    assert records[0]["jobId"] == job_id and records[0]["state"] == "Completed"

    with pytest.raises(MilvusException, match="21119"):
        bulk_import(
            url=emu.url,
            api_key="not-the-key",
            cluster_id=CLUSTER,
            collection_name="docs",
            object_urls=[["s3://vectorimport-demo/cloud/1.parquet"]],
        )
    with pytest.raises(MilvusException):
        get_import_progress(url=emu.url, api_key="not-the-key", job_id=job_id)
    assert emu.stats()["jobs_created"] == {"docs": 1}


# ----------------------------------------------------------------------------------- volcengine SDK
@pytest.fixture
def viking_service(vectorimport_emulator: Emulator) -> Any:
    if not vectorimport_emulator.vikingdb_mounted:
        pytest.skip("emulator/vikingdb.py is not available")
    from volcengine.viking_db import VikingDBService

    ak, sk = next(iter(vectorimport_emulator.vikingdb_credentials.items()))
    return VikingDBService(
        host=f"127.0.0.1:{vectorimport_emulator.port}", region="cn-north-1", ak=ak, sk=sk, scheme="http"
    )


def _wait_task(service: Any, task_id: str) -> Any:
    for _ in range(2000):
        task = service.get_task(task_id)
        if task.task_status in ("done", "fail"):
            return task
        time.sleep(0.01)
    raise AssertionError(f"task {task_id} did not finish")


def test_volcengine_sdk_export_and_import_tasks(vectorimport_emulator: Emulator, viking_service: Any) -> None:
    from volcengine.viking_db.common import TaskType

    emu = vectorimport_emulator
    _collection(emu, "src")
    _collection(emu, "dst")
    _rest(emu, "/v2/vectordb/entities/insert", {"collectionName": "src", "data": _rows(10)})

    task_id = viking_service.create_task(
        TaskType.Data_export,
        {
            "collection_name": "src",
            "tos_path": "vectorimport-demo/export",
            "file_type": "parquet",
            "filter": {"city": ["beijing"]},
        },
    )
    assert task_id
    task = _wait_task(viking_service, task_id)
    assert task.task_status == "done", task.process_info
    assert task.process_info["total_filter_count"] == 5
    listed = emu.s3_client().list_objects_v2(Bucket="vectorimport-demo", Prefix="export/")["Contents"]
    keys = [o["Key"] for o in listed]
    assert keys == ["export/0.parquet"]
    body = emu.s3_client().get_object(Bucket="vectorimport-demo", Key=keys[0])["Body"].read()
    exported = pq.read_table(io.BytesIO(body)).to_pylist()
    assert sorted(r["id"] for r in exported) == [0, 2, 4, 6, 8]
    assert all(r["city"] == "beijing" for r in exported)

    import_id = viking_service.create_task(
        TaskType.Data_Import,
        {"collection_name": "dst", "tos_path": "vectorimport-demo/export", "file_type": "parquet"},
    )
    assert _wait_task(viking_service, import_id).task_status == "done"
    assert _count(emu, "dst") == 5
    assert {t.task_id for t in viking_service.list_tasks()} >= {task_id, import_id}

    bad = viking_service.create_task(
        TaskType.Data_Import,
        {"collection_name": "dst", "tos_path": "vectorimport-demo/nothing-here", "file_type": "parquet"},
    )
    failed = _wait_task(viking_service, bad)
    assert failed.task_status == "fail" and "nothing-here" in failed.process_info["err_msg"]
    assert emu.stats()["vikingdb_tasks_created"] == {"src": 1, "dst": 2}

    # injected faults on the VikingDB paths carry VikingDB's own codes
    emu.set_faults(rate_429=1.0, paths=["/api/task/"])
    throttled = requests.post(emu.url + "/api/task/list", json={}, timeout=10)
    assert throttled.status_code == 429 and throttled.json()["code"] == 1000029
    emu.set_faults(rate_5xx=1.0, paths=["/api/task/"])
    broken = requests.post(emu.url + "/api/task/list", json={}, timeout=10)
    assert broken.status_code == 503 and broken.json()["code"] == 1000028


def test_volcengine_sdk_wrong_secret_is_rejected(
    vectorimport_emulator: Emulator, viking_service: Any
) -> None:
    from volcengine.viking_db import VikingDBService
    from volcengine.viking_db.common import TaskType
    from volcengine.viking_db.exception import VikingDBServerException

    _collection(vectorimport_emulator, "src")
    # the SDK pings (signed) on construction, so the wrong key may already fail there
    with pytest.raises(VikingDBServerException) as err:
        wrong = VikingDBService(
            host=f"127.0.0.1:{vectorimport_emulator.port}",
            region="cn-north-1",
            ak="emulator-ak",
            sk="wrong",
            scheme="http",
        )
        wrong.create_task(TaskType.Data_export, {"collection_name": "src", "tos_path": "vectorimport-demo/x"})
    assert err.value.code == 1000001 or "1000001" in str(err.value)
    assert vectorimport_emulator.vikingdb.tasks_created["src"] == 0


# ------------------------------------------------------------------------------- this provider's hook
@pytest.mark.parametrize("conn_id", ["zilliz_emulator", "zilliz_cloud_emulator"])
def test_provider_zilliz_hook_against_emulator(vectorimport_emulator_env: Emulator, conn_id: str) -> None:
    hooks = pytest.importorskip("airflow_provider_vectorimport.hooks.zilliz")
    emu = vectorimport_emulator_env
    _collection(emu)
    import pyarrow as pa

    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(_rows(7)), buf)
    emu.s3_client().put_object(Bucket=emu.milvus_bucket, Key="hook/1.parquet", Body=buf.getvalue())
    hook = hooks.ZillizHook(conn_id)
    if conn_id == "zilliz_emulator":
        job_id = hook.create_import_job("docs", files=[["hook/1.parquet"]], idempotency_key="k-1")
        assert hook.create_import_job("docs", files=[["hook/1.parquet"]], idempotency_key="k-1") == job_id
    else:
        job_id = hook.create_import_job("docs", object_url=f"s3://{emu.milvus_bucket}/hook/1.parquet")
    for _ in range(3000):
        job = hook.get_import_job(job_id)
        if job.state.is_terminal:
            break
        time.sleep(0.005)
    assert job.state.is_success, job
    assert _count(emu) == 7
    assert emu.stats()["jobs_created"] == {"docs": 1}


def test_provider_hook_retries_through_faults_without_duplicate_jobs(
    vectorimport_emulator_env: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """429s (Retry-After 0), 503s, dropped connections and lost answers on create: the hook's
    retries plus the Idempotency-Key end with exactly one job."""
    import json

    hooks = pytest.importorskip("airflow_provider_vectorimport.hooks.zilliz")
    emu = vectorimport_emulator_env
    conn = json.loads(emu.connection_env()["AIRFLOW_CONN_ZILLIZ_EMULATOR"])
    conn["extra"].update({"max_attempts": 20, "backoff_initial": 0.01, "backoff_max": 0.02})
    monkeypatch.setenv("AIRFLOW_CONN_ZILLIZ_FAULTY", json.dumps(conn))
    _collection(emu)
    import pyarrow as pa

    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(_rows(5)), buf)
    emu.s3_client().put_object(Bucket=emu.milvus_bucket, Key="faulty/1.parquet", Body=buf.getvalue())
    emu.set_faults(
        rate_429=0.2,
        rate_5xx=0.2,
        rate_drop=0.1,
        rate_lost_response=0.3,
        retry_after=0,
        seed=11,
        paths=["/v2/vectordb/jobs/import/"],
    )
    hook = hooks.ZillizHook("zilliz_faulty")
    job_id = hook.create_import_job("docs", files=[["faulty/1.parquet"]], idempotency_key="retry-me")
    for _ in range(3000):
        job = hook.get_import_job(job_id)
        if job.state.is_terminal:
            break
        time.sleep(0.005)
    stats = emu.stats()
    assert job.state.is_success, job
    assert sum(stats["faults_injected"].values()) > 0, stats
    assert stats["jobs_created"] == {"docs": 1}
    emu.set_faults()
    assert _count(emu) == 5
