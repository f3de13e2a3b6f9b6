"""ObjectStorageHook and the upload/download operators: Airflow connections (env JSON), credentials
for the import services, masking, and a dag.test() round trip, all against moto's S3 server."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_vectorimport.exceptions import ConfigurationError, NotFoundError
from airflow_provider_vectorimport.hooks.object_storage import ObjectStorageHook
from airflow_provider_vectorimport.operators.object_storage import (
    DownloadFromObjectStorageOperator,
    UploadToObjectStorageOperator,
)

MiB = 1024 * 1024


def _set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **conn: Any) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def _redact(text: str) -> str:
    from airflow.sdk.log import _secrets_masker

    return str(_secrets_masker().redact(text))


def test_hook_reads_aws_connection_conventions(monkeypatch, s3_endpoint, s3_client, bucket) -> None:
    _set_conn(
        monkeypatch,
        "aws_default",
        conn_type="aws",
        login="testing-ak",
        password="hook-secret-key-1",
        extra={"region_name": "us-east-1", "endpoint_url": s3_endpoint, "aws_session_token": "hook-token-1"},
    )
    hook = ObjectStorageHook()
    assert hook.conn_id == "aws_default"
    assert hook.endpoint_url == s3_endpoint
    creds = hook.get_service_credentials()
    assert creds == {
        "access_key": "testing-ak",
        "secret_key": "hook-secret-key-1",
        "session_token": "hook-token-1",
    }
    assert _redact("sk=hook-secret-key-1 token=hook-token-1") == "sk=*** token=***"
    # a real call through the client the hook builds, carrying the temporary credentials' token
    client = hook.get_client()
    sent: list[dict[str, str]] = []
    client.meta.events.register(
        "before-send.s3",
        lambda request, **_: sent.append(
            {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        ),
    )
    client.put_object(Bucket=bucket, Key="k.txt", Body=b"v")
    assert sent and sent[0]["X-Amz-Security-Token"] == "hook-token-1"
    assert "Credential=testing-ak/" in str(sent[0]["Authorization"])
    assert s3_client.get_object(Bucket=bucket, Key="k.txt")["Body"].read() == b"v"
    assert hook.test_connection() == (True, "Connection successfully tested")
    # sweep of stale multipart uploads through the hook
    s3_client.create_multipart_upload(Bucket=bucket, Key="exp/stale.bin")
    s3_client.create_multipart_upload(Bucket=bucket, Key="other/stale.bin")
    assert hook.abort_incomplete_uploads(bucket, "/exp/", older_than=timedelta(0)) == ["exp/stale.bin"]
    assert [u["Key"] for u in s3_client.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [
        "other/stale.bin"
    ]
    # a connection whose default bucket does not exist fails its test with the bucket named
    _set_conn(
        monkeypatch, "nobucket", conn_type="aws", login="k", password="s",
        extra={"endpoint_url": s3_endpoint, "region_name": "us-east-1", "bucket": "absent-bucket-1"},
    )  # fmt: skip
    ok, message = ObjectStorageHook("nobucket").test_connection()
    assert not ok and "bucket 'absent-bucket-1' not found" in message


def test_hook_vectorimport_s3_type_with_prefixed_extras(monkeypatch) -> None:
    _set_conn(
        monkeypatch,
        "tos_conn",
        conn_type="vectorimport_s3",
        login="AKLTtos",
        password="tos-secret-2",
        extra={
            "extra__vectorimport_s3__provider": "tos",
            "extra__vectorimport_s3__region_name": "cn-guangzhou",
            "bucket": "default-bkt",
        },
    )
    hook = ObjectStorageHook("tos_conn")
    assert hook.endpoint_url == "https://tos-s3-cn-guangzhou.volces.com"
    assert hook.storage_config.effective_addressing_style == "virtual"
    assert hook.resolve_bucket(None) == "default-bkt"
    assert hook.get_service_credentials()["session_token"] is None
    assert (
        ObjectStorageHook("tos_conn", region_name="cn-beijing").endpoint_url
        == "https://tos-s3-cn-beijing.volces.com"
    )


def test_hook_credential_errors(monkeypatch) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    _set_conn(monkeypatch, "half", conn_type="aws", login="only-the-key-id")
    with pytest.raises(
        ConfigurationError, match=r"connection 'half'.*secret access key \(password\) is missing"
    ):
        ObjectStorageHook("half").get_service_credentials()
    _set_conn(monkeypatch, "empty", conn_type="aws")
    with pytest.raises(ConfigurationError, match="connection 'empty' has no access key"):
        ObjectStorageHook("empty").get_service_credentials()
    with pytest.raises(ConfigurationError, match="no bucket given and connection 'empty'"):
        ObjectStorageHook("empty").resolve_bucket(None)
    with pytest.raises(
        ConfigurationError, match="no object storage credentials found for bucket 'some-bucket'"
    ):
        ObjectStorageHook("empty", endpoint_url="http://127.0.0.1:9").download("some-bucket", "p", "/tmp/x")
    # the standard AWS credential chain still works for an empty aws_default-style connection
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ENVKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret-3")
    assert ObjectStorageHook("empty").get_service_credentials() == {
        "access_key": "ENVKEY",
        "secret_key": "env-secret-3",
        "session_token": None,
    }


def test_operators_execute_and_rerun_idempotently(
    monkeypatch, s3_endpoint, s3_client, bucket, tmp_path
) -> None:
    _set_conn(
        monkeypatch,
        "s3_ops",
        conn_type="aws",
        login="testing-ak",
        password="testing-sk",
        extra={"region_name": "us-east-1", "endpoint_url": s3_endpoint},
    )
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.parquet").write_bytes(os.urandom(6 * MiB))
    (src / "b.json").write_bytes(b'[{"id": 1}]')
    up = UploadToObjectStorageOperator(
        task_id="up", source=str(src), bucket=bucket, prefix="daily/2024-01-01", conn_id="s3_ops",
        multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB,
    )  # fmt: skip
    first = up.execute({})
    assert (first["uploaded"], first["skipped"]) == (2, 0)
    assert first["files"] == [["daily/2024-01-01/a.parquet"], ["daily/2024-01-01/b.json"]]
    again = up.execute({})  # a retried / backfilled task
    assert (again["uploaded"], again["skipped"]) == (0, 2)
    assert json.loads(json.dumps(again)) == again
    assert "testing-sk" not in json.dumps(again)

    down = DownloadFromObjectStorageOperator(
        task_id="down",
        bucket=bucket,
        prefix="daily/2024-01-01",
        local_dir=str(tmp_path / "out"),
        conn_id="s3_ops",
    )
    got = down.execute({})
    assert set(got) >= {"bucket", "prefix", "local_dir", "files", "downloaded", "skipped", "total_bytes"}
    assert got["downloaded"] == 2 and got["total_bytes"] == 6 * MiB + 11
    assert (tmp_path / "out" / "a.parquet").read_bytes() == (src / "a.parquet").read_bytes()
    assert down.execute({})["skipped"] == 2

    with pytest.raises(ConfigurationError, match="give only one of source or manifest"):
        UploadToObjectStorageOperator(task_id="x", source="a", manifest={}, prefix="p")
    missing = UploadToObjectStorageOperator(
        task_id="m", source=str(tmp_path / "nope"), bucket=bucket, prefix="p", conn_id="s3_ops"
    )
    with pytest.raises(ConfigurationError, match="local path does not exist"):
        missing.execute({})
    no_bucket = DownloadFromObjectStorageOperator(
        task_id="nb",
        bucket="bucket-that-is-not-there",
        prefix="p",
        local_dir=str(tmp_path / "x"),
        conn_id="s3_ops",
    )
    with pytest.raises(NotFoundError, match="bucket 'bucket-that-is-not-there' not found"):
        no_bucket.execute({})


def test_manifest_from_xcom_text_is_accepted(monkeypatch, s3_endpoint, bucket, tmp_path) -> None:
    """A templated manifest rendered as text (Python repr of the XCom dict) still uploads."""
    _set_conn(
        monkeypatch, "s3_m", conn_type="aws", login="k", password="s",
        extra={"region_name": "us-east-1", "endpoint_url": s3_endpoint},
    )  # fmt: skip
    (tmp_path / "part-00000.parquet").write_bytes(b"PAR1fakePAR1")
    manifest = {
        "root": str(tmp_path),
        "groups": [{"files": ["part-00000.parquet"], "rows": 3}],
        "total_rows": 3,
    }
    op = UploadToObjectStorageOperator(
        task_id="u", manifest=str(manifest), bucket=bucket, prefix="m", conn_id="s3_m"
    )
    result = op.execute({})
    assert len(result["groups"][0].pop("fingerprint")) == 32
    assert result["groups"] == [
        {"keys": ["m/part-00000.parquet"], "urls": [f"s3://{bucket}/m/part-00000.parquet"], "rows": 3}
    ]
    assert result["total_rows"] == 3


def test_dag_test_upload_then_download(
    monkeypatch, load_dag, s3_endpoint, s3_client, bucket, tmp_path
) -> None:
    src = tmp_path / "prepared"
    (src / "1").mkdir(parents=True)
    (src / "1" / "id.npy").write_bytes(os.urandom(1000))
    (src / "1" / "vec.npy").write_bytes(os.urandom(6 * MiB))  # multipart
    (src / "part-00000.parquet").write_bytes(os.urandom(2000))
    out = tmp_path / "out"
    monkeypatch.setenv("VECTORIMPORT_STORAGE_SRC", str(src))
    monkeypatch.setenv("VECTORIMPORT_STORAGE_BUCKET", bucket)
    monkeypatch.setenv("VECTORIMPORT_STORAGE_OUT", str(out))
    monkeypatch.setenv("VECTORIMPORT_STORAGE_CONN", "storage_dagtest")
    _set_conn(
        monkeypatch,
        "storage_dagtest",
        conn_type="aws",
        login="testing-ak",
        password="dag-secret-4",
        extra={"region_name": "us-east-1", "endpoint_url": s3_endpoint},
    )
    dag = load_dag("storage_roundtrip")
    run = dag.test()
    assert str(run.state) in ("success", "DagRunState.SUCCESS")
    summary = json.loads((out / "summary.json").read_text())
    uploaded, downloaded = summary["uploaded"], summary["downloaded"]
    prefix = f"runs/storage_roundtrip/{run.run_id}"
    assert uploaded["prefix"] == prefix
    assert uploaded["files"] == [
        [f"{prefix}/1/id.npy", f"{prefix}/1/vec.npy"],
        [f"{prefix}/part-00000.parquet"],
    ]
    assert uploaded["tos_path"] == f"{bucket}/{prefix}"
    listed = {o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert listed == {k for g in uploaded["files"] for k in g}
    assert downloaded["downloaded"] == 3 and downloaded["local_dir"] == str(out / run.run_id)
    assert (Path(downloaded["local_dir"]) / "1" / "vec.npy").read_bytes() == (
        src / "1" / "vec.npy"
    ).read_bytes()
    assert "dag-secret-4" not in (out / "summary.json").read_text()
