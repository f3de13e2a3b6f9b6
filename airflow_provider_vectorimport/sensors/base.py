"""The shape every job sensor of the provider shares: poke, reschedule or deferrable; one way to
read trigger events; a deadline that raises ``AirflowSensorTimeout`` (or skips with ``soft_fail``)."""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout, AirflowSkipException

from airflow_provider_vectorimport.links import CONSOLE_URL_KEY
from airflow_provider_vectorimport.triggers.base import PollingJobTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context


class JobSensorBase(BaseSensorOperator):
    """Subclasses give the job id, the console URL, a trigger, and what a terminal event returns."""

    deferrable: bool

    @property
    @abstractmethod
    def job_label(self) -> str:
        """``"Import job 42"``: how messages name the job."""

    @abstractmethod
    def console_url(self) -> str | None: ...

    @abstractmethod
    def make_trigger(self, end_time: float) -> PollingJobTrigger: ...

    @abstractmethod
    def on_terminal_event(self, status: str, event: Mapping[str, Any]) -> Any:
        """Called for ``success`` / ``failed`` events: return the XCom value or raise."""

    def execute(self, context: Context) -> Any:
        url = self.console_url()
        if url:
            context["ti"].xcom_push(key=CONSOLE_URL_KEY, value=url)
        if not self.deferrable:
            return super().execute(context)
        result = self.poke(context)
        if isinstance(result, PokeReturnValue):
            return result.xcom_value
        self.defer(
            trigger=self.make_trigger(time.time() + self.timeout),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + 60),
        )

    def execute_complete(self, context: Context, event: Mapping[str, Any] | None = None) -> Any:
        if not isinstance(event, Mapping) or "status" not in event:
            raise AirflowException(f"Unexpected trigger event: {event!r}")
        status = event["status"]
        if status == "timeout":
            message = f"{self.job_label} not finished after {self.timeout:.0f}s"
            if self.soft_fail:
                raise AirflowSkipException(message)
            raise AirflowSensorTimeout(message)
        if status in ("success", "failed"):
            return self.on_terminal_event(status, event)
        if status == "error":
            raise AirflowException(f"Waiting for {self.job_label} failed: {event.get('message')}")
        raise AirflowException(f"Unexpected trigger event: {event!r}")
