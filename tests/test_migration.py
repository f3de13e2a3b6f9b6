"""The migration example DAG (VikingDB export -> download -> transform -> prepare -> upload -> Milvus
import -> verify) with ``dag.test()`` against the local emulator, and the mapping's bad-input errors."""

from __future__ import annotations

import json
import random
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_vectorimport.transform import FieldMapping, MappingError, transform_export
from tests.test_daily_load import rest

pytest_plugins = ["airflow_provider_vectorimport.emulator.pytest_plugin"]

DIM = 8
SOURCE = {
    "autoId": False,
    "enableDynamicField": False,
    "fields": [
        {"fieldName": "doc_id", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "text", "dataType": "VarChar", "elementTypeParams": {"max_length": 64}},
        {"fieldName": "city", "dataType": "VarChar", "elementTypeParams": {"max_length": 16}},
        {"fieldName": "emb", "dataType": "FloatVector", "elementTypeParams": {"dim": DIM}},
    ],
}
TARGET = {
    "autoId": False,
    "enableDynamicField": False,
    "fields": [
        {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "title", "dataType": "VarChar", "elementTypeParams": {"max_length": 64}},
        {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": DIM}},
    ],
}


def test_migration_dag_moves_the_filtered_rows_and_verifies_them(
    vectorimport_emulator_env, monkeypatch, tmp_path, load_dag, capfd
):
    em = vectorimport_emulator_env
    env = em.connection_env()
    for ours, theirs in (
        ("ZILLIZ_DEFAULT", "ZILLIZ_EMULATOR"),
        ("AWS_DEFAULT", "S3_EMULATOR"),
        ("VIKINGDB_DEFAULT", "VIKINGDB_EMULATOR"),
    ):
        monkeypatch.setenv(f"AIRFLOW_CONN_{ours}", env[f"AIRFLOW_CONN_{theirs}"])
    monkeypatch.setenv("VECTORIMPORT_WORK_DIR", str(tmp_path / "work"))
    rng = random.Random(7)
    rows = [
        {
            "doc_id": i,
            "text": f"doc {i}",
            "city": "beijing" if i % 3 else "shanghai",
            "emb": [round(rng.uniform(-1, 1), 4) for _ in range(DIM)],
        }
        for i in range(60)
    ]
    rest(em, "/v2/vectordb/collections/create", {"collectionName": "viking_docs", "schema": SOURCE})
    rest(em, "/v2/vectordb/entities/insert", {"collectionName": "viking_docs", "data": rows})
    rest(em, "/v2/vectordb/collections/create", {"collectionName": "migrated_docs", "schema": TARGET})

    run = load_dag("example_migration").test()
    out = "".join(capfd.readouterr())
    assert run.state == "success", out[-3000:]
    (line,) = re.findall(r"VECTORIMPORT_MIGRATION (\{.*\})", out)
    summary = json.loads(line)
    expected = [r for r in rows if r["city"] == "beijing"]
    assert (
        summary["exported_rows"]
        == summary["transformed_rows"]
        == summary["target_rows"]
        == len(expected)
        == 40
    )
    assert summary["imported_rows"] == 40 and summary["sampled"] == 5
    assert summary["fields"] == ["id", "title", "vector"]
    assert em.stats()["jobs_created"] == {"migrated_docs": 1}
    # the rows really are the filtered source rows, renamed: a read-back independent of the verify step
    got = rest(
        em,
        "/v2/vectordb/entities/query",
        {
            "collectionName": "migrated_docs",
            "filter": "id in [1, 2, 3]",
            "outputFields": ["id", "title", "vector"],
            "limit": 3,
        },
    )
    by_id = {r["id"]: r for r in got}
    assert sorted(by_id) == [1, 2]  # 3 is a shanghai row, filtered out by filter_conds
    assert by_id[2]["title"] == "doc 2" and by_id[2]["vector"] == pytest.approx(rows[2]["emb"], abs=1e-6)


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
