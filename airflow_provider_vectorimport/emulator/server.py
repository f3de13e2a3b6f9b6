"""The emulator as one object: object store (moto S3 server on loopback by default, any S3
endpoint, or a local folder), Milvus Lite collections, the import job engine, fault injection, the
Zilliz/Milvus service, the VikingDB task service (when ``emulator/vikingdb.py`` is present) and the
admin endpoints under ``/_emulator/``.

    with Emulator(EmulatorConfig(pace_seconds=0.05)) as emu:
        os.environ.update(emu.connection_env())
        ...
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_vectorimport.emulator.core import HTTPServerThread, Request, Response
from airflow_provider_vectorimport.emulator.faults import ADMIN_PREFIX, FaultConfig, FaultInjector

log = logging.getLogger(__name__)

DEFAULT_API_KEY = "emulator-api-key"
DEFAULT_CLUSTER_ID = "in01-emulator"
DEFAULT_BUCKETS = ("a-bucket", "vectorimport-demo")


@dataclass
class EmulatorConfig:
    """Settings of one emulator instance (all optional)."""

    host: str = "127.0.0.1"
    port: int = 0
    api_key: str = DEFAULT_API_KEY
    cluster_id: str = DEFAULT_CLUSTER_ID
    #: seconds each lifecycle step takes (Pending, validation, each import step, Sorting...)
    pace_seconds: float = 0.2
    #: how many progress steps the Importing phase of one file takes
    import_steps: int = 4
    max_parallel_jobs: int = 4
    seed: int | None = None
    #: Milvus Lite files and schemas live here; None = a temporary folder removed on stop()
    data_dir: str | None = None
    #: an existing S3-compatible endpoint; None (and no local_dir) = start a moto server on loopback
    s3_endpoint: str | None = None
    s3_access_key: str = "emulator-ak"
    s3_secret_key: str = "emulator-sk"
    s3_region: str = "us-east-1"
    #: serve objects from a local folder instead (``<dir>/<bucket>/<key>``)
    local_dir: str | None = None
    milvus_bucket: str = "a-bucket"
    buckets: tuple[str, ...] = DEFAULT_BUCKETS
    vikingdb_credentials: dict[str, str] = field(default_factory=lambda: {"emulator-ak": "emulator-sk"})
    vikingdb_region: str = "cn-north-1"
    vikingdb_service: str = "air"
    faults: FaultConfig | None = None
    #: True: a collection created from a schema without ``indexParams`` has no index and is not loaded
    #: until ``indexes/create`` + ``collections/load``, as on Milvus; reads on it answer code 101.
    #: False (the default): every new collection starts indexed and loaded (the older behaviour).
    strict_load: bool = False

    def __post_init__(self) -> None:
        if self.s3_endpoint and self.local_dir:
            raise ValueError("give either s3_endpoint or local_dir, not both")
        if not 0 <= int(self.port) <= 65535:
            raise ValueError(f"port must be in [0, 65535], got {self.port}")
        if self.pace_seconds < 0:
            raise ValueError(f"pace_seconds must be >= 0, got {self.pace_seconds}")
        if not self.api_key:
            raise ValueError("api_key must not be empty")


class AdminService:
    """``/_emulator/``: ``GET stats``, ``GET|POST faults``, ``POST reset``, ``GET health``,
    ``GET jobs?jobId=`` (the states a job went through)."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def handle(self, request: Request) -> Response | None:
        if not request.path.startswith(ADMIN_PREFIX):
            return None
        action = request.path[len(ADMIN_PREFIX) :].strip("/")
        try:
            body = request.json() if request.body else {}
        except ValueError:
            return Response(400, {"code": 400, "message": "body is not valid JSON"})
        if action == "health":
            return Response(200, {"code": 0, "data": {"status": "ok"}})
        if action == "jobs":
            job_id = request.query.get("jobId") or (body or {}).get("jobId")
            history = self.emulator.job_history(str(job_id)) if job_id else None
            if history is None:
                return Response(404, {"code": 404, "message": f"no job {job_id!r}"})
            return Response(200, {"code": 0, "data": {"jobId": job_id, "history": history}})
        if action == "stats":
            return Response(200, {"code": 0, "data": self.emulator.stats()})
        if action == "faults" and request.method == "GET":
            return Response(200, {"code": 0, "data": self.emulator.faults.config.to_dict()})
        if action == "faults" and request.method == "POST":
            try:
                self.emulator.set_faults(**(body or {}))
            except (TypeError, ValueError) as exc:
                return Response(400, {"code": 400, "message": str(exc)})
            return Response(200, {"code": 0, "data": self.emulator.faults.config.to_dict()})
        if action == "reset" and request.method == "POST":
            self.emulator.reset(drop_collections=not bool((body or {}).get("keep_collections")))
            return Response(200, {"code": 0, "data": {}})
        return Response(404, {"code": 404, "message": f"no admin route {request.method} {request.path}"})


class Emulator:
    """A running local Zilliz Cloud / Milvus / VikingDB emulator (start() or a ``with`` block)."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self._moto: Any = None
        self._http: HTTPServerThread | None = None
        self._tmp_dir: str | None = None
        self._s3_endpoint: str | None = None
        self.collections: Any = None
        self.objects: Any = None
        self.engine: Any = None
        self.zilliz: Any = None  # the ZillizMilvusService (its .partitions: emulator/partitions.py)
        self.faults = FaultInjector(self.config.faults or FaultConfig(seed=self.config.seed))
        self.vikingdb: Any = None
        self.vikingdb_mounted = False
        from airflow_provider_vectorimport.emulator.milvus_admin import ClusterState

        #: aliases, indexes and load states (emulator/milvus_admin.py)
        self.cluster = ClusterState(strict_load=self.config.strict_load)

    # ---- lifecycle --------------------------------------------------------------------------------
    def start(self) -> Emulator:
        from airflow_provider_vectorimport.emulator.collections import CollectionStore
        from airflow_provider_vectorimport.emulator.jobs import JobEngine
        from airflow_provider_vectorimport.emulator.storage import LocalDirStore, S3Store
        from airflow_provider_vectorimport.emulator.zilliz import ZillizMilvusService

        cfg = self.config
        try:
            if cfg.local_dir:
                self.objects = LocalDirStore(cfg.local_dir)
            else:
                if cfg.s3_endpoint:
                    self._s3_endpoint = cfg.s3_endpoint.rstrip("/")
                else:
                    from moto.server import ThreadedMotoServer

                    logging.getLogger("werkzeug").setLevel(logging.WARNING)

                    self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
                    self._moto.start()
                    host, port = self._moto.get_host_and_port()
                    self._s3_endpoint = f"http://{host}:{port}"
                self.objects = S3Store(self._s3_endpoint, cfg.s3_access_key, cfg.s3_secret_key, cfg.s3_region)
            for bucket in dict.fromkeys((cfg.milvus_bucket, *cfg.buckets)):
                self.objects.ensure_bucket(bucket)
            data_dir = cfg.data_dir or tempfile.mkdtemp(prefix="vectorimport-emulator-")
            if not cfg.data_dir:
                self._tmp_dir = data_dir
            self.collections = CollectionStore(data_dir)
            self.engine = JobEngine(
                self.collections,
                self.objects,
                pace_seconds=cfg.pace_seconds,
                import_steps=cfg.import_steps,
                max_parallel_jobs=cfg.max_parallel_jobs,
            )
            if cfg.faults and cfg.faults.fail_job_at_percent is not None:
                self.engine.fail_job_at_percent = float(cfg.faults.fail_job_at_percent)
            zilliz = ZillizMilvusService(
                self.engine,
                self.collections,
                api_key=cfg.api_key,
                milvus_bucket=cfg.milvus_bucket,
                s3_hosts=self._s3_hosts,
                cluster_ids=(cfg.cluster_id,),
            )
            from airflow_provider_vectorimport.emulator.milvus_admin import MilvusClusterService

            cluster = MilvusClusterService(
                zilliz, lambda: self.collections, self.cluster, pace=lambda: self.engine.pace_seconds
            )
            self.zilliz = zilliz
            self._http = HTTPServerThread(
                [AdminService(self), cluster, zilliz],
                host=cfg.host,
                port=cfg.port,
                middleware=[self.faults],
                after=[self.faults.after],
            )
            self._mount_vikingdb()
            from airflow_provider_vectorimport.emulator.vikingdb_collections import VikingDBCollectionService

            self._http.add_service(VikingDBCollectionService(lambda: self.vikingdb, lambda: self.collections))
            self._http.start()
        except BaseException:
            self.stop()
            raise
        log.info("vectorimport emulator listening on %s", self.url)
        return self

    def _mount_vikingdb(self) -> None:
        try:
            from airflow_provider_vectorimport.emulator import vikingdb as vikingdb_module
        except ImportError:
            log.warning("emulator/vikingdb.py is not available: the VikingDB task API is not mounted")
            return
        from airflow_provider_vectorimport.emulator.vikingdb_backend import EmulatorVikingDBBackend

        assert self._http is not None
        backend = EmulatorVikingDBBackend(self.collections, self.objects)
        fresh = vikingdb_module.VikingDBEmulator(
            credentials=dict(self.config.vikingdb_credentials),
            backend=backend,
            region=self.config.vikingdb_region,
            service=self.config.vikingdb_service,
            pace_seconds=self.config.pace_seconds,
        )
        if self.vikingdb is None:
            self._http.add_service(fresh)
        else:  # reset: a fresh task table and counters
            self._http.replace_service(self.vikingdb, fresh)
        self.vikingdb = fresh
        self.vikingdb_mounted = True

    def stop(self) -> None:
        if self.engine is not None:
            self.engine.stop()
        if self._http is not None:
            try:
                self._http.stop()
            except Exception:  # pragma: no cover - never started
                pass
            self._http = None
        if self.collections is not None:
            self.collections.close()
            self.collections = None
        if self._moto is not None:
            self._moto.stop()
            self._moto = None
        if self._tmp_dir:
            shutil.rmtree(self._tmp_dir, ignore_errors=True)
            self._tmp_dir = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- endpoints ----------------------------------------------------------------------------------
    def _require(self) -> HTTPServerThread:
        if self._http is None:
            raise RuntimeError("the emulator is not running: call start() first")
        return self._http

    @property
    def url(self) -> str:
        return self._require().url

    @property
    def host(self) -> str:
        return self._require().host

    @property
    def port(self) -> int:
        return self._require().port

    @property
    def s3_endpoint(self) -> str | None:
        """The S3 endpoint behind the emulator (None when serving a local folder)."""
        return self._s3_endpoint

    @property
    def api_key(self) -> str:
        return self.config.api_key

    @property
    def cluster_id(self) -> str:
        return self.config.cluster_id

    @property
    def milvus_bucket(self) -> str:
        return self.config.milvus_bucket

    @property
    def vikingdb_credentials(self) -> dict[str, str]:
        return dict(self.config.vikingdb_credentials)

    def _s3_hosts(self) -> tuple[str, ...]:
        if not self._s3_endpoint:
            return ()
        netloc = urlsplit(self._s3_endpoint).netloc
        port = urlsplit(self._s3_endpoint).port
        hosts = [netloc]
        if port:
            hosts += [f"localhost:{port}", f"127.0.0.1:{port}"]
        return tuple(dict.fromkeys(hosts))

    def s3_client(self) -> Any:
        """A boto3 S3 client for the emulator's S3 endpoint."""
        import boto3

        if not self._s3_endpoint:
            raise RuntimeError("the emulator serves a local folder, not S3")
        return boto3.client(
            "s3",
            endpoint_url=self._s3_endpoint,
            aws_access_key_id=self.config.s3_access_key,
            aws_secret_access_key=self.config.s3_secret_key,
            region_name=self.config.s3_region,
        )

    # ---- control --------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        engine = self.engine
        return {
            "jobs_created": dict(engine.jobs_created) if engine else {},
            "jobs_created_by_key": dict(getattr(engine, "jobs_by_key", {}) or {}) if engine else {},
            "jobs_by_state": engine.state_counts() if engine else {},
            "requests": sum(self.faults.requests.values()),
            "requests_by_path": dict(self.faults.requests),
            "faults_injected": dict(self.faults.injected),
            "vikingdb_mounted": self.vikingdb_mounted,
            "vikingdb_tasks_created": dict(getattr(self.vikingdb, "tasks_created", {}) or {}),
            "vikingdb_tasks_created_by_type": (
                self.vikingdb.created_counts() if hasattr(self.vikingdb, "created_counts") else {}
            ),
        }

    def set_pace(self, seconds: float) -> None:
        """Seconds per job lifecycle step from now on (``reset()`` restores the configured pace)."""
        if seconds < 0:
            raise ValueError(f"pace must be >= 0, got {seconds}")
        self._require_engine().pace_seconds = seconds

    def _require_engine(self) -> Any:
        if self.engine is None:
            raise RuntimeError("the emulator is not running: call start() first")
        return self.engine

    def job_history(self, job_id: str) -> list[list[Any]] | None:
        """Every ``[state, progress]`` an import job went through (None: unknown job)."""
        job = self.engine.get(job_id) if self.engine is not None else None
        if job is None:
            return None
        return [list(step) for step in job.history]

    def set_faults(self, config: FaultConfig | None = None, **settings: Any) -> FaultConfig:
        """Replace the fault settings (``rate_429``, ``rate_5xx``, ``rate_drop``,
        ``rate_lost_response``, ``latency_ms``,
        ``fail_job_at_percent``, ``seed``, ``paths``, ``retry_after``, ``status_5xx``).
        Called with nothing: faults off."""
        if config is None:
            settings.setdefault("seed", self.config.seed)
            config = FaultConfig.from_mapping(settings)
        else:
            config.validate()
        self.faults.configure(config)
        if self.engine is not None:
            pct = config.fail_job_at_percent
            self.engine.fail_job_at_percent = float(pct) if pct is not None else None
        return config

    def reset(self, *, drop_collections: bool = True) -> None:
        """Forget jobs, idempotency keys, counters and faults (and drop every collection)."""
        self.faults.reset()
        if self.config.seed is not None:
            self.faults.configure(FaultConfig(seed=self.config.seed))
        if self.engine is not None:
            self.engine.reset()
            self.engine.pace_seconds = self.config.pace_seconds
        if drop_collections and self.collections is not None:
            self.collections.drop_all()
            self.cluster.reset()
            if self.zilliz is not None:
                self.zilliz.partitions.reset()
        if self.vikingdb is not None and self._http is not None:
            self._mount_vikingdb()

    def connection_env(self) -> dict[str, str]:
        """``AIRFLOW_CONN_*`` values (JSON) pointing Airflow at this emulator."""
        ak, sk = next(iter(self.config.vikingdb_credentials.items()))
        conns: dict[str, Mapping[str, Any]] = {
            "ZILLIZ_EMULATOR": {
                "conn_type": "zilliz",
                "host": self.url,
                "password": self.api_key,
                "extra": {"api_flavour": "milvus"},
            },
            "ZILLIZ_CLOUD_EMULATOR": {
                "conn_type": "zilliz",
                "host": self.url,
                "password": self.api_key,
                "extra": {"api_flavour": "v2", "cluster_id": self.cluster_id, "cluster_endpoint": self.url},
            },
            "VIKINGDB_EMULATOR": {
                "conn_type": "vikingdb",
                "host": f"{self.host}:{self.port}",
                "login": ak,
                "password": sk,
                "extra": {"scheme": "http", "region": self.config.vikingdb_region},
            },
        }
        if self._s3_endpoint:
            conns["S3_EMULATOR"] = {
                "conn_type": "aws",
                "login": self.config.s3_access_key,
                "password": self.config.s3_secret_key,
                "extra": {"endpoint_url": self._s3_endpoint, "region_name": self.config.s3_region},
            }
        return {f"AIRFLOW_CONN_{name}": json.dumps(value) for name, value in conns.items()}

    @property
    def data_dir(self) -> Path | None:
        return self.collections.data_dir if self.collections is not None else None
