"""Read downloaded export files as Arrow record batches in bounded memory (pure: no Airflow imports).

This is the "process in Arrow batches" step after a VikingDB (or Milvus) export has been downloaded:
Parquet files are read row group by row group; JSON files are parsed incrementally (a JSON array,
a ``{"rows": [...]}`` document, or JSON lines / concatenated objects), ``batch_size`` rows at a time,
so memory stays proportional to one batch whatever the file size.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from airflow_provider_vectorimport.exceptions import ConfigurationError

FILE_TYPES = ("parquet", "json")
_SUFFIXES = {".parquet": "parquet", ".json": "json", ".jsonl": "json", ".ndjson": "json"}
_ROWS_WRAPPER = re.compile(r'\s*\{\s*"rows"\s*:\s*\[')
_READ_CHUNK = 1 << 20


def _file_type(path: Path, file_type: str | None) -> str | None:
    if file_type:
        return file_type
    kind = _SUFFIXES.get(path.suffix.lower())
    if kind:
        return kind
    with open(path, "rb") as fh:  # extension-less export files: sniff
        head = fh.read(4)
    if head == b"PAR1":
        return "parquet"
    if head[:1] in (b"{", b"["):
        return "json"
    return None


def _files(path: Path, file_type: str | None) -> list[tuple[Path, str]]:
    if not path.exists():
        raise ConfigurationError(f"path does not exist: {path}")
    if path.is_file():
        kind = _file_type(path, file_type)
        if kind is None:
            raise ConfigurationError(f"cannot tell the format of {path}; pass file_type='parquet' or 'json'")
        return [(path, kind)]
    out = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith((".", "_")) or name.endswith((".crc", ".tmp", ".part")):
                continue
            full = Path(dirpath) / name
            if full.stat().st_size == 0:
                continue
            if full.suffix and full.suffix.lower() not in _SUFFIXES:
                continue  # only extension-less files are sniffed inside a folder
            kind = _file_type(full, None)
            if kind is not None and (file_type is None or kind == file_type):
                out.append((full, kind))
    if not out:
        wanted = f"{file_type} " if file_type else "Parquet/JSON "
        raise ConfigurationError(f"no {wanted}files found under {path}")
    return out


def _iter_json_values(fh: IO[str], path: Path) -> Iterator[Any]:
    """Yield the objects of a JSON array, a {"rows": [...]} document or JSON lines, incrementally."""
    decoder = json.JSONDecoder()
    buf = fh.read(_READ_CHUNK)
    pos = 0
    stripped = buf.lstrip()
    in_array = False
    if stripped.startswith("["):
        in_array = True
        pos = buf.index("[") + 1
    else:
        m = _ROWS_WRAPPER.match(buf)
        if m:
            in_array = True
            pos = m.end()
    eof = False
    while True:
        # skip separators
        while True:
            while pos < len(buf) and (buf[pos].isspace() or (in_array and buf[pos] == ",")):
                pos += 1
            if pos < len(buf) or eof:
                break
            buf, pos = fh.read(_READ_CHUNK), 0
            eof = not buf
        if pos >= len(buf):
            return
        if in_array and buf[pos] == "]":
            return
        while True:
            try:
                value, end = decoder.raw_decode(buf, pos)
                # a number/literal at the buffer end may be cut: make sure more input cannot extend it
                if end == len(buf) and not eof:
                    raise ValueError("need more input")
                break
            except ValueError as err:
                if eof:
                    raise ConfigurationError(
                        f"{path}: invalid JSON near character offset {pos}: {err}"
                    ) from None
                more = fh.read(_READ_CHUNK)
                eof = not more
                buf, pos = buf[pos:] + more, 0
        yield value
        pos = end
        if pos > _READ_CHUNK:
            buf, pos = buf[pos:], 0


def _json_batches(path: Path, batch_size: int) -> Iterator[pa.RecordBatch]:
    schema: pa.Schema | None = None
    rows: list[dict[str, Any]] = []

    def flush() -> pa.RecordBatch:
        nonlocal schema
        inferred = pa.RecordBatch.from_pylist(rows).schema
        schema = (
            inferred if schema is None else pa.unify_schemas([schema, inferred], promote_options="permissive")
        )
        return pa.RecordBatch.from_pylist(rows, schema=schema)

    with open(path, encoding="utf-8") as fh:
        for i, value in enumerate(_iter_json_values(fh, path)):
            if not isinstance(value, dict):
                raise ConfigurationError(
                    f"{path}: row {i} is a {type(value).__name__}, expected a JSON object"
                )
            rows.append(value)
            if len(rows) >= batch_size:
                yield flush()
                rows = []
    if rows:
        yield flush()


def iter_record_batches(
    path: str | os.PathLike[str], *, batch_size: int = 10_000, file_type: str | None = None
) -> Iterator[pa.RecordBatch]:
    """Record batches of at most ``batch_size`` rows from a file or a folder of Parquet / JSON files.

    ``file_type`` ("parquet" or "json") forces the format (and, for a folder, selects those files);
    otherwise it is taken from the extension, or sniffed for extension-less files.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigurationError(f"batch_size must be a positive integer, got {batch_size!r}")
    if file_type is not None and file_type not in FILE_TYPES:
        raise ConfigurationError(f"file_type must be one of {FILE_TYPES}, got {file_type!r}")
    for file, kind in _files(Path(path).expanduser(), file_type):
        if kind == "parquet":
            import pyarrow.parquet as pq

            try:
                pf = pq.ParquetFile(file)
            except (pa.ArrowInvalid, OSError) as err:
                raise ConfigurationError(f"{file}: not a readable Parquet file: {err}") from None
            yield from pf.iter_batches(batch_size=batch_size)
        else:
            yield from _json_batches(file, batch_size)
