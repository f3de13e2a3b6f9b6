"""The one small HTTP core every service client shares.

* sync calls with ``requests`` (hooks in workers), async calls with ``aiohttp`` (triggers);
* connect/read timeouts; bounded retries with exponential backoff and full jitter (tenacity) on
  429, 5xx, connection errors and read timeouts; ``Retry-After`` honoured (seconds or HTTP date);
* the JSON body ``code`` is authoritative: services answer errors with HTTP 200, so each service
  supplies a :class:`ResponseChecker` that turns an envelope into data or a typed
  :class:`~airflow_provider_vectorimport.exceptions.ServiceError`;
* authentication and parameter errors are never retried;
* an optional ``signer`` adds per-attempt headers (VikingDB signs every attempt with a fresh date);
* a User-Agent naming the provider version; headers (credentials) are never logged.
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

import aiohttp
import requests
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from airflow_provider_vectorimport import __version__
from airflow_provider_vectorimport.exceptions import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RetryableServiceError,
    ServiceError,
    TransportError,
)

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = f"airflow-provider-vectorimport/{__version__}"


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one request tries. ``max_attempts`` counts the first try."""

    max_attempts: int = 5
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    retry_after_max: float = 120.0
    connect_timeout: float = 10.0
    read_timeout: float = 60.0

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any]) -> RetryPolicy:
        """Build from connection extras (``max_attempts``, ``backoff_initial``, ``timeout``...)."""
        kwargs: dict[str, Any] = {}
        for name in ("max_attempts",):
            if extra.get(name) not in (None, ""):
                kwargs[name] = int(extra[name])
        for name in ("backoff_initial", "backoff_max", "connect_timeout", "read_timeout"):
            if extra.get(name) not in (None, ""):
                kwargs[name] = float(extra[name])
        if extra.get("timeout") not in (None, ""):
            kwargs.setdefault("read_timeout", float(extra["timeout"]))
        return cls(**kwargs)


class ResponseChecker(Protocol):
    """Turns (HTTP status, parsed body) into the payload's data, or raises a ServiceError."""

    def __call__(self, status: int, body: Any, headers: Mapping[str, str]) -> Any: ...


Signer = Callable[[str, str, dict[str, str], bytes], dict[str, str]]
"""(method, url, headers, body) -> headers to add for this attempt."""


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date); ``None`` when absent/garbled."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def http_status_error(
    service: str, status: int, body: Any, headers: Mapping[str, str], *, text: str = ""
) -> ServiceError:
    """The generic error for an HTTP status when the body did not say anything more precise."""
    code = body.get("code") if isinstance(body, dict) else None
    message = ""
    if isinstance(body, dict):
        message = str(body.get("message") or body.get("msg") or "")
    message = message or (text[:200] if text else f"HTTP {status}")
    request_id = _request_id(body, headers)
    kwargs: dict[str, Any] = dict(
        service=service, code=code, http_status=status, request_id=request_id, payload=body
    )
    if status in RETRY_STATUSES:
        return RetryableServiceError(
            message, retry_after=parse_retry_after(headers.get("Retry-After")), **kwargs
        )
    if status == 401:
        return AuthenticationError(message, **kwargs)
    if status == 403:
        return PermissionDeniedError(message, **kwargs)
    if status == 404:
        return NotFoundError(message, **kwargs)
    return InvalidRequestError(message, **kwargs)


def _request_id(body: Any, headers: Mapping[str, str]) -> str | None:
    if isinstance(body, dict) and body.get("request_id"):
        return str(body["request_id"])
    for name in ("X-Tt-Logid", "X-Request-Id", "Request-Id"):
        if headers.get(name):
            return headers[name]
    return None


def _is_retryable(exc: BaseException) -> bool:
    return bool(getattr(exc, "retryable", False))


def request_not_processed(exc: BaseException) -> bool:
    """True only where the request provably did not reach (or was not processed by) the service:
    the connection was refused / could not be opened in time (``request_sent`` is False on the
    :class:`TransportError`), or the service answered 429 (rate limited: rejected unprocessed).
    A reset after sending, a read timeout or a 5xx/502/504 are *ambiguous*: the service may have
    acted on the request."""
    if isinstance(exc, TransportError):
        return getattr(exc, "request_sent", True) is False
    if isinstance(exc, RetryableServiceError):
        return exc.http_status == 429 or str(exc.code) == "429"
    return False


def _unsent_sync(exc: BaseException) -> bool:
    """requests: connect timeout or a connection that never opened (refused, DNS)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError):
        return False
    import urllib3.exceptions as u3

    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        cur = todo.pop()
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, u3.NewConnectionError | ConnectionRefusedError | u3.ConnectTimeoutError):
            return True
        if isinstance(cur, u3.ProtocolError | ConnectionResetError | u3.ReadTimeoutError):
            return False
        todo.extend([getattr(cur, "reason", None), cur.__cause__, cur.__context__])
        todo.extend(a for a in getattr(cur, "args", ()) if isinstance(a, BaseException))
    return False


def _unsent_async(exc: BaseException) -> bool:
    """aiohttp: the connection could not be opened (refused, DNS, connect timeout)."""
    connect_timeout = getattr(aiohttp, "ConnectionTimeoutError", None)
    if connect_timeout is not None and isinstance(exc, connect_timeout):
        return True
    return isinstance(exc, aiohttp.ClientConnectorError)


def _make_wait(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    expo = wait_exponential_jitter(initial=policy.backoff_initial, max=policy.backoff_max, jitter=1.0)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(float(retry_after), policy.retry_after_max)
        return expo(state)

    return wait


def _log_retry(service: str, method: str, path: str) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0
        log.warning(
            "%s %s %s failed (attempt %d): %s; retrying in %.1fs",
            service,
            method,
            path,
            state.attempt_number,
            exc,
            delay,
        )

    return before_sleep


def _decode(text: str) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


class _BaseClient:
    def __init__(
        self,
        *,
        service: str,
        base_url: str,
        checker: ResponseChecker,
        headers: Mapping[str, str] | None = None,
        signer: Signer | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.service = service
        self.base_url = base_url.rstrip("/")
        self.checker = checker
        self.headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})}
        self.signer = signer
        self.policy = policy or RetryPolicy()

    def _retry_kwargs(self, method: str, url: str, unsent_only: bool = False) -> dict[str, Any]:
        return dict(
            stop=stop_after_attempt(self.policy.max_attempts),
            wait=_make_wait(self.policy),
            retry=retry_if_exception(request_not_processed if unsent_only else _is_retryable),
            before_sleep=_log_retry(self.service, method, urlsplit(url).path),
            reraise=True,
        )

    def _url(self, path: str, params: Mapping[str, Any] | None) -> str:
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"
        if params:
            clean = {k: v for k, v in params.items() if v is not None}
            if clean:
                url = f"{url}?{urlencode(clean)}"
        return url

    def _prepare(
        self, method: str, url: str, json_body: Any, extra_headers: Mapping[str, str] | None
    ) -> tuple[dict[str, str], bytes]:
        headers = {**self.headers, **(extra_headers or {})}
        body = b""
        if json_body is not None:
            body = json.dumps(json_body, separators=(",", ":"), ensure_ascii=False).encode()
            headers.setdefault("Content-Type", "application/json")
        if self.signer is not None:
            headers.update(self.signer(method, url, headers, body))
        return headers, body

    def _check(self, status: int, text: str, headers: Mapping[str, str]) -> Any:
        body = _decode(text)
        if status in RETRY_STATUSES or (status >= 400 and not isinstance(body, dict)):
            raise http_status_error(self.service, status, body, headers, text=text)
        if body is None and status < 400:
            raise ServiceError(
                f"unparseable response body: {text[:200]!r}", service=self.service, http_status=status
            )
        return self.checker(status, body, headers)


class HttpClient(_BaseClient):
    """Synchronous JSON client (``requests``) with the shared retry rules."""

    def __init__(self, *, session: requests.Session | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session = session or requests.Session()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        retry_unsent_only: bool = False,
    ) -> Any:
        """One call with the shared retry rules. ``retry_unsent_only``: for calls that are not safe
        to repeat (create), retry only where the request provably was not processed
        (:func:`request_not_processed`); any other failure is raised at once for the caller to
        resolve (e.g. look for a job created anyway)."""
        url = self._url(path, params)
        retrying = Retrying(**self._retry_kwargs(method, url, retry_unsent_only))
        return retrying(self._once, method, url, json, headers)

    def _once(self, method: str, url: str, json_body: Any, extra_headers: Mapping[str, str] | None) -> Any:
        headers, body = self._prepare(method, url, json_body, extra_headers)
        try:
            resp = self.session.request(
                method,
                url,
                data=body or None,
                headers=headers,
                timeout=(self.policy.connect_timeout, self.policy.read_timeout),
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            error = TransportError(f"{self.service} {method} {urlsplit(url).path}: {exc}")
            error.request_sent = not _unsent_sync(exc)  # type: ignore[attr-defined]
            raise error from exc
        return self._check(resp.status_code, resp.text, resp.headers)

    def close(self) -> None:
        self.session.close()


class AsyncHttpClient(_BaseClient):
    """Asynchronous JSON client (``aiohttp``) for triggers; never blocks the event loop."""

    def __init__(self, *, session: aiohttp.ClientSession | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> AsyncHttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeout = aiohttp.ClientTimeout(
                sock_connect=self.policy.connect_timeout, sock_read=self.policy.read_timeout
            )
            self._session = aiohttp.ClientSession(timeout=timeout)
            self._owns_session = True
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        retry_unsent_only: bool = False,
    ) -> Any:
        url = self._url(path, params)
        retrying = AsyncRetrying(**self._retry_kwargs(method, url, retry_unsent_only))
        return await retrying(self._once, method, url, json, headers)

    async def _once(
        self, method: str, url: str, json_body: Any, extra_headers: Mapping[str, str] | None
    ) -> Any:
        headers, body = self._prepare(method, url, json_body, extra_headers)
        session = self._get_session()
        try:
            async with session.request(method, url, data=body or None, headers=headers) as resp:
                text = await resp.text()
                status, resp_headers = resp.status, resp.headers
        except (TimeoutError, aiohttp.ClientError) as exc:
            error = TransportError(f"{self.service} {method} {urlsplit(url).path}: {exc!r}")
            error.request_sent = not _unsent_async(exc)  # type: ignore[attr-defined]
            raise error from exc
        return self._check(status, text, resp_headers)

    async def close(self) -> None:
        if self._session is not None and self._owns_session and not self._session.closed:
            await self._session.close()
