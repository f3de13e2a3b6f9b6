"""Our Zilliz hook, operator and trigger against the local emulator, end to end: real Parquet files in
the emulator's S3 server (moto, loopback), rows landing in Milvus Lite, checked by count and by a
vector search."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from airflow.sdk.exceptions import AirflowException

from airflow_provider_vectorimport.emulator.examples import rest, row_count
from airflow_provider_vectorimport.exceptions import JobFailedError
from airflow_provider_vectorimport.hooks.zilliz import ZillizHook
from airflow_provider_vectorimport.models import JobState
from airflow_provider_vectorimport.operators.zilliz import ZillizImportOperator
from airflow_provider_vectorimport.plugins.jobs import TaskRow, build_job
from airflow_provider_vectorimport.triggers.zilliz import ZillizImportJobTrigger
from airflow_provider_vectorimport.utils import SUMMARY_XCOM_KEY
from tests.runtime import FakeTI, Store, context

pytest_plugins = ["airflow_provider_vectorimport.emulator.pytest_plugin"]

DIM = 16
SCHEMA = {
    "autoId": False,
    "enableDynamicField": False,
    "fields": [
        {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "title", "dataType": "VarChar", "elementTypeParams": {"max_length": 64}},
        {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": DIM}},
    ],
}


def make_collection(emulator) -> str:
    name = f"c_{uuid.uuid4().hex[:8]}"
    rest(emulator, "/v2/vectordb/collections/create", {"collectionName": name, "schema": SCHEMA})
    return name


def put_parquet(emulator, key: str, n: int, *, start: int = 0, dim: int = DIM, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, dim)).astype("float32")
    table = pa.table(
        {
            "id": pa.array(range(start, start + n), pa.int64()),
            "title": [f"t{i}" for i in range(start, start + n)],
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel(), pa.float32()), dim),
        }
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    emulator.s3_client().put_object(Bucket=emulator.milvus_bucket, Key=key, Body=sink.getvalue().to_pybytes())
    return vectors


def wait(hook: ZillizHook, job_id: str, timeout: float = 60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = hook.get_import_job(job_id)
        if job.is_terminal:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} not terminal after {timeout}s: {job.describe()}")


def test_milvus_import_lands_rows_in_milvus_lite(vectorimport_emulator_env):
    em = vectorimport_emulator_env
    name = make_collection(em)
    vectors = put_parquet(em, f"{name}/part-0.parquet", 300)
    put_parquet(em, f"{name}/part-1.parquet", 200, start=300, seed=1)
    hook = ZillizHook("zilliz_emulator")
    job_id = hook.create_import_job(name, files=[[f"{name}/part-0.parquet"], [f"{name}/part-1.parquet"]])
    job = wait(hook, job_id)
    assert job.state is JobState.COMPLETED, job.describe()
    assert job.imported_rows == 500 and len(job.files) == 2
    assert row_count(em, name) == 500
    hits = rest(
        em,
        "/v2/vectordb/entities/search",
        {"collectionName": name, "data": [vectors[42].tolist()], "limit": 1, "outputFields": ["id"]},
    )
    assert hits[0]["id"] == 42  # the imported vector is really searchable


def test_cloud_flavours_v2_and_v1(vectorimport_emulator_env, monkeypatch):
    em = vectorimport_emulator_env
    name = make_collection(em)
    put_parquet(em, f"{name}/a.parquet", 50)
    put_parquet(em, f"{name}/b.parquet", 70, start=50)
    v2 = ZillizHook("zilliz_cloud_emulator")
    creds = {"access_key": "emulator-ak", "secret_key": "emulator-sk"}
    job_id = v2.create_import_job(
        name,
        object_urls=[
            [f"s3://{em.milvus_bucket}/{name}/a.parquet"],
            [f"s3://{em.milvus_bucket}/{name}/b.parquet"],
        ],
        storage_credentials=creds,
    )
    assert wait(v2, job_id).imported_rows == 120
    assert any(j.job_id == job_id for j in v2.list_import_jobs(name))

    conn = json.loads(em.connection_env()["AIRFLOW_CONN_ZILLIZ_CLOUD_EMULATOR"])
    conn["extra"]["api_flavour"] = "v1"
    monkeypatch.setenv("AIRFLOW_CONN_ZILLIZ_V1", json.dumps(conn))
    v1 = ZillizHook("zilliz_v1")
    put_parquet(em, f"{name}/c.parquet", 30, start=1000)
    job_id = v1.create_import_job(
        name, object_url=f"s3://{em.milvus_bucket}/{name}/c.parquet", storage_credentials=creds
    )
    done = wait(v1, job_id)
    assert done.state is JobState.COMPLETED and done.progress == 100.0
    assert row_count(em, name) == 150


def test_idempotency_key_gives_one_job(vectorimport_emulator_env):
    em = vectorimport_emulator_env
    name = make_collection(em)
    put_parquet(em, f"{name}/p.parquet", 10)
    hook = ZillizHook("zilliz_emulator")
    first = hook.create_import_job(name, files=[[f"{name}/p.parquet"]], idempotency_key="af-same-key")
    second = hook.create_import_job(name, files=[[f"{name}/p.parquet"]], idempotency_key="af-same-key")
    assert first == second
    wait(hook, first)
    assert row_count(em, name) == 10
    assert sum(v for k, v in em.stats()["jobs_created"].items() if name in k) == 1


def test_operator_retry_reattaches_where_the_key_is_ignored(vectorimport_emulator_env):
    em = vectorimport_emulator_env
    name = make_collection(em)
    put_parquet(em, f"{name}/p.parquet", 40)
    em.set_faults(latency_ms=0)
    url = f"s3://{em.milvus_bucket}/{name}/p.parquet"
    op = dict(
        task_id="import",
        zilliz_conn_id="zilliz_cloud_emulator",
        collection_name=name,
        object_url=url,
        poll_interval=0.02,
        deferrable=False,
    )
    store = Store()
    with pytest.raises(AirflowException, match="still"):
        ZillizImportOperator(**op, timeout=0.001).execute(context(FakeTI(try_number=1), store))
    summary = ZillizImportOperator(**op).execute(context(FakeTI(try_number=2), store))
    assert summary["reattached"] is True and summary["imported_rows"] == 40
    assert sum(v for k, v in em.stats()["jobs_created"].items() if name in k) == 1
    assert row_count(em, name) == 40


def test_bad_file_fails_the_job_and_loads_nothing(vectorimport_emulator_env):
    em = vectorimport_emulator_env
    name = make_collection(em)
    put_parquet(em, f"{name}/good.parquet", 20)
    put_parquet(em, f"{name}/bad.parquet", 5, start=100, dim=DIM - 1)
    op = ZillizImportOperator(
        task_id="import",
        zilliz_conn_id="zilliz_emulator",
        collection_name=name,
        files=[[f"{name}/good.parquet"], [f"{name}/bad.parquet"]],
        poll_interval=0.02,
        deferrable=False,
    )
    ti = FakeTI()
    with pytest.raises(JobFailedError) as info:
        op.execute(context(ti, Store()))
    assert "bad.parquet" in str(info.value)
    assert row_count(em, name) == 0
    # the summary is in XCom although the task raised, with the failing file and its reason ...
    summary = ti.xcoms[SUMMARY_XCOM_KEY]
    assert summary["job_id"] == ti.xcoms["job_id"] and summary["state"] == "failed"
    failing = [f for f in summary["files"] if f["state"] == "failed"]
    (bad,) = [f["name"] for f in failing]  # Milvus names a file group "[a, b]"
    assert f"{name}/bad.parquet" in bad and "good" not in bad and failing[0]["reason"]
    assert failing[0]["reason"] in str(info.value)
    assert em.api_key not in json.dumps(summary)
    # ... and the dashboard's job record of the failed task shows them
    job = build_job(
        TaskRow("d", "r", "import", -1, 1, "failed", "ZillizImportOperator", None, None, None, ti.xcoms)
    )
    assert job["state"] == "failed" and job["files_failed"] == 1
    assert {f["name"]: f["reason"] for f in job["files"]}[bad] == failing[0]["reason"]


def test_trigger_survives_injected_faults(vectorimport_emulator_env):
    em = vectorimport_emulator_env
    name = make_collection(em)
    put_parquet(em, f"{name}/p.parquet", 25)
    hook = ZillizHook("zilliz_emulator")
    job_id = hook.create_import_job(name, files=[[f"{name}/p.parquet"]])
    em.set_faults(rate_429=0.3, rate_5xx=0.2, rate_drop=0.1, seed=7, retry_after=0)
    trig = ZillizImportJobTrigger(
        conn_id="zilliz_emulator", job_id=job_id, poll_interval=0.02, end_time=time.time() + 120
    )

    async def collect():
        return [e async for e in trig.run()]

    events = asyncio.run(collect())
    assert [e.payload["status"] for e in events] == ["success"]
    injected = em.stats()["faults_injected"]
    assert sum(injected.values()) > 0, injected
    em.set_faults()
    assert row_count(em, name) == 25


def test_on_kill_aborts_the_milvus_job_and_nothing_stays_loaded(vectorimport_emulator_env):
    import threading

    em = vectorimport_emulator_env
    name = make_collection(em)
    put_parquet(em, f"{name}/p.parquet", 400)
    em.set_pace(0.3)  # slow enough to kill it mid-way
    op = ZillizImportOperator(
        task_id="import",
        zilliz_conn_id="zilliz_emulator",
        collection_name=name,
        files=[[f"{name}/p.parquet"]],
        poll_interval=0.05,
        deferrable=False,
    )
    errors: list[BaseException] = []

    def run() -> None:
        try:
            op.execute(context(FakeTI(), Store()))
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    hook = ZillizHook("zilliz_emulator")
    deadline = time.time() + 30
    while not getattr(op, "_job_id", None) or hook.get_import_job(op._job_id).imported_rows in (None, 0):
        assert time.time() < deadline, "the import never started loading"
        time.sleep(0.05)
    op.on_kill()
    worker.join(30)
    job = hook.get_import_job(op._job_id)
    assert job.state is JobState.FAILED and "aborted" in (job.reason or "")
    assert errors and isinstance(errors[0], JobFailedError)
    assert row_count(em, name) == 0


def test_abort_speaks_v2_for_zilliz_cloud_and_v1_refuses(vectorimport_emulator_env, monkeypatch):
    """The vendor's Go SDK aborts Zilliz Cloud jobs through /v2/vectordb/jobs/import/abort; the v1
    controller documents no cancel."""
    from airflow_provider_vectorimport.exceptions import ConfigurationError, NotFoundError

    em = vectorimport_emulator_env
    name = make_collection(em)
    put_parquet(em, f"{name}/p.parquet", 400)
    em.set_pace(0.2)
    hook = ZillizHook("zilliz_cloud_emulator")
    job_id = hook.create_import_job(name, object_url=f"s3://{em.milvus_bucket}/{name}/p.parquet")
    hook.abort_import_job(job_id)
    job = wait(hook, job_id)
    assert job.state is JobState.FAILED and "abort" in (job.reason or "")
    with pytest.raises(NotFoundError, match=r"90144|No jobId"):
        hook.abort_import_job("job-unknown")
    v1 = {
        "conn_type": "zilliz",
        "host": em.url,
        "password": em.api_key,
        "extra": {"api_flavour": "v1", "cluster_id": em.cluster_id},
    }
    monkeypatch.setenv("AIRFLOW_CONN_ZILLIZ_V1_ABORT", json.dumps(v1))
    with pytest.raises(ConfigurationError, match="no documented way to cancel"):
        ZillizHook("zilliz_v1_abort").abort_import_job("job-x")
