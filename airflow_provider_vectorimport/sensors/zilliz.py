"""Wait for an existing Zilliz Cloud / Milvus import job: poke, reschedule or deferrable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import PokeReturnValue

from airflow_provider_vectorimport.exceptions import JobFailedError
from airflow_provider_vectorimport.hooks.zilliz import ZillizHook
from airflow_provider_vectorimport.links import CONSOLE_SERVICE_KEY, MilvusImportJobLink, ZillizImportJobLink
from airflow_provider_vectorimport.models import JobState
from airflow_provider_vectorimport.operators.zilliz import job_summary, raise_for_job
from airflow_provider_vectorimport.sensors.base import JobSensorBase
from airflow_provider_vectorimport.triggers.zilliz import ZillizImportJobTrigger
from airflow_provider_vectorimport.utils import default_deferrable

if TYPE_CHECKING:
    from airflow.sdk import Context


class ZillizImportJobSensor(JobSensorBase):
    """Succeeds when the import job completes; fails (with the reason and failing files) when it fails.

    A Milvus job at 80 % while indexes build is *running*, not stuck: only the terminal states end
    the wait. ``timeout`` raises ``AirflowSensorTimeout`` (or skips with ``soft_fail``).
    """

    template_fields: Sequence[str] = ("job_id",)
    operator_extra_links = (ZillizImportJobLink(), MilvusImportJobLink())

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

    @property
    def job_label(self) -> str:
        return f"Import job {self.job_id}"

    def console_url(self) -> str | None:
        return self.hook.console_url(self.job_id)

    def execute(self, context: Any) -> Any:
        service = "milvus" if self.hook.flavour == "milvus" else "zilliz"
        context["ti"].xcom_push(key=CONSOLE_SERVICE_KEY, value=service)  # which link shows the job
        return super().execute(context)

    def make_trigger(self, end_time: float) -> ZillizImportJobTrigger:
        return ZillizImportJobTrigger(
            conn_id=self.zilliz_conn_id,
            job_id=self.job_id,
            poll_interval=self.poke_interval,
            end_time=end_time,
        )

    def on_terminal_event(self, status: str, event: Mapping[str, Any]) -> Any:
        job = self.hook.get_import_job(self.job_id)
        if job.state is JobState.FAILED or status == "failed":
            raise JobFailedError(job.failure_message(), job_id=job.job_id, summary=job.to_dict())
        raise_for_job(job, fail_on_empty=self.fail_on_empty)
        return job_summary(job)
