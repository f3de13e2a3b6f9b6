"""The data side of the VikingDB task emulation: exports read the emulator's collections (Milvus
Lite), apply the task's filter and write Parquet / JSON under ``tos_path`` ("bucket/prefix") in the
emulator's object store; imports load the Parquet / JSON files found under ``tos_path``.
Implements the ``VikingDBBackend`` protocol that ``emulator/vikingdb.py`` drives.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_vectorimport.emulator.collections import CollectionStore
from airflow_provider_vectorimport.emulator.formats import FileFormatError, FileUnit, read_unit
from airflow_provider_vectorimport.emulator.schema import RowError, validate_row
from airflow_provider_vectorimport.emulator.storage import ObjectNotFound, ObjectStore
from airflow_provider_vectorimport.emulator.vikingdb import BackendError as _BackendBase
from airflow_provider_vectorimport.emulator.vikingdb import filter_conds_problem, select_rows

FILE_TYPES = {"parquet": ".parquet", "json": ".json"}
ROWS_PER_FILE = 1000


class BackendError(_BackendBase):
    """A task's work failed: bad tos_path, missing files, rows that do not fit the schema..."""


def split_tos_path(tos_path: Any) -> tuple[str, str]:
    """``"bucket/some/prefix"`` -> ``("bucket", "some/prefix/")``; ValueError names the problem."""
    if not isinstance(tos_path, str) or not tos_path.strip().strip("/"):
        raise BackendError(f"tos_path must be 'bucket/path', got {tos_path!r}")
    text = tos_path.strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    bucket, _, prefix = text.strip("/").partition("/")
    return bucket, (prefix.strip("/") + "/") if prefix.strip("/") else ""


def _cmp(value: Any, op: str, bound: Any) -> bool:
    try:
        return {
            "gt": value > bound,
            "gte": value >= bound,
            "lt": value < bound,
            "lte": value <= bound,
        }[op]
    except TypeError:
        return False


def _values(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def matches(row: Mapping[str, Any], flt: Any) -> bool:
    """VikingDB filter semantics over one row: a ``filter_conds`` list (every condition holds),
    ``{"op": "must"|"must_nor"|"must_not", "field", "conds"}``,
    ``{"op": "range"|"range_out", "field", "gt"/"gte"/"lt"/"lte"}``,
    ``{"op": "and"|"or", "conds": [...]}``, or the seed's short form ``{"field": [allowed values]}``
    (all must hold)."""
    if not flt:
        return True
    if isinstance(flt, list):
        return all(matches(row, cond) for cond in flt)
    if not isinstance(flt, Mapping):
        raise ValueError(f"filter must be an object, got {type(flt).__name__}")
    op = flt.get("op")
    if op is None:
        return all(any(v in _values(row.get(f)) for v in _values(allowed)) for f, allowed in flt.items())
    op = str(op).lower()
    if op in {"and", "or"}:
        conds = flt.get("conds")
        if not isinstance(conds, list):
            raise ValueError(f"filter op {op!r} needs a list of conds")
        results = (matches(row, c) for c in conds)
        return all(results) if op == "and" else any(results)
    field = flt.get("field")
    if not isinstance(field, str):
        raise ValueError(f"filter op {op!r} needs a field name")
    value = row.get(field)
    if op in {"must", "must_nor", "must_not"}:
        conds = flt.get("conds")
        if not isinstance(conds, list):
            raise ValueError(f"filter op {op!r} on {field!r} needs a list of conds")
        hit = any(v in conds for v in _values(value))
        return hit if op == "must" else not hit
    if op in {"range", "range_out"}:
        bounds = {k: flt[k] for k in ("gt", "gte", "lt", "lte") if k in flt}
        if not bounds:
            raise ValueError(f"range filter on {field!r} needs gt/gte/lt/lte")
        inside = value is not None and all(_cmp(value, k, b) for k, b in bounds.items())
        return inside if op == "range" else (value is not None and not inside)
    raise ValueError(f"unsupported filter op {op!r}")


class EmulatorVikingDBBackend:
    """``VikingDBBackend`` over the emulator's collections and object store."""

    def __init__(self, collections: CollectionStore, objects: ObjectStore, *, db: str = "default") -> None:
        self.collections = collections
        self.objects = objects
        self.db = db

    def has_collection(self, name: str) -> bool:
        return self.collections.has(self.db, name)

    def export(
        self,
        collection_name: str,
        *,
        filter: Any = None,
        export_all: bool = False,
        tos_path: str,
        file_type: str = "parquet",
        filter_conds: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Rows as :func:`~airflow_provider_vectorimport.emulator.vikingdb.select_rows` picks them
        (``filter_conds``, the legacy ``filter`` map or, for direct calls, a single condition)."""
        file_type = (file_type or "parquet").lower()
        if file_type not in FILE_TYPES:
            raise BackendError(f"file_type must be one of {sorted(FILE_TYPES)}, got {file_type!r}")
        bucket, prefix = split_tos_path(tos_path)
        if not self.has_collection(collection_name):
            raise BackendError(f"collection not exist: {collection_name}")
        snapshot = int(time.time())
        rows = self.collections.scan(self.db, collection_name)
        if filter_conds and filter_conds_problem(filter_conds):
            raise BackendError(f"invalid filter: {filter_conds_problem(filter_conds)}")
        try:
            if isinstance(filter, Mapping) and "op" in filter:  # one condition, for direct calls
                selected = rows if export_all else [r for r in rows if matches(r, filter)]
                filter = None
                selected = select_rows(selected, filter_conds=filter_conds, export_all=export_all)
            else:
                selected = select_rows(rows, filter_conds=filter_conds, filter=filter, export_all=export_all)
        except ValueError as exc:
            raise BackendError(f"invalid filter: {exc}") from exc
        files = []
        chunks = [selected[i : i + ROWS_PER_FILE] for i in range(0, len(selected), ROWS_PER_FILE)]
        for n, chunk in enumerate(chunks or [[]]):
            key = f"{prefix}{n}{FILE_TYPES[file_type]}"
            if file_type == "parquet":
                import pyarrow as pa
                import pyarrow.parquet as pq

                buf = io.BytesIO()
                pq.write_table(pa.Table.from_pylist(chunk) if chunk else pa.table({}), buf)
                payload = buf.getvalue()
            else:  # JSON lines, as the service writes them
                payload = "".join(
                    json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in chunk
                ).encode()
            try:
                self.objects.put(bucket, key, payload)
            except Exception as exc:
                raise BackendError(f"cannot write tos://{bucket}/{key}: {type(exc).__name__}: {exc}") from exc
            files.append(f"{bucket}/{key}")
        return {
            "total_data_count": len(rows),
            "scan_data_count": len(rows),
            "total_filter_count": len(selected),
            "sampled_data": selected[:5],
            "sampled_timestamp": snapshot,
            "files": files,
        }

    def import_rows(
        self,
        collection_name: str,
        *,
        tos_path: str,
        file_type: str = "parquet",
        ignore_error: bool = False,
    ) -> dict[str, Any]:
        file_type = (file_type or "parquet").lower()
        if file_type not in FILE_TYPES:
            raise BackendError(f"file_type must be one of {sorted(FILE_TYPES)}, got {file_type!r}")
        bucket, prefix = split_tos_path(tos_path)
        if not self.has_collection(collection_name):
            raise BackendError(f"collection not exist: {collection_name}")
        schema = self.collections.describe(self.db, collection_name)
        try:
            listed = self.objects.list(bucket, prefix)
        except ObjectNotFound as exc:
            raise BackendError(f"tos_path {tos_path!r}: {exc}") from exc
        ext = FILE_TYPES[file_type]
        keys = [
            k for k, _ in listed if k.lower().endswith(ext) or (file_type == "json" and k.endswith(".jsonl"))
        ]
        if not keys:
            raise BackendError(f"no .{file_type} files under {tos_path}")
        good: list[dict[str, Any]] = []
        errors: list[str] = []
        total = 0
        for key in keys:
            unit = FileUnit(
                name=f"{bucket}/{key}", bucket=bucket, keys=[key], kind=key.rsplit(".", 1)[-1].lower()
            )
            try:
                raw = read_unit(self.objects, unit)
            except FileFormatError as exc:
                if not ignore_error:
                    raise BackendError(str(exc)) from exc
                errors.append(str(exc))
                continue
            for i, row in enumerate(raw):
                total += 1
                try:
                    good.append(validate_row(schema, row, f"{unit.name}: row {i}"))
                except RowError as exc:
                    if not ignore_error:
                        raise BackendError(str(exc)) from exc
                    errors.append(str(exc))
        self.collections.insert(self.db, collection_name, good)
        return {
            "total_data_count": self.collections.count(self.db, collection_name),
            "scan_data_count": total,
            "total_filter_count": len(good),
            "sampled_data": good[:5],
            "files": [f"{bucket}/{k}" for k in keys],
            "err_msg": "; ".join(errors[:5]),
        }

    def delete_rows(
        self, collection_name: str, *, filter: Any = None, dry_run: bool = False
    ) -> dict[str, Any]:
        """``filter_delete``: remove the rows matching ``filter`` (all rows when it is empty);
        ``dry_run``: only count them and sample <= 5 (the scan before a confirmation)."""
        if not self.has_collection(collection_name):
            raise BackendError(f"collection not exist: {collection_name}")
        pk = self.collections.describe(self.db, collection_name).primary.name
        rows = self.collections.scan(self.db, collection_name)
        try:
            hits = [r for r in rows if matches(r, filter)]
        except ValueError as exc:
            raise BackendError(f"invalid filter: {exc}") from exc
        if not dry_run:
            self.collections.delete_ids(self.db, collection_name, [r[pk] for r in hits])
        return {
            "total_data_count": len(rows),
            "scan_data_count": len(rows),
            "total_filter_count": len(hits),
            "sampled_data": hits[:5] if dry_run else [],
        }

    def collection_rows(self, name: str, fields: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """All rows of a collection (handy in tests)."""
        rows = self.collections.scan(self.db, name)
        if fields:
            rows = [{k: r.get(k) for k in fields} for r in rows]
        return rows
