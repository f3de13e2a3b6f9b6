"""Fan-out for data that outgrows one worker: split the inputs into shards, merge the shards' upload
manifests, and cut the merged file groups into import requests the service accepts.

The pieces are pure (no I/O but :func:`list_input_files`) so a DAG can use them from TaskFlow tasks,
and :mod:`airflow_provider_vectorimport.operators.fanout` wraps them as operators:

1. :func:`split_into_shards`: the inputs -> ``[[paths of shard 0], [paths of shard 1], ...]``, balanced
   by size and deterministic (the same files, names and sizes, give the same shards on every re-run,
   so the shards' object prefixes and the import jobs' file lists are the same too);
2. one mapped task per shard prepares and uploads it (from the worker that prepared it: its work
   directory is local to that worker) and returns its upload manifest;
3. :func:`merge_shard_manifests`: every shard present and successful, no file group or object key
   twice, one bucket and one schema -> one manifest of all file groups;
4. :func:`split_import_requests`: that manifest -> chunks of at most the service's limit of file
   groups per import request (1,024 for Milvus and Zilliz Cloud) for
   ``ZillizImportOperator.partial(...).expand(files=chunks)``: one job per chunk.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow_provider_vectorimport.exceptions import ConfigurationError, VectorImportError
from airflow_provider_vectorimport.prepare.api import LIMITS

#: Suffixes :func:`list_input_files` picks up by default (what ``prepare_files`` reads).
INPUT_SUFFIXES = (".json", ".jsonl", ".csv", ".parquet")


class ShardError(VectorImportError):
    """A shard is missing, failed, or does not fit with the others; nothing may be imported."""


def list_input_files(
    folder: str | os.PathLike[str], suffixes: Sequence[str] = INPUT_SUFFIXES
) -> list[tuple[str, int]]:
    """``(path, bytes)`` of the input files directly in ``folder``, sorted by path."""
    root = Path(folder)
    if not root.is_dir():
        raise ConfigurationError(f"input folder {root} does not exist")
    return [
        (str(p), p.stat().st_size)
        for p in sorted(root.iterdir())
        if p.is_file() and p.suffix.lower() in suffixes
    ]


def split_into_shards(
    files: Iterable[str | tuple[str, int]],
    shards: int,
    *,
    max_files_per_shard: int | None = None,
) -> list[list[str]]:
    """Split input files into at most ``shards`` lists (more when ``max_files_per_shard`` needs more),
    balanced by size: the largest file goes to the lightest shard, ties to the lower index. Files
    given as bare paths count one byte each (balanced by count). Every shard is non-empty and sorted;
    shards are ordered by their first path, so the result does not depend on the input order.

    Raises :class:`ConfigurationError` for no files, a file listed twice or a bad count."""
    if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
        raise ConfigurationError(f"shards must be a positive integer, got {shards!r}")
    if max_files_per_shard is not None and (
        isinstance(max_files_per_shard, bool)
        or not isinstance(max_files_per_shard, int)
        or max_files_per_shard < 1
    ):
        raise ConfigurationError(
            f"max_files_per_shard must be a positive integer, got {max_files_per_shard!r}"
        )
    sized: dict[str, int] = {}
    for item in files:
        path, size = (item, 1) if isinstance(item, str | os.PathLike) else (item[0], int(item[1]))
        path = os.fspath(path)
        if path in sized:
            raise ConfigurationError(f"input file {path} is listed twice")
        sized[path] = max(int(size), 1)
    if not sized:
        raise ConfigurationError("no input files to split into shards")
    count = min(shards, len(sized))
    if max_files_per_shard:
        count = max(count, -(-len(sized) // max_files_per_shard))
    bins: list[list[str]] = [[] for _ in range(count)]
    totals = [0] * count
    for path, size in sorted(sized.items(), key=lambda kv: (-kv[1], kv[0])):
        open_bins = [i for i in range(count) if not max_files_per_shard or len(bins[i]) < max_files_per_shard]
        best = min(open_bins, key=lambda i: (totals[i], len(bins[i]), i))
        bins[best].append(path)
        totals[best] += size
    return sorted((sorted(b) for b in bins if b), key=lambda b: b[0])


def _group_keys(group: Any, where: str) -> list[str]:
    keys = group.get("keys") if isinstance(group, Mapping) else group
    if isinstance(keys, str):
        keys = [keys]
    if not isinstance(keys, Sequence) or not keys or not all(isinstance(k, str) and k for k in keys):
        raise ShardError(f"{where}: a file group must list its object keys, got {group!r}")
    return list(keys)


def merge_shard_manifests(
    manifests: Sequence[Mapping[str, Any] | None],
    *,
    shards: Sequence[Sequence[str]] | None = None,
    failures: Mapping[int, str] | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """Merge the upload manifests of every shard (index = map index) into one manifest.

    :param manifests: each shard's upload manifest (``UploadToObjectStorageOperator`` /
        ``PrepareUploadShardOperator`` XCom); ``None`` where a shard produced none.
    :param shards: the planned shards (their input files), to check that every planned shard is
        there and that each manifest is of the inputs planned for it (not an earlier run's).
    :param failures: ``{map index: error}`` of shards that failed, named in the error.
    :param run_id: named in errors.

    Raises :class:`ShardError` naming the run and every shard at fault: missing or failed shards,
    a manifest of other inputs, a file group or object key in two places, shards in different
    buckets or prepared against different schemas, a shard without file groups.

    Returns a manifest shaped like an upload manifest: ``bucket``, ``groups`` (each with ``keys``,
    ``urls``, ``rows``, ``bytes`` and its ``shard``), ``files``, ``object_urls``, ``schema``,
    ``schema_fingerprint``, ``format``, ``target``, ``total_rows``, ``total_bytes``, ``shards``.
    """
    run = f"run {run_id}: " if run_id else ""
    failures = dict(failures or {})
    expected = len(shards) if shards is not None else len(manifests)

    def files_of(i: int) -> str:
        if shards is None or i >= len(shards):
            return ""
        names = [os.path.basename(p) for p in shards[i]]
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        return f" (inputs: {shown})"

    problems: list[str] = []
    if len(manifests) != expected:
        problems.append(f"{len(manifests)} shard manifest(s) for {expected} planned shard(s)")
    for i in range(expected):
        manifest = manifests[i] if i < len(manifests) else None
        if manifest is None or i in failures:
            reason = failures.get(i) or "produced no manifest (it failed or did not run)"
            problems.append(f"shard {i}{files_of(i)}: " + str(reason).replace("\n", "\n      "))
            continue
        if not isinstance(manifest, Mapping):
            problems.append(f"shard {i}: its manifest is a {type(manifest).__name__}, not a mapping")
            continue
        planned = manifest.get("shard_inputs")
        if shards is not None and planned is not None and list(planned) != list(shards[i]):
            problems.append(
                f"shard {i}: its manifest is of other inputs than planned "
                f"({len(planned)} file(s) vs {len(shards[i])}; a stale result?)"
            )
        if not manifest.get("groups") and not manifest.get("files"):
            problems.append(f"shard {i}{files_of(i)}: its manifest has no file groups")
    if problems:
        raise ShardError(
            f"{run}{len(problems)} problem(s) with the shards; nothing was imported:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )

    groups: list[dict[str, Any]] = []
    owner: dict[str, tuple[int, int]] = {}  # object key -> (shard, group) that holds it
    buckets: dict[str, list[int]] = {}
    fingerprints: dict[str, list[int]] = {}
    formats: dict[str, list[int]] = {}
    schema: Any = None
    target: Any = None
    for i, manifest in enumerate(manifests):
        assert manifest is not None
        buckets.setdefault(str(manifest.get("bucket")), []).append(i)
        if manifest.get("schema_fingerprint"):
            fingerprints.setdefault(str(manifest["schema_fingerprint"]), []).append(i)
        if manifest.get("format"):
            formats.setdefault(str(manifest["format"]), []).append(i)
        if schema is None and manifest.get("schema") is not None:
            schema = manifest["schema"]
        target = target or manifest.get("target")
        raw_groups = manifest.get("groups") or [{"keys": g} for g in manifest.get("files") or []]
        for gi, group in enumerate(raw_groups):
            keys = _group_keys(group, f"shard {i}, group {gi}")
            for key in keys:
                if key in owner:
                    si, sg = owner[key]
                    where = "the same shard" if si == i else f"shard {si}, group {sg}"
                    problems.append(f"object {key} is in shard {i}, group {gi} and in {where}")
                else:
                    owner[key] = (i, gi)
            g = dict(group) if isinstance(group, Mapping) else {"keys": keys}
            g["keys"] = keys
            g["shard"] = i
            groups.append(g)
    for what, seen in (("buckets", buckets), ("schemas (fingerprints)", fingerprints), ("formats", formats)):
        if len(seen) > 1:
            problems.append(
                f"the shards use different {what}: "
                + "; ".join(
                    f"{value[:16]} in shard(s) {', '.join(map(str, idx))}" for value, idx in seen.items()
                )
            )
    if problems:
        raise ShardError(
            f"{run}the shards do not merge into one import; nothing was imported:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )

    def total(key: str) -> int | None:
        values = [g.get(key) for g in groups]
        return sum(int(v) for v in values if v is not None) if None not in values else None

    return {
        "bucket": next(iter(buckets)),
        "format": next(iter(formats), None),
        "target": target,
        "schema": schema,
        "schema_fingerprint": next(iter(fingerprints), None),
        "shards": len(manifests),
        "groups": groups,
        "files": [g["keys"] for g in groups],
        "object_urls": [u for g in groups for u in (g.get("urls") or [])],
        "total_rows": total("rows"),
        "total_bytes": total("bytes"),
    }


def request_limits(target: str | None, fmt: str | None) -> tuple[int, int | None]:
    """(file groups per import request, bytes per request or None) for a target service and format,
    from the same table ``prepare_files`` plans with (:data:`~airflow_provider_vectorimport.prepare.api.LIMITS`)."""
    limits = LIMITS.get(target or "milvus", LIMITS["milvus"])
    units = limits.get(f"max_units_per_request_{fmt}", limits["max_units_per_request"])
    return int(units), limits.get("max_request_bytes")


def split_import_requests(
    merged: Mapping[str, Any],
    *,
    max_files_per_job: int | None = None,
    max_bytes_per_job: int | None = None,
) -> list[dict[str, Any]]:
    """Cut a merged manifest's file groups into import requests, in order.

    Each request holds at most ``max_files_per_job`` file groups (default and ceiling: the service's
    limit for the manifest's ``target`` and ``format``, 1,024 for Milvus and Zilliz Cloud) and at
    most ``max_bytes_per_job`` bytes where the groups' sizes are known (default: the service's
    limit, 100 GiB per Zilliz Cloud request). Each chunk is a manifest an import operator takes as
    ``files=`` / ``object_urls=`` (with the ``schema`` its preflight compares): ``files``,
    ``object_urls``, ``groups``, ``schema``, ``schema_fingerprint``, ``format``, ``target``,
    ``bucket``, ``total_rows``, ``total_bytes``, ``chunk``, ``chunks``, ``shards`` (indices)."""
    limit, byte_limit = request_limits(merged.get("target"), merged.get("format"))
    if max_files_per_job is not None:
        if (
            isinstance(max_files_per_job, bool)
            or not isinstance(max_files_per_job, int)
            or max_files_per_job < 1
        ):
            raise ConfigurationError(
                f"max_files_per_job must be a positive integer, got {max_files_per_job!r}"
            )
        if max_files_per_job > limit:
            raise ConfigurationError(
                f"max_files_per_job={max_files_per_job} is above the {merged.get('target') or 'milvus'} "
                f"limit of {limit} file groups per import request"
            )
        limit = max_files_per_job
    if max_bytes_per_job is not None:
        byte_limit = max_bytes_per_job
    groups = [dict(g) for g in merged.get("groups") or []]
    if not groups:
        raise ShardError("the merged manifest has no file groups to import")
    seen: set[tuple[str, ...]] = set()
    for g in groups:
        key = tuple(g["keys"])
        if key in seen:
            raise ShardError(f"file group {list(key)} appears twice in the merged manifest")
        seen.add(key)
    chunks: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for g in groups:
        nbytes = g.get("bytes")
        too_big = byte_limit and nbytes is not None and size + int(nbytes) > byte_limit
        if current and (len(current) >= limit or too_big):
            chunks.append(current)
            current, size = [], 0
        current.append(g)
        size += int(nbytes or 0)
    if current:
        chunks.append(current)

    def total(part: list[dict[str, Any]], key: str) -> int | None:
        values = [g.get(key) for g in part]
        return sum(int(v) for v in values if v is not None) if None not in values else None

    out = []
    for n, part in enumerate(chunks):
        out.append(
            {
                "chunk": n,
                "chunks": len(chunks),
                "bucket": merged.get("bucket"),
                "format": merged.get("format"),
                "target": merged.get("target"),
                "schema": merged.get("schema"),
                "schema_fingerprint": merged.get("schema_fingerprint"),
                "shards": sorted({g["shard"] for g in part if "shard" in g}),
                "groups": part,
                "files": [g["keys"] for g in part],
                "object_urls": [u for g in part for u in (g.get("urls") or [])],
                "total_rows": total(part, "rows"),
                "total_bytes": total(part, "bytes"),
            }
        )
    return out
