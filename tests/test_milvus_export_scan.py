"""The key-window scan against the emulator's Milvus (Milvus Lite answers queries in insertion order,
not key order): every row exactly once, in key order, with a filter and resumed after a cursor."""

from __future__ import annotations

from airflow_provider_vectorimport.emulator.examples import create_collection, rest
from airflow_provider_vectorimport.hooks.milvus_data import MilvusDataHook

pytest_plugins = ["airflow_provider_vectorimport.emulator.pytest_plugin"]

SCHEMA = {
    "autoId": False,
    "enableDynamicField": False,
    "fields": [
        {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "n", "dataType": "Int64"},
        {"fieldName": "v", "dataType": "FloatVector", "elementTypeParams": {"dim": 2}},
    ],
}


def test_scan_reads_every_row_once_in_key_order_whatever_the_answer_order(vectorimport_emulator, monkeypatch):
    em = vectorimport_emulator
    monkeypatch.setenv("AIRFLOW_CONN_ZILLIZ_DEFAULT", em.connection_env()["AIRFLOW_CONN_ZILLIZ_EMULATOR"])
    create_collection(em, "scan", SCHEMA)
    ids = [1000 - 7 * i for i in range(120)]  # inserted in descending key order
    rest(
        em,
        "/v2/vectordb/entities/insert",
        {"collectionName": "scan", "data": [{"id": i, "n": i % 3, "v": [0.1, 0.2]} for i in ids]},
    )
    hook = MilvusDataHook("zilliz_default")
    got = [r["id"] for rows, _ in hook.scan("scan", page_rows=25) for r in rows]
    assert got == sorted(ids)
    got = [r["id"] for rows, _ in hook.scan("scan", page_rows=10, filter="n == 1") for r in rows]
    assert got == sorted(i for i in ids if i % 3 == 1)
    windows = list(hook.scan("scan", page_rows=25))
    cursor = windows[1][1]
    rest_ids = [r["id"] for rows, _ in hook.scan("scan", page_rows=25, after=cursor) for r in rows]
    assert rest_ids == [i for i in sorted(ids) if i > cursor]


def test_scan_of_string_keys_splits_by_code_point_midpoints(vectorimport_emulator, monkeypatch):
    em = vectorimport_emulator
    monkeypatch.setenv("AIRFLOW_CONN_ZILLIZ_DEFAULT", em.connection_env()["AIRFLOW_CONN_ZILLIZ_EMULATOR"])
    schema = {
        "autoId": False,
        "enableDynamicField": False,
        "fields": [
            {
                "fieldName": "pk",
                "dataType": "VarChar",
                "isPrimary": True,
                "elementTypeParams": {"max_length": 32},
            },
            {"fieldName": "v", "dataType": "FloatVector", "elementTypeParams": {"dim": 2}},
        ],
    }
    create_collection(em, "scan_str", schema)
    keys = [f"{c}{i:03d}" for c in ("zeta", "Alpha", "mid", "é", "中") for i in range(0, 40, 3)][::-1]
    rest(
        em,
        "/v2/vectordb/entities/insert",
        {"collectionName": "scan_str", "data": [{"pk": k, "v": [0.1, 0.2]} for k in keys]},
    )
    got = [
        r["pk"] for rows, _ in MilvusDataHook("zilliz_default").scan("scan_str", page_rows=7) for r in rows
    ]
    assert got == sorted(keys)
