"""Job metrics through Airflow's own Stats (StatsD / Datadog / OpenTelemetry, whichever the
deployment configured under ``[metrics]``; nothing is sent where none is).

Names (prefixed by Airflow's ``statsd_prefix``, ``airflow`` by default), per service
(``zilliz``, ``milvus``, ``vikingdb``):

* ``vectorimport.<service>.job_created`` / ``job_reattached``: a job was submitted, or a retry
  reattached to the one an earlier try submitted (no duplicate import);
* ``vectorimport.<service>.job_completed`` / ``job_failed``: the job ended;
* ``vectorimport.<service>.rows`` (gauge): rows the finished job imported or exported;
* ``vectorimport.<service>.duration`` (timer): from submission to the end of the wait.
"""

from __future__ import annotations

import logging
from datetime import timedelta

log = logging.getLogger(__name__)


def emit_job_metrics(
    service: str,
    event: str,
    *,
    rows: int | None = None,
    duration: float | None = None,
) -> None:
    """Emit ``vectorimport.<service>.<event>`` (+ rows and duration when given). Never raises:
    metrics must not fail a task."""
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
        if duration is not None:
            Stats.timing(f"{prefix}.duration", timedelta(seconds=duration), tags=tags)
    except Exception as exc:
        log.debug("could not emit %s.%s: %s", prefix, event, exc)
