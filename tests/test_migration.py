"""The migration example DAG (VikingDB export -> download -> transform -> prepare -> upload -> import
into Milvus and Zilliz Cloud -> verify both) with ``dag.test()`` against the local emulator, the
mapping's bad-input errors (naming the target and the field, nothing imported) and the reusable
verify step."""

from __future__ import annotations

import json
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_vectorimport.emulator.examples import (
    DIM,
    MIGRATION_SOURCE_SCHEMA,
    MIGRATION_TARGET_SCHEMA,
    rest,
    seed_migration,
)
from airflow_provider_vectorimport.exceptions import ConfigurationError
from airflow_provider_vectorimport.transform import FieldMapping, MappingError, transform_export
from airflow_provider_vectorimport.verify import VerificationError, verify_targets

pytest_plugins = ["airflow_provider_vectorimport.emulator.pytest_plugin"]

SOURCE = MIGRATION_SOURCE_SCHEMA
TARGET = MIGRATION_TARGET_SCHEMA
CONNECTIONS = (
    ("ZILLIZ_DEFAULT", "ZILLIZ_EMULATOR"),
    ("ZILLIZ_CLOUD", "ZILLIZ_CLOUD_EMULATOR"),
    ("AWS_DEFAULT", "S3_EMULATOR"),
    ("VIKINGDB_DEFAULT", "VIKINGDB_EMULATOR"),
)


@pytest.fixture
def migration_env(vectorimport_emulator_env, monkeypatch, tmp_path):
    em = vectorimport_emulator_env
    env = em.connection_env()
    for ours, theirs in CONNECTIONS:
        monkeypatch.setenv(f"AIRFLOW_CONN_{ours}", env[f"AIRFLOW_CONN_{theirs}"])
    monkeypatch.setenv("VECTORIMPORT_WORK_DIR", str(tmp_path / "work"))
    return em


def read_back(em, collection: str, ids: list[int]) -> dict[int, dict]:
    got = rest(
        em,
        "/v2/vectordb/entities/query",
        {
            "collectionName": collection,
            "filter": f"id in [{', '.join(map(str, ids))}]",
            "outputFields": ["id", "title", "vector"],
            "limit": len(ids),
        },
    )
    return {r["id"]: r for r in got}


def test_migration_dag_moves_the_filtered_rows_into_both_targets_and_verifies_them(
    migration_env, load_dag, capfd
):
    em = migration_env
    rows = seed_migration(em)

    run = load_dag("example_migration").test()
    out = "".join(capfd.readouterr())
    assert run.state == "success", out[-3000:]
    (line,) = re.findall(r"VECTORIMPORT_MIGRATION (\{.*\})", out)
    summary = json.loads(line)
    expected = [r for r in rows if r["city"] == "beijing"]
    assert summary["exported_rows"] == summary["transformed_rows"] == len(expected) == 40
    assert sorted(summary["targets"]) == ["milvus", "zilliz_cloud"]
    for label, collection in (("milvus", "migrated_docs"), ("zilliz_cloud", "migrated_docs_cloud")):
        target = summary["targets"][label]
        assert target["collection"] == collection
        assert target["rows"] == target["imported_rows"] == 40 and target["sampled"] == 5
        assert target["fields"] == ["id", "title", "vector"] and target["job_id"]
    assert summary["targets"]["milvus"]["job_id"] != summary["targets"]["zilliz_cloud"]["job_id"]
    # one job per target, nothing imported twice
    assert em.stats()["jobs_created"] == {"migrated_docs": 1, "migrated_docs_cloud": 1}
    # the rows really are the filtered source rows, renamed, on both targets: a read-back
    # independent of the verify step
    for collection in ("migrated_docs", "migrated_docs_cloud"):
        by_id = read_back(em, collection, [1, 2, 3, 59])
        assert sorted(by_id) == [1, 2, 59], collection  # 3 is a shanghai row, filtered out
        for i in (2, 59):
            assert by_id[i]["title"] == f"doc {i}"
            assert by_id[i]["vector"] == pytest.approx(rows[i]["emb"], abs=1e-6), collection


def _target(dim: int = DIM, pk: str = "id") -> dict:
    return {
        **TARGET,
        "fields": [
            {"fieldName": pk, "dataType": "Int64", "isPrimary": True},
            {"fieldName": "title", "dataType": "VarChar", "elementTypeParams": {"max_length": 64}},
            {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": dim}},
        ],
    }


@pytest.mark.parametrize(
    ("cloud_target", "message"),
    [
        (
            _target(dim=DIM + 1),
            "mapping for target zilliz_cloud 'bad_cloud': field 'vector' has dimension 8 in row 0 "
            "but the target's dimension is 9",
        ),
        (
            _target(pk="pk"),
            "mapping for target zilliz_cloud 'bad_cloud': the target's primary key 'pk' would be missing",
        ),
    ],
    ids=["vector-dimension", "primary-key"],
)
def test_a_mapping_that_does_not_fit_one_target_imports_nothing_anywhere(
    migration_env, load_dag, capfd, cloud_target, message
):
    em = migration_env
    seed_migration(em, targets={"migrated_docs": TARGET, "bad_cloud": cloud_target})

    run = load_dag("example_migration").test(run_conf={"cloud_collection": "bad_cloud"})
    out = "".join(capfd.readouterr())
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["transform"] == "failed"
    for task_id in ("prepare", "upload", "import_into_milvus", "import_into_zilliz_cloud", "verify"):
        assert states[task_id] != "success", task_id
    assert message in out
    # nothing uploaded for the targets, no job on either service, no row landed
    assert em.stats()["jobs_created"] == {}
    run_key = run.run_id.replace(":", "_").replace("+", "_")
    listing = em.s3_client().list_objects_v2(Bucket=em.milvus_bucket, Prefix=f"migration/{run_key}")
    assert listing.get("KeyCount", 0) == 0
    for collection in ("migrated_docs", "bad_cloud"):
        stats = rest(em, "/v2/vectordb/collections/get_stats", {"collectionName": collection})
        assert int(stats["rowCount"]) == 0


def test_verify_targets_names_the_target_that_differs(migration_env):
    em = migration_env
    seed_migration(em, targets={"a_docs": TARGET, "b_docs": TARGET, "c_docs": TARGET})
    rows = [{"id": i, "title": f"t{i}", "vector": [0.25 * i] * DIM} for i in range(3)]
    changed = [dict(r) for r in rows]
    changed[1]["vector"] = [9.0] * DIM
    for collection, data in (("a_docs", rows), ("b_docs", changed), ("c_docs", rows)):
        rest(em, "/v2/vectordb/entities/insert", {"collectionName": collection, "data": data})
    milvus = {
        "conn_id": "zilliz_default",
        "collection": "a_docs",
        "job": {"job_id": "j1", "imported_rows": 3},
    }
    ids = [r["id"] for r in rows]
    bad = {"milvus": milvus, "zilliz_cloud": {"conn_id": "zilliz_cloud", "collection": "b_docs", "ids": ids}}
    with pytest.raises(VerificationError) as info:
        verify_targets(bad, exported_rows=3, transformed_rows=3, sample=rows, settle_seconds=0)
    text = str(info.value)
    assert "target zilliz_cloud: collection 'b_docs': row id=1, field 'vector'" in text
    assert "target milvus" not in text  # the equal target is not blamed

    good = {"milvus": milvus, "zilliz_cloud": {"conn_id": "zilliz_cloud", "collection": "c_docs", "ids": ids}}
    summary = verify_targets(good, exported_rows=3, sample=rows, settle_seconds=0)
    assert summary["targets"]["milvus"] == {
        "collection": "a_docs",
        "job_id": "j1",
        "imported_rows": 3,
        "rows": 3,
        "checked": ["job 'j1': 3 imported row(s) (the service's count)"],
        "sampled": 3,
        "fields": ["id", "title", "vector"],
    }
    assert summary["targets"]["zilliz_cloud"]["rows"] == 3
    assert summary["targets"]["zilliz_cloud"]["checked"] == ["3 rows with one of this run's 3 primary key(s)"]
    with pytest.raises(VerificationError, match=r"the export counted 3 row\(s\) but 2 were transformed"):
        verify_targets(good, exported_rows=3, transformed_rows=2, sample=rows)
    with pytest.raises(
        VerificationError,
        match=r"target milvus: collection 'a_docs': the import job 'j1' reported 3 imported row\(s\), expected 4",
    ):
        verify_targets(good, exported_rows=4, sample=rows, settle_seconds=0)
    # the job's own count is checked too
    short = {"milvus": {**milvus, "job": {"job_id": "j1", "imported_rows": 2}}}
    with pytest.raises(VerificationError, match=r"job 'j1' reported 2 imported row\(s\), expected 3"):
        verify_targets(short, exported_rows=3, sample=rows, settle_seconds=0)


def test_verify_counts_what_this_run_imported_not_rows_already_there(migration_env):
    """Issue 21: 10 exported, 7 landed, 3 stale rows of an earlier run already there: the collection
    holds 10 rows, which a whole-collection count called VERIFIED. Each count of this run's rows (the
    job's, its ids', its batch filter's) finds the 7; a target that names none of them is refused."""
    em = migration_env
    seed_migration(em, targets={"stale_docs": TARGET})
    stale = [{"id": 100 + i, "title": f"old {i}", "vector": [0.5] * DIM} for i in range(3)]
    landed = [{"id": i, "title": f"new {i}", "vector": [0.25 * i] * DIM} for i in range(7)]
    rest(em, "/v2/vectordb/entities/insert", {"collectionName": "stale_docs", "data": stale + landed})
    base = {"conn_id": "zilliz_default", "collection": "stale_docs"}

    with pytest.raises(
        ConfigurationError, match=r"target milvus \('stale_docs'\) does not say what this run"
    ):
        verify_targets({"milvus": base}, exported_rows=10, settle_seconds=0)
    scopes = {
        "job": (
            {"job": {"job_id": "j7", "imported_rows": 7}},
            r"job 'j7' reported 7 imported row\(s\), expected 10",
        ),
        "ids": ({"ids": list(range(10))}, r"7 rows with one of this run's 10 primary key\(s\), expected 10"),
        "filter": ({"filter": 'title like "new%"'}, r"7 rows matching 'title like \"new%\"', expected 10"),
    }
    for scope, message in scopes.values():
        with pytest.raises(VerificationError, match=message):
            verify_targets({"milvus": {**base, **scope}}, exported_rows=10, settle_seconds=0)
    # the whole collection, asked for explicitly, is what it was: 10, and is named as such
    whole = verify_targets({"milvus": {**base, "whole_collection": True}}, exported_rows=10, settle_seconds=0)
    assert whole["targets"]["milvus"]["checked"] == ["10 row(s) in the whole collection"]
    # a job that reported 7 of 7 is verified, and the result says it checked the job
    ok = verify_targets(
        {"milvus": {**base, "job": {"job_id": "j7", "imported_rows": 7}, "ids": list(range(7))}},
        exported_rows=7,
        sample=landed[:2],
        settle_seconds=0,
    )
    assert ok["targets"]["milvus"]["checked"] == [
        "job 'j7': 7 imported row(s) (the service's count)",
        "7 rows with one of this run's 7 primary key(s)",
    ]


def _export(tmp_path, dim: int = DIM, n: int = 4):
    table = pa.table(
        {
            "doc_id": pa.array(range(n), pa.int64()),
            "text": [f"t{i}" for i in range(n)],
            "city": ["beijing"] * n,
            "emb": [[0.5] * dim for _ in range(n)],
        }
    )
    folder = tmp_path / "export"
    folder.mkdir(exist_ok=True)
    pq.write_table(table, folder / "0.parquet")
    return str(folder)


GOOD = {
    "rename": {"doc_id": "id", "text": "title", "emb": "vector"},
    "drop": ["city"],
    "cast": {"vector": "float32"},
}


def test_mapping_writes_the_target_shape(tmp_path):
    result = transform_export(_export(tmp_path), GOOD, tmp_path / "out", target_schema=TARGET)
    assert result["rows"] == 4 and result["columns"] == ["id", "title", "vector"]
    table = pq.read_table(result["files"][0])
    assert table.schema.field("vector").type == pa.list_(pa.float32()) and table.column("id").to_pylist() == [
        0,
        1,
        2,
        3,
    ]


@pytest.mark.parametrize(
    ("mapping", "dim", "message"),
    [
        (
            {**GOOD, "drop": ["city", "doc_id"]},
            DIM,
            "primary key 'id' would be missing (the mapping drops its source field 'doc_id')",
        ),
        ({**GOOD, "rename": {"text": "title", "emb": "vector"}}, DIM, "primary key 'id' would be missing"),
        (GOOD, DIM + 1, "field 'vector' has dimension 9 in row 0 but the target's dimension is 8"),
        (
            {**GOOD, "function": lambda b: b.drop_columns(["id"])},
            DIM,
            "function removed the target's primary key 'id'",
        ),
        ({**GOOD, "cast": {"vector": "float16"}}, DIM, "cast of field 'vector' to 'float16'"),
        ({**GOOD, "rename": {**GOOD["rename"], "nope": "x"}}, DIM, "rename of field 'nope'"),
        ({**GOOD, "drop": ["cty"]}, DIM, "drop of field 'cty'"),
    ],
)
def test_bad_mappings_name_the_field_and_write_nothing(tmp_path, mapping, dim, message):
    with pytest.raises(MappingError, match=re.escape(message)):
        transform_export(_export(tmp_path, dim=dim), mapping, tmp_path / "out", target_schema=TARGET)
    assert not list((tmp_path / "out").glob("part-*.parquet"))


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(MappingError, match="unknown key"):
        FieldMapping.from_dict({"renames": {}})


def test_several_targets_each_checked_and_named(tmp_path):
    other = {**TARGET, "fields": [dict(f) for f in TARGET["fields"]]}
    other["fields"][2]["elementTypeParams"] = {"dim": DIM + 1}
    with pytest.raises(
        MappingError, match=re.escape("mapping for target cloud 'b': field 'vector' has dimension 8")
    ):
        transform_export(
            _export(tmp_path),
            GOOD,
            tmp_path / "out",
            target_schemas={"milvus 'a'": TARGET, "cloud 'b'": other},
        )
    # both fit: one output for both
    result = transform_export(
        _export(tmp_path), GOOD, tmp_path / "out", target_schemas={"milvus 'a'": TARGET, "cloud 'b'": TARGET}
    )
    assert result["rows"] == 4


def test_a_bad_row_in_a_later_batch_leaves_no_part_behind(tmp_path):
    n = 6
    vectors = [[0.5] * DIM for _ in range(n)]
    vectors[5] = [0.5] * (DIM + 1)  # the last batch has a vector of another dimension
    folder = tmp_path / "export"
    folder.mkdir()
    table = pa.table(
        {
            "doc_id": pa.array(range(n), pa.int64()),
            "text": [f"t{i}" for i in range(n)],
            "city": ["beijing"] * n,
            "emb": vectors,
        }
    )
    pq.write_table(table, folder / "0.parquet", row_group_size=2)
    out = tmp_path / "out"
    with pytest.raises(MappingError, match=re.escape("field 'vector' has dimension 9 in row 5")):
        transform_export(str(folder), GOOD, out, target_schema=TARGET, batch_size=2, rows_per_file=2)
    assert not list(out.glob("part-*.parquet"))  # the parts of rows 0-3 were written, then removed
