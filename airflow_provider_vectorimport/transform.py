"""A small declarative mapping from exported rows to a target collection, applied in Arrow batches.

Used between a download (``DownloadFromObjectStorageOperator``, e.g. a VikingDB export) and
``PrepareImportFilesOperator``::

    mapping = FieldMapping(rename={"doc_id": "id", "emb": "vector"}, drop=["internal"],
                           cast={"claps": "int64", "vector": "float32"}, function=my_fix)
    result = transform_export(download_xcom, mapping, "/data/run/transformed", target_schema=schema)
    # -> {"files": [".../part-00000.parquet"], "rows": 1234, "columns": [...]}

Order: ``rename`` -> ``drop`` -> ``cast`` -> ``function`` (a callable ``RecordBatch -> RecordBatch``).
Cast targets: ``int8`` ``int16`` ``int32`` ``int64`` ``float32`` ``float64`` ``bool`` ``string``;
for a vector (list) column the element type (``float32``), never its length.

Before the first batch is written the mapping is checked against the first batch's columns and the
target schema; each problem raises :class:`MappingError` naming the field: a mapping that drops (or
renames away) the primary key, renames or casts a field the export does not have, casts to an unknown
type, or maps a vector to a different dimension than the target's. Every batch's vectors are checked
against the target dimension too (a row whose vector has another length names the field and the row).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from airflow_provider_vectorimport.exceptions import ConfigurationError

__all__ = ["FieldMapping", "MappingError", "apply_mapping", "check_mapping", "transform_export"]

_CASTS: dict[str, pa.DataType] = {
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "string": pa.string(),
}


class MappingError(ConfigurationError):
    """The mapping cannot produce rows for the target collection (names the field)."""


@dataclass(frozen=True)
class FieldMapping:
    """``rename`` (source -> target name), ``drop`` (source names), ``cast`` (target name -> type),
    ``function`` (optional ``RecordBatch -> RecordBatch``, applied last)."""

    rename: Mapping[str, str] = field(default_factory=dict)
    drop: Sequence[str] = ()
    cast: Mapping[str, str] = field(default_factory=dict)
    function: Callable[[pa.RecordBatch], pa.RecordBatch] | None = None

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any] | FieldMapping | None) -> FieldMapping:
        """From ``{"rename": {...}, "drop": [...], "cast": {...}}`` (e.g. DAG params / XCom)."""
        if isinstance(spec, FieldMapping):
            return spec
        spec = dict(spec or {})
        unknown = set(spec) - {"rename", "drop", "cast", "function"}
        if unknown:
            raise MappingError(f"mapping: unknown key(s) {sorted(unknown)} (rename, drop, cast, function)")
        return cls(
            rename=dict(spec.get("rename") or {}),
            drop=list(spec.get("drop") or []),
            cast=dict(spec.get("cast") or {}),
            function=spec.get("function"),
        )


def _target_fields(target_schema: Any) -> tuple[str | None, dict[str, int]]:
    """(primary key name, {vector field: dim}) of a CollectionSchema / schema dict, or (None, {})."""
    if target_schema is None:
        return None, {}
    from airflow_provider_vectorimport.prepare.schema import CollectionSchema

    schema = CollectionSchema.load(target_schema)
    dims = {f.name: int(f.dim) for f in schema.fields if f.is_vector and f.dim}
    return schema.primary.name, dims


def check_mapping(source: pa.Schema, mapping: FieldMapping, target_schema: Any = None) -> pa.Schema:
    """The schema the mapping produces from ``source`` (before ``function``); :class:`MappingError`
    naming the field for a mapping that cannot work."""
    names = list(source.names)
    for old, new in mapping.rename.items():
        if old not in names:
            raise MappingError(f"mapping: rename of field {old!r}, which the export does not have ({names})")
        if new in names and new != old and new not in mapping.rename:
            raise MappingError(
                f"mapping: renaming {old!r} to {new!r} clashes with the existing field {new!r}"
            )
    renamed = [mapping.rename.get(n, n) for n in names]
    for name in mapping.drop:
        if name not in names:
            raise MappingError(f"mapping: drop of field {name!r}, which the export does not have ({names})")
    kept = [
        (new, source.field(old).type)
        for old, new in zip(names, renamed, strict=True)
        if old not in mapping.drop
    ]
    kept_names = [n for n, _ in kept]
    for name, type_name in mapping.cast.items():
        if name not in kept_names:
            raise MappingError(
                f"mapping: cast of field {name!r}, which is not in the mapped rows ({kept_names})"
            )
        if type_name not in _CASTS:
            raise MappingError(
                f"mapping: cast of field {name!r} to {type_name!r}: expected one of {sorted(_CASTS)}"
            )
    primary, dims = _target_fields(target_schema)
    if primary is not None and primary not in kept_names:
        sources = [old for old, new in zip(names, renamed, strict=True) if new == primary]
        how = f"drops its source field {sources[0]!r}" if sources else "produces no such field"
        raise MappingError(
            f"mapping: the target's primary key {primary!r} would be missing (the mapping {how})"
        )
    out = []
    for name, typ in kept:
        if name in mapping.cast:
            cast_to = _CASTS[mapping.cast[name]]
            typ = pa.list_(cast_to) if pa.types.is_list(typ) or pa.types.is_fixed_size_list(typ) else cast_to
        out.append(pa.field(name, typ))
    for name in dims:
        if name in kept_names:
            typ = dict(kept)[name]
            if not (pa.types.is_list(typ) or pa.types.is_fixed_size_list(typ) or pa.types.is_large_list(typ)):
                raise MappingError(
                    f"mapping: field {name!r} is a vector in the target but {typ} in the export"
                )
    return pa.schema(out)


def _check_dims(batch: pa.RecordBatch, dims: Mapping[str, int], offset: int) -> None:
    for name, dim in dims.items():
        if name not in batch.schema.names:
            continue
        lengths = pc.list_value_length(batch.column(name))
        bad = pc.indices_nonzero(pc.fill_null(pc.not_equal(lengths, dim), False))
        if len(bad):
            row = bad[0].as_py()
            raise MappingError(
                f"mapping: field {name!r} has dimension {lengths[row].as_py()} in row {offset + row} "
                f"but the target's dimension is {dim} (a mapping must not change a vector's dimension)"
            )


def apply_mapping(batch: pa.RecordBatch, mapping: FieldMapping) -> pa.RecordBatch:
    """One batch through rename -> drop -> cast -> function."""
    columns, names = [], []
    for old, column in zip(batch.schema.names, batch.columns, strict=True):
        if old in mapping.drop:
            continue
        name = mapping.rename.get(old, old)
        if name in mapping.cast:
            cast_to = _CASTS[mapping.cast[name]]
            if pa.types.is_list(column.type) or pa.types.is_fixed_size_list(column.type):
                cast_to = pa.list_(cast_to)
            try:
                column = column.cast(cast_to)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise MappingError(
                    f"mapping: cast of field {name!r} to {mapping.cast[name]!r} failed: {exc}"
                ) from None
        columns.append(column)
        names.append(name)
    out = pa.RecordBatch.from_arrays(columns, names=names)
    if mapping.function is not None:
        out = mapping.function(out)
        if not isinstance(out, pa.RecordBatch):
            raise MappingError(
                f"mapping: function returned {type(out).__name__}, expected a pyarrow.RecordBatch"
            )
    return out


def transform_export(
    download: Any,
    mapping: FieldMapping | Mapping[str, Any],
    output_dir: str | os.PathLike[str],
    *,
    target_schema: Any = None,
    target_schemas: Mapping[str, Any] | None = None,
    batch_size: int = 10_000,
    rows_per_file: int = 1_000_000,
) -> dict[str, Any]:
    """Read a download (its XCom / manifest / folder) in Arrow batches, map each batch and write
    Parquet parts into ``output_dir`` (replaced). Returns ``{"files", "rows", "columns"}``.

    ``target_schema``: the one target's schema; ``target_schemas``: several targets' (label ->
    schema, e.g. ``{"milvus 'docs'": ..., "zilliz_cloud 'docs'": ...}``) when the same rows go to
    several collections: the mapping must fit each, and an error names the target's label."""
    from airflow_provider_vectorimport.storage import iter_record_batches

    mapping = FieldMapping.from_dict(mapping)
    targets: list[tuple[str | None, Any, str | None, dict[str, int]]] = [
        (label, schema, *_target_fields(schema))
        for label, schema in [(None, target_schema), *(target_schemas or {}).items()]
        if schema is not None
    ]
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("part-*.parquet"):
        old.unlink()
    files: list[str] = []
    writer: pq.ParquetWriter | None = None
    rows = in_file = 0
    columns: list[str] = []
    checked = False
    try:
        for batch in _batches(iter_record_batches(download, batch_size=batch_size)):
            if not checked:
                if not targets:
                    check_mapping(batch.schema, mapping)
                for label, schema, _, _ in targets:
                    with _naming(label):
                        check_mapping(batch.schema, mapping, schema)
                checked = True
            mapped = apply_mapping(batch, mapping)
            for label, _, primary, dims in targets:
                with _naming(label):
                    if primary is not None and primary not in mapped.schema.names:
                        raise MappingError(
                            f"mapping: the function removed the target's primary key {primary!r}"
                        )
                    _check_dims(mapped, dims, rows)
            if writer is not None and (in_file >= rows_per_file or mapped.schema != writer.schema):
                writer.close()
                writer = None
            if writer is None:
                path = out / f"part-{len(files):05d}.parquet"
                writer = pq.ParquetWriter(str(path), mapped.schema)
                files.append(str(path))
                columns = mapped.schema.names
                in_file = 0
            writer.write_batch(mapped)
            rows += mapped.num_rows
            in_file += mapped.num_rows
    except BaseException:
        if writer is not None:
            writer.close()
            writer = None
        for written in files:  # no partial output for a later step to pick up
            Path(written).unlink(missing_ok=True)
        raise
    finally:
        if writer is not None:
            writer.close()
    return {"files": files, "rows": rows, "columns": columns}


@contextmanager
def _naming(label: str | None) -> Iterator[None]:
    """A MappingError raised inside names the target (``label``) it concerns."""
    try:
        yield
    except MappingError as exc:
        if label is None:
            raise
        text = str(exc)
        text = text[len("mapping: ") :] if text.startswith("mapping: ") else text
        raise MappingError(f"mapping for target {label}: {text}") from exc


def _batches(batches: Iterable[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
    for batch in batches:
        if batch.num_rows:
            yield batch
