"""The Zilliz Cloud (v2 and v1 controller APIs) and self-hosted Milvus (REST v2) import protocol,
pure: the connection's configuration, the request builders, the response parsers and the file
matching behind exactly-once. No I/O and no Airflow here: :class:`~airflow_provider_vectorimport.hooks.zilliz.ZillizHook`
moves the bytes. The vendor examples that pin these functions are ``tests/fixtures/{zilliz,milvus}/*.json``
(each names its page), read by ``tests/test_zilliz_contract.py``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
)
from airflow_provider_vectorimport.http import RetryPolicy
from airflow_provider_vectorimport.models import FileDetail, ImportJob, JobState, parse_progress, to_int
from airflow_provider_vectorimport.protocols.common import normalize_file_groups
from airflow_provider_vectorimport.protocols.import_options import encode_options

FLAVOURS = ("v2", "v1", "milvus")

# Body codes (Zilliz v1 800xx/900xx/400xx, v2 21119/960xx, Milvus 1800 auth / 65535 generic).
_AUTH_CODES = {80001, 80002, 21119, 1800, 401}
_PERMISSION_CODES = {40022, 80020, 96014, 96015, 96016, 403}
_NOT_FOUND_CODES = {40021, 90102, 90144, 100, 404}
_RETRYABLE_CODES = {429, 80029, 500, 502, 503, 504}

# Raw job states -> normalized.
_STATE_MAP = {
    "none": JobState.PENDING,
    "pending": JobState.PENDING,
    "preimporting": JobState.RUNNING,
    "importing": JobState.RUNNING,
    "sorting": JobState.RUNNING,
    "indexbuilding": JobState.RUNNING,
    "importrunning": JobState.RUNNING,
    "running": JobState.RUNNING,
    "completed": JobState.COMPLETED,
    "importcompleted": JobState.COMPLETED,
    "failed": JobState.FAILED,
    "importfailed": JobState.FAILED,
    # Milvus with options auto_commit=false: the job waits for /jobs/import/commit
    "uncommitted": JobState.NEEDS_CONFIRMATION,
    "committing": JobState.RUNNING,
}


def map_state(raw: Any) -> JobState:
    """Normalize any flavour's job state; unknown states count as running (never terminal)."""
    if raw is None:
        return JobState.PENDING
    return _STATE_MAP.get(str(raw).replace("_", "").replace(" ", "").lower(), JobState.RUNNING)


def _success_codes(flavour: str | None) -> frozenset[int]:
    """Body codes meaning success. Zilliz v1 documents 200 (seeds 000/003) and 0 (seed 002);
    Zilliz v2 and Milvus document 0 only: on Milvus, 200 is ``ErrPartitionNotFound``."""
    return frozenset({0, 200}) if flavour in (None, "v1") else frozenset({0})


def check_zilliz_response(
    status: int, body: Any, headers: Mapping[str, str], *, flavour: str | None = None
) -> Any:
    """The body ``code`` is authoritative (errors often come with HTTP 200). Success is 0 (and
    200 for the v1 controller only, or for ``flavour=None``). Returns ``data``."""
    if not isinstance(body, dict):
        raise ServiceError(f"unexpected response body: {body!r:.200}", service="zilliz", http_status=status)
    code = body.get("code")
    try:
        code_int = int(code) if code is not None else (0 if status < 400 else status)
    except (TypeError, ValueError):
        code_int = -1
    if code_int in _success_codes(flavour) and status < 400:
        return body.get("data")
    if (
        flavour == "milvus"
        and code_int == 200
        and status < 400
        and "data" in body
        and not body.get("message")
    ):
        return body.get("data")  # older Milvus answered success as {code: 200, data: {jobID}}
    message = str(body.get("message") or body.get("msg") or body.get("reason") or f"HTTP {status}")
    kwargs: dict[str, Any] = dict(
        service="zilliz" if flavour != "milvus" else "milvus",
        code=code if code is not None else status,
        http_status=status,
    )
    kwargs["payload"] = body
    lowered = message.lower()
    if code_int in _AUTH_CODES or status == 401:
        raise AuthenticationError(message, **kwargs)
    if code_int in _PERMISSION_CODES or status == 403:
        raise PermissionDeniedError(message, **kwargs)
    if code_int in _RETRYABLE_CODES or "rate limit" in lowered:
        raise RetryableServiceError(message, **kwargs)
    if (
        code_int in _NOT_FOUND_CODES
        or (flavour == "milvus" and code_int == 200)
        or status == 404
        or "not found" in lowered
        or "not exist" in lowered
    ):
        raise NotFoundError(message, **kwargs)
    raise InvalidRequestError(message, **kwargs)


def make_checker(flavour: str) -> Any:
    """The response checker of one flavour (what the HTTP core calls)."""

    def checker(status: int, body: Any, headers: Mapping[str, str]) -> Any:
        return check_zilliz_response(status, body, headers, flavour=flavour)

    return checker


@dataclass(frozen=True)
class ZillizConfig:
    """Everything resolved from the connection (shared by the sync and async paths)."""

    flavour: str
    base_url: str
    token: str = field(repr=False)
    cluster_id: str | None = None
    db_name: str | None = None
    project_id: str | None = None
    region_id: str | None = None
    storage_conn_id: str | None = None
    china: bool = False
    console_url_template: str | None = None
    console_project_id: str | None = None
    milvus_bucket: str | None = None
    #: Zilliz Cloud v2 reports only basenames: with this extra the user promises that no other
    #: import into the collection reads a file of the same name, so an equal basename is proof
    unique_basenames: bool = False
    #: Milvus >= 2.6.24 deduplicates creates by ``Idempotency-Key``: then a create is simply resent
    idempotency_supported: bool = False
    policy: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def console_base(self) -> str:
        return "https://cloud.zilliz.com.cn" if self.china else "https://cloud.zilliz.com"


def _extra(extra: Mapping[str, Any], name: str, default: Any = None) -> Any:
    for key in (name, f"extra__zilliz__{name}"):
        value = extra.get(key)
        if value not in (None, ""):
            return value
    return default


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def config_from_connection(conn: Any, extra: Mapping[str, Any]) -> ZillizConfig:
    """Build a :class:`ZillizConfig` from an Airflow connection and its (already parsed) extra."""
    flavour = str(_extra(extra, "api_flavour", _extra(extra, "flavour", "v2"))).lower()
    if flavour not in FLAVOURS:
        raise ConfigurationError(
            f"connection {conn.conn_id!r}: unknown api_flavour {flavour!r}; expected one of {', '.join(FLAVOURS)}"
        )
    china = _truthy(_extra(extra, "china", False))
    region = _extra(extra, "cloud_region")
    host = (conn.host or "").strip()
    if host:
        if "://" not in host:
            scheme = _extra(extra, "scheme", "http" if flavour == "milvus" else "https")
            host = f"{scheme}://{host}"
        if conn.port and not urlsplit(host).port:
            host = f"{host.rstrip('/')}:{conn.port}"
        base_url = host.rstrip("/")
    elif flavour == "v2":
        base_url = "https://api.cloud.zilliz.com.cn" if china else "https://api.cloud.zilliz.com"
    elif flavour == "v1":
        if not region:
            raise ConfigurationError(
                f"connection {conn.conn_id!r}: the v1 API needs a cloud_region (e.g. gcp-us-west1) or a host"
            )
        domain = "zilliz.com.cn" if china else "zillizcloud.com"
        base_url = f"https://controller.api.{region}.{domain}"
    else:
        raise ConfigurationError(
            f"connection {conn.conn_id!r}: the milvus flavour needs the cluster endpoint as host "
            "(e.g. http://milvus:19530)"
        )
    password = conn.password or ""
    # v2 takes an API key only ("The authentication token should be an API key"); v1 and Milvus
    # also accept "username:password".
    token = f"{conn.login}:{password}" if conn.login and flavour != "v2" else password
    if not token:
        raise ConfigurationError(f"connection {conn.conn_id!r}: no API key / token (password) set")
    cluster_id = _extra(extra, "cluster_id")
    if flavour in ("v1", "v2") and not cluster_id:
        raise ConfigurationError(f"connection {conn.conn_id!r}: the {flavour} API needs a cluster_id")
    project_id, region_id = _extra(extra, "project_id"), _extra(extra, "region_id")
    if (project_id or region_id) and flavour != "v2":
        raise ConfigurationError(
            f"connection {conn.conn_id!r}: project_id/region_id are Zilliz Cloud v2 create options"
        )
    if bool(project_id) != bool(region_id):
        raise ConfigurationError(
            f"connection {conn.conn_id!r}: project_id and region_id must be set together "
            f"(got {'project_id' if project_id else 'region_id'} only); for the console link "
            "use the console_project_id extra"
        )
    return ZillizConfig(
        flavour=flavour,
        base_url=base_url,
        token=token,
        cluster_id=cluster_id,
        db_name=_extra(extra, "db_name"),
        project_id=project_id,
        region_id=region_id,
        storage_conn_id=_extra(extra, "storage_conn_id"),
        china=china,
        console_url_template=_extra(extra, "console_url_template"),
        console_project_id=_extra(extra, "console_project_id"),
        milvus_bucket=_extra(extra, "milvus_bucket"),
        unique_basenames=_truthy(_extra(extra, "unique_basenames", False)),
        idempotency_supported=flavour == "milvus"
        and _truthy(_extra(extra, "idempotency_key_supported", False)),
        policy=RetryPolicy.from_extra(extra),
    )


@dataclass(frozen=True)
class ApiCall:
    method: str
    path: str
    json: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


# ----------------------------------------------------------------------------- request building


def split_object_url(url: str) -> tuple[str | None, str]:
    """``(bucket, key)`` of an object URL (``s3://b/k``, ``gs://b/k``, virtual-hosted or path-style
    https); ``(None, path)`` for a plain path."""
    if "://" not in url:
        return None, url.lstrip("/")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return parts.netloc or None, parts.path.lstrip("/")
    host = parts.hostname or ""
    path = parts.path.lstrip("/")
    for marker in (".s3.", ".s3-", ".oss-", ".cos.", ".tos-s3-", ".storage.googleapis."):
        index = host.find(marker)
        if index > 0:
            return host[:index], path
    bucket, _, key = path.partition("/")
    return bucket or None, key


def milvus_file_groups(
    groups: list[list[str]], *, milvus_bucket: str | None, argument: str = "files"
) -> list[list[str]]:
    """Milvus reads ``files`` from its own bucket: paths pass as they are; an object URL is accepted
    only for that bucket (the ``milvus_bucket`` extra) and sent as its key. A foreign bucket is a
    ConfigurationError naming the argument, before any request."""
    out: list[list[str]] = []
    for i, group in enumerate(groups):
        keys = []
        for j, name in enumerate(group):
            if "://" in name:
                bucket, key = split_object_url(name)
                if not milvus_bucket or bucket != milvus_bucket:
                    raise ConfigurationError(
                        f"{argument}[{i}][{j}] = {name!r}: Milvus imports only files inside its own "
                        f"bucket ({milvus_bucket or 'set the milvus_bucket connection extra to name it'}); "
                        "copy the object there, or pass its key"
                    )
                name = key
            keys.append(name)
        out.append(keys)
    return out


def build_create_call(
    config: ZillizConfig,
    collection_name: str,
    *,
    files: Any = None,
    object_url: str | None = None,
    object_urls: Sequence[Any] | None = None,
    partition_name: str | None = None,
    db_name: str | None = None,
    options: Mapping[str, Any] | None = None,
    idempotency_key: str | None = None,
    storage_credentials: Mapping[str, Any] | None = None,
) -> ApiCall:
    """Validate the arguments and build the create request for the connection's flavour."""
    if not collection_name or not str(collection_name).strip():
        raise ConfigurationError("collection_name is required")
    given = [
        name for name, v in (("files", files), ("object_url", object_url), ("object_urls", object_urls)) if v
    ]
    if len(given) != 1:
        raise ConfigurationError(
            f"give exactly one of files (Milvus), object_url or object_urls (Zilliz Cloud); got {given or 'none'}"
        )
    db = db_name or config.db_name
    headers: dict[str, str] = {}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    creds = {k: v for k, v in (storage_credentials or {}).items() if v}
    if config.flavour == "milvus":
        arg = "files" if files else ("object_urls" if object_urls else "object_url")
        groups = milvus_file_groups(
            normalize_file_groups(files) if files else normalize_file_groups(object_urls or [object_url]),
            milvus_bucket=config.milvus_bucket,
            argument=arg,
        )
        if not groups:
            raise ConfigurationError("files is empty")
        if len(groups) > 1024:
            raise ConfigurationError(
                f"Milvus accepts at most 1024 files per import request, got {len(groups)}"
            )
        body: dict[str, Any] = {"collectionName": collection_name, "files": groups}
        if db:
            body["dbName"] = db
            headers["DB-Name"] = db
        if partition_name:
            body["partitionName"] = partition_name
        if options:
            body["options"] = encode_options(options)
        return ApiCall("POST", "/v2/vectordb/jobs/import/create", json=body, headers=headers)

    if files:
        raise ConfigurationError(
            "files= is the self-hosted Milvus form; Zilliz Cloud takes object_url / object_urls "
            "(use the 'milvus' api_flavour for a Milvus cluster endpoint)"
        )
    if config.flavour == "v1":
        if options:
            raise ConfigurationError(
                f"options {sorted(options)}: the Zilliz Cloud v1 import API takes no options (so no "
                "auto_commit=false / two-phase commit either); use the v2 flavour"
            )
        if creds.get("session_token"):
            raise ConfigurationError(
                "the Zilliz Cloud v1 import API has no token field, so temporary (STS) credentials "
                "cannot be passed: use long-term keys on the storage connection, or the v2 flavour"
            )
        if object_urls:
            flat = [u for group in normalize_file_groups(object_urls) for u in group]
            if len(flat) != 1:
                raise ConfigurationError(
                    "the v1 API imports one object URL per job; use the v2 flavour for several"
                )
            object_url = flat[0]
        body = {"clusterId": config.cluster_id, "collectionName": collection_name, "objectUrl": object_url}
        if partition_name:
            body["partitionName"] = partition_name
        if creds.get("access_key"):
            body["accessKey"] = creds["access_key"]
        if creds.get("secret_key"):
            body["secretKey"] = creds["secret_key"]
        return ApiCall("POST", "/v1/vector/collections/import", json=body, headers=headers)

    body = {"clusterId": config.cluster_id, "collectionName": collection_name}
    if object_urls:
        groups = normalize_file_groups(object_urls)
        for i, group in enumerate(groups):
            if len(group) != 1:
                raise ConfigurationError(
                    f"object_urls[{i}] holds {len(group)} URLs; Zilliz Cloud takes one object URL "
                    "(a file or a folder) per sub-list"
                )
        body["objectUrls"] = groups
    else:
        body["objectUrl"] = object_url
    if partition_name:
        body["partitionName"] = partition_name
    if db:
        body["dbName"] = db
    if config.project_id and config.region_id:
        body["projectId"] = config.project_id
        body["regionId"] = config.region_id
    if creds.get("access_key"):
        body["accessKey"] = creds["access_key"]
    if creds.get("secret_key"):
        body["secretKey"] = creds["secret_key"]
    if creds.get("session_token"):
        body["token"] = creds["session_token"]
    if options:
        body["options"] = encode_options(options)
    return ApiCall("POST", "/v2/vectordb/jobs/import/create", json=body, headers=headers)


def build_get_call(config: ZillizConfig, job_id: str, *, describe: bool = True) -> ApiCall:
    if not job_id or not str(job_id).strip():
        raise ConfigurationError("job_id is required")
    if config.flavour == "v1":
        return ApiCall(
            "GET",
            "/v1/vector/collections/import/get",
            params={"jobId": job_id, "clusterId": config.cluster_id},
        )
    if config.flavour == "v2":
        return ApiCall(
            "POST",
            "/v2/vectordb/jobs/import/getProgress",
            json={"jobId": job_id, "clusterId": config.cluster_id},
        )
    body: dict[str, Any] = {"jobId": job_id}
    headers: dict[str, str] = {}
    if config.db_name:
        body["dbName"] = config.db_name
        headers["DB-Name"] = config.db_name
    path = "/v2/vectordb/jobs/import/describe" if describe else "/v2/vectordb/jobs/import/get_progress"
    return ApiCall("POST", path, json=body, headers=headers)


def build_abort_call(config: ZillizConfig, job_id: str) -> ApiCall:
    """``/v2/vectordb/jobs/import/abort``: Milvus ``{jobId}``; Zilliz Cloud v2 ``{jobId, clusterId}``
    (the vendor's Go SDK ``NewCloudAbortImportOption`` speaks this endpoint for Zilliz Cloud too).
    The v1 controller documents no abort."""
    if config.flavour == "v1":
        raise ConfigurationError("the Zilliz Cloud v1 API has no documented way to cancel an import job")
    call = build_get_call(config, job_id)
    return ApiCall("POST", "/v2/vectordb/jobs/import/abort", json=call.json, headers=call.headers)


def build_commit_call(config: ZillizConfig, job_id: str) -> ApiCall:
    """``/v2/vectordb/jobs/import/commit`` for a job created with ``auto_commit=false`` (state
    Uncommitted): Milvus ``{jobId}``; Zilliz Cloud v2 ``{jobId, clusterId}`` or, for a project
    database, ``{jobId, projectId, regionId}``, as pymilvus ``commit_import`` sends it ("commit an
    import job (2PC). Makes imported data visible."; Zilliz Java ``commitImport()``: "Set clusterId,
    or set both projectId and regionId"). The v1 controller has no commit (and takes no options)."""
    if config.flavour == "v1":
        raise ConfigurationError("the Zilliz Cloud v1 API has no commit call for import jobs")
    call = build_get_call(config, job_id)
    return ApiCall("POST", "/v2/vectordb/jobs/import/commit", json=call.json, headers=call.headers)


def build_list_call(
    config: ZillizConfig,
    *,
    collection_name: str | None = None,
    page_size: int = 100,
    current_page: int = 1,
) -> ApiCall:
    """v1: GET with ``clusterId, pageSize, currentPage`` (no collection filter documented); v2: POST
    with ``clusterId, pageSize, currentPage`` (+ ``collectionName``, ``dbName``, as pymilvus sends);
    Milvus: POST ``{collectionName, dbName}`` (unpaged)."""
    if not 1 <= int(page_size) <= 100:
        raise ConfigurationError(f"page_size must be between 1 and 100, got {page_size}")
    if config.flavour == "v1":
        return ApiCall(
            "GET",
            "/v1/vector/collections/import/list",
            params={"clusterId": config.cluster_id, "pageSize": page_size, "currentPage": current_page},
        )
    if config.flavour == "v2":
        body: dict[str, Any] = {
            "clusterId": config.cluster_id,
            "pageSize": page_size,
            "currentPage": current_page,
        }
        if collection_name:
            body["collectionName"] = collection_name
        if config.db_name:
            body["dbName"] = config.db_name
        return ApiCall("POST", "/v2/vectordb/jobs/import/list", json=body)
    body = {}
    headers: dict[str, str] = {}
    if collection_name:
        body["collectionName"] = collection_name
    if config.db_name:
        body["dbName"] = config.db_name
        headers["DB-Name"] = config.db_name
    return ApiCall("POST", "/v2/vectordb/jobs/import/list", json=body, headers=headers)


def next_list_page(flavour: str, data: Any, current_page: int, page_size: int, got: int) -> int | None:
    """The page to ask for next, or None when the list is complete (``count`` / ``pageSize`` of
    Zilliz Cloud; Milvus answers everything at once)."""
    if flavour == "milvus" or got == 0:
        return None
    count = to_int(data.get("count")) if isinstance(data, Mapping) else None
    if count is not None:
        return current_page + 1 if current_page * page_size < count else None
    return current_page + 1 if got >= page_size else None


# ----------------------------------------------------------------------------- response parsing


def _first(data: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if data.get(name) is not None:
            return data[name]
    return None


def parse_job_id(data: Any) -> str:
    if isinstance(data, Mapping):
        job_id = _first(data, "jobId", "jobID", "job_id")
        if job_id:
            return str(job_id)
    raise ServiceError(f"create answered success without a job id: {data!r:.200}", service="zilliz")


def _v1_state(data: Mapping[str, Any]) -> tuple[JobState, float]:
    pct = data.get("readyPercentage")
    progress = float(pct) * 100 if isinstance(pct, int | float) and pct <= 1 else parse_progress(pct)
    if data.get("errorMessage"):
        return JobState.FAILED, progress
    if data.get("completeTime") and progress >= 100:
        return JobState.COMPLETED, progress
    if data.get("state"):
        return map_state(data["state"]), progress
    return (JobState.RUNNING if progress > 0 else JobState.PENDING), progress


def _parse_file(flavour: str, item: Mapping[str, Any]) -> FileDetail:
    if flavour == "v1":
        state, progress = _v1_state(item)
        reason = item.get("errorMessage")
    else:
        state = map_state(item.get("state")) if item.get("state") else JobState.PENDING
        progress = parse_progress(item.get("progress"))
        reason = item.get("reason") or None
    return FileDetail(
        name=str(_first(item, "fileName", "file_name", "name") or ""),
        size=to_int(item.get("fileSize")),
        state=state,
        progress=progress,
        imported_rows=to_int(_first(item, "importedRows", "imported_rows")),
        total_rows=to_int(_first(item, "totalRows", "total_rows")),
        reason=str(reason) if reason else None,
    )


def _sum(values: list[int | None]) -> int | None:
    return sum(v for v in values if v is not None) if values and None not in values else None


def _rows(flavour: str, data: Mapping[str, Any], files: list[FileDetail]) -> tuple[int | None, int | None]:
    """(imported, total) rows. Milvus documents top-level ``importedRows``/``totalRows``. Zilliz
    Cloud v2 documents no top-level ``importedRows``: its top-level ``totalRows`` is "the number of
    entities this job inserted into the collection", per-file rows are in ``details``; so imported =
    the sum of ``details[].importedRows`` (else top-level ``totalRows``), total = the sum of
    ``details[].totalRows``. v1 reports no rows."""
    if flavour == "v2":
        imported = _sum([f.imported_rows for f in files])
        if imported is None:
            imported = to_int(_first(data, "totalRows", "total_rows"))
        return imported, _sum([f.total_rows for f in files])
    return (
        to_int(_first(data, "importedRows", "imported_rows")),
        to_int(_first(data, "totalRows", "total_rows")),
    )


def parse_import_job(flavour: str, data: Any, job_id: str | None = None) -> ImportJob:
    """Normalize a progress payload of any flavour. Never raises on missing optional fields."""
    if not isinstance(data, Mapping):
        raise ServiceError(f"progress answered without data: {data!r:.200}", service="zilliz")
    if flavour == "v1":
        state, progress = _v1_state(data)
        raw_state = data.get("state") or ("errorMessage" if data.get("errorMessage") else None)
        reason = data.get("errorMessage")
    else:
        raw_state = _first(data, "state")
        state = map_state(raw_state)
        progress = parse_progress(data.get("progress"))
        reason = data.get("reason")
        if state is JobState.COMPLETED:
            progress = 100.0
    details = data.get("details") or data.get("files") or []
    files = [_parse_file(flavour, item) for item in details if isinstance(item, Mapping)]
    if not files and data.get("fileName"):
        files = [_parse_file(flavour, data)]
    imported_rows, total_rows = _rows(flavour, data, files)
    return ImportJob(
        job_id=str(_first(data, "jobId", "jobID", "job_id") or job_id or ""),
        state=state,
        progress=progress,
        imported_rows=imported_rows,
        total_rows=total_rows,
        reason=str(reason) if reason else None,
        collection_name=_first(data, "collectionName", "collection_name"),
        files=files,
        create_time=_first(data, "createTime", "create_time"),
        complete_time=_first(data, "completeTime", "complete_time") or None,
        raw_state=str(raw_state) if raw_state is not None else None,
        raw=dict(data),
    )


def parse_job_list(flavour: str, data: Any) -> list[ImportJob]:
    if not isinstance(data, Mapping):
        return []
    records = data.get("records") or data.get("tasks") or data.get("jobs") or []
    jobs = []
    for record in records:
        if not isinstance(record, Mapping):
            continue
        raw_state = record.get("state")
        jobs.append(
            ImportJob(
                job_id=str(_first(record, "jobId", "jobID", "job_id") or ""),
                state=map_state(raw_state),
                progress=parse_progress(record.get("progress")),
                reason=record.get("reason") or None,
                collection_name=_first(record, "collectionName", "collection_name"),
                raw_state=str(raw_state) if raw_state is not None else None,
                raw=dict(record),
            )
        )
    return jobs


_MILVUS_PROTO_PATH = re.compile(r'paths:"((?:[^"\\]|\\.)*)"')


def parse_reported_file_name(name: Any) -> list[str]:
    """The paths one ``fileName`` names, for every documented format:

    * Milvus (current ``GetTaskProgresses``): ``fmt.Sprintf("%v", paths)`` -> ``"[a/1.parquet]"``,
      several paths space-separated ``"[1/id.npy 1/vec.npy]"``;
    * Milvus 2.3/2.4 (milvus.io Get Progress example): the ImportFile proto as text,
      ``'id:448761313698322012 paths:"a6fb2d1c-.../1.parquet" '``;
    * Zilliz Cloud v2 (getProgress example): the basename, ``"medium_articles_2020_dpr.json"``;
    * Zilliz Cloud v1 (seed 002): the object path, ``"1af78216-.../1.parquet"``; an object URL.
    """
    text = str(name or "").strip()
    if not text:
        return []
    if text.startswith("id:") or 'paths:"' in text:
        return [p.replace('\\"', '"') for p in _MILVUS_PROTO_PATH.findall(text)]
    if text.startswith("[") and text.endswith("]"):
        return text[1:-1].split()
    return [text]


@dataclass(frozen=True)
class FileMatch:
    """How a job's reported files compare with the wanted ones."""

    equal: bool
    #: the service reported basenames only (Zilliz Cloud v2 getProgress) while the wanted files
    #: have folders: equal basenames do not prove the job reads these objects (a sibling task's
    #: ``other/part-00000.parquet`` looks the same), so such a match is never adopted
    basename_only: bool = False

    @property
    def proven(self) -> bool:
        """Equal on the full object path of every file (as precise as the service reports)."""
        return self.equal and not self.basename_only


def match_file_sets(reported: Sequence[str], wanted: Sequence[str]) -> FileMatch:
    """Is the set of files a job reads EQUAL to the wanted set? (multisets; subset is not enough).

    ``reported``: ``fileName`` values in any documented format; ``wanted``: object URLs or keys.
    Compared at the precision the service reports: with the bucket where it reports one (an object
    URL), by the full object path where it reports a path (Milvus ``[a/1.parquet]``, Zilliz Cloud v1
    ``<folder>/1.parquet``), by basename where only basenames are reported (Zilliz Cloud v2): then
    ``basename_only`` says the equality proves nothing (see :attr:`FileMatch.proven`)."""
    have = [split_object_url(p) for name in reported for p in parse_reported_file_name(name)]
    want = [split_object_url(str(w)) for w in wanted if str(w).strip()]
    if not have or not want or len(have) != len(want):
        return FileMatch(False, False)
    if all(bucket for bucket, _ in have):
        return FileMatch(Counter(have) == Counter(want))
    want_keys = Counter(key.strip("/") for _, key in want)
    if all(bucket is None and "/" not in key.strip("/") for bucket, key in have) and any(
        "/" in key for key in want_keys
    ):
        basenames = Counter(key.rstrip("/").rsplit("/", 1)[-1] for _, key in want)
        return FileMatch(Counter(key.strip("/") for _, key in have) == basenames, basename_only=True)
    return FileMatch(Counter(key.strip("/") for _, key in have) == want_keys)


def job_file_names(job: ImportJob) -> list[str]:
    """The ``fileName`` values a progress payload reported (details, else the top level)."""
    names = [f.name for f in job.files if f.name]
    if not names and job.raw.get("fileName"):
        names = [str(job.raw["fileName"])]
    return names


def job_matches_files(job: ImportJob, wanted: Sequence[str]) -> bool:
    """Does ``job`` report exactly the ``wanted`` files? (see :func:`match_file_sets`; equal
    basenames count here, use :func:`proven_match` to decide whether a job is this task's)"""
    return match_file_sets(job_file_names(job), wanted).equal


def proven_match(job: ImportJob, wanted: Sequence[str]) -> bool:
    """Does ``job`` provably read exactly the ``wanted`` objects: every file, on its full path
    (never on basenames alone)?"""
    return match_file_sets(job_file_names(job), wanted).proven


class AmbiguousJobError(ServiceError):
    """It cannot be proven whether a job of this task exists: never guess, never import twice."""

    def __init__(self, message: str, *, job_ids: Sequence[str] = ()) -> None:
        self.job_ids = list(job_ids)
        super().__init__(message, service="zilliz")


def create_call_files(call: ApiCall) -> list[str]:
    """The files a create request names (``files`` / ``objectUrls`` / ``objectUrl``), flattened."""
    body = call.json or {}
    if body.get("files"):
        return [f for group in body["files"] for f in group]
    if body.get("objectUrls"):
        return [u for group in body["objectUrls"] for u in group]
    return [body["objectUrl"]] if body.get("objectUrl") else []


def _epoch(value: Any) -> float | None:
    """A service time (ISO-8601, epoch seconds or ms) as epoch seconds; None when absent/garbled."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float) or str(value).isdigit():
        number = float(value)
        return number / 1000.0 if number > 1e11 else number
    from datetime import UTC, datetime

    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _backoff(policy: RetryPolicy, attempt: int, retry_after: float | None) -> float:
    if retry_after is not None:
        return min(float(retry_after), policy.retry_after_max)
    return min(policy.backoff_max, policy.backoff_initial * (2 ** (attempt - 1)))


def _describe_missing(config: ZillizConfig, exc: NotFoundError) -> bool:
    """Milvus before /describe answers 404 for the route itself: then ask /get_progress."""
    return config.flavour == "milvus" and (exc.http_status == 404 or "no route" in str(exc).lower())


def console_url(config: ZillizConfig, job_id: str) -> str:
    """Where a human looks at the job: the Zilliz Cloud console (template overridable with the
    ``console_url_template`` extra, placeholders ``{cluster_id} {job_id} {project_id} {base_url}``;
    ``{project_id}`` comes from the ``console_project_id`` extra, never from the request options).

    A self-hosted Milvus has no console of its own: without a template (an Attu page, say) there is
    no link (``""``). Its REST endpoint is no page for a human: opened in a browser it answers 401 or
    405 to a GET, which is what the earlier default link showed a new user."""
    template = config.console_url_template
    if not template:
        if config.flavour == "milvus":
            return ""
        template = config.console_base + "/clusters/{cluster_id}/import?jobId={job_id}"
    return template.format(
        cluster_id=quote(config.cluster_id or ""),
        job_id=quote(str(job_id)),
        project_id=quote(config.console_project_id or ""),
        base_url=config.base_url,
    )
