"""Object storage transfer (storage/ package) against moto's S3 *server* on 127.0.0.1.

Real HTTP S3 endpoint, real boto3 clients, real files on disk; no in-process patching.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_vectorimport.exceptions import (
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
)
from airflow_provider_vectorimport.storage import (
    ManifestMismatchError,
    StorageConfig,
    TransferError,
    TransferOptions,
    abort_incomplete_uploads,
    download_prefix,
    iter_record_batches,
    plan_from_manifest,
    plan_from_path,
    upload_plan,
)
from airflow_provider_vectorimport.storage.transfer import MiB, file_etag

LOG = logging.getLogger("test_storage")
SMALL_PARTS = TransferOptions(
    multipart_threshold=5 * MiB,
    multipart_chunksize=5 * MiB,
    max_concurrency=4,
    max_workers=3,
    progress_interval=0,
)


def _config(endpoint: str, **kw: Any) -> StorageConfig:
    return StorageConfig(
        access_key="testing-ak", secret_key="testing-sk", region_name="us-east-1", endpoint_url=endpoint, **kw
    )


def _client(config: StorageConfig, options: TransferOptions = SMALL_PARTS) -> Any:
    return config.client(max_pool_connections=options.pool_connections)


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _parquet(path: Path, ids: range) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({"id": list(ids), "vec": [[float(i), 1.0] for i in ids]})
    pq.write_table(table, path, row_group_size=7)
    return path


def _keys(s3_client: Any, bucket: str, prefix: str = "") -> dict[str, int]:
    resp = s3_client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {o["Key"]: o["Size"] for o in resp.get("Contents", [])}


def _pending_multipart(s3_client: Any, bucket: str) -> list[str]:
    return [u["Key"] for u in s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


# ---------------------------------------------------------------------------------------------------
# configuration / presets
# ---------------------------------------------------------------------------------------------------
def test_presets_and_connection_fields() -> None:
    tos = StorageConfig.from_connection(
        "AKLTak", "tos-secret", {"provider": "tos", "region_name": "cn-shanghai"}, conn_type="vectorimport_s3"
    )
    assert tos.effective_endpoint_url == "https://tos-s3-cn-shanghai.volces.com"
    assert tos.effective_addressing_style == "virtual"
    cfg = tos.botocore_config()
    assert cfg.signature_version == "s3v4"
    assert cfg.s3["addressing_style"] == "virtual"
    assert cfg.request_checksum_calculation == "when_required"
    # virtual-hosted URL built by botocore itself (no network: presigning is local)
    url = tos.client().generate_presigned_url("get_object", Params={"Bucket": "bkt", "Key": "a/b.parquet"})
    assert url.startswith("https://bkt.tos-s3-cn-shanghai.volces.com/a/b.parquet?")
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url
    assert tos.http_url("bkt", "a/b c.json") == "https://bkt.tos-s3-cn-shanghai.volces.com/a/b%20c.json"

    oss = StorageConfig.from_connection("ak", "sk", {"extra__vectorimport_s3__provider": "oss"})
    assert oss.effective_endpoint_url == "https://s3.oss-cn-hangzhou.aliyuncs.com"
    # Zilliz Cloud (China) needs the https object URL of OSS: s3:// names no endpoint
    assert oss.object_url("b", "k/1.parquet") == "https://b.oss-cn-hangzhou.aliyuncs.com/k/1.parquet"
    gcs = StorageConfig.from_connection("GOOGHMAC", "hmac-secret", {"provider": "gcs"})
    assert (gcs.effective_endpoint_url, gcs.effective_region) == ("https://storage.googleapis.com", "auto")
    assert gcs.object_url("b", "k") == "gs://b/k"
    assert gcs.http_url("b", "k") == "https://storage.googleapis.com/b/k"

    # aws connection conventions: keys in extra, session token, config_kwargs with s3 addressing
    aws = StorageConfig.from_connection(
        None,
        None,
        json.dumps(
            {
                "aws_access_key_id": "AKIAX",
                "aws_secret_access_key": "sek",
                "aws_session_token": "tok",
                "region_name": "eu-west-1",
                "config_kwargs": {"s3": {"addressing_style": "path"}, "connect_timeout": 3},
            }
        ),
        conn_type="aws",
    )
    assert (aws.access_key, aws.secret_key, aws.session_token) == ("AKIAX", "sek", "tok")
    assert aws.effective_addressing_style == "path"
    assert aws.botocore_config().connect_timeout == 3
    assert aws.http_url("b", "k") == "https://s3.eu-west-1.amazonaws.com/b/k"
    assert "sek" not in repr(aws) and "tok" not in repr(aws)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"access_key": "ak"}, "secret access key"),
        ({"secret_key": "sk"}, "access key id"),
        ({"provider": "s4"}, "provider must be one of"),
        ({"provider": "minio"}, "needs an endpoint_url"),
        ({"endpoint_url": "minio:9000"}, "http(s) URL"),
        ({"addressing_style": "vhost"}, "addressing_style"),
    ],
)
def test_bad_configuration_is_named(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigurationError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        StorageConfig(**kwargs)


def test_virtual_hosted_addressing_against_server(
    s3_endpoint: str, s3_client: Any, bucket: str, tmp_path
) -> None:
    """AWS-style endpoint + virtual addressing, sent through the loopback server as an HTTP proxy:
    the bucket travels in the Host header, as TOS and OSS require."""
    config = StorageConfig.from_connection(
        "testing-ak",
        "testing-sk",
        {
            "region_name": "us-east-1",
            "endpoint_url": "http://s3.us-east-1.amazonaws.com",
            "addressing_style": "virtual",
            "config_kwargs": {"proxies": {"http": s3_endpoint}},
        },
    )
    client = config.client()
    urls: list[str] = []
    client.meta.events.register("before-send.s3", lambda request, **_: urls.append(request.url))
    src = _write(tmp_path / "one.json", b'[{"id": 1}]')
    result = upload_plan(client, plan_from_path(src), bucket, "vh", storage=config, logger=LOG)
    assert result["uploaded"] == 1
    put_urls = [u for u in urls if "/vh/one.json" in u]
    assert put_urls and all(u.startswith(f"http://{bucket}.s3.us-east-1.amazonaws.com/") for u in put_urls)
    assert result["http_urls"] == [f"http://{bucket}.s3.us-east-1.amazonaws.com/vh/one.json"]
    assert s3_client.get_object(Bucket=bucket, Key="vh/one.json")["Body"].read() == b'[{"id": 1}]'


# ---------------------------------------------------------------------------------------------------
# upload
# ---------------------------------------------------------------------------------------------------
def test_multipart_upload_of_a_large_file(s3_endpoint: str, s3_client: Any, bucket: str, tmp_path) -> None:
    data = os.urandom(12 * MiB + 123)  # 3 parts of 5 MiB
    src = _write(tmp_path / "big.parquet", data)
    config = _config(s3_endpoint)
    result = upload_plan(
        _client(config), plan_from_path(src), bucket, "/daily//2024/", options=SMALL_PARTS, storage=config
    )
    key = "daily/2024/big.parquet"
    head = s3_client.head_object(Bucket=bucket, Key=key)
    assert head["ETag"].strip('"').endswith("-3")  # really multipart
    assert head["ETag"].strip('"') == file_etag(src, len(data), SMALL_PARTS)
    assert head["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert s3_client.get_object(Bucket=bucket, Key=key)["Body"].read() == data
    assert result["prefix"] == "daily/2024"
    assert result["files"] == [[key]]
    assert result["object_urls"] == [f"s3://{bucket}/{key}"]
    assert result["http_urls"] == [f"{s3_endpoint}/{bucket}/{key}"]
    assert result["tos_path"] == f"{bucket}/daily/2024"
    assert (result["uploaded"], result["skipped"], result["total_bytes"]) == (1, 0, len(data))
    assert result["bytes_transferred"] == len(data)
    assert result["endpoint_url"] == s3_endpoint
    assert result["format"] == "parquet"
    json.dumps(result)  # XCom-able
    assert _pending_multipart(s3_client, bucket) == []


def test_folder_upload_groups_numpy_by_folder(
    s3_endpoint: str, s3_client: Any, bucket: str, tmp_path
) -> None:
    root = tmp_path / "np"
    for part in ("1", "2"):
        np.save(root / part / "id.npy" if (root / part).mkdir(parents=True) is None else None, np.arange(3))
        np.save(root / part / "vec.npy", np.ones((3, 4), dtype=np.float32))
    _write(root / ".hidden", b"ignored")
    config = _config(s3_endpoint)
    result = upload_plan(_client(config), plan_from_path(root), bucket, "np-run", storage=config)
    assert result["files"] == [
        ["np-run/1/id.npy", "np-run/1/vec.npy"],
        ["np-run/2/id.npy", "np-run/2/vec.npy"],
    ]
    assert result["format"] == "numpy"
    assert set(_keys(s3_client, bucket)) == {k for g in result["files"] for k in g}
    assert result["groups"][1]["urls"] == [
        f"s3://{bucket}/np-run/2/id.npy",
        f"s3://{bucket}/np-run/2/vec.npy",
    ]


def test_manifest_upload_preserves_groups_and_rows(
    s3_endpoint: str, s3_client: Any, bucket: str, tmp_path
) -> None:
    root = tmp_path / "prepared"
    a = _parquet(root / "part-00000.parquet", range(0, 10))
    b = _parquet(root / "part-00001.parquet", range(10, 25))
    _write(root / "stray.txt", b"not in the manifest")
    manifest = {
        "format": "parquet",
        "root": str(root),
        "schema_fingerprint": "fp-123",
        "total_rows": 25,
        "total_bytes": a.stat().st_size + b.stat().st_size,
        "groups": [
            {"files": ["part-00000.parquet"], "rows": 10, "bytes": a.stat().st_size},
            {"files": ["part-00001.parquet"], "rows": 15, "bytes": b.stat().st_size},
        ],
        "files": [
            {"path": "part-00000.parquet", "rows": 10, "bytes": a.stat().st_size},
            {"path": "part-00001.parquet", "rows": 15, "bytes": b.stat().st_size},
        ],
    }
    manifest_path = _write(tmp_path / "manifest.json", json.dumps(manifest).encode())
    config = _config(s3_endpoint)
    result = upload_plan(
        _client(config), plan_from_manifest(manifest_path), bucket, "imp/run-1", storage=config
    )
    # each group carries what its objects hold now (key, size, the S3 server's ETag)
    from airflow_provider_vectorimport.storage.transfer import content_fingerprint

    for group in result["groups"]:
        heads = [s3_client.head_object(Bucket=bucket, Key=k) for k in group["keys"]]
        assert group.pop("fingerprint") == content_fingerprint(
            (k, h["ContentLength"], h["ETag"].strip('"')) for k, h in zip(group["keys"], heads, strict=True)
        )
    assert result["groups"] == [
        {
            "keys": ["imp/run-1/part-00000.parquet"],
            "urls": [f"s3://{bucket}/imp/run-1/part-00000.parquet"],
            "rows": 10,
        },
        {
            "keys": ["imp/run-1/part-00001.parquet"],
            "urls": [f"s3://{bucket}/imp/run-1/part-00001.parquet"],
            "rows": 15,
        },
    ]
    assert result["files"] == [["imp/run-1/part-00000.parquet"], ["imp/run-1/part-00001.parquet"]]
    assert (result["total_rows"], result["schema_fingerprint"], result["format"]) == (25, "fp-123", "parquet")
    assert set(_keys(s3_client, bucket)) == {"imp/run-1/part-00000.parquet", "imp/run-1/part-00001.parquet"}
    body = s3_client.get_object(Bucket=bucket, Key="imp/run-1/part-00001.parquet")["Body"].read()
    assert body == b.read_bytes()


def test_prepare_files_manifest_uploads_with_requests(s3_endpoint, s3_client, bucket, tmp_path) -> None:
    """The real preparation step's manifest (several chunks) goes up with its groups and requests."""
    from airflow_provider_vectorimport.prepare import prepare_files

    data = Path(__file__).parent / "data" / "prepare"
    schema = json.loads((data / "articles_schema.json").read_text())
    rows = json.loads((data / "articles.json").read_text())["rows"]
    many = [{**rows[i % len(rows)], "id": i} for i in range(400)]
    manifest = prepare_files(iter(many), schema, tmp_path / "prepared", chunk_size="8KB")
    assert len(manifest["groups"]) > 1
    config = _config(s3_endpoint)
    result = upload_plan(_client(config), plan_from_manifest(manifest), bucket, "prep", storage=config)
    assert [g["rows"] for g in result["groups"]] == [g["rows"] for g in manifest["groups"]]
    assert result["files"] == [[f"prep/{f}" for f in g["files"]] for g in manifest["groups"]]
    assert result["requests"] == manifest["requests"]
    assert result["request_files"] == [[result["files"][i] for i in req] for req in manifest["requests"]]
    assert result["total_rows"] == manifest["total_rows"]
    assert result["schema_fingerprint"] == manifest["schema_fingerprint"]
    for group in result["groups"]:
        for key in group["keys"]:
            local = Path(manifest["root"]) / key.removeprefix("prep/")
            assert s3_client.get_object(Bucket=bucket, Key=key)["Body"].read() == local.read_bytes()
    with pytest.raises(ManifestMismatchError, match="'requests' must be lists of group indices"):
        plan_from_manifest({**manifest, "requests": [[len(manifest["groups"])]]})


def test_rerun_skips_identical_objects_and_reuploads_changed(
    s3_endpoint, s3_client, bucket, tmp_path
) -> None:
    root = tmp_path / "src"
    f1 = _write(root / "a.json", b'[{"id": 1}]')
    _write(root / "b.json", os.urandom(6 * MiB))  # multipart
    config = _config(s3_endpoint)
    client = _client(config)
    first = upload_plan(client, plan_from_path(root), bucket, "p", options=SMALL_PARTS, storage=config)
    assert (first["uploaded"], first["skipped"]) == (2, 0)
    again = upload_plan(client, plan_from_path(root), bucket, "p", options=SMALL_PARTS, storage=config)
    assert (again["uploaded"], again["skipped"], again["bytes_transferred"]) == (0, 2, 0)
    assert again["files"] == first["files"]
    f1.write_bytes(b'[{"id": 2}]')  # same size, new content: must not be skipped
    third = upload_plan(client, plan_from_path(root), bucket, "p", options=SMALL_PARTS, storage=config)
    assert (third["uploaded"], third["skipped"]) == (1, 1)
    assert s3_client.get_object(Bucket=bucket, Key="p/a.json")["Body"].read() == b'[{"id": 2}]'


def test_etag_checksum_mode_skips_without_metadata(s3_endpoint, s3_client, bucket, tmp_path) -> None:
    root = tmp_path / "e"
    small = _write(root / "s.json", b"[1, 2, 3]")
    _write(root / "big.bin", os.urandom(11 * MiB))
    opts = TransferOptions(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, checksum="etag")
    config = _config(s3_endpoint)
    first = upload_plan(_client(config), plan_from_path(root), bucket, "e", options=opts, storage=config)
    assert first["uploaded"] == 2
    assert "sha256" not in s3_client.head_object(Bucket=bucket, Key="e/big.bin")["Metadata"]
    again = upload_plan(_client(config), plan_from_path(root), bucket, "e", options=opts, storage=config)
    assert (again["uploaded"], again["skipped"]) == (0, 2)
    small.write_bytes(b"[1, 2, 4]")
    third = upload_plan(_client(config), plan_from_path(root), bucket, "e", options=opts, storage=config)
    assert (third["uploaded"], third["skipped"]) == (1, 1)
    with pytest.raises(ConfigurationError, match="checksum must be"):
        TransferOptions(checksum="crc32")


def test_objects_from_other_tools_are_compared_by_etag(s3_endpoint, s3_client, bucket, tmp_path) -> None:
    small = _write(tmp_path / "d" / "small.json", b'{"rows": []}')
    big = _write(tmp_path / "d" / "big.json", os.urandom(11 * MiB))
    same_size_other = _write(tmp_path / "d" / "c.json", b"AAAA")
    s3_client.put_object(Bucket=bucket, Key="x/small.json", Body=small.read_bytes())  # no sha256 metadata
    s3_client.put_object(Bucket=bucket, Key="x/c.json", Body=b"BBBB")
    from boto3.s3.transfer import TransferConfig

    s3_client.upload_file(
        str(big),
        bucket,
        "x/big.json",
        Config=TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB),
    )
    config = _config(s3_endpoint)
    result = upload_plan(
        _client(config), plan_from_path(tmp_path / "d"), bucket, "x", options=SMALL_PARTS, storage=config
    )
    assert (result["uploaded"], result["skipped"]) == (1, 2)
    assert s3_client.get_object(Bucket=bucket, Key="x/c.json")["Body"].read() == same_size_other.read_bytes()


def test_manifest_that_does_not_match_disk_fails_before_any_request(
    s3_endpoint, s3_client, bucket, tmp_path
) -> None:
    root = tmp_path / "m"
    a = _parquet(root / "a.parquet", range(5))
    base = {"root": str(root), "groups": [{"files": ["a.parquet"], "rows": 5}]}
    with pytest.raises(
        ManifestMismatchError, match=r"b\.parquet: listed in the manifest but missing on disk"
    ):
        plan_from_manifest({**base, "files": [{"path": "a.parquet"}, {"path": "b.parquet", "bytes": 3}]})
    with pytest.raises(
        ManifestMismatchError, match=rf"a\.parquet: manifest says 1 bytes, file has {a.stat().st_size}"
    ):
        plan_from_manifest({**base, "files": [{"path": "a.parquet", "bytes": 1}]})
    with pytest.raises(ManifestMismatchError, match="relative to the manifest root"):
        plan_from_manifest({"root": str(root), "groups": [{"files": ["../etc/passwd"]}]})
    with pytest.raises(ManifestMismatchError, match="root folder does not exist"):
        plan_from_manifest({"root": str(tmp_path / "nope"), "groups": [{"files": ["a.parquet"]}]})
    with pytest.raises(ManifestMismatchError, match="total_bytes=999"):
        plan_from_manifest({**base, "total_bytes": 999})
    assert _keys(s3_client, bucket) == {}


def test_bad_local_input_and_missing_bucket(s3_endpoint, s3_client, bucket, tmp_path) -> None:
    with pytest.raises(ConfigurationError, match=f"local path does not exist: {tmp_path / 'missing'}"):
        plan_from_path(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigurationError, match="source is empty"):
        plan_from_path("")
    with pytest.raises(ConfigurationError, match="local folder is empty"):
        plan_from_path(tmp_path / "empty")
    config = _config(s3_endpoint)
    plan = plan_from_path(_write(tmp_path / "f.json", b"[]"))
    with pytest.raises(ConfigurationError, match="bucket is required"):
        upload_plan(_client(config), plan, "", "p", storage=config)
    with pytest.raises(NotFoundError, match="bucket 'no-such-bucket-xyz' not found"):
        upload_plan(_client(config), plan, "no-such-bucket-xyz", "p", storage=config)
    with pytest.raises(NotFoundError, match="bucket 'no-such-bucket-xyz' not found"):
        download_prefix(_client(config), "no-such-bucket-xyz", "p", tmp_path / "out")


def test_failed_part_aborts_multipart_and_reports_failure(s3_endpoint, s3_client, bucket, tmp_path) -> None:
    root = tmp_path / "f"
    _write(root / "ok.json", b"[1]")
    _write(root / "big.bin", os.urandom(11 * MiB))
    config = _config(s3_endpoint)
    client = _client(config)
    calls = {"n": 0}

    def fail_second_part(request: Any, **_: Any) -> None:
        if "partNumber=2" in request.url:
            calls["n"] += 1
            raise RuntimeError("simulated connection drop on part 2")

    client.meta.events.register("before-send.s3.UploadPart", fail_second_part)
    with pytest.raises(
        TransferError, match=r"failed for 1 of 2 file\(s\).*big\.bin.*simulated connection drop"
    ) as exc:
        upload_plan(client, plan_from_path(root), bucket, "crash", options=SMALL_PARTS, storage=config)
    assert calls["n"] >= 1
    assert list(exc.value.failures) == [str(root / "big.bin")]
    assert "crash/big.bin" not in _keys(s3_client, bucket)
    assert _pending_multipart(s3_client, bucket) == []  # aborted, nothing left to bill


def test_stale_multipart_uploads_are_swept(s3_endpoint, s3_client, bucket, tmp_path) -> None:
    # left by a crashed run: one for a key we are about to write, one elsewhere under the prefix
    s3_client.create_multipart_upload(Bucket=bucket, Key="run/a.json")
    s3_client.create_multipart_upload(Bucket=bucket, Key="run/old.json")
    s3_client.create_multipart_upload(Bucket=bucket, Key="other/keep.json")
    config = _config(s3_endpoint)
    src = _write(tmp_path / "a.json", b"[]")
    upload_plan(
        _client(config), plan_from_path(src), bucket, "run", storage=config, stale_multipart_after=None
    )
    assert sorted(_pending_multipart(s3_client, bucket)) == ["other/keep.json", "run/old.json"]
    aborted = abort_incomplete_uploads(_client(config), bucket, "run/", older_than=timedelta(0))
    assert aborted == ["run/old.json"]
    assert _pending_multipart(s3_client, bucket) == ["other/keep.json"]


@pytest.fixture
def moto_auth(s3_endpoint: str):
    """Turn on moto's IAM authentication for the duration of one test (server-side switch)."""

    def set_count(value: str) -> None:
        req = urllib.request.Request(
            f"{s3_endpoint}/moto-api/reset-auth",
            data=value.encode(),
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200

    yield set_count
    set_count("inf")


def test_access_errors_name_the_bucket(s3_endpoint, s3_client, bucket, tmp_path, moto_auth) -> None:
    iam = boto3.client(
        "iam",
        endpoint_url=s3_endpoint,
        aws_access_key_id="a",
        aws_secret_access_key="b",
        region_name="us-east-1",
    )
    user = f"reader-{bucket[-8:]}"
    iam.create_user(UserName=user)
    iam.put_user_policy(
        UserName=user,
        PolicyName="list-only",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}],
            }
        ),
    )
    key = iam.create_access_key(UserName=user)["AccessKey"]
    src = _write(tmp_path / "a.json", b"[1, 2]")
    moto_auth("0")

    unknown = _config(s3_endpoint)  # keys unknown to IAM
    with pytest.raises(AuthenticationError, match=f"bucket '{bucket}'"):
        upload_plan(_client(unknown), plan_from_path(src), bucket, "p", storage=unknown)

    # (an empty prefix here: moto's SigV4 check mis-handles a '/' in the list prefix query for IAM users)
    limited = StorageConfig(
        access_key=key["AccessKeyId"],
        secret_key=key["SecretAccessKey"],
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
    )
    with pytest.raises(
        TransferError, match=rf"a\.json: PermissionDeniedError.*access denied.*s3://{bucket}/a\.json"
    ) as exc:
        upload_plan(_client(limited), plan_from_path(src), bucket, "", storage=limited)
    assert list(exc.value.failures) == [str(src)]
    moto_auth("inf")
    assert _keys(s3_client, bucket) == {}
    s3_client.put_object(Bucket=bucket, Key="x.json", Body=b"[]")
    moto_auth("0")
    with pytest.raises(
        TransferError, match=rf"access denied while trying to download s3://{bucket}/x\.json"
    ) as exc:
        download_prefix(_client(limited), bucket, "", tmp_path / "dl")
    assert isinstance(exc.value.__cause__ or exc.value, Exception)
    assert "PermissionDeniedError" in exc.value.failures["x.json"]
    assert not (tmp_path / "dl" / "x.json").exists()


# ---------------------------------------------------------------------------------------------------
# download
# ---------------------------------------------------------------------------------------------------
def test_download_prefix_verifies_and_skips_complete_files(s3_endpoint, s3_client, bucket, tmp_path) -> None:
    payloads = {
        "exp/2024/part-0.parquet": os.urandom(7 * MiB),
        "exp/2024/sub/part-1.json": b'[{"id": 1}]',
        "exp/2024/part-2.json": b"[]",
    }
    for key, body in payloads.items():
        s3_client.put_object(Bucket=bucket, Key=key, Body=body)
    s3_client.put_object(Bucket=bucket, Key="exp/2024/folder/", Body=b"")  # folder marker
    s3_client.put_object(Bucket=bucket, Key="exp/2024-other/x.json", Body=b"no")  # sibling prefix
    config = _config(s3_endpoint)
    out = tmp_path / "out"
    result = download_prefix(_client(config), bucket, "exp/2024/", out, options=SMALL_PARTS)
    assert (result["downloaded"], result["skipped"]) == (3, 0)
    assert result["total_bytes"] == sum(len(b) for b in payloads.values())
    assert sorted(f["key"] for f in result["files"]) == sorted(payloads)
    for f in result["files"]:
        assert Path(f["path"]).read_bytes() == payloads[f["key"]]
        assert f["bytes"] == len(payloads[f["key"]])
    assert (out / "sub" / "part-1.json").is_file()
    assert not (out / "x.json").exists()
    json.dumps(result)

    again = download_prefix(_client(config), bucket, "exp/2024", out, options=SMALL_PARTS)
    assert (again["downloaded"], again["skipped"], again["bytes_transferred"]) == (0, 3, 0)

    (out / "part-2.json").write_bytes(b"[")  # truncated by a crash: wrong size -> fetched again
    (out / "part-2.json.1aB2c3D4").write_bytes(b"[")  # s3transfer temp file left by a crash
    (out / "sub" / "part-1.json").write_bytes(b'[{"id": 9}]')  # same size, corrupted
    third = download_prefix(
        _client(config), bucket, "exp/2024", out, options=SMALL_PARTS, verify_checksum=True
    )
    assert (third["downloaded"], third["skipped"]) == (2, 1)
    assert (out / "sub" / "part-1.json").read_bytes() == payloads["exp/2024/sub/part-1.json"]
    assert not (out / "part-2.json.1aB2c3D4").exists()

    single = download_prefix(_client(config), bucket, "exp/2024/part-2.json", tmp_path / "one")
    assert [f["path"] for f in single["files"]] == [str(tmp_path / "one" / "part-2.json")]
    with pytest.raises(NotFoundError, match=f"no objects found under s3://{bucket}/nothing/"):
        download_prefix(_client(config), bucket, "nothing", tmp_path / "none")
    empty = download_prefix(_client(config), bucket, "nothing", tmp_path / "none", allow_empty=True)
    assert empty["files"] == [] and empty["downloaded"] == 0


# ---------------------------------------------------------------------------------------------------
# Arrow batches over downloaded export files
# ---------------------------------------------------------------------------------------------------
def test_iter_record_batches_parquet_folder_and_json_forms(tmp_path) -> None:
    _parquet(tmp_path / "exp" / "a.parquet", range(0, 12))
    _parquet(tmp_path / "exp" / "b.parquet", range(12, 25))
    _write(tmp_path / "exp" / "_SUCCESS", b"")
    _write(tmp_path / "exp" / "b.parquet.0a1b2c3d", b"PAR1 partial download")  # not an export file
    batches = list(iter_record_batches(tmp_path / "exp", batch_size=5))
    assert all(b.num_rows <= 5 for b in batches)
    ids = [i for b in batches for i in b.column("id").to_pylist()]
    assert ids == list(range(25))

    rows = [{"id": i, "vec": [i, 0.5], "tag": None if i < 3 else f"t{i}"} for i in range(7)]
    arr = _write(tmp_path / "j" / "arr.json", json.dumps(rows, indent=1).encode())
    wrapped = _write(tmp_path / "j" / "wrapped.json", json.dumps({"rows": rows}).encode())
    lines = _write(tmp_path / "j" / "lines.jsonl", "\n".join(json.dumps(r) for r in rows).encode() + b"\n")
    for path in (arr, wrapped, lines):
        got = list(iter_record_batches(path, batch_size=3))
        assert [b.num_rows for b in got] == [3, 3, 1], path
        assert [r for b in got for r in b.to_pylist()] == [
            {**r, "vec": [float(x) for x in r["vec"]]} for r in rows
        ]
        assert got[-1].schema.field("tag").type == pa.string()  # null-only first batch promoted
    # a VikingDB-style export folder: JSON lines in ".json" files plus an empty (column-less) Parquet part
    export = tmp_path / "viking"
    _write(export / "0.json", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[:4]).encode())
    _write(export / "1.json", "".join(json.dumps(r) + "\n" for r in rows[4:]).encode())
    pq.write_table(pa.table({}), export / "2.parquet")
    got = [r for b in iter_record_batches(export, batch_size=100, file_type="json") for r in b.to_pylist()]
    assert [r["id"] for r in got] == list(range(7))
    assert sum(b.num_rows for b in iter_record_batches(export)) == 7
    bad = _write(tmp_path / "bad.json", b'[{"id": 1}, {"id": ]')
    with pytest.raises(ConfigurationError, match=r"bad\.json: invalid JSON"):
        list(iter_record_batches(bad))
    with pytest.raises(ConfigurationError, match="batch_size must be a positive integer"):
        list(iter_record_batches(tmp_path / "exp", batch_size=0))
    with pytest.raises(ConfigurationError, match="path does not exist"):
        list(iter_record_batches(tmp_path / "nope"))
