"""Hook for bulk import on Zilliz Cloud (v2 and v1 controller APIs) and self-hosted Milvus (REST v2).

The three API flavours share one request builder and one response parser; only the transport
differs between the sync (``requests``) and async (``aiohttp``, for triggers) calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
)
from airflow_provider_vectorimport.http import AsyncHttpClient, HttpClient, RetryPolicy
from airflow_provider_vectorimport.models import FileDetail, ImportJob, JobState, parse_progress, to_int
from airflow_provider_vectorimport.utils import (
    QuietExtrasMixin,
    aconnection_extra,
    connection_extra,
    mask_secrets,
    normalize_file_groups,
    quiet_short_extra_masking,
)

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
}


def map_state(raw: Any) -> JobState:
    """Normalize any flavour's job state; unknown states count as running (never terminal)."""
    if raw is None:
        return JobState.PENDING
    return _STATE_MAP.get(str(raw).replace("_", "").replace(" ", "").lower(), JobState.RUNNING)


def check_zilliz_response(status: int, body: Any, headers: Mapping[str, str]) -> Any:
    """The body ``code`` is authoritative: 0 or 200 is success, anything else is an error (even
    with HTTP 200). Returns ``data``."""
    if not isinstance(body, dict):
        raise ServiceError(f"unexpected response body: {body!r:.200}", service="zilliz", http_status=status)
    code = body.get("code")
    try:
        code_int = int(code) if code is not None else (0 if status < 400 else status)
    except (TypeError, ValueError):
        code_int = -1
    if code_int in (0, 200) and status < 400:
        return body.get("data")
    message = str(body.get("message") or body.get("msg") or body.get("reason") or f"HTTP {status}")
    kwargs: dict[str, Any] = dict(
        service="zilliz", code=code if code is not None else status, http_status=status
    )
    kwargs["payload"] = body
    lowered = message.lower()
    if code_int in _AUTH_CODES or status == 401:
        raise AuthenticationError(message, **kwargs)
    if code_int in _PERMISSION_CODES or status == 403:
        raise PermissionDeniedError(message, **kwargs)
    if code_int in _RETRYABLE_CODES or "rate limit" in lowered:
        raise RetryableServiceError(message, **kwargs)
    if code_int in _NOT_FOUND_CODES or status == 404 or "not found" in lowered or "not exist" in lowered:
        raise NotFoundError(message, **kwargs)
    raise InvalidRequestError(message, **kwargs)


@dataclass(frozen=True)
class ZillizConfig:
    """Everything resolved from the connection (shared by the sync and async paths)."""

    flavour: str
    base_url: str
    token: str = field(repr=False)
    cluster_id: str | None = None
    db_name: str | None = None
    project_id: str | None = None
    storage_conn_id: str | None = None
    china: bool = False
    console_url_template: str | None = None
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
    token = f"{conn.login}:{password}" if conn.login else password
    if not token:
        raise ConfigurationError(f"connection {conn.conn_id!r}: no API key / token (password) set")
    mask_secrets(token, password)
    cluster_id = _extra(extra, "cluster_id")
    if flavour in ("v1", "v2") and not cluster_id:
        raise ConfigurationError(f"connection {conn.conn_id!r}: the {flavour} API needs a cluster_id")
    return ZillizConfig(
        flavour=flavour,
        base_url=base_url,
        token=token,
        cluster_id=cluster_id,
        db_name=_extra(extra, "db_name"),
        project_id=_extra(extra, "project_id"),
        storage_conn_id=_extra(extra, "storage_conn_id"),
        china=china,
        console_url_template=_extra(extra, "console_url_template"),
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
        groups = normalize_file_groups(files) if files else normalize_file_groups(object_urls or [object_url])
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
            body["options"] = {k: str(v) for k, v in options.items()}
        return ApiCall("POST", "/v2/vectordb/jobs/import/create", json=body, headers=headers)

    if files:
        raise ConfigurationError(
            "files= is the self-hosted Milvus form; Zilliz Cloud takes object_url / object_urls "
            "(use the 'milvus' api_flavour for a Milvus cluster endpoint)"
        )
    if config.flavour == "v1":
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
        body["objectUrls"] = normalize_file_groups(object_urls)
    else:
        body["objectUrl"] = object_url
    if partition_name:
        body["partitionName"] = partition_name
    if db:
        body["dbName"] = db
    if config.project_id:
        body["projectId"] = config.project_id
    if creds.get("access_key"):
        body["accessKey"] = creds["access_key"]
    if creds.get("secret_key"):
        body["secretKey"] = creds["secret_key"]
    if creds.get("session_token"):
        body["token"] = creds["session_token"]
    if options:
        body["options"] = dict(options)
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
    """Milvus ``/jobs/import/abort``; Zilliz Cloud documents no way to cancel an import job."""
    if config.flavour != "milvus":
        raise ConfigurationError(f"the {config.flavour} API has no documented way to cancel an import job")
    call = build_get_call(config, job_id)
    return ApiCall("POST", "/v2/vectordb/jobs/import/abort", json=call.json, headers=call.headers)


def build_list_call(
    config: ZillizConfig,
    *,
    collection_name: str | None = None,
    page_size: int = 100,
    current_page: int = 1,
) -> ApiCall:
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
    return ImportJob(
        job_id=str(_first(data, "jobId", "jobID", "job_id") or job_id or ""),
        state=state,
        progress=progress,
        imported_rows=to_int(_first(data, "importedRows", "imported_rows")),
        total_rows=to_int(_first(data, "totalRows", "total_rows")),
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


def job_matches_files(job: ImportJob, wanted: Sequence[str]) -> bool:
    """Does an existing job read the same files? Compares object keys, ignoring scheme and bucket
    prefixes the services may or may not echo back."""

    def norm(name: str) -> str:
        path = urlsplit(name).path if "://" in name else name
        return path.strip("/")

    have = {norm(f.name) for f in job.files if f.name}
    if not have and job.raw.get("fileName"):
        have = {norm(str(job.raw["fileName"]))}
    want = {norm(w) for w in wanted}
    if not have or not want:
        return False
    return all(any(h == w or h.endswith("/" + w) or w.endswith("/" + h) for h in have) for w in want)


def _describe_missing(config: ZillizConfig, exc: NotFoundError) -> bool:
    """Milvus before /describe answers 404 for the route itself: then ask /get_progress."""
    return config.flavour == "milvus" and (exc.http_status == 404 or "no route" in str(exc).lower())


# ----------------------------------------------------------------------------- the hook


class ZillizHook(QuietExtrasMixin, BaseHook):
    """Bulk import on Zilliz Cloud (``v2``, ``v1``) and self-hosted Milvus (``milvus``).

    Connection (type ``zilliz``): password = API key (or ``login``/``password`` for Milvus user auth);
    host = base URL (optional for Zilliz Cloud); extras ``api_flavour`` (v2 | v1 | milvus),
    ``cloud_region`` (v1), ``china``, ``cluster_id``, ``db_name``, ``project_id``, ``storage_conn_id``,
    retry settings (``max_attempts``, ``backoff_initial``, ``timeout``).
    """

    conn_name_attr = "zilliz_conn_id"
    default_conn_name = "zilliz_default"
    conn_type = "zilliz"
    hook_name = "Zilliz Cloud / Milvus"

    def __init__(
        self, zilliz_conn_id: str = default_conn_name, *, retry_policy: RetryPolicy | None = None
    ) -> None:
        super().__init__()
        self.zilliz_conn_id = zilliz_conn_id
        self._retry_policy = retry_policy
        self._config: ZillizConfig | None = None
        self._client: HttpClient | None = None

    # -- configuration
    @property
    def config(self) -> ZillizConfig:
        if self._config is None:
            conn = self.get_connection(self.zilliz_conn_id)
            self._config = self._finish_config(config_from_connection(conn, connection_extra(conn)))
        return self._config

    async def aget_config(self) -> ZillizConfig:
        """The configuration, loaded without blocking the event loop (for triggers)."""
        if self._config is None:
            from airflow.providers.common.compat.connection import get_async_connection

            with quiet_short_extra_masking():
                conn = await get_async_connection(self.zilliz_conn_id, hook=self)
            extra = await aconnection_extra(conn)
            self._config = self._finish_config(config_from_connection(conn, extra))
        return self._config

    def _finish_config(self, config: ZillizConfig) -> ZillizConfig:
        if self._retry_policy is not None:
            from dataclasses import replace

            config = replace(config, policy=self._retry_policy)
        return config

    @property
    def flavour(self) -> str:
        return self.config.flavour

    def _client_kwargs(self, config: ZillizConfig) -> dict[str, Any]:
        return dict(
            service="zilliz" if config.flavour != "milvus" else "milvus",
            base_url=config.base_url,
            checker=check_zilliz_response,
            headers={"Authorization": f"Bearer {config.token}"},
            policy=config.policy,
        )

    def get_conn(self) -> HttpClient:
        if self._client is None:
            self._client = HttpClient(**self._client_kwargs(self.config))
        return self._client

    def _call(self, call: ApiCall) -> Any:
        return self.get_conn().request(
            call.method, call.path, json=call.json, params=call.params, headers=call.headers
        )

    async def _acall(self, config: ZillizConfig, call: ApiCall) -> Any:
        async with AsyncHttpClient(**self._client_kwargs(config)) as client:
            return await client.request(
                call.method, call.path, json=call.json, params=call.params, headers=call.headers
            )

    # -- sync API
    def create_import_job(
        self,
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
    ) -> str:
        """Create a bulk import job and return its id.

        ``files`` (Milvus: object keys, grouped ``[[...], ...]``) or ``object_url``/``object_urls``
        (Zilliz Cloud). ``storage_credentials`` (``access_key``, ``secret_key``, ``session_token``)
        let Zilliz Cloud read the bucket; take them from a connection, never from plain arguments.
        """
        call = build_create_call(
            self.config,
            collection_name,
            files=files,
            object_url=object_url,
            object_urls=object_urls,
            partition_name=partition_name,
            db_name=db_name,
            options=options,
            idempotency_key=idempotency_key,
            storage_credentials=storage_credentials,
        )
        return parse_job_id(self._call(call))

    def get_import_job(self, job_id: str) -> ImportJob:
        """Current state of a job, normalized. Milvus: ``/describe``, falling back to ``/get_progress``."""
        config = self.config
        try:
            data = self._call(build_get_call(config, job_id))
        except NotFoundError as exc:
            if not _describe_missing(config, exc):
                raise
            data = self._call(build_get_call(config, job_id, describe=False))
        return parse_import_job(config.flavour, data, job_id)

    def list_import_jobs(
        self, collection_name: str | None = None, *, page_size: int = 100, current_page: int = 1
    ) -> list[ImportJob]:
        """Jobs known to the service (one page), optionally only those of ``collection_name``."""
        config = self.config
        data = self._call(
            build_list_call(
                config, collection_name=collection_name, page_size=page_size, current_page=current_page
            )
        )
        jobs = parse_job_list(config.flavour, data)
        if collection_name:
            jobs = [j for j in jobs if not j.collection_name or j.collection_name == collection_name]
        return jobs

    def abort_import_job(self, job_id: str) -> None:
        """Stop a running Milvus import job (what it inserted is discarded). Milvus flavour only."""
        self._call(build_abort_call(self.config, job_id))

    def find_existing_job(
        self, collection_name: str, files: Sequence[str], *, max_candidates: int = 20
    ) -> ImportJob | None:
        """A non-failed job for the same collection reading the same files (newest first), for
        reattaching on retries where the server ignores ``Idempotency-Key``."""
        candidates = [j for j in self.list_import_jobs(collection_name) if j.state is not JobState.FAILED]
        candidates.sort(key=lambda j: j.job_id, reverse=True)
        for candidate in candidates[:max_candidates]:
            job = self.get_import_job(candidate.job_id)
            if job.state is not JobState.FAILED and job_matches_files(job, files):
                return job
        return None

    def console_url(self, job_id: str) -> str:
        config = self.config
        return console_url(config, job_id)

    # -- async API (triggers)
    async def aget_import_job(self, job_id: str) -> ImportJob:
        config = await self.aget_config()
        try:
            data = await self._acall(config, build_get_call(config, job_id))
        except NotFoundError as exc:
            if not _describe_missing(config, exc):
                raise
            data = await self._acall(config, build_get_call(config, job_id, describe=False))
        return parse_import_job(config.flavour, data, job_id)

    async def alist_import_jobs(
        self, collection_name: str | None = None, *, page_size: int = 100, current_page: int = 1
    ) -> list[ImportJob]:
        config = await self.aget_config()
        data = await self._acall(
            config,
            build_list_call(
                config, collection_name=collection_name, page_size=page_size, current_page=current_page
            ),
        )
        return parse_job_list(config.flavour, data)

    def test_connection(self) -> tuple[bool, str]:
        try:
            self.list_import_jobs(page_size=1)
        except Exception as exc:
            return False, str(exc)
        return True, "Connection successfully tested"

    def describe_collection(self, collection_name: str, *, db_name: str | None = None) -> Any:
        """``POST /v2/vectordb/collections/describe`` on the cluster: Milvus at the connection's host;
        Zilliz Cloud at the ``cluster_endpoint`` extra (the API key is accepted there too)."""
        config = self.config
        url = "/v2/vectordb/collections/describe"
        if config.flavour != "milvus":
            extra = connection_extra(self.get_connection(self.zilliz_conn_id))
            endpoint = str(_extra(extra, "cluster_endpoint", "")).rstrip("/")
            if not endpoint:
                raise ConfigurationError(
                    f"connection {self.zilliz_conn_id!r}: reading a Zilliz Cloud collection's schema needs "
                    "the cluster_endpoint extra (e.g. https://in01-xxx.api.gcp-us-west1.zillizcloud.com)"
                )
            url = f"{endpoint if '://' in endpoint else 'https://' + endpoint}{url}"
        body = {"collectionName": collection_name, "dbName": db_name or config.db_name or "default"}
        return self._call(ApiCall("POST", url, json=body))


def console_url(config: ZillizConfig, job_id: str) -> str:
    """Where a human looks at the job: the Zilliz Cloud console (template overridable with the
    ``console_url_template`` extra, placeholders ``{cluster_id} {job_id} {project_id} {base_url}``)."""
    template = config.console_url_template
    if not template:
        if config.flavour == "milvus":
            template = "{base_url}/v2/vectordb/jobs/import/describe#jobId={job_id}"
        else:
            template = config.console_base + "/clusters/{cluster_id}/import?jobId={job_id}"
    return template.format(
        cluster_id=quote(config.cluster_id or ""),
        job_id=quote(str(job_id)),
        project_id=quote(config.project_id or ""),
        base_url=config.base_url,
    )
