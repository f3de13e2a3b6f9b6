"""Issue 21, "Zilliz Cloud v2 adopts a sibling task's job": the "was it created anyway?" check must
match a job on the full object path of every file of the request, never on basenames.

The reproduction is the fan-out case: two mapped import tasks of one run, one collection, each
importing its shard's ``part-00000.parquet`` (10 rows) under its own prefix. Task B's create goes
through; task A's create is reset after the request was sent, before the service processed it (the
emulator's ``drop``). Task A then looks for a job its create made anyway. On main it took B's job
(same basename) and both tasks were green with 10 of 20 rows. Milvus and Zilliz Cloud v1 report
paths, so A must tell the jobs apart and import its shard; Zilliz Cloud v2 reports basenames only
(its getProgress example), so there A must refuse to adopt, name the job, and say why.
"""

from __future__ import annotations

import json
import time
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_vectorimport.emulator.examples import rest as emulator_rest
from airflow_provider_vectorimport.models import ImportJob, JobState
from airflow_provider_vectorimport.operators.zilliz import ZillizImportOperator
from airflow_provider_vectorimport.protocols.zilliz import (
    AmbiguousJobError,
    FileDetail,
    match_file_sets,
    proven_match,
)
from tests.runtime import FakeTI, Store, context

pytest_plugins = ["airflow_provider_vectorimport.emulator.pytest_plugin"]

DIM = 4
ROWS = 10
SCHEMA = {
    "autoId": False,
    "enableDynamicField": False,
    "fields": [
        {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": DIM}},
    ],
}
CREATE = {"v2": "/v2/vectordb/jobs/import/create", "v1": "/v1/vector/collections/import"}


def rest(em, path: str, body: dict) -> object:
    return emulator_rest(em, path, body, ok_codes=(0,))


def put_shard(em, key: str, first_id: int) -> None:
    vectors = np.random.default_rng(first_id).standard_normal((ROWS, DIM)).astype("float32")
    table = pa.table(
        {
            "id": pa.array(range(first_id, first_id + ROWS), pa.int64()),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel(), pa.float32()), DIM),
        }
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    em.s3_client().put_object(Bucket=em.milvus_bucket, Key=key, Body=sink.getvalue().to_pybytes())


def connection(em, monkeypatch, flavour: str) -> str:
    extra: dict = {"max_attempts": 3, "backoff_initial": 0.02, "backoff_max": 0.05}
    if flavour == "milvus":
        extra.update(api_flavour="milvus", milvus_bucket=em.milvus_bucket)
    else:
        extra.update(api_flavour=flavour, cluster_id=em.cluster_id)
    em.engine.honour_idempotency_key = False
    conn_id = f"match_{flavour}"
    conn = {"conn_type": "zilliz", "host": em.url, "password": em.api_key, "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


def target(em, flavour: str, key: str) -> dict:
    if flavour == "milvus":
        return {"files": [[key]]}
    return {"object_url": f"s3://{em.milvus_bucket}/{key}"}


def settle(em, name: str, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if all(j.state in ("Completed", "Failed") for j in em.engine.list(collection=name)):
            return
        time.sleep(0.03)
    raise AssertionError(f"jobs of {name} still running")


def row_count(em, name: str) -> int:
    return int(rest(em, "/v2/vectordb/collections/get_stats", {"collectionName": name})["rowCount"])


def mapped(conn_id: str, name: str, tgt: dict, map_index: int) -> tuple[ZillizImportOperator, dict]:
    ti = FakeTI()
    ti.run_id, ti.map_index = "manual__fanout", map_index
    op = ZillizImportOperator(
        task_id="import",
        zilliz_conn_id=conn_id,
        collection_name=name,
        poll_interval=0.03,
        deferrable=False,
        **tgt,
    )
    return op, context(ti, Store())


@pytest.mark.parametrize("flavour", ["milvus", "v1", "v2"])
def test_two_mapped_shards_named_alike_never_share_a_job(vectorimport_emulator_env, monkeypatch, flavour):
    em = vectorimport_emulator_env
    name = f"fan_{uuid.uuid4().hex[:8]}"
    rest(em, "/v2/vectordb/collections/create", {"collectionName": name, "schema": SCHEMA})
    run = f"fanout/{uuid.uuid4()}"
    key_a, key_b = f"{run}/shard-0/part-00000.parquet", f"{run}/shard-1/part-00000.parquet"
    put_shard(em, key_a, 0)
    put_shard(em, key_b, ROWS)
    conn_id = connection(em, monkeypatch, flavour)

    op_a, _ = mapped(conn_id, name, target(em, flavour, key_a), 0)
    op_b, ctx_b = mapped(conn_id, name, target(em, flavour, key_b), 1)
    # A takes its snapshot first (before B's job exists), as when both start together
    snapshot = op_a.hook.job_ids_snapshot(name)
    summary_b = op_b.execute(ctx_b)
    assert summary_b["state"] == "completed"
    # A's create reaches the service's door and is reset before being processed
    em.set_faults(script=[{"path": CREATE.get(flavour, CREATE["v2"]), "fault": "drop"}])
    hook = op_a.hook
    call_target = target(em, flavour, key_a)
    if flavour == "v2":
        with pytest.raises(AmbiguousJobError) as err:
            hook.create_import_job(name, **call_target, known_job_ids=snapshot)
        assert summary_b["job_id"] in err.value.job_ids
        assert "basename" in str(err.value)  # says why it cannot tell
        settle(em, name)
        assert row_count(em, name) == ROWS  # nothing was adopted, nothing imported twice
        return
    job_id = hook.create_import_job(name, **call_target, known_job_ids=snapshot)
    assert job_id != summary_b["job_id"], "task A adopted task B's job"
    settle(em, name)
    assert row_count(em, name) == 2 * ROWS


def _job(names: list[str], job_id: str = "j1") -> ImportJob:
    return ImportJob(
        job_id=job_id,
        state=JobState.RUNNING,
        files=[FileDetail(name=n, state=JobState.RUNNING) for n in names],
    )


@pytest.mark.parametrize(
    ("reported", "wanted", "proven"),
    [
        # Milvus reports "[paths]": the full key of every file
        (["[run/shard-1/part-00000.parquet]"], ["run/shard-0/part-00000.parquet"], False),
        (["[run/shard-0/part-00000.parquet]"], ["run/shard-0/part-00000.parquet"], True),
        # every file of the request, not a subset
        (["[run/a/1.parquet]"], ["run/a/1.parquet", "run/a/2.parquet"], False),
        # Zilliz Cloud v1: the object path
        (["run/shard-0/part-00000.parquet"], ["s3://b/run/shard-0/part-00000.parquet"], True),
        (["run/shard-1/part-00000.parquet"], ["s3://b/run/shard-0/part-00000.parquet"], False),
        # Zilliz Cloud v2: the basename only -> equal, but never proof
        (["part-00000.parquet"], ["s3://b/run/shard-0/part-00000.parquet"], False),
    ],
)
def test_a_match_is_proven_only_by_full_paths(reported, wanted, proven):
    assert proven_match(_job(reported), wanted) is proven


def test_basename_equality_is_flagged_as_basenames_only():
    match = match_file_sets(["part-00000.parquet"], ["s3://b/run/shard-0/part-00000.parquet"])
    assert match.equal and match.basename_only


def test_unique_basenames_extra_lets_zilliz_v2_take_its_own_job(vectorimport_emulator_env, monkeypatch):
    """A user whose file names are unique per import (a run id in the name) says so with the
    ``unique_basenames`` extra: then the job a lost create answer made is taken, as on Milvus."""
    em = vectorimport_emulator_env
    name = f"uniq_{uuid.uuid4().hex[:8]}"
    rest(em, "/v2/vectordb/collections/create", {"collectionName": name, "schema": SCHEMA})
    key = f"runs/{uuid.uuid4()}/{name}-part-00000.parquet"
    put_shard(em, key, 0)
    conn = {
        "conn_type": "zilliz",
        "host": em.url,
        "password": em.api_key,
        "extra": {
            "api_flavour": "v2",
            "cluster_id": em.cluster_id,
            "unique_basenames": True,
            "backoff_initial": 0.02,
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_MATCH_UNIQUE", json.dumps(conn))
    op, _ = mapped("match_unique", name, target(em, "v2", key), 0)
    snapshot = op.hook.job_ids_snapshot(name)
    em.set_faults(script=[{"path": CREATE["v2"], "fault": "lost_response"}])
    job_id = op.hook.create_import_job(name, **target(em, "v2", key), known_job_ids=snapshot)
    settle(em, name)
    assert [j.job_id for j in em.engine.list(collection=name)] == [job_id]
    assert row_count(em, name) == ROWS
