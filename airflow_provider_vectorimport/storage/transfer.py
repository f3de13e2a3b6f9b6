"""Parallel, idempotent upload / download between local disk and S3-compatible object storage.

Pure boto3 (no Airflow imports): the hook and operators wrap these functions.

Idempotency ("skip if same"): every object we upload carries its SHA-256 in user metadata
(``x-amz-meta-sha256``). Before uploading, one listing of the destination prefix gives the size of
each existing object; when the size matches, the object's metadata is read (HEAD) and compared with the
local file's SHA-256. Objects written by other tools (no ``sha256`` metadata) are compared by ETag:
a plain MD5 for single-part objects, or the multipart ETag (md5 of the part md5s + ``-N``) recomputed
with our part size. SHA-256 metadata was preferred over ETags alone because ETags are not content
hashes on several S3-compatible services and under SSE-KMS, and depend on the part size used.
``TransferOptions(checksum="etag")`` trades that robustness for no pre-upload hash pass.

Partial multipart uploads: s3transfer aborts a multipart upload when a part fails; an upload left by a
crashed process is swept by :func:`abort_incomplete_uploads` before uploading (always for the exact
keys about to be written, and for anything under the prefix older than ``stale_multipart_after``).
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from airflow_provider_vectorimport.exceptions import (
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    PermissionDeniedError,
    ServiceError,
    VectorImportError,
)
from airflow_provider_vectorimport.storage.config import StorageConfig

log = logging.getLogger(__name__)

MiB = 1024 * 1024
SHA256_METADATA_KEY = "sha256"
_HASH_BLOCK = 8 * MiB

_AUTH_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "TokenRefreshRequired",
}
_DENIED_CODES = {"AccessDenied", "AllAccessDisabled", "AccountProblem", "403", "Forbidden"}
_MISSING_BUCKET_CODES = {"NoSuchBucket"}


class ManifestMismatchError(ConfigurationError):
    """The preparation manifest does not match the files on disk."""


class TransferError(VectorImportError):
    """Some files failed to transfer; ``failures`` maps file/key -> error message."""

    def __init__(self, message: str, failures: dict[str, str]):
        self.failures = failures
        super().__init__(message)


# ------------------------------------------------------------------------------------------------
# options, progress
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TransferOptions:
    """Parallelism knobs: ``max_workers`` files at a time, each in ``max_concurrency`` parts.

    ``checksum`` decides how "already uploaded" is recognised: ``"sha256"`` (default) hashes every file
    before upload and stores the digest in object metadata (robust on every S3-compatible service);
    ``"etag"`` skips that pre-upload hash pass and, on re-runs only, compares the object's ETag with the
    MD5 / multipart MD5 of the local file (cheaper, but services whose multipart ETags are not MD5-based,
    or SSE-KMS buckets, then re-upload instead of skipping — never the reverse).
    """

    multipart_threshold: int = 16 * MiB
    multipart_chunksize: int = 16 * MiB
    max_concurrency: int = 8
    max_workers: int = 4
    progress_interval: float = 10.0
    checksum: str = "sha256"

    def __post_init__(self) -> None:
        if self.checksum not in ("sha256", "etag"):
            raise ConfigurationError(f"checksum must be 'sha256' or 'etag', got {self.checksum!r}")
        if self.multipart_chunksize < 5 * MiB:
            raise ConfigurationError("multipart_chunksize must be at least 5 MiB (the S3 minimum part size)")
        if self.multipart_threshold < 1:
            raise ConfigurationError("multipart_threshold must be positive")
        if self.max_concurrency < 1 or self.max_workers < 1:
            raise ConfigurationError("max_concurrency and max_workers must be >= 1")

    def transfer_config(self) -> Any:
        from boto3.s3.transfer import TransferConfig

        return TransferConfig(
            multipart_threshold=self.multipart_threshold,
            multipart_chunksize=self.multipart_chunksize,
            max_concurrency=self.max_concurrency,
            use_threads=True,
        )

    @property
    def pool_connections(self) -> int:
        """urllib3 pool size so that every part in flight has a connection."""
        return self.max_workers * self.max_concurrency + 4


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


class Progress:
    """Thread-safe byte/file counters, logged at most every ``interval`` seconds."""

    def __init__(self, verb: str, total_bytes: int, total_files: int, logger: Any, interval: float = 10.0):
        self.verb = verb
        self.total_bytes = total_bytes
        self.total_files = total_files
        self.logger = logger
        self.interval = interval
        self.bytes_done = 0
        self.files_done = 0
        self.files_skipped = 0
        self.started = time.monotonic()
        self._last_log = self.started
        self._lock = threading.Lock()

    def add_bytes(self, n: int) -> None:
        with self._lock:
            self.bytes_done += n
            now = time.monotonic()
            due = now - self._last_log >= self.interval
            if due:
                self._last_log = now
        if due:
            self.logger.info("%s", self.line())

    def file_done(self, *, skipped: bool, size: int = 0) -> None:
        with self._lock:
            self.files_done += 1
            if skipped:  # nothing to move for it: leave it out of the byte total
                self.files_skipped += 1
                self.total_bytes -= size

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)

    def throughput(self) -> float:
        """Bytes per second actually transferred (skipped files excluded)."""
        return self.bytes_done / self.elapsed

    def line(self) -> str:
        pct = 100.0 * self.bytes_done / self.total_bytes if self.total_bytes else 100.0
        return (
            f"{self.verb} {_fmt_bytes(self.bytes_done)} / {_fmt_bytes(self.total_bytes)} ({pct:.0f}%), "
            f"{self.files_done}/{self.total_files} files ({self.files_skipped} skipped), "
            f"{_fmt_bytes(self.throughput())}/s"
        )


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------
def normalize_prefix(prefix: str | None) -> str:
    """``"/a//b/"`` -> ``"a/b"``; rejects ``..`` segments."""
    parts = [p for p in str(prefix or "").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ConfigurationError(f"prefix must not contain '..' segments: {prefix!r}")
    return "/".join(parts)


def join_key(prefix: str, rel: str) -> str:
    return f"{prefix}/{rel}" if prefix else rel


def _check_bucket_name(bucket: str | None) -> str:
    if not bucket or not str(bucket).strip():
        raise ConfigurationError("bucket is required (got an empty bucket name)")
    bucket = str(bucket).strip()
    if "/" in bucket or bucket.startswith("s3:"):
        raise ConfigurationError(f"bucket must be a bare bucket name, without scheme or path: {bucket!r}")
    return bucket


def content_fingerprint(objects: Iterable[tuple[str, int | None, str | None]]) -> str:
    """One digest of ``(key, size, etag)`` of some objects, in order: equal exactly when the same
    keys hold the same bytes (an S3 ETag changes with the content)."""
    h = hashlib.sha256()
    for key, size, etag in objects:
        h.update(f"{key}\t{size}\t{etag or ''}\n".encode())
    return h.hexdigest()[:32]


def file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            h.update(block)
    return h.hexdigest()


def file_etag(path: str | os.PathLike[str], size: int, options: TransferOptions) -> str:
    """The ETag S3 gives an unencrypted object uploaded with ``options`` (md5, or md5-of-md5s ``-N``)."""
    if size < options.multipart_threshold:
        h = hashlib.md5(usedforsecurity=False)
        with open(path, "rb") as fh:
            while block := fh.read(_HASH_BLOCK):
                h.update(block)
        return h.hexdigest()
    from s3transfer.utils import ChunksizeAdjuster

    chunk = ChunksizeAdjuster().adjust_chunksize(options.multipart_chunksize, size)
    digests = []
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digests.append(hashlib.md5(block, usedforsecurity=False).digest())
    return f"{hashlib.md5(b''.join(digests), usedforsecurity=False).hexdigest()}-{len(digests)}"


def translate_client_error(
    err: Exception, *, bucket: str, key: str | None = None, action: str = ""
) -> Exception:
    """botocore errors -> the provider's typed errors, naming the bucket / object."""
    from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError

    target = f"s3://{bucket}/{key}" if key else f"bucket {bucket!r}"
    if isinstance(err, (NoCredentialsError, PartialCredentialsError)):
        return ConfigurationError(
            f"no object storage credentials found for {target}: set login/password on the connection "
            "or provide them through the standard AWS credential chain"
        )
    if not isinstance(err, ClientError):
        return err
    error = err.response.get("Error", {}) or {}
    code = str(error.get("Code") or "")
    status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    request_id = err.response.get("ResponseMetadata", {}).get("RequestId")
    message = error.get("Message") or code or "error"
    what = f"{action} {target}".strip()
    kwargs = {"service": "s3", "code": code or None, "http_status": status, "request_id": request_id}
    if code in _MISSING_BUCKET_CODES or (code in ("404", "NotFound") and key is None):
        return NotFoundError(f"bucket {bucket!r} not found ({what})", **kwargs)
    if code in ("NoSuchKey", "404", "NotFound"):
        return NotFoundError(f"object not found: {target}", **kwargs)
    if code in _AUTH_CODES:
        return AuthenticationError(f"credentials rejected while trying to {what}: {message}", **kwargs)
    if code in _DENIED_CODES or status == 403:
        return PermissionDeniedError(f"access denied while trying to {what}: {message}", **kwargs)
    return ServiceError(f"failed to {what}: {message}", **kwargs)


def _call(
    fn: Callable[..., Any], *, bucket: str, key: str | None = None, action: str = "", **kwargs: Any
) -> Any:
    from boto3.exceptions import S3TransferFailedError, S3UploadFailedError
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return fn(**kwargs)
    except (ClientError, BotoCoreError) as err:
        raise translate_client_error(err, bucket=bucket, key=key, action=action) from err
    except (S3UploadFailedError, S3TransferFailedError) as err:  # boto3 wraps the ClientError
        cause = err.__cause__ or err.__context__
        if isinstance(cause, (ClientError, BotoCoreError)):
            raise translate_client_error(cause, bucket=bucket, key=key, action=action) from err
        raise


def list_objects(client: Any, bucket: str, prefix: str) -> dict[str, dict[str, Any]]:
    """``{key: {"size", "etag"}}`` for every object whose key starts with ``prefix``."""
    out: dict[str, dict[str, Any]] = {}
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        if token:
            kwargs["ContinuationToken"] = token
        page = _call(client.list_objects_v2, bucket=bucket, action="list objects in", **kwargs)
        for obj in page.get("Contents", []) or []:
            out[obj["Key"]] = {"size": int(obj["Size"]), "etag": str(obj.get("ETag", "")).strip('"')}
        if not page.get("IsTruncated"):
            return out
        token = page.get("NextContinuationToken")


def abort_incomplete_uploads(
    client: Any,
    bucket: str,
    prefix: str,
    *,
    keys: Iterable[str] = (),
    older_than: timedelta | None = None,
    logger: Any = log,
) -> list[str]:
    """Abort unfinished multipart uploads under ``prefix`` (so nothing is left to bill).

    An upload is aborted when its key is one of ``keys`` (we are about to write it anyway) or when it
    was initiated more than ``older_than`` ago. Returns the aborted keys.
    """
    wanted = set(keys)
    cutoff = datetime.now(UTC) - older_than if older_than is not None else None
    aborted: list[str] = []
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    while True:
        page = _call(
            client.list_multipart_uploads, bucket=bucket, action="list multipart uploads in", **kwargs
        )
        for upload in page.get("Uploads", []) or []:
            key, initiated = upload["Key"], upload.get("Initiated")
            stale = cutoff is not None and initiated is not None and initiated <= cutoff
            if key in wanted or stale:
                _call(
                    client.abort_multipart_upload,
                    bucket=bucket,
                    key=key,
                    action="abort multipart upload of",
                    Bucket=bucket,
                    Key=key,
                    UploadId=upload["UploadId"],
                )
                aborted.append(key)
        if not page.get("IsTruncated"):
            break
        kwargs["KeyMarker"] = page.get("NextKeyMarker")
        kwargs["UploadIdMarker"] = page.get("NextUploadIdMarker")
    if aborted:
        logger.info(
            "Aborted %d incomplete multipart upload(s) under s3://%s/%s", len(aborted), bucket, prefix
        )
    return aborted


# ------------------------------------------------------------------------------------------------
# upload plans
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LocalFile:
    path: str  # absolute
    rel: str  # posix path relative to the plan root: becomes <prefix>/<rel>
    size: int


@dataclass
class UploadPlan:
    """What to upload: files under one root, grouped as the import services want them."""

    root: str
    files: list[LocalFile]
    groups: list[dict[str, Any]]  # {"files": [rel, ...], "rows": int | None}
    format: str | None = None
    total_rows: int | None = None
    schema_fingerprint: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


_FORMATS = {".parquet": "parquet", ".json": "json", ".jsonl": "jsonl", ".npy": "numpy", ".csv": "csv"}


def _detect_format(rels: Iterable[str]) -> str | None:
    found = {_FORMATS.get(PurePosixPath(r).suffix.lower()) for r in rels}
    found.discard(None)
    return found.pop() if len(found) == 1 else None


def _safe_rel(rel: str, *, where: str) -> str:
    p = PurePosixPath(str(rel).replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise ManifestMismatchError(f"{where}: file path must be relative to the manifest root, got {rel!r}")
    return p.as_posix()


def plan_from_path(path: str | os.PathLike[str]) -> UploadPlan:
    """A file -> one group; a folder -> one group per file, except ``.npy`` files, grouped per folder."""
    if path is None or not str(path).strip():
        raise ConfigurationError("source is empty: give a local file or folder to upload")
    p = Path(path).expanduser()
    if not p.exists():
        raise ConfigurationError(f"local path does not exist: {p}")
    if p.is_file():
        root = p.parent.resolve()
        lf = LocalFile(str(p.resolve()), p.name, p.stat().st_size)
        return UploadPlan(str(root), [lf], [{"files": [p.name], "rows": None}], _detect_format([p.name]))
    root = p.resolve()
    files: list[LocalFile] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or name.endswith((".tmp", ".part")):
                continue
            full = Path(dirpath) / name
            files.append(LocalFile(str(full), full.relative_to(root).as_posix(), full.stat().st_size))
    if not files:
        raise ConfigurationError(f"local folder is empty (no files to upload): {root}")
    files.sort(key=lambda f: f.rel)
    groups: list[dict[str, Any]] = []
    npy_groups: dict[str, list[str]] = {}
    for f in files:
        if f.rel.lower().endswith(".npy"):
            parent = PurePosixPath(f.rel).parent.as_posix()
            if parent not in npy_groups:
                npy_groups[parent] = []
                groups.append({"files": npy_groups[parent], "rows": None})
            npy_groups[parent].append(f.rel)
        else:
            groups.append({"files": [f.rel], "rows": None})
    return UploadPlan(str(root), files, groups, _detect_format(f.rel for f in files))


def plan_from_manifest(manifest: dict[str, Any] | str | os.PathLike[str]) -> UploadPlan:
    """Validate a preparation manifest against the disk (existence, sizes) before any request."""
    import json

    if not isinstance(manifest, dict):
        mpath = Path(manifest)
        if not mpath.is_file():
            raise ConfigurationError(f"manifest file does not exist: {mpath}")
        try:
            manifest = json.loads(mpath.read_text())
        except ValueError as err:
            raise ManifestMismatchError(f"manifest {mpath} is not valid JSON: {err}") from None
        if not isinstance(manifest, dict):
            raise ManifestMismatchError(f"manifest {mpath} must be a JSON object")
    root_value = manifest.get("root")
    if not root_value:
        raise ManifestMismatchError(
            "manifest has no 'root' (the absolute folder the file paths are relative to)"
        )
    root = Path(root_value)
    if not root.is_absolute():
        raise ManifestMismatchError(f"manifest 'root' must be an absolute path, got {root_value!r}")
    if not root.is_dir():
        raise ManifestMismatchError(f"manifest root folder does not exist: {root}")

    declared: dict[str, int | None] = {}
    for i, entry in enumerate(manifest.get("files") or []):
        if isinstance(entry, str):
            entry = {"path": entry}
        if not isinstance(entry, dict) or "path" not in entry:
            raise ManifestMismatchError(f"manifest files[{i}] must be an object with a 'path'")
        rel = _safe_rel(entry["path"], where=f"manifest files[{i}]")
        declared[rel] = int(entry["bytes"]) if entry.get("bytes") is not None else None

    groups: list[dict[str, Any]] = []
    raw_groups = manifest.get("groups")
    if raw_groups is None:
        raw_groups = [{"files": [rel]} for rel in declared]
    for gi, group in enumerate(raw_groups):
        if isinstance(group, (list, tuple)):
            group = {"files": list(group)}
        gfiles = group.get("files") if isinstance(group, dict) else None
        if not gfiles:
            raise ManifestMismatchError(f"manifest groups[{gi}] has no files")
        rels = [_safe_rel(r, where=f"manifest groups[{gi}]") for r in gfiles]
        for rel in rels:
            declared.setdefault(rel, None)
        rows = group.get("rows")
        groups.append({"files": rels, "rows": int(rows) if rows is not None else None})
    if not declared:
        raise ManifestMismatchError(f"manifest lists no files (root {root})")

    files: list[LocalFile] = []
    problems: list[str] = []
    for rel, expected in declared.items():
        full = root / rel
        if not full.is_file():
            problems.append(f"{full}: listed in the manifest but missing on disk")
            continue
        size = full.stat().st_size
        if expected is not None and size != expected:
            problems.append(f"{full}: manifest says {expected} bytes, file has {size}")
            continue
        files.append(LocalFile(str(full), rel, size))
    if problems:
        shown = "; ".join(problems[:10]) + (f"; ... {len(problems) - 10} more" if len(problems) > 10 else "")
        raise ManifestMismatchError(f"manifest does not match the files on disk: {shown}")
    total_bytes = manifest.get("total_bytes")
    if total_bytes is not None and int(total_bytes) != sum(f.size for f in files):
        raise ManifestMismatchError(
            f"manifest total_bytes={total_bytes} but the listed files under {root} add up to "
            f"{sum(f.size for f in files)} bytes"
        )
    total_rows = manifest.get("total_rows")
    extra: dict[str, Any] = {}
    if manifest.get("target") is not None:
        extra["target"] = manifest["target"]
    if isinstance(manifest.get("schema"), dict):  # the import's schema preflight compares it
        extra["schema"] = manifest["schema"]
    requests = manifest.get("requests")
    if requests is not None:  # prepare_files() splits groups into import requests within service limits
        ok = isinstance(requests, list) and all(
            isinstance(r, list) and all(isinstance(i, int) and 0 <= i < len(groups) for i in r)
            for r in requests
        )
        if not ok:
            raise ManifestMismatchError(
                f"manifest 'requests' must be lists of group indices in [0, {len(groups)}), got {requests!r:.200}"
            )
        extra["requests"] = requests
    return UploadPlan(
        str(root),
        files,
        groups,
        manifest.get("format") or _detect_format(declared),
        int(total_rows) if total_rows is not None else None,
        manifest.get("schema_fingerprint"),
        extra,
    )


# ------------------------------------------------------------------------------------------------
# upload
# ------------------------------------------------------------------------------------------------
def _same_object(
    client: Any, bucket: str, key: str, lf: LocalFile, sha: str | None, etag: str, options: TransferOptions
) -> bool:
    head = _call(
        client.head_object, bucket=bucket, key=key, action="read metadata of", Bucket=bucket, Key=key
    )
    remote_sha = (head.get("Metadata") or {}).get(SHA256_METADATA_KEY)
    if remote_sha:
        return remote_sha == (sha or file_sha256(lf.path))
    return bool(etag) and file_etag(lf.path, lf.size, options) == etag


def upload_plan(
    client: Any,
    plan: UploadPlan,
    bucket: str,
    prefix: str,
    *,
    storage: StorageConfig | None = None,
    options: TransferOptions | None = None,
    stale_multipart_after: timedelta | None = timedelta(days=1),
    extra_args: dict[str, Any] | None = None,
    logger: Any = log,
) -> dict[str, Any]:
    """Upload ``plan`` to ``s3://bucket/prefix/`` and return the uploaded manifest (JSON-able).

    Raises before any transfer on a missing/denied bucket or bad credentials; raises
    :class:`TransferError` (after letting the other files finish) when any file fails, so a partial
    upload is never reported as success.
    """
    bucket = _check_bucket_name(bucket)
    prefix = normalize_prefix(prefix)
    options = options or TransferOptions()
    storage = storage or StorageConfig()
    keys = {lf.rel: join_key(prefix, lf.rel) for lf in plan.files}
    list_prefix = f"{prefix}/" if prefix else ""

    existing = list_objects(client, bucket, list_prefix)  # also the bucket/credentials preflight
    try:
        abort_incomplete_uploads(
            client, bucket, list_prefix, keys=keys.values(), older_than=stale_multipart_after, logger=logger
        )
    except PermissionDeniedError as err:  # sweeping is hygiene, not a reason to fail the upload
        logger.warning("Could not sweep incomplete multipart uploads: %s", err)

    transfer_config = options.transfer_config()
    progress = Progress("uploaded", plan.total_bytes, len(plan.files), logger, options.progress_interval)
    logger.info(
        "Uploading %d file(s), %s, from %s to s3://%s/%s",
        len(plan.files),
        _fmt_bytes(plan.total_bytes),
        plan.root,
        bucket,
        list_prefix,
    )

    etags: dict[str, str] = {}  # the object each key names now (what an import of it reads)

    def one(lf: LocalFile) -> bool:
        key = keys[lf.rel]
        sha = file_sha256(lf.path) if options.checksum == "sha256" else None
        current = existing.get(key)
        if current is not None and current["size"] == lf.size:
            if _same_object(client, bucket, key, lf, sha, current["etag"], options):
                etags[key] = current["etag"]
                progress.file_done(skipped=True, size=lf.size)
                return False
        args = {**(extra_args or {})}
        if sha:
            args["Metadata"] = {**args.get("Metadata", {}), SHA256_METADATA_KEY: sha}
        _call(
            client.upload_file,
            bucket=bucket,
            key=key,
            action="upload to",
            Filename=lf.path,
            Bucket=bucket,
            Key=key,
            ExtraArgs=args,
            Config=transfer_config,
            Callback=progress.add_bytes,
        )
        head = _call(client.head_object, bucket=bucket, key=key, action="verify", Bucket=bucket, Key=key)
        if int(head.get("ContentLength", -1)) != lf.size:
            raise TransferError(
                f"s3://{bucket}/{key}: uploaded size {head.get('ContentLength')} != local size {lf.size}",
                {lf.path: "size mismatch after upload"},
            )
        etags[key] = str(head.get("ETag", "")).strip('"')
        progress.file_done(skipped=False)
        return True

    uploaded, failures = _run_parallel(one, plan.files, options.max_workers, lambda lf: lf.path)
    if failures:
        raise _failed("upload", failures, len(plan.files), bucket, list_prefix)
    logger.info("%s in %.1f s", progress.line(), progress.elapsed)

    sizes = {keys[lf.rel]: lf.size for lf in plan.files}
    groups_out = []
    for group in plan.groups:
        gkeys = [join_key(prefix, rel) for rel in group["files"]]
        groups_out.append(
            {
                "keys": gkeys,
                "urls": [storage.object_url(bucket, k) for k in gkeys],
                "rows": group.get("rows"),
                # what the group's objects hold now: an import that read other bytes under the
                # same keys (a corrected day) is not this group's import
                "fingerprint": content_fingerprint((k, sizes.get(k), etags.get(k)) for k in gkeys),
            }
        )
    all_keys = [keys[lf.rel] for lf in plan.files]
    n_uploaded = sum(1 for v in uploaded.values() if v)
    passthrough: dict[str, Any] = {}
    if "target" in plan.extra:
        passthrough["target"] = plan.extra["target"]
    if "schema" in plan.extra:
        passthrough["schema"] = plan.extra["schema"]
    if "requests" in plan.extra:
        passthrough["requests"] = plan.extra["requests"]
        # Milvus ``files`` argument of each import request: [[keys of group], ...]
        passthrough["request_files"] = [
            [groups_out[i]["keys"] for i in req] for req in plan.extra["requests"]
        ]
    return {
        "bucket": bucket,
        "prefix": prefix,
        "endpoint_url": storage.effective_endpoint_url,
        "format": plan.format,
        "schema_fingerprint": plan.schema_fingerprint,
        "total_rows": plan.total_rows,
        "total_bytes": plan.total_bytes,
        "uploaded": n_uploaded,
        "skipped": len(plan.files) - n_uploaded,
        "bytes_transferred": progress.bytes_done,
        "elapsed_s": round(progress.elapsed, 3),
        "groups": groups_out,
        "files": [g["keys"] for g in groups_out],
        "object_urls": [storage.object_url(bucket, k) for k in all_keys],
        "http_urls": [storage.http_url(bucket, k) for k in all_keys],
        "tos_path": f"{bucket}/{prefix}" if prefix else bucket,
        **passthrough,
    }


def _run_parallel(
    fn: Callable[[Any], Any], items: list[Any], workers: int, name: Callable[[Any], str]
) -> tuple[dict[str, Any], dict[str, str]]:
    results: dict[str, Any] = {}
    failures: dict[str, str] = {}
    with ThreadPoolExecutor(
        max_workers=max(1, min(workers, len(items))), thread_name_prefix="s3xfer"
    ) as pool:
        futures = {pool.submit(fn, item): name(item) for item in items}
        for fut in as_completed(futures):
            label = futures[fut]
            try:
                results[label] = fut.result()
            except Exception as err:
                failures[label] = f"{type(err).__name__}: {err}"
                if isinstance(err, (AuthenticationError, PermissionDeniedError, NotFoundError)):
                    for other in futures:  # the same error would hit every other file
                        other.cancel()
    return results, failures


def _failed(verb: str, failures: dict[str, str], total: int, bucket: str, prefix: str) -> TransferError:
    shown = "; ".join(f"{k}: {v}" for k, v in list(failures.items())[:10])
    more = f"; ... {len(failures) - 10} more" if len(failures) > 10 else ""
    return TransferError(
        f"{verb} to/from s3://{bucket}/{prefix} failed for {len(failures)} of {total} file(s): {shown}{more}",
        failures,
    )


# ------------------------------------------------------------------------------------------------
# download
# ------------------------------------------------------------------------------------------------
def file_md5(path: str | os.PathLike[str]) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            h.update(block)
    return h.hexdigest()


_S3TRANSFER_TEMP = re.compile(r"\.[0-9A-Fa-f]{8}$")


def _remove_stale_temp_files(dest: Path) -> None:
    """s3transfer downloads to ``<name>.<8 hex>`` and renames; a crash leaves that file behind, where a
    later folder read would pick it up. Remove the ones left for ``dest``."""
    for sibling in dest.parent.glob(f"{glob.escape(dest.name)}.*"):
        suffix = sibling.name[len(dest.name) :]
        if _S3TRANSFER_TEMP.fullmatch(suffix) and sibling.is_file():
            sibling.unlink(missing_ok=True)


DOWNLOAD_MANIFEST = ".vectorimport-download.json"


def _read_download_manifest(root: Path) -> dict[str, Any] | None:
    try:
        with open(root / DOWNLOAD_MANIFEST, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("files"), list) else None


def _write_download_manifest(root: Path, data: dict[str, Any]) -> None:
    """Atomically (temp file + rename): a reader sees the old manifest or the new one, never half."""
    tmp = root / f"{DOWNLOAD_MANIFEST}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, root / DOWNLOAD_MANIFEST)


def _incomplete_uploads(client: Any, bucket: str, prefix: str, logger: Any) -> list[str]:
    """Keys under ``prefix`` with a multipart upload that was started and not completed."""
    keys: list[str] = []
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    try:
        while True:
            page = _call(
                client.list_multipart_uploads, bucket=bucket, action="list multipart uploads in", **kwargs
            )
            keys.extend(u["Key"] for u in page.get("Uploads", []) or [])
            if not page.get("IsTruncated"):
                return sorted(set(keys))
            kwargs["KeyMarker"] = page.get("NextKeyMarker")
            kwargs["UploadIdMarker"] = page.get("NextUploadIdMarker")
    except (PermissionDeniedError, ServiceError) as err:  # listing uploads may not be allowed
        logger.warning(
            "Could not list incomplete multipart uploads under s3://%s/%s: %s", bucket, prefix, err
        )
        return []


def _owned_path(root: Path, rel: Any) -> Path | None:
    """``root / rel`` when ``rel`` is a safe relative path inside ``root``; None otherwise."""
    if not isinstance(rel, str) or not rel or rel.startswith("/"):
        return None
    if ".." in PurePosixPath(rel).parts:
        return None
    return root / rel


def download_prefix(
    client: Any,
    bucket: str,
    prefix: str,
    local_dir: str | os.PathLike[str],
    *,
    options: TransferOptions | None = None,
    verify_checksum: bool = False,
    allow_empty: bool = False,
    incomplete_uploads: str = "error",
    logger: Any = log,
) -> dict[str, Any]:
    """Download exactly the objects under ``s3://bucket/prefix/`` now into ``local_dir`` (keys relative
    to the prefix) and record them in ``local_dir/.vectorimport-download.json`` (the download manifest).

    The rule (see the README, "Downloads"):

    * A local file is reused only when the manifest of an earlier download recorded it for the same key
      with the object's current size **and ETag**, and the file still has the recorded size and
      **SHA-256**. Anything else - an object changed in place (even to the same size), a local file
      edited or cut - is downloaded again. Every download is size-checked; ``verify_checksum`` also
      checks single-part ETags (plain MD5).
    * Files an earlier download recorded whose objects are no longer under the prefix are deleted.
      Files this function did not write are never deleted, and never listed in the manifest: read the
      folder with :func:`~airflow_provider_vectorimport.storage.iter_record_batches`, which follows the
      manifest rather than walking the folder.
    * An object still being written (an incomplete multipart upload under the prefix) fails the
      download before anything is fetched (``incomplete_uploads="error"``, naming the keys); ``"ignore"``
      downloads the completed objects only (incomplete uploads are never objects, so never read).
    * While a download runs the manifest says ``"state": "in_progress"``; readers refuse it until the
      download completes.
    """
    bucket = _check_bucket_name(bucket)
    prefix = normalize_prefix(prefix)
    options = options or TransferOptions()
    if incomplete_uploads not in ("error", "ignore"):
        raise ConfigurationError(
            f"incomplete_uploads must be 'error' or 'ignore', got {incomplete_uploads!r}"
        )
    if not local_dir:
        raise ConfigurationError("local_dir is required")
    root = Path(local_dir).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise ConfigurationError(f"local_dir exists and is not a folder: {root}")
    list_prefix = f"{prefix}/" if prefix else ""
    objects = list_objects(client, bucket, list_prefix)
    items: list[tuple[str, str, dict[str, Any]]] = []
    if not objects and prefix:  # the prefix may name a single object
        single = list_objects(client, bucket, prefix)
        if prefix in single:
            items.append((prefix, PurePosixPath(prefix).name, single[prefix]))
    for key, meta in sorted(objects.items()):
        rel = key[len(list_prefix) :]
        if not rel or rel.endswith("/"):
            if meta["size"] == 0:
                continue  # folder marker
        parts = PurePosixPath(rel).parts
        if ".." in parts or rel.startswith("/") or rel == DOWNLOAD_MANIFEST:
            raise ConfigurationError(
                f"refusing to download s3://{bucket}/{key}: unsafe relative path {rel!r}"
            )
        items.append((key, rel, meta))
    pending = _incomplete_uploads(client, bucket, list_prefix or prefix, logger)
    if pending and incomplete_uploads == "error":
        shown = ", ".join(f"s3://{bucket}/{k}" for k in pending[:5])
        more = f" and {len(pending) - 5} more" if len(pending) > 5 else ""
        raise TransferError(
            f"s3://{bucket}/{list_prefix} holds incomplete multipart upload(s): {shown}{more}. An object "
            "is still being written (or its writer died): wait for the export to finish, or abort the "
            "upload(s); pass incomplete_uploads='ignore' to download only the completed objects",
            {k: "incomplete multipart upload" for k in pending},
        )
    if pending:
        logger.warning(
            "Ignoring %d incomplete multipart upload(s) under s3://%s/%s", len(pending), bucket, list_prefix
        )
    if not items and not allow_empty:
        raise NotFoundError(f"no objects found under s3://{bucket}/{list_prefix}", service="s3")

    root.mkdir(parents=True, exist_ok=True)
    for leftover in root.glob(f"{glob.escape(DOWNLOAD_MANIFEST)}.*.tmp"):  # a manifest write cut short
        leftover.unlink(missing_ok=True)
    previous = _read_download_manifest(root) or {"files": []}
    prev_by_rel: dict[str, dict[str, Any]] = {}
    for entry in previous["files"]:
        if isinstance(entry, dict) and _owned_path(root, entry.get("rel")) is not None:
            prev_by_rel[entry["rel"]] = entry
    current_rels = {rel for _, rel, _ in items}
    # written before anything moves: a crash from here on leaves a manifest that readers refuse and that
    # still owns every file this download may have written, so the next run can clean up after it
    header = {"version": 1, "bucket": bucket, "prefix": prefix}
    pending_entries = [
        {"rel": rel, "key": key, "bytes": meta["size"], "etag": meta["etag"], "sha256": None}
        for key, rel, meta in items
    ]
    _write_download_manifest(
        root,
        {
            **header,
            "state": "in_progress",
            "files": pending_entries + [e for r, e in prev_by_rel.items() if r not in current_rels],
        },
    )

    total = sum(meta["size"] for _, _, meta in items)
    progress = Progress("downloaded", total, len(items), logger, options.progress_interval)
    transfer_config = options.transfer_config()
    logger.info(
        "Downloading %d object(s), %s, from s3://%s/%s to %s",
        len(items),
        _fmt_bytes(total),
        bucket,
        list_prefix,
        root,
    )

    def check(dest: Path, key: str, meta: dict[str, Any]) -> str | None:
        size = dest.stat().st_size
        if size != meta["size"]:
            return f"size {size} != object size {meta['size']}"
        etag = meta["etag"]
        if verify_checksum and etag and "-" not in etag and len(etag) == 32 and file_md5(dest) != etag:
            return "MD5 does not match the object's ETag"
        return None

    def reusable(dest: Path, key: str, rel: str, meta: dict[str, Any]) -> str | None:
        """The recorded SHA-256 when the local file is this object's earlier download, unchanged."""
        prev = prev_by_rel.get(rel)
        if not prev or prev.get("key") != key or not prev.get("sha256"):
            return None
        if prev.get("bytes") != meta["size"] or not meta["etag"] or prev.get("etag") != meta["etag"]:
            return None  # the object changed (or the service gives no ETag to compare)
        if not dest.is_file() or dest.stat().st_size != meta["size"]:
            return None
        sha = file_sha256(dest)
        return sha if sha == prev["sha256"] else None

    def one(item: tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
        key, rel, meta = item
        dest = root / rel
        entry = {"key": key, "rel": rel, "path": str(dest), "bytes": meta["size"], "etag": meta["etag"]}
        sha = reusable(dest, key, rel, meta)
        if sha is not None:
            progress.file_done(skipped=True, size=meta["size"])
            return {**entry, "sha256": sha, "skipped": True}
        dest.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temp_files(dest)
        _call(
            client.download_file,
            bucket=bucket,
            key=key,
            action="download",
            Bucket=bucket,
            Key=key,
            Filename=str(dest),
            Config=transfer_config,
            Callback=progress.add_bytes,
        )
        problem = check(dest, key, meta)
        if problem:
            dest.unlink(missing_ok=True)
            raise TransferError(f"s3://{bucket}/{key} -> {dest}: {problem}", {key: problem})
        progress.file_done(skipped=False)
        return {**entry, "sha256": file_sha256(dest), "skipped": False}

    results, failures = _run_parallel(one, items, options.max_workers, lambda it: it[0])
    if failures:
        raise _failed("download", failures, len(items), bucket, list_prefix)

    # files earlier downloads wrote whose objects are gone from the prefix: delete them (ours only)
    removed: list[str] = []
    for rel in sorted(set(prev_by_rel) - current_rels):
        path = _owned_path(root, rel)
        if path is not None and path.is_file():
            path.unlink()
            removed.append(rel)
            parent = path.parent
            while parent != root and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
    if removed:
        logger.info(
            "Removed %d file(s) of an earlier download no longer under the prefix: %s",
            len(removed),
            removed[:10],
        )
    logger.info("%s in %.1f s", progress.line(), progress.elapsed)
    files = [results[key] for key, _, _ in items]
    _write_download_manifest(
        root,
        {
            **header,
            "state": "complete",
            "files": [{k: f[k] for k in ("rel", "key", "bytes", "etag", "sha256")} for f in files],
        },
    )
    downloaded = sum(1 for f in files if not f["skipped"])
    return {
        "bucket": bucket,
        "prefix": prefix,
        "local_dir": str(root),
        "manifest": str(root / DOWNLOAD_MANIFEST),
        "files": [{k: f[k] for k in ("key", "path", "bytes", "etag", "sha256")} for f in files],
        "downloaded": downloaded,
        "skipped": len(files) - downloaded,
        "removed": removed,
        "total_bytes": total,
        "bytes_transferred": progress.bytes_done,
        "elapsed_s": round(progress.elapsed, 3),
    }
