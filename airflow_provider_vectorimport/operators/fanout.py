"""Fan-out operators: prepare + upload one shard per mapped task, then merge the shards into import
requests (see :mod:`airflow_provider_vectorimport.fanout` for the pure pieces).

.. code-block:: python

    plan = plan_shards()  # a TaskFlow task: split_into_shards(list_input_files(folder), 8)
    shard = PrepareUploadShardOperator.partial(
        task_id="shard", schema_from="zilliz_default:articles", output_dir=WORK, bucket=B, prefix=P
    ).expand(inputs=plan)
    chunks = MergeShardsOperator(task_id="merge", shard_task_id="shard", shards=plan)
    shard >> chunks
    ZillizImportOperator.partial(task_id="import", collection_name="articles").expand(files=chunks.output)

One shard's prepare and upload run in one task on purpose: the prepared files live in the work
directory of the worker (or pod) that wrote them, so that worker must upload them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_vectorimport.fanout import (
    ShardError,
    merge_shard_manifests,
    request_limits,
    split_import_requests,
)
from airflow_provider_vectorimport.hooks.object_storage import ObjectStorageHook
from airflow_provider_vectorimport.operators.object_storage import _options
from airflow_provider_vectorimport.operators.prepare import PrepareImportFilesOperator
from airflow_provider_vectorimport.storage.transfer import MiB

#: XCom key under which a failing shard leaves its error for :class:`MergeShardsOperator`.
SHARD_ERROR_KEY = "shard_error"


def _shard_name(index: int) -> str:
    return f"shard-{index:05d}"


class PrepareUploadShardOperator(PrepareImportFilesOperator):
    """Prepare one shard's ``inputs`` (as :class:`PrepareImportFilesOperator`) and upload the result
    to ``s3://bucket/prefix/shard-NNNNN/`` (as ``UploadToObjectStorageOperator``), in one task.

    Meant to be mapped over the shards (``.partial(...).expand(inputs=shards)``): the map index
    names the shard, its work folder (``output_dir/shard-NNNNN``) and its object prefix, so shards
    never overwrite each other and a re-run of the same shard rewrites the same folder and skips
    the objects already uploaded. Returns the upload manifest plus ``shard_index``,
    ``shard_inputs`` (checked by :class:`MergeShardsOperator`) and each group's ``bytes``.

    Bad data fails the shard without retries, with an error naming the run, the shard (map index
    and inputs) and each file/row/field; the same text is left in XCom under
    :data:`SHARD_ERROR_KEY` for the merge step to report.

    :param bucket: bucket name (templated); defaults to the storage connection's ``bucket`` extra.
    :param prefix: key prefix (templated) under which each shard gets its own folder.
    :param storage_conn_id: ``aws`` or ``vectorimport_s3`` connection of the bucket.

    The other parameters are :class:`PrepareImportFilesOperator`'s and the upload's
    (``multipart_threshold``, ``multipart_chunksize``, ``max_concurrency``, ``max_workers``,
    ``checksum``, ``extra_args``, ``stale_multipart_after``).
    """

    template_fields: Sequence[str] = (*PrepareImportFilesOperator.template_fields, "bucket", "prefix")
    ui_color = "#d9ecf7"

    def __init__(
        self,
        *,
        prefix: str,
        bucket: str | None = None,
        storage_conn_id: str = ObjectStorageHook.default_conn_name,
        multipart_threshold: int = 16 * MiB,
        multipart_chunksize: int = 16 * MiB,
        max_concurrency: int = 8,
        max_workers: int = 4,
        stale_multipart_after: float | timedelta | None = timedelta(days=1),
        extra_args: dict[str, Any] | None = None,
        checksum: str = "sha256",
        progress_interval: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bucket = bucket
        self.prefix = prefix
        self.storage_conn_id = storage_conn_id
        self.upload_options = _options(
            multipart_threshold,
            multipart_chunksize,
            max_concurrency,
            max_workers,
            progress_interval,
            checksum,
        )
        if isinstance(stale_multipart_after, int | float):
            stale_multipart_after = timedelta(seconds=stale_multipart_after)
        self.stale_multipart_after = stale_multipart_after
        self.extra_args = extra_args

    def _label(self, context: Context, index: int, inputs: Any) -> str:
        run_id = context.get("run_id") or getattr(context["ti"], "run_id", "?")
        if isinstance(inputs, str | os.PathLike):
            inputs = [inputs]
        names = [os.path.basename(str(p)) for p in inputs or []] if isinstance(inputs, list | tuple) else []
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        shard = f"shard {index}" if index >= 0 else "the shard"
        return f"run {run_id}, {shard}" + (f" (inputs: {shown})" if shown else "")

    def execute(self, context: Context) -> dict[str, Any]:
        ti = context["ti"]
        index = getattr(ti, "map_index", -1)
        index = -1 if index is None else int(index)
        inputs = self.inputs
        label = self._label(context, index, inputs)
        if index >= 0:
            self.output_dir = os.path.join(self.output_dir, _shard_name(index))
            self.prefix = (
                f"{self.prefix.rstrip('/')}/{_shard_name(index)}" if self.prefix else _shard_name(index)
            )
        try:
            manifest = super().execute(context)
        except AirflowFailException as exc:  # bad data / schema: retrying cannot fix it
            ti.xcom_push(key=SHARD_ERROR_KEY, value=str(exc))
            raise AirflowFailException(f"{label}: {exc}") from exc
        try:
            result = ObjectStorageHook(conn_id=self.storage_conn_id).upload(
                self.bucket,
                self.prefix,
                manifest=manifest,
                options=self.upload_options,
                stale_multipart_after=self.stale_multipart_after,
                extra_args=self.extra_args,
                logger=self.log,
            )
        except Exception as exc:  # may be transient: keep the task's retries, but say which shard
            ti.xcom_push(key=SHARD_ERROR_KEY, value=f"upload failed: {exc}")
            raise
        prepared = manifest.get("groups") or []
        if len(prepared) == len(result["groups"]):
            for out, src in zip(result["groups"], prepared, strict=True):
                out["bytes"] = src.get("bytes")
        for per_shard in ("requests", "request_files"):  # this shard's own request plan: not the import's
            result.pop(per_shard, None)
        result["shard_index"] = index
        result["shard_inputs"] = (
            [os.fspath(p) for p in inputs] if isinstance(inputs, list | tuple) else inputs
        )
        self.log.info(
            "%s: %d rows in %d file group(s) at s3://%s/%s (%d uploaded, %d already there)",
            label,
            result.get("total_rows") or 0,
            len(result["groups"]),
            result["bucket"],
            result["prefix"],
            result["uploaded"],
            result["skipped"],
        )
        return result


class MergeShardsOperator(BaseOperator):
    """The reduce step: merge every shard's manifest and split the file groups into import requests.

    Pulls the manifest of each map index of ``shard_task_id`` (``0 .. len(shards) - 1``), checks that
    every shard is there and succeeded, that no object key or file group is in two places, and that
    all shards share one bucket, schema and format (:func:`~airflow_provider_vectorimport.fanout.merge_shard_manifests`),
    then cuts the groups into requests of at most ``max_files_per_job`` groups
    (:func:`~airflow_provider_vectorimport.fanout.split_import_requests`). Returns the list of
    requests for ``ZillizImportOperator.partial(...).expand(files=<this output>)`` (Milvus) or
    ``expand(object_urls=...)`` (Zilliz Cloud): one import job per request.

    Runs with ``trigger_rule="all_done"`` (default here) so that a failed shard is reported by name,
    with its error, in one place; any problem fails this task and nothing is imported.

    :param shard_task_id: task id of the mapped shard task.
    :param shards: the planned shards (the list the shard task was expanded over; templated /
        an XComArg), or their number.
    :param max_files_per_job: file groups per import request (templated); default and ceiling:
        the service's limit (1,024 for Milvus and Zilliz Cloud).
    :param max_bytes_per_job: bytes per request where group sizes are known; default: the service's.
    """

    template_fields: Sequence[str] = ("shards", "max_files_per_job")
    ui_color = "#c5e1f5"

    def __init__(
        self,
        *,
        shard_task_id: str,
        shards: Any,
        max_files_per_job: int | str | None = None,
        max_bytes_per_job: int | None = None,
        trigger_rule: str = "all_done",
        **kwargs: Any,
    ) -> None:
        super().__init__(trigger_rule=trigger_rule, **kwargs)
        self.shard_task_id = shard_task_id
        self.shards = shards
        self.max_files_per_job = max_files_per_job
        self.max_bytes_per_job = max_bytes_per_job

    def execute(self, context: Context) -> list[dict[str, Any]]:
        ti = context["ti"]
        run_id = context.get("run_id") or ti.run_id
        shards = self.shards
        planned: list[list[str]] | None
        if isinstance(shards, int) and not isinstance(shards, bool):
            planned, count = None, shards
        elif isinstance(shards, list | tuple):
            planned, count = [list(s) if isinstance(s, list | tuple) else [s] for s in shards], len(shards)
        else:
            raise AirflowFailException(
                f"run {run_id}: shards must be the planned shard list or their number, got {type(shards).__name__}"
            )
        limit = self.max_files_per_job
        if isinstance(limit, str):
            try:
                limit = int(limit) if limit.strip() else None
            except ValueError:
                raise AirflowFailException(
                    f"run {run_id}: max_files_per_job must be a whole number, got {limit!r}"
                ) from None
        states = self._shard_states(ti, run_id)
        self._check_mapped_count(ti, run_id, states, count, planned is not None)
        manifests: list[Any] = []
        failures: dict[int, str] = {}
        for i in range(count):
            state = states.get(i, "success") if states is not None else "success"
            if states is not None and i not in states:
                failures[i] = "no such task instance (the shard task was expanded over other shards)"
            manifests.append(
                ti.xcom_pull(task_ids=self.shard_task_id, map_indexes=i) if state == "success" else None
            )
            if manifests[-1] is None and i not in failures:
                error = (
                    ti.xcom_pull(task_ids=self.shard_task_id, map_indexes=i, key=SHARD_ERROR_KEY)
                    if state == "failed"
                    else None
                )
                failures[i] = f"{state}: {error}" if error else f"{state}, no manifest"
        try:
            merged = merge_shard_manifests(manifests, shards=planned, failures=failures, run_id=run_id)
            chunks = split_import_requests(
                merged, max_files_per_job=limit, max_bytes_per_job=self.max_bytes_per_job
            )
        except (ShardError, ValueError) as exc:
            raise AirflowFailException(
                str(exc) if str(exc).startswith("run ") else f"run {run_id}: {exc}"
            ) from exc
        self.log.info(
            "%d shard(s): %d file group(s), %s rows -> %d import request(s) (at most %s file groups each)",
            merged["shards"],
            len(merged["groups"]),
            merged["total_rows"],
            len(chunks),
            limit or request_limits(merged.get("target"), merged.get("format"))[0],
        )
        return chunks

    def _check_mapped_count(
        self, ti: Any, run_id: str, states: dict[int, str] | None, count: int, is_plan: bool
    ) -> None:
        """Refuse a count or plan that disagrees with the shard task instances of this run: a mapped
        shard outside ``0 .. count - 1`` would be in no import request while the run is green."""
        if states is not None:
            extra = sorted(i for i in states if i >= count)
        else:  # no task states from the SDK: probe the XCom of the first shard past the count
            beyond = ti.xcom_pull(task_ids=self.shard_task_id, map_indexes=count)
            extra = [count] if beyond is not None else []
        if not extra:
            return
        mapped = f"{max(extra) + 1}" if states is None else f"{len(states)}"
        given = f"a plan of {count} shard(s)" if is_plan else f"shards={count}"
        shown = ", ".join(f"shard {i}: ran but is not in the plan" for i in extra[:5])
        more = f" and {len(extra) - 5} more" if len(extra) > 5 else ""
        raise AirflowFailException(
            f"run {run_id}: the shard task {self.shard_task_id} has {mapped} mapped task instance(s) "
            f"in this run, not {count} ({given}); their rows would be in no import request, so "
            f"nothing was imported:\n  - {shown}{more}\n"
            f"Pass the list the shard task was expanded over as shards= (or its exact length)."
        )

    def _shard_states(self, ti: Any, run_id: str) -> dict[int, str] | None:
        """``{map index: state}`` of the shard task in this run (None where the SDK cannot tell)."""
        try:
            found = ti.get_task_states(dag_id=ti.dag_id, task_ids=[self.shard_task_id], run_ids=[run_id])
        except Exception as exc:  # an older SDK: judge by the XComs alone
            self.log.info("Shard states unavailable (%s); judging the shards by their XComs", exc)
            return None
        prefix = f"{self.shard_task_id}_"
        states: dict[int, str] = {}
        for name, state in (found.get(run_id) or {}).items():
            if name.startswith(prefix) and name[len(prefix) :].isdigit():
                states[int(name[len(prefix) :])] = str(state) if state else "not run"
        return states or None  # nothing found: judge by the XComs
