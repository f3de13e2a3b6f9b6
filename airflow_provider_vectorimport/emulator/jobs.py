"""Import jobs and their lifecycle, run in worker threads off the HTTP threads:

Pending -> (Milvus: PreImporting) -> Importing (progress by rows) -> (Milvus: Sorting ->
IndexBuilding, at 80-99 %) -> Completed | Failed.

Every file of a job is read and validated against the collection schema *before* any row is
inserted, so a bad file fails the job with the file and the reason named and loads nothing. An
injected failure (``fail_job_at_percent``) after rows were inserted rolls those rows back.
"""

from __future__ import annotations

import builtins
import itertools
import logging
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from airflow_provider_vectorimport.emulator.collections import CollectionNotFound, CollectionStore
from airflow_provider_vectorimport.emulator.formats import FileFormatError, FileUnit, expand_group, read_unit
from airflow_provider_vectorimport.emulator.schema import RowError, validate_row
from airflow_provider_vectorimport.emulator.storage import ObjectNotFound, ObjectStore

log = logging.getLogger(__name__)

TERMINAL = frozenset({"Completed", "Failed"})
IDEMPOTENCY_TTL_SECONDS = 24 * 3600


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Job:
    job_id: str
    flavour: str  # "milvus" | "zilliz"
    db: str
    collection: str
    partition: str
    groups: list[tuple[str, list[str]]]  # (bucket, keys) per request group
    cluster_id: str = ""
    idempotency_key: str | None = None
    state: str = "Pending"
    progress: int = 0
    imported_rows: int = 0
    total_rows: int = 0
    reason: str = ""
    create_time: str = field(default_factory=_now_iso)
    complete_time: str | None = None
    units: list[FileUnit] = field(default_factory=list)
    fail_at_percent: float | None = None
    #: set by ``abort`` (Milvus /jobs/import/abort): the worker rolls back and fails the job
    abort_requested: bool = False
    #: rows whose primary key was already in the collection (Milvus keeps both copies)
    duplicate_rows: int = 0
    #: Milvus ``options.auto_commit=false``: the job stops at Uncommitted until ``commit``
    auto_commit: bool = True
    commit_requested: bool = False
    created_at: float = field(default_factory=time.monotonic)
    #: every (state, progress) the job went through, in order
    history: list[tuple[str, int]] = field(default_factory=lambda: [("Pending", 0)])

    @property
    def file_name(self) -> str:
        if self.units:
            return ",".join(u.name for u in self.units)
        return ",".join(k for _, keys in self.groups for k in keys)

    @property
    def file_size(self) -> int:
        return sum(u.size for u in self.units)


class JobEngine:
    """Creates, runs, lists and forgets import jobs. Thread-safe."""

    def __init__(
        self,
        collections: CollectionStore,
        objects: ObjectStore,
        *,
        pace_seconds: float = 0.2,
        import_steps: int = 4,
        max_parallel_jobs: int = 4,
    ) -> None:
        self.collections = collections
        self.objects = objects
        self.pace_seconds = pace_seconds
        self.import_steps = max(1, import_steps)
        self.fail_job_at_percent: float | None = None
        self._jobs: dict[str, Job] = {}
        self._idempotency: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._lock = threading.RLock()
        self._slots = threading.Semaphore(max_parallel_jobs)
        self._seq = itertools.count(1)
        self._epoch = 0
        self.jobs_created: Counter[str] = Counter()
        #: jobs created per Idempotency-Key sent (whether or not the key was honoured)
        self.jobs_by_key: Counter[str] = Counter()
        #: Milvus >= 2.6.24 deduplicates creates by Idempotency-Key; False = an older Milvus
        self.honour_idempotency_key = True
        #: rows imported again under a primary key already present, per (db, collection): Milvus
        #: keeps duplicate primary keys across imports, Milvus Lite would overwrite them
        self.duplicate_rows: Counter[tuple[str, str]] = Counter()
        self._stopping = threading.Event()
        #: set when the current epoch ends (reset/stop), waking sleeping workers at once
        self._epoch_over = threading.Event()
        self._workers: set[threading.Thread] = set()
        self._local = threading.local()

    # ---- creation -----------------------------------------------------------------------------
    def _new_id(self, flavour: str) -> str:
        if flavour == "zilliz":
            return "job-" + secrets.token_hex(11)
        return str(460000000000000000 + int(time.time() * 1000) % 10**12 * 1000 + next(self._seq) % 1000)

    def create(
        self,
        *,
        flavour: str,
        db: str,
        collection: str,
        partition: str,
        groups: list[tuple[str, list[str]]],
        cluster_id: str = "",
        idempotency_key: str | None = None,
        honour_key: bool = True,
        auto_commit: bool = True,
    ) -> tuple[Job, bool]:
        """Register and start a job. Returns ``(job, created)``; ``created`` is False when the
        idempotency key (collection-scoped) names a job created in the last 24 h and keys are
        honoured (``honour_idempotency_key``; only Milvus honours them, the caller decides)."""
        with self._lock:
            if idempotency_key and honour_key and self.honour_idempotency_key:
                ikey = (db or "default", collection, idempotency_key)
                hit = self._idempotency.get(ikey)
                if hit and time.monotonic() - hit[1] < IDEMPOTENCY_TTL_SECONDS and hit[0] in self._jobs:
                    return self._jobs[hit[0]], False
            job = Job(
                job_id=self._new_id(flavour),
                flavour=flavour,
                db=db or "default",
                collection=collection,
                partition=partition,
                groups=groups,
                cluster_id=cluster_id,
                idempotency_key=idempotency_key,
                fail_at_percent=self.fail_job_at_percent,
                auto_commit=auto_commit,
            )
            self._jobs[job.job_id] = job
            self.jobs_created[collection] += 1
            if idempotency_key:
                self.jobs_by_key[idempotency_key] += 1
            if idempotency_key and honour_key:
                self._idempotency[(db or "default", collection, idempotency_key)] = (
                    job.job_id,
                    time.monotonic(),
                )
            epoch, wake = self._epoch, self._epoch_over
        worker = threading.Thread(
            target=self._run, args=(job, epoch, wake), name=f"import-{job.job_id}", daemon=True
        )
        with self._lock:
            self._workers.add(worker)
        worker.start()
        return job, True

    # ---- queries ------------------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def list(
        self, *, collection: str | None = None, db: str | None = None, cluster_id: str | None = None
    ) -> list[Job]:
        with self._lock:
            jobs = list(self._jobs.values())
        if collection:
            jobs = [j for j in jobs if j.collection == collection]
        if db:
            jobs = [j for j in jobs if j.db == db]
        if cluster_id:
            jobs = [j for j in jobs if j.cluster_id in ("", cluster_id)]
        return sorted(jobs, key=lambda j: j.created_at, reverse=True)

    def abort(self, job_id: str) -> Job | None:
        """Ask a running job to stop: at its next step it removes what it inserted and fails."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and job.state not in ("Completed", "Failed"):
                job.abort_requested = True
            return job

    def commit(self, job_id: str) -> Job | None:
        """Milvus ``/jobs/import/commit``: let an Uncommitted job finish."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                job.commit_requested = True
            return job

    def state_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(Counter(j.state for j in self._jobs.values()))

    def reset(self, *, join_timeout: float = 10.0) -> None:
        """Forget every job; running workers stop (rolling back what they inserted) before this returns."""
        with self._lock:
            self._epoch += 1  # running workers notice and stop touching state
            self._epoch_over.set()
            self._epoch_over = threading.Event()
            workers = list(self._workers)
        deadline = time.monotonic() + join_timeout
        for worker in workers:
            if worker is not threading.current_thread():
                worker.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            self._jobs.clear()
            self._idempotency.clear()
            self.jobs_created.clear()
            self.jobs_by_key.clear()
            self.duplicate_rows.clear()
            self.honour_idempotency_key = True
            self.fail_job_at_percent = None

    def extra_rows(self, db: str | None, collection: str) -> int:
        """Rows the collection holds twice (see ``duplicate_rows``): add to Milvus Lite's count."""
        with self._lock:
            return self.duplicate_rows[(db or "default", collection)]

    def forget_collection(self, db: str | None, collection: str) -> None:
        with self._lock:
            self.duplicate_rows.pop((db or "default", collection), None)

    def _existing_keys(self, job: Job, batch: builtins.list[dict[str, Any]]) -> set[Any]:
        """Primary keys of ``batch`` already in the collection (none for autoId collections)."""
        import json

        schema = self.collections.describe(job.db, job.collection)
        pk = schema.primary
        if pk.auto_id:
            return set()
        keys = [row[pk.name] for row in batch if pk.name in row]
        if not keys:
            return set()
        found = self.collections.query(
            job.db,
            job.collection,
            filter=f"{pk.name} in {json.dumps(keys)}",
            output_fields=[pk.name],
            limit=min(16384, len(keys)),
        )
        return {r[pk.name] for r in found}

    def _insert(
        self, job: Job, batch: builtins.list[dict[str, Any]], inserted_ids: builtins.list[Any]
    ) -> None:
        """Insert one batch; a row whose key is already there counts as a duplicate (Milvus keeps
        both), and only the new keys are removed again on a roll back."""
        existing = self._existing_keys(job, batch)
        ids = self.collections.insert(job.db, job.collection, batch, job.partition)
        dups = sum(1 for i in ids if i in existing)
        inserted_ids.extend(i for i in ids if i not in existing)
        if dups:
            with self._lock:
                job.duplicate_rows += dups
                self.duplicate_rows[(job.db, job.collection)] += dups

    def _roll_back(self, job: Job, inserted_ids: builtins.list[Any]) -> None:
        self.collections.delete_ids(job.db, job.collection, inserted_ids)
        with self._lock:
            if job.duplicate_rows:
                self.duplicate_rows[(job.db, job.collection)] -= job.duplicate_rows
                job.duplicate_rows = 0

    def stop(self) -> None:
        self._stopping.set()
        self.reset()

    # ---- the lifecycle --------------------------------------------------------------------------
    def _alive(self, epoch: int) -> bool:
        return epoch == self._epoch and not self._stopping.is_set()

    def _sleep(self, epoch: int) -> bool:
        if self.pace_seconds > 0:
            self._local.wake.wait(self.pace_seconds)
        return self._alive(epoch)

    def _set(self, job: Job, epoch: int, **changes: Any) -> bool:
        with self._lock:
            if not self._alive(epoch):
                return False
            for k, v in changes.items():
                setattr(job, k, v)
            if (job.state, job.progress) != job.history[-1]:
                job.history.append((job.state, job.progress))
            return True

    def _fail(self, job: Job, epoch: int, reason: str) -> None:
        for unit in job.units:
            if unit.state != "Failed":
                unit.state = "Failed" if unit.reason else unit.state
        self._set(job, epoch, state="Failed", reason=reason, complete_time=_now_iso(), imported_rows=0)
        log.info("emulator job %s failed: %s", job.job_id, reason)

    def _run(self, job: Job, epoch: int, wake: threading.Event) -> None:
        self._local.wake = wake
        try:
            with self._slots:
                try:
                    self._run_inner(job, epoch)
                except Exception as exc:  # never leave a job hanging in a running state
                    log.exception("emulator job %s crashed", job.job_id)
                    self._fail(job, epoch, f"internal error: {type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._workers.discard(threading.current_thread())

    def _run_inner(self, job: Job, epoch: int) -> None:
        if not self._sleep(epoch):
            return
        milvus = job.flavour == "milvus"
        self._set(job, epoch, state="PreImporting" if milvus else "Importing", progress=0)
        # 1. resolve, read and validate every file; nothing is inserted before all pass
        try:
            schema = self.collections.describe(job.db, job.collection)
        except CollectionNotFound as exc:
            return self._fail(job, epoch, str(exc))
        units: list[FileUnit] = []
        for bucket, keys in job.groups:
            try:
                units.extend(expand_group(self.objects, bucket, keys))
            except (FileFormatError, ObjectNotFound) as exc:
                return self._fail(job, epoch, f"{exc}")
        self._set(job, epoch, units=units)
        total = 0
        for unit in units:
            try:
                raw = read_unit(self.objects, unit, schema)
                unit.rows = [
                    validate_row(schema, row, f"{unit.name}: row {i}", source=unit.kind)
                    for i, row in enumerate(raw)
                ]
            except (FileFormatError, RowError, ObjectNotFound) as exc:
                unit.state, unit.reason = "Failed", str(exc)
                return self._fail(job, epoch, f"failed to import file {unit.name}: {exc}")
            unit.total_rows = len(unit.rows)
            unit.state = "Importing"
            total += unit.total_rows
        self._set(job, epoch, total_rows=total, state="Importing")
        if not self._sleep(epoch):
            return
        if job.abort_requested:
            return self._fail(job, epoch, "aborted by request")
        # 2. insert, step by step, so progress by rows is observable
        top = 80 if milvus else 100
        inserted_ids: list[Any] = []
        done = 0

        def injected(progress: float, unit: FileUnit | None = None) -> bool:
            if job.abort_requested:
                self._roll_back(job, inserted_ids)
                self._fail(job, epoch, "aborted by request")
                return True
            if job.fail_at_percent is None or progress < job.fail_at_percent:
                return False
            self._roll_back(job, inserted_ids)
            what = f"failed to import file {unit.name}: " if unit else ""
            if unit:
                unit.state, unit.reason = "Failed", f"injected failure at {job.fail_at_percent:g}%"
            self._fail(job, epoch, f"{what}injected failure at {job.fail_at_percent:g}%")
            return True

        try:
            if job.partition:
                self.collections.ensure_partition(job.db, job.collection, job.partition)
            for unit in units:
                step = max(1, -(-len(unit.rows) // self.import_steps))
                for start in range(0, len(unit.rows), step):
                    batch = unit.rows[start : start + step]
                    progress = int((done + len(batch)) * top / max(total, 1))
                    if injected(progress, unit):
                        return
                    if not self._alive(epoch):
                        self._roll_back(job, inserted_ids)
                        return
                    self._insert(job, batch, inserted_ids)
                    done += len(batch)
                    unit.imported_rows += len(batch)
                    self._set(job, epoch, imported_rows=done, progress=progress)
                    if not self._sleep(epoch):
                        self._roll_back(job, inserted_ids)
                        return
                unit.state = "Completed"
                unit.rows = []
        except Exception as exc:
            self._roll_back(job, inserted_ids)
            return self._fail(job, epoch, f"failed to insert rows: {type(exc).__name__}: {exc}")
        if milvus:
            for state, progress in (("Sorting", 85), ("IndexBuilding", 90)):
                if injected(progress):
                    return
                self._set(job, epoch, state=state, progress=progress)
                if not self._sleep(epoch):
                    self._roll_back(job, inserted_ids)
                    return
        if injected(100):
            return
        if not job.auto_commit:  # Milvus 2PC: wait for /jobs/import/commit
            self._set(job, epoch, state="Uncommitted", progress=99)
            while not job.commit_requested:
                if not self._sleep(epoch) or job.abort_requested:
                    self._roll_back(job, inserted_ids)
                    if job.abort_requested:
                        self._fail(job, epoch, "aborted by request")
                    return
            self._set(job, epoch, state="Committing", progress=99)
            if not self._sleep(epoch):
                self._roll_back(job, inserted_ids)
                return
        for unit in units:
            unit.state = "Completed"
        self._set(job, epoch, state="Completed", progress=100, complete_time=_now_iso())
