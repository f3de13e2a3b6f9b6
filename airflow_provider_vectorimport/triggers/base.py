"""One polling trigger shape shared by every service.

Kwargs hold only a connection id, a job id, the poll interval and an absolute deadline (epoch
seconds): no secrets and no file lists. ``run`` polls with async HTTP only (the event loop's pooled
session), logs a progress line when the job changes and a heartbeat at a bounded rate otherwise,
retries transient errors inside the trigger (they are not fatal), never polls past ``end_time``
(the timeout event comes within ``poll_interval`` + a few seconds of it) and yields exactly one event:

``{"status": "success" | "failed" | "timeout" | "error", "job_id": ..., "job": {...}, "message": ...}``
"""

from __future__ import annotations

import asyncio
import time
from abc import abstractmethod
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_vectorimport.exceptions import DeadlineExceeded, ServiceError, TransportError
from airflow_provider_vectorimport.http import deadline_scope
from airflow_provider_vectorimport.models import JobState

#: How long past ``end_time`` the trigger may still be waiting before it is cut (the HTTP core
#: already stops its attempts and retries at the deadline; this bounds whatever else is awaited).
DEADLINE_GRACE = 2.0


class PollingJobTrigger(BaseTrigger):
    """Base class: subclasses implement :meth:`fetch` (async) returning a normalized job."""

    #: How many consecutive polls may fail transiently (after the HTTP core's own retries).
    max_consecutive_errors: int = 10
    #: While nothing changes, one heartbeat line per this many seconds (a progress line is logged
    #: whenever state, percentage or rows change): 1,000 quiet jobs write ~8 lines a second.
    heartbeat_interval: float = 120.0

    def __init__(
        self,
        conn_id: str,
        job_id: str,
        poll_interval: float = 30.0,
        end_time: float | None = None,
    ) -> None:
        super().__init__()
        self.conn_id = conn_id
        self.job_id = job_id
        self.poll_interval = float(poll_interval)
        self.end_time = float(end_time) if end_time is not None else None
        self._job: Any = None  # the last job seen, for the timeout event

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{self.__class__.__module__}.{self.__class__.__qualname__}",
            {
                "conn_id": self.conn_id,
                "job_id": self.job_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
            },
        )

    @abstractmethod
    async def fetch(self) -> Any:
        """Return the current job (an object with ``state``, ``to_dict()`` and ``describe()``)."""

    def is_finished(self, job: Any) -> bool:
        return job.state.is_terminal

    def _event(self, status: str, message: str, job: Any = None) -> TriggerEvent:
        return TriggerEvent(
            {
                "status": status,
                "job_id": self.job_id,
                "message": message,
                "job": job.to_dict() if job is not None else None,
            }
        )

    def log_progress(self, job: Any, *, changed: bool, elapsed: float, since_change: float) -> None:
        """A progress line when the job changed; otherwise a heartbeat line (called at most once
        per :attr:`heartbeat_interval` while nothing changes)."""
        if changed:
            self.log.info("%s", job.describe())
        else:
            self.log.info(
                "%s; unchanged for %.0fs, waiting %.0fs so far", job.describe(), since_change, elapsed
            )

    def _timeout_event(self, job: Any, why: str) -> TriggerEvent:
        state = f"; last seen: {job.describe()}" if job is not None else ""
        return self._event("timeout", f"{self.job_id} did not finish before the deadline{state}{why}", job)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        yield await self._watch()

    async def _watch(self) -> TriggerEvent:
        """Poll until the job ends or the deadline passes; the one event. The deadline is set up
        once per trigger, not per poll: the HTTP core cuts every attempt and retry to it, and one
        outer timeout at ``end_time`` + :data:`DEADLINE_GRACE` bounds anything else awaited (a
        connection lookup, a sleep)."""
        self._job = None
        if self.end_time is None:
            return await self._loop()
        left = max(0.0, self.end_time - time.time())
        with deadline_scope(self.end_time):
            try:
                async with asyncio.timeout_at(asyncio.get_running_loop().time() + left + DEADLINE_GRACE):
                    return await self._loop()
            except TimeoutError:
                return self._timeout_event(self._job, "")

    async def _loop(self) -> TriggerEvent:
        errors = 0
        started = time.monotonic()
        last_seen: str | None = None
        last_change = last_line = started
        while True:
            if self.end_time is not None and time.time() >= self.end_time:
                return self._timeout_event(self._job, "")
            try:
                job = await self.fetch()
            except (DeadlineExceeded, TimeoutError) as exc:
                return self._timeout_event(self._job, f"; {exc}" if str(exc) else "")
            except (TransportError, ServiceError) as exc:
                if not getattr(exc, "retryable", False) or errors + 1 >= self.max_consecutive_errors:
                    return self._event("error", f"polling {self.job_id} failed: {exc}")
                errors += 1
                self.log.warning(
                    "Transient error polling %s (%d/%d): %s",
                    self.job_id,
                    errors,
                    self.max_consecutive_errors,
                    exc,
                )
            except Exception as exc:  # one event, always: never let the trigger die silently
                return self._event("error", f"polling {self.job_id} failed: {exc!r}")
            else:
                errors = 0
                now = time.monotonic()
                seen = job.describe()
                changed = seen != last_seen
                if changed:  # kept for the timeout event; an unchanged poll's job is let go at once,
                    # so 1,000 quiet jobs do not feed the garbage collector's older generations
                    last_seen, last_change, self._job = seen, now, job
                if changed or now - last_line >= self.heartbeat_interval:
                    self.log_progress(
                        job, changed=changed, elapsed=now - started, since_change=now - last_change
                    )
                    last_line = now
                if self.is_finished(job):
                    return self._event("success" if job.state is JobState.COMPLETED else "failed", seen, job)
                job = None
            delay = self.poll_interval
            if self.end_time is not None:
                delay = max(0.0, min(delay, self.end_time - time.time()))
            await asyncio.sleep(delay)
