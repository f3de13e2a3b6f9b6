"""The dashboard's FastAPI app, mounted by Airflow's API server at ``/vectorimport``.

Plugin routes are not protected by Airflow by default: every route here resolves the caller with
the core API's own ``get_user`` (JWT bearer header or the UI's ``_token`` cookie; 401 without one)
and asks the configured auth manager which DAGs that user may read. Jobs of other DAGs are never
selected, counted or returned; naming such a DAG is a 403 (the same answer as for a DAG that does
not exist, so DAG ids do not leak).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from airflow_provider_vectorimport.plugins.jobs import (
    FAILURE_SUMMARY_KEY,
    JOB_ID_KEYS,
    SERVICES,
    STATES,
    XCOM_KEYS,
    TaskRow,
    build_job,
    decode_xcom,
    matches,
    ti_path,
    totals,
)

log = logging.getLogger(__name__)

URL_PREFIX = "/vectorimport"
DEFAULT_WINDOW = timedelta(days=7)
MAX_WINDOW = timedelta(days=31)
DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET = 50, 200, 100_000
#: task instances read per request at most (newest first); the answer says when it was cut
MAX_SCAN = 5000
#: an XCom value (or rendered fields) larger than this is not read (a summary is far smaller)
MAX_XCOM_BYTES = 4 << 20
LIST_PARAMS = {"service", "state", "dag_id", "collection", "since", "until", "limit", "offset"}
DETAIL_PARAMS = {"dag_id", "run_id", "task_id", "map_index"}
_PAGE = Path(__file__).with_name("dashboard.html")
_NO_STORE = {"Cache-Control": "no-store"}


def _bad(message: str) -> HTTPException:
    return HTTPException(status.HTTP_400_BAD_REQUEST, message)


def _check_params(request: Request, allowed: set[str]) -> None:
    unknown = sorted(set(request.query_params.keys()) - allowed)
    if unknown:
        raise _bad(f"unknown query parameter(s): {', '.join(unknown)} (known: {', '.join(sorted(allowed))})")
    for name in set(request.query_params.keys()):
        values = request.query_params.getlist(name)
        if name not in ("service", "state") and len(values) > 1:
            raise _bad(f"{name} given {len(values)} times; give it once")
        for value in values:
            if len(value) > 512:
                raise _bad(f"{name} is too long ({len(value)} characters, at most 512)")


def _choices(request: Request, name: str, allowed: Iterable[str]) -> set[str] | None:
    values = {v.strip() for raw in request.query_params.getlist(name) for v in raw.split(",") if v.strip()}
    allowed = tuple(allowed)
    bad = sorted(values - set(allowed))
    if bad:
        raise _bad(f"{name}: unknown value(s) {', '.join(map(repr, bad))} (one of: {', '.join(allowed)})")
    return values or None


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad(f"{name} must be an integer, got {raw[:40]!r}") from None
    if not low <= value <= high:
        raise _bad(f"{name} must be between {low} and {high}, got {value}")
    return value


def _time_param(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise _bad(
            f"{name} must be an ISO 8601 date-time like 2026-01-31T00:00:00Z, got {raw[:40]!r}"
        ) from None
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise _bad(f"{name} must be between the years {MIN_YEAR} and {MAX_YEAR}, got {raw[:40]!r}")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


MIN_YEAR, MAX_YEAR = 1970, 9000  # any window around them stays a valid date-time


def _window(request: Request) -> tuple[datetime, datetime]:
    until = _time_param(request, "until") or datetime.now(tz=UTC)
    since = _time_param(request, "since") or until - DEFAULT_WINDOW
    if since >= until:
        raise _bad(f"since ({since.isoformat()}) must be before until ({until.isoformat()})")
    if until - since > MAX_WINDOW:
        days = (until - since).total_seconds() / 86400
        raise _bad(f"the time window is {days:.1f} days; at most {MAX_WINDOW.days} days per request")
    return since, until


def _ui_base() -> str:
    from airflow.configuration import conf

    return urlsplit(conf.get("api", "base_url", fallback="/") or "/").path or "/"


# --- authorization --------------------------------------------------------------------------------
def _user_dependency():
    from airflow.api_fastapi.core_api.security import get_user

    return get_user


def _readable_dag_ids(user: Any, session: Any) -> set[str]:
    """DAGs the user may read *and* whose task instances and XCom they may see."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
    from airflow.models.dag import DagModel

    manager = get_auth_manager()
    dag_ids = manager.get_authorized_dag_ids(user=user, method="GET", session=session)
    if not dag_ids:
        return set()
    teams = DagModel.get_dag_id_to_team_name_mapping(list(dag_ids), session=session)
    readable = set()
    for dag_id in dag_ids:
        details = DagDetails(id=dag_id, team_name=teams.get(dag_id))
        if all(
            manager.is_authorized_dag(method="GET", access_entity=entity, details=details, user=user)
            for entity in (DagAccessEntity.TASK_INSTANCE, DagAccessEntity.XCOM)
        ):
            readable.add(dag_id)
    return readable


# --- reading the metadata DB ----------------------------------------------------------------------
def _load_rows(
    session: Any,
    dag_ids: set[str],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    run_id: str | None = None,
    task_id: str | None = None,
    map_index: int | None = None,
    limit: int = MAX_SCAN,
) -> list[TaskRow]:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields as RTIF
    from airflow.models.taskinstance import TaskInstance as TI
    from airflow.models.xcom import XComModel as X
    from sqlalchemy import Text, case, cast, exists, func, select

    if not dag_ids:
        return []
    has_job_id = exists().where(
        X.dag_id == TI.dag_id,
        X.run_id == TI.run_id,
        X.task_id == TI.task_id,
        X.map_index == TI.map_index,
        X.key.in_(list(JOB_ID_KEYS)),
    )
    stmt = select(
        TI.dag_id,
        TI.run_id,
        TI.task_id,
        TI.map_index,
        TI.try_number,
        TI.state,
        TI.operator,
        TI.start_date,
        TI.end_date,
        TI.duration,
    ).where(TI.dag_id.in_(sorted(dag_ids)), has_job_id)
    if since is not None:
        stmt = stmt.where(TI.start_date >= since)
    if until is not None:
        stmt = stmt.where(TI.start_date < until)
    if run_id is not None:
        stmt = stmt.where(TI.run_id == run_id)
    if task_id is not None:
        stmt = stmt.where(TI.task_id == task_id)
    if map_index is not None:
        stmt = stmt.where(TI.map_index == map_index)
    stmt = stmt.order_by(TI.start_date.desc(), TI.dag_id, TI.run_id, TI.task_id, TI.map_index).limit(limit)
    rows = [
        TaskRow(
            dag_id=r.dag_id,
            run_id=r.run_id,
            task_id=r.task_id,
            map_index=r.map_index,
            try_number=r.try_number,
            state=str(r.state.value if hasattr(r.state, "value") else r.state) if r.state else None,
            operator=r.operator,
            start_date=r.start_date,
            end_date=r.end_date,
            duration=r.duration,
        )
        for r in session.execute(stmt)
    ]
    if not rows:
        return rows
    by_key = {(r.dag_id, r.run_id, r.task_id, r.map_index): r for r in rows}
    dags = sorted({r.dag_id for r in rows})
    runs = sorted({r.run_id for r in rows})
    tasks = sorted({r.task_id for r in rows})
    # only the listed tasks' own XCom (never a sibling task's return value, however big), and
    # values up to MAX_XCOM_BYTES: the database measures them, so a huge one is never sent or decoded
    size = func.length(cast(X.value, Text))
    xstmt = select(
        X.dag_id, X.run_id, X.task_id, X.map_index, X.key, case((size <= MAX_XCOM_BYTES, X.value))
    ).where(X.key.in_(list(XCOM_KEYS)), X.dag_id.in_(dags), X.run_id.in_(runs), X.task_id.in_(tasks))
    for dag_id, run_id, task_id, map_index, key, value in session.execute(xstmt):
        row = by_key.get((dag_id, run_id, task_id, map_index))
        if row is None:
            continue
        if value is None:
            log.debug("XCom %s of %s is over %d bytes or empty: not read", key, task_id, MAX_XCOM_BYTES)
            continue
        try:
            row.xcoms[key] = decode_xcom(value)
        except Exception:  # an undecodable value: skip the value, keep the row
            log.debug("undecodable XCom %s of %s", key, task_id)
    # the collection of tasks without a summary yet comes from their rendered template fields
    pending = {
        k
        for k, r in by_key.items()
        if not any(isinstance(r.xcoms.get(key), Mapping) for key in ("return_value", FAILURE_SUMMARY_KEY))
    }
    if pending:
        rsize = func.length(cast(RTIF.rendered_fields, Text))
        rstmt = select(
            RTIF.dag_id,
            RTIF.run_id,
            RTIF.task_id,
            RTIF.map_index,
            case((rsize <= MAX_XCOM_BYTES, RTIF.rendered_fields)).label("rendered_fields"),
        ).where(
            RTIF.dag_id.in_(dags),
            RTIF.run_id.in_(runs),
            RTIF.task_id.in_(sorted({k[2] for k in pending})),
        )
        for r in session.execute(rstmt):
            key = (r.dag_id, r.run_id, r.task_id, r.map_index)
            if key in pending and r.rendered_fields is not None:
                fields = decode_xcom(r.rendered_fields)
                by_key[key].rendered = fields if isinstance(fields, Mapping) else None
    return rows


def _jobs(rows: list[TaskRow], *, base: str) -> tuple[list[dict[str, Any]], int]:
    now = datetime.now(tz=UTC)
    jobs, skipped = [], 0
    for row in rows:
        try:
            job = build_job(row, now=now)
        except Exception:  # a row we cannot read must not take the page down
            log.warning("skipping unreadable job row %s/%s/%s", row.dag_id, row.run_id, row.task_id)
            job = None
        if job is None:
            skipped += 1
            continue
        job["ti_url"] = ti_path(job, base)
        jobs.append(job)
    return jobs, skipped


# --- live refresh of a waiting job ----------------------------------------------------------------
_PKG = "airflow_provider_vectorimport.triggers"
#: trigger classpath -> how to fetch the job it waits for (the hooks, server-side)
LIVE_TRIGGERS = {
    f"{_PKG}.zilliz.ZillizImportJobTrigger": "zilliz",
    f"{_PKG}.vikingdb.VikingDBTaskTrigger": "vikingdb",
}
LIVE_TTL = 15.0  # seconds one job's service answer is reused
LIVE_BUDGET = (20, 60.0)  # at most 20 service calls per minute per API server process
LIVE_TIMEOUT = 10.0  # seconds a live refresh waits for the service before answering 504
LIVE_CONCURRENCY = 4  # service calls in flight per API server process (one per job)


class _LiveLimiter:
    """The services' answers (never a caller's record) per (service, connection, job id), a global
    budget, and the calls in flight: one per job, ``concurrency`` in all, so neither the page's
    auto-refresh nor a hung service can pile up requests or threads."""

    def __init__(self, ttl: float, calls: int, per: float, concurrency: int = LIVE_CONCURRENCY) -> None:
        import threading

        self.ttl, self.calls, self.per, self.concurrency = ttl, calls, per, concurrency
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str, str], tuple[float, dict[str, Any], str]] = {}
        self._stamps: list[float] = []
        self._inflight: set[tuple[str, str, str]] = set()

    def cached(self, key: tuple[str, str, str]) -> tuple[dict[str, Any], str] | None:
        """(the service's summary, when it was fetched) while it is fresh."""
        import time

        with self._lock:
            hit = self._cache.get(key)
            return (hit[1], hit[2]) if hit and time.monotonic() - hit[0] < self.ttl else None

    def take(self) -> float:
        """0 when a call may go out now, else the seconds to wait."""
        import time

        now = time.monotonic()
        with self._lock:
            self._stamps = [t for t in self._stamps if now - t < self.per]
            if len(self._stamps) >= self.calls:
                return self.per - (now - self._stamps[0])
            self._stamps.append(now)
            return 0.0

    def begin(self, key: tuple[str, str, str]) -> str | None:
        """Claim a call for ``key``; the reason it may not go out now, or None."""
        with self._lock:
            if key in self._inflight:
                return "this job's service is being asked already"
            if len(self._inflight) >= self.concurrency:
                return "too many live refreshes in flight"
            self._inflight.add(key)
            return None

    def end(self, key: tuple[str, str, str]) -> None:
        with self._lock:
            self._inflight.discard(key)

    def store(self, key: tuple[str, str, str], summary: dict[str, Any], fetched_at: str) -> None:
        import time

        with self._lock:
            if len(self._cache) > 1000:
                self._cache.clear()
            self._cache[key] = (time.monotonic(), summary, fetched_at)


_LIVE = _LiveLimiter(LIVE_TTL, *LIVE_BUDGET)
_LIVE_POOL: Any = None


def _live_pool() -> Any:
    global _LIVE_POOL
    if _LIVE_POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _LIVE_POOL = ThreadPoolExecutor(LIVE_CONCURRENCY, thread_name_prefix="vectorimport-live")
    return _LIVE_POOL


def live_record(row: TaskRow, summary: Mapping[str, Any], fetched_at: str) -> dict[str, Any] | None:
    """The caller's own job record (their task instance: DAG, run, task, link) with the service's
    current answer; a cached answer never carries another caller's record."""
    import copy

    own = copy.copy(row)
    own.xcoms = {**row.xcoms, "return_value": dict(summary)}
    fresh, _ = _jobs([own], base=_ui_base())
    return {**fresh[0], "live": True, "fetched_at": fetched_at} if fresh else None


def _trigger_of(session: Any, row: TaskRow) -> tuple[str, dict[str, Any]] | None:
    from airflow.models.taskinstance import TaskInstance as TI
    from airflow.models.trigger import Trigger
    from sqlalchemy import select

    stmt = (
        select(Trigger)
        .join(TI, TI.trigger_id == Trigger.id)
        .where(
            TI.dag_id == row.dag_id,
            TI.run_id == row.run_id,
            TI.task_id == row.task_id,
            TI.map_index == row.map_index,
        )
    )
    trigger = session.scalars(stmt).first()
    if trigger is None or trigger.classpath not in LIVE_TRIGGERS:
        return None
    kwargs = trigger.kwargs
    return trigger.classpath, dict(kwargs) if isinstance(kwargs, Mapping) else {}


def _fetch_summary(service: str, conn_id: str, job_id: str) -> dict[str, Any]:
    """The job as the service reports it now, summarized like the operators do (no secrets)."""
    if service == "vikingdb":
        from airflow_provider_vectorimport.hooks.vikingdb import VikingDBHook
        from airflow_provider_vectorimport.operators.vikingdb import task_summary

        return task_summary(VikingDBHook(conn_id).get_task(job_id))
    from airflow_provider_vectorimport.hooks.zilliz import ZillizHook
    from airflow_provider_vectorimport.operators.zilliz import job_summary

    return job_summary(ZillizHook(conn_id).get_import_job(job_id))


# --- the app --------------------------------------------------------------------------------------
def _session() -> Iterator[Any]:
    """A metadata DB session per request (what the core API's ``SessionDep`` does)."""
    from airflow.utils.session import create_session

    with create_session(scoped=False) as session:
        yield session


def _one_job(request: Request, session: Any, user: Any) -> tuple[Any, dict[str, Any]]:
    """The task-instance row and job record named by ``dag_id``/``run_id``/``task_id``/``map_index``;
    404 alike for a job that does not exist and one whose DAG the user may not read."""
    missing = [n for n in ("dag_id", "run_id", "task_id") if not request.query_params.get(n)]
    if missing:
        raise _bad(f"missing query parameter(s): {', '.join(missing)}")
    map_index = _int_param(request, "map_index", -1, -1, 1_000_000)
    dag_id = request.query_params["dag_id"]
    not_found = HTTPException(
        status.HTTP_404_NOT_FOUND, "no such vectorimport job (or you may not read its DAG)"
    )
    if dag_id not in _readable_dag_ids(user, session):
        raise not_found
    rows = _load_rows(
        session,
        {dag_id},
        run_id=request.query_params["run_id"],
        task_id=request.query_params["task_id"],
        map_index=map_index,
        limit=1,
    )
    jobs, _ = _jobs(rows, base=_ui_base())
    if not jobs:
        raise not_found
    return rows[0], jobs[0]


def create_app() -> FastAPI:
    get_user = _user_dependency()
    app = FastAPI(
        title="Vector import dashboard",
        description="Jobs of the vectorimport provider's operators across DAG runs (read-only).",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:  # never a 500 with a trace
        log.exception("vectorimport dashboard: %s %s failed", request.method, request.url.path)
        return JSONResponse({"detail": "internal error (see the API server log)"}, status_code=500)

    @app.get("/api/jobs")
    def list_jobs(
        request: Request, session: Any = Depends(_session), user: Any = Depends(get_user)
    ) -> JSONResponse:
        """Jobs newest first. Filters: ``service`` and ``state`` (comma-separated or repeated),
        ``dag_id``, ``collection``, ``since``/``until`` (ISO 8601, at most 31 days apart; default:
        the last 7 days), ``limit`` (1-200) and ``offset``."""
        _check_params(request, LIST_PARAMS)
        services = _choices(request, "service", SERVICES)
        states = _choices(request, "state", STATES)
        since, until = _window(request)
        limit = _int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        offset = _int_param(request, "offset", 0, 0, MAX_OFFSET)
        collection = (request.query_params.get("collection") or "").strip() or None
        dag_id = (request.query_params.get("dag_id") or "").strip() or None
        readable = _readable_dag_ids(user, session)
        if dag_id is not None:
            if dag_id not in readable:
                raise HTTPException(
                    status.HTTP_403_FORBIDDEN, f"DAG {dag_id!r} does not exist or you may not read it"
                )
            readable = {dag_id}
        rows = _load_rows(session, readable, since=since, until=until, limit=MAX_SCAN + 1)
        truncated = len(rows) > MAX_SCAN
        jobs, skipped = _jobs(rows[:MAX_SCAN], base=_ui_base())
        jobs = [j for j in jobs if matches(j, services=services, states=states, collection=collection)]
        page = [{k: v for k, v in j.items() if k != "files"} for j in jobs[offset : offset + limit]]
        body = {
            "jobs": page,
            "total": len(jobs),
            "limit": limit,
            "offset": offset,
            "since": since.isoformat(),
            "until": until.isoformat(),
            "totals": totals(jobs),
            "skipped_rows": skipped,
            "truncated": truncated,
        }
        return JSONResponse(body, headers=_NO_STORE)

    @app.get("/api/job")
    def get_job(
        request: Request, session: Any = Depends(_session), user: Any = Depends(get_user)
    ) -> JSONResponse:
        """One job with its per-file details: ``dag_id``, ``run_id``, ``task_id``, ``map_index``."""
        _check_params(request, DETAIL_PARAMS)
        return JSONResponse(_one_job(request, session, user)[1], headers=_NO_STORE)

    @app.get("/api/job/live")
    def live_job(request: Request, user: Any = Depends(get_user)) -> JSONResponse:
        """A job that still waits (its task is deferred), asked of the service now, through the
        connection its trigger uses, server-side. The metadata DB session is closed before the
        service is asked; the answer waits at most 10 s (504 beyond). One service call per job per
        15 s and in flight, 4 in flight and 20 per minute per API server process (429 beyond)."""
        from airflow.utils.session import create_session

        _check_params(request, DETAIL_PARAMS)
        with create_session(scoped=False) as session:  # released before any outbound call
            row, job = _one_job(request, session, user)
            found = _trigger_of(session, row) if row.state == "deferred" else None
        if found is None:
            raise HTTPException(
                status.HTTP_409_CONFLICT, "only a job whose task is deferred can be refreshed live"
            )
        classpath, kwargs = found
        conn_id, trigger_job = kwargs.get("conn_id"), kwargs.get("job_id")
        if not isinstance(conn_id, str) or str(trigger_job) != job["job_id"]:
            raise HTTPException(status.HTTP_409_CONFLICT, "the task's trigger waits for another job")
        service = LIVE_TRIGGERS[classpath]
        key = (service, conn_id, job["job_id"])
        hit = _LIVE.cached(key)
        cached = hit is not None
        if hit is None:
            wait = _LIVE.take()
            if wait > 0:
                raise HTTPException(
                    status.HTTP_429_TOO_MANY_REQUESTS,
                    "too many live refreshes; try again later",
                    headers={"Retry-After": str(max(1, int(wait) + 1))},
                )
            busy = _LIVE.begin(key)
            if busy is not None:
                raise HTTPException(
                    status.HTTP_429_TOO_MANY_REQUESTS,
                    f"{busy}; try again later",
                    headers={"Retry-After": "5"},
                )
            from concurrent.futures import TimeoutError as FutureTimeout

            try:
                future = _live_pool().submit(_fetch_summary, service, conn_id, job["job_id"])
            except BaseException:
                _LIVE.end(key)
                raise
            future.add_done_callback(lambda _: _LIVE.end(key))  # a hung call keeps its slot
            try:
                summary = future.result(timeout=LIVE_TIMEOUT)
            except FutureTimeout:
                log.warning("live refresh of %s: no answer within %.0f s", job["job_id"], LIVE_TIMEOUT)
                raise HTTPException(
                    status.HTTP_504_GATEWAY_TIMEOUT,
                    f"the service did not answer within {LIVE_TIMEOUT:.0f} s",
                ) from None
            except Exception as exc:  # the service's answer, never its credentials
                log.warning("live refresh of %s failed: %s", job["job_id"], type(exc).__name__)
                raise HTTPException(
                    status.HTTP_502_BAD_GATEWAY, f"the service could not be asked ({type(exc).__name__})"
                ) from None
            hit = (summary, datetime.now(tz=UTC).isoformat())
            _LIVE.store(key, *hit)
        answer = live_record(row, *hit)
        if answer is None:
            raise HTTPException(status.HTTP_502_BAD_GATEWAY, "the service's answer could not be read")
        return JSONResponse({**answer, "cached": cached}, headers=_NO_STORE)

    @app.get("/api/meta")
    def meta(user: Any = Depends(get_user)) -> JSONResponse:
        """Choices for the page's filters."""
        return JSONResponse(
            {
                "services": list(SERVICES),
                "states": list(STATES),
                "max_window_days": MAX_WINDOW.days,
                "max_limit": MAX_LIMIT,
                "user": getattr(user, "get_name", lambda: None)(),
            },
            headers=_NO_STORE,
        )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page(request: Request) -> Response:
        """The page (no data in it: it reads ``api/jobs`` with the caller's own session)."""
        from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
        from airflow.api_fastapi.core_api.security import resolve_user_from_token

        token = request.cookies.get(COOKIE_NAME_JWT_TOKEN)
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            token = auth[7:]
        try:
            await resolve_user_from_token(token)
        except HTTPException:
            from airflow.api_fastapi.app import get_auth_manager

            login = get_auth_manager().get_url_login(next_url=f"{_ui_base().rstrip('/')}{URL_PREFIX}/")
            return RedirectResponse(login, status_code=status.HTTP_303_SEE_OTHER, headers=_NO_STORE)
        return HTMLResponse(
            _PAGE.read_text(encoding="utf-8"),
            headers={**_NO_STORE, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"},
        )

    return app
