"""Small helpers shared by the operators, sensors and triggers (Airflow-side only)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

from airflow.sdk import conf

#: XCom key of the summary a job operator pushes before it fails on a failed (or empty) job: the
#: same dict it returns (``return_value``) on success, so the job's reason and per-file failures
#: stay readable (ops dashboard, downstream ``trigger_rule="all_done"`` tasks) although the task
#: raised. Small and secret-free like the return value.
SUMMARY_XCOM_KEY = "job_summary"


def push_failure_summary(context: Any, summary: Any) -> None:
    """Push ``summary`` under :data:`SUMMARY_XCOM_KEY`; never raises (the job's own error must win)."""
    try:
        context["ti"].xcom_push(key=SUMMARY_XCOM_KEY, value=summary)
    except Exception as exc:  # pragma: no cover - a broken XCom backend must not hide the failure
        import logging

        logging.getLogger(__name__).warning("could not push the job summary to XCom: %s", exc)


def default_deferrable() -> bool:
    """``[operators] default_deferrable``, as the official providers read it."""
    return conf.getboolean("operators", "default_deferrable", fallback=False)


def mask_secrets(*values: Any) -> None:
    """Register secret values with Airflow's secrets masker so they never reach logs or XCom."""
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - very old SDKs
        return
    for value in values:
        if value:
            mask_secret(value)


def run_identity(context: Any) -> tuple[str, str, str, int]:
    """(dag_id, task_id, run_id, map_index) of the running task instance."""
    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    if map_index is None:
        map_index = -1
    return ti.dag_id, ti.task_id, context.get("run_id") or ti.run_id, int(map_index)


def idempotency_key(context: Any, *parts: Any) -> str:
    """A stable key for one logical submission: the same for every try of the same task instance
    (dag id, task id, run id, map index) and the same extra ``parts``; different across runs.

    Printable ASCII, well under the 256 bytes Milvus accepts.
    """
    dag_id, task_id, run_id, map_index = run_identity(context)
    raw = "\x1f".join(str(p) for p in (dag_id, task_id, run_id, map_index, *parts))
    digest = hashlib.sha256(raw.encode()).hexdigest()[:40]
    prefix = re.sub(r"[^A-Za-z0-9_.-]", "-", f"{dag_id}.{task_id}")[:64]
    return f"af-{prefix}-{digest}"


def get_task_state(context: Any, key: str) -> Any:
    """Read a value persisted for this task instance across tries (Airflow >= 3.3 task_state_store)."""
    store = context.get("task_state_store") if hasattr(context, "get") else None
    if store is None:
        return None
    try:
        return store.get(key)
    except Exception:  # the store is an optimisation, never a reason to fail
        return None


def set_task_state(context: Any, key: str, value: Any) -> bool:
    """Persist ``value`` for later tries of this task instance; False where no store exists."""
    store = context.get("task_state_store") if hasattr(context, "get") else None
    if store is None:
        return False
    try:
        store.set(key, value)
        return True
    except Exception:
        return False


def normalize_file_groups(files: Any) -> list[list[str]]:
    """``"a.parquet"`` / ``["a", "b"]`` / ``[["a"], ["b", "c"]]`` -> list of groups of paths."""
    if files is None:
        return []
    if isinstance(files, str):
        return [[files]]
    groups: list[list[str]] = []
    for item in files:
        if isinstance(item, str):
            groups.append([item])
        elif isinstance(item, Iterable):
            group = [str(x) for x in item]
            if group:
                groups.append(group)
        else:
            raise TypeError(f"file entries must be strings or lists of strings, got {type(item).__name__}")
    return groups
