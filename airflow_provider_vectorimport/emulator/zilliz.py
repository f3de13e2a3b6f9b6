"""Zilliz Cloud (v1 controller, v2 control plane) and Milvus REST v2 on one loopback server.

Zilliz Cloud v2 and Milvus share ``/v2/vectordb/jobs/import/*`` (pymilvus' ``bulk_import`` uses the
same paths for both): a request carrying a non-empty ``clusterId`` is a Zilliz Cloud request, one
without is a Milvus request. Errors the services report as "HTTP 200 + error code" are answered
that way here too. Secrets from requests (object-store keys, tokens) are never stored nor logged.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_vectorimport.emulator.collections import (
    CollectionExists,
    CollectionNotFound,
    CollectionStore,
)
from airflow_provider_vectorimport.emulator.core import Request, Response
from airflow_provider_vectorimport.emulator.jobs import Job, JobEngine
from airflow_provider_vectorimport.emulator.schema import (
    CollectionSchema,
    RowError,
    SchemaError,
    validate_row,
)
from airflow_provider_vectorimport.emulator.storage import parse_object_url

log = logging.getLogger(__name__)

MAX_FILE_GROUPS = 1024

# error codes (service-apis.md)
MILVUS_AUTH = 1800  # "user hasn't authenticated" (answered with HTTP 401)
MILVUS_PARAM = 1100  # invalid parameter
MILVUS_COLLECTION_NOT_FOUND = 100
MILVUS_PARTITION_NOT_FOUND = 200
MILVUS_COLLECTION_EXISTS = 65535
ZILLIZ_V2_BAD_KEY = 21119  # "The apikey is illegal."
ZILLIZ_V1_BAD_TOKEN = 80001
ZILLIZ_BAD_PARAM = 80000
ZILLIZ_CLUSTER_NOT_FOUND = 90102
ZILLIZ_JOB_NOT_FOUND = 90144

V1_STATES = {"Completed": "ImportCompleted", "Failed": "ImportFailed"}


class _Err(Exception):
    def __init__(self, code: int, message: str, status: int = 200) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _zilliz_state(state: str) -> str:
    return state if state in {"Pending", "Completed", "Failed", "Uncommitted", "Committing"} else "Importing"


_GO_DURATION = re.compile(r"^[+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$")


def _import_options(params: Mapping[str, Any], code: int) -> dict[str, str]:
    """``options`` as Milvus binds it: ``map[string]string`` (a JSON boolean or number does not
    bind), ``auto_commit`` one of "true"/"false" (milvus#50460), ``timeout`` a Go duration
    (``importutilv2/option.go``: "such as "300s", "1.5h" or "1h45m"")."""
    options = params.get("options")
    if options in (None, {}):
        return {}
    if not isinstance(options, dict) or not all(isinstance(v, str) for v in options.values()):
        raise _Err(code, f"options must be a map of strings, got {json.dumps(options)[:200]}")
    if "auto_commit" in options and options["auto_commit"].lower() not in ("true", "false"):
        raise _Err(code, 'options.auto_commit must be one of "true" or "false"')
    if "timeout" in options and not _GO_DURATION.match(options["timeout"]):
        raise _Err(
            code,
            f'parse timeout failed: time: missing unit in duration "{options["timeout"]}" '
            '(such as "300s", "1.5h" or "1h45m")',
        )
    return options


class ZillizMilvusService:
    """The ``Service`` for Zilliz Cloud v1/v2 and Milvus REST v2 (import jobs, collections, entities)."""

    def __init__(
        self,
        engine: JobEngine,
        collections: CollectionStore,
        *,
        api_key: str,
        milvus_bucket: str,
        s3_hosts: Callable[[], tuple[str, ...]] = tuple,
        milvus_tokens: tuple[str, ...] = ("root:Milvus",),
        cluster_ids: tuple[str, ...] = ("in01-emulator",),
    ) -> None:
        self.engine = engine
        self.collections = collections
        self.api_key = api_key
        self.milvus_bucket = milvus_bucket
        self.s3_hosts = s3_hosts
        self.milvus_tokens = milvus_tokens
        self.cluster_ids = cluster_ids
        self._routes: dict[str, Callable[[Request, dict[str, Any]], Any]] = {
            "/v2/vectordb/jobs/import/create": self._v2_create,
            "/v2/vectordb/jobs/import/getProgress": self._v2_progress,
            "/v2/vectordb/jobs/import/get_progress": self._v2_progress,
            "/v2/vectordb/jobs/import/describe": self._v2_progress,
            "/v2/vectordb/jobs/import/abort": self._abort,
            "/v2/vectordb/jobs/import/commit": self._commit,
            "/v2/vectordb/jobs/import/list": self._v2_list,
            "/v1/vector/collections/import": self._v1_create,
            "/v1/vector/collections/import/create": self._v1_create,
            "/v1/vector/collections/import/get": self._v1_get,
            "/v1/vector/collections/import/list": self._v1_list,
            "/v2/vectordb/collections/create": self._coll_create,
            "/v2/vectordb/collections/describe": self._coll_describe,
            "/v2/vectordb/collections/list": self._coll_list,
            "/v2/vectordb/collections/drop": self._coll_drop,
            "/v2/vectordb/collections/has": self._coll_has,
            "/v2/vectordb/collections/get_stats": self._coll_stats,
            "/v2/vectordb/partitions/create": self._part_create,
            "/v2/vectordb/partitions/list": self._part_list,
            "/v2/vectordb/partitions/has": self._part_has,
            "/v2/vectordb/entities/search": self._search,
            "/v2/vectordb/entities/query": self._query,
            "/v2/vectordb/entities/insert": self._insert,
        }
        from airflow_provider_vectorimport.emulator.partitions import install as _install_partitions

        #: partitions drop/load/release/get_stats, entities/delete (emulator/partitions.py)
        self.partitions = _install_partitions(self)

    # ---- dispatch -------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response | None:
        route = self._routes.get(request.path.rstrip("/") or "/")
        if route is None:
            return None
        v1 = request.path.startswith("/v1/")
        try:
            body = request.json() if request.body else {}
        except ValueError:
            return self._error(
                request,
                v1,
                {},
                _Err(MILVUS_PARAM if not v1 else ZILLIZ_BAD_PARAM, "request body is not valid JSON"),
            )
        if not isinstance(body, dict):
            return self._error(request, v1, {}, _Err(MILVUS_PARAM, "request body must be a JSON object"))
        params = {**request.query, **body}
        try:
            self._authenticate(request, v1, params)
            data = route(request, params)
        except _Err as err:
            return self._error(request, v1, params, err)
        except CollectionNotFound as exc:
            return self._error(request, v1, params, _Err(MILVUS_COLLECTION_NOT_FOUND, str(exc)))
        return Response(200, {"code": 200 if v1 else 0, "data": data})

    def _error(self, request: Request, v1: bool, params: Mapping[str, Any], err: _Err) -> Response:
        return Response(err.status, {"code": err.code, "message": err.message})

    @staticmethod
    def _is_zilliz(params: Mapping[str, Any]) -> bool:
        return bool(params.get("clusterId"))

    def _authenticate(self, request: Request, v1: bool, params: Mapping[str, Any]) -> None:
        auth = request.header("authorization") or ""
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        if v1:
            if token != self.api_key:
                raise _Err(ZILLIZ_V1_BAD_TOKEN, "Invalid token: the API key is illegal.")
        elif self._is_zilliz(params) and request.path.startswith("/v2/vectordb/jobs/"):
            if token != self.api_key:
                raise _Err(ZILLIZ_V2_BAD_KEY, "The apikey is illegal.")
        elif token != self.api_key and token not in self.milvus_tokens:
            raise _Err(MILVUS_AUTH, "user hasn't authenticated", status=401)

    # ---- helpers --------------------------------------------------------------------------------
    @staticmethod
    def _db(request: Request, params: Mapping[str, Any]) -> str:
        return str(params.get("dbName") or request.header("db-name") or "default")

    @staticmethod
    def _str(params: Mapping[str, Any], name: str, code: int, *, required: bool = True) -> str:
        value = params.get(name)
        if value is None or value == "":
            if required:
                raise _Err(code, f"missing required parameter {name!r}")
            return ""
        if not isinstance(value, str):
            raise _Err(code, f"parameter {name!r} must be a string, got {type(value).__name__}")
        return value

    def _check_cluster(self, params: Mapping[str, Any]) -> str:
        cluster = params.get("clusterId")
        if not cluster:
            raise _Err(ZILLIZ_BAD_PARAM, "missing required parameter 'clusterId'")
        if cluster not in self.cluster_ids and not str(cluster).startswith("in01-"):
            raise _Err(
                ZILLIZ_CLUSTER_NOT_FOUND,
                f"The cluster does not exist in current region. (clusterId={cluster})",
            )
        return str(cluster)

    def _page(self, params: Mapping[str, Any], code: int) -> tuple[int, int]:
        try:
            size = int(params.get("pageSize") or 10)
            page = int(params.get("currentPage") or 1)
        except (TypeError, ValueError) as exc:
            raise _Err(code, "pageSize and currentPage must be integers") from exc
        if not 1 <= size <= 100:
            raise _Err(code, f"invalid pageSize {size}: must be between 1 and 100")
        if page < 1:
            raise _Err(code, f"invalid currentPage {page}: must be >= 1")
        return size, page

    def _check_target(self, db: str, collection: str, partition: str) -> None:
        if not self.collections.has(db, collection):
            raise _Err(
                MILVUS_COLLECTION_NOT_FOUND, f"collection not found[database={db}][collection={collection}]"
            )
        if partition and not self.collections.has_partition(db, collection, partition):
            raise _Err(MILVUS_PARTITION_NOT_FOUND, f"partition not found[partition={partition}]")

    def _groups_from_urls(self, urls: Any, code: int) -> list[tuple[str, list[str]]]:
        if not isinstance(urls, list) or not urls or len(urls) > MAX_FILE_GROUPS:
            raise _Err(
                code, f"objectUrls must be a non-empty list of lists of at most {MAX_FILE_GROUPS} groups"
            )
        groups = []
        hosts = self.s3_hosts()
        for i, group in enumerate(urls):
            if isinstance(group, str):
                group = [group]
            if not isinstance(group, list) or not group:
                raise _Err(code, f"objectUrls[{i}] must be a non-empty list of URLs")
            buckets, keys = set(), []
            for url in group:
                try:
                    bucket, key = parse_object_url(url, endpoint_hosts=hosts)
                except ValueError as exc:
                    raise _Err(code, f"objectUrls[{i}]: {exc}") from exc
                buckets.add(bucket)
                keys.append(key)
            if len(buckets) > 1:
                raise _Err(code, f"objectUrls[{i}]: all files of one group must be in one bucket")
            groups.append((buckets.pop(), keys))
        return groups

    # ---- v2 import (Zilliz Cloud + Milvus) ------------------------------------------------------
    def _v2_create(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        zilliz = self._is_zilliz(params)
        code = ZILLIZ_BAD_PARAM if zilliz else MILVUS_PARAM
        db = self._db(request, params)
        collection = self._str(params, "collectionName", code)
        partition = self._str(params, "partitionName", code, required=False)
        if zilliz:
            self._check_cluster(params)
            urls = params.get("objectUrls")
            if not urls and params.get("objectUrl"):
                urls = [[params["objectUrl"]]]
            if not urls:
                raise _Err(code, "missing required parameter: objectUrl or objectUrls")
            if isinstance(urls, list):
                for i, group in enumerate(urls):
                    if isinstance(group, list) and len(group) > 1:
                        raise _Err(code, f"objectUrls[{i}]: a sub-list holds a single object url")
            if bool(params.get("projectId")) != bool(params.get("regionId")):
                raise _Err(code, "projectId must be specified together with regionId")
            groups = self._groups_from_urls(urls, code)
            honour = False  # Zilliz Cloud ignores Idempotency-Key
        else:
            files = params.get("files")
            if not isinstance(files, list) or not files:
                raise _Err(code, "missing required parameter 'files' (a list of lists of file paths)")
            if len(files) > MAX_FILE_GROUPS:
                raise _Err(code, f"too many file groups: {len(files)} > {MAX_FILE_GROUPS}")
            groups = []
            hosts = self.s3_hosts()
            for i, group in enumerate(files):
                if (
                    not isinstance(group, list)
                    or not group
                    or not all(isinstance(k, str) and k for k in group)
                ):
                    raise _Err(code, f"files[{i}] must be a non-empty list of file paths")
                keys, bucket = [], self.milvus_bucket
                for k in group:
                    if "://" in k:
                        try:
                            bucket, k = parse_object_url(k, endpoint_hosts=hosts)
                        except ValueError as exc:
                            raise _Err(code, f"files[{i}]: {exc}") from exc
                        if bucket != self.milvus_bucket:
                            raise _Err(
                                code,
                                f"files[{i}]: bucket {bucket!r} is not the Milvus bucket; files are "
                                "paths inside the bucket Milvus is configured with",
                            )
                    keys.append(k.lstrip("/"))
                groups.append((bucket, keys))
            honour = self.engine.honour_idempotency_key
        idem = request.header("idempotency-key")
        if (
            honour
            and idem is not None
            and (len(idem.encode()) > 256 or not idem.isascii() or not idem.isprintable())
        ):
            raise _Err(code, "Idempotency-Key must be printable ASCII of at most 256 bytes")
        options = _import_options(params, code)
        self._check_target(db, collection, partition)
        job, _created = self.engine.create(
            flavour="zilliz" if zilliz else "milvus",
            db=db,
            collection=collection,
            partition=partition,
            groups=groups,
            cluster_id=str(params.get("clusterId") or ""),
            idempotency_key=idem or None,
            honour_key=honour,
            auto_commit=options.get("auto_commit", "true").lower() != "false",
        )
        return {"jobId": job.job_id}

    def _job(self, params: Mapping[str, Any], zilliz: bool) -> Job:
        job_id = params.get("jobId") or params.get("jobID")
        if not job_id:
            raise _Err(ZILLIZ_BAD_PARAM if zilliz else MILVUS_PARAM, "missing required parameter 'jobId'")
        job = self.engine.get(str(job_id))
        if job is None:
            if zilliz:
                raise _Err(ZILLIZ_JOB_NOT_FOUND, f"No jobId record found under this cluster (jobId={job_id})")
            raise _Err(MILVUS_PARAM, f"import job not found[jobId={job_id}]")
        return job

    def _abort(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        """Stop a running import; what it inserted is removed. Milvus ``{jobId}``; Zilliz Cloud
        ``{clusterId, jobId}`` (the vendor's Go SDK aborts Cloud jobs through this endpoint)."""
        zilliz = self._is_zilliz(params)
        if zilliz:
            self._check_cluster(params)
        job = self._job(params, zilliz)
        if job.state in ("Completed", "Failed"):
            raise _Err(
                ZILLIZ_BAD_PARAM if zilliz else MILVUS_PARAM,
                f"import job {job.job_id} is already {job.state}, cannot abort",
            )
        self.engine.abort(job.job_id)
        return {}

    def _commit(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        """Commit a job created with ``options.auto_commit=false`` once Uncommitted (2PC): Milvus
        ``{jobId}``; Zilliz Cloud v2 ``{jobId, clusterId}`` as pymilvus ``commit_import`` sends it."""
        zilliz = self._is_zilliz(params)
        if zilliz:
            self._check_cluster(params)
        job = self._job(params, zilliz)
        if job.state != "Uncommitted":
            raise _Err(
                ZILLIZ_BAD_PARAM if zilliz else MILVUS_PARAM,
                f"import job {job.job_id} is {job.state}, not Uncommitted",
            )
        self.engine.commit(job.job_id)
        return {}

    @staticmethod
    def _unit_progress(unit: Any) -> int:
        if unit.state == "Completed":
            return 100
        return int(unit.imported_rows * 100 / unit.total_rows) if unit.total_rows else 0

    @staticmethod
    def _file_name(unit: Any, style: str) -> str:
        """``fileName`` as each service reports it: Milvus ``fmt.Sprintf("%v", paths)`` ->
        ``[a/1.parquet]``; Zilliz Cloud v2 the basename (``medium_articles_2020_dpr.json``);
        Zilliz Cloud v1 the object path (``1af78216-.../1.parquet``)."""
        if style == "milvus":
            return "[" + " ".join(unit.keys) + "]"
        if style == "v2":
            return unit.name.rstrip("/").rsplit("/", 1)[-1]
        return unit.name

    def _job_file_name(self, job: Job, style: str) -> str:
        if job.units:
            return ",".join(self._file_name(u, style) for u in job.units)
        keys = [k for _, group in job.groups for k in group]
        if style == "v2":
            return ",".join(k.rstrip("/").rsplit("/", 1)[-1] for k in keys)
        return ",".join(keys)

    def _render(self, job: Job, zilliz: bool) -> dict[str, Any]:
        """Only the documented fields: Zilliz Cloud v2 getProgress (no top-level ``importedRows``;
        ``totalRows`` = rows this job inserted), Milvus describe (pymilvus get_import_progress)."""
        state = _zilliz_state(job.state) if zilliz else job.state
        style = "v2" if zilliz else "milvus"
        details = []
        for unit in job.units:
            unit_state = _zilliz_state(unit.state) if zilliz else unit.state
            details.append(
                {
                    "fileName": self._file_name(unit, style),
                    "fileSize": unit.size,
                    "state": unit_state,
                    "progress": self._unit_progress(unit),
                    "completeTime": job.complete_time if unit.state in {"Completed", "Failed"} else "",
                    "reason": unit.reason,
                    "importedRows": unit.imported_rows if job.state != "Failed" else 0,
                    "totalRows": unit.total_rows,
                }
            )
        imported = job.imported_rows if job.state != "Failed" else 0
        if zilliz:
            return {
                "jobId": job.job_id,
                "collectionName": job.collection,
                "fileName": self._job_file_name(job, style),
                "fileSize": job.file_size,
                "state": state,
                "progress": job.progress,
                "completeTime": job.complete_time or "",
                "reason": job.reason,
                "totalRows": imported,
                "details": details,
            }
        return {
            "jobId": job.job_id,
            "collectionName": job.collection,
            "fileSize": job.file_size,
            "state": state,
            "progress": job.progress,
            "completeTime": job.complete_time or "",
            "reason": job.reason,
            "importedRows": imported,
            "totalRows": job.total_rows,
            "details": details,
        }

    def _v2_progress(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        zilliz = self._is_zilliz(params)
        if zilliz:
            self._check_cluster(params)
        return self._render(self._job(params, zilliz), zilliz)

    def _v2_list(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        zilliz = self._is_zilliz(params)
        code = ZILLIZ_BAD_PARAM if zilliz else MILVUS_PARAM
        collection = params.get("collectionName") or None
        if zilliz:
            cluster = self._check_cluster(params)
            size, page = self._page(params, code)
            jobs = self.engine.list(collection=collection, cluster_id=cluster)
            window = jobs[(page - 1) * size : page * size]
        else:
            # Milvus answers every job of the database (optionally one collection), unpaged
            db = self._db(request, params)
            jobs = self.engine.list(collection=collection, db=db)
            size, page, window = len(jobs), 1, jobs
        records = [
            {
                "collectionName": j.collection,
                "jobId": j.job_id,
                "state": _zilliz_state(j.state) if zilliz else j.state,
                "progress": j.progress,
                "reason": j.reason,
            }
            for j in window
        ]
        return {"count": len(jobs), "currentPage": page, "pageSize": size, "records": records}

    # ---- Zilliz Cloud v1 ---------------------------------------------------------------------------
    def _v1_create(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        self._check_cluster(params)
        collection = self._str(params, "collectionName", ZILLIZ_BAD_PARAM)
        partition = self._str(params, "partitionName", ZILLIZ_BAD_PARAM, required=False)
        url = self._str(params, "objectUrl", ZILLIZ_BAD_PARAM)
        groups = self._groups_from_urls([[url]], ZILLIZ_BAD_PARAM)
        self._check_target("default", collection, partition)
        job, _ = self.engine.create(
            flavour="zilliz",
            db="default",
            collection=collection,
            partition=partition,
            groups=groups,
            cluster_id=str(params["clusterId"]),
        )
        return {"jobId": job.job_id}

    def _v1_get(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        self._check_cluster(params)
        job = self._job(params, True)
        running = job.state not in {"Completed", "Failed"}

        def unit_dict(unit: Any) -> dict[str, Any]:
            return {
                "fileName": self._file_name(unit, "v1"),
                "fileSize": unit.size,
                "readyPercentage": round(self._unit_progress(unit) / 100, 4),
                "completeTime": None if running else job.complete_time,
                "errorMessage": unit.reason or None,
            }

        return {
            "collectionName": job.collection,
            "fileName": self._job_file_name(job, "v1"),
            "fileSize": job.file_size,
            "readyPercentage": round(job.progress / 100, 4),
            "completeTime": None if running else job.complete_time,
            "errorMessage": job.reason or None,
            "jobId": job.job_id,
            "details": [unit_dict(u) for u in job.units],
        }

    def _v1_list(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        cluster = self._check_cluster(params)
        size, page = self._page(params, ZILLIZ_BAD_PARAM)
        jobs = self.engine.list(cluster_id=cluster)
        tasks = [
            {
                "collectionName": j.collection,
                "jobId": j.job_id,
                "state": V1_STATES.get(j.state, "ImportRunning"),
            }
            for j in jobs[(page - 1) * size : page * size]
        ]
        return {"count": len(jobs), "currentPage": page, "pageSize": size, "tasks": tasks, "records": tasks}

    # ---- collections ------------------------------------------------------------------------------
    def _coll_create(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        name = self._str(params, "collectionName", MILVUS_PARAM)
        db = self._db(request, params)
        try:
            schema = CollectionSchema.from_rest(params)
        except SchemaError as exc:
            raise _Err(MILVUS_PARAM, f"invalid schema for collection {name!r}: {exc}") from exc
        try:
            self.collections.create(db, name, schema)
        except CollectionExists as exc:
            if self.collections.describe(db, name).to_json() != schema.to_json():
                raise _Err(MILVUS_COLLECTION_EXISTS, f"{exc} with a different schema") from exc
        except SchemaError as exc:
            raise _Err(MILVUS_PARAM, str(exc)) from exc
        return {}

    def _coll_describe(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        name = self._str(params, "collectionName", MILVUS_PARAM)
        db = self._db(request, params)
        data = self.collections.describe(db, name).to_rest(name)
        data["partitionsNum"] = len(self.collections.list_partitions(db, name))
        return data

    def _coll_list(self, request: Request, params: dict[str, Any]) -> list[str]:
        return self.collections.list(self._db(request, params))

    def _coll_drop(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        name = self._str(params, "collectionName", MILVUS_PARAM)
        try:
            self.collections.drop(self._db(request, params), name)
        except CollectionNotFound:
            pass  # Milvus drops idempotently
        self.engine.forget_collection(self._db(request, params), name)
        return {}

    def _coll_has(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        name = self._str(params, "collectionName", MILVUS_PARAM)
        return {"has": self.collections.has(self._db(request, params), name)}

    def _coll_stats(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        name = self._str(params, "collectionName", MILVUS_PARAM)
        db = self._db(request, params)
        partitions = self._partitions(params)
        count = self.collections.count(db, name, partitions=partitions)
        if not partitions:  # rows imported twice count twice, as on Milvus
            count += self.engine.extra_rows(db, name)
        return {"rowCount": count}

    # ---- partitions -------------------------------------------------------------------------------
    def _part_create(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        name = self._str(params, "collectionName", MILVUS_PARAM)
        partition = self._str(params, "partitionName", MILVUS_PARAM)
        db = self._db(request, params)
        self.collections.describe(db, name)
        self.collections.ensure_partition(db, name, partition)
        return {}

    def _part_list(self, request: Request, params: dict[str, Any]) -> list[str]:
        name = self._str(params, "collectionName", MILVUS_PARAM)
        return self.collections.list_partitions(self._db(request, params), name)

    def _part_has(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        name = self._str(params, "collectionName", MILVUS_PARAM)
        partition = self._str(params, "partitionName", MILVUS_PARAM)
        db = self._db(request, params)
        self.collections.describe(db, name)
        return {"has": self.collections.has_partition(db, name, partition)}

    @staticmethod
    def _partitions(params: Mapping[str, Any]) -> list[str] | None:
        names = params.get("partitionNames")
        if names is None:
            return None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise _Err(MILVUS_PARAM, "partitionNames must be a list of partition names")
        return names or None

    # ---- entities ---------------------------------------------------------------------------------
    @staticmethod
    def _fields(params: Mapping[str, Any]) -> list[str] | None:
        fields = params.get("outputFields")
        if fields is None:
            return None
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise _Err(MILVUS_PARAM, "outputFields must be a list of field names")
        return fields

    @staticmethod
    def _limit(params: Mapping[str, Any], default: int) -> int:
        try:
            limit = int(params.get("limit") or default)
        except (TypeError, ValueError) as exc:
            raise _Err(MILVUS_PARAM, "limit must be an integer") from exc
        if not 1 <= limit <= 16384:
            raise _Err(MILVUS_PARAM, f"invalid limit {limit}: must be in [1, 16384]")
        return limit

    def _search(self, request: Request, params: dict[str, Any]) -> list[dict[str, Any]]:
        name = self._str(params, "collectionName", MILVUS_PARAM)
        db = self._db(request, params)
        data = params.get("data")
        if not isinstance(data, list) or not data:
            raise _Err(MILVUS_PARAM, "data must be a non-empty list of query vectors")
        schema = self.collections.describe(db, name)
        anns = params.get("annsField") or schema.vector_fields[0].name
        spec = schema.field(anns)
        if spec is None or not spec.is_vector:
            raise _Err(MILVUS_PARAM, f"annsField {anns!r} is not a vector field of {name!r}")
        for i, vec in enumerate(data):
            if spec.dim and (not isinstance(vec, list) or len(vec) != spec.dim):
                raise _Err(MILVUS_PARAM, f"data[{i}]: query vector must have dim={spec.dim}")
        try:
            results = self.collections.search(
                db,
                name,
                data,
                anns_field=anns,
                limit=self._limit(params, 100),
                filter=str(params.get("filter") or ""),
                output_fields=self._fields(params),
            )
        except CollectionNotFound:
            raise
        except Exception as exc:
            raise _Err(MILVUS_PARAM, f"search failed: {exc}") from exc
        return [hit for hits in results for hit in hits]

    def _query(self, request: Request, params: dict[str, Any]) -> list[dict[str, Any]]:
        name = self._str(params, "collectionName", MILVUS_PARAM)
        db = self._db(request, params)
        fields = self._fields(params)
        if fields and [f.strip() for f in fields] == ["count(*)"] and not params.get("filter"):
            count = self.collections.count(db, name, partitions=self._partitions(params))
            if not self._partitions(params):
                count += self.engine.extra_rows(db, name)
            return [{"count(*)": count}]
        try:
            return self.collections.query(
                db,
                name,
                filter=str(params.get("filter") or ""),
                output_fields=self._fields(params),
                limit=self._limit(params, 100),
                offset=int(params.get("offset") or 0),
                partitions=self._partitions(params),
            )
        except CollectionNotFound:
            raise
        except Exception as exc:
            raise _Err(MILVUS_PARAM, f"query failed: {exc}") from exc

    def _insert(self, request: Request, params: dict[str, Any]) -> dict[str, Any]:
        name = self._str(params, "collectionName", MILVUS_PARAM)
        db = self._db(request, params)
        rows = params.get("data")
        if isinstance(rows, dict):
            rows = [rows]
        if not isinstance(rows, list) or not rows:
            raise _Err(MILVUS_PARAM, "data must be a row or a non-empty list of rows")
        schema = self.collections.describe(db, name)
        try:
            checked = [validate_row(schema, row, f"data[{i}]") for i, row in enumerate(rows)]
        except RowError as exc:
            raise _Err(MILVUS_PARAM, str(exc)) from exc
        partition = self._str(params, "partitionName", MILVUS_PARAM, required=False)
        ids = self.collections.insert(db, name, checked, partition or None)
        return {"insertCount": len(ids), "insertIds": ids}
