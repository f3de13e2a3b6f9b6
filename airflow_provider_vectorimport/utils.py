"""Small helpers shared by the operators, sensors and triggers (Airflow-side only)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from airflow.sdk import conf


def default_deferrable() -> bool:
    """``[operators] default_deferrable``, as the official providers read it."""
    return conf.getboolean("operators", "default_deferrable", fallback=False)


_MASK_LATER: ContextVar[list[Any] | None] = ContextVar("vectorimport_mask_later", default=None)


def mask_secrets(*values: Any) -> None:
    """Register secret values with Airflow's secrets masker so they never reach logs or XCom.

    Inside :func:`collect_secrets` (async callers) the values are collected instead, for
    :func:`amask_secrets` to register without a blocking call on the event loop."""
    later = _MASK_LATER.get()
    if later is not None:
        later.extend(v for v in values if v)
        return
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - very old SDKs
        return
    for value in values:
        if value:
            mask_secret(value)


async def amask_secrets(*values: Any) -> None:
    """:func:`mask_secrets` for event loops (triggers): the SDK's ``amask_secret`` when it exists
    (Airflow >= 3.3.2), else the sync one in a worker thread, where blocking is harmless."""
    values = tuple(v for v in values if v)
    if not values:
        return
    try:
        from airflow.sdk.log import amask_secret
    except ImportError:  # pragma: no cover - older SDKs
        import asyncio

        await asyncio.to_thread(mask_secrets, *values)
        return
    for value in values:
        await amask_secret(value)


@contextmanager
def collect_secrets() -> Iterator[list[Any]]:
    """Collect what :func:`mask_secrets` is asked to mask inside the block (see :func:`amask_secrets`)."""
    collected: list[Any] = []
    token = _MASK_LATER.set(collected)
    try:
        yield collected
    finally:
        _MASK_LATER.reset(token)


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
