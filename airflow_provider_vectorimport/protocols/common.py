"""Small pure helpers the protocol modules share."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any


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


def parse_time(value: Any, naive_tz: dt.tzinfo = dt.UTC) -> float | None:
    """Epoch seconds from a service's time (a VikingDB task's ``create_time``, an import job's
    ``completeTime``).

    RFC3339 (``2026-11-30T06:14:38Z`` / ``...+08:00``, the form the V2 pages document) is exact. A
    naive ``YYYY-mm-dd HH:MM:SS`` (the V1 pages do not say which form or zone) is read in
    ``naive_tz``: UTC unless the connection's ``create_time_zone`` extra says otherwise. Epoch
    seconds or milliseconds are accepted too.
    """
    if value in (None, ""):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        number = float(value)
        return number / 1000.0 if number > 10**11 else number
    text = str(value).strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    for parse in (dt.datetime.fromisoformat, lambda s: dt.datetime.strptime(s, "%Y-%m-%d %H:%M:%S")):
        try:
            when = parse(text)
        except ValueError:
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=naive_tz)
        return when.timestamp()
    return None


def has_zone(value: Any) -> bool:
    """Whether a service time string says its zone (``Z`` / ``+08:00``) or is epoch seconds."""
    if isinstance(value, int | float):
        return True
    text = str(value or "").strip()
    if text.isdigit():
        return True
    if text.endswith(("Z", "z")):
        return True
    tail = text[10:]  # past the date
    return "+" in tail or "-" in tail


#: seconds a service's clock may run ahead of this worker's before its completion time is not trusted
CLOCK_SKEW = 60.0


def job_seconds(create_time: Any, complete_time: Any, started: float | None, now: float) -> float | None:
    """How long a finished job ran, by the service's own clock where it says.

    Both ``create_time`` and ``complete_time`` from the service: their difference (a naive pair is on
    one clock in one zone, so the zone cancels out). Only ``complete_time``, with its zone: from
    ``started`` (this worker's epoch when it sent the create) to it (to within the second it names, when
    the operator noticed sooner), unless it is off by more than :data:`CLOCK_SKEW`. Otherwise (still running, no times, a naive completion time alone) ``now -
    started``: the time until the operator noticed, which a poll interval or a busy triggerer
    stretches (a 5 s job read 30 s).
    """
    begin, end = parse_time(create_time), parse_time(complete_time)
    if begin is not None and end is not None and end >= begin:
        return end - begin
    if end is not None and started is not None and has_zone(complete_time):
        if -CLOCK_SKEW <= end - started <= now - started + CLOCK_SKEW:
            # a time in whole seconds (Milvus' RFC 3339) means the job ended within the second after it
            latest = end + (0.0 if "." in str(complete_time) else 1.0)
            return max(0.0, end - started, min(now, latest) - started)
    return now - started if started is not None else None
