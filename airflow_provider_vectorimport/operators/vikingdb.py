"""Export a VikingDB collection to TOS, or import TOS files into it, as a VikingDB task.

Both operators validate their arguments before any request, create the task (or, on a retry,
reattach to the task an earlier try created), push the task id (XCom ``vikingdb_task_id``) and the
console URL (XCom ``console_url``) at once, then optionally wait -- deferred to the triggerer by
default when ``[operators] default_deferrable`` is set, else polling -- and return a JSON-able
summary saying where the files are (``tos_path`` / ``tos_uri`` and, when the service lists them,
``files``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_vectorimport.exceptions import ConfigurationError, JobFailedError, NotFoundError
from airflow_provider_vectorimport.hooks.vikingdb import VikingDBHook
from airflow_provider_vectorimport.links import CONSOLE_URL_KEY, VikingDBTaskLink
from airflow_provider_vectorimport.metrics import emit_job_metrics
from airflow_provider_vectorimport.models import JobState, VikingDBTask
from airflow_provider_vectorimport.operators.base import JobOperatorBase
from airflow_provider_vectorimport.triggers.vikingdb import CONFIRM_HINT, VikingDBTaskTrigger
from airflow_provider_vectorimport.utils import default_deferrable, get_task_state, set_task_state

if TYPE_CHECKING:
    from airflow.sdk import Context

STATE_KEY = "vikingdb_task_id"
TASK_ID_XCOM_KEY = "vikingdb_task_id"
FILE_TYPES = ("parquet", "json")
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


# --- validation (pure; raises ConfigurationError naming the bad argument) -------------------------
def validate_collection_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ConfigurationError(f"collection_name must be a non-empty string, got {name!r}")
    return name.strip()


def validate_tos_path(tos_path: Any) -> str:
    """``bucket/prefix`` (the VikingDB form), not a URL; returns it without a leading slash."""
    if not isinstance(tos_path, str) or not tos_path.strip():
        raise ConfigurationError(f"tos_path must be 'bucket/prefix', got {tos_path!r}")
    value = tos_path.strip()
    if "://" in value or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", value):
        raise ConfigurationError(
            f"tos_path must be 'bucket/prefix', not a URL: {tos_path!r} "
            "(drop the scheme and endpoint, e.g. 'my-bucket/exports/2024')"
        )
    if value.startswith("/"):
        raise ConfigurationError(f"tos_path {tos_path!r} has no bucket: it must start with the bucket name")
    bucket = value.split("/", 1)[0]
    if not _BUCKET_RE.match(bucket):
        raise ConfigurationError(
            f"tos_path {tos_path!r}: {bucket!r} is not a valid TOS bucket name "
            "(3-63 lowercase letters, digits and hyphens)"
        )
    return value


def validate_file_type(file_type: Any) -> str:
    value = str(file_type or "").strip().lower()
    if value not in FILE_TYPES:
        raise ConfigurationError(f"file_type must be one of {', '.join(FILE_TYPES)}, got {file_type!r}")
    return value


def validate_filter(flt: Any, export_all: Any) -> dict[str, Any] | None:
    """A JSON object (dict or JSON text), exclusive with ``export_all``; one of them is required."""
    if isinstance(flt, str):
        text = flt.strip()
        if not text:
            flt = None
        else:
            try:
                flt = json.loads(text)
            except ValueError as exc:
                raise ConfigurationError(f"filter is not valid JSON: {exc} in {text[:80]!r}") from None
    if flt is not None and not isinstance(flt, Mapping):
        raise ConfigurationError(f'filter must be a JSON object like {{"city": ["beijing"]}}, got {flt!r}')
    if not isinstance(export_all, bool):
        raise ConfigurationError(f"export_all must be True or False, got {export_all!r}")
    if flt and export_all:
        raise ConfigurationError(
            "give either filter or export_all=True, not both (export_all ignores the filter)"
        )
    if not flt and not export_all:
        raise ConfigurationError("give a filter (a JSON object) or export_all=True")
    return dict(flt) if flt else None


def _is_literal(*values: Any) -> bool:
    """True when every value is known now: no Jinja template, no XComArg / mapped argument."""
    for value in values:
        if isinstance(value, str):
            if "{{" in value or "{%" in value:
                return False
        elif isinstance(value, Mapping):
            if not _is_literal(*value.keys(), *value.values()):
                return False
        elif isinstance(value, list | tuple):
            if not _is_literal(*value):
                return False
        elif not isinstance(value, bool | int | float | type(None)):
            return False
    return True


def task_summary(task: VikingDBTask, **extra: Any) -> dict[str, Any]:
    """The JSON-able summary returned to XCom: small, no sampled rows, no raw payload, no secrets."""
    params = task.task_params
    tos_path = params.get("tos_path")
    info = task.raw.get("process_info") if isinstance(task.raw.get("process_info"), Mapping) else {}
    summary = {
        "task_id": task.task_id,
        "task_type": task.task_type,
        "status": task.raw_status,
        "state": task.state.value,
        "collection_name": params.get("collection_name"),
        "tos_path": tos_path,
        "tos_uri": f"tos://{tos_path}" if tos_path else None,
        "file_type": params.get("file_type"),
        "files": list(info.get("files") or []),
        "progress": task.progress,
        "total_data_count": task.total_data_count,
        "scan_data_count": task.scan_data_count,
        "total_filter_count": task.total_filter_count,
        "sampled_rows": len(task.sampled_data),
        "sampled_timestamp": task.sampled_timestamp,
        "err_msg": task.err_msg,
        "create_time": task.create_time,
        "update_time": task.update_time,
    }
    summary.update(extra)
    return summary


def raise_for_task(task: VikingDBTask, *, fail_on_confirm: bool = False) -> None:
    if task.state is JobState.FAILED:
        raise JobFailedError(
            f"VikingDB {task.task_type} task {task.task_id} failed: {task.err_msg or 'no err_msg given'}",
            job_id=task.task_id,
            summary=task.to_dict(),
        )
    if fail_on_confirm and task.state is JobState.NEEDS_CONFIRMATION:
        raise JobFailedError(
            f"VikingDB task {task.task_id} needs a manual confirmation (fail_on_confirm=True)",
            job_id=task.task_id,
            summary=task.to_dict(),
        )


class _VikingDBTaskOperator(JobOperatorBase):
    """Shared create / reattach / wait logic of the export and import operators."""

    task_type: str = ""
    job_noun = "VikingDB task"
    operator_extra_links = (VikingDBTaskLink(),)
    ui_color = "#7e57c2"

    def __init__(
        self,
        *,
        collection_name: str,
        tos_path: str,
        file_type: str = "parquet",
        vikingdb_conn_id: str = VikingDBHook.default_conn_name,
        wait_for_completion: bool = True,
        deferrable: bool = default_deferrable(),
        poll_interval: float = 30.0,
        timeout: float = 24 * 3600,
        reattach_on_retry: bool = True,
        reattach_window: float = 24 * 3600,
        fail_on_confirm: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.collection_name = collection_name
        self.tos_path = tos_path
        self.file_type = file_type
        self.vikingdb_conn_id = vikingdb_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = float(poll_interval)
        self.timeout = float(timeout)
        self.reattach_on_retry = reattach_on_retry
        self.reattach_window = float(reattach_window)
        self.fail_on_confirm = fail_on_confirm
        if self.poll_interval <= 0:
            raise ConfigurationError(f"poll_interval must be > 0, got {poll_interval!r}")

    def _validate_early(self, *values: Any) -> None:
        """Fail at DAG parse time when every argument is already known (nothing templated)."""
        if _is_literal(self.collection_name, self.tos_path, self.file_type, *values):
            self.task_params()

    # -- subclass API
    def task_params(self) -> dict[str, Any]:
        """Validated ``task_params`` for ``/api/task/create`` (raises ConfigurationError)."""
        raise NotImplementedError

    @property
    def hook(self) -> VikingDBHook:
        if getattr(self, "_hook", None) is None:
            self._hook = VikingDBHook(self.vikingdb_conn_id)
        return self._hook

    # -- execution
    def execute(self, context: Context) -> dict[str, Any]:
        params = self.task_params()  # before any request
        hook = self.hook
        task = self._reattach(context, params)
        reattached = task is not None
        if task is None:
            self.before_create(params)  # e.g. the import's schema preflight
            task_id = hook.create_task(self.task_type, params)
            set_task_state(context, STATE_KEY, task_id)
            self.log.info(
                "Created VikingDB %s task %s on %s", self.task_type, task_id, params["collection_name"]
            )
        else:
            task_id = task.task_id
        self._reattached = reattached
        emit_job_metrics("vikingdb", "job_reattached" if reattached else "job_created")
        ti = context["ti"]
        ti.xcom_push(key=TASK_ID_XCOM_KEY, value=task_id)
        ti.xcom_push(key=CONSOLE_URL_KEY, value=hook.console_url(params["collection_name"], task_id))

        current = hook.get_task(task_id)
        self.log_job(current)
        if not self.wait_for_completion:
            return self._summary(current, waited=False)
        return self.wait_for_job(context, task_id, current)

    # -- JobOperatorBase
    def fetch_job(self, job_id: str) -> VikingDBTask:
        return self.hook.get_task(job_id)

    def make_trigger(self, job_id: str, end_time: float) -> VikingDBTaskTrigger:
        return VikingDBTaskTrigger(
            conn_id=self.vikingdb_conn_id,
            job_id=job_id,
            poll_interval=self.poll_interval,
            end_time=end_time,
            fail_on_confirm=self.fail_on_confirm,
        )

    def check_while_polling(self, job: VikingDBTask) -> None:
        raise_for_task(job, fail_on_confirm=self.fail_on_confirm)

    def state_label(self, job: VikingDBTask) -> str:
        return job.raw_status

    def log_job(self, task: VikingDBTask) -> None:
        self.log.info("%s", task.describe())
        if task.state is JobState.NEEDS_CONFIRMATION:
            self.log.warning(CONFIRM_HINT.format(task_id=task.task_id))

    def _created_after(self, context: Context) -> float:
        dag_run = context.get("dag_run") if hasattr(context, "get") else None
        start = getattr(dag_run, "start_date", None)
        if start is not None:
            return start.timestamp() - 300  # allow for clock skew with the service
        return time.time() - self.reattach_window

    def _reattach(self, context: Context, params: Mapping[str, Any]) -> VikingDBTask | None:
        """The task an earlier try of this task instance created, if it did not fail."""
        if not self.reattach_on_retry:
            return None
        stored = get_task_state(context, STATE_KEY)
        if stored:
            try:
                task = self.hook.get_task(str(stored))
            except NotFoundError:
                self.log.warning("Task %s of an earlier try no longer exists: creating a new one", stored)
                return None
            if task.state is JobState.FAILED:
                self.log.warning(
                    "Task %s of an earlier try failed (%s): creating a new one", task.task_id, task.err_msg
                )
                return None
            self.log.info("Reattaching to task %s from an earlier try (%s)", task.task_id, task.raw_status)
            return task
        try_number = getattr(context["ti"], "try_number", 1) or 1
        if try_number <= 1:
            return None
        task = self.hook.find_task(
            collection_name=params["collection_name"],
            task_type=self.task_type,
            params=params,
            created_after=self._created_after(context),
        )
        if task is not None and task.state is not JobState.FAILED:
            self.log.info("Retry %d: reattaching to task %s (%s)", try_number, task.task_id, task.raw_status)
            set_task_state(context, STATE_KEY, task.task_id)
            return task
        return None

    def _summary(self, task: VikingDBTask, **extra: Any) -> dict[str, Any]:
        return task_summary(
            task,
            console_url=self.hook.console_url(task.task_params.get("collection_name"), task.task_id),
            reattached=getattr(self, "_reattached", None),
            **extra,
        )

    def finish(self, context: Context, task: VikingDBTask) -> dict[str, Any]:
        self.log.info("Finished: %s", task.describe())
        self._finished_task = task
        rows = task.total_filter_count if self.task_type == "data_export" else task.total_data_count
        emit_job_metrics("vikingdb", f"job_{task.state.value}", rows=rows)
        raise_for_task(task)
        return self._summary(task)

    def on_terminal_event(
        self, context: Context, status: str, job: VikingDBTask, event: Mapping[str, Any]
    ) -> dict[str, Any]:
        if status == "failed" and job.state is not JobState.FAILED:
            raise_for_task(job, fail_on_confirm=True)
            raise JobFailedError(f"VikingDB task {job.task_id}: {event.get('message')}", job_id=job.task_id)
        return self.finish(context, job)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Export: the collection in, the TOS prefix out; import: the reverse (rows when known)."""
        from urllib.parse import urlsplit

        from airflow_provider_vectorimport.lineage import operator_lineage

        bucket, _, prefix = validate_tos_path(self.tos_path).partition("/")
        files = (f"s3://{bucket}", prefix)
        collection = (f"vikingdb://{urlsplit(self.hook.settings.base_url).netloc}", self.collection_name)
        task = getattr(self, "_finished_task", None)
        if self.task_type == "data_export":
            rows = task.total_filter_count if task is not None else None
            return operator_lineage([collection], [files], output_rows=rows)
        rows = task.total_data_count if task is not None else None
        return operator_lineage([files], [collection], output_rows=rows)

    def on_kill(self) -> None:
        self.log.warning("Task killed; the VikingDB task (if created) keeps running on the service")

    def before_create(self, params: Mapping[str, Any]) -> None:
        """Runs right before a new task is created (not on reattach); the import checks the schema."""


class VikingDBExportOperator(_VikingDBTaskOperator):
    """Export a collection (or the rows matching ``filter``) to TOS as parquet or json files.

    :param collection_name: the collection (templated).
    :param tos_path: ``bucket/prefix`` where the files land (templated); not a URL.
    :param file_type: ``parquet`` (default) or ``json``.
    :param filter: rows to export, ``{field: [allowed values]}`` (AND of fields), as a dict or JSON
        text (templated); exclusive with ``export_all``.
    :param export_all: export every row.
    :param vikingdb_conn_id: the ``vikingdb`` connection.
    :param wait_for_completion: wait until the task is ``done`` / ``fail`` (default True).
    :param deferrable: free the worker while waiting (default ``[operators] default_deferrable``).
    :param poll_interval: seconds between polls; :param timeout: seconds to wait.
    :param reattach_on_retry: a retry reattaches to the task an earlier try created (task state,
        then ``list_tasks`` matched by collection, type, params and create time) instead of creating
        a duplicate.
    :param fail_on_confirm: fail instead of waiting when the task asks for a manual confirmation.
    """

    task_type = "data_export"
    template_fields: Sequence[str] = ("collection_name", "tos_path", "file_type", "filter")
    template_fields_renderers = {"filter": "json"}

    def __init__(
        self,
        *,
        collection_name: str,
        tos_path: str,
        file_type: str = "parquet",
        filter: Mapping[str, Any] | str | None = None,
        export_all: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(collection_name=collection_name, tos_path=tos_path, file_type=file_type, **kwargs)
        self.filter = filter
        self.export_all = export_all
        self._validate_early(filter)

    def task_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "collection_name": validate_collection_name(self.collection_name),
            "tos_path": validate_tos_path(self.tos_path),
            "file_type": validate_file_type(self.file_type),
        }
        flt = validate_filter(self.filter, self.export_all)
        if flt is not None:
            params["filter"] = flt
        else:
            params["export_all"] = True
        return params


class VikingDBImportOperator(_VikingDBTaskOperator):
    """Import parquet / json files under a TOS ``bucket/prefix`` into a collection.

    :param ignore_error: skip bad rows instead of failing the task (the service's ``ignore_error``).
    :param tos_path: ``bucket/prefix``, or an upload manifest (files prepared with
        ``target="vikingdb"``): its ``tos_path`` and ``format`` are used.
    :param schema_check: before creating the task, compare the live collection (``/api/collection/info``)
        with the manifest's schema (or the first file's columns, read through ``storage_conn_id``)
        and fail listing each difference.
    :param storage_conn_id: S3-compatible (TOS) connection to read the first file for the schema
        check when there is no manifest.

    The other parameters are those of :class:`VikingDBExportOperator` (without ``filter``/``export_all``).
    """

    task_type = "data_import"
    template_fields: Sequence[str] = ("collection_name", "tos_path", "file_type")

    def __init__(
        self,
        *,
        collection_name: str,
        tos_path: str,
        file_type: str = "parquet",
        ignore_error: bool = False,
        schema_check: bool = True,
        storage_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(collection_name=collection_name, tos_path=tos_path, file_type=file_type, **kwargs)
        if not isinstance(ignore_error, bool):
            raise ConfigurationError(f"ignore_error must be True or False, got {ignore_error!r}")
        self.ignore_error = ignore_error
        self.schema_check = schema_check
        self.storage_conn_id = storage_conn_id
        self._validate_early()

    def task_params(self) -> dict[str, Any]:
        self._take_manifest()
        return {
            "collection_name": validate_collection_name(self.collection_name),
            "tos_path": validate_tos_path(self.tos_path),
            "file_type": validate_file_type(self.file_type),
            "ignore_error": self.ignore_error,
        }

    def _take_manifest(self) -> None:
        """An upload manifest given as ``tos_path``: keep it, import its prefix in its format."""
        manifest = self.tos_path
        if not isinstance(manifest, Mapping):
            return
        fmt = manifest.get("format")
        if fmt is not None and fmt not in FILE_TYPES:
            raise ConfigurationError(
                f"the manifest holds {fmt!r} files; VikingDB imports parquet or json: prepare them with "
                "target='vikingdb'"
            )
        if not manifest.get("tos_path"):
            raise ConfigurationError("tos_path: the manifest has no 'tos_path' (is it an upload manifest?)")
        self._manifest = dict(manifest)
        self.tos_path = str(manifest["tos_path"])
        self.file_type = fmt or self.file_type

    def before_create(self, params: Mapping[str, Any]) -> None:
        if not self.schema_check:
            return
        from airflow_provider_vectorimport.preflight import run_preflight

        manifest = getattr(self, "_manifest", None)
        run_preflight(
            conn_id=self.vikingdb_conn_id,
            collection=params["collection_name"],
            manifest=manifest,
            first_file=None if manifest else f"s3://{params['tos_path'].rstrip('/')}/",
            storage_conn_id=self.storage_conn_id,
            logger=self.log,
        )
