"""Reading import files the way Milvus / Zilliz Cloud do: Parquet, JSON (``{"rows": [...]}`` or a
top-level array), JSONL, CSV and NumPy row sets (one ``<field>.npy`` per field, ``$meta.npy`` for
dynamic fields). A folder expands to its files; all ``.npy`` files of one folder form one row set.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_vectorimport.emulator.schema import HALF_VECTOR_TYPES, CollectionSchema
from airflow_provider_vectorimport.emulator.storage import ObjectNotFound, ObjectStore

SUPPORTED = (".parquet", ".json", ".jsonl", ".csv", ".npy")


class FileFormatError(ValueError):
    """A file cannot be read or has an unsupported layout; the message names the file."""


@dataclass
class FileUnit:
    """One row set of an import job: a single file, or the ``.npy`` files of one NumPy folder."""

    name: str
    bucket: str
    keys: list[str]
    size: int = 0
    kind: str = ""
    total_rows: int = 0
    imported_rows: int = 0
    state: str = "Pending"
    reason: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list, repr=False)


def _kind(key: str) -> str:
    for ext in SUPPORTED:
        if key.lower().endswith(ext):
            return ext.lstrip(".")
    return ""


def expand_group(store: ObjectStore, bucket: str, keys: list[str]) -> list[FileUnit]:
    """The row sets one request group (``files[i]`` / ``objectUrls[i]``) stands for."""
    if not keys:
        raise FileFormatError("an empty file group")
    units: list[FileUnit] = []
    npy_keys: list[tuple[str, int]] = []
    for key in keys:
        if key == "" or key.endswith("/"):
            listed = store.list(bucket, key)
            if not listed:
                raise FileFormatError(f"{bucket}/{key}: folder is empty or does not exist")
            by_dir: dict[str, list[tuple[str, int]]] = {}
            for k, size in listed:
                kind = _kind(k)
                if kind == "npy":
                    by_dir.setdefault(k.rsplit("/", 1)[0] if "/" in k else "", []).append((k, size))
                elif kind:
                    units.append(FileUnit(name=k, bucket=bucket, keys=[k], size=size, kind=kind))
            for folder, items in sorted(by_dir.items()):
                units.append(
                    FileUnit(
                        name=f"{folder}/" if folder else key,
                        bucket=bucket,
                        keys=[k for k, _ in items],
                        size=sum(s for _, s in items),
                        kind="npy",
                    )
                )
            if not units:
                raise FileFormatError(
                    f"{bucket}/{key}: folder holds no supported file ({', '.join(SUPPORTED)})"
                )
            continue
        kind = _kind(key)
        if not kind:
            raise FileFormatError(
                f"{bucket}/{key}: unsupported file type (supported: {', '.join(SUPPORTED)})"
            )
        try:
            size = store.size(bucket, key)
        except ObjectNotFound as exc:
            raise FileFormatError(f"{bucket}/{key}: file not found") from exc
        if kind == "npy":
            npy_keys.append((key, size))
        else:
            units.append(FileUnit(name=key, bucket=bucket, keys=[key], size=size, kind=kind))
    if npy_keys:
        if units:
            raise FileFormatError(f"{npy_keys[0][0]}: a group mixes NumPy files with other file types")
        prefix = npy_keys[0][0].rsplit("/", 1)[0] + "/" if "/" in npy_keys[0][0] else npy_keys[0][0]
        units.append(
            FileUnit(
                name=prefix,
                bucket=bucket,
                keys=[k for k, _ in npy_keys],
                size=sum(s for _, s in npy_keys),
                kind="npy",
            )
        )
    return units


def read_unit(
    store: ObjectStore, unit: FileUnit, schema: CollectionSchema | None = None
) -> list[dict[str, Any]]:
    """All rows of ``unit`` as dicts (values still raw; the schema check comes after). With
    ``schema``, the column types of Parquet and NumPy files are checked first, as the Milvus readers
    check them (vector columns that are read as bytes or int8)."""
    try:
        if unit.kind == "npy":
            return _read_numpy(store, unit, schema)
        data = store.get(unit.bucket, unit.keys[0])
    except ObjectNotFound as exc:
        raise FileFormatError(f"{unit.name}: file not found") from exc
    try:
        if unit.kind == "parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(io.BytesIO(data))
            if schema is not None:
                _check_parquet_columns(unit.name, table.schema, schema)
            return table.to_pylist()
        if unit.kind == "json":
            text = data.decode("utf-8")
            try:
                doc = json.loads(text)
            except ValueError:
                if "\n" not in text.strip():
                    raise
                unit.kind = "jsonl"  # JSON lines named .json (VikingDB exports)
                return read_unit(store, unit)
            if isinstance(doc, dict) and isinstance(doc.get("rows"), list):
                return doc["rows"]
            if isinstance(doc, list):
                return doc
            raise FileFormatError(f'{unit.name}: JSON must be {{"rows": [...]}} or a top-level array of rows')
        if unit.kind == "jsonl":
            rows = []
            for n, line in enumerate(data.decode("utf-8").splitlines(), start=1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except ValueError as exc:
                        raise FileFormatError(f"{unit.name}: line {n}: invalid JSON ({exc})") from exc
            return rows
        if unit.kind == "csv":
            import csv

            rows = []
            for row in csv.DictReader(io.StringIO(data.decode("utf-8"))):
                rows.append({k: _csv_value(v) for k, v in row.items()})
            return rows
    except FileFormatError:
        raise
    except Exception as exc:
        raise FileFormatError(
            f"{unit.name}: cannot read {unit.kind} file ({type(exc).__name__}: {exc})"
        ) from exc
    raise FileFormatError(f"{unit.name}: unsupported file type")


def _csv_value(value: str | None) -> Any:
    if value is None or value == "":
        return None
    text = value.strip()
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except ValueError:
            return value
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.lower() in {"true", "false"}:
        return text.lower() == "true"
    return value


# ---- column types the Milvus 2.5 / 2.6 readers accept -------------------------------------------
# internal/util/importutilv2/parquet/field_reader.go: Float16Vector / BFloat16Vector go through
# ReadBinaryData (arrow BINARY, or a LIST of uint8; anything else is a type error) with 2*dim bytes a
# row; Int8Vector is a LIST of int8. numpy/field_reader.go: ReadN[uint8] with count *= dim*2 for the
# half types, ReadN[int8] for Int8Vector. pymilvus bulk_writer/constants.py writes exactly these.
def _check_parquet_columns(name: str, arrow_schema: Any, schema: CollectionSchema) -> None:
    import pyarrow as pa

    for spec in schema.fields:
        if spec.name not in arrow_schema.names:
            continue
        t = arrow_schema.field(spec.name).type
        is_list = pa.types.is_list(t) or pa.types.is_large_list(t)
        if spec.data_type in HALF_VECTOR_TYPES:
            if pa.types.is_binary(t) or (is_list and pa.types.is_uint8(t.value_type)):
                continue
            raise FileFormatError(
                f"{name}: field {spec.name!r}: the Parquet column is {t}, but {spec.data_type} is read "
                f"as binary or list<uint8> of {2 * (spec.dim or 0)} bytes per row (2*dim, dim={spec.dim})"
            )
        if spec.data_type == "Int8Vector" and not (is_list and pa.types.is_int8(t.value_type)):
            raise FileFormatError(
                f"{name}: field {spec.name!r}: the Parquet column is {t}, but Int8Vector is read as "
                f"list<int8> of {spec.dim} values per row"
            )


def _check_numpy_column(key: str, arr: Any, schema: CollectionSchema | None) -> None:
    spec = schema.field(key.rsplit("/", 1)[-1][: -len(".npy")]) if schema is not None else None
    if spec is None:
        return
    if spec.data_type in HALF_VECTOR_TYPES:
        want, width = "uint8", 2 * (spec.dim or 0)
    elif spec.data_type == "Int8Vector":
        want, width = "int8", spec.dim or 0
    else:
        return
    if str(arr.dtype) != want or arr.ndim != 2 or arr.shape[1] != width:
        raise FileFormatError(
            f"{key}: field {spec.name!r}: the NumPy array is {arr.dtype} of shape {tuple(arr.shape)}, but "
            f"{spec.data_type} is read as {want} of shape (n, {width})"
            + (f" (2*dim, dim={spec.dim})" if want == "uint8" else "")
        )


def _read_numpy(
    store: ObjectStore, unit: FileUnit, schema: CollectionSchema | None = None
) -> list[dict[str, Any]]:
    import numpy as np

    columns: dict[str, Any] = {}
    for key in unit.keys:
        name = key.rsplit("/", 1)[-1][: -len(".npy")]
        try:
            arr = np.load(io.BytesIO(store.get(unit.bucket, key)), allow_pickle=False)
        except ObjectNotFound:
            raise
        except Exception as exc:
            raise FileFormatError(f"{key}: not a valid .npy file ({exc})") from exc
        _check_numpy_column(key, arr, schema)
        columns[name] = arr
    lengths = {name: len(arr) for name, arr in columns.items()}
    if len(set(lengths.values())) > 1:
        raise FileFormatError(f"{unit.name}: NumPy files have different row counts: {lengths}")
    n = next(iter(lengths.values()), 0)
    rows = []
    for i in range(n):
        row = {}
        for name, arr in columns.items():
            value = arr[i]
            row[name] = value.tolist() if hasattr(value, "tolist") else value
        rows.append(row)
    return rows
