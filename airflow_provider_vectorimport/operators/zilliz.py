"""Create a bulk import job on Zilliz Cloud / Milvus and (optionally) wait for it."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_vectorimport.exceptions import JobFailedError
from airflow_provider_vectorimport.hooks.zilliz import ZillizHook, build_create_call
from airflow_provider_vectorimport.links import (
    CONSOLE_SERVICE_KEY,
    CONSOLE_URL_KEY,
    MilvusImportJobLink,
    ZillizImportJobLink,
)
from airflow_provider_vectorimport.metrics import emit_job_metrics
from airflow_provider_vectorimport.models import ImportJob, JobState
from airflow_provider_vectorimport.operators.base import JobOperatorBase
from airflow_provider_vectorimport.triggers.zilliz import ZillizImportJobTrigger
from airflow_provider_vectorimport.utils import (
    default_deferrable,
    get_task_state,
    idempotency_key,
    normalize_file_groups,
    set_task_state,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

STATE_KEY = "zilliz_import_job_id"


def job_summary(job: ImportJob, *, duration: float | None = None, **extra: Any) -> dict[str, Any]:
    """The JSON-able summary returned to XCom: small, no raw payloads, no secrets."""
    summary = {
        "job_id": job.job_id,
        "state": job.state.value,
        "raw_state": job.raw_state,
        "collection_name": job.collection_name,
        "progress": job.progress,
        "imported_rows": job.imported_rows,
        "total_rows": job.total_rows,
        "reason": job.reason,
        "duration_seconds": round(duration, 3) if duration is not None else None,
        "files": [f.to_dict() for f in job.files],
    }
    summary.update(extra)
    return summary


def raise_for_job(job: ImportJob, *, fail_on_empty: bool) -> None:
    """Raise with the reason and every failing file named, for a failed (or empty) finished job."""
    if job.state is JobState.FAILED:
        raise JobFailedError(job.failure_message(), job_id=job.job_id, summary=job.to_dict())
    if fail_on_empty and job.state is JobState.COMPLETED and (job.imported_rows == 0 and not job.total_rows):
        raise JobFailedError(
            f"Import job {job.job_id} completed but imported 0 rows (set fail_on_empty=False to allow it)",
            job_id=job.job_id,
            summary=job.to_dict(),
        )


class ZillizImportOperator(JobOperatorBase):
    """Create a bulk import job (Zilliz Cloud v2/v1 or self-hosted Milvus) and wait for it.

    :param collection_name: target collection (templated).
    :param files: Milvus: object keys, one group per import unit (``[["a.parquet"], ["1/id.npy", "1/vec.npy"]]``)
        or a preparation/upload manifest's ``files``; templated.
    :param object_url: Zilliz Cloud: one object URL (file or folder); templated.
    :param object_urls: Zilliz Cloud v2: several object URLs (grouped like ``files``); templated.
    :param partition_name: optional partition (templated).
    :param db_name: database (defaults to the connection's ``db_name``).
    :param storage_conn_id: connection (aws / vectorimport_s3 type) whose keys the service uses to read
        the bucket (Zilliz Cloud ``accessKey``/``secretKey``/``token``); defaults to the Zilliz
        connection's ``storage_conn_id`` extra. Keys never travel through operator arguments.
    :param options: import options (e.g. ``{"timeout": "300s"}`` for Milvus).
    :param wait_for_completion: wait until the job is terminal (default True).
    :param deferrable: free the worker while waiting (default: ``[operators] default_deferrable``).
    :param poll_interval: seconds between progress polls.
    :param timeout: seconds to wait before failing (the job keeps running server-side).
    :param reattach_on_retry: on a retry, reattach to the job an earlier try created (task state,
        then the list API matched by collection and files) instead of creating a duplicate.
    :param fail_on_empty: fail when a job completes with 0 rows imported (a common silent failure).
    :param schema_check: before creating the job, compare the live collection's schema with the
        manifest's schema (or, without a manifest, the first file's columns) and fail listing each
        difference (see :mod:`airflow_provider_vectorimport.preflight`).
    :param reattach_across_runs: also on a first try, reuse a non-failed job of any earlier run that
        reads the same files into the same collection (found through the list API). For loads keyed
        by the data interval: re-running a day (``dag.test``, a cleared or re-created run, a second
        backfill over the range) then creates no second job for it.
    """

    template_fields: Sequence[str] = (
        "collection_name",
        "files",
        "object_url",
        "object_urls",
        "partition_name",
        "db_name",
        "options",
    )
    template_fields_renderers = {"files": "json", "object_urls": "json", "options": "json"}
    operator_extra_links = (ZillizImportJobLink(), MilvusImportJobLink())
    ui_color = "#4fc3f7"
    job_noun = "Import job"

    def __init__(
        self,
        *,
        collection_name: str,
        files: Any = None,
        object_url: str | None = None,
        object_urls: Sequence[Any] | None = None,
        partition_name: str | None = None,
        db_name: str | None = None,
        zilliz_conn_id: str = ZillizHook.default_conn_name,
        storage_conn_id: str | None = None,
        options: Mapping[str, Any] | None = None,
        wait_for_completion: bool = True,
        deferrable: bool = default_deferrable(),
        poll_interval: float = 30.0,
        timeout: float = 24 * 3600,
        reattach_on_retry: bool = True,
        fail_on_empty: bool = True,
        schema_check: bool = True,
        reattach_across_runs: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.reattach_across_runs = reattach_across_runs
        self.schema_check = schema_check
        self.collection_name = collection_name
        self.files = files
        self.object_url = object_url
        self.object_urls = object_urls
        self.partition_name = partition_name
        self.db_name = db_name
        self.zilliz_conn_id = zilliz_conn_id
        self.storage_conn_id = storage_conn_id
        self.options = options
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = float(poll_interval)
        self.timeout = float(timeout)
        self.reattach_on_retry = reattach_on_retry
        self.fail_on_empty = fail_on_empty

    @property
    def hook(self) -> ZillizHook:
        if getattr(self, "_hook", None) is None:
            self._hook = ZillizHook(self.zilliz_conn_id)
        return self._hook

    # -- inputs
    def _files_arg(self) -> Any:
        """Accept a manifest (dict with ``files``/``object_urls``) wherever a file list is expected."""
        files = self.files
        if isinstance(files, Mapping):
            files = files.get("files") or files.get("groups")
            files = [g["keys"] if isinstance(g, Mapping) else g for g in files or []]
        urls = self.object_urls
        if isinstance(urls, Mapping):
            urls = urls.get("object_urls")
        return files, urls

    def _wanted_files(self, files: Any, urls: Any) -> list[str]:
        groups = normalize_file_groups(files or urls or ([self.object_url] if self.object_url else []))
        return [f for group in groups for f in group]

    def _storage_credentials(self) -> dict[str, Any] | None:
        if self.hook.flavour == "milvus":
            return None  # Milvus reads its own configured bucket
        conn_id = self.storage_conn_id or self.hook.config.storage_conn_id
        if not conn_id:
            return None
        from airflow_provider_vectorimport.hooks.object_storage import ObjectStorageHook

        return ObjectStorageHook(conn_id).get_service_credentials()

    # -- execution
    def execute(self, context: Context) -> dict[str, Any]:
        files, urls = self._files_arg()
        hook = self.hook
        key = idempotency_key(
            context, self.collection_name, self.partition_name, files, urls, self.object_url
        )
        target = dict(
            files=files,
            object_url=self.object_url,
            object_urls=urls,
            partition_name=self.partition_name,
            db_name=self.db_name,
            options=self.options,
        )
        # Validate everything before any request (raises ConfigurationError on bad input).
        build_create_call(hook.config, self.collection_name, **target)
        job = self._reattach(context, files, urls)
        reattached = job is not None
        if job is None:
            if self.schema_check:  # the live collection vs the files, before any job exists
                self._schema_preflight(files, urls)
            job_id = hook.create_import_job(
                self.collection_name,
                **target,
                idempotency_key=key,
                storage_credentials=self._storage_credentials(),
            )
            set_task_state(context, STATE_KEY, job_id)
            self.log.info("Created import job %s into %s", job_id, self.collection_name)
        else:
            job_id = job.job_id
        self._job_id = job_id
        emit_job_metrics(self._service, "job_reattached" if reattached else "job_created")
        ti = context["ti"]
        ti.xcom_push(key="job_id", value=job_id)
        ti.xcom_push(key=CONSOLE_URL_KEY, value=hook.console_url(job_id))
        ti.xcom_push(key=CONSOLE_SERVICE_KEY, value="milvus" if hook.flavour == "milvus" else "zilliz")
        ti.xcom_push(key="submitted_at", value=time.time())
        self._reattached = reattached

        if not self.wait_for_completion:
            current = hook.get_import_job(job_id)
            self.log.info("%s", current.describe())
            return job_summary(current, reattached=reattached, waited=False)

        current = hook.get_import_job(job_id)
        self.log_job(current)
        return self.wait_for_job(context, job_id, current)

    # -- JobOperatorBase
    def fetch_job(self, job_id: str) -> ImportJob:
        return self.hook.get_import_job(job_id)

    def make_trigger(self, job_id: str, end_time: float) -> ZillizImportJobTrigger:
        return ZillizImportJobTrigger(
            conn_id=self.zilliz_conn_id, job_id=job_id, poll_interval=self.poll_interval, end_time=end_time
        )

    def _reattach(self, context: Context, files: Any, urls: Any) -> ImportJob | None:
        """The job an earlier try of this task instance created, if it did not fail."""
        if not self.reattach_on_retry:
            return None
        stored = get_task_state(context, STATE_KEY)
        if stored:
            job = self.hook.get_import_job(str(stored))
            if job.state is not JobState.FAILED:
                self.log.info(
                    "Reattaching to import job %s from an earlier try (%s)", job.job_id, job.state.value
                )
                return job
            self.log.warning(
                "The job of an earlier try, %s, failed (%s): submitting a new one", job.job_id, job.reason
            )
            return None
        try_number = getattr(context["ti"], "try_number", 1) or 1
        if try_number <= 1 and not getattr(self, "reattach_across_runs", False):
            return None
        job = self.hook.find_existing_job(self.collection_name, self._wanted_files(files, urls))
        if job is not None:
            self.log.info(
                "Retry %d: reattaching to existing job %s (%s)", try_number, job.job_id, job.state.value
            )
        return job

    def _duration(self, context: Context, job: ImportJob) -> float | None:
        ti = context["ti"]
        submitted = ti.xcom_pull(task_ids=ti.task_id, key="submitted_at", map_indexes=ti.map_index)
        try:
            return time.time() - float(submitted) if submitted else None
        except (TypeError, ValueError):
            return None

    @property
    def _service(self) -> str:
        return "milvus" if self.hook.flavour == "milvus" else "zilliz"

    def finish(self, context: Context, job: ImportJob) -> dict[str, Any]:
        self.log.info("Finished: %s", job.describe())
        self._finished_job = job
        duration = self._duration(context, job)
        emit_job_metrics(self._service, f"job_{job.state.value}", rows=job.imported_rows, duration=duration)
        raise_for_job(job, fail_on_empty=self.fail_on_empty)
        return job_summary(
            job,
            duration=duration,
            console_url=self.hook.console_url(job.job_id),
            reattached=getattr(self, "_reattached", None),
        )

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Inputs: the imported objects; output: the collection, with the rows imported."""
        from urllib.parse import urlsplit

        from airflow_provider_vectorimport.lineage import object_dataset, operator_lineage

        config = self.hook.config
        files, urls = self._files_arg()
        host = urlsplit(config.base_url).netloc
        if config.flavour == "milvus":
            collection_ns, storage_ns = f"milvus://{host}", f"milvus://{host}/storage"
        else:
            collection_ns, storage_ns = (
                f"zilliz://{config.cluster_id}",
                f"zilliz://{config.cluster_id}/storage",
            )
        inputs = [object_dataset(f, default_namespace=storage_ns) for f in self._wanted_files(files, urls)]
        db = self.db_name or config.db_name or "default"
        job = getattr(self, "_finished_job", None)
        return operator_lineage(
            inputs,
            [(collection_ns, f"{db}.{self.collection_name}")],
            output_rows=job.imported_rows if job is not None else None,
        )

    def on_kill(self) -> None:
        """Milvus: abort the job this task is waiting for (e.g. on ``execution_timeout``), so it does
        not keep loading after the task gave up. Zilliz Cloud documents no cancel: say so."""
        job_id = getattr(self, "_job_id", None)
        if not job_id:
            return
        if self.hook.flavour != "milvus":
            self.log.warning(
                "Task killed; import job %s keeps running on Zilliz Cloud (no cancel API)", job_id
            )
            return
        try:
            self.hook.abort_import_job(job_id)
            self.log.warning("Task killed; aborted Milvus import job %s", job_id)
        except Exception as exc:  # best effort: on_kill must not raise
            self.log.warning("Task killed; could not abort import job %s: %s", job_id, exc)

    def _schema_preflight(self, files: Any, urls: Any) -> None:
        from airflow_provider_vectorimport.preflight import run_preflight

        manifest = next((m for m in (self.files, self.object_urls) if isinstance(m, Mapping)), None)
        wanted = [] if manifest is not None else self._wanted_files(files, urls)
        run_preflight(
            conn_id=self.zilliz_conn_id,
            collection=self.collection_name,
            db_name=self.db_name,
            manifest=manifest,
            first_file=wanted[0] if wanted else None,
            storage_conn_id=self.storage_conn_id or self.hook.config.storage_conn_id,
            logger=self.log,
        )
