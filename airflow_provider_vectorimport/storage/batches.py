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


DOWNLOAD_MANIFEST = ".vectorimport-download.json"  # written by storage.transfer.download_prefix


def _export_file(name: str) -> bool:
    return not (name.startswith((".", "_")) or name.endswith((".crc", ".tmp", ".part")))


def _manifest_files(manifest: dict[str, Any], where: str, file_type: str | None) -> list[tuple[Path, str]]:
    """The files a download manifest records, checked against the disk (size); never a folder walk."""
    if manifest.get("state") != "complete":
        raise ConfigurationError(
            f"{where}: the download did not complete (state {manifest.get('state')!r}); run it again"
        )
    root = Path(str(manifest.get("local_dir") or Path(where).parent))
    out: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for entry in manifest.get("files") or []:
        rel = entry.get("rel")
        path = Path(entry["path"]) if entry.get("path") else root / str(rel)
        if path in seen:
            continue  # nothing is read twice
        seen.add(path)
        if not _export_file(path.name):
            continue
        if not path.is_file():
            raise ConfigurationError(f"{path}: recorded by the download but missing; download again")
        size = path.stat().st_size
        if entry.get("bytes") is not None and size != int(entry["bytes"]):
            raise ConfigurationError(
                f"{path}: {size} bytes on disk, the download recorded {entry['bytes']}: the file changed "
                "since it was downloaded; download again"
            )
        if size == 0:
            continue
        if path.suffix and path.suffix.lower() not in _SUFFIXES:
            continue
        kind = _file_type(path, None)
        if kind is not None and (file_type is None or kind == file_type):
            out.append((path, kind))
    if not out:
        raise ConfigurationError(f"{where}: the download recorded no Parquet/JSON files")
    return out


def _load_manifest(source: Any) -> tuple[dict[str, Any], str] | None:
    """A download manifest from a ``download_prefix`` result (dict), a manifest file, or a folder that
    holds one; None for a plain file or folder."""
    if isinstance(source, dict):
        if source.get("manifest"):
            source = source["manifest"]
        elif "files" in source:  # a result without a manifest path (older XCom): its own file list
            entries = [{"path": f["path"], "bytes": f.get("bytes")} for f in source["files"]]
            return {"state": "complete", "files": entries, "local_dir": source.get("local_dir")}, "download"
        else:
            raise ConfigurationError(
                "expected a download result (with 'manifest' or 'files'), a file or a folder"
            )
    path = Path(source).expanduser()
    if path.is_dir() and (path / DOWNLOAD_MANIFEST).is_file():
        path = path / DOWNLOAD_MANIFEST
    if path.name != DOWNLOAD_MANIFEST:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigurationError(f"{path}: unreadable download manifest: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise ConfigurationError(f"{path}: not a download manifest")
    data.setdefault("local_dir", str(path.parent))
    return data, str(path)


def _json_tail_problem(path: Path) -> str | None:
    """A JSON export cut short (a crashed writer, a partial copy): its end does not close its start."""
    with open(path, "rb") as fh:
        head = fh.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
        fh.seek(max(0, path.stat().st_size - 64))
        tail = fh.read().rstrip(b" \t\r\n")
    if head.startswith(b"["):
        ok = tail.endswith(b"]")
    elif _ROWS_WRAPPER.match(head.decode("utf-8", "replace")):
        ok = tail.endswith(b"}") and tail[:-1].rstrip(b" \t\r\n").endswith(b"]")
    else:  # JSON lines / concatenated objects
        ok = tail.endswith(b"}")
    return None if ok else "the file ends mid-row (cut short): not a complete JSON export file"


def _preflight(files: list[tuple[Path, str]]) -> None:
    """Check every file before the first batch is yielded, so a bad file fails the whole read up front
    (nothing processed, then processed again on a retry): Parquet footers readable and one schema across
    the files; JSON files not cut mid-row."""
    import pyarrow.parquet as pq

    reference: tuple[Path, pa.Schema] | None = None
    for path, kind in files:
        if kind == "json":
            problem = _json_tail_problem(path)
            if problem:
                raise ConfigurationError(f"{path}: {problem}")
            continue
        try:
            pf = pq.ParquetFile(path)
            schema = pf.schema_arrow
            rows = pf.metadata.num_rows
        except (pa.ArrowException, OSError) as err:
            raise ConfigurationError(
                f"{path}: not a readable Parquet file (truncated or damaged?): {' '.join(str(err).split())}"
            ) from None
        if rows == 0 and len(schema) == 0:
            continue  # an empty part file
        plain = schema.remove_metadata()
        if reference is None:
            reference = (path, plain)
        elif not plain.equals(reference[1]):
            ref_path, ref = reference
            ours = {f.name: str(f.type) for f in plain}
            theirs = {f.name: str(f.type) for f in ref}
            diff = sorted(
                f"{n}: {theirs.get(n, 'absent')} vs {ours.get(n, 'absent')}"
                for n in set(ours) | set(theirs)
                if ours.get(n) != theirs.get(n)
            )
            raise ConfigurationError(
                f"{path}: Parquet schema differs from {ref_path.name} in the same export "
                f"({'; '.join(diff[:5]) or 'field order'}): files from another export or collection?"
            )


def iter_record_batches(
    path: str | os.PathLike[str] | dict[str, Any],
    *,
    batch_size: int = 10_000,
    file_type: str | None = None,
) -> Iterator[pa.RecordBatch]:
    """Record batches of at most ``batch_size`` rows from downloaded export files.

    ``path``: the result of a download (``download_prefix`` / ``DownloadFromObjectStorageOperator``,
    e.g. its XCom), its download manifest, or the folder it downloaded to: then exactly the files the
    download recorded are read (other files in the folder are not), each checked against its recorded
    size. A plain file or a folder without a manifest is read as is (a folder is walked).

    Before the first batch, every file is checked: Parquet footers readable and one schema across the
    files, JSON files not cut mid-row; a bad file raises :class:`ConfigurationError` naming it, so
    nothing is half-processed. ``file_type`` ("parquet" or "json") forces the format (and, for a
    folder, selects those files); otherwise it is taken from the extension, or sniffed.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigurationError(f"batch_size must be a positive integer, got {batch_size!r}")
    if file_type is not None and file_type not in FILE_TYPES:
        raise ConfigurationError(f"file_type must be one of {FILE_TYPES}, got {file_type!r}")
    loaded = _load_manifest(path)
    if loaded is not None:
        files = _manifest_files(loaded[0], loaded[1], file_type)
    else:
        files = _files(Path(path).expanduser(), file_type)  # type: ignore[arg-type]
    _preflight(files)
    for file, kind in files:
        if kind == "parquet":
            import pyarrow.parquet as pq

            try:
                yield from pq.ParquetFile(file).iter_batches(batch_size=batch_size)
            except (pa.ArrowException, OSError) as err:
                raise ConfigurationError(
                    f"{file}: damaged Parquet file: {' '.join(str(err).split())}"
                ) from None
        else:
            yield from _json_batches(file, batch_size)
