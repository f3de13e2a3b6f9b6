"""A ready callback for Airflow's Deadline Alerts (Airflow >= 3.1): "the nightly import is late".

A bulk import that usually takes minutes and is still running hours later is the failure users
notice last: nothing fails, the collection is simply stale. Put a deadline on the DAG and let the
triggerer call :func:`import_deadline_missed` when it passes::

    from datetime import timedelta
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference
    from airflow_provider_vectorimport.alerts import import_deadline_missed

    DAG(...,
        deadline=DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT,
            interval=timedelta(hours=2),
            callback=AsyncCallback(import_deadline_missed, kwargs={"what": "nightly import of articles"}),
        ))

The callback runs on the triggerer (``AsyncCallback``): it never blocks, logs one WARNING line
naming the DAG run and what is late, and counts ``vectorimport.deadline_missed`` in Airflow's
metrics (StatsD / OpenTelemetry), which is where an alert rule can pick it up. Pass
``webhook_url`` to also POST the same message as JSON (a chat or paging hook), asynchronously.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["deadline_message", "import_deadline_missed"]


def deadline_message(what: str, context: Mapping[str, Any] | None) -> str:
    """The one line an operator reads: what is late, in which DAG run."""
    context = context or {}
    dag_run = context.get("dag_run")
    dag_id = context.get("dag_id") or _get(dag_run, "dag_id")
    run_id = context.get("run_id") or _get(dag_run, "run_id")
    deadline = context.get("deadline")
    when = _get(deadline, "deadline_time")
    where = f"DAG {dag_id!r} run {run_id!r}" if dag_id or run_id else "a DAG run"
    late = f" (deadline {when})" if when else ""
    return f"vectorimport: {what} is late: {where} has not finished by its deadline{late}"


def _get(value: Any, key: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(key)
    return getattr(value, key, None)


async def import_deadline_missed(
    what: str = "the import",
    webhook_url: str | None = None,
    context: Mapping[str, Any] | None = None,
    **_: Any,
) -> str:
    """Deadline Alert callback (``AsyncCallback``): log, count, optionally POST; returns the message."""
    message = deadline_message(what, context)
    log.warning("%s", message)
    from airflow_provider_vectorimport.metrics import emit_counter

    emit_counter("vectorimport.deadline_missed")
    if webhook_url:
        import aiohttp

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            async with session.post(webhook_url, json={"text": message}) as response:
                if response.status >= 400:
                    log.warning("vectorimport: the deadline webhook answered HTTP %s", response.status)
    return message
