"""The data side of the VikingDB emulation over the emulator's real parts (Milvus Lite + moto S3):
filters, export formats, import with and without ignore_error, filter_delete."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests

from airflow_provider_vectorimport.emulator import Emulator
from airflow_provider_vectorimport.emulator.vikingdb_backend import (
    BackendError,
    EmulatorVikingDBBackend,
    matches,
    split_tos_path,
)

pytest_plugins = ["airflow_provider_vectorimport.emulator.pytest_plugin"]

BUCKET = "vectorimport-demo"


@pytest.fixture
def backend(vectorimport_emulator: Emulator) -> EmulatorVikingDBBackend:
    emu = vectorimport_emulator
    resp = requests.post(
        emu.url + "/v2/vectordb/collections/create",
        json={
            "collectionName": "items",
            "schema": {
                "fields": [
                    {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
                    {"fieldName": "vector", "dataType": "FloatVector", "elementTypeParams": {"dim": 2}},
                    {"fieldName": "city", "dataType": "VarChar", "elementTypeParams": {"max_length": 16}},
                    {"fieldName": "price", "dataType": "Double"},
                ]
            },
        },
        headers={"Authorization": f"Bearer {emu.api_key}"},
        timeout=10,
    )
    assert resp.json()["code"] == 0
    items = [
        {
            "id": i,
            "vector": [float(i), 1.0],
            "city": ["beijing", "shanghai", "hangzhou"][i % 3],
            "price": i * 1.5,
        }
        for i in range(12)
    ]
    emu.collections.insert("default", "items", items)
    return EmulatorVikingDBBackend(emu.collections, emu.objects)


def test_filters() -> None:
    row = {"id": 3, "city": "beijing", "price": 4.5, "tags": ["a", "b"]}
    assert matches(row, None) and matches(row, {})
    assert matches(row, {"city": ["beijing", "x"], "id": [3]})
    assert not matches(row, {"city": ["x"]})
    assert matches(row, {"op": "must", "field": "tags", "conds": ["b"]})
    assert not matches(row, {"op": "must_nor", "field": "city", "conds": ["beijing"]})
    assert matches(row, {"op": "range", "field": "price", "gte": 4.5, "lt": 5})
    assert not matches(row, {"op": "range", "field": "price", "gt": 4.5})
    assert matches(
        row,
        {
            "op": "and",
            "conds": [
                {"op": "must", "field": "city", "conds": ["beijing"]},
                {
                    "op": "or",
                    "conds": [
                        {"op": "must", "field": "id", "conds": [9]},
                        {"op": "range", "field": "id", "lte": 3},
                    ],
                },
            ],
        },
    )
    with pytest.raises(ValueError, match="unsupported filter op 'near'"):
        matches(row, {"op": "near", "field": "city"})
    with pytest.raises(ValueError, match="needs a list of conds"):
        matches(row, {"op": "must", "field": "city", "conds": "beijing"})
    assert split_tos_path("bkt/a/b/") == ("bkt", "a/b/")
    assert split_tos_path("bkt") == ("bkt", "")
    with pytest.raises(BackendError, match="tos_path"):
        split_tos_path("")


def test_export_parquet_and_json_with_filters(
    vectorimport_emulator: Emulator, backend: EmulatorVikingDBBackend
) -> None:
    s3 = vectorimport_emulator.s3_client()
    info = backend.export(
        "items",
        filter={"op": "range", "field": "price", "gte": 9},
        export_all=False,
        tos_path=f"{BUCKET}/exp/parquet",
        file_type="parquet",
    )
    assert info["total_data_count"] == 12 and info["total_filter_count"] == 6
    assert info["files"] == [f"{BUCKET}/exp/parquet/0.parquet"]
    table = pq.read_table(
        io.BytesIO(s3.get_object(Bucket=BUCKET, Key="exp/parquet/0.parquet")["Body"].read())
    )
    assert sorted(table.column("id").to_pylist()) == list(range(6, 12))
    assert set(table.column_names) >= {"id", "vector", "city", "price"}

    info = backend.export(
        "items",
        filter={"city": ["hangzhou"]},
        export_all=True,
        tos_path=f"{BUCKET}/exp/all",
        file_type="json",
    )
    assert info["total_filter_count"] == 12, "export_all ignores the filter"
    lines = s3.get_object(Bucket=BUCKET, Key="exp/all/0.json")["Body"].read().decode().splitlines()
    assert len(lines) == 12 and json.loads(lines[0])["vector"]

    with pytest.raises(BackendError, match="file_type"):
        backend.export("items", filter=None, export_all=True, tos_path=f"{BUCKET}/x", file_type="csv")
    with pytest.raises(BackendError, match="collection not exist: ghost"):
        backend.export("ghost", filter=None, export_all=True, tos_path=f"{BUCKET}/x", file_type="parquet")
    with pytest.raises(BackendError, match="no-such-bucket"):
        backend.export(
            "items", filter=None, export_all=True, tos_path="no-such-bucket/x", file_type="parquet"
        )


def test_import_validates_rows_and_ignore_error(
    vectorimport_emulator: Emulator, backend: EmulatorVikingDBBackend
) -> None:
    emu = vectorimport_emulator
    s3 = emu.s3_client()
    good = [{"id": 100 + i, "vector": [0.5, 0.5], "city": "x", "price": 1.0} for i in range(4)]
    bad = [{"id": 200, "vector": [0.5], "city": "x", "price": 1.0}]
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(good), buf)
    s3.put_object(Bucket=BUCKET, Key="imp/a.parquet", Body=buf.getvalue())
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(bad), buf)
    s3.put_object(Bucket=BUCKET, Key="imp/b.parquet", Body=buf.getvalue())

    with pytest.raises(BackendError, match=r"imp/b.parquet: row 0: field 'vector'.*dim=2"):
        backend.import_rows("items", tos_path=f"{BUCKET}/imp", file_type="parquet", ignore_error=False)
    assert emu.collections.count("default", "items") == 12, "a failing import loads nothing"

    info = backend.import_rows("items", tos_path=f"{BUCKET}/imp", file_type="parquet", ignore_error=True)
    assert info["scan_data_count"] == 5 and info["total_filter_count"] == 4
    assert "imp/b.parquet" in info["err_msg"]
    assert emu.collections.count("default", "items") == 16
    with pytest.raises(BackendError, match=r"no \.json files"):
        backend.import_rows("items", tos_path=f"{BUCKET}/imp", file_type="json", ignore_error=False)


def test_delete_rows(vectorimport_emulator: Emulator, backend: EmulatorVikingDBBackend) -> None:
    info = backend.delete_rows("items", filter={"op": "must", "field": "city", "conds": ["beijing"]})
    assert info["total_filter_count"] == 4
    remaining = backend.collection_rows("items", ["city"])
    assert len(remaining) == 8 and all(r["city"] != "beijing" for r in remaining)


def test_stats_count_tasks_per_collection_and_type(
    vectorimport_emulator: Emulator, backend: EmulatorVikingDBBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``/_emulator/stats`` over HTTP; the Milvus Lite backend applies ``filter_conds``."""
    from airflow_provider_vectorimport.hooks.vikingdb import VikingDBHook

    emu = vectorimport_emulator
    for name, value in emu.connection_env().items():
        monkeypatch.setenv(name, value)
    hook = VikingDBHook("vikingdb_emulator")
    conds = [
        {"op": "must", "field": "city", "conds": ["shanghai"]},
        {"op": "range", "field": "price", "lt": 9},
    ]
    hook.create_task(
        "data_export", {"collection_name": "items", "tos_path": f"{BUCKET}/st/a", "filter_conds": conds}
    )
    hook.create_task(
        "data_export", {"collection_name": "items", "tos_path": f"{BUCKET}/st/b", "export_all": True}
    )
    hook.create_task("data_import", {"collection_name": "items", "tos_path": f"{BUCKET}/st/none"})
    stats = requests.get(emu.url + "/_emulator/stats", timeout=10).json()["data"]
    assert stats["vikingdb_tasks_created"] == {"items": 3}
    assert stats["vikingdb_tasks_created_by_type"] == {"items": {"data_export": 2, "data_import": 1}}
    info = backend.export(
        "items",
        filter=None,
        filter_conds=conds,
        export_all=False,
        tos_path=f"{BUCKET}/st/c",
        file_type="json",
    )
    assert info["total_filter_count"] == 2  # ids 1 and 4: shanghai with price 1.5 and 6.0
