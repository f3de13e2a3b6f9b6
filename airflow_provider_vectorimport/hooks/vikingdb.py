"""VikingDB (Volcengine) task API hook: SignerV4-signed JSON calls, sync (workers) and async (triggers).

The hook only moves bytes; what it sends and how it reads the answers is the pure
:mod:`airflow_provider_vectorimport.protocols.vikingdb`, re-exported here for existing imports.

Connection type ``vikingdb`` (default ``vikingdb_default``):

* login = access key ID, password = secret access key (both required);
* host = ``api-vikingdb.volces.com`` by default (a full ``http(s)://host:port`` URL also works), port optional;
* extra: ``region`` (``cn-north-1``), ``scheme`` (``https``), ``session_token`` (STS, optional),
  ``service`` (``air``), ``console_url`` (base of the console link), ``task_list_paging``
  (``pages``, default: ``page_number``/``page_size`` as the V2 list page documents; ``none``: post
  ``{}`` once as the V1 SDK does), ``create_time_zone`` (zone of a naive ``create_time``, default
  ``UTC``), and the HTTP core's ``max_attempts`` / ``backoff_initial`` / ``backoff_max`` /
  ``connect_timeout`` / ``read_timeout`` / ``timeout``.

Errors: body ``code`` 0 is success; 1000029 (quota) and 1000028 (internal) are retried with backoff
(except create, which never resends blindly after an ambiguous failure: see
:meth:`VikingDBHook.create_task`);
1000001 -> AuthenticationError, 1000002 -> PermissionDeniedError, 1000005 / 1000035 -> NotFoundError,
1000003 (and other codes) -> InvalidRequestError, each with code, message and request id.

Status mapping onto :class:`~airflow_provider_vectorimport.models.JobState`: ``init``/``queued`` ->
PENDING, ``running`` -> RUNNING, ``done`` -> COMPLETED, ``fail`` -> FAILED, ``confirm`` ->
NEEDS_CONFIRMATION (waits for a human or ``update_task(task_id, "confirmed")``) and ``confirmed`` ->
RUNNING: a confirmed task still has to do its work; only ``done`` means finished.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping
from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_vectorimport.exceptions import ServiceError, TransportError
from airflow_provider_vectorimport.http import AsyncHttpClient, HttpClient
from airflow_provider_vectorimport.models import VikingDBTask
from airflow_provider_vectorimport.protocols import vikingdb as _protocol
from airflow_provider_vectorimport.protocols.vikingdb import (
    AMBIGUOUS,
    CHECK_THEN_RAISE,
    CHECK_THEN_RESEND,
    CLOCK_SKEW_SECONDS,
    CREATE_PATH,
    DEFAULT_CONSOLE,
    DEFAULT_HOST,
    DEFAULT_REGION,
    DEFAULT_SERVICE,
    DROP_PATH,
    FATAL,
    INFO_PATH,
    INTERNAL_CODE,
    LIST_MAX_PAGES,
    LIST_PAGE_SIZE,
    LIST_PATH,
    NOT_SENT,
    QUOTA_CODE,
    RAISE,
    RESEND,
    STATUS_MAP,
    TASK_NOT_EXIST_CODE,
    TASK_TYPES,
    UPDATE_PATH,
    AmbiguousTaskError,
    CreateOutcomeUnknownError,
    CreatePlan,
    ListPage,
    TaskListing,
    VikingDBSettings,
    _backoff,
    _check_failed,
    _client_kwargs,
    _created_anyway,
    _log_create_failure,
    _single_shot_kwargs,
    build_create_body,
    build_drop_body,
    build_info_body,
    build_list_body,
    build_update_body,
    check_vikingdb_response,
    choose_task,
    classify_create_failure,
    matching_task_ids,
    normalize_params,
    parse_create_response,
    parse_list_page,
    parse_task,
    parse_time,
    parse_time_zone,
    task_matches,
)
from airflow_provider_vectorimport.utils import (
    QuietExtrasMixin,
    aconnection_extra,
    amask_secrets,
    collect_secrets,
    connection_extra,
    mask_secrets,
    quiet_short_extra_masking,
)

__all__ = [
    "AMBIGUOUS",
    "CHECK_THEN_RAISE",
    "CHECK_THEN_RESEND",
    "CLOCK_SKEW_SECONDS",
    "CREATE_PATH",
    "DEFAULT_CONSOLE",
    "DEFAULT_HOST",
    "DEFAULT_REGION",
    "DEFAULT_SERVICE",
    "DROP_PATH",
    "FATAL",
    "INFO_PATH",
    "INTERNAL_CODE",
    "LIST_MAX_PAGES",
    "LIST_PAGE_SIZE",
    "LIST_PATH",
    "NOT_SENT",
    "QUOTA_CODE",
    "RAISE",
    "RESEND",
    "STATUS_MAP",
    "TASK_NOT_EXIST_CODE",
    "TASK_TYPES",
    "UPDATE_PATH",
    "AmbiguousTaskError",
    "AsyncVikingDBHook",
    "CreateOutcomeUnknownError",
    "CreatePlan",
    "ListPage",
    "TaskListing",
    "VikingDBHook",
    "VikingDBSettings",
    "build_create_body",
    "build_drop_body",
    "build_info_body",
    "build_list_body",
    "build_update_body",
    "check_vikingdb_response",
    "choose_task",
    "classify_create_failure",
    "matching_task_ids",
    "normalize_params",
    "parse_create_response",
    "parse_list_page",
    "parse_task",
    "parse_time",
    "parse_time_zone",
    "settings_from_connection",
    "task_matches",
]

log = logging.getLogger(__name__)


def settings_from_connection(conn: Any, extra: Mapping[str, Any] | None = None) -> VikingDBSettings:
    """Resolve a ``vikingdb`` connection (:func:`airflow_provider_vectorimport.protocols.vikingdb.settings_from_connection`;
    the extra parsed from the connection when not given) and register its secrets with Airflow's
    masker."""
    settings = _protocol.settings_from_connection(
        conn, extra if extra is not None else connection_extra(conn)
    )
    mask_secrets(settings.credentials.secret_key, settings.credentials.session_token)
    return settings


class VikingDBHook(QuietExtrasMixin, BaseHook):
    """Synchronous VikingDB task API (``requests``), for operators and poke-mode sensors."""

    conn_name_attr = "vikingdb_conn_id"
    default_conn_name = "vikingdb_default"
    conn_type = "vikingdb"
    hook_name = "VikingDB (Volcengine)"

    def __init__(self, vikingdb_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.vikingdb_conn_id = vikingdb_conn_id
        self._settings: VikingDBSettings | None = None
        self._client: HttpClient | None = None

    @property
    def settings(self) -> VikingDBSettings:
        if self._settings is None:
            self._settings = settings_from_connection(self.get_connection(self.vikingdb_conn_id))
        return self._settings

    def get_conn(self) -> HttpClient:
        if self._client is None:
            self._client = HttpClient(**_client_kwargs(self.settings))
        return self._client

    def _post(self, path: str, body: Mapping[str, Any]) -> Any:
        return self.get_conn().request("POST", path, json=dict(body))

    def create_task(
        self, task_type: str, task_params: Mapping[str, Any], *, known_task_ids: Collection[str] = ()
    ) -> str:
        """Create a task and return its id, never making a second task for one call.

        ``/api/task/create`` is not idempotent. One send per attempt; a blind resend only where
        the request provably did not reach the service (connection refused / connect timeout,
        quota 1000029 / HTTP 429). After an ambiguous failure (reset or read timeout after sending,
        5xx, 1000028) the whole task list is read for a task with the same type and parameters
        created since the first attempt, and that task is returned instead of sending again; after
        the last failure the list is checked once more before the error is raised. Two such tasks:
        :class:`AmbiguousTaskError`; the list unreadable: :class:`CreateOutcomeUnknownError`.
        ``known_task_ids`` (see :meth:`matching_task_ids`, taken before the first attempt) are never
        taken for the one this call made, which rules out another run's task created in the
        clock-skew allowance before this call.
        """
        body = build_create_body(task_type, task_params)
        settings = self.settings
        plan = CreatePlan(settings.policy.max_attempts)
        single = HttpClient(**_single_shot_kwargs(settings))
        started = time.time()
        try:
            while True:
                attempt = plan.start_attempt()
                try:
                    return parse_create_response(single.request("POST", CREATE_PATH, json=body))
                except (TransportError, ServiceError) as exc:
                    action = plan.after_failure(exc)
                    if action == RAISE:
                        raise
                    delay = _backoff(settings.policy, attempt, getattr(exc, "retry_after", None))
                    _log_create_failure(task_type, attempt, exc, action, delay)
                    time.sleep(delay)
                    if action == RESEND:
                        continue
                    try:
                        listed = self.list_tasks(
                            task_type=task_type, collection_name=task_params.get("collection_name")
                        )
                    except (TransportError, ServiceError) as check_exc:
                        raise _check_failed(task_type, task_params, started, check_exc) from exc
                    found = _created_anyway(listed, settings, task_type, task_params, started, known_task_ids)
                    if found is not None:
                        return found
                    if action == CHECK_THEN_RAISE:
                        raise
        finally:
            single.close()

    def get_task(self, task_id: str) -> VikingDBTask:
        return parse_task(self._post(INFO_PATH, build_info_body(task_id)))

    def list_tasks(
        self, *, task_type: str | None = None, collection_name: str | None = None
    ) -> list[VikingDBTask]:
        """Every task (all pages), filtered by ``task_type`` / ``collection_name`` (sent as the V2
        filters and applied here as well, since V1 may ignore them)."""
        listing = TaskListing(
            paged=self.settings.list_paging, collection_name=collection_name, task_type=task_type
        )
        while (body := listing.next_body()) is not None:
            listing.feed(self._post(LIST_PATH, body))
        return listing.tasks()

    def drop_task(self, task_id: str) -> None:
        self._post(DROP_PATH, build_drop_body(task_id))

    def update_task(self, task_id: str, task_status: str = "confirmed") -> None:
        self._post(UPDATE_PATH, build_update_body(task_id, task_status))

    def find_task(
        self,
        *,
        collection_name: str,
        task_type: str,
        params: Mapping[str, Any],
        created_after: float | None = None,
        include_failed: bool = False,
        exclude: Collection[str] = (),
    ) -> VikingDBTask | None:
        """The one task with this collection, type and parameters created at/after ``created_after``
        (see :func:`choose_task`); :class:`AmbiguousTaskError` when several could be it."""
        return choose_task(
            self.list_tasks(task_type=task_type, collection_name=collection_name),
            collection_name=collection_name,
            task_type=task_type,
            params=params,
            created_after=created_after,
            include_failed=include_failed,
            naive_tz=self.settings.naive_time_zone,
            exclude=exclude,
        )

    def matching_task_ids(
        self, *, collection_name: str, task_type: str, params: Mapping[str, Any]
    ) -> list[str]:
        """Ids of the existing tasks with this collection, type and parameters (all pages)."""
        return matching_task_ids(
            self.list_tasks(task_type=task_type, collection_name=collection_name),
            collection_name=collection_name,
            task_type=task_type,
            params=params,
        )

    def console_url(self, collection_name: str | None = None, task_id: str | None = None) -> str:
        return self.settings.console_url(collection_name, task_id)

    def test_connection(self) -> tuple[bool, str]:
        """The UI's Test button: list one task; says which setting is wrong
        (:mod:`~airflow_provider_vectorimport.connection_check`)."""
        from airflow_provider_vectorimport.connection_check import run_connection_test

        def call() -> None:
            paged = self.settings.list_paging
            self._post(LIST_PATH, build_list_body(page_number=1, page_size=1) if paged else build_list_body())

        def hints() -> dict[str, str]:
            return {
                "credentials": "the access key (login), secret key (password) and session token extra",
                "locator": "the host and the region extra",
                "endpoint": self.settings.base_url,
            }

        return run_connection_test(call, hints)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def describe_collection(self, collection_name: str) -> Any:
        """The collection's ``data`` from ``GET /api/collection/info`` (fields, primary_key...)."""
        return self.get_conn().request(
            "GET", "/api/collection/info", json={"collection_name": collection_name}
        )


class AsyncVikingDBHook:
    """Asynchronous twin of :class:`VikingDBHook` for triggers: the connection is loaded with
    ``get_async_connection`` (never the sync lookup), HTTP goes through ``aiohttp``; create follows
    the same :class:`CreatePlan` as the sync hook."""

    def __init__(self, vikingdb_conn_id: str = VikingDBHook.default_conn_name) -> None:
        self.vikingdb_conn_id = vikingdb_conn_id
        self._settings: VikingDBSettings | None = None
        self._client: AsyncHttpClient | None = None

    async def get_settings(self) -> VikingDBSettings:
        if self._settings is None:
            from airflow.providers.common.compat.connection import get_async_connection

            with quiet_short_extra_masking():
                conn = await get_async_connection(self.vikingdb_conn_id)
            extra = await aconnection_extra(conn)
            with collect_secrets() as secrets:  # masked below without blocking the event loop
                settings = settings_from_connection(conn, extra)
            await amask_secrets(*secrets)
            self._settings = settings
        return self._settings

    async def get_conn(self) -> AsyncHttpClient:
        if self._client is None:
            self._client = AsyncHttpClient(**_client_kwargs(await self.get_settings()))
        return self._client

    async def _post(self, path: str, body: Mapping[str, Any]) -> Any:
        return await (await self.get_conn()).request("POST", path, json=dict(body))

    async def create_task(
        self, task_type: str, task_params: Mapping[str, Any], *, known_task_ids: Collection[str] = ()
    ) -> str:
        """As :meth:`VikingDBHook.create_task` (same plan, same checks), without blocking the loop."""
        import asyncio

        body = build_create_body(task_type, task_params)
        settings = await self.get_settings()
        plan = CreatePlan(settings.policy.max_attempts)
        started = time.time()
        async with AsyncHttpClient(**_single_shot_kwargs(settings)) as single:
            while True:
                attempt = plan.start_attempt()
                try:
                    return parse_create_response(await single.request("POST", CREATE_PATH, json=body))
                except (TransportError, ServiceError) as exc:
                    action = plan.after_failure(exc)
                    if action == RAISE:
                        raise
                    delay = _backoff(settings.policy, attempt, getattr(exc, "retry_after", None))
                    _log_create_failure(task_type, attempt, exc, action, delay)
                    await asyncio.sleep(delay)
                    if action == RESEND:
                        continue
                    try:
                        listed = await self.list_tasks(
                            task_type=task_type, collection_name=task_params.get("collection_name")
                        )
                    except (TransportError, ServiceError) as check_exc:
                        raise _check_failed(task_type, task_params, started, check_exc) from exc
                    found = _created_anyway(listed, settings, task_type, task_params, started, known_task_ids)
                    if found is not None:
                        return found
                    if action == CHECK_THEN_RAISE:
                        raise

    async def get_task(self, task_id: str) -> VikingDBTask:
        return parse_task(await self._post(INFO_PATH, build_info_body(task_id)))

    async def list_tasks(
        self, *, task_type: str | None = None, collection_name: str | None = None
    ) -> list[VikingDBTask]:
        settings = await self.get_settings()
        listing = TaskListing(
            paged=settings.list_paging, collection_name=collection_name, task_type=task_type
        )
        while (body := listing.next_body()) is not None:
            listing.feed(await self._post(LIST_PATH, body))
        return listing.tasks()

    async def drop_task(self, task_id: str) -> None:
        await self._post(DROP_PATH, build_drop_body(task_id))

    async def update_task(self, task_id: str, task_status: str = "confirmed") -> None:
        await self._post(UPDATE_PATH, build_update_body(task_id, task_status))

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def __aenter__(self) -> AsyncVikingDBHook:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
