"""The VikingDB (Volcengine) task API, pure: connection settings, request bodies, response parsers,
the matching of tasks for reattach and "created anyway", and the create plan (when to resend, when
to look first). No I/O and no Airflow: :mod:`airflow_provider_vectorimport.hooks.vikingdb` moves
the bytes (SignerV4-signed JSON calls, sync in workers and async in triggers). Pinned by the vendor
examples in ``tests/fixtures/vikingdb/``.

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

import datetime as dt
import json
import logging
import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, urlsplit

from airflow_provider_vectorimport.exceptions import (
    AuthenticationError,
    ConfigurationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RetryableServiceError,
    ServiceError,
    TransportError,
    VectorImportError,
)
from airflow_provider_vectorimport.http import RetryPolicy, parse_retry_after
from airflow_provider_vectorimport.models import JobState, VikingDBTask, parse_progress, to_int
from airflow_provider_vectorimport.protocols.common import parse_time
from airflow_provider_vectorimport.signing import SigningCredentials, VolcengineSigner

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

#: Seconds of clock skew allowed between this worker and the service when a task's ``create_time``
#: is compared with the time our first attempt (or first try) started.
CLOCK_SKEW_SECONDS = 10.0
#: ``/api/task/list`` page size we ask for (the V2 list page documents 1-100, 20 by default).
LIST_PAGE_SIZE = 100
#: Safety stop for paging (100 pages x 100 tasks).
LIST_MAX_PAGES = 100
QUOTA_CODE = 1000029
INTERNAL_CODE = 1000028
TASK_NOT_EXIST_CODE = 1000035

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
    # V1 (seed 004, SDK): task_params / process_info{err_msg, sampled_data, sampled_timestamp};
    # V2 pages: task_config / task_process_info{error_message, sample_data, sample_timestamp}
    info = data.get("process_info", data.get("task_process_info")) or {}
    if not isinstance(info, Mapping):
        info = {}
    sampled = info.get("sampled_data", info.get("sample_data")) or []
    params = _params_mapping(data.get("task_params", data.get("task_config")))
    # where the collection is: task_params (V1 pages), the top level (volc-sdk-python
    # package_task: ``if "collection_name" in res_data``), task_config (V2 get page)
    collection = (
        params.get("collection_name")
        or data.get("collection_name")
        or _params_mapping(data.get("task_config")).get("collection_name")
    )
    if collection and not params.get("collection_name"):
        params = {**params, "collection_name": collection}
    err = info.get("err_msg", info.get("error_message"))
    return VikingDBTask(
        task_id=str(data["task_id"]),
        task_type=str(data.get("task_type") or ""),
        raw_status=raw_status,
        state=state,
        progress=100.0 if state is JobState.COMPLETED else parse_progress(info.get("task_progress")),
        total_data_count=to_int(info.get("total_data_count")),
        total_filter_count=to_int(info.get("total_filter_count")),
        scan_data_count=to_int(info.get("scan_data_count")),
        err_msg=str(err) if err else None,
        sampled_data=list(sampled) if isinstance(sampled, list) else [sampled],
        sampled_timestamp=to_int(info.get("sampled_timestamp", info.get("sample_timestamp"))),
        task_params=dict(params),
        create_time=_str_or_none(data.get("create_time")),
        update_time=_str_or_none(data.get("update_time")),
        update_person=_str_or_none(data.get("update_person")),
        raw=dict(data),
        collection_name=str(collection) if collection else None,
    )


def _params_mapping(value: Any) -> dict[str, Any]:
    """task_params / task_config as a dict (JSON text decoded; anything else kept as ``raw``)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {"raw": value}
    return dict(value) if isinstance(value, Mapping) else {}


def _str_or_none(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


# --- time ---------------------------------------------------------------------------------------
# parse_time (shared with the Zilliz/Milvus durations) lives in protocols/common.py
def parse_time_zone(value: Any) -> dt.tzinfo:
    """``UTC`` (default), a fixed offset such as ``+08:00``, or an IANA name such as ``Asia/Shanghai``."""
    text = str(value or "UTC").strip()
    if text.upper() in ("UTC", "Z", "GMT"):
        return dt.UTC
    if text[:1] in "+-":
        try:
            hours, _, minutes = text[1:].partition(":")
            delta = dt.timedelta(hours=int(hours), minutes=int(minutes or 0))
        except ValueError:
            raise ConfigurationError(f"create_time_zone {value!r}: use UTC, +HH:MM or an IANA name") from None
        return dt.timezone(delta if text[0] == "+" else -delta)
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(text)
    except Exception:
        raise ConfigurationError(f"create_time_zone {value!r}: use UTC, +HH:MM or an IANA name") from None


# --- request builders (pure; the bodies volc-sdk-python V1 sends, see tests/fixtures/vikingdb) -------
CREATE_PATH = "/api/task/create"
INFO_PATH = "/api/task/info"
LIST_PATH = "/api/task/list"
DROP_PATH = "/api/task/drop"
UPDATE_PATH = "/api/task/update"


def build_create_body(task_type: str, task_params: Mapping[str, Any]) -> dict[str, Any]:
    _validate_task_type(task_type)
    return {"task_type": task_type, "task_params": dict(task_params)}


def build_info_body(task_id: str) -> dict[str, Any]:
    return {"task_id": str(task_id)}


def build_drop_body(task_id: str) -> dict[str, Any]:
    return {"task_id": str(task_id)}


def build_update_body(task_id: str, task_status: str = "confirmed") -> dict[str, Any]:
    return {"task_id": str(task_id), "task_status": task_status}


def build_list_body(
    *,
    page_number: int | None = None,
    page_size: int | None = None,
    collection_name: str | None = None,
    task_type: str | None = None,
    task_status: str | None = None,
) -> dict[str, Any]:
    """``{}`` (what the V1 SDK's ``list_tasks()`` posts) when called without arguments; otherwise the
    V2 list page's snake_case fields ``page_number`` (from 1), ``page_size`` (1-100),
    ``collection_name``, ``task_type``, ``task_status``."""
    body: dict[str, Any] = {}
    if page_number is not None:
        body["page_number"] = int(page_number)
    if page_size is not None:
        if not 1 <= int(page_size) <= 100:
            raise ConfigurationError(f"page_size must be in 1..100, got {page_size!r}")
        body["page_size"] = int(page_size)
    for key, value in (
        ("collection_name", collection_name),
        ("task_type", task_type),
        ("task_status", task_status),
    ):
        if value:
            body[key] = value
    return body


# --- response parsers (pure) --------------------------------------------------------------------------
def parse_create_response(data: Any) -> str:
    """``data.task_id`` of a create answer."""
    task_id = data.get("task_id") if isinstance(data, Mapping) else None
    if not task_id:
        raise ServiceError(f"create task answered without a task_id: {str(data)[:200]}", service="vikingdb")
    return str(task_id)


@dataclass(frozen=True)
class ListPage:
    items: list[Mapping[str, Any]]
    total: int | None = None


def parse_list_page(data: Any) -> ListPage:
    """One ``/api/task/list`` answer: a bare list (V1 SDK) or ``{tasks, page_number, page_size,
    total_count}`` (V2 list page)."""
    if isinstance(data, list):
        return ListPage([d for d in data if isinstance(d, Mapping)])
    if isinstance(data, Mapping):
        for key in ("tasks", "Tasks", "task_list", "records", "list", "data"):
            if isinstance(data.get(key), list):
                total = to_int(data.get("total_count", data.get("TotalCount")))
                return ListPage([d for d in data[key] if isinstance(d, Mapping)], total)
    return ListPage([])


@dataclass
class TaskListing:
    """Reads the whole task list page by page; pure: :meth:`next_body` says what to post next,
    :meth:`feed` takes the answer. Stops on a short or empty page, when ``total_count`` is reached,
    when a page brings no new task (a service that ignores ``page_number``) or after
    :data:`LIST_MAX_PAGES`.

    ``paged=False`` posts ``{}`` once, exactly as the V1 SDK does (connection extra
    ``task_list_paging: "none"``), for a deployment that rejects the paging fields.
    """

    paged: bool = True
    page_size: int = LIST_PAGE_SIZE
    collection_name: str | None = None
    task_type: str | None = None
    page: int = 0
    done: bool = False
    seen: dict[str, Mapping[str, Any]] = field(default_factory=dict)

    def next_body(self) -> dict[str, Any] | None:
        if self.done:
            return None
        if not self.paged:
            return build_list_body()
        return build_list_body(
            page_number=self.page + 1,
            page_size=self.page_size,
            collection_name=self.collection_name,
            task_type=self.task_type,
        )

    def feed(self, data: Any) -> None:
        self.page += 1
        page = parse_list_page(data)
        new = 0
        for item in page.items:
            task_id = str(item.get("task_id") or item.get("TaskId") or "")
            if task_id and task_id not in self.seen:
                self.seen[task_id] = item
                new += 1
        if (
            not self.paged
            or not page.items
            or len(page.items) < self.page_size
            or (page.total is not None and len(self.seen) >= page.total)
            or new == 0
        ):
            self.done = True
        elif self.page >= LIST_MAX_PAGES:
            log.warning("vikingdb task list: stopped after %d pages of %d", self.page, self.page_size)
            self.done = True

    def tasks(self) -> list[VikingDBTask]:
        tasks = [parse_task(item) for item in self.seen.values()]
        return [
            t
            for t in tasks
            if (self.task_type is None or t.task_type == self.task_type)
            and (self.collection_name is None or t.collection_name == self.collection_name)
        ]


# --- matching (pure) ----------------------------------------------------------------------------------
#: task_params the service may add about where the collection lives; not part of what we asked for.
_IDENTITY_KEYS = frozenset({"project_name", "resource_id"})
_PARAM_DEFAULTS: dict[str, Any] = {"file_type": "parquet"}


def normalize_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """task_params as compared for "the same task": defaults filled (``file_type`` parquet), unset
    values (None, False, empty) dropped, ``tos_path`` without surrounding slashes, JSON text of
    filters decoded."""
    out: dict[str, Any] = dict(_PARAM_DEFAULTS)
    for key, value in params.items():
        if key in _IDENTITY_KEYS:
            continue
        if isinstance(value, str) and key in ("filter", "filter_conds"):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        if key == "tos_path" and isinstance(value, str):
            value = value.strip().strip("/")
        if value is None or value is False or value == "" or value == [] or value == {}:
            continue  # unset: the service's default (file_type keeps its documented default)
        out[key] = value
    return out


#: how a listed task's parameters compare with the wanted ones
EQUAL, DIFFERENT, UNREPORTED = "equal", "different", "unreported"


def compare_params(reported: Mapping[str, Any], wanted: Mapping[str, Any]) -> str:
    """``equal`` (after :func:`normalize_params`: every parameter, not a subset), ``different``
    (a parameter the task reports differs, or it has one we did not ask for), or ``unreported``:
    what the task reports agrees, but it leaves out parameters we asked for (``tos_path``, ...),
    so it may or may not be this task's: never proof, never "no match" either."""
    have, want = normalize_params(reported), normalize_params(wanted)
    if have == want:
        return EQUAL
    if any(key not in want or want[key] != value for key, value in have.items()):
        return DIFFERENT
    return UNREPORTED


def _created_in_window(task: VikingDBTask, created_after: float | None, naive_tz: dt.tzinfo) -> bool:
    if created_after is None:
        return True
    created = parse_time(task.create_time, naive_tz)
    return created is not None and created >= created_after


def task_matches(
    task: VikingDBTask,
    *,
    collection_name: str,
    task_type: str,
    params: Mapping[str, Any],
    created_after: float | None,
    naive_tz: dt.tzinfo = dt.UTC,
) -> bool:
    """Same collection, type and parameters (equal after :func:`normalize_params`, not a subset),
    created no earlier than ``created_after``."""
    if task.task_type != task_type or task.collection_name != collection_name:
        return False
    if compare_params(task.task_params, params) != EQUAL:
        return False
    return _created_in_window(task, created_after, naive_tz)


def unreported_candidates(
    tasks: Sequence[VikingDBTask],
    *,
    collection_name: str,
    task_type: str,
    params: Mapping[str, Any],
    created_after: float | None,
    naive_tz: dt.tzinfo = dt.UTC,
    exclude: Collection[str] = (),
) -> list[VikingDBTask]:
    """Tasks of this collection and type, in the window, whose answer leaves out some of the
    parameters asked for (see :func:`compare_params`): they cannot be told apart from ours."""
    return [
        t
        for t in tasks
        if t.task_id not in exclude
        and t.task_type == task_type
        and t.collection_name == collection_name
        and compare_params(t.task_params, params) == UNREPORTED
        and _created_in_window(t, created_after, naive_tz)
    ]


class AmbiguousTaskError(VectorImportError):
    """More than one task could be the one this Airflow task created: nothing is guessed."""

    def __init__(self, message: str, task_ids: Sequence[str]) -> None:
        self.task_ids = list(task_ids)
        super().__init__(message)


class CreateOutcomeUnknownError(VectorImportError):
    """A create may have reached the service and the task list could not be read to find out."""


def choose_task(
    tasks: Sequence[VikingDBTask],
    *,
    collection_name: str,
    task_type: str,
    params: Mapping[str, Any],
    created_after: float | None,
    include_failed: bool = False,
    naive_tz: dt.tzinfo = dt.UTC,
    purpose: str = "reattach to",
    exclude: Collection[str] = (),
) -> VikingDBTask | None:
    """The one task this Airflow task made, or None; :class:`AmbiguousTaskError` naming every id when
    two or more could be it. Candidates are ordered by the service's ``create_time``; running (any
    non-terminal state) is preferred over done; failed ones only count with ``include_failed``
    (a create whose answer was lost may have made a task that failed at once: it is still ours).
    ``exclude``: ids known to exist before the first create (see :func:`matching_task_ids`), which
    therefore cannot be ours whatever the clocks say."""
    matches = [
        t
        for t in tasks
        if t.task_id not in exclude
        and task_matches(
            t,
            collection_name=collection_name,
            task_type=task_type,
            params=params,
            created_after=created_after,
            naive_tz=naive_tz,
        )
    ]
    unknown = unreported_candidates(
        tasks,
        collection_name=collection_name,
        task_type=task_type,
        params=params,
        created_after=created_after,
        naive_tz=naive_tz,
        exclude=exclude,
    )
    if unknown:
        wanted = normalize_params(params)
        missing = sorted({k for t in unknown for k in wanted if k not in normalize_params(t.task_params)})
        raise AmbiguousTaskError(
            f"cannot tell whether VikingDB {task_type} task(s) "
            f"{', '.join(t.task_id for t in unknown)} on {collection_name!r} are the one to {purpose}: "
            f"the service's answer does not report {', '.join(missing)}, so they may be another task's "
            "(a sibling shard's other tos_path). Not adopting them and not creating another: check "
            "them in the console, then retry (or clear the task state).",
            [t.task_id for t in unknown],
        )
    matches.sort(key=lambda t: (parse_time(t.create_time, naive_tz) or 0.0, t.task_id))
    active = [t for t in matches if not t.is_terminal]
    done = [t for t in matches if t.state is JobState.COMPLETED]
    failed = [t for t in matches if t.state is JobState.FAILED]
    pool = active or done or (failed if include_failed else [])
    if len(pool) > 1:
        ids = ", ".join(f"{t.task_id} ({t.raw_status}, created {t.create_time})" for t in pool)
        raise AmbiguousTaskError(
            f"cannot tell which VikingDB {task_type} task on {collection_name!r} to {purpose}: {len(pool)} "
            f"tasks with the same parameters were created in the window: {ids}. Check them in the "
            "console, drop the extra one(s) if they duplicate work, then retry (or clear the task state).",
            [t.task_id for t in pool],
        )
    return pool[0] if pool else None


# --- create without duplicates (pure decisions) ------------------------------------------------------
NOT_SENT = "not_sent"
AMBIGUOUS = "ambiguous"
FATAL = "fatal"
RESEND = "resend"
CHECK_THEN_RESEND = "check_then_resend"
CHECK_THEN_RAISE = "check_then_raise"
RAISE = "raise"


def _connect_failure(exc: BaseException) -> bool:
    """True when the exception chain shows the connection was never made (refused, DNS, connect
    timeout): the request cannot have reached the service."""
    import aiohttp
    import requests
    import urllib3.exceptions

    never_sent = (
        ConnectionRefusedError,
        requests.ConnectTimeout,
        urllib3.exceptions.NewConnectionError,
        urllib3.exceptions.ConnectTimeoutError,
        urllib3.exceptions.NameResolutionError,
        aiohttp.ClientConnectorError,
        aiohttp.ConnectionTimeoutError,
    )
    stack: list[Any] = [exc]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, never_sent):
            return True
        stack.extend([item.__cause__, item.__context__, getattr(item, "reason", None), *item.args])
    return False


def classify_create_failure(exc: BaseException) -> str:
    """``not_sent``: provably not created (connection refused / connect timeout; quota 1000029 or
    HTTP 429, which the service answers instead of doing the work); ``ambiguous``: may have been
    created (reset or read timeout after sending, 5xx, 1000028 internal); ``fatal``: anything else
    (auth, invalid request, not found)."""
    if isinstance(exc, RetryableServiceError):
        if exc.code == QUOTA_CODE or exc.http_status == 429:
            return NOT_SENT
        return AMBIGUOUS
    if isinstance(exc, TransportError):
        return NOT_SENT if _connect_failure(exc) else AMBIGUOUS
    return FATAL


@dataclass
class CreatePlan:
    """What to do after each failed create attempt; shared by the sync and async hooks.

    One send per attempt (the HTTP core's own retries are off for create). A blind resend only
    after ``not_sent``; after an ambiguous failure the task list is checked for a task created since
    the first attempt before sending again; after the last failure, if any failure was ambiguous,
    the list is checked once more before giving up.
    """

    max_attempts: int
    attempt: int = 0
    ambiguous: int = 0

    def start_attempt(self) -> int:
        self.attempt += 1
        return self.attempt

    def after_failure(self, exc: BaseException) -> str:
        kind = classify_create_failure(exc)
        if kind == AMBIGUOUS:
            self.ambiguous += 1
        last = self.attempt >= max(1, self.max_attempts)
        if kind == FATAL:
            return CHECK_THEN_RAISE if self.ambiguous else RAISE
        if kind == NOT_SENT:
            if not last:
                return RESEND
            return CHECK_THEN_RAISE if self.ambiguous else RAISE
        return CHECK_THEN_RAISE if last else CHECK_THEN_RESEND


@dataclass(frozen=True)
class VikingDBSettings:
    """What a connection resolves to; the secret parts are never in ``repr``."""

    base_url: str
    credentials: SigningCredentials
    policy: RetryPolicy
    console_base: str
    list_paging: bool = True
    naive_time_zone: dt.tzinfo = dt.UTC

    def console_url(self, collection_name: str | None = None, task_id: str | None = None) -> str:
        url = f"{self.console_base.rstrip('/')}/region:vikingdb+{quote(self.credentials.region)}"
        if collection_name:
            url += f"/collection/detail?collection_name={quote(collection_name)}&tab=task"
            if task_id:
                url += f"&task_id={quote(task_id)}"
        return url


def settings_from_connection(conn: Any, extra: Mapping[str, Any]) -> VikingDBSettings:
    """Resolve a ``vikingdb`` connection; :class:`ConfigurationError` naming the missing field."""
    conn_id = getattr(conn, "conn_id", None) or "?"
    extra = dict(extra)
    ak, sk = conn.login or "", conn.password or ""
    if not ak:
        raise ConfigurationError(f"connection {conn_id!r}: login (the access key ID) is required")
    if not sk:
        raise ConfigurationError(f"connection {conn_id!r}: password (the secret access key) is required")
    token = extra.get("session_token") or None
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
    paging = str(extra.get("task_list_paging") or "pages").strip().lower()
    if paging not in ("pages", "none"):
        raise ConfigurationError(
            f"connection {conn_id!r}: task_list_paging must be 'pages' or 'none', got {paging!r}"
        )
    return VikingDBSettings(
        base_url=base,
        credentials=creds,
        policy=RetryPolicy.from_extra(extra),
        console_base=str(extra.get("console_url") or DEFAULT_CONSOLE),
        list_paging=paging == "pages",
        naive_time_zone=parse_time_zone(extra.get("create_time_zone")),
    )


def _client_kwargs(settings: VikingDBSettings) -> dict[str, Any]:
    return dict(
        service="vikingdb",
        base_url=settings.base_url,
        checker=check_vikingdb_response,
        signer=VolcengineSigner(settings.credentials),
        policy=settings.policy,
    )


def _single_shot_kwargs(settings: VikingDBSettings) -> dict[str, Any]:
    """Client settings for create: exactly one send per call (the plan decides about resending)."""
    return {**_client_kwargs(settings), "policy": replace(settings.policy, max_attempts=1)}


def _backoff(policy: RetryPolicy, attempt: int, retry_after: float | None) -> float:
    """Exponential backoff with jitter (as the HTTP core), or the service's Retry-After (capped)."""
    if retry_after is not None:
        return min(float(retry_after), policy.retry_after_max)
    base = min(policy.backoff_max, policy.backoff_initial * 2 ** (attempt - 1))
    return min(policy.backoff_max, base + random.uniform(0, min(1.0, base)))


def _validate_task_type(task_type: str) -> None:
    if task_type not in TASK_TYPES:
        raise ConfigurationError(f"task_type must be one of {', '.join(TASK_TYPES)}, got {task_type!r}")


def _log_create_failure(task_type: str, attempt: int, exc: BaseException, action: str, delay: float) -> None:
    what = {
        RESEND: "it cannot have reached the service: sending again",
        CHECK_THEN_RESEND: "it may have created the task: checking the task list, then sending again if not",
        CHECK_THEN_RAISE: "last attempt: checking the task list once more before giving up",
    }[action]
    log.warning(
        "vikingdb create %s failed (attempt %d): %s; %s (in %.1fs)", task_type, attempt, exc, what, delay
    )


def _check_failed(task_type: str, params: Mapping[str, Any], started: float, exc: BaseException) -> Exception:
    when = dt.datetime.fromtimestamp(started, dt.UTC).isoformat(timespec="seconds")
    return CreateOutcomeUnknownError(
        f"a create of a VikingDB {task_type} task on {params.get('collection_name')!r} may have reached "
        f"the service, and the task list could not be read to check ({exc}). Not sending it again, to "
        f"avoid a duplicate task: look in the console for a {task_type} task created since {when} "
        "before retrying."
    )


def matching_task_ids(
    tasks: Sequence[VikingDBTask], *, collection_name: str, task_type: str, params: Mapping[str, Any]
) -> list[str]:
    """Ids of the tasks with this collection, type and parameters (or whose answer leaves some of
    them out), of any age and state: taken before the first create, they can never be mistaken
    for the one it makes."""
    return sorted(
        t.task_id
        for t in tasks
        if t.task_type == task_type
        and t.collection_name == collection_name
        and compare_params(t.task_params, params) != DIFFERENT
    )


def _created_anyway(
    tasks: Sequence[VikingDBTask],
    settings: VikingDBSettings,
    task_type: str,
    params: Mapping[str, Any],
    started: float,
    known: Collection[str] = (),
) -> str | None:
    """The id of the task a failed create made after all (logged), or None. Shared by the sync and
    async create loops, which differ only in how they wait and list."""
    collection = params.get("collection_name")
    if not isinstance(collection, str):
        return None
    found = choose_task(
        tasks,
        collection_name=collection,
        task_type=task_type,
        params=params,
        created_after=started - CLOCK_SKEW_SECONDS,
        include_failed=True,
        naive_tz=settings.naive_time_zone,
        purpose="take as the one the failed create made",
        exclude=known,
    )
    if found is None:
        return None
    log.warning(
        "The failed create did create task %s (%s): using it, not sending again",
        found.task_id,
        found.raw_status,
    )
    return found.task_id
