"""Operators moving prepared files to object storage (before an import) and exports back (after).

Both return small JSON-able manifests for XCom. Prefixes are templated, so partitions of each run land
in their own place, e.g. ``prefix="imports/{{ dag.dag_id }}/{{ run_id }}"``. Re-running a task (retry,
backfill, clear) skips objects / files that are already complete, so nothing is transferred twice.
"""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_provider_vectorimport.exceptions import ConfigurationError
from airflow_provider_vectorimport.hooks.object_storage import ObjectStorageHook
from airflow_provider_vectorimport.storage.transfer import MiB, TransferOptions


def _options(
    multipart_threshold: int,
    multipart_chunksize: int,
    max_concurrency: int,
    max_workers: int,
    progress_interval: float,
    checksum: str = "sha256",
) -> TransferOptions:
    return TransferOptions(
        multipart_threshold=multipart_threshold,
        multipart_chunksize=multipart_chunksize,
        max_concurrency=max_concurrency,
        max_workers=max_workers,
        progress_interval=progress_interval,
        checksum=checksum,
    )


def _coerce_manifest(manifest: Any) -> dict[str, Any] | str | None:
    """A manifest from XCom may arrive as a dict, as JSON text, or as a rendered Python repr."""
    if manifest is None or isinstance(manifest, dict):
        return manifest
    if isinstance(manifest, os.PathLike):
        return os.fspath(manifest)
    if isinstance(manifest, str):
        text = manifest.strip()
        if not text.startswith("{"):
            return text  # a path to a manifest JSON file
        try:
            value = json.loads(text)
        except ValueError:
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                raise ConfigurationError("manifest text is neither JSON nor a mapping literal") from None
        if isinstance(value, dict):
            return value
    raise ConfigurationError(f"manifest must be a dict, JSON text or a path, got {type(manifest).__name__}")


class UploadToObjectStorageOperator(BaseOperator):
    """Upload a local file, folder or preparation manifest to ``s3://bucket/prefix/``.

    Multipart with parallel parts, several files at a time; objects already present with the same size
    and SHA-256 are skipped; incomplete multipart uploads for the keys being written (and stale ones under
    the prefix) are aborted first. Returns the uploaded manifest: ``bucket``, ``prefix``, ``files``
    (Milvus ``files=[[...]]``), ``object_urls`` / ``http_urls`` (Zilliz Cloud), ``tos_path`` (VikingDB),
    ``groups``, ``uploaded``/``skipped`` counts, ``total_rows``/``total_bytes``.

    :param prefix: destination key prefix (templated), e.g. ``"imports/{{ dag.dag_id }}/{{ run_id }}"``.
    :param source: a local file or folder (templated). Folders: one group per file, ``.npy`` files grouped
        per sub-folder (NumPy import).
    :param manifest: a preparation manifest (dict, JSON text or path to a JSON file; templated), e.g. the
        XCom of the prepare task. Exactly one of ``source`` / ``manifest``.
    :param bucket: bucket name (templated); defaults to the connection's ``bucket`` extra.
    :param conn_id: ``aws`` or ``vectorimport_s3`` connection.
    :param stale_multipart_after: also abort incomplete multipart uploads under the prefix older than this
        (seconds or timedelta; ``None`` to disable).
    :param extra_args: boto3 ``ExtraArgs`` for every object (e.g. ``{"ServerSideEncryption": "AES256"}``).
    :param checksum: ``"sha256"`` (default: SHA-256 stored in object metadata, compared on re-runs) or
        ``"etag"`` (no hashing before upload; re-runs compare ETags with the local MD5s).
    """

    template_fields: Sequence[str] = ("source", "manifest", "bucket", "prefix")
    ui_color = "#d6e9f8"

    def __init__(
        self,
        *,
        prefix: str,
        source: str | None = None,
        manifest: dict[str, Any] | str | None = None,
        bucket: str | None = None,
        conn_id: str = ObjectStorageHook.default_conn_name,
        multipart_threshold: int = 16 * MiB,
        multipart_chunksize: int = 16 * MiB,
        max_concurrency: int = 8,
        max_workers: int = 4,
        stale_multipart_after: float | timedelta | None = timedelta(days=1),
        extra_args: dict[str, Any] | None = None,
        progress_interval: float = 10.0,
        checksum: str = "sha256",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if source is None and manifest is None:
            raise ConfigurationError(f"{self.task_id}: give source (a local file or folder) or manifest")
        if source is not None and manifest is not None:
            raise ConfigurationError(f"{self.task_id}: give only one of source or manifest")
        self.source = source
        self.manifest = manifest
        self.bucket = bucket
        self.prefix = prefix
        self.conn_id = conn_id
        self.options = _options(
            multipart_threshold,
            multipart_chunksize,
            max_concurrency,
            max_workers,
            progress_interval,
            checksum,
        )
        if isinstance(stale_multipart_after, (int, float)):
            stale_multipart_after = timedelta(seconds=stale_multipart_after)
        self.stale_multipart_after = stale_multipart_after
        self.extra_args = extra_args

    def execute(self, context: Context) -> dict[str, Any]:
        hook = ObjectStorageHook(conn_id=self.conn_id)
        result = hook.upload(
            self.bucket,
            self.prefix,
            source=self.source,
            manifest=_coerce_manifest(self.manifest),
            options=self.options,
            stale_multipart_after=self.stale_multipart_after,
            extra_args=self.extra_args,
            logger=self.log,
        )
        self.log.info(
            "s3://%s/%s: %d uploaded, %d skipped (already present), %d bytes sent",
            result["bucket"],
            result["prefix"],
            result["uploaded"],
            result["skipped"],
            result["bytes_transferred"],
        )
        return result


class DownloadFromObjectStorageOperator(BaseOperator):
    """Download exactly the objects under ``s3://bucket/prefix/`` (e.g. a VikingDB export) to
    ``local_dir`` and record them in ``local_dir/.vectorimport-download.json``.

    Parallel and size-verified (optionally MD5 for single-part objects). A file is reused on re-runs
    only when the download manifest recorded it with the object's current size and ETag and it still
    has the recorded SHA-256; files of earlier downloads whose objects left the prefix are deleted;
    an incomplete multipart upload under the prefix fails the task (an export still being written).
    Returns ``{"bucket", "prefix", "local_dir", "manifest", "files": [{"key", "path", "bytes", "etag",
    "sha256"}], "downloaded", "skipped", "removed", "total_bytes"}``. Process it with
    ``iter_record_batches(<this XCom>)`` (:func:`airflow_provider_vectorimport.storage.iter_record_batches`),
    which reads the recorded files only.

    :param bucket: bucket name (templated); defaults to the connection's ``bucket`` extra.
    :param prefix: key prefix (templated); a single object key also works.
    :param local_dir: destination folder (templated), e.g. ``"/data/exports/{{ run_id }}"``.
    :param allow_empty: succeed with no files when nothing is under the prefix (default: error).
    :param incomplete_uploads: ``"error"`` (default) or ``"ignore"`` (download the completed objects).
    """

    template_fields: Sequence[str] = ("bucket", "prefix", "local_dir")
    ui_color = "#d6e9f8"

    def __init__(
        self,
        *,
        prefix: str,
        local_dir: str,
        bucket: str | None = None,
        conn_id: str = ObjectStorageHook.default_conn_name,
        verify_checksum: bool = False,
        allow_empty: bool = False,
        incomplete_uploads: str = "error",
        multipart_threshold: int = 16 * MiB,
        multipart_chunksize: int = 16 * MiB,
        max_concurrency: int = 8,
        max_workers: int = 4,
        progress_interval: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bucket = bucket
        self.prefix = prefix
        self.local_dir = local_dir
        self.conn_id = conn_id
        self.verify_checksum = verify_checksum
        self.allow_empty = allow_empty
        if incomplete_uploads not in ("error", "ignore"):
            raise ConfigurationError(
                f"{self.task_id}: incomplete_uploads must be 'error' or 'ignore', got {incomplete_uploads!r}"
            )
        self.incomplete_uploads = incomplete_uploads
        self.options = _options(
            multipart_threshold, multipart_chunksize, max_concurrency, max_workers, progress_interval
        )

    def execute(self, context: Context) -> dict[str, Any]:
        hook = ObjectStorageHook(conn_id=self.conn_id)
        result = hook.download(
            self.bucket,
            self.prefix,
            self.local_dir,
            options=self.options,
            verify_checksum=self.verify_checksum,
            allow_empty=self.allow_empty,
            incomplete_uploads=self.incomplete_uploads,
            logger=self.log,
        )
        self.log.info(
            "s3://%s/%s -> %s: %d downloaded, %d skipped (unchanged), %d stale file(s) removed",
            result["bucket"],
            result["prefix"],
            result["local_dir"],
            result["downloaded"],
            result["skipped"],
            len(result["removed"]),
        )
        return result
