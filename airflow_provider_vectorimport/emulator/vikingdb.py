"""Emulation of the VikingDB (Volcengine) v1 task API, pluggable into the shared emulator server.

* every request's SignerV4 signature is recomputed from the raw request, exactly as the service
  does (:func:`airflow_provider_vectorimport.signing.verify_request`): an unknown access key, a wrong
  secret key, a tampered body (``X-Content-Sha256`` mismatch) or a stale ``X-Date`` -> HTTP 401,
  code ``1000001``;
* ``POST /api/task/create|info|list|drop|update`` with the documented envelopes
  ``{code, message, request_id, data}`` and error codes (1000003 invalid request, 1000005 collection
  not exist, 1000035 task not exist; 1000028 / 1000029 can be injected). Answers carry only the
  documented fields (``tests/fixtures/vikingdb``): ``process_info`` has no file list, ``create_time``
  is RFC3339 UTC (the V2 pages' form; ``time_format="naive"`` gives ``YYYY-mm-dd HH:MM:SS``);
* ``/api/task/list`` pages as the V2 list page documents: ``page_number`` (from 1), ``page_size``
  1-100 (default 20: "最多一次性展示20条"), filters ``collection_name``, ``task_type``,
  ``task_status``; ``data`` is the bare list the V1 SDK reads, newest first;
* export filters: ``filter_conds`` (the current create-task page: a list of ``must`` / ``must_nor`` /
  ``range`` / ``range_out`` conditions, all of which must hold); without ``filter_conds`` everything
  is exported (V2 page), unless the seed's legacy ``filter`` map is given and ``legacy_filter`` is on
  (default; ``legacy_filter=False`` plays a service that ignores it); ``export_all`` exports all;
* deterministic faults (:meth:`VikingDBEmulator.inject_fault`): lost answer after the work, reset
  before the work, 502 / 504 from a gateway after the work, a read timeout (answer delayed) after the
  work, 1000029 quota (HTTP 429) before it;
* a task lifecycle ``init -> queued -> running ("NN%") -> done | fail`` (``filter_delete`` with
  ``need_confirm``: ``-> confirm -> confirmed -> done``) computed from elapsed time and paced by
  ``pace_seconds``, so polling is observable; the work itself runs once, when the task first reaches
  ``running``;
* ``tasks_created[collection]`` and ``tasks_created_by_type[(collection, task_type)]`` count
  creations for "no duplicate task on retry" tests (also in ``/_emulator/stats``).

The data side is a :class:`VikingDBBackend`; :class:`InMemoryVikingDBBackend` keeps collections as
lists of dicts and writes/reads export/import files with pyarrow, to an S3 endpoint (a boto3 client,
``tos_path`` = ``bucket/prefix``) or to a local folder (``<root>/<bucket>/<prefix>``).
"""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from airflow_provider_vectorimport.emulator.core import Request, Response
from airflow_provider_vectorimport.signing import SignatureError, verify_request

#: ``inject_error(DROP_CONNECTION, ...)``: close the connection without answering.
DROP_CONNECTION = -1
PING = "/api/viking_db/data/ping"  # the volcengine SDK's VikingDBService() pings on construction
ROUTES = ("/api/task/create", "/api/task/info", "/api/task/list", "/api/task/drop", "/api/task/update")
TASK_TYPES = ("data_import", "data_export", "filter_delete", "filter_update")
FILE_TYPES = ("parquet", "json")

ERRORS: dict[int, tuple[int, str]] = {
    1000001: (401, "unauthorized"),
    1000002: (403, "no permission"),
    1000003: (400, "invalid request"),
    1000005: (400, "collection not exist"),
    1000028: (500, "Internal error"),
    1000029: (429, "quota limit"),
    1000035: (404, "task not exist"),
}


class BackendError(Exception):
    """The backend could not do the work: the task fails with this message as ``err_msg``."""


class VikingDBBackend(Protocol):
    def has_collection(self, name: str) -> bool: ...

    def export(
        self,
        collection_name: str,
        *,
        filter: dict[str, Any] | None,
        export_all: bool,
        tos_path: str,
        file_type: str,
        filter_conds: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Write the rows :func:`select_rows` picks; return process info (total_data_count,
        scan_data_count, total_filter_count, sampled_data (<= 5 rows)) and, for the emulator's own
        use only, ``files`` (never sent: the documents have no such field)."""
        ...

    def import_rows(
        self, collection_name: str, *, tos_path: str, file_type: str, ignore_error: bool
    ) -> dict[str, Any]: ...


def split_tos_path(tos_path: str) -> tuple[str, str]:
    bucket, _, prefix = tos_path.strip("/").partition("/")
    return bucket, prefix.strip("/")


FILTER_OPS = ("must", "must_nor", "range", "range_out")
RANGE_KEYS = ("gt", "gte", "lt", "lte")


def filter_conds_problem(conds: Any) -> str | None:
    """Why ``task_params.filter_conds`` is not the documented DSL (None when it is)."""
    if not isinstance(conds, list):
        return "task_params.filter_conds must be a list of conditions"
    for i, cond in enumerate(conds):
        where = f"task_params.filter_conds[{i}]"
        if not isinstance(cond, dict):
            return f"{where} must be an object"
        op = cond.get("op")
        if op not in FILTER_OPS:
            return f"{where}.op must be one of {', '.join(FILTER_OPS)}"
        if not isinstance(cond.get("field"), str) or not cond["field"]:
            return f"{where}.field must be a field name"
        if op in ("must", "must_nor"):
            if not isinstance(cond.get("conds"), list) or not cond["conds"]:
                return f"{where}.conds must be a non-empty list"
        else:
            bounds = [k for k in RANGE_KEYS if k in cond]
            if not bounds:
                return f"{where} needs gt, gte, lt or lte"
            if any(isinstance(cond[k], bool) or not isinstance(cond[k], int | float) for k in bounds):
                return f"{where}: range bounds must be numbers"
    return None


def _cmp(value: Any, op: str, bound: Any) -> bool:
    try:
        return {"gt": value > bound, "gte": value >= bound, "lt": value < bound, "lte": value <= bound}[op]
    except TypeError:
        return False


def cond_matches(row: Mapping[str, Any], cond: Mapping[str, Any]) -> bool:
    """One documented condition: ``must`` (the field's value, or one of a list field's values, is
    in ``conds``), ``must_nor`` (none is), ``range`` (every given bound holds), ``range_out`` (not
    within the range)."""
    op, value = cond["op"], row.get(cond["field"])
    values = value if isinstance(value, list) else [value]
    if op in ("must", "must_nor"):
        hit = any(v in cond["conds"] for v in values)
        return hit if op == "must" else not hit
    inside = value is not None and all(_cmp(value, k, cond[k]) for k in RANGE_KEYS if k in cond)
    return inside if op == "range" else (value is not None and not inside)


def legacy_matches(row: Mapping[str, Any], flt: Mapping[str, Any] | None) -> bool:
    """The seed's filter: ``{field: [allowed values]}``, every field must match (AND)."""
    if not flt:
        return True
    for name, allowed in flt.items():
        values = allowed if isinstance(allowed, list) else [allowed]
        if row.get(name) not in values:
            return False
    return True


def select_rows(
    rows: list[dict[str, Any]],
    *,
    filter_conds: list[dict[str, Any]] | None = None,
    filter: Mapping[str, Any] | None = None,
    export_all: bool = False,
) -> list[dict[str, Any]]:
    """The rows an export writes: all with ``export_all`` or without any filter, else those meeting
    every ``filter_conds`` condition and the legacy ``filter``."""
    if export_all or (not filter_conds and not filter):
        return list(rows)
    return [
        r for r in rows if all(cond_matches(r, c) for c in filter_conds or []) and legacy_matches(r, filter)
    ]


_matches = legacy_matches


class InMemoryVikingDBBackend:
    """Collections as ``{name: [row, ...]}``; files through a boto3 S3 client or a local folder."""

    def __init__(
        self,
        collections: Mapping[str, list[dict[str, Any]]] | None = None,
        *,
        s3_client: Any = None,
        local_root: str | Path | None = None,
        rows_per_file: int = 1000,
    ) -> None:
        self.collections: dict[str, list[dict[str, Any]]] = {
            k: list(v) for k, v in (collections or {}).items()
        }
        self.s3_client = s3_client
        self.local_root = Path(local_root) if local_root is not None else None
        self.rows_per_file = rows_per_file
        self._lock = threading.Lock()

    def has_collection(self, name: str) -> bool:
        return name in self.collections

    # --- storage ---------------------------------------------------------------------------
    def _write(self, bucket: str, key: str, data: bytes) -> None:
        if self.s3_client is not None:
            try:
                self.s3_client.put_object(Bucket=bucket, Key=key, Body=data)
            except Exception as exc:
                raise BackendError(f"cannot write tos://{bucket}/{key}: {exc}") from exc
        elif self.local_root is not None:
            path = self.local_root / bucket / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        else:
            raise BackendError("the emulator backend has no storage configured")

    def _list(self, bucket: str, prefix: str) -> list[str]:
        if self.s3_client is not None:
            keys: list[str] = []
            try:
                paginator = self.s3_client.get_paginator("list_objects_v2")
                for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                    keys.extend(obj["Key"] for obj in page.get("Contents", []))
            except Exception as exc:
                raise BackendError(f"cannot list tos://{bucket}/{prefix}: {exc}") from exc
            return sorted(keys)
        if self.local_root is not None:
            base = self.local_root / bucket
            root = base / prefix
            if root.is_file():
                return [prefix]
            if not root.exists():
                return []
            return sorted(str(p.relative_to(base)) for p in root.rglob("*") if p.is_file())
        raise BackendError("the emulator backend has no storage configured")

    def _read(self, bucket: str, key: str) -> bytes:
        if self.s3_client is not None:
            try:
                return self.s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
            except Exception as exc:
                raise BackendError(f"cannot read tos://{bucket}/{key}: {exc}") from exc
        assert self.local_root is not None
        return (self.local_root / bucket / key).read_bytes()

    # --- work --------------------------------------------------------------------------------
    def export(
        self,
        collection_name: str,
        *,
        filter: dict[str, Any] | None,
        export_all: bool,
        tos_path: str,
        file_type: str,
        filter_conds: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        with self._lock:
            rows = list(self.collections.get(collection_name, []))
        selected = select_rows(rows, filter_conds=filter_conds, filter=filter, export_all=export_all)
        bucket, prefix = split_tos_path(tos_path)
        files: list[str] = []
        chunks = [selected[i : i + self.rows_per_file] for i in range(0, len(selected), self.rows_per_file)]
        for n, chunk in enumerate(chunks or [[]]):
            name = f"{n}.{file_type}"
            key = f"{prefix}/{name}" if prefix else name
            if file_type == "parquet":
                buf = io.BytesIO()
                table = pa.Table.from_pylist(chunk) if chunk else pa.table({})
                pq.write_table(table, buf)
                data = buf.getvalue()
            else:
                data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in chunk).encode()
            self._write(bucket, key, data)
            files.append(f"{bucket}/{key}")
        return {
            "total_data_count": len(rows),
            "scan_data_count": len(rows),
            "total_filter_count": len(selected),
            "sampled_data": selected[:5],
            "files": files,
        }

    def import_rows(
        self, collection_name: str, *, tos_path: str, file_type: str, ignore_error: bool
    ) -> dict[str, Any]:
        import pyarrow.parquet as pq

        bucket, prefix = split_tos_path(tos_path)
        keys = [k for k in self._list(bucket, prefix) if k.endswith(f".{file_type}")]
        if not keys:
            raise BackendError(f"no .{file_type} files under {tos_path}")
        with self._lock:
            existing = self.collections.get(collection_name, [])
            schema = set(existing[0]) if existing else None
        good: list[dict[str, Any]] = []
        errors: list[str] = []
        scanned = 0
        for key in keys:
            data = self._read(bucket, key)
            try:
                if file_type == "parquet":
                    rows = pq.read_table(io.BytesIO(data)).to_pylist()
                else:
                    rows = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
            except Exception as exc:
                if not ignore_error:
                    raise BackendError(f"{bucket}/{key}: unreadable {file_type} file: {exc}") from exc
                errors.append(f"{key}: unreadable")
                continue
            for i, row in enumerate(rows):
                scanned += 1
                if not isinstance(row, dict) or (schema is not None and set(row) != schema):
                    problem = f"{bucket}/{key} row {i}: fields do not match the collection schema"
                    if not ignore_error:
                        raise BackendError(problem)
                    errors.append(problem)
                    continue
                schema = schema or set(row)
                good.append(row)
        with self._lock:
            self.collections.setdefault(collection_name, []).extend(good)
            total = len(self.collections[collection_name])
        return {
            "total_data_count": total,
            "scan_data_count": scanned,
            "total_filter_count": len(good),
            "sampled_data": good[:5],
            "files": [f"{bucket}/{k}" for k in keys],
            "err_msg": "; ".join(errors[:5]),
        }

    def delete_rows(
        self, collection_name: str, *, filter: Any = None, dry_run: bool = False
    ) -> dict[str, Any]:
        """``filter_delete``: the rows matching ``filter`` (a ``filter_conds`` list or the legacy
        map); removed unless ``dry_run`` (the scan before a confirmation: counts and <= 5 samples)."""
        conds = filter if isinstance(filter, list) else None
        legacy = filter if isinstance(filter, Mapping) else None
        with self._lock:
            rows = self.collections.get(collection_name, [])
            doomed = select_rows(rows, filter_conds=conds, filter=legacy, export_all=not filter)
            ids = {id(r) for r in doomed}
            if not dry_run:
                self.collections[collection_name] = [r for r in rows if id(r) not in ids]
        return {
            "total_data_count": len(rows),
            "scan_data_count": len(rows),
            "total_filter_count": len(doomed),
            "sampled_data": doomed[:5] if dry_run else [],
        }


@dataclass
class _Task:
    task_id: str
    task_type: str
    task_params: dict[str, Any]
    created: float
    update_person: str
    result: dict[str, Any] | None = None
    error: str | None = None
    ran_at: float | None = None
    confirmed_at: float | None = None
    sampled_timestamp: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _delete_filter(params: Mapping[str, Any]) -> Any:
    """A filter_delete task's filter: ``filter_conds`` (84313/1544710), else the legacy ``filter``."""
    return params.get("filter_conds") or params.get("filter")


def _fmt_time(epoch: float, time_format: str = "rfc3339") -> str:
    """RFC3339 UTC (``2026-11-30T06:14:38Z``, the V2 pages' form) or naive ``YYYY-mm-dd HH:MM:SS``
    (UTC) with ``time_format="naive"``."""
    if time_format == "naive":
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


#: ``inject_fault`` kinds: (where the fault strikes, what the client sees)
FAULT_KINDS = {
    "lost_answer": "the work is done, then the connection is closed without an answer",
    "reset_before": "the request is read, then the connection is closed; nothing is done",
    "gateway_502": "the work is done, then a gateway answers HTTP 502 (HTML body)",
    "gateway_504": "the work is done, then a gateway answers HTTP 504 (HTML body)",
    "read_timeout": "the work is done, then the answer is held back for ``delay`` seconds",
    "quota": "code 1000029 with HTTP 429 instead of doing the work",
    "internal_after": "the work is done, then code 1000028 with HTTP 500",
}
LIST_DEFAULT_PAGE_SIZE = 20


class VikingDBEmulator:
    """The VikingDB task API. ``credentials`` maps access key -> secret key."""

    def __init__(
        self,
        credentials: Mapping[str, str],
        backend: VikingDBBackend,
        *,
        region: str = "cn-north-1",
        service: str = "air",
        max_skew_seconds: float = 900,
        pace_seconds: float = 0.2,
        session_tokens: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        time_format: str = "rfc3339",
        legacy_filter: bool = True,
    ) -> None:
        self.credentials = dict(credentials)
        self.backend = backend
        self.region = region
        self.service = service
        self.max_skew_seconds = max_skew_seconds
        self.pace_seconds = pace_seconds
        self.session_tokens = dict(session_tokens or {})
        self.clock = clock
        self.tasks: dict[str, _Task] = {}
        self.time_format = time_format
        self.legacy_filter = legacy_filter
        #: answer ``collection_name`` at the top level of a task (where volc-sdk-python's
        #: ``package_task`` reads it) instead of inside ``task_params`` (the V1 pages' form)
        self.collection_name_at_top = False
        self.tasks_created: Counter[str] = Counter()
        self.tasks_created_by_type: Counter[tuple[str, str]] = Counter()
        self._faults: list[tuple[str, str | None, float]] = []
        #: (path, outcome) of every request, newest last; outcome is "ok", "auth: ..." or an error code
        self.requests: list[tuple[str, str]] = []
        self._injected: list[tuple[int, int | None, str | None, bool]] = []
        self._lock = threading.RLock()

    # --- test controls ---------------------------------------------------------------------
    def inject_error(
        self,
        code: int,
        times: int = 1,
        *,
        http_status: int | None = None,
        path: str | None = None,
        after_processing: bool = False,
    ) -> None:
        """Answer the next ``times`` (signed, valid) requests (to ``path``, or any) with ``code``
        (e.g. 1000029). ``after_processing``: do the work first, then answer the error -- the
        "created, but the answer was lost" case that makes a blind retry create a duplicate."""
        with self._lock:
            self._injected.extend([(code, http_status, path, after_processing)] * times)

    def inject_fault(
        self, kind: str, times: int = 1, *, path: str | None = "/api/task/create", delay: float = 2.0
    ) -> None:
        """Strike the next ``times`` signed requests to ``path`` (None: any) with one of
        :data:`FAULT_KINDS`; ``delay`` is how long ``read_timeout`` holds the answer back."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}")
        with self._lock:
            self._faults.extend([(kind, path, float(delay))] * times)

    def _take_fault(self, path: str) -> tuple[str, str | None, float] | None:
        with self._lock:
            for i, item in enumerate(self._faults):
                if item[1] is None or item[1] == path:
                    return self._faults.pop(i)
        return None

    def created_counts(self) -> dict[str, dict[str, int]]:
        """``{collection: {task_type: tasks created}}`` (``/_emulator/stats``)."""
        out: dict[str, dict[str, int]] = {}
        with self._lock:
            for (collection, task_type), n in sorted(self.tasks_created_by_type.items()):
                out.setdefault(collection, {})[task_type] = n
        return out

    def _take_injected(self, path: str) -> tuple[int, int | None, str | None, bool] | None:
        with self._lock:
            for i, item in enumerate(self._injected):
                if item[2] is None or item[2] == path:
                    return self._injected.pop(i)
        return None

    def count(self, path: str, outcome: str | None = None) -> int:
        return sum(1 for p, o in self.requests if p == path and (outcome is None or o == outcome))

    # --- HTTP --------------------------------------------------------------------------------
    def _envelope(self, data: Any = None, *, code: int = 0, message: str = "success", status: int = 200):
        request_id = uuid.uuid4().hex
        body = {"code": code, "message": message, "request_id": request_id}
        if data is not None or code == 0:
            body["data"] = data
        return Response(status, body, {"X-Tt-Logid": request_id})

    def _error(self, code: int, detail: str = "", *, status: int | None = None) -> Response:
        if code == DROP_CONNECTION:
            return Response(200, None, {"X-Emulator-Drop": "1"})
        default_status, message = ERRORS.get(code, (400, "error"))
        if detail:
            message = f"{message}: {detail}"
        return self._envelope(code=code, message=message, status=status or default_status)

    def signature_error(self, request: Request) -> str | None:
        """Why a request's SignerV4 signature does not verify (wrong key, tampered body, stale
        X-Date), or None when it does. Shared by every signed VikingDB route (answer: 1000001)."""
        try:
            verify_request(
                request.method,
                request.raw_path or request.path,
                request.headers,
                request.body,
                self.credentials,
                region=self.region,
                service=self.service,
                now=self.clock(),
                max_skew_seconds=self.max_skew_seconds,
                session_token_for=self.session_tokens,
            )
        except SignatureError as exc:
            return str(exc)
        return None

    def handle(self, request: Request) -> Response | None:
        if request.path not in ROUTES and request.path != PING:
            return None
        if request.method != "POST" and request.path != PING:
            return self._error(1000003, f"{request.method} not allowed, use POST")
        refused = self.signature_error(request)
        if refused is not None:
            with self._lock:
                self.requests.append((request.path, f"auth: {refused}"))
            return self._error(1000001, refused)
        if request.path == PING:
            return self._envelope({})
        fault = self._take_fault(request.path)
        if fault is not None:
            return self._with_fault(request, fault)
        injected = self._take_injected(request.path)
        if injected is not None and not injected[3]:
            with self._lock:
                self.requests.append((request.path, str(injected[0])))
            return self._error(injected[0], "injected", status=injected[1])
        response = self._dispatch(request)
        code = response.body.get("code") if isinstance(response.body, dict) else None
        outcome = "ok" if code == 0 else str(code)
        if injected is not None:  # after_processing: the work is done, the answer says otherwise
            with self._lock:
                self.requests.append((request.path, f"{injected[0]} after processing ({outcome})"))
            return self._error(injected[0], "injected after processing", status=injected[1])
        with self._lock:
            self.requests.append((request.path, outcome))
        return response

    def _dispatch(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self._error(1000003, "body must be a JSON object")
        action = request.path.rsplit("/", 1)[1]
        return getattr(self, f"_{action}")(body, request.header("authorization", "") or "")

    def _with_fault(self, request: Request, fault: tuple[str, str | None, float]) -> Response:
        kind, _, delay = fault
        if kind == "reset_before":
            outcome, response = "reset before processing", Response(200, None, {"X-Emulator-Drop": "1"})
        elif kind == "quota":
            outcome, response = "1000029", self._error(1000029, "injected", status=429)
        else:
            done = self._dispatch(request)
            code = done.body.get("code") if isinstance(done.body, dict) else None
            outcome = f"{kind} after processing ({'ok' if code == 0 else code})"
            if kind == "lost_answer":
                response = Response(200, None, {"X-Emulator-Drop": "1"})
            elif kind in ("gateway_502", "gateway_504"):
                status = int(kind[-3:])
                text = (
                    f"<html><body><h1>{status} {'Bad Gateway' if status == 502 else 'Gateway Time-out'}</h1>"
                )
                response = Response(status, text + "</body></html>", {"Content-Type": "text/html"})
            elif kind == "internal_after":
                response = self._error(1000028, "injected after processing")
            else:  # read_timeout: the client gives up before this answer comes
                response = done
        with self._lock:
            self.requests.append((request.path, outcome))
        if kind == "read_timeout":
            time.sleep(delay)
        return response

    # --- routes ------------------------------------------------------------------------------
    def _create(self, body: dict[str, Any], auth: str) -> Response:
        task_type = body.get("task_type")
        params = body.get("task_params")
        if task_type not in TASK_TYPES:
            return self._error(1000003, f"task_type must be one of {', '.join(TASK_TYPES)}")
        if not isinstance(params, dict):
            return self._error(1000003, "task_params must be an object")
        collection = params.get("collection_name")
        if not isinstance(collection, str) or not collection:
            return self._error(1000003, "task_params.collection_name is required")
        if not self.backend.has_collection(collection):
            return self._error(1000005, collection)
        if task_type in ("data_import", "data_export"):
            tos_path = params.get("tos_path")
            if not isinstance(tos_path, str) or "://" in tos_path or not split_tos_path(tos_path)[0]:
                return self._error(1000003, "task_params.tos_path must be 'bucket/path'")
            file_type = params.get("file_type", "parquet")
            if file_type not in FILE_TYPES:
                return self._error(1000003, "task_params.file_type must be parquet or json")
        flt = params.get("filter")
        if flt is not None and not isinstance(flt, dict):
            return self._error(1000003, "task_params.filter must be an object")
        if "filter_conds" in params and params["filter_conds"] is not None:
            problem = filter_conds_problem(params["filter_conds"])
            if problem:
                return self._error(1000003, problem)
        now = self.clock()
        task = _Task(
            task_id=str(uuid.uuid4()),
            task_type=task_type,
            task_params=params,
            created=now,
            update_person=auth.split("Credential=", 1)[-1].split("/", 1)[0],
            sampled_timestamp=int(now),
        )
        with self._lock:
            self.tasks[task.task_id] = task
            self.tasks_created[collection] += 1
            self.tasks_created_by_type[(collection, task_type)] += 1
        return self._envelope({"task_id": task.task_id})

    def _get(self, body: dict[str, Any]) -> _Task | Response:
        task_id = body.get("task_id")
        if not isinstance(task_id, str) or not task_id:
            return self._error(1000003, "task_id is required")
        with self._lock:
            task = self.tasks.get(task_id)
        if task is None:
            return self._error(1000035, task_id)
        return task

    def _info(self, body: dict[str, Any], auth: str) -> Response:
        task = self._get(body)
        if isinstance(task, Response):
            return task
        return self._envelope(self._describe(task))

    def _list(self, body: dict[str, Any], auth: str) -> Response:
        number = body.get("page_number", 1)
        size = body.get("page_size", LIST_DEFAULT_PAGE_SIZE)
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            return self._error(1000003, "page_number must be an integer >= 0")
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 100:
            return self._error(1000003, "page_size must be an integer in 1..100")
        with self._lock:
            tasks = sorted(self.tasks.values(), key=lambda t: (t.created, t.task_id), reverse=True)
        described = [self._describe(t) for t in tasks]
        for key, field_name in (
            ("collection_name", None),
            ("task_type", "task_type"),
            ("task_status", "task_status"),
        ):
            wanted = body.get(key)
            if wanted:
                described = [
                    d
                    for d in described
                    if (
                        d.get("collection_name", d["task_params"].get("collection_name"))
                        if field_name is None
                        else d[field_name]
                    )
                    == wanted
                ]
        start = (max(number, 1) - 1) * size
        return self._envelope(described[start : start + size])

    def _drop(self, body: dict[str, Any], auth: str) -> Response:
        task = self._get(body)
        if isinstance(task, Response):
            return task
        with self._lock:
            self.tasks.pop(task.task_id, None)
        return self._envelope(None)

    def _update(self, body: dict[str, Any], auth: str) -> Response:
        task = self._get(body)
        if isinstance(task, Response):
            return task
        if body.get("task_status") != "confirmed":
            return self._error(1000003, "task_status can only be set to confirmed")
        with self._lock:
            if self._status(task)[0] != "confirm":
                return self._error(1000003, f"task {task.task_id} is not waiting for confirmation")
            task.confirmed_at = self.clock()
        return self._envelope(None)

    # --- lifecycle -----------------------------------------------------------------------------
    def _run(self, task: _Task) -> None:
        """Do the work once, when the task first reaches ``running``."""
        params = task.task_params
        collection = params["collection_name"]
        try:
            if task.task_type == "data_export":
                task.result = self.backend.export(
                    collection,
                    filter=params.get("filter") if self.legacy_filter else None,
                    filter_conds=params.get("filter_conds") or None,
                    export_all=bool(params.get("export_all")),
                    tos_path=params["tos_path"],
                    file_type=params.get("file_type", "parquet"),
                )
            elif task.task_type == "data_import":
                task.result = self.backend.import_rows(
                    collection,
                    tos_path=params["tos_path"],
                    file_type=params.get("file_type", "parquet"),
                    ignore_error=bool(params.get("ignore_error")),
                )
            elif task.task_type == "filter_delete":
                # the scan: what would go (deleted after confirmation, or right away without need_confirm)
                preview = getattr(self.backend, "delete_rows", None)
                task.result = (
                    preview(collection, filter=_delete_filter(params), dry_run=True) if preview else {}
                )
            else:
                task.result = {"total_data_count": 0, "scan_data_count": 0, "total_filter_count": 0}
        except BackendError as exc:
            task.error = str(exc)
        except Exception as exc:  # any other backend bug: a failed task, not a 500
            task.error = f"internal: {exc!r}"
        task.ran_at = self.clock()

    def _finish_delete(self, task: _Task) -> None:
        delete = getattr(self.backend, "delete_rows", None)
        if delete is None:
            task.error = "filter_delete is not supported by this backend"
        else:
            result = delete(task.task_params["collection_name"], filter=_delete_filter(task.task_params))
            task.result = {**result, "sampled_data": (task.result or {}).get("sampled_data", [])}
        task.extra["deleted"] = True

    def _status(self, task: _Task) -> tuple[str, float]:
        """(task_status, progress %) from elapsed time; runs the work when it becomes due."""
        pace = self.pace_seconds
        with self._lock:
            elapsed = self.clock() - task.created
            if elapsed < pace:
                return "init", 0.0
            if elapsed < 2 * pace:
                return "queued", 0.0
            if task.ran_at is None:
                self._run(task)
            if task.error:
                return "fail", 0.0
            running_for = self.clock() - (task.ran_at or task.created)
            run_span = 3 * pace
            if running_for < run_span:
                return "running", min(99.0, 100.0 * running_for / run_span) if run_span else 99.0
            if task.task_type == "filter_delete" and task.task_params.get("need_confirm"):
                if task.confirmed_at is None:
                    return "confirm", 100.0
                if self.clock() - task.confirmed_at < pace:
                    return "confirmed", 100.0
            if task.task_type == "filter_delete" and not task.extra.get("deleted"):
                self._finish_delete(task)
                if task.error:
                    return "fail", 100.0
            return "done", 100.0

    def _describe(self, task: _Task) -> dict[str, Any]:
        status, progress = self._status(task)
        result = dict(task.result or {})
        result.pop("files", None)  # the backend's own bookkeeping: the documents have no such field
        process_info: dict[str, Any] = {
            "task_progress": f"{progress:.0f}%",
            "err_msg": task.error or result.pop("err_msg", "") or "",
            "sampled_data": result.get("sampled_data", [])
            if status == "done" or (task.task_type == "filter_delete" and status in ("confirm", "confirmed"))
            else [],
            "sampled_timestamp": task.sampled_timestamp,
            "scan_data_count": result.get("scan_data_count", 0) if status != "init" else 0,
            "total_data_count": result.get("total_data_count", 0),
            "total_filter_count": result.get("total_filter_count", 0),
        }
        if status == "running" and result:
            fraction = progress / 100.0
            process_info["scan_data_count"] = int(result.get("scan_data_count", 0) * fraction)
            process_info["total_filter_count"] = int(result.get("total_filter_count", 0) * fraction)
        answer = {
            "task_id": task.task_id,
            "task_type": task.task_type,
            "task_status": status,
            "update_person": task.update_person,
            "create_time": _fmt_time(task.created, self.time_format),
            "update_time": _fmt_time(task.confirmed_at or task.ran_at or task.created, self.time_format),
            "task_params": task.task_params,
            "process_info": process_info,
        }
        if self.collection_name_at_top:
            params = dict(task.task_params)
            answer["collection_name"] = params.pop("collection_name", None)
            answer["task_params"] = params
        return answer
