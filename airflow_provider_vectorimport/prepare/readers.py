"""Streaming readers: every input becomes a sequence of :class:`Batch` es of bounded size.

* JSON (``{"rows": [...]}`` as in the vendor samples, or a top-level array): a byte-level scan (NumPy,
  vectorised) finds the array's elements and rewrites each block as JSON Lines for pyarrow's JSON
  reader, so a file of any size is read in blocks of ``block_bytes`` without loading it.
* JSON Lines: blocks cut at line ends. CSV: ``pyarrow.csv.open_csv`` (vectors as JSON arrays in cells).
* Parquet: ``ParquetFile.iter_batches``. In memory: Arrow tables, pandas DataFrames, iterables of dicts,
  and :class:`RecordBatchStream` (an iterator of Arrow record batches, read one batch at a time: what
  an engine's partition hands over).
"""

from __future__ import annotations

import glob
import itertools
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from airflow_provider_vectorimport.exceptions import ConfigurationError

DEFAULT_BLOCK_BYTES = 3 << 20  # x ~12 in flight across the pipeline stages: RSS stays ~250 MB
ROWS_PER_MEMORY_BATCH = 4096

_EXT_FORMATS = {
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


@dataclass
class Batch:
    """A slice of one input. Exactly one of ``table``, ``rows``, ``lines`` is set.

    ``lines``: JSON texts, one row each (parsed by the caller: pyarrow fast path, Python to locate errors).
    """

    source: str
    first_row: int
    num_rows: int
    table: pa.Table | None = None
    rows: list[Any] | None = None
    lines: bytes | bytearray | None = None  # newline-separated JSON objects
    row_starts: np.ndarray | None = None  # offsets of each row in ``lines`` (when known)
    row_ends: np.ndarray | None = None
    max_line: int = 0
    text_cells: bool = False  # CSV: every cell is text
    json_text_strings: bool = False  # str values of JSON fields are JSON texts
    errors: list[tuple[int, str]] = field(default_factory=list)  # (row, message): malformed input


@dataclass
class RecordBatchStream:
    """An iterable of Arrow record batches (or tables), consumed once, one batch at a time, never
    materialised: the input kind of an engine partition (Spark ``mapInArrow``, Dask
    ``map_partitions``, Ray ``map_batches``). Rows are numbered across the batches from 1 and errors
    name ``label`` as their file."""

    batches: Iterable[Any]
    label: str = "<record batches>"


class InputError(Exception):
    """Malformed input detected while scanning (a file / row / message triple)."""

    def __init__(self, source: str, row: int | None, message: str) -> None:
        self.source, self.row, self.message = source, row, message
        super().__init__(f"{source}, row {row}: {message}")


# ---------------------------------------------------------------------------------------------
# Input resolution
# ---------------------------------------------------------------------------------------------
def resolve_inputs(inputs: Any, input_format: str | None = None) -> list[tuple[str, Any, str]]:
    """-> [(kind, obj, label)] with kind one of json/jsonl/csv/parquet/arrow/pandas/rows."""
    if inputs is None:
        raise ConfigurationError("inputs: nothing to prepare")
    if _is_single(inputs):
        items: list[Any] = [inputs]
    elif isinstance(inputs, list | tuple) and inputs and isinstance(inputs[0], Mapping):
        items = [inputs]  # a list of row dicts
    elif isinstance(inputs, Iterable):
        items = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
    else:
        raise ConfigurationError(f"inputs: unsupported type {type(inputs).__name__}")
    resolved: list[tuple[str, Any, str]] = []
    for i, item in enumerate(items):
        if isinstance(item, RecordBatchStream):
            resolved.append(("batches", item.batches, item.label))
        elif isinstance(item, str | os.PathLike):
            for path in _expand_path(os.fspath(item)):
                resolved.append((_format_of(path, input_format), path, path))
        elif isinstance(item, pa.Table | pa.RecordBatch):
            resolved.append(("arrow", item, f"<arrow table #{i}>"))
        elif type(item).__name__ == "DataFrame" and hasattr(item, "to_dict"):
            resolved.append(("pandas", item, f"<DataFrame #{i}>"))
        elif isinstance(item, Iterable) and not isinstance(item, bytes | Mapping):
            resolved.append(("rows", item, f"<rows #{i}>"))
        else:
            raise ConfigurationError(f"inputs[{i}]: unsupported input of type {type(item).__name__}")
    if not resolved:
        raise ConfigurationError(f"inputs: no input files found in {inputs!r}")
    return resolved


def _is_single(obj: Any) -> bool:
    return (
        isinstance(obj, str | os.PathLike | pa.Table | pa.RecordBatch | RecordBatchStream)
        or type(obj).__name__ == "DataFrame"
    )


def _expand_path(path: str) -> list[str]:
    if any(ch in path for ch in "*?["):
        found = sorted(glob.glob(path))
        if not found:
            raise ConfigurationError(f"inputs: no file matches {path!r}")
        return found
    if os.path.isdir(path):
        found = sorted(
            os.path.join(path, name)
            for name in os.listdir(path)
            if os.path.splitext(name)[1].lower() in _EXT_FORMATS and not name.startswith(".")
        )
        if not found:
            raise ConfigurationError(f"inputs: no .json/.jsonl/.csv/.parquet file in directory {path!r}")
        return found
    if not os.path.exists(path):
        raise ConfigurationError(f"inputs: file not found: {path}")
    return [path]


def _format_of(path: str, input_format: str | None) -> str:
    if input_format:
        if input_format not in set(_EXT_FORMATS.values()):
            raise ConfigurationError(
                f"input_format must be one of json, jsonl, csv, parquet, got {input_format!r}"
            )
        return input_format
    ext = os.path.splitext(path)[1].lower()
    if ext not in _EXT_FORMATS:
        raise ConfigurationError(
            f"inputs: cannot tell the format of {path!r} from its extension; pass input_format"
        )
    return _EXT_FORMATS[ext]


# ---------------------------------------------------------------------------------------------
# JSON array scanner
# ---------------------------------------------------------------------------------------------
_CLS = np.zeros(256, dtype=np.int8)
_CLS[ord("{")] = _CLS[ord("[")] = 1
_CLS[ord("}")] = _CLS[ord("]")] = 2
_CLS[ord('"')] = 3
_CLS[ord("\\")] = 4
_CLS[ord("\n")] = _CLS[ord("\r")] = 5
_CLS_TABLE = bytes(_CLS.astype(np.uint8))  # bytes.translate classifies ~10x faster than a NumPy lookup
_WS = b" \t\r\n"
_OBJ_HEAD = re.compile(rb'\A\s*\{\s*"rows"\s*:\s*\[')
_ARR_HEAD = re.compile(rb"\A\s*\[")


def _real_quotes(a: np.ndarray, quotes: np.ndarray) -> np.ndarray:
    """Drop quotes escaped by an odd run of backslashes."""
    if not len(quotes):
        return quotes
    prev_bs = quotes[(quotes > 0)]
    maybe = prev_bs[a[prev_bs - 1] == 92]
    if not len(maybe):
        return quotes
    escaped = []
    for q in maybe.tolist():
        k = q - 1
        while k >= 0 and a[k] == 92:
            k -= 1
        if (q - 1 - k) % 2:
            escaped.append(q)
    if not escaped:
        return quotes
    return np.setdiff1d(quotes, np.asarray(escaped, dtype=quotes.dtype), assume_unique=True)


def iter_json_array(path: str, block_bytes: int = DEFAULT_BLOCK_BYTES) -> Iterator[Batch]:
    """Stream the elements of ``{"rows": [...]}`` or ``[...]`` as JSON-Lines blocks."""
    with open(path, "rb") as fh:
        head = fh.read(min(block_bytes, 1 << 16))
        if head.startswith(b"\xef\xbb\xbf"):
            head = head[3:]
        m = _OBJ_HEAD.match(head)
        wrapped = True
        if m is None:
            m = _ARR_HEAD.match(head)
            wrapped = False
        if m is None:
            raise InputError(
                path,
                None,
                'malformed JSON: expected {"rows": [...]} (with "rows" as the first key) or a top-level array',
            )
        carry: bytes | bytearray = head[m.end() :]
        row = 1
        need_comma = False
        eof = False
        while True:
            if not eof:
                # one buffer for the carried-over partial row and the next block (no concatenation copy)
                data = bytearray(len(carry) + block_bytes)
                data[: len(carry)] = carry
                got = fh.readinto(memoryview(data)[len(carry) :])
                if not got:
                    eof = True
                del data[len(carry) + got :]
            else:
                data = bytearray(carry)
            a = np.frombuffer(data, dtype=np.uint8)
            cls = np.frombuffer(data.translate(_CLS_TABLE), dtype=np.uint8)
            nz = np.flatnonzero(cls.view(np.bool_))  # bool view: nonzero bytes, found much faster
            kinds = cls[nz]
            del cls
            quotes = _real_quotes(a, nz[kinds == 3])
            struct_mask = (kinds == 1) | (kinds == 2)
            struct = nz[struct_mask]
            # structural characters inside strings do not count
            inside = (np.searchsorted(quotes, struct) % 2).astype(bool)
            struct = struct[~inside]
            delta = np.where(kinds[struct_mask][~inside] == 1, 1, -1)
            depth = np.cumsum(delta)
            ends_all = np.flatnonzero(depth <= 0)
            array_end = None
            closing = np.flatnonzero(depth < 0)
            if len(closing):
                array_end = int(struct[closing[0]])
                ends_all = ends_all[ends_all < closing[0]]
            starts_idx = np.flatnonzero((depth == 1) & (delta == 1))
            ends = struct[ends_all].astype(np.int64)
            starts = struct[starts_idx].astype(np.int64)
            if array_end is not None:
                starts = starts[starts < array_end]
            n = min(len(starts), len(ends))
            starts, ends = starts[:n], ends[:n]
            if n == 0 and array_end is None:
                if eof:
                    raise InputError(
                        path, row, "malformed JSON: truncated file (the rows array is not closed)"
                    )
                carry = data
                continue
            out = None
            if n:
                # the gaps between elements: whitespace and exactly one comma
                _check_gaps(data, np.concatenate(([0], ends[:-1] + 1)), starts, need_comma, path, row)
                not_objects = np.flatnonzero(a[starts] != 123)
                if len(not_objects):
                    raise InputError(path, row + int(not_objects[0]), "row is not a JSON object")
                lo, hi = int(starts[0]), int(ends[-1]) + 1
                # the rows are rewritten in place and ``data`` becomes the batch's buffer (no copy);
                # what follows the last row (a partial row, or the array's end) is kept apart
                after = data[hi:]
                region = a[lo:hi]
                nl = nz[(kinds == 5)]
                nl = nl[(nl >= lo) & (nl < hi)] - lo
                region[nl] = 32
                if n > 1:
                    g0 = ends[:-1] + 1 - lo
                    glen = starts[1:] - ends[:-1] - 1
                    idx = np.repeat(g0, glen) + (
                        np.arange(int(glen.sum())) - np.repeat(np.cumsum(glen) - glen, glen)
                    )
                    region[idx] = 32
                    region[g0] = 10
                del region, a  # no exports left: ``data`` can be resized
                a = None  # type: ignore[assignment]  # rebound only for the shared 'del a' below
                del data[hi:]
                del data[:lo]  # O(1) for a bytearray: its start moves
                buf = data
                lengths = ends - starts + 1
                out = Batch(
                    source=path,
                    first_row=row,
                    num_rows=n,
                    lines=buf,
                    max_line=int(lengths.max()),
                    row_starts=starts - lo,
                    row_ends=ends - lo + 1,
                )
                del buf
                row += n
                need_comma = True
            del a, nz, kinds
            # the bytes after the last row: ``after`` (from offset ``hi``) when rows were cut out
            src, base = (after, hi) if n else (data, 0)
            del data
            if array_end is not None:
                tail = src[: array_end - base].strip(_WS)
                if tail:
                    what = tail[:20].decode("utf-8", "replace")
                    raise InputError(path, row, f"malformed JSON: unexpected {what!r} before the closing ']'")
                rest = src[array_end + 1 - base :]
                _check_trailer(fh, rest, wrapped, path, row)
                if out is not None:
                    yield out
                return
            carry = src
            del src
            if eof and not carry.strip(_WS):
                raise InputError(path, row, "malformed JSON: truncated file (the rows array is not closed)")
            if out is not None:
                yield out
                del out


def _check_gaps(
    data: bytes | bytearray, gs: np.ndarray, ge: np.ndarray, need_comma: bool, path: str, row: int
) -> None:
    a = np.frombuffer(data, dtype=np.uint8)
    glen = ge - gs
    simple = (glen == 1) & (a[np.minimum(gs, len(a) - 1)] == 44)
    simple[0] &= need_comma
    for i in np.flatnonzero(~simple).tolist():
        gap = data[int(gs[i]) : int(ge[i])]
        stripped = gap.strip(_WS)
        expect_comma = need_comma or i > 0
        if stripped == (b"," if expect_comma else b""):
            continue
        if stripped.startswith(b",") and not expect_comma:
            raise InputError(path, row + i, "malformed JSON: unexpected ',' before the first row")
        what = stripped[:30].decode("utf-8", "replace")
        if expect_comma and not stripped.startswith(b","):
            raise InputError(path, row + i, f"malformed JSON: missing ',' between rows (found {what!r})")
        raise InputError(path, row + i, f"row is not a JSON object (found {what!r})")


def _check_trailer(fh: Any, rest: bytes | bytearray, wrapped: bool, path: str, row: int) -> None:
    tail = rest.strip(_WS)
    while len(tail) < 2:
        more = fh.read(1 << 16)
        if not more:
            break
        tail = (tail + more).strip(_WS)
    expected = b"}" if wrapped else b""
    if tail != expected:
        raise InputError(
            path,
            row,
            f"malformed JSON: unexpected content after the rows array: {tail[:30].decode('utf-8', 'replace')!r}",
        )


# ---------------------------------------------------------------------------------------------
# Other readers
# ---------------------------------------------------------------------------------------------
def iter_jsonl(path: str, block_bytes: int = DEFAULT_BLOCK_BYTES) -> Iterator[Batch]:
    row = 1
    carry = b""
    with open(path, "rb") as fh:
        while True:
            more = fh.read(block_bytes)
            data = carry + more
            if not more:
                cut = len(data)
            else:
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    carry = data
                    continue
            block, carry = data[:cut], data[cut:]
            lines = [ln for ln in block.split(b"\n") if ln.strip()]
            if lines:
                body = b"\n".join(lines)
                yield Batch(
                    source=path, first_row=row, num_rows=len(lines), lines=body, max_line=max(map(len, lines))
                )
                row += len(lines)
            if not more:
                return


def iter_csv(path: str, block_bytes: int = DEFAULT_BLOCK_BYTES) -> Iterator[Batch]:
    import pyarrow.csv as pcsv

    with open(path, "rb") as fh:
        raw_header = fh.readline()
    try:
        header = raw_header.decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise InputError(
            path, None, f"the CSV header row is not valid UTF-8 (undecodable byte at offset {exc.start})"
        ) from None
    import csv

    names = next(csv.reader([header])) if header else []
    if not names:
        raise InputError(path, None, "CSV file has no header row")
    try:
        reader = pcsv.open_csv(
            path,
            read_options=pcsv.ReadOptions(block_size=min(block_bytes, 1 << 30)),
            convert_options=pcsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                # invalid UTF-8 is checked per cell afterwards, to name the row and field
                check_utf8=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise InputError(path, None, f"malformed CSV: {exc}") from None
    row = 1
    while True:
        try:
            rb = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as exc:
            raise InputError(path, row, f"malformed CSV: {exc}") from None
        table = pa.Table.from_batches([rb])
        yield Batch(source=path, first_row=row, num_rows=table.num_rows, table=table, text_cells=True)
        row += table.num_rows


def iter_parquet(path: str, block_bytes: int = DEFAULT_BLOCK_BYTES) -> Iterator[Batch]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(path, None, f"not a readable Parquet file: {exc}") from None
    meta = pf.metadata
    total_bytes = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)) or 1
    per_row = max(1, total_bytes // max(1, meta.num_rows))
    batch_rows = max(64, min(1 << 20, block_bytes // 2 // per_row))
    row = 1
    for group in range(meta.num_row_groups):
        group_rows = meta.row_group(group).num_rows
        batches = pf.iter_batches(batch_size=batch_rows, row_groups=[group])
        while True:
            try:
                rb = next(batches)
            except StopIteration:
                break
            except (pa.ArrowException, OSError) as exc:
                # a damaged page: pyarrow raises a bare OSError naming neither file nor row; a retry
                # cannot fix the file, so it is bad input (a PrepareError), not a transient failure
                detail = " ".join(str(exc).split())
                raise InputError(
                    path,
                    row,
                    f"corrupted Parquet file: row group {group} (rows up to {row + group_rows - 1}) "
                    f"cannot be read: {detail}",
                ) from None
            table = pa.Table.from_batches([rb])
            yield Batch(
                source=path, first_row=row, num_rows=table.num_rows, table=table, json_text_strings=True
            )
            row += table.num_rows
            group_rows -= table.num_rows


def iter_arrow(
    table: pa.Table | pa.RecordBatch, label: str, block_bytes: int = DEFAULT_BLOCK_BYTES
) -> Iterator[Batch]:
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    per_row = max(1, table.nbytes // max(1, table.num_rows))
    step = max(64, block_bytes // 2 // per_row)
    for start in range(0, table.num_rows, step):
        part = table.slice(start, step)
        yield Batch(
            source=label, first_row=start + 1, num_rows=part.num_rows, table=part, json_text_strings=True
        )


def iter_record_batch_stream(
    batches: Iterable[Any], label: str, block_bytes: int = DEFAULT_BLOCK_BYTES
) -> Iterator[Batch]:
    """Each record batch (or table) of ``batches`` in turn, cut like :func:`iter_arrow`, rows numbered
    across batches; only the batch being read is held."""
    row = 1
    for n, item in enumerate(batches, 1):
        if not isinstance(item, pa.RecordBatch | pa.Table):
            raise InputError(
                label, row, f"batch {n} is a {type(item).__name__}, not an Arrow RecordBatch or Table"
            )
        for part in iter_arrow(item, label, block_bytes):
            part.first_row += row - 1
            yield part
        row += item.num_rows
        del item


def iter_pandas(df: Any, label: str, block_bytes: int = DEFAULT_BLOCK_BYTES) -> Iterator[Batch]:
    step = ROWS_PER_MEMORY_BATCH
    for start in range(0, len(df), step):
        part = df.iloc[start : start + step]
        try:
            table = pa.Table.from_pandas(part, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeError):
            # the row-by-row path names the row and field (e.g. a str with lone surrogates)
            rows = part.to_dict(orient="records")
            yield Batch(source=label, first_row=start + 1, num_rows=len(rows), rows=rows)
            continue
        yield Batch(
            source=label, first_row=start + 1, num_rows=part.shape[0], table=table, json_text_strings=True
        )


def iter_rows(rows: Iterable[Any], label: str) -> Iterator[Batch]:
    it = iter(rows)
    row = 1
    while True:
        chunk = list(itertools.islice(it, ROWS_PER_MEMORY_BATCH))
        if not chunk:
            return
        yield Batch(source=label, first_row=row, num_rows=len(chunk), rows=chunk)
        row += len(chunk)


def iter_batches(kind: str, obj: Any, label: str, block_bytes: int = DEFAULT_BLOCK_BYTES) -> Iterator[Batch]:
    if kind == "json":
        return iter_json_array(obj, block_bytes)
    if kind == "jsonl":
        return iter_jsonl(obj, block_bytes)
    if kind == "csv":
        return iter_csv(obj, block_bytes)
    if kind == "parquet":
        return iter_parquet(obj, block_bytes)
    if kind == "arrow":
        return iter_arrow(obj, label, block_bytes)
    if kind == "batches":
        return iter_record_batch_stream(obj, label, block_bytes)
    if kind == "pandas":
        return iter_pandas(obj, label, block_bytes)
    return iter_rows(obj, label)
