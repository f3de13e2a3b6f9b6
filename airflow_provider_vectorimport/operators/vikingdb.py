"""Export a VikingDB collection to TOS, or import TOS files into it, as a VikingDB task.

Both operators validate their arguments before any request, create the task (or, on a retry,
reattach to the task an earlier try created), push the task id (XCom ``vikingdb_task_id``) and the
console URL (XCom ``console_url``) at once, then optionally wait -- deferred to the triggerer by
default when ``[operators] default_deferrable`` is set, else polling -- and return a JSON-able
summary saying where the files are: ``tos_path`` / ``tos_uri`` always (the service's task info lists
no files), and ``files`` when ``storage_conn_id`` is given (the operator lists the prefix itself).
When the task fails (or, deferred, waits for a confirmation with ``fail_on_confirm``), the same
summary, with the service's ``err_msg``, is pushed under XCom ``job_summary``
(:data:`~airflow_provider_vectorimport.utils.SUMMARY_XCOM_KEY`) before the operator raises.

Exactly one task per (dag run, task, map index): the task state store (Airflow 3.3) keeps
``{task_id, first_try_started, last_status, last_seen, rows, preexisting}`` under ``vikingdb_task``;
a retry reattaches to the stored task, or, when none was stored, to the one task created since the
first try started with the same collection, type and parameters and not among the ``preexisting``
ones (same parameters, listed just before the first create) (see
:func:`~airflow_provider_vectorimport.hooks.vikingdb.choose_task`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from airflow_provider_vectorimport.exceptions import (
    ConfigurationError,
    JobFailedError,
    NotFoundError,
    VectorImportError,
)
from airflow_provider_vectorimport.hooks.vikingdb import VikingDBHook
from airflow_provider_vectorimport.links import CONSOLE_URL_KEY, VikingDBTaskLink
from airflow_provider_vectorimport.metrics import emit_job_metrics
from airflow_provider_vectorimport.models import JobState, VikingDBTask
from airflow_provider_vectorimport.operators.base import JobOperatorBase
from airflow_provider_vectorimport.outlets import asset_event_extra, record_outlet_events
from airflow_provider_vectorimport.protocols.vikingdb import CLOCK_SKEW_SECONDS, normalize_params
from airflow_provider_vectorimport.triggers.vikingdb import CONFIRM_HINT, VikingDBTaskTrigger
from airflow_provider_vectorimport.utils import (
    default_deferrable,
    get_task_state,
    push_failure_summary,
    set_task_state,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

STATE_KEY = "vikingdb_task"
TASK_ID_XCOM_KEY = "vikingdb_task_id"
FILE_TYPES = ("parquet", "json")
FILTER_OPS = ("must", "must_nor", "range", "range_out")
RANGE_KEYS = ("gt", "gte", "lt", "lte")
FILTER_FIELDS = ("filter_conds", "filter")
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


def _json_arg(value: Any, argument: str) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ConfigurationError(f"{argument} is not valid JSON: {exc} in {text[:80]!r}") from None
    return value


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def validate_filter_conds(value: Any, argument: str = "filter_conds") -> list[dict[str, Any]] | None:
    """The current create-task page's DSL: a list of ``{"op": "must" | "must_nor", "field", "conds":
    [values]}`` and ``{"op": "range" | "range_out", "field", "gt"/"gte"/"lt"/"lte": number}``, all of
    which must hold. A list, or its JSON text; errors name the argument and the element."""
    value = _json_arg(value, argument)
    if value is None:
        return None
    if isinstance(value, Mapping):
        raise ConfigurationError(
            f"{argument} must be a list of conditions like "
            '[{"op": "must", "field": "city", "conds": ["beijing"]}]; a {field: [values]} map is '
            "the legacy form: pass it as filter"
        )
    if not isinstance(value, list | tuple):
        raise ConfigurationError(f"{argument} must be a list of conditions, got {type(value).__name__}")
    if not value:
        raise ConfigurationError(
            f"{argument} is empty: without conditions the service exports every row; "
            "say export_all=True for that"
        )
    out: list[dict[str, Any]] = []
    for i, cond in enumerate(value):
        where = f"{argument}[{i}]"
        if not isinstance(cond, Mapping):
            raise ConfigurationError(f"{where} must be an object with op and field, got {cond!r}")
        op = cond.get("op")
        if op not in FILTER_OPS:
            raise ConfigurationError(f"{where}: op must be one of {', '.join(FILTER_OPS)}, got {op!r}")
        field = cond.get("field")
        if not isinstance(field, str) or not field.strip():
            raise ConfigurationError(f"{where}: field must be a field name, got {field!r}")
        if op in ("must", "must_nor"):
            allowed = {"op", "field", "conds"}
            conds = cond.get("conds")
            if not isinstance(conds, list | tuple) or not conds or not all(_is_scalar(c) for c in conds):
                raise ConfigurationError(
                    f"{where}: {op} needs conds, a non-empty list of values, got {conds!r}"
                )
        else:
            allowed = {"op", "field", *RANGE_KEYS}
            bounds = {k: cond[k] for k in RANGE_KEYS if k in cond}
            if not bounds:
                raise ConfigurationError(f"{where}: {op} needs at least one of gt, gte, lt, lte")
            bad = [k for k, v in bounds.items() if not _is_number(v)]
            if bad:
                raise ConfigurationError(
                    f"{where}: {', '.join(bad)} must be a number, got {bounds[bad[0]]!r}"
                )
            if ("gt" in bounds and "gte" in bounds) or ("lt" in bounds and "lte" in bounds):
                raise ConfigurationError(f"{where}: give gt or gte (and lt or lte), not both")
            low = bounds.get("gt", bounds.get("gte"))
            high = bounds.get("lt", bounds.get("lte"))
            if low is not None and high is not None and low > high:
                raise ConfigurationError(f"{where}: the lower bound {low} is above the upper bound {high}")
        unknown = sorted(set(cond) - allowed)
        if unknown:
            raise ConfigurationError(f"{where}: unknown key(s) {', '.join(unknown)} for op {op!r}")
        item = dict(cond)
        if "conds" in item:
            item["conds"] = list(item["conds"])
        out.append(item)
    return out


def validate_legacy_filter(value: Any, argument: str = "filter") -> dict[str, list[Any]] | None:
    """Seed 004's form: ``{field: [allowed values]}`` (every field must match)."""
    value = _json_arg(value, argument)
    if value is None:
        return None
    if isinstance(value, list | tuple):
        raise ConfigurationError(
            f"{argument} takes the legacy {{field: [values]}} map; a list of conditions "
            "(op/field/conds) goes in filter_conds"
        )
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f'{argument} must be a JSON object like {{"city": ["beijing"]}}, got {value!r}'
        )
    if not value:
        return None
    out: dict[str, list[Any]] = {}
    for name, allowed in value.items():
        if not isinstance(name, str) or not name.strip():
            raise ConfigurationError(f"{argument}: field names must be non-empty strings, got {name!r}")
        if not isinstance(allowed, list | tuple) or not allowed or not all(_is_scalar(v) for v in allowed):
            raise ConfigurationError(
                f"{argument}[{name!r}] must be a non-empty list of allowed values, got {allowed!r}"
            )
        out[name] = list(allowed)
    return out


def legacy_to_conds(flt: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """``{"city": ["beijing"]}`` -> ``[{"op": "must", "field": "city", "conds": ["beijing"]}]``."""
    return [{"op": "must", "field": name, "conds": list(values)} for name, values in flt.items()]


def conds_to_legacy(conds: list[dict[str, Any]], argument: str = "filter_conds") -> dict[str, list[Any]]:
    """The reverse, possible only for ``must`` conditions on distinct fields."""
    out: dict[str, list[Any]] = {}
    for i, cond in enumerate(conds):
        if cond["op"] != "must" or cond["field"] in out:
            raise ConfigurationError(
                f"{argument}[{i}]: filter_field='filter' (the legacy map) can only say 'must' once per "
                f"field; {cond['op']!r} on {cond['field']!r} needs filter_field='filter_conds'"
            )
        out[cond["field"]] = list(cond["conds"])
    return out


def export_filter_params(
    *,
    filter_conds: Any = None,
    filter: Any = None,
    export_all: Any = False,
    filter_field: Any = "filter_conds",
) -> dict[str, Any]:
    """The filter part of an export's ``task_params``: ``filter_conds`` (the current documents' field,
    the default), the legacy ``filter`` map (``filter_field="filter"``), or ``export_all: true``.
    Exactly one of filter_conds, filter and export_all=True must be given."""
    if filter_field not in FILTER_FIELDS:
        raise ConfigurationError(
            f"filter_field must be one of {', '.join(FILTER_FIELDS)}, got {filter_field!r}"
        )
    if not isinstance(export_all, bool):
        raise ConfigurationError(f"export_all must be True or False, got {export_all!r}")
    conds = validate_filter_conds(filter_conds)
    legacy = validate_legacy_filter(filter)
    if conds is not None and legacy is not None:
        raise ConfigurationError("give filter_conds or the legacy filter, not both")
    if (conds is not None or legacy is not None) and export_all:
        raise ConfigurationError(
            "give either a filter (filter_conds / filter) or export_all=True, not both "
            "(export_all ignores the filter)"
        )
    if conds is None and legacy is None:
        if not export_all:
            raise ConfigurationError(
                "give filter_conds (a list of conditions), the legacy filter map, or export_all=True"
            )
        return {"export_all": True}
    if filter_field == "filter_conds":
        return {"filter_conds": conds if conds is not None else legacy_to_conds(legacy or {})}
    return {"filter": legacy if legacy is not None else conds_to_legacy(conds or [])}


def validate_filter(flt: Any, export_all: Any) -> dict[str, Any] | None:
    """The legacy map alone (kept for callers of the earlier API)."""
    params = export_filter_params(filter=flt, export_all=export_all, filter_field="filter")
    return params.get("filter")


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
    """The JSON-able summary returned to XCom: small, no sampled rows, no raw payload, no secrets.

    Where the files are comes from ``tos_path`` (the service's task info lists no files):
    ``tos_path`` (``bucket/prefix``) and ``tos_uri``; ``files`` is None unless the operator listed
    the prefix (``storage_conn_id``)."""
    params = task.task_params
    tos_path = params.get("tos_path")
    summary = {
        "task_id": task.task_id,
        "task_type": task.task_type,
        "status": task.raw_status,
        "state": task.state.value,
        "collection_name": params.get("collection_name"),
        "tos_path": tos_path,
        "tos_uri": f"tos://{tos_path}" if tos_path else None,
        "file_type": params.get("file_type"),
        "files": None,
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


@dataclass
class TaskRecord:
    """What the task state store keeps for one task instance, across tries and clears."""

    task_id: str | None = None
    first_try_started: float | None = None
    last_status: str | None = None
    last_seen: float | None = None
    rows: int | None = None
    #: tasks with the same parameters that existed before the first create: never ours
    preexisting: list[str] | None = None
    #: the latest try took over the task of an earlier one (instead of creating it)
    reattached: bool = False
    #: the task whose rows the rows_imported / rows_exported counter already holds
    rows_counted: str | None = None

    @classmethod
    def from_state(cls, value: Any) -> TaskRecord:
        if isinstance(value, str) and value:  # the earlier format: the bare task id
            return cls(task_id=value)
        if not isinstance(value, Mapping):
            return cls()
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in value.items() if k in known})

    def to_state(self) -> dict[str, Any]:
        return asdict(self)

    def seen(self, task: VikingDBTask, rows: int | None = None) -> None:
        self.task_id = task.task_id
        self.last_status = task.raw_status
        self.last_seen = time.time()
        if rows is not None:
            self.rows = rows


RESUBMIT, FINISHED, REFUSE = "resubmit", "finished", "refuse"


def decide_forgotten(record: TaskRecord, resubmit: bool) -> str:
    """A stored task the service no longer knows (1000035): ``resubmit`` when asked to, or when it
    was last seen failed; ``finished`` when it was last seen done (its work is complete); otherwise
    ``refuse``: it may have loaded or exported data, and a new task could do that a second time."""
    if resubmit or record.last_status == "fail":
        return RESUBMIT
    if record.last_status == "done":
        return FINISHED
    return REFUSE


class TaskForgottenError(VectorImportError):
    """The stored task is unknown to the service and may have done its work: not resubmitted."""


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")


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

    #: the service's ``task_type`` (``data_export`` / ``data_import``); not ``task_type``, which is
    #: Airflow's own (the operator class name shown in the UI and the task-instance table)
    vikingdb_task_type: str = ""
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
        resubmit_unknown_task: bool = False,
        storage_conn_id: str | None = None,
        fail_on_confirm: bool = False,
        outlet_partition: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.outlet_partition = outlet_partition
        self.collection_name = collection_name
        self.tos_path = tos_path
        self.file_type = file_type
        self.vikingdb_conn_id = vikingdb_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = float(poll_interval)
        self.timeout = float(timeout)
        self.reattach_on_retry = reattach_on_retry
        self.resubmit_unknown_task = bool(resubmit_unknown_task)
        self.storage_conn_id = storage_conn_id
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

    # -- task state
    def _load_record(self, context: Context) -> TaskRecord:
        return TaskRecord.from_state(get_task_state(context, STATE_KEY))

    def _save_record(self, context: Context, record: TaskRecord) -> None:
        set_task_state(context, STATE_KEY, record.to_state())

    # -- execution
    def execute(self, context: Context) -> dict[str, Any]:
        params = self.task_params()  # before any request
        hook = self.hook
        record = self._load_record(context)
        earlier = record.first_try_started is not None or record.task_id is not None
        if record.first_try_started is None:
            # persisted before the create, so a try killed before the task id is stored still
            # bounds the next try's search to tasks created since this moment
            record.first_try_started = time.time()
            self._save_record(context, record)
        task = self._reattach(context, params, record, earlier)
        if isinstance(task, dict):  # the service forgot a task this instance saw done
            return task
        reattached = task is not None
        if task is None:
            self.before_create(params)  # e.g. the import's schema preflight
            if record.preexisting is None:
                record.preexisting = hook.matching_task_ids(
                    collection_name=params["collection_name"],
                    task_type=self.vikingdb_task_type,
                    params=params,
                )
                self._save_record(context, record)
            task_id = hook.create_task(self.vikingdb_task_type, params, known_task_ids=record.preexisting)
            record.task_id, record.last_status, record.last_seen = task_id, None, time.time()
            self._save_record(context, record)
            self.log.info(
                "Created VikingDB %s task %s on %s",
                self.vikingdb_task_type,
                task_id,
                params["collection_name"],
            )
        else:
            task_id = task.task_id
        self._reattached = record.reattached = reattached
        emit_job_metrics("vikingdb", "job_reattached" if reattached else "job_created")
        ti = context["ti"]
        ti.xcom_push(key=TASK_ID_XCOM_KEY, value=task_id)
        ti.xcom_push(key=CONSOLE_URL_KEY, value=hook.console_url(params["collection_name"], task_id))

        current = hook.get_task(task_id)
        record.seen(current)
        self._save_record(context, record)
        self.log_job(current)
        if not self.wait_for_completion:
            return self._summary(current, record, waited=False)
        return self.wait_for_job(context, task_id, current)

    def _run_start(self, context: Context) -> float | None:
        dag_run = context.get("dag_run") if hasattr(context, "get") else None
        start = getattr(dag_run, "start_date", None)
        return start.timestamp() if start is not None else None

    def _reattach(
        self, context: Context, params: Mapping[str, Any], record: TaskRecord, earlier: bool
    ) -> VikingDBTask | dict[str, Any] | None:
        """The task an earlier try of this task instance created (never another run's)."""
        if not self.reattach_on_retry:
            return None
        hook = self.hook
        if record.task_id:
            try:
                task = hook.get_task(record.task_id)
            except NotFoundError as exc:
                return self._forgotten(context, params, record, exc)
            if task.state is JobState.FAILED:
                self.log.warning(
                    "Task %s of an earlier try failed (%s): creating a new one", task.task_id, task.err_msg
                )
                record.task_id, record.preexisting = None, None
                return None
            if normalize_params(task.task_params) != normalize_params(params):
                self.log.warning(
                    "Task %s of an earlier try has other parameters than this try (%s): the arguments "
                    "changed, so this is a different task; creating it",
                    task.task_id,
                    task.task_params,
                )
                record.task_id, record.preexisting = None, None
                return None
            self.log.info("Reattaching to task %s from an earlier try (%s)", task.task_id, task.raw_status)
            return task
        try_number = getattr(context["ti"], "try_number", 1) or 1
        if not earlier and try_number <= 1:
            return None
        # no stored id: an earlier try may have been killed between create and storing the id
        since = record.first_try_started if earlier else self._run_start(context)
        if since is None:
            self.log.warning(
                "Retry %d: no task state and no run start: not searching, creating a task", try_number
            )
            return None
        found = hook.find_task(
            collection_name=params["collection_name"],
            task_type=self.vikingdb_task_type,
            params=params,
            created_after=since - CLOCK_SKEW_SECONDS,
            exclude=record.preexisting or (),
        )
        if found is not None:
            self.log.info(
                "Try %d: reattaching to task %s (%s), created %s since this task instance first started",
                try_number,
                found.task_id,
                found.raw_status,
                found.create_time,
            )
            record.seen(found)
            self._save_record(context, record)
        return found

    def _forgotten(
        self, context: Context, params: Mapping[str, Any], record: TaskRecord, exc: NotFoundError
    ) -> dict[str, Any] | None:
        decision = decide_forgotten(record, self.resubmit_unknown_task)
        seen = f"last seen {record.last_status or 'never polled'!r} at {_iso(record.last_seen) or '?'}"
        if decision == RESUBMIT:
            self.log.warning(
                "Task %s of an earlier try is unknown to the service (%s; %s): creating a new one%s",
                record.task_id,
                exc.code,
                seen,
                " (resubmit_unknown_task=True)" if self.resubmit_unknown_task else "",
            )
            record.task_id, record.preexisting = None, None
            return None
        if decision == FINISHED:
            self.log.warning(
                "Task %s of an earlier try finished (%s) and the service has since forgotten it: "
                "reporting it as done, nothing is resubmitted",
                record.task_id,
                seen,
            )
            return {
                "task_id": record.task_id,
                "task_type": self.vikingdb_task_type,
                "status": "done",
                "state": JobState.COMPLETED.value,
                "collection_name": params.get("collection_name"),
                "tos_path": params.get("tos_path"),
                "tos_uri": f"tos://{params.get('tos_path')}",
                "file_type": params.get("file_type"),
                "files": self._list_files(params.get("tos_path")),
                "rows": record.rows,
                "forgotten_by_service": True,
                "reattached": True,
                "started_at": _iso(record.first_try_started),
            }
        raise TaskForgottenError(
            f"VikingDB {self.vikingdb_task_type} task {record.task_id}, created by an earlier try of this task "
            f"instance ({seen}), is no longer known to the service (code {exc.code}: task not exist). "
            "It may already have "
            + (
                "exported rows to "
                if self.vikingdb_task_type == "data_export"
                else "imported the files under "
            )
            + f"{params.get('tos_path')!r}, so it is not resubmitted automatically. Check the "
            + (
                "TOS prefix"
                if self.vikingdb_task_type == "data_export"
                else f"collection {params.get('collection_name')!r}"
            )
            + ", then run again with resubmit_unknown_task=True (or clear this task instance's task state)"
            " to submit a new task."
        )

    def _list_files(self, tos_path: Any) -> list[str] | None:
        """``bucket/key`` of every object under the task's prefix, listed through ``storage_conn_id``
        (None without it: the service does not say which files a task wrote or read)."""
        if not self.storage_conn_id or not isinstance(tos_path, str):
            return None
        from airflow_provider_vectorimport.hooks.object_storage import ObjectStorageHook

        bucket, _, prefix = tos_path.strip("/").partition("/")
        prefix = prefix.strip("/")
        client = ObjectStorageHook(self.storage_conn_id).get_client()
        keys: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=f"{prefix}/" if prefix else ""
        ):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return [f"{bucket}/{key}" for key in sorted(keys)]

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

    def _summary(self, task: VikingDBTask, record: TaskRecord | None = None, **extra: Any) -> dict[str, Any]:
        started = record.first_try_started if record is not None else None
        return task_summary(
            task,
            console_url=self.hook.console_url(task.task_params.get("collection_name"), task.task_id),
            reattached=getattr(self, "_reattached", record.reattached if record is not None else None),
            started_at=_iso(started),
            **extra,
        )

    def finish(self, context: Context, task: VikingDBTask) -> dict[str, Any]:
        self.log.info("Finished: %s", task.describe())
        self._finished_task = task
        rows = task.total_filter_count if self.vikingdb_task_type == "data_export" else task.total_data_count
        record = self._load_record(context)
        record.seen(task, rows=rows)
        # the rows counter counts a completed task once per task instance (not again on a reattach)
        count = task.state is JobState.COMPLETED and record.rows_counted != task.task_id
        if count:
            record.rows_counted = task.task_id
        self._save_record(context, record)
        # from the first try's start: a reattached task's duration includes the earlier tries
        duration = time.time() - record.first_try_started if record.first_try_started else None
        counter = "rows_exported" if self.vikingdb_task_type == "data_export" else "rows_imported"
        emit_job_metrics(
            "vikingdb",
            f"job_{task.state.value}",
            rows=rows,
            duration=duration,
            rows_counter=counter if count else None,
        )
        rounded = round(duration, 3) if duration is not None else None
        if task.state is JobState.FAILED:
            # err_msg (it names the failing file and row) stays in XCom although the task fails
            push_failure_summary(context, self._summary(task, record, duration_seconds=rounded))
            raise_for_task(task)
        files = self._list_files(task.task_params.get("tos_path"))
        tos_path = task.task_params.get("tos_path")
        record_outlet_events(
            context,
            self.outlets,
            asset_event_extra(
                "vikingdb",
                collection=task.task_params.get("collection_name") or self.collection_name,
                job_id=task.task_id,
                state=task.state.value,
                rows=rows,
                files=files if files is not None else ([f"tos://{tos_path}"] if tos_path else []),
                partition=self.outlet_partition,
            ),
        )
        return self._summary(task, record, files=files, duration_seconds=rounded)

    def on_terminal_event(
        self, context: Context, status: str, job: VikingDBTask, event: Mapping[str, Any]
    ) -> dict[str, Any]:
        if status == "failed" and job.state is not JobState.FAILED:
            push_failure_summary(context, self._summary(job))
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
        if self.vikingdb_task_type == "data_export":
            rows = task.total_filter_count if task is not None else None
            return operator_lineage([collection], [files], output_rows=rows)
        rows = task.total_data_count if task is not None else None
        return operator_lineage([files], [collection], output_rows=rows)

    def on_kill(self) -> None:
        self.log.warning("Task killed; the VikingDB task (if created) keeps running on the service")

    def before_create(self, params: Mapping[str, Any]) -> None:
        """Runs right before a new task is created (not on reattach); the import checks the schema."""


class VikingDBExportOperator(_VikingDBTaskOperator):
    """Export a collection (or the rows matching a filter) to TOS as parquet or json files.

    :param collection_name: the collection (templated).
    :param tos_path: ``bucket/prefix`` where the files land (templated); not a URL.
    :param file_type: ``parquet`` (default) or ``json``.
    :param filter_conds: rows to export, the current create-task page's DSL (templated; a list or
        its JSON text): ``[{"op": "must", "field": "city", "conds": ["beijing"]},
        {"op": "range", "field": "user_id", "gt": 0, "lt": 4}]``; ops ``must``, ``must_nor``,
        ``range``, ``range_out``; every condition must hold.
    :param filter: the legacy form of seed 004, ``{field: [allowed values]}`` (AND of fields), as a
        dict or JSON text (templated). Sent as ``filter_conds`` (``must`` conditions) unless
        ``filter_field="filter"``.
    :param filter_field: which ``task_params`` field carries the filter: ``filter_conds`` (default:
        the current documents; the V2 page says that without it *everything* is exported) or
        ``filter`` (the seed's legacy field, for a deployment that still reads it).
    :param export_all: export every row; exclusive with a filter. One of ``filter_conds``,
        ``filter`` and ``export_all=True`` is required.
    :param storage_conn_id: an ``aws``/``vectorimport_s3`` connection able to list the TOS bucket;
        when given the summary's ``files`` lists what is under the prefix.
    :param vikingdb_conn_id: the ``vikingdb`` connection.
    :param wait_for_completion: wait until the task is ``done`` / ``fail`` (default True).
    :param deferrable: free the worker while waiting (default ``[operators] default_deferrable``).
    :param poll_interval: seconds between polls; :param timeout: seconds to wait.
    :param reattach_on_retry: a retry reattaches to the task an earlier try created (task state,
        then the one task created since the first try with the same collection, type and parameters)
        instead of creating a duplicate.
    :param resubmit_unknown_task: when the stored task is unknown to the service (1000035) and was
        not last seen done or failed, submit a new task instead of failing (it may duplicate work).
    :param fail_on_confirm: fail instead of waiting when the task asks for a manual confirmation.
    """

    vikingdb_task_type = "data_export"
    template_fields: Sequence[str] = (
        "collection_name",
        "tos_path",
        "file_type",
        "filter",
        "filter_conds",
        "outlet_partition",
    )
    template_fields_renderers = {"filter": "json", "filter_conds": "json"}

    def __init__(
        self,
        *,
        collection_name: str,
        tos_path: str,
        file_type: str = "parquet",
        filter_conds: list[dict[str, Any]] | str | None = None,
        filter: Mapping[str, Any] | str | None = None,
        filter_field: str = "filter_conds",
        export_all: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(collection_name=collection_name, tos_path=tos_path, file_type=file_type, **kwargs)
        self.filter_conds = filter_conds
        self.filter = filter
        self.filter_field = filter_field
        self.export_all = export_all
        self._validate_early(filter_conds, filter, filter_field)

    def task_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "collection_name": validate_collection_name(self.collection_name),
            "tos_path": validate_tos_path(self.tos_path),
            "file_type": validate_file_type(self.file_type),
        }
        params.update(
            export_filter_params(
                filter_conds=self.filter_conds,
                filter=self.filter,
                export_all=self.export_all,
                filter_field=self.filter_field,
            )
        )
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

    The other parameters are those of :class:`VikingDBExportOperator` (without the filter ones and
    ``export_all``). A retried, cleared or re-run task instance never submits a second import of the
    same files (see the module docstring); two *different* runs importing the same prefix each do.
    """

    vikingdb_task_type = "data_import"
    template_fields: Sequence[str] = ("collection_name", "tos_path", "file_type", "outlet_partition")

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
