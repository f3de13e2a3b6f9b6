"""``prepare_batches``: one engine partition's Arrow record batches -> import files + a small manifest.

Engines (Spark ``mapInArrow``, Dask ``map_partitions``, Ray ``map_batches``) call it on their own
workers, once per partition. The batches are read one at a time (never materialised), checked with
``prepare_files``' full validation (errors name the part, the row within the part and the field),
written to a temporary folder and then published:

* ``out="s3://bucket/prefix"``: uploaded to ``prefix/partition-NNNNN/`` with the storage layer (the
  same transfer ``ObjectStorageHook.upload`` runs, checksums in object metadata), then the temporary
  folder is removed: a worker holds one partition's files on disk at most;
* ``out="/a/local/folder"``: renamed into ``folder/partition-NNNNN/`` (a shared file system).

A re-run of the same part with the same data finds its files in place and uploads nothing; a re-run
with *other* data under the same prefix (the same run key) is refused (:class:`PartConflictError`),
since the import of that run key may already have read the old files.

The manifest is shaped like a fan-out shard's upload manifest, so
:func:`~airflow_provider_vectorimport.engines.plan.plan_import_requests` (``fanout.merge_shard_manifests``
+ ``fanout.split_import_requests``) turns the parts' manifests into import requests.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_vectorimport.exceptions import ConfigurationError, VectorImportError
from airflow_provider_vectorimport.prepare.api import prepare_files
from airflow_provider_vectorimport.prepare.readers import RecordBatchStream
from airflow_provider_vectorimport.prepare.schema import CollectionSchema
from airflow_provider_vectorimport.storage.config import StorageConfig
from airflow_provider_vectorimport.storage.transfer import (
    SHA256_METADATA_KEY,
    TransferOptions,
    file_sha256,
    join_key,
    list_objects,
    normalize_prefix,
    plan_from_manifest,
    upload_plan,
)

__all__ = ["PartConflictError", "part_name", "prepare_batches"]

_PART_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class PartConflictError(VectorImportError):
    """The part's location already holds other files (a re-run with other data under the same run key)."""


def part_name(part_id: int | str) -> str:
    """``3`` -> ``partition-00003``; a string id (letters, digits, ``_ . -``) -> ``partition-<id>``."""
    if isinstance(part_id, bool):
        raise ConfigurationError(f"part_id must be an int >= 0 or a short name, got {part_id!r}")
    if isinstance(part_id, int):
        if part_id < 0:
            raise ConfigurationError(f"part_id must be >= 0, got {part_id}")
        return f"partition-{part_id:05d}"
    if not isinstance(part_id, str) or not _PART_ID.match(part_id):
        raise ConfigurationError(
            f"part_id must be an int >= 0 or 1-64 of letters, digits, '_', '.', '-', got {part_id!r}"
        )
    return f"partition-{part_id}"


def _storage(storage: StorageConfig | Mapping[str, Any] | None) -> StorageConfig:
    if storage is None:
        return StorageConfig()  # boto3's default credential chain on the worker
    if isinstance(storage, StorageConfig):
        return storage
    return StorageConfig(**dict(storage))


def _split_out(out: str | os.PathLike[str]) -> tuple[str | None, str]:
    """``s3://bucket/prefix`` -> (bucket, prefix); a local path -> (None, absolute path)."""
    text = os.fspath(out)
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme not in ("s3", "s3a", "gs", "oss", "tos") or not parts.netloc:
            raise ConfigurationError(f"out must be s3://bucket/prefix or a local folder, got {text!r}")
        return parts.netloc, normalize_prefix(parts.path)
    if not text.strip():
        raise ConfigurationError("out is empty: give s3://bucket/prefix or a local folder")
    return None, os.path.abspath(text)


def prepare_batches(
    batches: Iterable[Any],
    *,
    schema: CollectionSchema | Mapping[str, Any] | str | os.PathLike[str],
    out: str | os.PathLike[str],
    part_id: int | str,
    format: str = "parquet",
    storage: StorageConfig | Mapping[str, Any] | None = None,
    target: str = "milvus",
    chunk_size: int | str = "512MB",
    mode: str = "fail_fast",
    max_errors: int = 100,
    check_duplicates: bool = False,
    half_float_layout: str = "bytes",
    work_dir: str | os.PathLike[str] | None = None,
    transfer: TransferOptions | None = None,
    client: Any = None,
) -> dict[str, Any]:
    """Check and write one partition's batches as import files under ``out`` / ``partition-<id>``.

    :param batches: an iterator of ``pyarrow.RecordBatch`` (or ``Table``), read one at a time.
    :param schema: the collection schema (a dict as ``describe`` returns it, a ``CollectionSchema``,
        or a JSON file); pass a dict to engines (it travels to their workers).
    :param out: ``s3://bucket/prefix`` (object storage: ``storage`` says how to reach it) or a local folder.
    :param part_id: the partition's index (Spark's ``TaskContext.partitionId()``, Dask's
        ``partition_info["number"]``) or a short name; the same data must get the same id on a re-run.
    :param storage: a :class:`~airflow_provider_vectorimport.storage.StorageConfig` (or its keyword
        arguments as a dict); default: boto3's credential chain of the worker.
    :param work_dir: where the part's files are written before they are published (default: the
        system's temp folder for object storage, a hidden folder in ``out`` for a local one).
    :param client: a ready boto3 S3 client (instead of one made from ``storage``).

    Other parameters are those of :func:`~airflow_provider_vectorimport.prepare.prepare_files`.
    Raises :class:`~airflow_provider_vectorimport.prepare.PrepareError` (nothing written, nothing
    uploaded) naming ``part <id>``, the row within the part and the field; :class:`PartConflictError`
    when the part's location holds other files.

    Returns the part's manifest: ``part_id``, ``shard_inputs`` (``[name]``), ``bucket`` (None for a
    local ``out``), ``root`` (local only), ``prefix``, ``groups`` [{``keys``, ``urls``, ``rows``,
    ``bytes``}], ``files``, ``schema``, ``schema_fingerprint``, ``format``, ``target``,
    ``total_rows``, ``total_bytes``, ``uploaded`` / ``skipped`` (object storage).
    """
    name = part_name(part_id)
    bucket, location = _split_out(out)
    coll = CollectionSchema.load(schema)
    if bucket is None:
        os.makedirs(location, exist_ok=True)
        tmp_parent = os.fspath(work_dir) if work_dir is not None else location
    else:
        tmp_parent = os.fspath(work_dir) if work_dir is not None else tempfile.gettempdir()
    os.makedirs(tmp_parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{name}-", dir=tmp_parent)
    try:
        files_dir = os.path.join(tmp, name)
        prepared = prepare_files(
            RecordBatchStream(batches, label=f"part {part_id}"),
            coll,
            files_dir,
            format=format,
            chunk_size=chunk_size,
            mode=mode,
            max_errors=max_errors,
            target=target,
            check_duplicates=check_duplicates,
            half_float_layout=half_float_layout,
        )
        base = {
            "part_id": part_id,
            "shard_inputs": [name],
            "schema": prepared["schema"],
            "schema_fingerprint": prepared["schema_fingerprint"],
            "format": prepared["format"],
            "target": target,
            "total_rows": prepared["total_rows"],
            "total_bytes": prepared["total_bytes"],
        }
        if "half_float_layout" in prepared:
            base["half_float_layout"] = prepared["half_float_layout"]
        if bucket is None:
            return {**base, **_publish_local(prepared, files_dir, location, name)}
        return {
            **base,
            **_publish_remote(prepared, bucket, location, name, _storage(storage), transfer, client),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _publish_local(prepared: dict[str, Any], files_dir: str, root: str, name: str) -> dict[str, Any]:
    dest = os.path.join(root, name)
    if os.path.isdir(dest):
        _same_local(files_dir, dest, name)  # identical: keep what is there
    else:
        os.makedirs(files_dir, exist_ok=True)  # an empty part writes no folder
        os.replace(files_dir, dest)
    groups = [
        {
            "keys": [f"{name}/{rel}" for rel in g["files"]],
            "urls": [],
            "rows": g["rows"],
            "bytes": g["bytes"],
        }
        for g in prepared["groups"]
    ]
    return {
        "bucket": None,
        "root": root,
        "prefix": name,
        "groups": groups,
        "files": [g["keys"] for g in groups],
    }


def _digests(folder: str) -> dict[str, str]:
    out = {}
    for p in sorted(Path(folder).rglob("*")):
        if p.is_file():
            out[p.relative_to(folder).as_posix()] = file_sha256(p)
    return out


def _same_local(new: str, old: str, name: str) -> None:
    have, want = _digests(old), _digests(new) if os.path.isdir(new) else {}
    if have != want:
        diff = sorted(set(have) ^ set(want)) or sorted(k for k in have if have[k] != want.get(k))
        raise PartConflictError(
            f"part {name}: {old} already holds other files ({', '.join(diff[:3])} differ); a re-run "
            "under the same run key must write the same data (use a new run key for new data)"
        )


def _publish_remote(
    prepared: dict[str, Any],
    bucket: str,
    prefix: str,
    name: str,
    storage: StorageConfig,
    transfer: TransferOptions | None,
    client: Any,
) -> dict[str, Any]:
    part_prefix = join_key(prefix, name) if prefix else name
    if client is None:
        options = transfer or TransferOptions()
        client = storage.client(max_pool_connections=options.pool_connections)
    if not prepared["groups"]:
        return {
            "bucket": bucket,
            "prefix": part_prefix,
            "groups": [],
            "files": [],
            "uploaded": 0,
            "skipped": 0,
        }
    plan = plan_from_manifest(prepared)
    _check_remote(client, bucket, part_prefix, plan, name)
    uploaded = upload_plan(
        client,
        plan,
        bucket,
        part_prefix,
        storage=storage,
        options=transfer or TransferOptions(),
        stale_multipart_after=None,
    )
    groups = [
        {"keys": g["keys"], "urls": g["urls"], "rows": g["rows"], "bytes": pg["bytes"]}
        for g, pg in zip(uploaded["groups"], prepared["groups"], strict=True)
    ]
    return {
        "bucket": bucket,
        "prefix": part_prefix,
        "groups": groups,
        "files": [g["keys"] for g in groups],
        "uploaded": uploaded["uploaded"],
        "skipped": uploaded["skipped"],
    }


def _check_remote(client: Any, bucket: str, part_prefix: str, plan: Any, name: str) -> None:
    """Objects already under the part's prefix must be exactly the files about to be uploaded."""
    existing = list_objects(client, bucket, part_prefix + "/")
    if not existing:
        return
    want = {join_key(part_prefix, lf.rel): lf for lf in plan.files}
    problems = [f"{k} (not written by this run)" for k in sorted(set(existing) - set(want))]
    for key in sorted(set(existing) & set(want)):
        lf = want[key]
        head = client.head_object(Bucket=bucket, Key=key)
        remote = (head.get("Metadata") or {}).get(SHA256_METADATA_KEY)
        if existing[key]["size"] != lf.size or (remote and remote != file_sha256(lf.path)):
            problems.append(f"{key} (other content)")
    if problems:
        raise PartConflictError(
            f"part {name}: s3://{bucket}/{part_prefix}/ already holds other data: "
            + "; ".join(problems[:5])
            + ". A re-run under the same run key must write the same data (use a new run key for new "
            "data); nothing was uploaded"
        )
