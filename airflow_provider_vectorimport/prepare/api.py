"""``prepare_files``: inputs -> schema-checked import files + a manifest, in bounded memory."""

from __future__ import annotations

import os
import queue
import re
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from airflow_provider_vectorimport.exceptions import ConfigurationError
from airflow_provider_vectorimport.prepare import staging as staging_dirs
from airflow_provider_vectorimport.prepare.errors import PrepareError, TooManyErrors
from airflow_provider_vectorimport.prepare.halffloat import (
    HALF_FLOAT_LAYOUTS,
    HALF_FLOAT_VECTORS,
    decode_column,
)
from airflow_provider_vectorimport.prepare.progress import InputMeter, ProgressCallback
from airflow_provider_vectorimport.prepare.readers import (
    DEFAULT_BLOCK_BYTES,
    Batch,
    InputError,
    iter_batches,
    resolve_inputs,
)
from airflow_provider_vectorimport.prepare.schema import DENSE_FLOAT_VECTORS, CollectionSchema
from airflow_provider_vectorimport.prepare.validation import (
    Context,
    DuplicateChecker,
    ErrorSink,
    JSONDecodeError,
    NeedRowCheck,
    conform_table,
    json_loads,
    normalize_rows,
    to_numpy,
)
from airflow_provider_vectorimport.prepare.writers import WRITERS

FORMATS = ("parquet", "numpy", "json", "jsonl")
# parse + check workers (pyarrow releases the GIL); 3, not 2, keeps 2 cores busy while one waits
CHECK_THREADS = 3
MODES = ("fail_fast", "collect")
GiB = 1 << 30

# Service limits (see the issue): bytes per file / per NumPy folder, import units and bytes per request.
LIMITS: dict[str, dict[str, Any]] = {
    "milvus": {"max_unit_bytes": 16 * GiB, "max_units_per_request": 1024, "max_request_bytes": None},
    "zilliz": {
        "max_unit_bytes": 100 * GiB,
        "max_unit_bytes_numpy": 10 * GiB,
        "max_units_per_request": 1024,
        "max_units_per_request_json": 1,  # the v1 API takes one JSON file per job
        "max_request_bytes": 100 * GiB,
    },
    "vikingdb": {"max_unit_bytes": 4 * GiB, "max_units_per_request": 1 << 30, "max_request_bytes": None},
}

_OUR_OUTPUT = re.compile(
    r"^(part-\d{5}\.(parquet|json|jsonl)|\d+|schema\.json)$"
)  # schema.json: schema_source
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(value: int | str) -> int:
    """``512MB`` / ``1GiB`` / ``64k`` / ``1048576`` -> bytes (binary multiples)."""
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    else:
        m = _SIZE.match(str(value))
        if not m:
            raise ConfigurationError(f"bad size {value!r}: use e.g. 512MB, 1GB, 64KB or a number of bytes")
        unit = (m.group(2) or "").lower()[:1]
        size = int(float(m.group(1)) * _UNITS[unit])
    if size <= 0:
        raise ConfigurationError(f"size must be positive, got {value!r}")
    return size


def prepare_files(
    inputs: Any,
    schema: CollectionSchema | dict[str, Any] | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    format: str = "parquet",
    chunk_size: int | str = "512MB",
    mode: str = "fail_fast",
    max_errors: int = 100,
    target: str = "milvus",
    input_format: str | None = None,
    check_duplicates: bool = False,
    overwrite: bool = False,
    block_size: int | str = DEFAULT_BLOCK_BYTES,
    threads: bool = True,
    half_float_layout: str = "bytes",
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Check ``inputs`` against ``schema`` and write import files under ``out_dir``.

    ``inputs``: paths (files, directories, globs) of ``.json`` (``{"rows": [...]}`` or an array),
    ``.jsonl``, ``.csv`` or ``.parquet``; Arrow tables; pandas DataFrames; iterables of row dicts;
    or a list of those. Output is chunked at ``chunk_size`` (capped by the ``target`` service's
    per-file limit). Nothing is left in ``out_dir`` unless the whole input is valid: files are
    written to a staging directory next to it and renamed at the end; staging left by a run that was
    killed is removed by the next run for the same ``out_dir`` (see ``prepare.staging``).

    ``block_size`` is the unit of streaming (memory is about a dozen blocks plus one Parquet row
    group); ``threads=False`` runs the read / check / write stages in the calling thread only.
    ``check_duplicates`` keeps every primary key seen (memory grows with the row count).
    ``progress(rows, input_bytes, total_bytes)`` is called after each checked batch
    (:mod:`~airflow_provider_vectorimport.prepare.progress`: a terminal bar or log lines).

    ``half_float_layout``: how Float16Vector / BFloat16Vector fields go into Parquet and NumPy files.
    ``"bytes"`` (default): ``2 * dim`` bytes per row (Parquet ``list<uint8>``, NumPy ``uint8``
    ``(n, 2 * dim)``), what the Milvus 2.5 / 2.6 import readers and Zilliz Cloud read; input may be
    floats (encoded as IEEE half / bfloat16) or those bytes. ``"float32"``: ``dim`` float32 values,
    only for a server that reads them (milvus#49960 / #52306, master; no release known). JSON files
    always hold ``dim`` numbers, as the JSON reader expects. See docs/prepare.md.

    Returns the manifest (see the package docs); raises :class:`PrepareError` listing bad rows
    (file, row, field, message), :class:`ConfigurationError` for bad arguments or schema.
    """
    if format not in FORMATS:
        raise ConfigurationError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    if mode not in MODES:
        raise ConfigurationError(f"mode must be 'fail_fast' or 'collect', got {mode!r}")
    if target not in LIMITS:
        raise ConfigurationError(f"target must be 'milvus', 'zilliz' or 'vikingdb', got {target!r}")
    if half_float_layout not in HALF_FLOAT_LAYOUTS:
        raise ConfigurationError(
            f"half_float_layout must be one of {', '.join(HALF_FLOAT_LAYOUTS)}, got {half_float_layout!r}"
        )
    if int(max_errors) < 1:
        raise ConfigurationError("max_errors must be at least 1")
    chunk_bytes = parse_size(chunk_size)
    block_bytes = max(1 << 16, parse_size(block_size))
    coll = CollectionSchema.load(schema)
    if target == "vikingdb":
        from airflow_provider_vectorimport.prepare.vikingdb import check_vikingdb_target

        check_vikingdb_target(coll, format)
    if format == "numpy":
        for f in coll.data_fields:
            if f.data_type in ("Array", "SparseFloatVector"):
                raise ConfigurationError(
                    f"field {f.name!r}: {f.data_type} fields cannot be written as NumPy files "
                    "(the services do not read them from .npy); use format='parquet'"
                )
    limits = LIMITS[target]
    unit_cap = limits.get(f"max_unit_bytes_{format}", limits["max_unit_bytes"])
    chunk_bytes = min(chunk_bytes, int(unit_cap * 0.9))
    sources = resolve_inputs(inputs, input_format)
    meter = InputMeter(sources) if progress is not None else None

    out = os.path.abspath(os.fspath(out_dir))
    if os.path.exists(out) and not os.path.isdir(out):
        raise ConfigurationError(f"out_dir {out} exists and is not a directory")
    if os.path.isdir(out) and os.listdir(out):
        if not overwrite:
            raise ConfigurationError(f"out_dir {out} is not empty (pass overwrite=True to replace it)")
        foreign = [name for name in os.listdir(out) if not _OUR_OUTPUT.match(name)]
        if foreign:
            raise ConfigurationError(
                f"out_dir {out} holds files this step did not write ({', '.join(sorted(foreign)[:5])}); "
                "refusing to replace it"
            )
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    # staging left by earlier runs of this out_dir that died (killed, OOM) and is provably theirs
    staging_dirs.sweep_stale(out)
    staging = staging_dirs.create_staging(out)

    wide = format in ("json", "jsonl")
    ctx = Context(
        schema=coll, wide_floats=wide, allow_nulls=format != "numpy", check_duplicates=check_duplicates
    )
    sink = ErrorSink(mode, max_errors)
    arrow_schema = coll.arrow_schema(wide_floats=wide)
    writer_cls = WRITERS[format]
    if target == "vikingdb":  # prepare/vikingdb.py: what a VikingDB data_import task reads
        from airflow_provider_vectorimport.prepare.vikingdb import writer_for

        writer_cls = writer_for(format)
    writer = writer_cls(staging, coll, arrow_schema)
    writer.half_float_layout = half_float_layout
    dups = DuplicateChecker(coll.primary.name) if check_duplicates and not coll.auto_id else None
    groups: list[dict[str, Any]] = []
    chunk_open = False
    size_factor = 2.5 if wide else 1.0
    success = False
    stop = threading.Event()

    def all_batches() -> Iterator[Batch]:
        for kind, obj, label in sources:
            yield from iter_batches(kind, obj, label, block_bytes)

    def check(batch: Batch) -> tuple[pa.Table | None, list[Any], Batch]:
        """Parse and check one batch with its own error list (batches may run in parallel; the
        errors are merged in input order below)."""
        local = ErrorSink("collect", sink.limit)
        try:
            table = _process(batch, ctx, local, arrow_schema)
        except TooManyErrors:
            table = None
        return table, local.errors, batch

    def checked(results: Iterator[tuple[pa.Table | None, list[Any], Batch]]) -> Iterator[pa.Table | None]:
        for table, errors, batch in results:
            for e in errors:
                sink.add(e.file, e.row, e.field, e.message)
            if errors:
                table = None
            if table is not None and dups is not None:
                if dups.check(table, sink, batch.source, batch.first_row):
                    table = None
            if progress is not None and meter is not None:
                nbytes = meter.measure(batch.source, batch.num_rows, batch.lines, batch.table)
                progress(batch.num_rows, nbytes, meter.total_bytes)
            del batch  # let the input block go before the next one is read
            yield table

    # read + scan (a thread) | parse + check (two threads, results kept in order) | write (here);
    # pyarrow's parsers and writers release the GIL, so the stages overlap
    if threads:
        stream: Iterator[pa.Table | None] = checked(
            _ordered_map(check, _threaded(all_batches(), stop), CHECK_THREADS, stop)
        )
    else:
        stream = checked(map(check, all_batches()))
    try:
        try:
            for table in stream:
                if table is None or sink.errors:
                    continue  # keep validating (collect mode), write nothing more
                # write, rolling over to a new chunk at chunk_bytes
                per_row = max(1.0, table.nbytes * size_factor / max(1, table.num_rows))
                start = 0
                while start < table.num_rows:
                    if chunk_open and writer.size() >= chunk_bytes:
                        groups.append(writer.close())
                        chunk_open = False
                    if not chunk_open:
                        writer.open(len(groups))
                        chunk_open = True
                    room = chunk_bytes - writer.size()
                    take = max(1, int(room // per_row))
                    writer.write(table.slice(start, take))
                    start += take
                del table
        except InputError as exc:
            try:
                sink.add(exc.source, exc.row, None, exc.message)
            except TooManyErrors:
                pass
        except TooManyErrors:
            pass
        if sink.errors:
            raise PrepareError(sink.errors, truncated=sink.truncated)
        if chunk_open:
            groups.append(writer.close())
            chunk_open = False
        if progress is not None and meter is not None:
            progress(0, meter.finish(), meter.total_bytes)
        staging_dirs.publish(staging, out)
        success = True
    finally:
        stop.set()
        if chunk_open:
            try:
                writer.close()
            except Exception:
                pass
        if not success:
            staging_dirs.remove_staging(staging)
    manifest = build_manifest(groups, out, format, coll, target)
    if format in ("parquet", "numpy") and any(f.data_type in HALF_FLOAT_VECTORS for f in coll.data_fields):
        manifest["half_float_layout"] = half_float_layout
    return manifest


def _threaded(items: Iterator[Any], stop: threading.Event, depth: int = 1) -> Iterator[Any]:
    """Run ``items`` in a background thread, ``depth`` items ahead; exceptions are re-raised here.
    Setting ``stop`` ends the thread (used when the consumer gives up early)."""
    q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)

    def put(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in items:
                if not put(("item", item)):
                    return
                del item
            put(("done", None))
        except BaseException as exc:
            put(("error", exc))

    worker = threading.Thread(target=run, name="vectorimport-prepare", daemon=True)
    worker.start()
    while True:
        try:
            kind, value = q.get(timeout=0.1)
        except queue.Empty:
            if stop.is_set():
                return
            continue
        if kind == "item":
            yield value
            del value
        elif kind == "done":
            return
        else:
            raise value


def _ordered_map(fn: Any, items: Iterator[Any], workers: int, stop: threading.Event) -> Iterator[Any]:
    """``map(fn, items)`` on ``workers`` threads, at most ``workers`` items in flight, results in
    input order. An exception from ``items`` is raised after the results before it."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(workers, thread_name_prefix="vectorimport-check")
    pending: deque[Any] = deque()
    try:
        failure: BaseException | None = None
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                del item
                if len(pending) >= workers:
                    yield pending.popleft().result()
        except Exception as exc:
            failure = exc
        while pending:
            yield pending.popleft().result()
        if failure is not None:
            raise failure
    finally:
        stop.set()
        for fut in pending:
            fut.cancel()
        pool.shutdown(wait=False)


def decode_half_float_input(table: pa.Table, coll: CollectionSchema) -> pa.Table:
    """Float16 / BFloat16 vectors given as bytes (a ``binary`` or ``list<uint8>`` column of
    ``2 * dim`` bytes per row, what pymilvus writes) -> ``list<float32>`` of ``dim`` values, so
    the checks (and the row walk after a failure) see floats. Other columns are left alone."""
    for f in coll.data_fields:
        if f.data_type in HALF_FLOAT_VECTORS and f.name in table.column_names and f.dim:
            decoded = decode_column(table.column(f.name), f.data_type, f.dim)
            if decoded is not None:
                table = table.set_column(table.schema.get_field_index(f.name), f.name, decoded)
    return table


def _process(batch: Batch, ctx: Context, sink: ErrorSink, arrow_schema: pa.Schema) -> pa.Table | None:
    """One batch -> output table (vectorised), falling back to rows to name errors exactly."""
    if batch.lines is not None:
        table = _parse_lines_fast(batch, ctx)
        if table is not None:
            result = _conform(table, ctx, sink, batch)
            if result is not _FALLBACK:
                return result
        rows: list[Any] = []
        lines: list[bytes] = batch.lines.split(b"\n")  # type: ignore[assignment]  # bytearray's split: list[bytearray], read alike
        for i, line in enumerate(lines):
            try:
                rows.append(json_loads(line))
            except JSONDecodeError as exc:
                row = _json_with_bad_utf8(line)
                if row is not _BAD_ROW:
                    rows.append(row)  # well-formed JSON, bad UTF-8 in a string: the checks name the field
                    continue
                sink.add(batch.source, batch.first_row + i, None, f"malformed JSON: {exc}")
                rows.append(_BAD_ROW)
        return _rows(rows, ctx, sink, batch)
    if batch.table is not None:
        table = decode_half_float_input(batch.table, ctx.schema)
        result = _conform(table, ctx, sink, batch)
        if result is not _FALLBACK:
            return result
        return _rows(table.to_pylist(), ctx, sink, batch)
    return _rows(batch.rows or [], ctx, sink, batch)


_FALLBACK = object()
_BAD_ROW = object()


def _json_with_bad_utf8(line: bytes | bytearray) -> Any:
    """A row that orjson refuses but that is well-formed JSON: not valid UTF-8 (the undecodable bytes
    become lone surrogates) or a number beyond double range (``1e999``: infinity). The row checks then
    name the field. ``_BAD_ROW`` when the JSON itself is malformed (``NaN`` / ``Infinity`` tokens are
    not JSON and stay malformed)."""
    import json

    def not_json(token: str) -> Any:
        raise ValueError(f"{token} is not JSON")

    text = bytes(line).decode("utf-8", "surrogateescape")
    try:
        return json.loads(text, parse_constant=not_json)
    except ValueError:
        return _BAD_ROW


def _rows(rows: list[Any], ctx: Context, sink: ErrorSink, batch: Batch) -> pa.Table | None:
    bad = [i for i, r in enumerate(rows) if r is _BAD_ROW]
    if bad:
        # rows that do not parse are already reported; still check the others (collect mode)
        keep = [(i, r) for i, r in enumerate(rows) if r is not _BAD_ROW]
        for i, r in keep:
            normalize_rows(
                [r],
                ctx,
                sink,
                batch.source,
                batch.first_row + i,
                text_cells=batch.text_cells,
                json_text_strings=batch.json_text_strings,
            )
        return None
    return normalize_rows(
        rows,
        ctx,
        sink,
        batch.source,
        batch.first_row,
        text_cells=batch.text_cells,
        json_text_strings=batch.json_text_strings,
    )


def _conform(table: pa.Table, ctx: Context, sink: ErrorSink, batch: Batch) -> Any:
    local = ErrorSink("collect", sink.limit)
    try:
        result = conform_table(table, ctx, local, batch.source, batch.first_row, text_cells=batch.text_cells)
    except NeedRowCheck:
        return _FALLBACK
    except TooManyErrors:
        result = None
    for e in local.errors:
        sink.add(e.file, e.row, e.field, e.message)
    return result


def _parse_lines_fast(batch: Batch, ctx: Context) -> pa.Table | None:
    """pyarrow's JSON reader with the schema's column types; None when the fast path cannot apply.

    Dense float vectors, the bulk of the bytes, are cut out of the rows and parsed by pyarrow's CSV
    reader (one number per line), which parses numbers ~2-3x faster than its JSON reader; the rest of
    each row (with ``null`` in place of the vectors) goes to the JSON reader."""
    import pyarrow.json as pj

    coll = ctx.schema
    if coll.enable_dynamic_field or any(
        f.data_type in ("JSON", "SparseFloatVector") for f in coll.data_fields
    ):
        return None
    lines = batch.lines or b""
    n = batch.num_rows
    vec_fields = [f for f in coll.data_fields if f.data_type in DENSE_FLOAT_VECTORS]
    vectors: dict[str, pa.Array] = {}
    if vec_fields and n and len(lines) >= 512 * n:
        split = _split_vectors(lines, batch, vec_fields, ctx)
        if split is not None:
            lines, vectors = split
    fields = [
        pa.field(f.name, pa.null() if f.name in vectors else f.arrow_type(ctx.wide_floats))
        for f in coll.data_fields
    ]
    block = max(1 << 22, batch.max_line + 64)
    try:
        table = pj.read_json(
            pa.BufferReader(pa.py_buffer(lines)),
            read_options=pj.ReadOptions(block_size=block),
            parse_options=pj.ParseOptions(
                explicit_schema=pa.schema(fields), unexpected_field_behavior="error"
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if table.num_rows != n:
        return None
    for name, col in vectors.items():
        if table.column(name).null_count != n:
            return None
        table = table.set_column(table.schema.get_field_index(name), name, col)
    return table


_COLON_BRACKET = re.compile(rb"\s*:\s*\[")


def _row_bounds(lines: bytes | bytearray, batch: Batch) -> tuple[list[int], list[int]]:
    if batch.row_starts is not None and batch.row_ends is not None:
        return batch.row_starts.tolist(), batch.row_ends.tolist()
    nl = np.flatnonzero(np.frombuffer(lines, dtype=np.uint8) == 10)
    starts = [0, *(nl + 1).tolist()]
    ends = [*nl.tolist(), len(lines)]
    return starts, ends


def _split_vectors(
    lines: bytes | bytearray, batch: Batch, fields: list[Any], ctx: Context
) -> tuple[bytes, dict[str, pa.Array]] | None:
    """Cut ``"name": [numbers]`` out of every row; None when any row does not fit that shape (the
    general path then handles, and reports, it)."""
    starts, ends = _row_bounds(lines, batch)
    n = batch.num_rows
    if len(starts) != n:
        return None
    find = lines.find
    all_spans: list[tuple[int, int]] = []
    field_spans: dict[str, list[tuple[int, int]]] = {}
    for f in fields:
        key = b'"' + f.name.encode() + b'"'
        spans = []
        for rs, re_ in zip(starts, ends, strict=True):
            k = find(key, rs, re_)
            if k < 0:
                return None
            m = _COLON_BRACKET.match(lines, k + len(key), re_)
            if m is None:
                return None
            s = m.end()
            e = find(b"]", s, re_)
            if e <= s:
                return None
            # no check for nested brackets / strings / objects here: anything but numbers makes the
            # number parsers below fail, and the general path then names the row
            spans.append((s, e))
        all_spans.extend(spans)
        field_spans[f.name] = spans
    vectors: dict[str, pa.Array] = {}
    for f in fields:
        spans = field_spans[f.name]
        values = _split_numbers(lines, spans, f.dim)
        if values is None:
            values = _csv_numbers(lines, spans, f.dim)
        if values is None:
            return None
        if not ctx.wide_floats:
            values = values.cast(pa.float32(), safe=False)  # decimal -> double -> float32, as the SDKs do
        # from_buffers, not pa.array(): the latter imports pandas (~1 s, ~60 MB) to sniff its input
        steps = np.arange(0, (n + 1) * f.dim, f.dim, dtype=np.int32)
        offsets = pa.Array.from_buffers(pa.int32(), n + 1, [None, pa.py_buffer(steps)])
        vectors[f.name] = pa.ListArray.from_arrays(offsets, values)
    all_spans.sort()
    mv = memoryview(lines)
    pieces: list[Any] = []
    prev = 0
    for s, e in all_spans:
        pieces.append(mv[prev : s - 1])
        pieces.append(b"null")
        prev = e + 1
    pieces.append(mv[prev:])
    rest = b"".join(pieces)
    return rest, vectors


def _split_numbers(lines: bytes | bytearray, spans: list[tuple[int, int]], dim: int) -> pa.Array | None:
    """``"1, 2, 3"`` spans -> float64 values, all in Arrow C++ (no GIL): the spans become one string
    array, ``split_pattern`` on the separator the first span uses (``", "`` or ``","``) cuts the
    numbers and the string -> double cast parses them (the parser pyarrow's CSV reader uses, minus its
    tokenizer). None when any span is shaped otherwise (other whitespace, another count, non-numbers):
    the CSV path below then decides, so what is accepted and the values are those of that path."""
    import pyarrow.compute as pc

    n = len(spans)
    s0, e0 = spans[0]
    c = lines.find(b",", s0, e0)
    sep = ", " if c >= 0 and lines[c + 1 : c + 2] == b" " else ","
    mv = memoryview(lines)
    text = b"".join([mv[s:e] for s, e in spans])
    lens = np.fromiter((e - s for s, e in spans), dtype=np.int64, count=n)
    large = len(text) >= 1 << 31
    offsets = np.zeros(n + 1, dtype=np.int64 if large else np.int32)
    np.cumsum(lens, out=offsets[1:])
    kind = pa.LargeStringArray if large else pa.StringArray
    try:
        parts = pc.split_pattern(kind.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(text)), pattern=sep)
        counts = to_numpy(pc.list_value_length(parts))
        if not (counts == dim).all():
            return None
        values = parts.values
        if len(values) != n * dim:
            return None
        return pc.cast(values, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _csv_numbers(lines: bytes | bytearray, spans: list[tuple[int, int]], dim: int) -> pa.Array | None:
    """The general number parser: spans joined by ``,``, one number per line for pyarrow's CSV reader
    (it trims whitespace around each number)."""
    import pyarrow.csv as pcsv

    n = len(spans)
    mv = memoryview(lines)
    # "1, 2, 3" spans joined by "," into one number-per-line text, in NumPy (no GIL held): the
    # commas of each span, counted per span, must be dim - 1 (+1 for the joining comma)
    text = bytearray(b",").join([mv[s:e] for s, e in spans])
    arr = np.frombuffer(text, dtype=np.uint8)
    commas = np.flatnonzero(arr == 44)
    lens = np.fromiter((e - s for s, e in spans), dtype=np.int64, count=n)
    bounds = np.cumsum(lens + 1)  # each span and its joining comma end here
    per_span = np.diff(np.searchsorted(commas, bounds, side="left"), prepend=0)
    per_span[:-1] -= 1
    if not (per_span == dim - 1).all():
        return None
    arr[commas] = 10
    try:
        values = pcsv.read_csv(
            pa.py_buffer(text),
            read_options=pcsv.ReadOptions(column_names=["v"], block_size=max(1 << 20, len(text) // 4 + 1)),
            # a quoted "1" is a string, not a number: let the row-by-row check name it
            parse_options=pcsv.ParseOptions(quote_char=False),
            convert_options=pcsv.ConvertOptions(
                column_types={"v": pa.float64()}, null_values=[], strings_can_be_null=False
            ),
        ).column(0)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if len(values) != n * dim:
        return None
    return values.combine_chunks()


def build_manifest(
    groups: list[dict[str, Any]], root: str, fmt: str, coll: CollectionSchema, target: str
) -> dict[str, Any]:
    files: list[dict[str, Any]] = []
    out_groups: list[dict[str, Any]] = []
    for g in groups:
        entries = g.pop("_entries", None) or g["files"]
        files.extend(entries)
        out_groups.append({"files": [e["path"] for e in entries], "rows": g["rows"], "bytes": g["bytes"]})
    limits = LIMITS[target]
    max_units = limits.get(f"max_units_per_request_{fmt}", limits["max_units_per_request"])
    max_bytes = limits["max_request_bytes"]
    requests: list[list[int]] = []
    current: list[int] = []
    current_bytes = 0
    for i, g in enumerate(out_groups):
        if current and (len(current) >= max_units or (max_bytes and current_bytes + g["bytes"] > max_bytes)):
            requests.append(current)
            current, current_bytes = [], 0
        current.append(i)
        current_bytes += g["bytes"]
    if current:
        requests.append(current)
    return {
        "format": fmt,
        "root": root,
        "schema_fingerprint": coll.fingerprint,
        "schema": coll.to_dict(),  # what the files were checked against (preflight.py compares it)
        "total_rows": sum(g["rows"] for g in out_groups),
        "total_bytes": sum(g["bytes"] for g in out_groups),
        "groups": out_groups,
        "files": files,
        "target": target,
        "columns": coll.output_columns(),
        "requests": requests,
    }
