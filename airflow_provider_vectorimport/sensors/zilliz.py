"""Wait for an existing Zilliz Cloud / Milvus import job: poke, reschedule or deferrable."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout, AirflowSkipException

from airflow_provider_vectorimport.exceptions import JobFailedError
from airflow_provider_vectorimport.hooks.zilliz import ZillizHook
from airflow_provider_vectorimport.links import CONSOLE_URL_KEY, ZillizImportJobLink
from airflow_provider_vectorimport.models import JobState
from airflow_provider_vectorimport.operators.zilliz import job_summary, raise_for_job
from airflow_provider_vectorimport.triggers.zilliz import ZillizImportJobTrigger
from airflow_provider_vectorimport.utils import default_deferrable

if TYPE_CHECKING:
    from airflow.sdk import Context


class ZillizImportJobSensor(BaseSensorOperator):
    """Succeeds when the import job completes; fails (with the reason and failing files) when it fails.

    A Milvus job at 80 % while indexes build is *running*, not stuck: only the terminal states end
    the wait. ``timeout`` raises ``AirflowSensorTimeout`` (or skips with ``soft_fail``).
    """

    template_fields: Sequence[str] = ("job_id",)
    operator_extra_links = (ZillizImportJobLink(),)

    def __init__(
        self,
        *,
        job_id: str,
        zilliz_conn_id: str = ZillizHook.default_conn_name,
        deferrable: bool = default_deferrable(),
        fail_on_empty: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_id = job_id
        self.zilliz_conn_id = zilliz_conn_id
        self.deferrable = deferrable
        self.fail_on_empty = fail_on_empty

    @property
    def hook(self) -> ZillizHook:
        if getattr(self, "_hook", None) is None:
            self._hook = ZillizHook(self.zilliz_conn_id)
        return self._hook

    def poke(self, context: Context) -> bool | PokeReturnValue:
        job = self.hook.get_import_job(self.job_id)
        self.log.info("%s", job.describe())
        if not job.is_terminal:
            return False
        raise_for_job(job, fail_on_empty=self.fail_on_empty)
        return PokeReturnValue(is_done=True, xcom_value=job_summary(job))

    def execute(self, context: Context) -> Any:
        context["ti"].xcom_push(key=CONSOLE_URL_KEY, value=self.hook.console_url(self.job_id))
        if not self.deferrable:
            return super().execute(context)
        result = self.poke(context)
        if isinstance(result, PokeReturnValue):
            return result.xcom_value
        import time

        self.defer(
            trigger=ZillizImportJobTrigger(
                conn_id=self.zilliz_conn_id,
                job_id=self.job_id,
                poll_interval=self.poke_interval,
                end_time=time.time() + self.timeout,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + 60),
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        if not event or "status" not in event:
            raise AirflowException(f"Unexpected trigger event: {event!r}")
        status = event["status"]
        if status == "timeout":
            message = f"Import job {self.job_id} not finished after {self.timeout:.0f}s"
            if self.soft_fail:
                raise AirflowSkipException(message)
            raise AirflowSensorTimeout(message)
        if status in ("success", "failed"):
            job = self.hook.get_import_job(self.job_id)
            if job.state is JobState.FAILED or status == "failed":
                raise JobFailedError(job.failure_message(), job_id=job.job_id, summary=job.to_dict())
            raise_for_job(job, fail_on_empty=self.fail_on_empty)
            return job_summary(job)
        raise AirflowException(f"Waiting for import job {self.job_id} failed: {event.get('message')}")
