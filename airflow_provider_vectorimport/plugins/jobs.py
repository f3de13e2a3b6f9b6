"""What the dashboard shows, read off what the operators already record (pure: no I/O, no Airflow).

A *job* is one try of a provider operator's task instance that pushed a job id to XCom (``job_id``
for :class:`~airflow_provider_vectorimport.operators.zilliz.ZillizImportOperator`,
``vikingdb_task_id`` for the VikingDB operators), with its ``console_url``, ``submitted_at`` and,
once it finished, the summary it returned (``return_value``) or, when it failed on a failed/empty
job, the same summary pushed under ``job_summary`` (the job's reason, per-file states and reasons).
Tasks still deferred have no summary yet: they show as running with what they pushed.

Every field is copied through a whitelist, so nothing an operator (or another provider) might put
in XCom reaches the browser unless it is listed here; rows that do not look like ours (XCom from
another operator, from an older provider version, unparsable values) are skipped and counted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

#: XCom key of the job id -> service family
JOB_ID_KEYS: dict[str, str] = {"job_id": "zilliz", "vikingdb_task_id": "vikingdb"}
#: the summary a job operator pushes before failing on a failed/empty job (the same dict it returns
#: on success; :data:`airflow_provider_vectorimport.utils.SUMMARY_XCOM_KEY`)
FAILURE_SUMMARY_KEY = "job_summary"
#: every XCom key the dashboard reads
XCOM_KEYS: tuple[str, ...] = (
    "return_value",
    FAILURE_SUMMARY_KEY,
    "job_id",
    "vikingdb_task_id",
    "console_url",
    "console_service",
    "submitted_at",
)
#: ``task_instance.operator`` of the provider's job operators: their class names. Provider versions
#: before the ``vikingdb_task_type`` rename overrode Airflow's ``task_type`` on the VikingDB
#: operators, so rows they wrote say ``data_export`` / ``data_import``: kept as legacy aliases only.
KNOWN_OPERATORS: dict[str, str] = {
    "ZillizImportOperator": "zilliz",
    "VikingDBExportOperator": "vikingdb",
    "VikingDBImportOperator": "vikingdb",
    "data_export": "vikingdb",
    "data_import": "vikingdb",
}
SERVICES: tuple[str, ...] = ("zilliz", "milvus", "vikingdb")
STATES: tuple[str, ...] = ("pending", "running", "completed", "failed", "needs_confirmation", "unknown")
#: task instance states whose job is still being waited for
_TI_ACTIVE = {"running", "deferred", "queued", "scheduled", "up_for_reschedule", "restarting"}
_TI_FAILED = {"failed", "upstream_failed", "up_for_retry"}
MAX_FILES = 500
MAX_TEXT = 2000


@dataclass
class TaskRow:
    """One task instance with the XCom values the dashboard reads (already JSON-decoded)."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int | None
    state: str | None
    operator: str | None
    start_date: datetime | None
    end_date: datetime | None
    duration: float | None
    xcoms: dict[str, Any] = field(default_factory=dict)
    rendered: Mapping[str, Any] | None = None


def decode_xcom(value: Any) -> Any:
    """XCom values are stored as JSON; older rows or other backends may hand back text."""
    if isinstance(value, bytes | bytearray):
        try:
            value = value.decode()
        except UnicodeDecodeError:
            return None
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _text(value: Any, limit: int = MAX_TEXT) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str | int | float):
        text = str(value)
        return text[:limit] if text else None
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _int(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


def safe_url(value: Any) -> str | None:
    """An http(s) link without credentials in it; anything else (``javascript:``, ``user:pw@``) dropped."""
    text = _text(value, 2048)
    if not text:
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    try:
        port = parts.port
    except ValueError:
        return None
    if port:
        netloc += f":{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def _epoch(value: Any) -> datetime | None:
    number = _number(value)
    if number is None or number <= 0:
        return None
    try:
        return datetime.fromtimestamp(number, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _service_of(job_key: str, summary: Mapping[str, Any], console_url: str | None, pushed: Any = None) -> str:
    """The summary's ``service``, else the ``console_service`` the operator pushed when it created the
    job, else (rows of provider versions before either) told from the console link."""
    family = JOB_ID_KEYS[job_key]
    if family == "vikingdb":
        return "vikingdb"
    for declared in (summary.get("service"), pushed):
        if isinstance(declared, str) and declared in SERVICES:
            return declared
    host = urlsplit(console_url).hostname or "" if console_url else ""
    if host.endswith(("zilliz.com", "zilliz.com.cn")):
        return "zilliz"
    if console_url and "/v2/vectordb/jobs/import/describe" in console_url:
        return "milvus"
    return "zilliz"


def _looks_like_summary(job_key: str, summary: Mapping[str, Any]) -> bool:
    """The return value of one of our operators (any version): the job id and a state."""
    if job_key == "vikingdb_task_id":
        return "task_id" in summary and ("state" in summary or "status" in summary)
    return "job_id" in summary and "state" in summary


def _files(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    raw = summary.get("files")
    if not isinstance(raw, list):
        return []
    files: list[dict[str, Any]] = []
    for item in raw[:MAX_FILES]:
        if isinstance(item, str):
            files.append({"name": item[:1024]})
        elif isinstance(item, Mapping):
            name = _text(item.get("name") or item.get("key") or item.get("path"), 1024)
            if not name:
                continue
            state = _text(item.get("state"), 40)
            files.append(
                {
                    "name": name,
                    "state": state if state in STATES else None,
                    "progress": _number(item.get("progress")),
                    "rows": _int(item.get("imported_rows")),
                    "total_rows": _int(item.get("total_rows")),
                    "size": _int(item.get("size")),
                    "reason": _text(item.get("reason")),
                }
            )
    return files


def build_job(row: TaskRow, *, now: datetime | None = None) -> dict[str, Any] | None:
    """The dashboard's record of one task instance, or None when it is not one of our jobs."""
    now = now or datetime.now(tz=UTC)
    job_key = next((k for k in JOB_ID_KEYS if row.xcoms.get(k) not in (None, "")), None)
    summary_raw = row.xcoms.get("return_value")
    if not isinstance(summary_raw, Mapping):  # the task raised: the summary it pushed first, if any
        summary_raw = row.xcoms.get(FAILURE_SUMMARY_KEY)
    summary: Mapping[str, Any] = summary_raw if isinstance(summary_raw, Mapping) else {}
    if job_key is None:
        return None
    if not _looks_like_summary(job_key, summary):
        summary = {}  # another operator's return value, or an older provider's: ignore it
    if row.operator not in KNOWN_OPERATORS and not summary:
        return None  # another operator that pushes a job_id
    job_id = _text(row.xcoms.get(job_key), 256)
    if not job_id:
        return None
    if summary:
        summary_id = _text(summary.get("task_id" if job_key == "vikingdb_task_id" else "job_id"), 256)
        if summary_id and summary_id != job_id:
            summary = {}  # summary of a different job (should not happen): trust the pushed id
    console_url = safe_url(row.xcoms.get("console_url")) or safe_url(summary.get("console_url"))
    service = _service_of(job_key, summary, console_url, row.xcoms.get("console_service"))

    ti_state = (row.state or "").lower() or None
    state = _text(summary.get("state"), 40) if summary else None
    if state not in STATES:
        state = None
    if ti_state in _TI_FAILED:
        state = "failed"
    elif ti_state in _TI_ACTIVE and state not in ("failed", "completed", "needs_confirmation"):
        state = state or "running"
    elif state is None:
        state = "unknown"

    if service == "vikingdb":
        task_type = _text(summary.get("task_type"), 40) or (row.operator or "")
        kind = "export" if "export" in task_type.lower() else "import"
        rows = _int(summary.get("total_filter_count" if kind == "export" else "total_data_count"))
        total_rows = None
        reason = _text(summary.get("err_msg"))
    else:
        kind = "import"
        rows = _int(summary.get("imported_rows"))
        total_rows = _int(summary.get("total_rows"))
        reason = _text(summary.get("reason"))

    collection = _text(summary.get("collection_name"), 256)
    if not collection and isinstance(row.rendered, Mapping):
        collection = _text(row.rendered.get("collection_name"), 256)

    submitted = _epoch(row.xcoms.get("submitted_at")) or _epoch(summary.get("created_at"))
    started = submitted or row.start_date
    duration = _number(summary.get("duration_seconds"))
    if duration is None:
        duration = _number(summary.get("duration"))
    if duration is None:
        if state in ("running", "pending", "needs_confirmation") and started is not None:
            begin = started if started.tzinfo else started.replace(tzinfo=UTC)
            duration = max(0.0, (now - begin).total_seconds())
        else:
            duration = _number(row.duration)
    progress = _number(summary.get("progress"))
    if progress is not None:
        progress = max(0.0, min(100.0, progress))
    elif state == "completed":
        progress = 100.0

    files = _files(summary)
    return {
        "service": service,
        "kind": kind,
        "collection": collection,
        "job_id": job_id,
        "state": state,
        "raw_state": _text(summary.get("raw_state") or summary.get("status"), 60),
        "progress": progress,
        "rows": rows,
        "total_rows": total_rows,
        "duration_seconds": round(duration, 3) if duration is not None else None,
        "reason": reason,
        "files": files,
        "files_failed": sum(1 for f in files if f.get("state") == "failed" or f.get("reason")),
        "output": _text(summary.get("tos_uri"), 1024) if service == "vikingdb" else None,
        "console_url": console_url,
        "waited": summary.get("waited") if isinstance(summary.get("waited"), bool) else None,
        "reattached": summary.get("reattached") if isinstance(summary.get("reattached"), bool) else None,
        "dag_id": row.dag_id,
        "run_id": row.run_id,
        "task_id": row.task_id,
        "map_index": row.map_index,
        "try_number": row.try_number,
        "ti_state": ti_state,
        "submitted_at": _iso(started),
        "start_date": _iso(row.start_date),
        "end_date": _iso(row.end_date),
    }


def ti_path(job: Mapping[str, Any], base: str = "/") -> str:
    """The task instance's page in the Airflow 3 UI."""
    from urllib.parse import quote

    path = (
        f"{base.rstrip('/')}/dags/{quote(job['dag_id'], safe='')}/runs/{quote(job['run_id'], safe='')}"
        f"/tasks/{quote(job['task_id'], safe='')}"
    )
    if job.get("map_index", -1) is not None and int(job.get("map_index", -1)) >= 0:
        path += f"/mapped/{int(job['map_index'])}"
    return path


def matches(
    job: Mapping[str, Any],
    *,
    services: set[str] | None = None,
    states: set[str] | None = None,
    collection: str | None = None,
) -> bool:
    if services and job["service"] not in services:
        return False
    if states and job["state"] not in states:
        return False
    return not (collection and job.get("collection") != collection)


def totals(jobs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts per state and rows landed, for the page's header."""
    by_state: dict[str, int] = {}
    rows = 0
    for job in jobs:
        by_state[job["state"]] = by_state.get(job["state"], 0) + 1
        if job["state"] == "completed" and isinstance(job.get("rows"), int):
            rows += job["rows"]
    return {"jobs": len(jobs), "by_state": by_state, "rows_completed": rows}
