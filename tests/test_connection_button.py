"""The UI's connection Test button (every hook's ``test_connection``) against the emulator and moto:
one read-only call, and each wrong setting reported as its own kind, never with the secret."""

from __future__ import annotations

import json

import pytest

from airflow_provider_vectorimport.hooks.object_storage import ObjectStorageHook
from airflow_provider_vectorimport.hooks.vikingdb import VikingDBHook
from airflow_provider_vectorimport.hooks.zilliz import ZillizHook

pytest_plugins = ["airflow_provider_vectorimport.emulator.pytest_plugin"]

UNREACHABLE = "http://127.0.0.1:9"  # discard port: nothing listens


def _conn(monkeypatch, name: str, conn: dict, **changes) -> str:
    conn = json.loads(json.dumps(conn))
    extra = changes.pop("extra", None)
    conn.update(changes)
    if extra is not None:
        conn["extra"] = {**conn.get("extra", {}), **extra}
        conn["extra"] = {k: v for k, v in conn["extra"].items() if v is not None}
    monkeypatch.setenv(f"AIRFLOW_CONN_{name.upper()}", json.dumps(conn))
    return name


def _base(emulator, key: str) -> dict:
    return json.loads(emulator.connection_env()[f"AIRFLOW_CONN_{key}"])


CLOUD_CASES = {
    "good": ({}, True, "Connection successfully tested"),
    "bad key": ({"password": "sk-wrong-key-0000"}, False, "Unauthorized: "),
    "wrong cluster": ({"extra": {"cluster_id": "bogus-cluster"}}, False, "Not found: check the cluster_id"),
    "no cluster": ({"extra": {"cluster_id": None}}, False, "Invalid setting: "),
    "unreachable": ({"host": UNREACHABLE, "extra": {"max_attempts": 2}}, False, "Unreachable: "),
}


@pytest.mark.parametrize("case", list(CLOUD_CASES))
def test_zilliz_cloud_button_names_the_wrong_setting(vectorimport_emulator, monkeypatch, case):
    changes, ok_expected, start = CLOUD_CASES[case]
    conn_id = _conn(
        monkeypatch, "zc_button", _base(vectorimport_emulator, "ZILLIZ_CLOUD_EMULATOR"), **changes
    )
    ok, message = ZillizHook(conn_id).test_connection()
    assert ok is ok_expected and message.startswith(start), message
    assert "sk-wrong-key-0000" not in message and vectorimport_emulator.api_key not in message


def test_milvus_button_bad_token_is_unauthorized(vectorimport_emulator, monkeypatch):
    base = _base(vectorimport_emulator, "ZILLIZ_EMULATOR")
    assert ZillizHook(_conn(monkeypatch, "mv_ok", base)).test_connection()[0] is True
    ok, message = ZillizHook(_conn(monkeypatch, "mv_bad", base, password="root:wrong")).test_connection()
    assert not ok and message.startswith("Unauthorized: the service refused the credentials; check the token")
    assert "root:wrong" not in message


VIKINGDB_CASES = {
    "good": ({}, True, "Connection successfully tested"),
    "bad secret": ({"password": "not-the-secret"}, False, "Unauthorized: "),
    "unreachable": ({"host": "127.0.0.1:9", "extra": {"max_attempts": 2}}, False, "Unreachable: "),
}


@pytest.mark.parametrize("case", list(VIKINGDB_CASES))
def test_vikingdb_button_names_the_wrong_setting(vectorimport_emulator, monkeypatch, case):
    changes, ok_expected, start = VIKINGDB_CASES[case]
    conn_id = _conn(monkeypatch, "vdb_button", _base(vectorimport_emulator, "VIKINGDB_EMULATOR"), **changes)
    ok, message = VikingDBHook(conn_id).test_connection()
    assert ok is ok_expected and message.startswith(start), message
    assert "not-the-secret" not in message


def test_s3_button_missing_bucket_and_unreachable_endpoint(s3_endpoint, s3_client, monkeypatch):
    s3_client.create_bucket(Bucket="button-bucket")
    base = {
        "conn_type": "aws",
        "login": "ak",
        "password": "sk-s3-secret",
        "extra": {"endpoint_url": s3_endpoint},
    }
    good = _conn(monkeypatch, "s3_good", base, extra={"bucket": "button-bucket"})
    assert ObjectStorageHook(good).test_connection() == (True, "Connection successfully tested")
    missing = _conn(monkeypatch, "s3_missing", base, extra={"bucket": "no-such-bucket-here"})
    ok, message = ObjectStorageHook(missing).test_connection()
    assert not ok and message.startswith("Not found: check the bucket name"), message
    down = _conn(monkeypatch, "s3_down", base, extra={"endpoint_url": UNREACHABLE, "bucket": "b"})
    ok, message = ObjectStorageHook(down).test_connection()
    assert not ok and message.startswith("Unreachable: no answer from http://127.0.0.1:9"), message
    assert "sk-s3-secret" not in message
