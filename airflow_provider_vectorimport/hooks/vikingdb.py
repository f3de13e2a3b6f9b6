"""VikingDB (Volcengine) task API hook: SignerV4-signed JSON calls, sync (workers) and async (triggers).

Connection type ``vikingdb`` (default ``vikingdb_default``):

* login = access key ID, password = secret access key (both required);
* host = ``api-vikingdb.volces.com`` by default (a full ``http(s)://host:port`` URL also works), port optional;
* extra: ``region`` (``cn-north-1``), ``scheme`` (``https``), ``session_token`` (STS, optional),
  ``service`` (``air``), ``console_url`` (base of the console link), and the HTTP core's
  ``max_attempts`` / ``backoff_initial`` / ``backoff_max`` / ``timeout``.

Errors: body ``code`` 0 is success; 1000029 (quota) and 1000028 (internal) are retried with backoff;
1000001 -> AuthenticationError, 1000002 -> PermissionDeniedError, 1000005 / 1000035 -> NotFoundError,
1000003 (and other codes) -> InvalidRequestError, each with code, message and request id.

Status mapping onto :class:`~airflow_provider_vectorimport.models.JobState`: ``init``/``queued`` ->
PENDING, ``running`` -> RUNNING, ``done`` -> COMPLETED, ``fail`` -> FAILED, ``confirm`` ->
NEEDS_CONFIRMATION (waits for a human or ``update_task(task_id, "confirmed")``) and ``confirmed`` ->
RUNNING: a confirmed task still has to do its work; only ``done`` means finished.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, urlsplit

from airflow.sdk import BaseHook

from airflow_provider_vectorimport.exceptions import (
    AuthenticationError,
    ConfigurationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RetryableServiceError,
    ServiceError,
    TransportError,
)
from airflow_provider_vectorimport.http import AsyncHttpClient, HttpClient, RetryPolicy, parse_retry_after
from airflow_provider_vectorimport.models import JobState, VikingDBTask, parse_progress, to_int
from airflow_provider_vectorimport.signing import SigningCredentials, VolcengineSigner
from airflow_provider_vectorimport.utils import amask_secrets, collect_secrets, mask_secrets

log = logging.getLogger(__name__)

DEFAULT_HOST = "api-vikingdb.volces.com"
DEFAULT_REGION = "cn-north-1"
DEFAULT_SERVICE = "air"
DEFAULT_CONSOLE = "https://console.volcengine.com/vikingdb"
TASK_TYPES = ("data_import", "data_export", "filter_delete", "filter_update")

STATUS_MAP: dict[str, JobState] = {
    "init": JobState.PENDING,
    "queued": JobState.PENDING,
    "running": JobState.RUNNING,
    "done": JobState.COMPLETED,
    "fail": JobState.FAILED,
    "confirm": JobState.NEEDS_CONFIRMATION,
    "confirmed": JobState.RUNNING,
}

#: How far before the first create attempt a "created anyway" task may be dated (service clock skew).
CREATE_LOOKBACK_SECONDS = 60.0

_RETRYABLE_CODES = frozenset({1000028, 1000029})
_ERROR_CLASSES: dict[int, type[ServiceError]] = {
    1000001: AuthenticationError,
    1000002: PermissionDeniedError,
    1000003: InvalidRequestError,
    1000005: NotFoundError,
    1000035: NotFoundError,
}


def check_vikingdb_response(status: int, body: Any, headers: Mapping[str, str]) -> Any:
    """The HTTP core's checker for VikingDB envelopes ``{code, message, request_id, data}``."""
    if not isinstance(body, dict) or "code" not in body:
        raise ServiceError(
            f"unexpected response (HTTP {status}): {str(body)[:200]}", service="vikingdb", http_status=status
        )
    code = to_int(body.get("code"))
    if code == 0:
        return body.get("data")
    message = str(body.get("message") or "unknown error")
    request_id = body.get("request_id") or headers.get("X-Tt-Logid")
    kwargs: dict[str, Any] = dict(
        service="vikingdb", code=code, http_status=status, request_id=request_id, payload=body
    )
    if code in _RETRYABLE_CODES:
        raise RetryableServiceError(
            message, retry_after=parse_retry_after(headers.get("Retry-After")), **kwargs
        )
    cls = _ERROR_CLASSES.get(code or -1)
    if cls is None:
        cls = RetryableServiceError if status >= 500 else InvalidRequestError
    raise cls(message, **kwargs)


def parse_task(data: Mapping[str, Any]) -> VikingDBTask:
    """Normalize one ``/api/task/info`` (or list item) payload."""
    if not isinstance(data, Mapping) or not data.get("task_id"):
        raise ServiceError(f"task payload without task_id: {str(data)[:200]}", service="vikingdb")
    raw_status = str(data.get("task_status") or "").lower()
    state = STATUS_MAP.get(raw_status)
    if state is None:
        log.warning(
            "Unknown VikingDB task_status %r for %s; treating as running", raw_status, data["task_id"]
        )
        state = JobState.RUNNING
    info = data.get("process_info") or {}
    if not isinstance(info, Mapping):
        info = {}
    sampled = info.get("sampled_data") or []
    params = data.get("task_params") or {}
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError:
            params = {"raw": params}
    return VikingDBTask(
        task_id=str(data["task_id"]),
        task_type=str(data.get("task_type") or ""),
        raw_status=raw_status,
        state=state,
        progress=100.0 if state is JobState.COMPLETED else parse_progress(info.get("task_progress")),
        total_data_count=to_int(info.get("total_data_count")),
        total_filter_count=to_int(info.get("total_filter_count")),
        scan_data_count=to_int(info.get("scan_data_count")),
        err_msg=str(info.get("err_msg")) if info.get("err_msg") else None,
        sampled_data=list(sampled) if isinstance(sampled, list) else [sampled],
        sampled_timestamp=to_int(info.get("sampled_timestamp")),
        task_params=dict(params) if isinstance(params, Mapping) else {},
        create_time=_str_or_none(data.get("create_time")),
        update_time=_str_or_none(data.get("update_time")),
        update_person=_str_or_none(data.get("update_person")),
        raw=dict(data),
    )


def _str_or_none(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def parse_time(value: Any) -> float | None:
    """Epoch seconds from ``create_time`` (epoch s/ms, ``YYYY-mm-dd HH:MM:SS`` or ISO; naive = UTC)."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        number = float(value)
        return number / 1000.0 if number > 10**11 else number
    text = str(value).strip().replace("Z", "+00:00")
    for parse in (dt.datetime.fromisoformat, lambda s: dt.datetime.strptime(s, "%Y-%m-%d %H:%M:%S")):
        try:
            when = parse(text)
        except ValueError:
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return when.timestamp()
    return None


def _list_payload(data: Any) -> list[Mapping[str, Any]]:
    if isinstance(data, list):
        return [d for d in data if isinstance(d, Mapping)]
    if isinstance(data, Mapping):
        for key in ("tasks", "task_list", "records", "data", "list"):
            if isinstance(data.get(key), list):
                return [d for d in data[key] if isinstance(d, Mapping)]
    return []


def task_matches(
    task: VikingDBTask,
    *,
    collection_name: str,
    task_type: str,
    params: Mapping[str, Any],
    created_after: float | None,
) -> bool:
    """Same collection, type and parameters, created no earlier than ``created_after``."""
    if task.task_type != task_type or task.task_params.get("collection_name") != collection_name:
        return False
    for key, value in params.items():
        if task.task_params.get(key) != value:
            return False
    if created_after is not None:
        created = parse_time(task.create_time)
        if created is None or created < created_after:
            return False
    return True


@dataclass(frozen=True)
class VikingDBSettings:
    """What a connection resolves to; the secret parts are never in ``repr``."""

    base_url: str
    credentials: SigningCredentials
    policy: RetryPolicy
    console_base: str

    def console_url(self, collection_name: str | None = None, task_id: str | None = None) -> str:
        url = f"{self.console_base.rstrip('/')}/region:vikingdb+{quote(self.credentials.region)}"
        if collection_name:
            url += f"/collection/detail?collection_name={quote(collection_name)}&tab=task"
            if task_id:
                url += f"&task_id={quote(task_id)}"
        return url


def settings_from_connection(conn: Any, extra: Mapping[str, Any] | None = None) -> VikingDBSettings:
    """Resolve a ``vikingdb`` connection; :class:`ConfigurationError` naming the missing field."""
    conn_id = getattr(conn, "conn_id", None) or "?"
    extra = dict(extra if extra is not None else (conn.extra_dejson or {}))
    ak, sk = conn.login or "", conn.password or ""
    if not ak:
        raise ConfigurationError(f"connection {conn_id!r}: login (the access key ID) is required")
    if not sk:
        raise ConfigurationError(f"connection {conn_id!r}: password (the secret access key) is required")
    token = extra.get("session_token") or None
    mask_secrets(sk, token)
    host = (conn.host or DEFAULT_HOST).strip().rstrip("/")
    scheme = str(extra.get("scheme") or getattr(conn, "schema", None) or "https").lower()
    if scheme not in ("http", "https"):
        raise ConfigurationError(f"connection {conn_id!r}: scheme must be http or https, got {scheme!r}")
    if "://" in host:
        parts = urlsplit(host)
        base = f"{parts.scheme}://{parts.netloc}"
    else:
        base = f"{scheme}://{host}"
        if conn.port:
            base += f":{conn.port}"
    region = str(extra.get("region") or DEFAULT_REGION)
    creds = SigningCredentials(
        access_key=ak,
        secret_key=sk,
        region=region,
        service=str(extra.get("service") or DEFAULT_SERVICE),
        session_token=token,
    )
    return VikingDBSettings(
        base_url=base,
        credentials=creds,
        policy=RetryPolicy.from_extra(extra),
        console_base=str(extra.get("console_url") or DEFAULT_CONSOLE),
    )


def _client_kwargs(settings: VikingDBSettings) -> dict[str, Any]:
    return dict(
        service="vikingdb",
        base_url=settings.base_url,
        checker=check_vikingdb_response,
        signer=VolcengineSigner(settings.credentials),
        policy=settings.policy,
    )


def _backoff(policy: RetryPolicy, attempt: int, retry_after: float | None) -> float:
    """Exponential backoff with jitter (as the HTTP core), or the service's Retry-After."""
    if retry_after is not None:
        return min(float(retry_after), policy.retry_after_max)
    base = min(policy.backoff_max, policy.backoff_initial * 2 ** (attempt - 1))
    return min(policy.backoff_max, base + random.uniform(0, min(1.0, base)))


def _validate_task_type(task_type: str) -> None:
    if task_type not in TASK_TYPES:
        raise ConfigurationError(f"task_type must be one of {', '.join(TASK_TYPES)}, got {task_type!r}")


def _task_id_from(data: Any) -> str:
    task_id = data.get("task_id") if isinstance(data, Mapping) else None
    if not task_id:
        raise ServiceError(f"create task answered without a task_id: {str(data)[:200]}", service="vikingdb")
    return str(task_id)


class VikingDBHook(BaseHook):
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

    def create_task(self, task_type: str, task_params: Mapping[str, Any]) -> str:
        """Create a task and return its id.

        ``/api/task/create`` is not idempotent, so a blind retry after a lost answer creates a second
        task. Retries here are ambiguity-aware: a quota rejection (1000029) is simply retried; after an
        ambiguous failure (connection reset, read timeout, 5xx, 1000028) the task list is checked for
        a task with the same type and parameters created since the first attempt, and that task is
        returned instead of sending the request again.
        """
        _validate_task_type(task_type)
        body = {"task_type": task_type, "task_params": dict(task_params)}
        policy = self.settings.policy
        single = HttpClient(**{**_client_kwargs(self.settings), "policy": replace(policy, max_attempts=1)})
        started = time.time()
        try:
            for attempt in range(1, max(1, policy.max_attempts) + 1):
                try:
                    return _task_id_from(single.request("POST", "/api/task/create", json=body))
                except (TransportError, RetryableServiceError) as exc:
                    if attempt >= policy.max_attempts:
                        raise
                    ambiguous = not (isinstance(exc, RetryableServiceError) and exc.code == 1000029)
                    delay = _backoff(policy, attempt, getattr(exc, "retry_after", None))
                    log.warning(
                        "vikingdb create %s failed (attempt %d): %s; %sretrying in %.1fs",
                        task_type,
                        attempt,
                        exc,
                        "checking for a task created anyway, then " if ambiguous else "",
                        delay,
                    )
                    time.sleep(delay)
                    if ambiguous:
                        existing = self._created_anyway(task_type, task_params, started)
                        if existing is not None:
                            log.warning(
                                "The failed create did create task %s: using it instead of a second one",
                                existing,
                            )
                            return existing
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            single.close()

    def _created_anyway(self, task_type: str, task_params: Mapping[str, Any], started: float) -> str | None:
        collection = task_params.get("collection_name")
        if not isinstance(collection, str):
            return None
        try:
            found = self.find_task(
                collection_name=collection,
                task_type=task_type,
                params=task_params,
                created_after=started - CREATE_LOOKBACK_SECONDS,
            )
        except (TransportError, ServiceError) as exc:
            log.warning("Could not check for a task created anyway (%s); retrying the create", exc)
            return None
        return found.task_id if found is not None else None

    def get_task(self, task_id: str) -> VikingDBTask:
        return parse_task(self._post("/api/task/info", {"task_id": task_id}))

    def list_tasks(
        self, *, task_type: str | None = None, collection_name: str | None = None
    ) -> list[VikingDBTask]:
        """All tasks (the API takes no filter); ``task_type``/``collection_name`` filter client-side."""
        tasks = [parse_task(item) for item in _list_payload(self._post("/api/task/list", {}))]
        return [
            t
            for t in tasks
            if (task_type is None or t.task_type == task_type)
            and (collection_name is None or t.task_params.get("collection_name") == collection_name)
        ]

    def drop_task(self, task_id: str) -> None:
        self._post("/api/task/drop", {"task_id": task_id})

    def update_task(self, task_id: str, task_status: str = "confirmed") -> None:
        self._post("/api/task/update", {"task_id": task_id, "task_status": task_status})

    def find_task(
        self,
        *,
        collection_name: str,
        task_type: str,
        params: Mapping[str, Any],
        created_after: float | None = None,
    ) -> VikingDBTask | None:
        """The newest task with this collection, type and parameters created after ``created_after``."""
        candidates = [
            t
            for t in self.list_tasks(task_type=task_type, collection_name=collection_name)
            if task_matches(
                t,
                collection_name=collection_name,
                task_type=task_type,
                params=params,
                created_after=created_after,
            )
        ]
        candidates.sort(key=lambda t: parse_time(t.create_time) or 0.0, reverse=True)
        return candidates[0] if candidates else None

    def console_url(self, collection_name: str | None = None, task_id: str | None = None) -> str:
        return self.settings.console_url(collection_name, task_id)

    def test_connection(self) -> tuple[bool, str]:
        try:
            self.list_tasks()
        except Exception as exc:
            return False, str(exc)
        return True, "Connection successfully tested"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


class AsyncVikingDBHook:
    """Asynchronous twin of :class:`VikingDBHook` for triggers: the connection is loaded with
    ``get_async_connection`` (never the sync lookup), HTTP goes through ``aiohttp``."""

    def __init__(self, vikingdb_conn_id: str = VikingDBHook.default_conn_name) -> None:
        self.vikingdb_conn_id = vikingdb_conn_id
        self._settings: VikingDBSettings | None = None
        self._client: AsyncHttpClient | None = None

    async def get_settings(self) -> VikingDBSettings:
        if self._settings is None:
            from airflow.providers.common.compat.connection import (
                get_async_connection,
                get_async_extra_dejson,
            )

            conn = await get_async_connection(self.vikingdb_conn_id)
            extra = await get_async_extra_dejson(conn)
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

    async def create_task(self, task_type: str, task_params: Mapping[str, Any]) -> str:
        _validate_task_type(task_type)
        data = await self._post(
            "/api/task/create", {"task_type": task_type, "task_params": dict(task_params)}
        )
        return _task_id_from(data)

    async def get_task(self, task_id: str) -> VikingDBTask:
        return parse_task(await self._post("/api/task/info", {"task_id": task_id}))

    async def list_tasks(
        self, *, task_type: str | None = None, collection_name: str | None = None
    ) -> list[VikingDBTask]:
        tasks = [parse_task(item) for item in _list_payload(await self._post("/api/task/list", {}))]
        return [
            t
            for t in tasks
            if (task_type is None or t.task_type == task_type)
            and (collection_name is None or t.task_params.get("collection_name") == collection_name)
        ]

    async def drop_task(self, task_id: str) -> None:
        await self._post("/api/task/drop", {"task_id": task_id})

    async def update_task(self, task_id: str, task_status: str = "confirmed") -> None:
        await self._post("/api/task/update", {"task_id": task_id, "task_status": task_status})

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def __aenter__(self) -> AsyncVikingDBHook:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
