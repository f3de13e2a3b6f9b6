"""The normalized job model every service maps onto, so operators, sensors and dashboards speak
one language: a :class:`JobState` with terminal sets, progress, rows, a reason and per-file details.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class JobState(enum.StrEnum):
    """Normalized state of a bulk import job or a VikingDB task."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    #: VikingDB ``confirm``: the task waits for a human (or an explicit ``update_task``) to confirm.
    NEEDS_CONFIRMATION = "needs_confirmation"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES

    @property
    def is_success(self) -> bool:
        return self is JobState.COMPLETED


TERMINAL_STATES = frozenset({JobState.COMPLETED, JobState.FAILED})
NON_TERMINAL_STATES = frozenset(set(JobState) - TERMINAL_STATES)


def parse_progress(value: Any) -> float:
    """Progress as a 0-100 float from ``80``, ``0.8`` (v1 ``readyPercentage`` <= 1), ``"50%"``..."""
    if value is None or value == "":
        return 0.0
    if isinstance(value, str):
        value = value.strip().rstrip("%").strip()
        if not value:
            return 0.0
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return max(0.0, min(100.0, number))


def to_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return None


@dataclass
class FileDetail:
    """One input file of an import job (or one output file of an export)."""

    name: str
    size: int | None = None
    state: JobState = JobState.PENDING
    progress: float = 0.0
    imported_rows: int | None = None
    total_rows: int | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        return data


@dataclass
class ImportJob:
    """A bulk import job on Zilliz Cloud (v1/v2) or Milvus, normalized."""

    job_id: str
    state: JobState
    progress: float = 0.0
    imported_rows: int | None = None
    total_rows: int | None = None
    reason: str | None = None
    collection_name: str | None = None
    files: list[FileDetail] = field(default_factory=list)
    create_time: str | None = None
    complete_time: str | None = None
    raw_state: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def is_terminal(self) -> bool:
        return self.state.is_terminal

    @property
    def failed_files(self) -> list[FileDetail]:
        return [f for f in self.files if f.state is JobState.FAILED or f.reason]

    def describe(self) -> str:
        """One log line for dashboards: state, progress, rows."""
        rows = ""
        if self.imported_rows is not None or self.total_rows is not None:
            rows = f", rows {self.imported_rows if self.imported_rows is not None else '?'}"
            rows += f"/{self.total_rows}" if self.total_rows is not None else ""
        raw = f" ({self.raw_state})" if self.raw_state and self.raw_state.lower() != self.state.value else ""
        reason = f": {self.reason}" if self.reason else ""
        return f"job {self.job_id} {self.state.value}{raw} {self.progress:.0f}%{rows}{reason}"

    def failure_message(self) -> str:
        msg = f"Import job {self.job_id} failed: {self.reason or 'no reason given'}"
        bad = self.failed_files
        if bad:
            msg += "; failing files: " + "; ".join(f"{f.name}: {f.reason or f.state.value}" for f in bad)
        return msg

    def to_dict(self, *, include_raw: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "job_id": self.job_id,
            "state": self.state.value,
            "raw_state": self.raw_state,
            "progress": self.progress,
            "imported_rows": self.imported_rows,
            "total_rows": self.total_rows,
            "reason": self.reason,
            "collection_name": self.collection_name,
            "create_time": self.create_time,
            "complete_time": self.complete_time,
            "files": [f.to_dict() for f in self.files],
        }
        if include_raw:
            data["raw"] = self.raw
        return data


@dataclass
class VikingDBTask:
    """A VikingDB task (data_import, data_export, filter_delete, filter_update), normalized."""

    task_id: str
    task_type: str
    raw_status: str
    state: JobState
    progress: float = 0.0
    total_data_count: int | None = None
    total_filter_count: int | None = None
    scan_data_count: int | None = None
    err_msg: str | None = None
    sampled_data: list[Any] = field(default_factory=list)
    sampled_timestamp: int | None = None
    task_params: dict[str, Any] = field(default_factory=dict)
    create_time: str | None = None
    update_time: str | None = None
    update_person: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    #: the collection, wherever the answer put it (``task_params``, top level, V2 ``task_config``)
    collection_name: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.state.is_terminal

    def describe(self) -> str:
        counts = ""
        if self.scan_data_count is not None or self.total_data_count is not None:
            counts = f", scanned {self.scan_data_count}/{self.total_data_count}"
        if self.total_filter_count is not None:
            counts += f", matched {self.total_filter_count}"
        err = f": {self.err_msg}" if self.err_msg else ""
        return f"task {self.task_id} ({self.task_type}) {self.raw_status} {self.progress:.0f}%{counts}{err}"

    def to_dict(self, *, include_raw: bool = False) -> dict[str, Any]:
        data = {
            "task_id": self.task_id,
            "task_type": self.task_type,
            "status": self.raw_status,
            "state": self.state.value,
            "progress": self.progress,
            "total_data_count": self.total_data_count,
            "total_filter_count": self.total_filter_count,
            "scan_data_count": self.scan_data_count,
            "err_msg": self.err_msg,
            "sampled_timestamp": self.sampled_timestamp,
            "task_params": self.task_params,
            "create_time": self.create_time,
            "update_time": self.update_time,
        }
        if include_raw:
            data["raw"] = self.raw
        return data
