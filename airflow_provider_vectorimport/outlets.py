"""Asset events that say what a job did: the extras (and partition) an operator puts on its outlets.

Every Airflow task records one Asset event per outlet when it succeeds; without more, a consumer
knows only *that* the collection changed. The provider's import and export operators fill the
event's ``extra`` with what the job did, so a downstream DAG (scheduled on the collection Asset) can
read it from ``triggering_asset_events`` / ``inlet_events`` without an XCom pull across DAGs::

    {"service": "zilliz", "collection": "articles", "job_id": "job-…", "state": "completed",
     "rows": 1000, "files": ["s3://bucket/day=2026-12-01/part-00000.parquet"], "files_count": 1,
     "partition": "2026-12-01"}

``partition`` is the operator's ``outlet_partition`` (templated, e.g. ``"{{ ds }}"`` for a daily
load). On Airflow versions with partitioned asset events (``OutletEventAccessor.add_partitions``,
3.3) the same key is also attached as the event's partition key, so partition-aware schedules
(``PartitionedAssetTimetable``) see it; before that it is in the extra only.

Only JSON values, only what is already in the job's XCom summary: no credentials, no signed URLs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: at most this many file names go into an event's extra (``files_count`` always has them all)
MAX_FILES_IN_EXTRA = 100


def asset_event_extra(
    service: str,
    *,
    collection: str | None,
    job_id: str | None,
    state: str | None,
    rows: int | None,
    files: Iterable[str] = (),
    partition: str | None = None,
) -> dict[str, Any]:
    """The ``extra`` of an outlet event for one finished job (JSON values only)."""
    names = [str(name) for name in files]
    extra: dict[str, Any] = {
        "service": service,
        "collection": collection,
        "job_id": job_id,
        "state": state,
        "rows": rows,
        "files": names[:MAX_FILES_IN_EXTRA],
        "files_count": len(names),
    }
    if partition:
        extra["partition"] = partition
    return extra


def _is_asset(outlet: Any) -> bool:
    # only concrete Assets carry our extras; aliases and asset refs are the user's own business
    from airflow.sdk import Asset

    return isinstance(outlet, Asset)


def record_outlet_events(
    context: Mapping[str, Any], outlets: Iterable[Any], extra: Mapping[str, Any]
) -> list[str]:
    """Put ``extra`` on the event of every Asset outlet (and its partition key where Airflow takes
    one); returns the URIs it filled. Nothing happens outside a task run (no ``outlet_events``)."""
    events = context.get("outlet_events")
    if events is None:
        return []
    filled = []
    partition = extra.get("partition")
    for outlet in outlets or ():
        if not _is_asset(outlet):
            continue
        accessor = events[outlet]
        accessor.extra.update(extra)
        if partition and hasattr(accessor, "add_partitions"):
            accessor.add_partitions(str(partition))
        filled.append(outlet.uri)
    return filled
