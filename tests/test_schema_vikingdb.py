"""VikingDB imports of prepared files, end to end against the emulator: the schema is read from
the live collection (``/api/collection/info``), ``prepare`` writes what the data_import task reads
(``target="vikingdb"``: parquet / JSON-lines ``.json``), the upload manifest goes to the import
operator, and the right rows land. A changed collection stops the task before it is created.
Also: ``prepare`` from a collection through the operator and the CLI, and their bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pyarrow.parquet as pq
import pytest
import requests
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_vectorimport.exceptions import ConfigurationError
from airflow_provider_vectorimport.hooks.object_storage import ObjectStorageHook
from airflow_provider_vectorimport.hooks.vikingdb import VikingDBHook
from airflow_provider_vectorimport.operators.prepare import PrepareImportFilesOperator
from airflow_provider_vectorimport.operators.vikingdb import VikingDBImportOperator
from airflow_provider_vectorimport.preflight import SchemaMismatchError
from airflow_provider_vectorimport.prepare import prepare_files
from tests.runtime import FakeTI, context

pytest_plugins = ["airflow_provider_vectorimport.emulator.pytest_plugin"]

FIELDS = [
    {"field_name": "id", "field_type": "int64"},
    {"field_name": "vector", "field_type": "vector", "dim": 4},
    {"field_name": "title", "field_type": "string"},
    {"field_name": "price", "field_type": "float32"},
    {"field_name": "online", "field_type": "bool"},
    {"field_name": "tags", "field_type": "list<string>"},
]


def rows(n: int = 25) -> list[dict]:
    return [
        {
            "id": i,
            "vector": [i / 10, 0.5, -0.5, 1.0],
            "title": f"title {i}",
            "price": i * 1.5,
            "online": i % 2 == 0,
            "tags": [f"t{i}", "all"],
        }
        for i in range(n)
    ]


def create_vikingdb_collection(name: str, fields: list[dict] = FIELDS) -> None:
    VikingDBHook("vikingdb_emulator").get_conn().request(
        "POST",
        "/api/collection/create",
        json={"collection_name": name, "primary_key": "id", "fields": fields},
    )


def prepare_and_upload(em, name: str, tmp_path, fmt: str) -> dict:
    src = tmp_path / "in.json"
    src.write_text(json.dumps({"rows": rows()}))
    op = PrepareImportFilesOperator(
        task_id="prepare",
        inputs=[str(src)],
        schema_from={"conn_id": "vikingdb_emulator", "collection": name},
        output_dir=str(tmp_path / f"out-{fmt}"),
        format=fmt,
        target="vikingdb",
    )
    manifest = op.execute(context(FakeTI()))
    assert manifest["format"] == fmt and manifest["schema_file"] == "schema.json"
    upload = ObjectStorageHook("s3_emulator").upload(
        em.milvus_bucket, f"viking/{name}/{fmt}", manifest=manifest
    )
    assert upload["tos_path"] == f"{em.milvus_bucket}/viking/{name}/{fmt}" and upload["schema"]
    return upload


@pytest.mark.parametrize("fmt", ["parquet", "json"])
def test_vikingdb_import_of_prepared_files_lands_the_right_rows(vectorimport_emulator_env, tmp_path, fmt):
    em = vectorimport_emulator_env
    name = f"vk_{uuid.uuid4().hex[:8]}"
    create_vikingdb_collection(name)
    upload = prepare_and_upload(em, name, tmp_path, fmt)
    if fmt == "json":  # JSON lines in .json files, as VikingDB exports them
        key = next(k for g in upload["files"] for k in g)
        body = em.s3_client().get_object(Bucket=em.milvus_bucket, Key=key)["Body"].read().decode()
        assert key.endswith(".json") and json.loads(body.splitlines()[0])["title"] == "title 0"
    op = VikingDBImportOperator(
        task_id="import",
        vikingdb_conn_id="vikingdb_emulator",
        collection_name=name,
        tos_path=upload,  # the upload manifest: its tos_path and format
        deferrable=False,
        poll_interval=0.05,
    )
    summary = op.execute(context(FakeTI()))
    assert summary["state"] == "completed"
    landed = sorted(em.collections.scan("default", name), key=lambda r: r["id"])
    assert [r["id"] for r in landed] == list(range(25))
    assert (
        landed[7]["title"] == "title 7"
        and landed[7]["tags"] == ["t7", "all"]
        and landed[7]["online"] is False
    )
    assert landed[3]["price"] == pytest.approx(4.5) and landed[3]["vector"] == pytest.approx(
        [0.3, 0.5, -0.5, 1.0]
    )


def test_vikingdb_collection_changed_fails_at_preflight_no_task(vectorimport_emulator_env, tmp_path):
    em = vectorimport_emulator_env
    name = f"vk_{uuid.uuid4().hex[:8]}"
    create_vikingdb_collection(name)
    upload = prepare_and_upload(em, name, tmp_path, "parquet")
    requests.post(  # the collection is recreated without "online" and with dim 8
        f"{em.url}/v2/vectordb/collections/drop",
        json={"collectionName": name},
        headers={"Authorization": f"Bearer {em.api_key}"},
        timeout=30,
    )
    changed = [f for f in FIELDS if f["field_name"] != "online"]
    changed[1] = {"field_name": "vector", "field_type": "vector", "dim": 8}
    create_vikingdb_collection(name, changed)
    op = VikingDBImportOperator(
        task_id="import", vikingdb_conn_id="vikingdb_emulator", collection_name=name, tos_path=upload
    )
    with pytest.raises(SchemaMismatchError) as err:
        op.execute(context(FakeTI()))
    text = str(err.value)
    assert f"collection {name!r}" in text
    assert "field 'vector': dimension changed: files 4, collection 8" in text
    assert "field 'online': in the files, not in the collection" in text
    assert em.stats()["vikingdb_tasks_created"] == {}


def test_vikingdb_preflight_without_manifest_reads_the_first_file(vectorimport_emulator_env, tmp_path):
    em = vectorimport_emulator_env
    name = f"vk_{uuid.uuid4().hex[:8]}"
    create_vikingdb_collection(name, [f for f in FIELDS if f["field_name"] != "tags"])
    out = tmp_path / "files"
    prepare_files(rows(), {"fields": _milvus_fields(with_tags=True)}, out, target="vikingdb")
    s3 = em.s3_client()
    for path in out.glob("*.parquet"):
        s3.put_object(Bucket=em.milvus_bucket, Key=f"raw/{name}/{path.name}", Body=path.read_bytes())
    op = VikingDBImportOperator(
        task_id="import",
        vikingdb_conn_id="vikingdb_emulator",
        collection_name=name,
        tos_path=f"{em.milvus_bucket}/raw/{name}",
        storage_conn_id="s3_emulator",
    )
    with pytest.raises(SchemaMismatchError, match=r"field 'tags': in the files, not in the collection"):
        op.execute(context(FakeTI()))
    assert em.stats()["vikingdb_tasks_created"] == {}


def _milvus_fields(with_tags: bool) -> list[dict]:
    fields = [
        {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": 4}},
        {"fieldName": "title", "dataType": "VarChar", "elementTypeParams": {"max_length": 65535}},
        {"fieldName": "price", "dataType": "Float"},
        {"fieldName": "online", "dataType": "Bool"},
    ]
    if with_tags:
        fields.append(
            {
                "fieldName": "tags",
                "dataType": "Array",
                "elementDataType": "VarChar",
                "elementTypeParams": {"max_capacity": 4096, "max_length": 65535},
            }
        )
    return fields


# ------------------------------------------------------------------------ prepare's bad input
def test_prepare_target_vikingdb_rejects_what_vikingdb_cannot_read(tmp_path):
    schema = {"fields": [*_milvus_fields(False), {"fieldName": "ratio", "dataType": "Double"}]}
    with pytest.raises(ConfigurationError, match=r"field 'ratio': Double"):
        prepare_files(rows(), schema, tmp_path / "a", target="vikingdb")
    with pytest.raises(ConfigurationError, match="parquet or json files, not 'numpy'"):
        prepare_files(
            rows(), {"fields": _milvus_fields(False)}, tmp_path / "b", target="vikingdb", format="numpy"
        )
    sparse = {"fields": [*_milvus_fields(False), {"fieldName": "sp", "dataType": "SparseFloatVector"}]}
    with pytest.raises(
        ConfigurationError, match=r"field 'sp': sparse_vector .* not supported by this provider yet"
    ):
        prepare_files(rows(), sparse, tmp_path / "c", target="vikingdb")
    assert not any(tmp_path.iterdir())  # nothing written


def test_prepare_operator_schema_source_bad_input(vectorimport_emulator_env, tmp_path):
    out = tmp_path / "never"
    both = PrepareImportFilesOperator(
        task_id="p",
        inputs=["x.json"],
        schema={"fields": []},
        schema_from="zilliz_emulator:c",
        output_dir=str(out),
    )
    with pytest.raises(AirflowFailException, match="not both"):
        both.execute(context(FakeTI()))
    missing = PrepareImportFilesOperator(
        task_id="p", inputs=["x.json"], schema_from="zilliz_emulator:no_such_coll", output_dir=str(out)
    )
    with pytest.raises(AirflowFailException, match="collection 'no_such_coll' does not exist"):
        missing.execute(context(FakeTI()))
    assert not out.exists()  # nothing prepared


def test_cli_prepare_from_collection(vectorimport_emulator_env, tmp_path):
    em = vectorimport_emulator_env
    name = f"vk_{uuid.uuid4().hex[:8]}"
    create_vikingdb_collection(name)
    src = tmp_path / "in.json"
    src.write_text(json.dumps({"rows": rows(5)}))
    env = {**os.environ, **em.connection_env()}
    cmd = [sys.executable, "-m", "airflow_provider_vectorimport.cli", "prepare", str(src)]
    proc = subprocess.run(
        [
            *cmd,
            "--from-collection",
            f"vikingdb_emulator:{name}",
            "--target",
            "vikingdb",
            "--out",
            str(tmp_path / "o"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    manifest = json.loads(proc.stdout)
    assert manifest["total_rows"] == 5 and manifest["schema_source"]["collection"] == name
    schema_doc = json.loads((tmp_path / "o" / "schema.json").read_text())
    assert schema_doc["fingerprint"] == manifest["schema_fingerprint"]
    assert pq.read_table(tmp_path / "o" / manifest["files"][0]["path"]).column_names == [
        f["field_name"] for f in FIELDS
    ]
    proc = subprocess.run(
        [*cmd, "--from-collection", "vikingdb_emulator:nope", "--out", str(tmp_path / "n")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and "collection 'nope' does not exist" in proc.stderr
    assert not (tmp_path / "n").exists()


def test_without_the_check_the_emulator_fails_the_import_naming_the_field(
    vectorimport_emulator_env, tmp_path
):
    """What the preflight saves you from: the service (here the emulator, as documented) fails the
    task later, naming the field."""
    from airflow_provider_vectorimport.exceptions import JobFailedError

    em = vectorimport_emulator_env
    name = f"vk_{uuid.uuid4().hex[:8]}"
    create_vikingdb_collection(name)
    upload = prepare_and_upload(em, name, tmp_path, "parquet")
    requests.post(
        f"{em.url}/v2/vectordb/collections/drop",
        json={"collectionName": name},
        headers={"Authorization": f"Bearer {em.api_key}"},
        timeout=30,
    )
    create_vikingdb_collection(name, [f for f in FIELDS if f["field_name"] != "title"])
    op = VikingDBImportOperator(
        task_id="import",
        vikingdb_conn_id="vikingdb_emulator",
        collection_name=name,
        tos_path=upload,
        schema_check=False,
        deferrable=False,
        poll_interval=0.05,
    )
    with pytest.raises(JobFailedError, match=r"field 'title': not in the collection schema"):
        op.execute(context(FakeTI()))
    assert em.stats()["vikingdb_tasks_created"] == {name: 1}
