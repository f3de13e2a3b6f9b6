"""Wait for an existing VikingDB task: poke, reschedule or deferrable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import PokeReturnValue
from airflow.sdk.exceptions import AirflowException

from airflow_provider_vectorimport.exceptions import JobFailedError
from airflow_provider_vectorimport.hooks.vikingdb import VikingDBHook
from airflow_provider_vectorimport.links import VikingDBTaskLink
from airflow_provider_vectorimport.models import JobState
from airflow_provider_vectorimport.operators.vikingdb import raise_for_task, task_summary
from airflow_provider_vectorimport.sensors.base import JobSensorBase
from airflow_provider_vectorimport.triggers.vikingdb import CONFIRM_HINT, VikingDBTaskTrigger
from airflow_provider_vectorimport.utils import default_deferrable

if TYPE_CHECKING:
    from airflow.sdk import Context


class VikingDBTaskSensor(JobSensorBase):
    """Succeeds when the VikingDB task is ``done``; fails with its ``err_msg`` when it is ``fail``.

    A task in ``confirm`` waits for a human: every poke logs a warning saying so, and
    ``fail_on_confirm=True`` fails instead of waiting. ``timeout`` raises ``AirflowSensorTimeout``
    (or skips with ``soft_fail``) in every mode, deferrable included.

    :param vikingdb_task_id: the VikingDB task id (templated), e.g.
        ``"{{ ti.xcom_pull(task_ids='export', key='vikingdb_task_id') }}"``.
    :param vikingdb_conn_id: the ``vikingdb`` connection.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param fail_on_confirm: fail when the task asks for a manual confirmation.
    """

    template_fields: Sequence[str] = ("vikingdb_task_id",)
    operator_extra_links = (VikingDBTaskLink(),)

    def __init__(
        self,
        *,
        vikingdb_task_id: str,
        vikingdb_conn_id: str = VikingDBHook.default_conn_name,
        deferrable: bool = default_deferrable(),
        fail_on_confirm: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.vikingdb_task_id = vikingdb_task_id
        self.vikingdb_conn_id = vikingdb_conn_id
        self.deferrable = deferrable
        self.fail_on_confirm = fail_on_confirm

    @property
    def hook(self) -> VikingDBHook:
        if getattr(self, "_hook", None) is None:
            self._hook = VikingDBHook(self.vikingdb_conn_id)
        return self._hook

    def _summary(self, task: Any) -> dict[str, Any]:
        return task_summary(
            task, console_url=self.hook.console_url(task.task_params.get("collection_name"), task.task_id)
        )

    def poke(self, context: Context) -> bool | PokeReturnValue:
        task = self.hook.get_task(str(self.vikingdb_task_id))
        self.log.info("%s", task.describe())
        if task.state is JobState.NEEDS_CONFIRMATION:
            self.log.warning(CONFIRM_HINT.format(task_id=task.task_id))
        raise_for_task(task, fail_on_confirm=self.fail_on_confirm)
        if task.state is not JobState.COMPLETED:
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._summary(task))

    @property
    def job_label(self) -> str:
        return f"VikingDB task {self.vikingdb_task_id}"

    def console_url(self) -> str | None:
        if not self.vikingdb_task_id or not isinstance(self.vikingdb_task_id, str):
            raise AirflowException(f"vikingdb_task_id must be a task id, got {self.vikingdb_task_id!r}")
        task = self.hook.get_task(self.vikingdb_task_id)
        return self.hook.console_url(task.task_params.get("collection_name"), task.task_id)

    def make_trigger(self, end_time: float) -> VikingDBTaskTrigger:
        return VikingDBTaskTrigger(
            conn_id=self.vikingdb_conn_id,
            job_id=self.vikingdb_task_id,
            poll_interval=self.poke_interval,
            end_time=end_time,
            fail_on_confirm=self.fail_on_confirm,
        )

    def on_terminal_event(self, status: str, event: Mapping[str, Any]) -> Any:
        task = self.hook.get_task(str(self.vikingdb_task_id))
        raise_for_task(task, fail_on_confirm=self.fail_on_confirm)
        if status == "failed" or task.state is not JobState.COMPLETED:
            raise JobFailedError(f"VikingDB task {task.task_id}: {event.get('message')}", job_id=task.task_id)
        return self._summary(task)
