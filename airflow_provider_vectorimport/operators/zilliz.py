"""Create a bulk import job on Zilliz Cloud / Milvus and (optionally) wait for it."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_vectorimport.exceptions import ConfigurationError, JobFailedError, NotFoundError
from airflow_provider_vectorimport.hooks.zilliz import ZillizHook
from airflow_provider_vectorimport.links import (
    CONSOLE_SERVICE_KEY,
    CONSOLE_URL_KEY,
    MilvusImportJobLink,
    ZillizImportJobLink,
)
from airflow_provider_vectorimport.metrics import emit_job_metrics
from airflow_provider_vectorimport.models import ImportJob, JobState
from airflow_provider_vectorimport.operators.base import JobOperatorBase
from airflow_provider_vectorimport.outlets import asset_event_extra, record_outlet_events
from airflow_provider_vectorimport.protocols.common import job_seconds
from airflow_provider_vectorimport.protocols.import_options import auto_commit_disabled
from airflow_provider_vectorimport.protocols.zilliz import (
    AmbiguousJobError,
    build_create_call,
    create_call_files,
)
from airflow_provider_vectorimport.triggers.zilliz import ZillizImportJobTrigger
from airflow_provider_vectorimport.utils import (
    default_deferrable,
    get_task_state,
    idempotency_key,
    input_fingerprint,
    normalize_file_groups,
    push_failure_summary,
    set_task_state,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

STATE_KEY = "zilliz_import_job_id"
REPLACE_STATE_KEY = "zilliz_replace_partition"
REPLACE_XCOM_KEY = "replace_plan"


def _run_start(context: Any) -> float | None:
    """The DAG run's start (epoch seconds), the fallback time window without task state."""
    run = context.get("dag_run") if hasattr(context, "get") else None
    start = getattr(run, "start_date", None) if run is not None else None
    return start.timestamp() if start is not None else None


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

    Returns the job's summary (:func:`job_summary`); when the job failed or imported nothing, the
    same summary (reason, per-file states and reasons) is pushed to XCom under ``job_summary``
    (:data:`~airflow_provider_vectorimport.utils.SUMMARY_XCOM_KEY`) before the task fails.

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
    :param reattach_on_retry: on a retry, reattach to the job an earlier try created instead of
        creating a duplicate: the job id kept in the task state, else the one job created since this
        task first tried (job ids listed before its create) that reads exactly these files.
    :param fail_on_empty: fail when a job completes with 0 rows imported (a common silent failure).
    :param schema_check: before creating the job, compare the live collection's schema with the
        manifest's schema (or, without a manifest, the first file's columns) and fail listing each
        difference (see :mod:`airflow_provider_vectorimport.preflight`).
    :param resubmit: import again where an earlier try's job cannot be verified: the service forgot
        it (Milvus drops finished jobs after some hours) while it was not seen completed or failed,
        or jobs reading the same files exist and no task state tells whose they are. Default False:
        such cases fail with the job ids named. May import the files twice.
    :param commit: with ``options={"auto_commit": False}`` (Milvus and Zilliz Cloud v2; the v1 API
        refuses it): commit the job when it reaches ``Uncommitted`` (``/jobs/import/commit``);
        without it, such options are refused before any request.
    :param reattach_across_runs: also on a first try, reuse a non-failed job of any earlier run that
        reads the same files into the same collection (found through the list API). For loads keyed
        by the data interval: re-running a day (``dag.test``, a cleared or re-created run, a second
        backfill over the range) then creates no second job for it.
    :param replace: replace a slice instead of appending (templated; see
        :mod:`airflow_provider_vectorimport.replace` and docs/replace.md): ``"partition"`` replaces
        the slice ``partition_name``; ``{"field": "day", "value": "{{ ds }}"}`` replaces the rows of
        that slice. Each load goes into a partition of its own; the older copies are dropped (or,
        for a field slice, deleted by filter in other partitions) only after the job completed and
        its partition holds exactly its rows. Needs ``wait_for_completion=True``.
    """

    template_fields: Sequence[str] = (
        "collection_name",
        "files",
        "object_url",
        "object_urls",
        "partition_name",
        "db_name",
        "options",
        "outlet_partition",
        "replace",
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
        resubmit: bool = False,
        commit: bool = False,
        reattach_across_runs: bool = False,
        replace: str | Mapping[str, Any] | None = None,
        outlet_partition: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.replace = replace
        self.outlet_partition = outlet_partition
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
        self.resubmit = resubmit
        self.commit = commit

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

    # -- task state (kept across tries of this task instance by Airflow's task_state_store)
    def _record(self, context: Context) -> dict[str, Any]:
        """``{started_at, known_job_ids, job_id, created_at, last_state, last_seen, imported_rows}``
        (a bare string is the job id an older version stored)."""
        raw = get_task_state(context, STATE_KEY)
        if isinstance(raw, str) and raw:
            return {"job_id": raw}
        return dict(raw) if isinstance(raw, Mapping) else {}

    def _save(self, context: Context, record: dict[str, Any]) -> None:
        self._state_record = record
        set_task_state(context, STATE_KEY, record)

    def _note(self, job: ImportJob) -> None:
        """Remember the last state seen, so a job the service later forgets can still be judged."""
        context, record = getattr(self, "_context", None), getattr(self, "_state_record", None)
        if context is None or record is None or record.get("job_id") != job.job_id:
            return
        record.update(last_state=job.state.value, last_seen=time.time(), imported_rows=job.imported_rows)
        self._save(context, record)

    # -- execution
    def _plan_replace(self, context: Context) -> str | None:
        """With ``replace=``: check the slice, create this load's partition (nothing is deleted
        before the import completed) and return that partition's name."""
        if not self.replace:
            return self.partition_name or None
        from airflow_provider_vectorimport.hooks.partitions import PartitionHook
        from airflow_provider_vectorimport.replace import plan_replace

        if not self.wait_for_completion:
            raise ConfigurationError(
                "replace= retires the old slice after the import: it needs wait_for_completion=True"
            )
        if self.reattach_across_runs:
            # replace= already leaves one copy per slice after a re-run; an earlier run's job
            # loaded into that run's partition, so it is never reused here
            self.log.info("replace= is set: reattach_across_runs is not used")
            self.reattach_across_runs = False
        ti = context["ti"]
        reuse = get_task_state(context, REPLACE_STATE_KEY)
        plan = plan_replace(
            PartitionHook(hook=self.hook),
            self.collection_name,
            self.replace,
            partition_name=self.partition_name,
            db_name=self.db_name,
            run_key=(ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", -1)),
            reuse=reuse if isinstance(reuse, str) else None,
        )
        set_task_state(context, REPLACE_STATE_KEY, plan.partition)
        ti.xcom_push(key=REPLACE_XCOM_KEY, value=plan.to_dict())
        self.log.info(
            "replace: loading slice %s into partition %s (older copies: %s)",
            plan.slice,
            plan.partition,
            ", ".join(plan.old_partitions) or "none",
        )
        return plan.partition

    def _switch_replace(self, context: Context, job: ImportJob, summary: dict[str, Any]) -> None:
        from airflow_provider_vectorimport.hooks.partitions import PartitionHook
        from airflow_provider_vectorimport.replace import ReplacePlan, switch

        ti = context["ti"]
        raw = ti.xcom_pull(task_ids=ti.task_id, key=REPLACE_XCOM_KEY, map_indexes=ti.map_index)
        if not isinstance(raw, Mapping):
            raise AirflowException(
                "replace: this try's plan is missing from XCom; the old slice is left in place"
            )
        plan = ReplacePlan.from_dict(raw)
        try:
            summary["replace"] = switch(
                PartitionHook(hook=self.hook), plan, imported_rows=job.imported_rows, log=self.log
            )
        except JobFailedError:
            push_failure_summary(context, summary)
            raise

    def _inputs_changed(self, context: Context) -> bool:
        """True when an earlier try's job read other bytes than this try's files hold now (the
        same keys re-uploaded with corrected data, then the task cleared): that job is not this
        input's import. With ``replace=`` this try loads the new bytes next to it and retires it;
        without, reusing it would keep the old data and a new job would add a second copy, so it
        fails, saying so."""
        record = self._record(context)
        then, now = record.get("input_fingerprint"), self._input_fingerprint
        if not (record.get("job_id") and then and now) or then == now:
            return False
        if not self.replace:
            raise AirflowFailException(
                f"the files of this import changed since an earlier try imported them (job "
                f"{record['job_id']}): reusing that job would keep the old data, a new job would add a "
                "second copy. Load the slice with replace= (docs/replace.md) to replace it, or delete "
                "the old rows and clear this task's state first."
            )
        self.log.warning(
            "The files changed since job %s of an earlier try imported them: loading them again "
            "into a new partition; the copy of that job is replaced after the check",
            record["job_id"],
        )
        self._save(context, {})
        set_task_state(context, REPLACE_STATE_KEY, "")
        return True

    def execute(self, context: Context) -> dict[str, Any]:
        files, urls = self._files_arg()
        hook = self.hook
        self._context = context
        self._input_fingerprint = input_fingerprint(self.files, self.object_urls)
        fresh = self._inputs_changed(context)  # then no earlier job is this input's import
        partition = self._plan_replace(context)
        key = idempotency_key(context, self.collection_name, partition, files, urls, self.object_url)
        target = dict(
            files=files,
            object_url=self.object_url,
            object_urls=urls,
            partition_name=partition,
            db_name=self.db_name,
            options=self.options,
        )
        if auto_commit_disabled(self.options):  # two-phase commit (Milvus, Zilliz Cloud v2)
            if self.commit and not self.wait_for_completion:
                raise ConfigurationError(
                    "commit=True commits the job once it is Uncommitted, which needs "
                    "wait_for_completion=True: without waiting, nothing would ever commit it"
                )
            if self.commit and self.deferrable:
                raise ConfigurationError(
                    "commit=True commits the job while polling: use deferrable=False (the "
                    "trigger only waits, and an Uncommitted job never finishes by itself)"
                )
            if not self.commit:
                raise ConfigurationError(
                    "options auto_commit=false leaves the job Uncommitted until someone calls "
                    "/jobs/import/commit: pass commit=True to commit it here, or drop the option"
                )
        credentials = self._storage_credentials()
        # Validate everything before any request (raises ConfigurationError on bad input; the v1
        # flavour, which has no options and no commit call, refuses auto_commit=false here).
        call = build_create_call(hook.config, self.collection_name, **target, storage_credentials=credentials)
        wanted = create_call_files(call)
        record = self._record(context)
        self._state_record = record
        job = None if fresh else self._reattach(context, record, wanted)
        reattached = job is not None
        if isinstance(job, dict):  # a completed job the service has forgotten since
            return job
        if job is None:
            if self.schema_check:  # the live collection vs the files, before any job exists
                self._schema_preflight(files, urls)
            job_id = self._create(context, record, target, key, credentials)
        else:
            job_id = job.job_id
        self._job_id = job_id
        emit_job_metrics(self._service, "job_reattached" if reattached else "job_created")
        ti = context["ti"]
        ti.xcom_push(key="job_id", value=job_id)
        ti.xcom_push(key=CONSOLE_URL_KEY, value=hook.console_url(job_id))
        ti.xcom_push(key=CONSOLE_SERVICE_KEY, value="milvus" if hook.flavour == "milvus" else "zilliz")
        ti.xcom_push(key="submitted_at", value=self._state_record.get("created_at") or time.time())
        self._reattached = reattached

        current = hook.get_import_job(job_id)
        self._note(current)
        if not self.wait_for_completion:
            self.log.info("%s", current.describe())
            return job_summary(current, reattached=reattached, waited=False)
        self.log_job(current)
        return self.wait_for_job(context, job_id, current)

    def _create(
        self,
        context: Context,
        record: dict[str, Any],
        target: dict[str, Any],
        key: str,
        credentials: Mapping[str, Any] | None,
    ) -> str:
        hook = self.hook
        known: list[str] | None
        if hook.config.idempotency_supported:
            known = None  # the server deduplicates by Idempotency-Key
        elif record.get("known_job_ids") is not None and not record.get("job_id"):
            known = list(record["known_job_ids"])  # an earlier try listed them before its create
        else:
            known = hook.job_ids_snapshot(self.collection_name)
        record = {"started_at": record.get("started_at") or time.time(), "known_job_ids": known}
        self._save(context, record)  # before the create: a retry can tell new jobs from old ones
        job_id = hook.create_import_job(
            self.collection_name,
            **target,
            idempotency_key=key,
            storage_credentials=credentials,
            known_job_ids=known if known is not None else [],
        )
        now = time.time()
        record.update(job_id=job_id, created_at=now, last_state=JobState.PENDING.value, last_seen=now)
        if getattr(self, "_input_fingerprint", None):
            record["input_fingerprint"] = self._input_fingerprint
        self._save(context, record)
        self.log.info("Created import job %s into %s", job_id, self.collection_name)
        return job_id

    # -- JobOperatorBase
    def fetch_job(self, job_id: str) -> ImportJob:
        job = self.hook.get_import_job(job_id)
        self._note(job)
        return job

    def check_while_polling(self, job: ImportJob) -> None:
        if (job.raw_state or "").lower() != "uncommitted":
            return
        if not self.commit:
            raise AirflowException(
                f"import job {job.job_id} is Uncommitted (created with auto_commit=false) and "
                "waits for /jobs/import/commit: pass commit=True, or commit it yourself"
            )
        self.log.info("Committing import job %s (two-phase commit)", job.job_id)
        self.hook.commit_import_job(job.job_id)

    def make_trigger(self, job_id: str, end_time: float) -> ZillizImportJobTrigger:
        return ZillizImportJobTrigger(
            conn_id=self.zilliz_conn_id, job_id=job_id, poll_interval=self.poll_interval, end_time=end_time
        )

    def _reattach(
        self, context: Context, record: dict[str, Any], wanted: list[str]
    ) -> ImportJob | dict[str, Any] | None:
        """The job an earlier try of this task instance created, or None to create one.

        1. A stored job id: that job, unless it failed (then a new one). If the service no longer
           knows it: a recorded ``completed`` is trusted, a recorded ``failed`` is resubmitted,
           anything else raises unless ``resubmit=True`` (its rows may already be loaded).
        2. A stored snapshot but no id (the try died between create and recording it): the new
           job, not in the snapshot, reading exactly these files; two such jobs raise.
        3. Nothing stored on a retry: file-equal jobs whose age cannot be proven raise, naming them.
        """
        if not self.reattach_on_retry:
            return None
        hook = self.hook
        stored = record.get("job_id")
        if stored:
            try:
                job = hook.get_import_job(str(stored))
            except NotFoundError:
                return self._forgotten(context, record)
            if job.state is not JobState.FAILED:
                self.log.info(
                    "Reattaching to import job %s from an earlier try (%s)", job.job_id, job.state.value
                )
                return job
            self.log.warning(
                "The job of an earlier try, %s, failed (%s): submitting a new one", job.job_id, job.reason
            )
            record.clear()
            return None
        if hook.config.idempotency_supported:
            return None  # resending with the same Idempotency-Key returns the earlier job
        if record.get("known_job_ids") is not None:
            found = hook.find_matching_jobs(
                self.collection_name, wanted, known_job_ids=record["known_job_ids"]
            )
            if len(found) > 1:
                raise AmbiguousJobError(
                    f"{len(found)} jobs created since this task first tried read exactly these files "
                    f"into {self.collection_name!r}: {', '.join(j.job_id for j in found)}; refusing to "
                    "guess which is this task's. Check them, then mark the task done or clear its state.",
                    job_ids=[j.job_id for j in found],
                )
            if found:
                job = found[0]
                record.update(job_id=job.job_id, created_at=record.get("started_at"))
                self._save(context, record)
                self.log.info("Reattaching to import job %s, created by an earlier try", job.job_id)
                return job
            return None
        try_number = getattr(context["ti"], "try_number", 1) or 1
        if self.reattach_across_runs and not self.resubmit:
            # opt-in for loads keyed by the data interval: any earlier run's non-failed job reading
            # exactly these files is this day's job (an empty snapshot: every listed job counts)
            found = hook.find_matching_jobs(self.collection_name, wanted, known_job_ids=())
            if len(found) > 1:
                raise AmbiguousJobError(
                    f"jobs {', '.join(j.job_id for j in found)} all read these files into "
                    f"{self.collection_name!r}; refusing to guess which one this run should reuse",
                    job_ids=[j.job_id for j in found],
                )
            if found:
                self.log.info(
                    "reattach_across_runs: reusing import job %s (%s), which reads the same files",
                    found[0].job_id,
                    found[0].state.value,
                )
                return found[0]
            return None
        if try_number <= 1 or self.resubmit:
            return None
        run_start = _run_start(context)
        found = hook.find_matching_jobs(
            self.collection_name, wanted, known_job_ids=None, created_after=run_start
        )
        if len(found) > 1:
            raise AmbiguousJobError(
                f"jobs {', '.join(j.job_id for j in found)} all read these files; refusing to guess",
                job_ids=[j.job_id for j in found],
            )
        return found[0] if found else None

    def _forgotten(self, context: Context, record: dict[str, Any]) -> dict[str, Any] | None:
        job_id, last = record.get("job_id"), record.get("last_state")
        seen = record.get("last_seen")
        when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(float(seen))) if seen else "never"
        if last == JobState.COMPLETED.value:
            self.log.warning(
                "Import job %s is no longer known to the service; an earlier try saw it completed "
                "(%s rows, at %s): taking that result",
                job_id,
                record.get("imported_rows"),
                when,
            )
            return {
                "job_id": job_id,
                "state": JobState.COMPLETED.value,
                "imported_rows": record.get("imported_rows"),
                "forgotten_by_service": True,
                "reattached": True,
            }
        if last == JobState.FAILED.value or self.resubmit:
            self.log.warning(
                "Import job %s is no longer known to the service (last seen %s at %s): submitting "
                "a new one%s",
                job_id,
                last,
                when,
                " (resubmit=True)" if last != JobState.FAILED.value else "",
            )
            record.clear()
            return None
        raise AmbiguousJobError(
            f"import job {job_id} of an earlier try is no longer known to the service (Milvus forgets "
            f"finished jobs after a few hours); it was last seen {last or 'unknown'} at {when}, so it "
            "may have imported some or all of its rows. Check the collection; pass resubmit=True to "
            "import these files again anyway.",
            job_ids=[str(job_id)],
        )

    def _duration(self, context: Context, job: ImportJob) -> float | None:
        """Seconds the job ran: by the service's ``createTime``/``completeTime`` where it gives them,
        else from the time recorded by the try that created it (a reattached job keeps its original
        start; else this try's ``submitted_at``) to the service's zoned ``completeTime`` or to now
        (:func:`~airflow_provider_vectorimport.protocols.common.job_seconds`)."""
        record = getattr(self, "_state_record", None) or self._record(context)
        created = record.get("created_at") if record.get("job_id") == job.job_id else None
        if created is None:
            ti = context["ti"]
            created = ti.xcom_pull(task_ids=ti.task_id, key="submitted_at", map_indexes=ti.map_index)
        try:
            started = float(created) if created else None
        except (TypeError, ValueError):
            started = None
        return job_seconds(job.create_time, job.complete_time, started, time.time())

    @property
    def _service(self) -> str:
        return "milvus" if self.hook.flavour == "milvus" else "zilliz"

    def finish(self, context: Context, job: ImportJob) -> dict[str, Any]:
        self.log.info("Finished: %s", job.describe())
        self._context = context
        if getattr(self, "_state_record", None) is None:
            self._state_record = self._record(context)
        self._note(job)
        self._finished_job = job
        duration = self._duration(context, job)
        record = self._state_record
        # rows_imported counts a completed job once per task instance (not again on a reattach)
        count = job.state is JobState.COMPLETED and record.get("rows_counted") != job.job_id
        emit_job_metrics(
            self._service,
            f"job_{job.state.value}",
            rows=job.imported_rows,
            duration=duration,
            rows_counter="rows_imported" if count else None,
        )
        if count and record.get("job_id") == job.job_id:
            record["rows_counted"] = job.job_id
            self._save(context, record)
        summary = job_summary(
            job,
            duration=duration,
            console_url=self.hook.console_url(job.job_id),
            service=self._service,
            reattached=getattr(self, "_reattached", None),
        )
        try:
            raise_for_job(job, fail_on_empty=self.fail_on_empty)
        except JobFailedError:
            # the reason and failing files stay in XCom although the task fails (SUMMARY_XCOM_KEY)
            push_failure_summary(context, summary)
            raise
        if self.replace and job.state is JobState.COMPLETED:
            self._switch_replace(context, job, summary)
        record_outlet_events(
            context,
            self.outlets,
            asset_event_extra(
                self._service,
                collection=job.collection_name or self.collection_name,
                job_id=job.job_id,
                state=job.state.value,
                rows=job.imported_rows,
                files=self._wanted_files(*self._files_arg()),
                partition=self.outlet_partition,
            ),
        )
        return summary

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
        """Abort the job this task created or reattached to (e.g. on ``execution_timeout``), so it
        does not keep loading after the task gave up: Milvus and Zilliz Cloud v2
        (``/jobs/import/abort``). The v1 controller documents no cancel: say so."""
        job_id = getattr(self, "_job_id", None)
        if not job_id:
            return
        if self.hook.flavour == "v1":
            self.log.warning(
                "Task killed; import job %s keeps running on Zilliz Cloud (the v1 API has no cancel)",
                job_id,
            )
            return
        try:
            self.hook.abort_import_job(job_id)
            self.log.warning("Task killed; aborted import job %s", job_id)
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
