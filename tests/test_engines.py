"""``engines.prepare_batches`` (one engine partition's Arrow batches -> import files + a part manifest)
and ``engines.plan_import_requests`` (parts -> fan-out merge -> import requests), against real parts:
local folders, moto's S3 server through the emulator, and the import run by Airflow (``dag.test()``)
into the emulator's Milvus, exactly once across re-runs."""

from __future__ import annotations

import json
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_vectorimport.emulator.examples import rest
from airflow_provider_vectorimport.engines import (
    PartConflictError,
    merge_parts,
    part_name,
    plan_import_requests,
    prepare_batches,
)
from airflow_provider_vectorimport.exceptions import ConfigurationError
from airflow_provider_vectorimport.fanout import ShardError
from airflow_provider_vectorimport.prepare import PrepareError
from airflow_provider_vectorimport.storage import StorageConfig
from tests.engine_data import SCHEMA, article_batch, article_batches

pytest_plugins = ["airflow_provider_vectorimport.emulator.pytest_plugin"]

COLLECTION = "engine_articles"


def test_part_names_are_stable_and_path_safe():
    assert part_name(3) == "partition-00003"
    assert part_name("2026-12-05.a") == "partition-2026-12-05.a"
    for bad in (-1, True, "../x", "", "a/b"):
        with pytest.raises(ConfigurationError, match="part_id"):
            part_name(bad)


def test_a_partition_becomes_valid_files_in_a_local_folder(tmp_path):
    m = prepare_batches(article_batches(0, 5, 40), schema=SCHEMA, out=tmp_path, part_id=2)
    assert m["total_rows"] == 200 and m["bucket"] is None and m["shard_inputs"] == ["partition-00002"]
    (group,) = m["groups"]
    (key,) = group["keys"]
    assert key == "partition-00002/part-00000.parquet" and group["rows"] == 200
    table = pq.read_table(tmp_path / key)
    assert table.column_names == ["id", "title", "vector"] and table.num_rows == 200
    assert table.column("id").to_pylist() == list(range(200))
    assert table.schema.field("vector").type == pa.list_(pa.float32())
    # the temporary folder is gone; only the part's folder is left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["partition-00002"]


def test_the_batches_are_read_one_at_a_time_not_materialised(tmp_path):
    consumed = []

    def batches():
        for b in range(200):
            consumed.append(b)
            batch = article_batch(b * 10, 10)
            if b == 3:  # row 5 of batch 3 = row 35 of the part: a wrong dimension
                vec = batch.column(2).to_pylist()
                vec[4] = vec[4][:3]
                batch = pa.RecordBatch.from_arrays(
                    [batch.column(0), batch.column(1), pa.array(vec, pa.list_(pa.float32()))],
                    names=batch.schema.names,
                )
            yield batch

    with pytest.raises(PrepareError) as err:
        prepare_batches(batches(), schema=SCHEMA, out=tmp_path, part_id=7)
    assert "part 7, row 35, field 'vector': vector has 3 values, expected dim 8" in str(err.value)
    assert len(consumed) < 20  # stopped reading soon after the bad batch: the input was streamed
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_a_batch_of_another_schema_is_refused_naming_the_part_and_field(tmp_path):
    batch = article_batch(0, 4)
    other = batch.append_column("colour", pa.array(["red"] * 4))
    with pytest.raises(PrepareError, match=r"part 1, row 5, field 'colour'"):
        prepare_batches(iter([batch, other]), schema=SCHEMA, out=tmp_path, part_id=1, mode="collect")
    missing = batch.drop_columns(["title"])
    with pytest.raises(PrepareError, match=r"part 1.*field 'title'"):
        prepare_batches(iter([missing]), schema=SCHEMA, out=tmp_path, part_id=1)
    with pytest.raises(PrepareError, match=r"part 4, row 5: batch 2 is a dict"):
        prepare_batches(iter([batch, {"id": 1}]), schema=SCHEMA, out=tmp_path, part_id=4)


def test_a_local_rerun_keeps_identical_files_and_refuses_other_data(tmp_path):
    first = prepare_batches(article_batches(0, 2, 10), schema=SCHEMA, out=tmp_path, part_id=0)
    again = prepare_batches(article_batches(0, 2, 10), schema=SCHEMA, out=tmp_path, part_id=0)
    assert again["groups"] == first["groups"]
    with pytest.raises(PartConflictError, match=r"partition-00000.*already holds other files"):
        prepare_batches(article_batches(0, 2, 10, seed=9), schema=SCHEMA, out=tmp_path, part_id=0)


def test_merge_orders_parts_and_refuses_missing_duplicate_and_empty_parts(tmp_path):
    parts = [
        prepare_batches(article_batches(i * 100, 1, 10), schema=SCHEMA, out=tmp_path, part_id=i)
        for i in (2, 0, 1)
    ]
    merged = merge_parts(parts, parts=3)
    assert merged["parts"] == [0, 1, 2] and merged["total_rows"] == 30
    assert [g["keys"][0].split("/")[0] for g in merged["groups"]] == [part_name(i) for i in range(3)]
    with pytest.raises(ShardError, match=r"1 part\(s\) missing: partition-00003"):
        merge_parts(parts, parts=4, run_key="rk")
    with pytest.raises(ShardError, match="part 1 reported twice"):
        merge_parts([*parts, parts[2]])
    empty = prepare_batches(iter([]), schema=SCHEMA, out=tmp_path, part_id=5)
    assert empty["groups"] == [] and empty["total_rows"] == 0
    with pytest.raises(ShardError, match=r"part\(s\) wrote no rows: partition-00005"):
        merge_parts([*parts, empty])
    assert merge_parts([*parts, empty], allow_empty_parts=True)["skipped_empty_parts"] == 1
    with pytest.raises(ShardError, match="local folder"):
        plan_import_requests(parts)


def test_parts_of_different_schemas_do_not_merge(tmp_path):
    other = json.loads(json.dumps(SCHEMA))
    other["fields"][1]["elementTypeParams"]["max_length"] = 128
    a = prepare_batches(article_batches(0, 1, 5), schema=SCHEMA, out=tmp_path / "a", part_id=0)
    b = prepare_batches(article_batches(5, 1, 5), schema=other, out=tmp_path / "b", part_id=1)
    with pytest.raises(ShardError, match="different schemas"):
        merge_parts([a, b])


# -- object storage (moto server behind the emulator) and the import, run by Airflow -------------


@pytest.fixture
def engine_env(vectorimport_emulator_env, monkeypatch, tmp_path, load_dag):
    em = vectorimport_emulator_env
    env = em.connection_env()
    monkeypatch.setenv("AIRFLOW_CONN_ZILLIZ_DEFAULT", env["AIRFLOW_CONN_ZILLIZ_EMULATOR"])
    monkeypatch.setenv("VECTORIMPORT_ENGINE_COLLECTION", COLLECTION)
    monkeypatch.setenv("VECTORIMPORT_ENGINE_REQUESTS", str(tmp_path / "requests.json"))
    monkeypatch.setenv("VECTORIMPORT_DAGTEST_OUT", str(tmp_path / "out.json"))
    rest(em, "/v2/vectordb/collections/create", {"collectionName": COLLECTION, "schema": SCHEMA})
    return em, tmp_path, load_dag("engine_import")


def storage_of(em) -> StorageConfig:
    s3 = json.loads(em.connection_env()["AIRFLOW_CONN_S3_EMULATOR"])
    return StorageConfig(
        access_key=s3["login"],
        secret_key=s3["password"],
        endpoint_url=s3["extra"]["endpoint_url"],
        region_name=s3["extra"]["region_name"],
    )


def landed(em) -> int:
    return int(rest(em, "/v2/vectordb/collections/get_stats", {"collectionName": COLLECTION})["rowCount"])


def run_parts(em, run_key: str, parts: int, rows: int, seed: int = 0) -> list[dict]:
    out = f"s3://{em.milvus_bucket}/engines/{COLLECTION}/{run_key}"
    return [
        prepare_batches(
            article_batches(p * 1000, 3, rows, seed=seed),
            schema=SCHEMA,
            out=out,
            part_id=p,
            storage=storage_of(em),
            work_dir=None,
        )
        for p in range(parts)
    ]


def test_parts_upload_plan_and_import_exactly_once(engine_env):
    em, tmp, dag = engine_env
    manifests = run_parts(em, "run-1", parts=4, rows=15)
    assert [m["uploaded"] for m in manifests] == [1, 1, 1, 1]
    keys = {
        o["Key"]
        for o in em.s3_client().list_objects_v2(Bucket=em.milvus_bucket, Prefix="engines/")["Contents"]
    }
    assert keys == {f"engines/{COLLECTION}/run-1/{part_name(p)}/part-00000.parquet" for p in range(4)}
    requests = plan_import_requests(manifests, parts=4, max_files_per_job=3)
    assert [len(r["files"]) for r in requests] == [3, 1]  # <= max_files_per_job groups per request
    (tmp / "requests.json").write_text(json.dumps(requests))

    run = dag.test()
    assert run.state == "success"
    summary = json.loads((tmp / "out.json").read_text())
    assert summary["imported_rows"] == 180 == landed(em)
    assert em.stats()["jobs_created"] == {COLLECTION: 2}

    # the engine job re-run with the same run key: nothing uploaded, the same requests, no new job
    again = run_parts(em, "run-1", parts=4, rows=15)
    assert [m["uploaded"] for m in again] == [0, 0, 0, 0] and [m["skipped"] for m in again] == [1] * 4
    assert plan_import_requests(again, parts=4, max_files_per_job=3) == requests
    rerun = dag.test()
    assert rerun.state == "success"
    assert json.loads((tmp / "out.json").read_text())["reattached"] == [True, True]
    assert em.stats()["jobs_created"] == {COLLECTION: 2} and landed(em) == 180


def test_a_rerun_with_other_data_under_the_same_run_key_is_refused(engine_env):
    em, _, _ = engine_env
    run_parts(em, "run-2", parts=1, rows=5)
    with pytest.raises(PartConflictError) as err:
        run_parts(em, "run-2", parts=1, rows=5, seed=42)
    assert re.search(
        r"part partition-00000: s3://a-bucket/engines/\S+/run-2/partition-00000/ already", str(err.value)
    )
    assert "nothing was uploaded" in str(err.value)
    assert em.stats()["jobs_created"] == {}


def test_the_engines_package_imports_no_airflow():
    """Engines' workers need not have Airflow: engines/ (and what it uses) import none of it."""
    import subprocess
    import sys

    code = (
        "import sys, airflow_provider_vectorimport.engines\n"
        "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
