"""The schema preflight: one test per difference kind it detects (schema vs schema, and file columns
vs schema), then against the emulator: a DAG whose collection changed between prepare and import
fails at the preflight with the difference named and no job created; the operators' bad-input paths."""

from __future__ import annotations

import json
import uuid
from copy import deepcopy
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_vectorimport.emulator.examples import rest
from airflow_provider_vectorimport.preflight import (
    Column,
    SchemaMismatchError,
    check_manifest,
    compare_columns,
    compare_schemas,
    first_file_columns,
    read_columns,
    run_preflight,
)
from airflow_provider_vectorimport.prepare.schema import CollectionSchema
from airflow_provider_vectorimport.schema_source import CollectionNotFoundError
from tests.runtime import FakeTI, context

pytest_plugins = ["airflow_provider_vectorimport.emulator.pytest_plugin"]

BASE = {
    "autoId": False,
    "enableDynamicField": False,
    "fields": [
        {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "title", "dataType": "VarChar", "elementTypeParams": {"max_length": 64}},
        {
            "fieldName": "tags",
            "dataType": "Array",
            "elementDataType": "Int64",
            "elementTypeParams": {"max_capacity": 4},
        },
        {"fieldName": "score", "dataType": "Float", "defaultValue": 0.5},
        {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": 8}},
    ],
}


def schema(**changes) -> CollectionSchema:
    body = deepcopy(BASE)
    for name, update in changes.items():
        if name == "_top":
            body.update(update)
            continue
        fields = body["fields"]
        index = next((i for i, f in enumerate(fields) if f["fieldName"] == name), None)
        if update is None:
            fields.pop(index)
        elif index is None:
            fields.append(update)
        else:
            fields[index] = {**fields[index], **update}
    return CollectionSchema.from_dict(body)


def kinds(diffs) -> list[tuple[str, str | None]]:
    return [(d.kind, d.field) for d in diffs]


# ------------------------------------------------------------------------ schema vs schema: one per kind
def test_same_schema_no_difference():
    assert compare_schemas(schema(), schema()) == []


def test_detects_missing_field():
    live = schema(lang={"fieldName": "lang", "dataType": "VarChar", "elementTypeParams": {"max_length": 8}})
    diffs = compare_schemas(schema(), live)
    assert kinds(diffs) == [("missing", "lang")]
    assert "field 'lang': in the collection, missing from the files" in diffs[0].describe()


def test_detects_extra_field():
    assert kinds(compare_schemas(schema(), schema(title=None))) == [("extra", "title")]


def test_detects_type_change():
    diffs = compare_schemas(schema(), schema(score={"dataType": "Double", "defaultValue": None}))
    assert kinds(diffs) == [("type", "score")] and (diffs[0].expected, diffs[0].actual) == ("Float", "Double")


def test_detects_array_element_type_change():
    live = schema(tags={"elementDataType": "Int32"})
    assert [(d.kind, d.expected, d.actual) for d in compare_schemas(schema(), live)] == [
        ("type", "Array<Int64>", "Array<Int32>")
    ]


def test_detects_dimension_change():
    diffs = compare_schemas(schema(), schema(vector={"elementTypeParams": {"dim": 16}}))
    assert kinds(diffs) == [("dimension", "vector")]
    assert "field 'vector': dimension changed: files 8, collection 16" in diffs[0].describe()


def test_detects_nullability_change():
    diffs = compare_schemas(schema(), schema(title={"nullable": True}))
    assert [(d.kind, d.field, d.expected, d.actual) for d in diffs] == [("nullable", "title", False, True)]


def test_detects_dynamic_field_switch():
    diffs = compare_schemas(schema(_top={"enableDynamicField": True}), schema())
    assert kinds(diffs) == [("dynamic", None)]
    assert "dynamic field ($meta): files on, collection off" in diffs[0].describe()


def test_detects_primary_key_change():
    live = schema(
        id={"isPrimary": False},
        title={"isPrimary": True},
    )
    assert ("primary_key", None) in kinds(compare_schemas(schema(), live))


def test_detects_auto_id_change():
    diffs = compare_schemas(schema(), schema(id={"autoId": True}))
    assert kinds(diffs) == [("auto_id", "id")]


def test_detects_max_length_change():
    diffs = compare_schemas(schema(), schema(title={"elementTypeParams": {"max_length": 32}}))
    assert [(d.kind, d.expected, d.actual) for d in diffs] == [("max_length", 64, 32)]


def test_detects_max_capacity_change():
    diffs = compare_schemas(schema(), schema(tags={"elementTypeParams": {"max_capacity": 2}}))
    assert kinds(diffs) == [("max_capacity", "tags")]


def test_detects_default_value_change():
    diffs = compare_schemas(schema(), schema(score={"defaultValue": 1.5}))
    assert [(d.kind, d.expected, d.actual) for d in diffs] == [("default_value", 0.5, 1.5)]


def test_detects_fingerprint_change_when_the_manifest_has_no_schema():
    manifest = {"schema_fingerprint": schema().fingerprint}
    assert check_manifest(manifest, schema()) == []
    diffs = check_manifest(manifest, schema(title={"elementTypeParams": {"max_length": 65}}))
    assert kinds(diffs) == [("fingerprint", None)]


def test_manifest_schema_file_next_to_the_files(tmp_path):
    (tmp_path / "schema.json").write_text(json.dumps(schema().to_dict()))
    diffs = check_manifest({"root": str(tmp_path)}, schema(vector={"elementTypeParams": {"dim": 4}}))
    assert kinds(diffs) == [("dimension", "vector")]


def test_error_names_the_collection_and_every_difference():
    diffs = compare_schemas(schema(), schema(title=None, vector={"elementTypeParams": {"dim": 4}}))
    err = SchemaMismatchError("articles", diffs)
    text = str(err)
    assert (
        "collection 'articles'" in text and "2 difference(s)" in text and "no import job was created" in text
    )
    assert "field 'title'" in text and "field 'vector': dimension changed: files 8, collection 4" in text


# ------------------------------------------------------------------------ file columns vs schema
def parquet_file(path: Path, **columns) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


def good_columns(n: int = 3, dim: int = 8) -> dict:
    vectors = np.random.default_rng(0).standard_normal((n, dim)).astype("float32")
    return {
        "id": pa.array(range(n), pa.int64()),
        "title": [f"t{i}" for i in range(n)],
        "tags": pa.array([[1, 2]] * n, pa.list_(pa.int64())),
        "score": pa.array([0.1] * n, pa.float32()),
        "vector": pa.array(vectors.tolist(), pa.list_(pa.float32())),
    }


def file_diffs(tmp_path: Path, live: CollectionSchema | None = None, **overrides) -> list:
    cols = good_columns()
    for name, value in overrides.items():
        if value is None:
            cols.pop(name)
        else:
            cols[name] = value
    path = parquet_file(tmp_path / "part-0.parquet", **cols)
    return kinds(compare_columns(first_file_columns(str(path)), live or schema()))


def test_file_matching_the_collection(tmp_path):
    assert file_diffs(tmp_path) == []


def test_file_missing_required_column_but_not_one_with_a_default(tmp_path):
    assert file_diffs(tmp_path, title=None) == [("missing", "title")]
    assert file_diffs(tmp_path, score=None) == []  # score has a default value


def test_file_extra_column(tmp_path):
    assert file_diffs(tmp_path, lang=pa.array(["en"] * 3)) == [("extra", "lang")]


def test_file_type_mismatch(tmp_path):
    assert file_diffs(tmp_path, title=pa.array([1, 2, 3], pa.int64())) == [("type", "title")]


def test_file_dimension_mismatch(tmp_path):
    vec = pa.array(np.zeros((3, 4), "float32").tolist(), pa.list_(pa.float32()))
    (diff,) = compare_columns(
        first_file_columns(str(parquet_file(tmp_path / "a.parquet", **{**good_columns(), "vector": vec}))),
        schema(),
    )
    assert (diff.kind, diff.field, diff.expected, diff.actual) == ("dimension", "vector", 4, 8)


def test_file_nulls_in_a_non_nullable_field(tmp_path):
    assert file_diffs(tmp_path, title=pa.array(["a", None, "c"])) == [("nullable", "title")]


def test_file_dynamic_column_when_the_collection_has_none(tmp_path):
    assert file_diffs(tmp_path, **{"$meta": pa.array(['{"a": 1}'] * 3)}) == [("dynamic", None)]


def test_file_holds_an_auto_id_key(tmp_path):
    assert file_diffs(tmp_path, live=schema(id={"autoId": True})) == [("auto_id", "id")]


def test_first_rows_of_json_forms_and_numpy_headers(tmp_path):
    rows = [{"id": i, "vector": [0.0] * 8} for i in range(3)]
    (tmp_path / "a.json").write_text(json.dumps({"rows": rows}))
    (tmp_path / "b.json").write_text(json.dumps(rows))
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    for name in ("a.json", "b.json", "c.jsonl"):
        cols = {c.name: c for c in first_file_columns(str(tmp_path / name))}
        assert cols["vector"].width == 8 and pa.types.is_integer(cols["id"].type), name
    np.save(tmp_path / "vector.npy", np.zeros((5, 6), "float32"))
    (col,) = read_columns(lambda: open(tmp_path / "vector.npy", "rb"), "vector.npy")
    assert (col.name, col.width) == ("vector", 6)
    assert ("dimension", "vector") in kinds(
        compare_columns([Column("vector", col.type, col.width)], schema())
    )


# ------------------------------------------------------------------------ against the emulator
def test_first_file_read_from_the_bucket_with_ranged_gets(vectorimport_emulator_env):
    em = vectorimport_emulator_env
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table(good_columns(n=500)), sink)
    key = f"pf/{uuid.uuid4().hex[:6]}/part-0.parquet"
    em.s3_client().put_object(Bucket=em.milvus_bucket, Key=key, Body=sink.getvalue().to_pybytes())
    by_url = first_file_columns(f"s3://{em.milvus_bucket}/{key}", storage_conn_id="s3_emulator")
    by_folder = first_file_columns(
        f"s3://{em.milvus_bucket}/{key.rsplit('/', 1)[0]}/", storage_conn_id="s3_emulator"
    )
    assert by_url == by_folder and {c.name: c.width for c in by_url}["vector"] == 8
    assert first_file_columns(f"s3://{em.milvus_bucket}/{key}") is None  # no storage connection: skipped


def test_preflight_names_a_missing_collection_before_anything(vectorimport_emulator_env):
    with pytest.raises(CollectionNotFoundError, match="collection 'ghost' does not exist"):
        run_preflight(conn_id="zilliz_emulator", collection="ghost", manifest={"schema": schema().to_dict()})
    assert vectorimport_emulator_env.stats()["jobs_created"] == {}


def test_import_operator_fails_at_preflight_and_creates_no_job(vectorimport_emulator_env):
    from airflow_provider_vectorimport.operators.zilliz import ZillizImportOperator

    em = vectorimport_emulator_env
    name = f"pf_{uuid.uuid4().hex[:8]}"
    live = deepcopy(BASE)
    live["fields"][4]["elementTypeParams"]["dim"] = 16
    rest(em, "/v2/vectordb/collections/create", {"collectionName": name, "schema": live})
    manifest = {"files": [["x/part-0.parquet"]], "schema": schema().to_dict(), "schema_fingerprint": "x"}
    op = ZillizImportOperator(
        task_id="import", zilliz_conn_id="zilliz_emulator", collection_name=name, files=manifest
    )
    with pytest.raises(SchemaMismatchError) as err:
        op.execute(context(FakeTI()))
    assert f"collection {name!r}" in str(err.value)
    assert "field 'vector': dimension changed: files 8, collection 16" in str(err.value)
    assert em.stats()["jobs_created"] == {}
    # switched off: the job is created (and the service fails it later)
    op = ZillizImportOperator(
        task_id="import",
        zilliz_conn_id="zilliz_emulator",
        collection_name=name,
        files=manifest,
        schema_check=False,
        wait_for_completion=False,
    )
    op.execute(context(FakeTI()))
    assert em.stats()["jobs_created"] == {name: 1}


def test_dag_collection_changed_between_prepare_and_import(
    load_dag, vectorimport_emulator_env, monkeypatch, tmp_path, capfd
):
    em = vectorimport_emulator_env
    name = f"pf_{uuid.uuid4().hex[:8]}"
    created = deepcopy(BASE)
    rest(em, "/v2/vectordb/collections/create", {"collectionName": name, "schema": created})
    rows = [
        {"id": i, "title": f"t{i}", "tags": [i], "score": 0.25, "vector": [float(i)] * 8} for i in range(20)
    ]
    (tmp_path / "in.json").write_text(json.dumps({"rows": rows}))
    changed = deepcopy(BASE)
    changed["fields"][4]["elementTypeParams"]["dim"] = 16
    env = {
        "COLLECTION": name,
        "INPUT": str(tmp_path / "in.json"),
        "OUT": str(tmp_path / "prepared"),
        "BUCKET": em.milvus_bucket,
        "URL": em.url,
        "KEY": em.api_key,
        "NEW_SCHEMA": json.dumps(changed),
    }
    for key, value in env.items():
        monkeypatch.setenv(f"VECTORIMPORT_PREFLIGHT_{key}", value)
    run = load_dag("schema_preflight").test()
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["prepare"] == states["upload"] == states["change"] == "success"
    assert states["import"] == "failed"
    logs = "".join(capfd.readouterr())
    assert f"collection {name!r} does not match the files to import" in logs
    assert "field 'vector': dimension changed: files 8, collection 16" in logs
    assert em.stats()["jobs_created"] == {}  # the counter stays at 0
    written = json.loads((tmp_path / "prepared" / "schema.json").read_text())
    assert written["source"] == {"conn_id": "zilliz_emulator", "collection": name}
    assert written["fingerprint"] == CollectionSchema.from_dict(created).fingerprint


def test_an_unreadable_first_file_skips_the_check_without_a_request(vectorimport_emulator_env):
    em = vectorimport_emulator_env
    before = em.stats()["requests_by_path"].get("/v2/vectordb/collections/describe", 0)
    diffs = run_preflight(
        conn_id="zilliz_emulator",
        collection="anything",
        first_file=f"s3://{em.milvus_bucket}/no/such/file.parquet",
        storage_conn_id="s3_emulator",
    )
    assert diffs == []
    assert em.stats()["requests_by_path"].get("/v2/vectordb/collections/describe", 0) == before
