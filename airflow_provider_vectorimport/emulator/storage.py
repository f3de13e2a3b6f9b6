"""Where the emulator reads import files from (and writes VikingDB exports to): an S3-compatible
endpoint (moto on loopback by default, or any endpoint) or a local folder laid out as
``<dir>/<bucket>/<key>``. Also turns the object URLs the services accept into ``(bucket, key)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit


class ObjectNotFound(LookupError):
    """No object (and no folder) at that location."""


class ObjectStore(Protocol):
    def get(self, bucket: str, key: str) -> bytes: ...

    def put(self, bucket: str, key: str, data: bytes) -> None: ...

    def list(self, bucket: str, prefix: str) -> list[tuple[str, int]]:
        """``(key, size)`` of every object under ``prefix``, sorted by key."""
        ...

    def size(self, bucket: str, key: str) -> int: ...

    def ensure_bucket(self, bucket: str) -> None: ...


class S3Store:
    """Objects in an S3-compatible endpoint, through boto3 (path-style addressing)."""

    def __init__(
        self,
        endpoint_url: str,
        access_key: str = "emulator-ak",
        secret_key: str = "emulator-sk",
        region: str = "us-east-1",
    ) -> None:
        import boto3
        from botocore.config import Config

        self.endpoint_url = endpoint_url.rstrip("/")
        self._client = boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name=region,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
        )

    def get(self, bucket: str, key: str) -> bytes:
        try:
            return self._client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except self._client.exceptions.NoSuchKey as exc:
            raise ObjectNotFound(f"s3://{bucket}/{key}") from exc
        except self._client.exceptions.NoSuchBucket as exc:
            raise ObjectNotFound(f"bucket {bucket!r} does not exist") from exc

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self._client.put_object(Bucket=bucket, Key=key, Body=data)

    def list(self, bucket: str, prefix: str) -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = []
        try:
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                out.extend((o["Key"], int(o["Size"])) for o in page.get("Contents", []))
        except self._client.exceptions.NoSuchBucket as exc:
            raise ObjectNotFound(f"bucket {bucket!r} does not exist") from exc
        return sorted(out)

    def size(self, bucket: str, key: str) -> int:
        from botocore.exceptions import ClientError

        try:
            return int(self._client.head_object(Bucket=bucket, Key=key)["ContentLength"])
        except ClientError as exc:
            raise ObjectNotFound(f"s3://{bucket}/{key}") from exc

    def ensure_bucket(self, bucket: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self._client.create_bucket(Bucket=bucket)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in {
                "BucketAlreadyOwnedByYou",
                "BucketAlreadyExists",
            }:
                raise


class LocalDirStore:
    """Objects as files: ``<root>/<bucket>/<key>``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, bucket: str, key: str) -> Path:
        path = (self.root / bucket / key).resolve()
        if self.root not in path.parents and path != self.root:
            raise ObjectNotFound(f"{bucket}/{key} is outside the emulator's folder")
        return path

    def get(self, bucket: str, key: str) -> bytes:
        path = self._path(bucket, key)
        if not path.is_file():
            raise ObjectNotFound(f"{bucket}/{key}")
        return path.read_bytes()

    def put(self, bucket: str, key: str, data: bytes) -> None:
        path = self._path(bucket, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def list(self, bucket: str, prefix: str) -> list[tuple[str, int]]:
        base = self.root / bucket
        if not base.is_dir():
            raise ObjectNotFound(f"bucket {bucket!r} does not exist")
        out = []
        for path in base.rglob("*"):
            if path.is_file():
                key = path.relative_to(base).as_posix()
                if key.startswith(prefix):
                    out.append((key, path.stat().st_size))
        return sorted(out)

    def size(self, bucket: str, key: str) -> int:
        path = self._path(bucket, key)
        if not path.is_file():
            raise ObjectNotFound(f"{bucket}/{key}")
        return path.stat().st_size

    def ensure_bucket(self, bucket: str) -> None:
        (self.root / bucket).mkdir(parents=True, exist_ok=True)


def parse_object_url(url: str, *, endpoint_hosts: tuple[str, ...] = ()) -> tuple[str, str]:
    """``(bucket, key)`` of an object URL.

    Accepted: ``s3://bucket/key`` (also ``s3a``, ``gs``, ``minio``, ``tos``, ``oss``), path-style
    ``http(s)://<endpoint host>/bucket/key`` and virtual-hosted ``http(s)://bucket.<host>/key``.
    A key ending with ``/`` (or empty) names a folder. Raises ValueError on anything else.
    """
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"object URL must be a non-empty string, got {url!r}")
    split = urlsplit(url.strip())
    scheme = split.scheme.lower()
    if scheme in {"s3", "s3a", "gs", "gcs", "minio", "tos", "oss", "az"}:
        bucket, key = split.netloc, unquote(split.path.lstrip("/"))
    elif scheme in {"http", "https"}:
        host = split.netloc.lower()
        hostname = split.hostname or ""
        path = unquote(split.path.lstrip("/"))
        if host in endpoint_hosts or hostname in {h.split(":")[0] for h in endpoint_hosts}:
            bucket, _, key = path.partition("/")
        else:
            # virtual-hosted style: the bucket is the first label of the host name
            matched = [h for h in endpoint_hosts if host.endswith("." + h)]
            if matched:
                bucket, key = host[: -len(matched[0]) - 1], path
            elif "." in hostname and not hostname.replace(".", "").isdigit():
                bucket, key = hostname.split(".", 1)[0], path
            else:
                bucket, _, key = path.partition("/")
    else:
        raise ValueError(f"unsupported object URL {url!r}: use s3://bucket/key or http(s)://host/bucket/key")
    if not bucket:
        raise ValueError(f"object URL {url!r} names no bucket")
    return bucket, key
