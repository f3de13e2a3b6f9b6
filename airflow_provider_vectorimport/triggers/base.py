"""One polling trigger shape shared by every service.

Kwargs hold only a connection id, a job id, the poll interval and an absolute deadline (epoch
seconds): no secrets and no file lists. ``run`` polls with async HTTP only, logs progress on every
poll, retries transient errors inside the trigger (they are not fatal) and yields exactly one event:

``{"status": "success" | "failed" | "timeout" | "error", "job_id": ..., "job": {...}, "message": ...}``
"""

from __future__ import annotations

import asyncio
import time
from abc import abstractmethod
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_vectorimport.exceptions import ServiceError, TransportError
from airflow_provider_vectorimport.models import JobState


class PollingJobTrigger(BaseTrigger):
    """Base class: subclasses implement :meth:`fetch` (async) returning a normalized job."""

    #: How many consecutive polls may fail transiently (after the HTTP core's own retries).
    max_consecutive_errors: int = 10

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

    async def run(self) -> AsyncIterator[TriggerEvent]:
        errors = 0
        while True:
            try:
                job = await self.fetch()
            except (TransportError, ServiceError) as exc:
                if not getattr(exc, "retryable", False) or errors + 1 >= self.max_consecutive_errors:
                    yield self._event("error", f"polling {self.job_id} failed: {exc}")
                    return
                errors += 1
                self.log.warning(
                    "Transient error polling %s (%d/%d): %s",
                    self.job_id,
                    errors,
                    self.max_consecutive_errors,
                    exc,
                )
            except Exception as exc:  # one event, always: never let the trigger die silently
                yield self._event("error", f"polling {self.job_id} failed: {exc!r}")
                return
            else:
                errors = 0
                self.log.info("%s", job.describe())
                if self.is_finished(job):
                    if job.state is JobState.COMPLETED:
                        yield self._event("success", job.describe(), job)
                    else:
                        yield self._event("failed", job.describe(), job)
                    return
            if self.end_time is not None and time.time() >= self.end_time:
                yield self._event("timeout", f"{self.job_id} did not finish before the deadline")
                return
            delay = self.poll_interval
            if self.end_time is not None:
                delay = max(0.0, min(delay, self.end_time - time.time()))
            await asyncio.sleep(delay)
