"""The waiting half every job operator of the provider shares: deferrable or polling, one deadline,
one way to read trigger events. Subclasses say how to fetch their job, build their trigger and
finish (summarize, or raise with the service's reason)."""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from airflow_provider_vectorimport.exceptions import DeadlineExceeded
from airflow_provider_vectorimport.http import deadline_scope
from airflow_provider_vectorimport.triggers.base import PollingJobTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context


class JobOperatorBase(BaseOperator):
    """Subclasses set ``deferrable``, ``poll_interval`` and ``timeout`` and implement the hooks below."""

    #: how messages name a job: "Import job", "VikingDB task"
    job_noun: str = "Job"
    deferrable: bool
    poll_interval: float
    timeout: float

    @abstractmethod
    def fetch_job(self, job_id: str) -> Any:
        """The job's current state (an ``ImportJob`` / ``VikingDBTask``)."""

    @abstractmethod
    def make_trigger(self, job_id: str, end_time: float) -> PollingJobTrigger: ...

    @abstractmethod
    def finish(self, context: Context, job: Any) -> dict[str, Any]:
        """A terminal job: return the summary, or raise with the reason."""

    def log_job(self, job: Any) -> None:
        self.log.info("%s", job.describe())

    def check_while_polling(self, job: Any) -> None:
        """Raise to stop polling a non-terminal job (e.g. one waiting for a human)."""

    def state_label(self, job: Any) -> str:
        return str(job.state.value)

    def wait_for_job(self, context: Context, job_id: str, current: Any) -> dict[str, Any]:
        """Finish now if terminal; else defer to the trigger, or poll until the deadline."""
        if current.is_terminal:
            return self.finish(context, current)
        end_time = time.time() + self.timeout
        if self.deferrable:
            self.defer(
                trigger=self.make_trigger(job_id, end_time),
                method_name="execute_complete",
                timeout=timedelta(seconds=self.timeout + 60),
            )
        while True:
            self.check_while_polling(current)
            if time.time() >= end_time:
                raise AirflowException(
                    f"{self.job_noun} {job_id} still {self.state_label(current)} after {self.timeout:.0f}s; "
                    "it keeps running on the service"
                )
            time.sleep(min(self.poll_interval, max(0.0, end_time - time.time())))
            try:
                with deadline_scope(end_time):  # a poll's retries never run past the deadline
                    current = self.fetch_job(job_id)
            except DeadlineExceeded as exc:
                raise AirflowException(
                    f"{self.job_noun} {job_id} still {self.state_label(current)} after {self.timeout:.0f}s "
                    f"(the last poll got no answer: {exc}); it keeps running on the service"
                ) from exc
            self.log_job(current)
            if current.is_terminal:
                return self.finish(context, current)

    def on_terminal_event(self, context: Context, status: str, job: Any, event: Mapping[str, Any]) -> Any:
        """``success`` / ``failed`` events: the job is fetched again for complete details."""
        return self.finish(context, job)

    def execute_complete(self, context: Context, event: Mapping[str, Any] | None = None) -> Any:
        if not isinstance(event, Mapping) or "status" not in event:
            raise AirflowException(f"Unexpected trigger event: {event!r}")
        status, job_id = event["status"], event.get("job_id")
        if status in ("success", "failed") and job_id:
            return self.on_terminal_event(context, status, self.fetch_job(str(job_id)), event)
        if status == "timeout":
            raise AirflowException(
                f"{self.job_noun} {job_id} did not finish within {self.timeout:.0f}s: {event.get('message')}"
            )
        if status == "error":
            raise AirflowException(f"Waiting for {self.job_noun} {job_id} failed: {event.get('message')}")
        raise AirflowException(f"Unexpected trigger event: {event!r}")
