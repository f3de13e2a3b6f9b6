"""``replace=`` on the import operator, in real DAG runs (``dag.test()``) against the emulator: a
day loaded twice leaves one copy (the corrected one), a failed import or a failed check leaves the
old slice in place, what the provider did not create is never dropped, bad input fails before
anything is created or imported."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_vectorimport.emulator.examples import rest
from airflow_provider_vectorimport.exceptions import ConfigurationError
from airflow_provider_vectorimport.hooks.partitions import PartitionHook
from airflow_provider_vectorimport.replace import parse_replace, plan_replace
from tests.test_daily_load import daily  # noqa: F401  (the daily example's fixture)

pytest_plugins = ["airflow_provider_vectorimport.emulator.pytest_plugin"]

DIM = 4
SCHEMA = {
    "autoId": False,
    "enableDynamicField": False,
    "fields": [
        {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "day", "dataType": "VarChar", "elementTypeParams": {"max_length": 16}},
        {"fieldName": "title", "dataType": "VarChar", "elementTypeParams": {"max_length": 32}},
        {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": DIM}},
    ],
}


def make_collection(em, schema: dict[str, Any] = SCHEMA) -> str:
    name = f"r_{uuid.uuid4().hex[:8]}"
    rest(em, "/v2/vectordb/collections/create", {"collectionName": name, "schema": schema})
    return name


def put_day(em, key: str, ids, *, title: str, day: str = "2026-01-01") -> None:
    ids = list(ids)
    table = pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "day": [day] * len(ids),
            "title": [f"{title} {i}" for i in ids],
            "vector": pa.FixedSizeListArray.from_arrays(
                pa.array([0.1 * (i % 5) for i in ids for _ in range(DIM)], pa.float32()), DIM
            ),
        }
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    em.s3_client().put_object(Bucket=em.milvus_bucket, Key=key, Body=sink.getvalue().to_pybytes())


def rows(em, name: str) -> list[dict[str, Any]]:
    return rest(
        em,
        "/v2/vectordb/entities/query",
        {"collectionName": name, "filter": "id >= 0", "outputFields": ["id", "title"], "limit": 1000},
    )


def run(
    load_dag,
    monkeypatch,
    tmp_path,
    em,
    name: str,
    key: str,
    *,
    conn="zilliz_emulator",
    mode="partition",
    deferrable=True,
):
    out = tmp_path / f"out-{uuid.uuid4().hex[:6]}.json"
    for k, v in {
        "VI_REPLACE_CONN": conn,
        "VI_REPLACE_COLLECTION": name,
        "VI_REPLACE_FILE": key,
        "VI_REPLACE_MODE": mode,
        "VI_REPLACE_BUCKET": em.milvus_bucket,
        "VI_REPLACE_DEFERRABLE": "1" if deferrable else "0",
        "VI_REPLACE_OUT": str(out),
    }.items():
        monkeypatch.setenv(k, v)
    dag_run = load_dag("replace_slice").test()
    return dag_run, (json.loads(out.read_text()) if out.exists() else None)


@pytest.mark.parametrize("conn", ["zilliz_emulator", "zilliz_cloud_emulator"])
def test_a_day_loaded_twice_leaves_one_copy(load_dag, vectorimport_emulator_env, monkeypatch, tmp_path, conn):
    em = vectorimport_emulator_env
    name = make_collection(em)
    rest(em, "/v2/vectordb/partitions/create", {"collectionName": name, "partitionName": "keep_me"})
    put_day(em, f"{name}/v1.parquet", range(10), title="first")
    dag_run, summary = run(load_dag, monkeypatch, tmp_path, em, name, f"{name}/v1.parquet", conn=conn)
    assert dag_run.state == "success"
    first = summary["replace"]
    assert first["rows"] == 10 and first["dropped_partitions"] == []
    assert first["partition"].startswith("d_20260101__vi_")
    # the corrected day: the same ids with new titles, and two more rows
    put_day(em, f"{name}/v2.parquet", range(12), title="fixed")
    dag_run, summary = run(
        load_dag, monkeypatch, tmp_path, em, name, f"{name}/v2.parquet", conn=conn, deferrable=False
    )
    assert dag_run.state == "success"
    second = summary["replace"]
    assert second["dropped_partitions"] == [first["partition"]]
    got = rows(em, name)
    assert sorted(r["id"] for r in got) == list(range(12))  # one copy of the day
    assert {r["title"].split()[0] for r in got} == {"fixed"}
    parts = rest(em, "/v2/vectordb/partitions/list", {"collectionName": name})
    assert sorted(parts) == sorted(["_default", "keep_me", second["partition"]])  # not ours: kept


def test_a_failed_import_leaves_the_old_slice(load_dag, vectorimport_emulator_env, monkeypatch, tmp_path):
    em = vectorimport_emulator_env
    name = make_collection(em)
    put_day(em, f"{name}/v1.parquet", range(5), title="first")
    assert run(load_dag, monkeypatch, tmp_path, em, name, f"{name}/v1.parquet")[0].state == "success"
    # new ids: Milvus Lite (behind the emulator) keeps one row per primary key, so a failed job
    # that reused the old ids could not restore them in the emulator (Milvus keeps both copies)
    put_day(em, f"{name}/v2.parquet", range(100, 108), title="fixed")
    em.set_faults(fail_job_at_percent=50)
    dag_run, _ = run(load_dag, monkeypatch, tmp_path, em, name, f"{name}/v2.parquet")
    em.set_faults()
    assert dag_run.state == "failed"
    got = rows(em, name)
    assert sorted(r["id"] for r in got) == list(range(5))
    assert {r["title"].split()[0] for r in got} == {"first"}
    parts = rest(em, "/v2/vectordb/partitions/list", {"collectionName": name})
    assert len([p for p in parts if p.startswith("d_20260101__vi_")]) == 2  # old kept, new left empty


def test_field_slice_replaces_rows_left_by_appends(
    load_dag, vectorimport_emulator_env, monkeypatch, tmp_path
):
    em = vectorimport_emulator_env
    name = make_collection(em)
    old = [{"id": 100 + i, "day": "2026-01-01", "title": "legacy", "vector": [0.0] * DIM} for i in range(3)]
    other = [{"id": 200, "day": "2026-01-02", "title": "other day", "vector": [0.0] * DIM}]
    rest(em, "/v2/vectordb/entities/insert", {"collectionName": name, "data": old + other})
    put_day(em, f"{name}/v1.parquet", range(6), title="new")
    dag_run, summary = run(load_dag, monkeypatch, tmp_path, em, name, f"{name}/v1.parquet", mode="field")
    assert dag_run.state == "success"
    assert summary["replace"]["deleted_in_partitions"] == ["_default"]
    got = rows(em, name)
    assert sorted(r["id"] for r in got) == [0, 1, 2, 3, 4, 5, 200]  # the other day stays
    # again: one copy
    dag_run, summary = run(load_dag, monkeypatch, tmp_path, em, name, f"{name}/v1.parquet", mode="field")
    assert dag_run.state == "success" and len(summary["replace"]["dropped_partitions"]) == 1
    assert sorted(r["id"] for r in rows(em, name)) == [0, 1, 2, 3, 4, 5, 200]


def test_bad_input_fails_before_anything_is_created(vectorimport_emulator_env):
    em = vectorimport_emulator_env
    name = make_collection(em)
    hook = PartitionHook("zilliz_emulator")
    key = ("dag", "run", "task", -1)
    with pytest.raises(ConfigurationError, match="not in the collection's schema"):
        plan_replace(
            hook, name, {"field": "dayz", "value": "x"}, partition_name=None, db_name=None, run_key=key
        )
    with pytest.raises(ConfigurationError, match="needs partition_name"):
        plan_replace(hook, name, "partition", partition_name=None, db_name=None, run_key=key)
    with pytest.raises(ConfigurationError, match="not a valid Milvus partition name"):
        parse_replace("partition", "2026-01-01")
    with pytest.raises(ConfigurationError, match="replace must be"):
        parse_replace("append", None)
    schema = json.loads(json.dumps(SCHEMA))
    schema["fields"][1]["isPartitionKey"] = True
    keyed = make_collection(em, schema)
    with pytest.raises(ConfigurationError, match="partition key"):
        plan_replace(hook, keyed, "partition", partition_name="d1", db_name=None, run_key=key)
    assert rest(em, "/v2/vectordb/partitions/list", {"collectionName": name}) == ["_default"]
    assert em.engine.jobs_created == [] or not any(j for j in em.engine.jobs_created)


def test_rerun_of_the_same_run_without_its_task_state_leaves_one_copy(vectorimport_emulator_env):
    """The same DAG run executed again after its task state is gone (cleared, re-created run):
    the load goes next to the earlier copy, never into it, and the earlier copy is dropped."""
    from airflow_provider_vectorimport.operators.zilliz import ZillizImportOperator
    from tests.runtime import FakeTI, Store, context

    em = vectorimport_emulator_env
    name = make_collection(em)
    put_day(em, f"{name}/v1.parquet", range(7), title="first")
    summaries = []
    for _ in range(2):
        op = ZillizImportOperator(
            task_id="import",
            zilliz_conn_id="zilliz_emulator",
            collection_name=name,
            files=[[f"{name}/v1.parquet"]],
            partition_name="d_20260101",
            replace="partition",
            deferrable=False,
            poll_interval=0.05,
            timeout=60,
        )
        ti = FakeTI()
        summaries.append(op.execute(context(ti, Store())))
    first, second = (s["replace"] for s in summaries)
    assert second["partition"] == first["partition"] + "_2"
    assert second["dropped_partitions"] == [first["partition"]]
    assert sorted(r["id"] for r in rows(em, name)) == list(range(7))


def test_the_daily_example_replaces_a_corrected_day(daily, monkeypatch, load_dag):  # noqa: F811
    """``vectorimport_daily_load`` with its ``replace`` param: a day re-run after its inputs were
    corrected leaves one copy of the day, the corrected one, next to the other days."""
    import pendulum

    from airflow_provider_vectorimport.emulator.examples import write_day

    em, root, _ = daily
    # an Asset URI of its own: tests/test_daily_load.py counts the events on the fixture's
    monkeypatch.setenv("VECTORIMPORT_MILVUS_ENDPOINT", "replace-test:19530")
    dag = load_dag("example_daily_load")
    write_day(root, "2025-01-02", range(0, 30))
    write_day(root, "2025-01-03", range(30, 50))
    conf = {"replace": True}
    for day in (2, 3):
        assert (
            dag.test(logical_date=pendulum.datetime(2025, 1, day, tz="UTC"), run_conf=conf).state == "success"
        )
    assert rest(
        em, "/v2/vectordb/entities/query", {"collectionName": "daily_articles", "outputFields": ["count(*)"]}
    ) == [{"count(*)": 50}]
    write_day(root, "2025-01-02", [*range(0, 30), *range(100, 105)])  # the corrected day: five more rows
    assert dag.test(logical_date=pendulum.datetime(2025, 1, 2, tz="UTC"), run_conf=conf).state == "success"
    got = rest(
        em,
        "/v2/vectordb/entities/query",
        {"collectionName": "daily_articles", "filter": "id >= 0", "outputFields": ["id"], "limit": 1000},
    )
    assert sorted(r["id"] for r in got) == [*range(50), *range(100, 105)]  # one copy of each day
    parts = rest(em, "/v2/vectordb/partitions/list", {"collectionName": "daily_articles"})
    assert len([p for p in parts if p.startswith("d_20250102__vi_")]) == 1
    assert len([p for p in parts if p.startswith("d_20250103__vi_")]) == 1


def _manifest(em, keys: list[str]) -> dict[str, Any]:
    """``files=`` as the upload step returns it: the group's fingerprint of what its objects hold
    (key, size, ETag, read back from the S3 server as the upload does)."""
    from airflow_provider_vectorimport.storage.transfer import content_fingerprint

    s3 = em.s3_client()
    heads = {k: s3.head_object(Bucket=em.milvus_bucket, Key=k) for k in keys}
    fp = content_fingerprint((k, h["ContentLength"], h["ETag"].strip('"')) for k, h in heads.items())
    return {"bucket": em.milvus_bucket, "groups": [{"keys": keys, "fingerprint": fp}], "files": [keys]}


@pytest.mark.parametrize("replace", ["partition", None])
def test_a_cleared_task_whose_files_were_corrected_never_keeps_the_old_job(
    vectorimport_emulator_env, replace
):
    """A real scheduler keeps the task state when a task is cleared (scripts/backfill_check.py
    --replace found it): the re-run of a day whose files were re-uploaded with corrected data used to
    reattach to the earlier job, green, with the old data left in place. With replace= it loads the
    new bytes and retires the old copy; without, it fails saying why, and imports nothing."""
    from airflow.sdk.exceptions import AirflowFailException

    from airflow_provider_vectorimport.operators.zilliz import ZillizImportOperator
    from tests.runtime import FakeTI, Store, context

    em = vectorimport_emulator_env
    name = make_collection(em)
    key = f"{name}/day.parquet"

    def op(files: dict[str, Any]) -> ZillizImportOperator:
        return ZillizImportOperator(
            task_id="import",
            zilliz_conn_id="zilliz_emulator",
            collection_name=name,
            files=files,
            partition_name="d_20260101" if replace else None,
            replace=replace,
            deferrable=False,
            poll_interval=0.05,
            timeout=60,
        )

    store = Store()  # one task instance: its state survives the clear
    put_day(em, key, range(7), title="first")
    first = op(_manifest(em, [key])).execute(context(FakeTI(1), store))
    # the same bytes again (a retry): the earlier job is this input's import
    again = op(_manifest(em, [key])).execute(context(FakeTI(2), store))
    assert again["job_id"] == first["job_id"] and again["reattached"] is True
    put_day(em, key, [*range(5), 100, 101, 102], title="corrected")  # same key, corrected rows
    corrected = _manifest(em, [key])
    if replace is None:
        with pytest.raises(AirflowFailException, match=f"changed since an earlier try.*{first['job_id']}"):
            op(corrected).execute(context(FakeTI(3), store))
        assert sorted(r["id"] for r in rows(em, name)) == list(range(7))  # untouched, nothing added
        return
    third = op(corrected).execute(context(FakeTI(3), store))
    assert third["job_id"] != first["job_id"] and not third.get("reattached")
    assert third["replace"]["partition"] == first["replace"]["partition"] + "_2"
    assert third["replace"]["dropped_partitions"] == [first["replace"]["partition"]]
    got = rows(em, name)
    assert sorted(r["id"] for r in got) == [0, 1, 2, 3, 4, 100, 101, 102]
    assert {r["title"].split()[0] for r in got} == {"corrected"}
