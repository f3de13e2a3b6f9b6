"""The one small HTTP core every service client shares.

* sync calls with ``requests`` (hooks in workers: one ``requests.Session`` per client), async calls
  with ``aiohttp`` (triggers: one pooled session per event loop and endpoint, shared by every
  trigger of the provider in that loop and closed when the loop ends, see :func:`pooled_session`);
* connect/read timeouts **and a total timeout per attempt** (a server trickling bytes cannot hold
  a call); bounded retries with exponential backoff and full jitter on 429, 5xx, connection errors
  and timeouts; ``Retry-After`` honoured (seconds or HTTP date);
* an optional deadline (argument, or :func:`deadline_scope` for everything awaited inside it):
  attempts and the waits between them never run past it, :class:`DeadlineExceeded` says so;
* TLS per connection (:class:`TlsSettings`): verification on by default, a CA bundle for private
  CAs, and an explicit, loudly logged switch to turn verification off. A certificate that does not
  verify is a :class:`TlsError` naming the host and the cause, never retried;
* the JSON body ``code`` is authoritative: services answer errors with HTTP 200, so each service
  supplies a :class:`ResponseChecker` that turns an envelope into data or a typed
  :class:`~airflow_provider_vectorimport.exceptions.ServiceError`;
* authentication and parameter errors are never retried;
* an optional ``signer`` adds per-attempt headers (VikingDB signs every attempt with a fresh date);
* a User-Agent naming the provider version; headers (credentials) are never logged.
"""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import json
import logging
import ssl
import sys
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode, urlsplit

import aiohttp
from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception, wait_exponential_jitter

from airflow_provider_vectorimport import __version__
from airflow_provider_vectorimport.exceptions import (
    AuthenticationError,
    ConfigurationError,
    DeadlineExceeded,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RetryableServiceError,
    ServiceError,
    TlsError,
    TransportError,
)

if TYPE_CHECKING:  # requests is imported by sync clients only: triggers never load it
    import requests

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = f"airflow-provider-vectorimport/{__version__}"

_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class TlsSettings:
    """How HTTPS endpoints of one connection are verified.

    ``verify=False`` turns certificate verification off (logged as a warning every time a client is
    built with it); ``ca_bundle`` is a PEM file of CA certificates to trust (a private CA) instead of
    the system's.
    """

    verify: bool = True
    ca_bundle: str | None = None

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any]) -> TlsSettings:
        """Connection extras ``verify_ssl`` (default true) and ``ca_bundle`` (a PEM file path)."""
        raw = extra.get("verify_ssl")
        verify = True
        if raw not in (None, ""):
            if isinstance(raw, bool):
                verify = raw
            elif str(raw).strip().lower() in _FALSE:
                verify = False
            elif str(raw).strip().lower() not in {"1", "true", "yes", "on"}:
                raise ConfigurationError(f"extra verify_ssl must be true or false, got {raw!r}")
        ca_bundle = extra.get("ca_bundle") or None
        if ca_bundle is not None and not verify:
            raise ConfigurationError(
                "extras ca_bundle and verify_ssl=false contradict each other: give the CA bundle and "
                "keep verification on"
            )
        return cls(verify=verify, ca_bundle=str(ca_bundle) if ca_bundle else None)

    @property
    def requests_verify(self) -> bool | str:
        return self.ca_bundle or self.verify


@dataclass(frozen=True)
class RetryPolicy:
    """How one request is made and how hard it tries. ``max_attempts`` counts the first try;
    ``total_timeout`` bounds one attempt from connect to the last byte of the answer."""

    max_attempts: int = 5
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    retry_after_max: float = 120.0
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    total_timeout: float = 120.0
    max_connections: int = 32
    tls: TlsSettings = field(default_factory=TlsSettings)

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any]) -> RetryPolicy:
        """Build from connection extras (``max_attempts``, ``backoff_initial``, ``timeout``,
        ``total_timeout``, ``max_connections``, ``verify_ssl``, ``ca_bundle``...)."""
        kwargs: dict[str, Any] = {}
        for name in ("max_attempts", "max_connections"):
            if extra.get(name) not in (None, ""):
                kwargs[name] = int(extra[name])
        for name in ("backoff_initial", "backoff_max", "connect_timeout", "read_timeout", "total_timeout"):
            if extra.get(name) not in (None, ""):
                kwargs[name] = float(extra[name])
        if extra.get("timeout") not in (None, ""):
            kwargs.setdefault("read_timeout", float(extra["timeout"]))
        kwargs["tls"] = TlsSettings.from_extra(extra)
        policy = cls(**kwargs)
        if policy.total_timeout < policy.connect_timeout:
            raise ConfigurationError(
                f"extra total_timeout ({policy.total_timeout}s) is shorter than connect_timeout "
                f"({policy.connect_timeout}s)"
            )
        return policy


class ResponseChecker(Protocol):
    """Turns (HTTP status, parsed body) into the payload's data, or raises a ServiceError."""

    def __call__(self, status: int, body: Any, headers: Mapping[str, str]) -> Any: ...


Signer = Callable[[str, str, dict[str, str], bytes], dict[str, str]]
"""(method, url, headers, body) -> headers to add for this attempt."""


# ----------------------------------------------------------------------------- deadlines

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "vectorimport_deadline", default=None
)


@contextmanager
def deadline_scope(end_time: float | None) -> Iterator[None]:
    """Every request made inside (this task, and tasks it starts) ends by ``end_time`` (epoch
    seconds), retries included. Nested scopes keep the earlier deadline."""
    outer = _DEADLINE.get()
    if end_time is not None and outer is not None:
        end_time = min(end_time, outer)
    token = _DEADLINE.set(end_time if end_time is not None else outer)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _effective_deadline(deadline: float | None) -> float | None:
    scoped = _DEADLINE.get()
    if deadline is None:
        return scoped
    return deadline if scoped is None else min(deadline, scoped)


# ----------------------------------------------------------------------------- helpers


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
    requests = sys.modules.get("requests")  # loaded by sync clients only
    if requests is None:
        return False
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError):
        return False
    import urllib3.exceptions as u3

    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        cur = todo.pop()
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, u3.NewConnectionError | ConnectionRefusedError | u3.ConnectTimeoutError):
            return True
        if isinstance(cur, u3.ProtocolError | ConnectionResetError | u3.ReadTimeoutError):
            return False
        linked = [getattr(cur, "reason", None), cur.__cause__, cur.__context__, *getattr(cur, "args", ())]
        todo.extend(a for a in linked if isinstance(a, BaseException))
    return False


def _unsent_async(exc: BaseException) -> bool:
    """aiohttp: the connection could not be opened (refused, DNS, connect timeout)."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return False  # a TLS failure is not retried at all
    connect_timeout = getattr(aiohttp, "ConnectionTimeoutError", None)
    if connect_timeout is not None and isinstance(exc, connect_timeout):
        return True
    return isinstance(exc, aiohttp.ClientConnectorError)


def _make_wait(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    """``Retry-After`` (capped at ``retry_after_max``) when the error carries one, else exponential
    backoff from ``backoff_initial`` with up to 1 s of jitter, capped at ``backoff_max``."""
    expo = wait_exponential_jitter(initial=policy.backoff_initial, max=policy.backoff_max, jitter=1.0)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(float(retry_after), policy.retry_after_max)
        return expo(state)

    return wait


def _decode(text: str) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class Call:
    """One logical request (all its attempts). Per-call options live here, so adding one is a
    field plus a keyword of ``request()``."""

    method: str
    url: str
    json: Any = None
    headers: Mapping[str, str] | None = None
    deadline: float | None = None
    unsent_only: bool = False
    """Not safe to repeat (create): retry only where the request provably was not processed."""

    @property
    def where(self) -> str:
        parts = urlsplit(self.url)
        return f"{self.method} {parts.netloc}{parts.path}"


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
        if not self.policy.tls.verify and self.base_url.startswith("https://"):
            log.warning(
                "TLS CERTIFICATE VERIFICATION IS OFF for %s (%s connection extra verify_ssl=false): "
                "anyone on the network path can read and change these calls and their credentials. "
                "Use the ca_bundle extra with your CA's PEM file instead.",
                _origin(self.base_url),
                self.service,
            )

    def _call(
        self,
        method: str,
        path: str,
        json_body: Any,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        deadline: float | None,
        unsent_only: bool = False,
    ) -> Call:
        return Call(
            method, self._url(path, params), json_body, headers, _effective_deadline(deadline), unsent_only
        )

    def _url(self, path: str, params: Mapping[str, Any] | None) -> str:
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"
        if params:
            clean = {k: v for k, v in params.items() if v is not None}
            if clean:
                url = f"{url}?{urlencode(clean)}"
        return url

    def _prepare(self, call: Call) -> tuple[dict[str, str], bytes]:
        headers = {**self.headers, **(call.headers or {})}
        body = b""
        if call.json is not None:
            body = json.dumps(call.json, separators=(",", ":"), ensure_ascii=False).encode()
            headers.setdefault("Content-Type", "application/json")
        if self.signer is not None:
            headers.update(self.signer(call.method, call.url, headers, body))
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

    def _attempt_timeout(self, call: Call, last: BaseException | None) -> float:
        """Seconds this attempt may take: the total timeout, cut to what is left of the deadline."""
        budget = self.policy.total_timeout
        if call.deadline is not None:
            left = call.deadline - time.time()
            if left <= 0:
                raise self._deadline_error(call, last)
            budget = min(budget, left)
        return budget

    def _deadline_error(self, call: Call, last: BaseException | None) -> DeadlineExceeded:
        why = f"; last error: {last}" if last is not None else ""
        return DeadlineExceeded(f"{self.service} {call.where}: no answer before the deadline{why}")

    def _retryable(self, call: Call, exc: BaseException) -> bool:
        return _is_retryable(exc) and (not call.unsent_only or request_not_processed(exc))

    def _retry_kwargs(self, call: Call) -> dict[str, Any]:
        """tenacity settings for one call: which failures are retried (all retryable ones, or for a
        call that is not safe to repeat only those where the request provably was not processed),
        the wait (``Retry-After`` capped, else exponential backoff with jitter), and the stop: the
        attempt budget, or the deadline when the next wait would end past it."""
        policy = self.policy

        def retryable(exc: BaseException) -> bool:
            return self._retryable(call, exc)

        def stop(state: RetryCallState) -> bool:
            if state.attempt_number >= policy.max_attempts:
                return True
            return call.deadline is not None and time.time() + state.upcoming_sleep >= call.deadline

        def give_up(state: RetryCallState) -> Any:
            exc = state.outcome.exception() if state.outcome else None
            assert exc is not None
            if state.attempt_number < policy.max_attempts:  # stopped by the deadline
                raise self._deadline_error(call, exc) from exc
            raise exc

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "%s %s failed (attempt %d): %s; retrying in %.1fs",
                self.service,
                call.where,
                state.attempt_number,
                exc,
                state.upcoming_sleep,
            )

        return dict(
            retry=retry_if_exception(retryable),
            wait=_make_wait(policy),
            stop=stop,
            retry_error_callback=give_up,
            before_sleep=before_sleep,
        )

    def _transport_error(self, call: Call, exc: BaseException, timeout: float) -> TransportError:
        error = self._classify_transport_error(call, exc, timeout)
        error.request_sent = not (_unsent_sync(exc) or _unsent_async(exc))  # type: ignore[attr-defined]
        return error

    def _classify_transport_error(self, call: Call, exc: BaseException, timeout: float) -> TransportError:
        host = urlsplit(call.url).netloc
        if isinstance(exc, aiohttp.ClientConnectorCertificateError):
            return TlsError(
                f"{self.service} {call.where}: the certificate of {host} does not verify "
                f"({exc.certificate_error}); for a private CA set the connection extra ca_bundle"
            )
        req = sys.modules.get("requests")  # loaded by sync clients only
        req_ssl: tuple[type[BaseException], ...] = (req.exceptions.SSLError,) if req is not None else ()
        req_timeout: tuple[type[BaseException], ...] = (req.Timeout,) if req is not None else ()
        if isinstance(exc, (aiohttp.ClientSSLError, ssl.SSLError, *req_ssl)):
            return TlsError(f"{self.service} {call.where}: TLS with {host} failed: {_ssl_reason(exc)}")
        if isinstance(exc, (TimeoutError, asyncio.TimeoutError, *req_timeout)):
            if call.deadline is not None and time.time() >= call.deadline - 0.05:
                return self._deadline_error(call, exc)
            return TransportError(f"{self.service} {call.where}: no complete answer within {timeout:.1f}s")
        return TransportError(f"{self.service} {call.where}: {exc!r}")


def _ssl_reason(exc: BaseException) -> str:
    seen: BaseException | None = exc
    while seen is not None:  # the innermost ssl error says what went wrong
        if isinstance(seen, ssl.SSLCertVerificationError):
            return f"certificate verify failed: {seen.verify_message}"
        if isinstance(seen, ssl.SSLError) and seen.reason:
            return str(seen.reason)
        nxt = seen.__cause__ or seen.__context__
        if nxt is None and seen.args and isinstance(seen.args[-1], BaseException):
            nxt = seen.args[-1]
        seen = nxt
    return str(exc)


# ----------------------------------------------------------------------------- sync (requests)


def new_requests_session(policy: RetryPolicy | None = None) -> requests.Session:
    """A keep-alive ``requests.Session`` whose connections honour the per-attempt total timeout."""
    from airflow_provider_vectorimport._sync_http import new_session

    policy = policy or RetryPolicy()
    return new_session(max(1, policy.max_connections))


class HttpClient(_BaseClient):
    """Synchronous JSON client (``requests``) with the shared retry rules; one session (keep-alive
    connection pool) per client, i.e. per hook."""

    def __init__(self, *, session: requests.Session | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session = session or new_requests_session(self.policy)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        deadline: float | None = None,
        retry_unsent_only: bool = False,
    ) -> Any:
        """One call with the shared retry rules, ended by ``deadline`` (or the enclosing
        :func:`deadline_scope`). ``retry_unsent_only``: for calls that are not safe to repeat
        (create), retry only where the request provably was not processed
        (:func:`request_not_processed`); any other failure is raised at once for the caller to
        resolve (e.g. look for a job created anyway)."""
        call = self._call(method, path, json, params, headers, deadline, retry_unsent_only)
        errors: list[BaseException] = []
        replay: list[BaseException] = []

        def attempt() -> Any:
            if replay:
                raise replay.pop()  # the first attempt's failure, made before tenacity took over
            timeout = self._attempt_timeout(call, errors[-1] if errors else None)
            try:
                return self._once(call, timeout)
            except (TransportError, ServiceError) as exc:
                errors.append(exc)
                raise

        try:  # the first attempt outside tenacity: most calls succeed, and its set-up costs ~60 us
            return attempt()
        except (TransportError, ServiceError) as exc:
            if not self._retryable(call, exc):
                raise
            replay.append(exc)
        return Retrying(**self._retry_kwargs(call))(attempt)

    def _once(self, call: Call, timeout: float) -> Any:
        import requests

        from airflow_provider_vectorimport._sync_http import TotalTimeout

        headers, body = self._prepare(call)
        guard = TotalTimeout(timeout)
        try:
            resp = self.session.request(
                call.method,
                call.url,
                data=body or None,
                headers=headers,
                timeout=(min(self.policy.connect_timeout, timeout), min(self.policy.read_timeout, timeout)),
                verify=self.policy.tls.requests_verify,
            )
            text = resp.text
        except requests.RequestException as exc:
            if guard.fired:
                raise self._transport_error(call, TimeoutError(), timeout) from exc
            raise self._transport_error(call, exc, timeout) from exc
        finally:
            guard.cancel()
        if guard.fired:  # cut after the last byte: the answer is complete, keep it
            log.debug("%s %s: total timeout fired after the answer was read", self.service, call.where)
        return self._check(resp.status_code, text, resp.headers)

    def close(self) -> None:
        self.session.close()


# ----------------------------------------------------------------------------- async (aiohttp)

_SSL_CONTEXTS: dict[TlsSettings, ssl.SSLContext] = {}
_SSL_LOCK = threading.Lock()


def ssl_context(tls: TlsSettings) -> ssl.SSLContext | bool:
    """One verifying ``SSLContext`` per TLS setting for the whole process (building one reads the
    CA store: slow and memory-hungry if done per request); ``False`` when verification is off."""
    if not tls.verify:
        return False
    with _SSL_LOCK:
        ctx = _SSL_CONTEXTS.get(tls)
        if ctx is None:
            try:
                ctx = ssl.create_default_context(cafile=tls.ca_bundle)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigurationError(
                    f"extra ca_bundle {tls.ca_bundle!r} is not a readable PEM file: {exc}"
                ) from exc
            _SSL_CONTEXTS[tls] = ctx
        return ctx


PoolKey = tuple[str, TlsSettings, int]


class _LoopPool:
    """The pooled sessions of one event loop, closed by an async generator the loop finalizes
    (``asyncio.run`` and the triggerer call ``shutdown_asyncgens`` before closing the loop)."""

    def __init__(self) -> None:
        self.sessions: dict[PoolKey, aiohttp.ClientSession] = {}
        self.creating: dict[PoolKey, asyncio.Future[aiohttp.ClientSession]] = {}
        self.closer: Any = None

    async def aclose(self) -> None:
        sessions, self.sessions = list(self.sessions.values()), {}
        for session in sessions:
            if not session.closed:
                await session.close()


_POOLS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopPool] = weakref.WeakKeyDictionary()


async def _close_at_loop_end(pool: _LoopPool) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await pool.aclose()


async def _loop_pool() -> _LoopPool:
    loop = asyncio.get_running_loop()
    pool = _POOLS.get(loop)
    if pool is None:
        pool = _POOLS[loop] = _LoopPool()
        pool.closer = _close_at_loop_end(pool)
        await pool.closer.__anext__()  # registered with this loop's async-generator finalizer
    return pool


async def pooled_session(base_url: str, policy: RetryPolicy | None = None) -> aiohttp.ClientSession:
    """The shared keep-alive session of this event loop for ``base_url``'s origin and TLS settings
    (bounded connector, one TLS context). Never close it yourself: it lives as long as the loop."""
    policy = policy or RetryPolicy()
    key: PoolKey = (_origin(base_url), policy.tls, policy.max_connections)
    pool = await _loop_pool()
    session = pool.sessions.get(key)
    if session is not None and not session.closed:
        return session
    pending = pool.creating.get(key)
    if pending is not None:
        return await asyncio.shield(pending)
    future: asyncio.Future[aiohttp.ClientSession] = asyncio.get_running_loop().create_future()
    pool.creating[key] = future
    try:
        ctx = None
        if base_url.startswith("https://"):  # reading the system CA store takes ~0.1 s: not on the loop
            ctx = await asyncio.to_thread(ssl_context, policy.tls)
        connector = aiohttp.TCPConnector(
            limit=max(1, policy.max_connections),
            limit_per_host=0,
            keepalive_timeout=30.0,
            ssl=ctx if ctx is not None else True,
            ttl_dns_cache=300,
        )
        session = aiohttp.ClientSession(connector=connector, trust_env=False)
        pool.sessions[key] = session
        future.set_result(session)
        return session
    except BaseException as exc:
        future.set_exception(exc)
        future.exception()  # retrieved: waiters get it, nobody else is told "never retrieved"
        raise
    finally:
        pool.creating.pop(key, None)


async def close_pooled_sessions() -> None:
    """Close this event loop's pooled sessions now (tests, scripts); they reopen on next use."""
    pool = _POOLS.get(asyncio.get_running_loop())
    if pool is not None:
        await pool.aclose()


def pooled_session_count() -> int:
    """Open pooled sessions of the running event loop (for tests and the benchmark)."""
    pool = _POOLS.get(asyncio.get_running_loop())
    return 0 if pool is None else sum(1 for s in pool.sessions.values() if not s.closed)


class AsyncHttpClient(_BaseClient):
    """Asynchronous JSON client (``aiohttp``) for triggers; never blocks the event loop.

    Without an explicit ``session`` it uses the event loop's pooled session for its endpoint, so
    clients are cheap: build one per hook, and :meth:`close` leaves the shared pool open.
    """

    def __init__(self, *, session: aiohttp.ClientSession | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._session = session

    async def __aenter__(self) -> AsyncHttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        deadline: float | None = None,
        retry_unsent_only: bool = False,
    ) -> Any:
        """As :meth:`HttpClient.request`, without blocking the event loop."""
        call = self._call(method, path, json, params, headers, deadline, retry_unsent_only)
        try:  # the first attempt outside tenacity (see HttpClient.request): a poll that succeeds
            # allocates no retry machinery, which is most of what 1,000 triggers do
            return await self._once(call, self._attempt_timeout(call, None))
        except (TransportError, ServiceError) as exc:
            if not self._retryable(call, exc):
                raise
            first = exc
        errors: list[BaseException] = [first]
        replay: list[BaseException] = [first]

        async def attempt() -> Any:
            if replay:
                raise replay.pop()  # the first attempt's failure, replayed as tenacity's attempt 1
            timeout = self._attempt_timeout(call, errors[-1])
            try:
                return await self._once(call, timeout)
            except (TransportError, ServiceError) as exc:
                errors.append(exc)
                raise

        return await AsyncRetrying(**self._retry_kwargs(call))(attempt)

    async def _once(self, call: Call, budget: float) -> Any:
        headers, body = self._prepare(call)
        session = self._session or await pooled_session(self.base_url, self.policy)
        client_timeout = aiohttp.ClientTimeout(
            total=budget,
            sock_connect=min(self.policy.connect_timeout, budget),
            sock_read=min(self.policy.read_timeout, budget),
        )
        try:
            async with session.request(
                call.method, call.url, data=body or None, headers=headers, timeout=client_timeout
            ) as resp:
                text = await resp.text()
                status, resp_headers = resp.status, resp.headers
        except (TimeoutError, aiohttp.ClientError, ssl.SSLError) as exc:
            raise self._transport_error(call, exc, budget) from exc
        return self._check(status, text, resp_headers)

    async def close(self) -> None:
        """Nothing to release for pooled sessions; a session passed in belongs to the caller."""
