"""Hook for bulk import on Zilliz Cloud (v2 and v1 controller APIs) and self-hosted Milvus (REST v2).

The hook only moves bytes: what to send and how to read the answers (configuration, request
builders, response parsers, file matching) is the pure
:mod:`airflow_provider_vectorimport.protocols.zilliz`, re-exported here for existing imports. The
transport is the shared HTTP core: sync (``requests``) in workers, async (``aiohttp``) in triggers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_vectorimport.exceptions import (
    ConfigurationError,
    NotFoundError,
    RetryableServiceError,
    ServiceError,
    TransportError,
)
from airflow_provider_vectorimport.http import (
    AsyncHttpClient,
    HttpClient,
    RetryPolicy,
    request_not_processed,
)
from airflow_provider_vectorimport.models import ImportJob, JobState
from airflow_provider_vectorimport.protocols.zilliz import (
    FLAVOURS,
    AmbiguousJobError,
    ApiCall,
    FileMatch,
    ZillizConfig,
    _backoff,
    _describe_missing,
    _epoch,
    _extra,
    build_abort_call,
    build_commit_call,
    build_create_call,
    build_get_call,
    build_list_call,
    check_zilliz_response,
    config_from_connection,
    console_url,
    create_call_files,
    job_file_names,
    job_matches_files,
    make_checker,
    map_state,
    match_file_sets,
    milvus_file_groups,
    next_list_page,
    parse_import_job,
    parse_job_id,
    parse_job_list,
    parse_reported_file_name,
    split_object_url,
)
from airflow_provider_vectorimport.utils import (
    QuietExtrasMixin,
    aconnection_extra,
    amask_secrets,
    connection_extra,
    mask_secrets,
    quiet_short_extra_masking,
)

__all__ = [
    "FLAVOURS",
    "AmbiguousJobError",
    "ApiCall",
    "FileMatch",
    "ZillizConfig",
    "ZillizHook",
    "build_abort_call",
    "build_commit_call",
    "build_create_call",
    "build_get_call",
    "build_list_call",
    "check_zilliz_response",
    "config_from_connection",
    "console_url",
    "create_call_files",
    "job_file_names",
    "job_matches_files",
    "make_checker",
    "map_state",
    "match_file_sets",
    "milvus_file_groups",
    "next_list_page",
    "parse_import_job",
    "parse_job_id",
    "parse_job_list",
    "parse_reported_file_name",
    "split_object_url",
]

log = logging.getLogger(__name__)


class ZillizHook(QuietExtrasMixin, BaseHook):
    """Bulk import on Zilliz Cloud (``v2``, ``v1``) and self-hosted Milvus (``milvus``).

    Connection (type ``zilliz``): password = API key (``v1``/``milvus``: with a login,
    ``login:password``); host = base URL (optional for Zilliz Cloud); extras ``api_flavour``
    (v2 | v1 | milvus), ``cluster_id``, ``cloud_region`` (v1), ``china``, ``scheme``, ``db_name``,
    ``project_id`` + ``region_id`` (v2, together), ``console_project_id`` and
    ``console_url_template`` (the link only), ``storage_conn_id``, ``milvus_bucket``,
    ``idempotency_key_supported`` (Milvus >= 2.6.24), retry settings (``max_attempts``,
    ``backoff_initial``, ``backoff_max``, ``connect_timeout``, ``read_timeout``/``timeout``).
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
            config = config_from_connection(conn, connection_extra(conn))
            mask_secrets(config.token, conn.password)
            self._config = self._finish_config(config)
        return self._config

    async def aget_config(self) -> ZillizConfig:
        """The configuration, loaded without blocking the event loop (for triggers)."""
        if self._config is None:
            from airflow.providers.common.compat.connection import get_async_connection

            with quiet_short_extra_masking():
                conn = await get_async_connection(self.zilliz_conn_id, hook=self)
            extra = await aconnection_extra(conn)
            config = self._finish_config(config_from_connection(conn, extra))
            await amask_secrets(config.token, conn.password)  # without blocking the event loop
            self._config = config
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
            checker=make_checker(config.flavour),
            headers={"Authorization": f"Bearer {config.token}"},
            policy=config.policy,
        )

    def get_conn(self) -> HttpClient:
        if self._client is None:
            self._client = HttpClient(**self._client_kwargs(self.config))
        return self._client

    def _call(self, call: ApiCall, *, retry_unsent_only: bool = False) -> Any:
        return self.get_conn().request(
            call.method,
            call.path,
            json=call.json,
            params=call.params,
            headers=call.headers,
            retry_unsent_only=retry_unsent_only,
        )

    async def _acall(self, config: ZillizConfig, call: ApiCall) -> Any:
        # one client per hook; its HTTP session is the event loop's pooled one for the endpoint
        client = getattr(self, "_aclient", None)
        if client is None:
            client = self._aclient = AsyncHttpClient(**self._client_kwargs(config))
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
        known_job_ids: Collection[str] | None = None,
    ) -> str:
        """Create a bulk import job and return its id, never two.

        The create call is not safe to repeat (Zilliz Cloud and Milvus before 2.6.24 ignore
        ``Idempotency-Key``). It is retried blindly only where the request provably was not
        processed (connection refused, connect timeout, 429). After an ambiguous failure (reset
        after sending, read timeout, 5xx) the job list is searched, all pages, for a job that was
        not in ``known_job_ids`` (ids listed before the first attempt; listed here when None) and
        reads exactly these files: that job is returned instead of sending again; two such jobs,
        or a failing list, raise :class:`AmbiguousJobError`. With the ``idempotency_key_supported``
        extra (Milvus >= 2.6.24) the request is simply resent with the same key.

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
        config = self.config
        if config.idempotency_supported and idempotency_key:
            # the server deduplicates by key: resending the same request is safe
            return parse_job_id(self._call(call))
        if known_job_ids is None:
            known_job_ids = self.job_ids_snapshot(collection_name)
        wanted = create_call_files(call)
        policy = config.policy
        attempts = max(1, policy.max_attempts)
        for attempt in range(1, attempts + 1):
            try:
                return parse_job_id(self._call(call, retry_unsent_only=True))
            except (TransportError, RetryableServiceError) as exc:
                if request_not_processed(exc):
                    raise  # never processed, and the HTTP core already retried it: nothing to look for
                log.warning(
                    "create import job into %s: %s (attempt %d/%d); the request may have reached "
                    "the service: looking for a job it created before sending again",
                    collection_name,
                    exc,
                    attempt,
                    attempts,
                )
                if attempt < attempts:
                    time.sleep(_backoff(policy, attempt, getattr(exc, "retry_after", None)))
                try:
                    found = self.find_matching_jobs(collection_name, wanted, known_job_ids=known_job_ids)
                except AmbiguousJobError as ambiguous:
                    raise ambiguous from exc  # a candidate that cannot be told apart: named, not sent again
                except (TransportError, ServiceError) as list_exc:
                    raise AmbiguousJobError(
                        f"the create call into {collection_name!r} failed ambiguously ({exc}) and the "
                        f"check for a job it created anyway failed too ({list_exc}); not sending it "
                        "again, to avoid a duplicate import. Look at the service's job list; a retry "
                        "of the task checks again."
                    ) from exc
                if len(found) > 1:
                    raise AmbiguousJobError(
                        f"after an ambiguous create failure ({exc}), {len(found)} new jobs read exactly "
                        f"these files into {collection_name!r}: {', '.join(j.job_id for j in found)}; "
                        "refusing to guess which is this task's",
                        job_ids=[j.job_id for j in found],
                    ) from exc
                if found:
                    log.warning(
                        "the failed create did create job %s: using it instead of sending again",
                        found[0].job_id,
                    )
                    return found[0].job_id
                if attempt >= attempts:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

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
        """Jobs known to the service (ONE page), optionally only those of ``collection_name``."""
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

    def list_all_import_jobs(
        self, collection_name: str | None = None, *, page_size: int = 100, max_pages: int = 1000
    ) -> list[ImportJob]:
        """Every job the list API knows (all pages), optionally only those of ``collection_name``."""
        config = self.config
        jobs: list[ImportJob] = []
        page: int | None = 1
        pages = 0
        while page is not None:
            pages += 1
            if pages > max_pages:
                raise ServiceError(f"the job list has more than {max_pages} pages", service="zilliz")
            data = self._call(
                build_list_call(
                    config, collection_name=collection_name, page_size=page_size, current_page=page
                )
            )
            batch = parse_job_list(config.flavour, data)
            jobs.extend(batch)
            page = next_list_page(config.flavour, data, page, page_size, len(batch))
        seen: set[str] = set()
        unique = [j for j in jobs if not (j.job_id in seen or seen.add(j.job_id))]  # type: ignore[func-returns-value]
        if collection_name:
            unique = [j for j in unique if j.collection_name == collection_name]
        return unique

    def job_ids_snapshot(self, collection_name: str) -> list[str]:
        """Ids of every job of ``collection_name`` the service knows now: taken before a create, it
        proves later that a job was created after this point (no flavour documents a create time)."""
        return sorted(j.job_id for j in self.list_all_import_jobs(collection_name))

    def find_matching_jobs(
        self,
        collection_name: str,
        wanted: Sequence[str],
        *,
        known_job_ids: Collection[str] | None,
        created_after: float | None = None,
        details_wait: float = 15.0,
    ) -> list[ImportJob]:
        """Non-failed jobs of ``collection_name`` (the connection's db) that read EXACTLY ``wanted``
        (every file, on its full object path) and were not in ``known_job_ids`` (taken before this
        task first created). Running first, then newest first (by the service's create time where
        it reports one, else list order).

        Without a snapshot (``known_job_ids=None``) nothing proves a job is new: a file-equal
        candidate then raises :class:`AmbiguousJobError` naming it, unless the service reports a
        create time at/after ``created_after``. A job whose files are equal by basename only (Zilliz
        Cloud v2 reports no folders) is never taken: it may be a sibling task's job reading
        ``other/part-00000.parquet``, so it raises :class:`AmbiguousJobError` naming it (unless
        the connection's ``unique_basenames`` extra promises that names are unique)."""
        known = set(known_job_ids) if known_job_ids is not None else None
        matches: list[tuple[int, ImportJob]] = []
        unproven: list[str] = []
        by_basename: list[str] = []
        for order, listed in enumerate(self.list_all_import_jobs(collection_name)):
            if listed.state is JobState.FAILED or (known is not None and listed.job_id in known):
                continue
            job = self._described_with_files(listed.job_id, details_wait)
            if job.state is JobState.FAILED:
                continue
            if not job_file_names(job):
                unproven.append(job.job_id)  # no file list yet: cannot tell whose it is
                continue
            if job.collection_name and job.collection_name != collection_name:
                continue
            match = match_file_sets(job_file_names(job), wanted)
            if not match.equal:
                continue
            if match.basename_only and not self.config.unique_basenames:
                by_basename.append(job.job_id)  # same names, maybe other folders: never proof
                continue
            if known is None:
                created = _epoch(job.create_time)
                if created is None or created_after is None or created < created_after:
                    unproven.append(job.job_id)
                    continue
            matches.append((order, job))
        if by_basename:
            names = sorted({str(w).rstrip("/").rsplit("/", 1)[-1] for w in wanted})
            raise AmbiguousJobError(
                f"job(s) {', '.join(by_basename)} of {collection_name!r} read files named "
                f"{', '.join(names)}, but the service reports only each file's basename, not its "
                "folder or bucket, so they may be another task's job reading files of the same name "
                "under another prefix (mapped shards' part-00000.parquet). Not adopting it, and not "
                "sending the create again: check the job(s); if one is this task's, mark the task "
                "done, else pass resubmit=True. With file names unique to each import, set the connection "
                "extra unique_basenames=true and such a job is taken as this task's.",
                job_ids=by_basename + unproven,
            )
        if unproven:
            raise AmbiguousJobError(
                f"job(s) {', '.join(unproven)} may read these files into {collection_name!r} (same "
                "files, or no file list reported yet), and nothing proves whether one of them is this "
                "task's (no record of its first try, and the service reports no create time). Check "
                "them; pass resubmit=True to import again anyway, or wait for them and mark the task done.",
                job_ids=unproven,
            )
        matches.sort(
            key=lambda m: (
                m[1].state is not JobState.RUNNING and m[1].state is not JobState.PENDING,
                -(_epoch(m[1].create_time) or 0.0),
                m[0],
            )
        )
        return [job for _, job in matches]

    def _described_with_files(self, job_id: str, wait: float) -> ImportJob:
        """The job's progress, waiting up to ``wait`` seconds for a new job to report its files
        (Milvus lists per-file details only once its import tasks exist)."""
        deadline = time.monotonic() + wait
        while True:
            job = self.get_import_job(job_id)
            if job_file_names(job) or job.is_terminal or time.monotonic() >= deadline:
                return job
            time.sleep(min(0.5, max(0.05, self.config.policy.backoff_initial)))

    def abort_import_job(self, job_id: str) -> None:
        """Stop a running import job (Milvus; Zilliz Cloud v2 through the same endpoint)."""
        self._call(build_abort_call(self.config, job_id))

    def commit_import_job(self, job_id: str) -> None:
        """Commit a Milvus job created with ``options={"auto_commit": "false"}`` (state Uncommitted)."""
        self._call(build_commit_call(self.config, job_id))

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
        """The UI's Test button: list one import job; says which setting is wrong
        (:mod:`~airflow_provider_vectorimport.connection_check`)."""
        from airflow_provider_vectorimport.connection_check import run_connection_test

        def hints() -> dict[str, str]:
            config = self.config
            if config.flavour == "milvus":
                return {
                    "credentials": "the token (password: user:password or an API key)",
                    "locator": "the host and the db_name extra",
                    "endpoint": config.base_url,
                }
            return {
                "credentials": "the API key (password)",
                "locator": "the cluster_id extra and that the host is the cluster's region (or project)",
                "endpoint": config.base_url,
            }

        return run_connection_test(lambda: self.list_import_jobs(page_size=1), hints)

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
