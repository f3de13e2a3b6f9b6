"""Deferrable polling of a VikingDB task (``/api/task/info``) in the triggerer.

Kwargs: ``conn_id``, ``job_id`` (the VikingDB task id), ``poll_interval``, ``end_time`` and
``fail_on_confirm`` -- never a key. The connection is loaded with ``get_async_connection``, HTTP is
``aiohttp`` only, transient errors are retried, progress is logged when it changes (a heartbeat
otherwise) and exactly one event is yielded (see :class:`~airflow_provider_vectorimport.triggers.base.PollingJobTrigger`).

A task in ``confirm`` waits for a human: every progress and heartbeat line comes with a warning
saying so (and how to confirm);
with ``fail_on_confirm=True`` the trigger ends with a ``failed`` event instead of waiting.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import TriggerEvent

from airflow_provider_vectorimport.hooks.vikingdb import AsyncVikingDBHook
from airflow_provider_vectorimport.models import JobState, VikingDBTask
from airflow_provider_vectorimport.triggers.base import PollingJobTrigger

CONFIRM_HINT = (
    "VikingDB task {task_id} is waiting for confirmation (status 'confirm'): confirm it in the "
    "console or with VikingDBHook.update_task({task_id!r}, 'confirmed'); the task will not finish until then"
)


class VikingDBTaskTrigger(PollingJobTrigger):
    """Poll one VikingDB task until ``done`` / ``fail`` (or the deadline)."""

    def __init__(
        self,
        conn_id: str,
        job_id: str,
        poll_interval: float = 30.0,
        end_time: float | None = None,
        fail_on_confirm: bool = False,
    ) -> None:
        super().__init__(conn_id=conn_id, job_id=job_id, poll_interval=poll_interval, end_time=end_time)
        self.fail_on_confirm = bool(fail_on_confirm)
        self._hook: AsyncVikingDBHook | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        classpath, kwargs = super().serialize()
        return classpath, {**kwargs, "fail_on_confirm": self.fail_on_confirm}

    def _get_hook(self) -> AsyncVikingDBHook:
        if self._hook is None:
            self._hook = AsyncVikingDBHook(self.conn_id)
        return self._hook

    async def fetch(self) -> VikingDBTask:
        return await self._get_hook().get_task(self.job_id)

    def log_progress(self, job: Any, *, changed: bool, elapsed: float, since_change: float) -> None:
        super().log_progress(job, changed=changed, elapsed=elapsed, since_change=since_change)
        if job.state is JobState.NEEDS_CONFIRMATION:  # with every progress and heartbeat line
            self.log.warning(CONFIRM_HINT.format(task_id=job.task_id))

    def is_finished(self, job: Any) -> bool:
        if self.fail_on_confirm and job.state is JobState.NEEDS_CONFIRMATION:
            return True
        return super().is_finished(job)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            async for event in super().run():
                yield event
                return
        finally:
            if self._hook is not None:
                await self._hook.close()
                self._hook = None
