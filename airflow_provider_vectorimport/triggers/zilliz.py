"""Deferrable wait for a Zilliz Cloud / Milvus bulk import job."""

from __future__ import annotations

from airflow_provider_vectorimport.hooks.zilliz import ZillizHook
from airflow_provider_vectorimport.models import ImportJob
from airflow_provider_vectorimport.triggers.base import PollingJobTrigger


class ZillizImportJobTrigger(PollingJobTrigger):
    """Polls ``getProgress`` / ``describe`` / ``import/get`` until the job is terminal or the deadline
    passes. Kwargs: ``conn_id``, ``job_id``, ``poll_interval``, ``end_time`` (epoch seconds) only."""

    _hook: ZillizHook | None = None

    async def fetch(self) -> ImportJob:
        if self._hook is None:  # one hook per trigger run: the connection is looked up once
            self._hook = ZillizHook(self.conn_id)
        return await self._hook.aget_import_job(self.job_id)
