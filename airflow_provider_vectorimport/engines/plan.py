"""The engines' part manifests -> import requests, with the fan-out's merge and split.

:func:`merge_parts` orders the parts by id, checks that every expected part is there once and wrote
rows, then calls :func:`~airflow_provider_vectorimport.fanout.merge_shard_manifests` (one bucket, one
schema, one format, no object twice); :func:`plan_import_requests` then cuts the merged groups with
:func:`~airflow_provider_vectorimport.fanout.split_import_requests` (at most 1,024 file groups per
request, the service's byte limit). Each request is what ``ZillizImportOperator(files=...)`` takes;
the object keys of a run key are the same on every re-run, so the import's exactly-once record and
``reattach_across_runs`` make a re-run import nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from airflow_provider_vectorimport.engines.partition import part_name
from airflow_provider_vectorimport.fanout import ShardError, merge_shard_manifests, split_import_requests

__all__ = ["merge_parts", "plan_import_requests"]


def merge_parts(
    manifests: Iterable[Mapping[str, Any]],
    *,
    parts: int | Sequence[int | str] | None = None,
    allow_empty_parts: bool = False,
    run_key: str | None = None,
) -> dict[str, Any]:
    """Merge the manifests ``prepare_batches`` returned (in any order) into one manifest.

    :param parts: the parts that must be there: a count (ids ``0 .. parts-1``) or the ids; default:
        whichever parts came back (then only duplicates and empties are checked).
    :param allow_empty_parts: skip parts that wrote no rows (an engine's empty partitions) instead
        of refusing them.
    :param run_key: named in errors.

    Raises :class:`~airflow_provider_vectorimport.fanout.ShardError` naming every part at fault.
    """
    run = f"run {run_key}: " if run_key else ""
    by_name: dict[str, Mapping[str, Any]] = {}
    problems: list[str] = []
    for m in manifests:
        if not isinstance(m, Mapping) or "part_id" not in m:
            problems.append(f"not a part manifest (prepare_batches' result): {m!r:.120}")
            continue
        name = part_name(m["part_id"])
        if name in by_name:
            problems.append(
                f"part {m['part_id']} reported twice (a retried task whose first result was kept?)"
            )
            continue
        by_name[name] = m
    if parts is not None:
        wanted = [part_name(p) for p in (range(parts) if isinstance(parts, int) else parts)]
        missing = [n for n in wanted if n not in by_name]
        extra = sorted(set(by_name) - set(wanted))
        if missing:
            problems.append(f"{len(missing)} part(s) missing: {', '.join(missing[:10])}")
        if extra:
            problems.append(f"part(s) not expected: {', '.join(extra[:10])}")
    empty = [n for n, m in by_name.items() if not m.get("groups")]
    if empty and not allow_empty_parts:
        problems.append(
            f"{len(empty)} part(s) wrote no rows: {', '.join(sorted(empty)[:10])} (an empty partition? "
            "pass allow_empty_parts=True to skip them)"
        )
    if problems:
        raise ShardError(
            f"{run}{len(problems)} problem(s) with the engine's parts; nothing was imported:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    ordered = [by_name[n] for n in sorted(by_name) if by_name[n].get("groups")]
    if not ordered:
        raise ShardError(f"{run}no part wrote any rows; nothing to import")
    merged = merge_shard_manifests(ordered, shards=[list(m["shard_inputs"]) for m in ordered], run_id=run_key)
    if merged["bucket"] == "None":  # local parts: merge_shard_manifests keys buckets by str()
        merged["bucket"] = None
        merged["root"] = ordered[0].get("root")
    merged["parts"] = [m["part_id"] for m in ordered]
    merged["skipped_empty_parts"] = len(empty)
    return merged


def plan_import_requests(
    manifests: Iterable[Mapping[str, Any]],
    *,
    parts: int | Sequence[int | str] | None = None,
    allow_empty_parts: bool = False,
    run_key: str | None = None,
    max_files_per_job: int | None = None,
    max_bytes_per_job: int | None = None,
) -> list[dict[str, Any]]:
    """:func:`merge_parts`, then ``fanout.split_import_requests``: the import requests, in part order."""
    merged = merge_parts(manifests, parts=parts, allow_empty_parts=allow_empty_parts, run_key=run_key)
    if merged.get("bucket") is None:
        raise ShardError(
            "the parts were written to a local folder; upload them (or write to s3://) to import"
        )
    return split_import_requests(
        merged, max_files_per_job=max_files_per_job, max_bytes_per_job=max_bytes_per_job
    )
