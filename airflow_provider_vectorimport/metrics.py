"""Job metrics through Airflow's own Stats (StatsD / Datadog / OpenTelemetry, whichever the
deployment configured under ``[metrics]``; nothing is sent where none is).

Names (prefixed by Airflow's ``statsd_prefix``, ``airflow`` by default), per service
(``zilliz``, ``milvus``, ``vikingdb``):

* ``vectorimport.<service>.job_created`` / ``job_reattached``: a job was submitted, or a retry
  reattached to the one an earlier try submitted (no duplicate import);
* ``vectorimport.<service>.job_completed`` / ``job_failed``: the job ended;
* ``vectorimport.<service>.rows`` (gauge): rows the finished job imported or exported (the last
  value only: no daily totals from it);
* ``vectorimport.<service>.rows_imported`` / ``rows_exported`` (counters, VikingDB exports are the
  ``rows_exported`` ones): incremented by the rows of each *completed* job, once per task instance:
  the try that sees the job completed counts it and records that in the task state, so a retry or
  clear that reattaches to the same, already counted job does not count it again. Sum them with
  ``increase(...[1d])`` for daily row totals. Failed jobs add nothing (their partial rows are in the
  gauge); a job the service forgot, taken as completed from the task state, is not counted again;
* ``vectorimport.<service>.duration`` (timer): from submission to the end of the wait.
"""

from __future__ import annotations

import logging
from datetime import timedelta

log = logging.getLogger(__name__)

#: counters of rows moved by completed jobs
ROWS_COUNTERS = ("rows_imported", "rows_exported")


def emit_job_metrics(
    service: str,
    event: str,
    *,
    rows: int | None = None,
    duration: float | None = None,
    rows_counter: str | None = None,
) -> None:
    """Emit ``vectorimport.<service>.<event>`` (+ rows and duration when given). Never raises:
    metrics must not fail a task.

    :param rows_counter: ``rows_imported`` / ``rows_exported``: also add ``rows`` to that counter
        (the caller passes it once per completed job, see the module docstring)."""
    try:
        from airflow.sdk.observability.stats import Stats
    except ImportError:  # pragma: no cover - older SDKs
        return
    prefix = f"vectorimport.{service}"
    tags = {"service": service}
    try:
        Stats.incr(f"{prefix}.{event}", tags=tags)
        if rows is not None:
            Stats.gauge(f"{prefix}.rows", float(rows), tags=tags)
            if rows_counter in ROWS_COUNTERS and rows >= 0:
                Stats.incr(f"{prefix}.{rows_counter}", count=int(rows), tags=tags)
        if duration is not None:
            Stats.timing(f"{prefix}.duration", timedelta(seconds=duration), tags=tags)
    except Exception as exc:
        log.debug("could not emit %s.%s: %s", prefix, event, exc)


def emit_counter(name: str, count: int = 1, **tags: str) -> None:
    """Increment one counter (e.g. ``vectorimport.deadline_missed``). Never raises."""
    try:
        from airflow.sdk.observability.stats import Stats
    except ImportError:  # pragma: no cover - older SDKs
        return
    try:
        Stats.incr(name, count=count, tags=tags or None)
    except Exception as exc:
        log.debug("could not emit %s: %s", name, exc)
