"""VikingDB ``filter_delete`` and ``filter_update`` tasks as operators (audit 2d), with the
confirmation step handled.

A ``filter_delete`` task with ``need_confirm`` (the service's default) scans first and stops in
``confirm``: nothing is deleted until ``/api/task/update`` sets it ``confirmed``
(84313/1544710, 84313/1399338). :class:`VikingDBFilterDeleteOperator` then either confirms it
itself (``confirm=True``, after logging the sampled rows and the match count) or returns with the
task waiting (``confirm=False``) so a human approves first: :func:`filter_delete_with_approval`
chains scan -> Airflow HITL approval (``ApprovalOperator``, Airflow 3.1+, showing the samples) ->
:class:`VikingDBConfirmTaskOperator`. A Reject skips the confirm step; the task stays unconfirmed
(deleting nothing) and can be dropped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_vectorimport.exceptions import ConfigurationError, JobFailedError
from airflow_provider_vectorimport.hooks.vikingdb import VikingDBHook
from airflow_provider_vectorimport.models import JobState, VikingDBTask
from airflow_provider_vectorimport.operators.vikingdb import (
    _VikingDBTaskOperator,
    raise_for_task,
    task_summary,
    validate_collection_name,
    validate_filter_conds,
    validate_tos_path,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = [
    "VikingDBConfirmTaskOperator",
    "VikingDBFilterDeleteOperator",
    "VikingDBFilterUpdateOperator",
    "filter_delete_with_approval",
]

#: fields a filter_update may not set (84313/1544709: scalar fields only)
NOT_UPDATABLE = ("vector", "sparse_vector", "text")


def confirmation_text(task: VikingDBTask) -> str:
    """What a human needs to approve the delete: the counts and the sampled rows (Markdown)."""
    samples = (
        "\n".join(f"- `{json.dumps(r, default=str)[:300]}`" for r in task.sampled_data[:5]) or "- (none)"
    )
    return (
        f"VikingDB {task.task_type} task `{task.task_id}` on `{task.collection_name}` matched "
        f"**{task.total_filter_count}** of {task.total_data_count} rows (scanned {task.scan_data_count}; "
        f"rows written after {task.sampled_timestamp} are not processed). Deleted data cannot be "
        f"recovered.\n\nSampled rows:\n{samples}"
    )


class _FilterTaskOperator(_VikingDBTaskOperator):
    """Shared: a filter task that may stop in ``confirm``."""

    template_fields: Sequence[str] = ("collection_name", "filter_conds")
    template_fields_renderers = {"filter_conds": "json"}

    def __init__(
        self, *, collection_name: str, filter_conds: Any, confirm: bool = False, **kwargs: Any
    ) -> None:
        kwargs.setdefault("fail_on_confirm", True)  # the trigger hands a task in confirm back to us
        super().__init__(collection_name=collection_name, tos_path=kwargs.pop("tos_path", ""), **kwargs)
        self.filter_conds = filter_conds
        self.confirm = confirm

    def _conds(self) -> list[dict[str, Any]]:
        conds = validate_filter_conds(self.filter_conds)
        if not conds:
            raise ConfigurationError(f"{self.vikingdb_task_type} needs filter_conds (a non-empty list)")
        return conds

    def check_while_polling(self, job: VikingDBTask) -> None:
        raise_for_task(job)
        if job.state is JobState.NEEDS_CONFIRMATION:
            raise _AwaitingConfirmation(job)

    def wait_for_job(self, context: Context, job_id: str, current: Any) -> dict[str, Any]:
        while True:
            try:
                return super().wait_for_job(context, job_id, current)
            except _AwaitingConfirmation as waiting:
                result = self._at_confirm(context, waiting.task)
                if result is not None:
                    return result
                current = self.fetch_job(job_id)

    def on_terminal_event(
        self, context: Context, status: str, job: VikingDBTask, event: Mapping[str, Any]
    ) -> dict[str, Any]:
        if job.state is JobState.NEEDS_CONFIRMATION:
            result = self._at_confirm(context, job)
            if result is not None:
                return result
            return self.wait_for_job(context, job.task_id, self.fetch_job(job.task_id))
        return super().on_terminal_event(context, status, job, event)

    def _at_confirm(self, context: Context, task: VikingDBTask) -> dict[str, Any] | None:
        """Confirm and keep waiting (None), or return the waiting task's summary."""
        text = confirmation_text(task)
        self.log.info("%s", text)
        context["ti"].xcom_push(key="confirmation", value=text)
        if not self.confirm:
            self.log.warning(
                "VikingDB task %s waits for confirmation: confirm it with VikingDBConfirmTaskOperator "
                "(or confirm=True); until then nothing is deleted",
                task.task_id,
            )
            return task_summary(task, awaiting_confirmation=True)
        self.log.info("Confirming VikingDB task %s (confirm=True)", task.task_id)
        self.hook.update_task(task.task_id, "confirmed")
        return None

    def finish(self, context: Context, task: VikingDBTask) -> dict[str, Any]:
        if task.state is JobState.FAILED:
            raise_for_task(task)
        return task_summary(task, awaiting_confirmation=False)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        return None


class _AwaitingConfirmation(Exception):
    def __init__(self, task: VikingDBTask) -> None:
        super().__init__(task.task_id)
        self.task = task


class VikingDBFilterDeleteOperator(_FilterTaskOperator):
    """Delete the rows matching ``filter_conds`` with a VikingDB ``filter_delete`` task.

    :param collection_name: the collection (templated).
    :param filter_conds: the rows to delete (templated; list or JSON text), e.g.
        ``[{"op": "must", "field": "day", "conds": ["2026-01-01"]}]``; required (never "all rows").
    :param need_confirm: let the service scan and wait for a confirmation first (default True, as
        the service's own default).
    :param confirm: confirm the scanned task here (after logging the sampled rows); default False:
        return with the task waiting, for :class:`VikingDBConfirmTaskOperator` after an approval.
    :param backup_tos_path: back the matched rows up to ``bucket/path`` before deleting (``tos_path``).
    :param file_type: the backup's format (``parquet`` default, ``json``).
    Other parameters as :class:`~airflow_provider_vectorimport.operators.vikingdb.VikingDBExportOperator`.
    """

    vikingdb_task_type = "filter_delete"

    def __init__(
        self,
        *,
        collection_name: str,
        filter_conds: Any,
        need_confirm: bool = True,
        confirm: bool = False,
        backup_tos_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            collection_name=collection_name, filter_conds=filter_conds, confirm=confirm, **kwargs
        )
        self.need_confirm = need_confirm
        self.backup_tos_path = backup_tos_path

    def task_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "collection_name": validate_collection_name(self.collection_name),
            "filter_conds": self._conds(),
            "need_confirm": bool(self.need_confirm),
        }
        if self.backup_tos_path:
            params["tos_path"] = validate_tos_path(self.backup_tos_path)
            params["file_type"] = self.file_type
        return params


class VikingDBFilterUpdateOperator(_FilterTaskOperator):
    """Set ``update_fields`` on the rows matching ``filter_conds`` (a ``filter_update`` task;
    scalar fields only, 84313/1544709).

    :param update_fields: ``{"field": value}`` (templated); not ``vector``, ``sparse_vector``, ``text``.
    """

    vikingdb_task_type = "filter_update"
    template_fields: Sequence[str] = ("collection_name", "filter_conds", "update_fields")

    def __init__(self, *, collection_name: str, filter_conds: Any, update_fields: Any, **kwargs: Any) -> None:
        super().__init__(collection_name=collection_name, filter_conds=filter_conds, **kwargs)
        self.update_fields = update_fields

    def task_params(self) -> dict[str, Any]:
        fields = self.update_fields
        if isinstance(fields, str):
            try:
                fields = json.loads(fields)
            except ValueError as exc:
                raise ConfigurationError(f"update_fields is not JSON: {exc}") from exc
        if not isinstance(fields, Mapping) or not fields:
            raise ConfigurationError('update_fields must be a non-empty {"field": value} mapping')
        bad = [k for k in fields if k in NOT_UPDATABLE]
        if bad:
            raise ConfigurationError(
                f"update_fields {', '.join(bad)}: a filter_update sets scalar fields only, not "
                f"{', '.join(NOT_UPDATABLE)}"
            )
        return {
            "collection_name": validate_collection_name(self.collection_name),
            "filter_conds": self._conds(),
            "update_fields": dict(fields),
        }


class VikingDBConfirmTaskOperator(BaseOperator):
    """Confirm a VikingDB task waiting in ``confirm`` (``/api/task/update`` to ``confirmed``) and
    wait until it is ``done``. A task already confirmed or done is not confirmed again.

    :param task_id_to_confirm: the VikingDB task id (templated), e.g.
        ``"{{ ti.xcom_pull(task_ids='scan', key='vikingdb_task_id') }}"``.
    """

    template_fields: Sequence[str] = ("task_id_to_confirm",)

    def __init__(
        self,
        *,
        task_id_to_confirm: str,
        vikingdb_conn_id: str = VikingDBHook.default_conn_name,
        poll_interval: float = 10.0,
        timeout: float = 24 * 3600,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.task_id_to_confirm = task_id_to_confirm
        self.vikingdb_conn_id = vikingdb_conn_id
        self.poll_interval = float(poll_interval)
        self.timeout = float(timeout)

    def execute(self, context: Context) -> dict[str, Any]:
        hook = VikingDBHook(self.vikingdb_conn_id)
        task_id = str(self.task_id_to_confirm or "").strip()
        if not task_id:
            raise ConfigurationError("task_id_to_confirm is empty (did the scan task push its id?)")
        task = hook.get_task(task_id)
        if task.state is JobState.NEEDS_CONFIRMATION:
            self.log.info("%s", confirmation_text(task))
            hook.update_task(task_id, "confirmed")
            self.log.info("Confirmed VikingDB task %s", task_id)
        end = time.monotonic() + self.timeout
        while not task.is_terminal:
            if time.monotonic() >= end:
                raise JobFailedError(
                    f"VikingDB task {task_id} still {task.raw_status} after {self.timeout:.0f}s"
                )
            time.sleep(self.poll_interval)
            task = hook.get_task(task_id)
        raise_for_task(task)
        return task_summary(task)


def filter_delete_with_approval(
    *,
    task_id: str,
    collection_name: str,
    filter_conds: Any,
    vikingdb_conn_id: str = VikingDBHook.default_conn_name,
    poll_interval: float = 10.0,
    approval_kwargs: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> tuple[BaseOperator, BaseOperator, BaseOperator]:
    """``<task_id>_scan`` (filter_delete, need_confirm) >> ``<task_id>_approve`` (Airflow HITL
    ``ApprovalOperator`` showing the counts and samples) >> ``<task_id>_confirm``. Call inside a DAG.
    On Airflow < 3.1 (no HITL operators): :class:`ConfigurationError`."""
    try:
        from airflow.providers.standard.operators.hitl import ApprovalOperator
    except Exception as exc:  # AirflowOptionalProviderFeatureException on Airflow < 3.1, or no provider
        raise ConfigurationError(
            f"approve=True needs Airflow 3.1+ with apache-airflow-providers-standard (HITL operators): {exc}"
        ) from exc
    scan = VikingDBFilterDeleteOperator(
        task_id=f"{task_id}_scan",
        collection_name=collection_name,
        filter_conds=filter_conds,
        need_confirm=True,
        confirm=False,
        vikingdb_conn_id=vikingdb_conn_id,
        poll_interval=poll_interval,
        **kwargs,
    )
    approve = ApprovalOperator(
        task_id=f"{task_id}_approve",
        subject=f"Delete rows from VikingDB collection {collection_name}?",
        body=f"{{{{ ti.xcom_pull(task_ids='{task_id}_scan', key='confirmation') }}}}",
        **dict(approval_kwargs or {}),
    )
    confirm = VikingDBConfirmTaskOperator(
        task_id=f"{task_id}_confirm",
        task_id_to_confirm=f"{{{{ ti.xcom_pull(task_ids='{task_id}_scan', key='vikingdb_task_id') }}}}",
        vikingdb_conn_id=vikingdb_conn_id,
        poll_interval=poll_interval,
    )
    scan >> approve >> confirm
    return scan, approve, confirm
