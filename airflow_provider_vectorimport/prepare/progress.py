"""How far a prepare run is: rows checked and input bytes read, for a progress bar or log lines.

:func:`~airflow_provider_vectorimport.prepare.prepare_files` calls
``progress(rows, input_bytes, total_bytes)`` after each checked batch with the batch's increments and
the input's size (None when part of the input is in memory). Input bytes are
the file bytes the batch came from: its text for JSON / JSONL, its share of the file's rows for
Parquet, its cells for CSV; a file's last batch credits whatever of the file is left, so the total
reaches the input's size exactly and never passes it. In-memory inputs (tables, rows) count rows only.

:class:`ConsoleProgress` draws it: a ``rich`` bar on a terminal (rows, bytes, rate, ETA), and plain
lines every ``interval`` seconds when stderr is a file or a pipe (an Airflow log, CI).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

__all__ = ["ConsoleProgress", "InputMeter", "ProgressCallback", "fmt_bytes"]

#: ``progress(rows, input_bytes, total_bytes)``: the increments of one checked batch, and the input's
#: size in bytes (None when unknown)
ProgressCallback = Callable[[int, int, "int | None"], None]

_FILE_KINDS = ("json", "jsonl", "csv", "parquet")


class InputMeter:
    """Input bytes per batch, from the sizes of the input files (see the module docs)."""

    def __init__(self, sources: Sequence[tuple[str, Any, str]]) -> None:
        self._size: dict[str, int] = {}
        self._rows: dict[str, int] = {}
        self._credited: dict[str, int] = {}
        self._current: str | None = None
        sized = True
        for kind, obj, label in sources:
            if kind in _FILE_KINDS and isinstance(obj, (str, os.PathLike)):
                try:
                    self._size[label] = os.path.getsize(obj)
                except OSError:
                    sized = False
                    continue
                if kind == "parquet":
                    try:
                        import pyarrow.parquet as pq

                        self._rows[label] = pq.ParquetFile(obj).metadata.num_rows
                    except Exception:  # the reader names a broken file; the meter just falls back
                        pass
            else:
                sized = False
        #: the input's bytes, or None when part of it is in memory (rows only then)
        self.total_bytes: int | None = sum(self._size.values()) if sized and self._size else None

    def measure(self, source: str, num_rows: int, lines: Any = None, table: Any = None) -> int:
        """The input bytes of one batch of ``source`` (credited at most once per byte)."""
        extra = 0
        if source != self._current:
            if self._current is not None:
                extra = self._rest(self._current)
            self._current = source
        size = self._size.get(source)
        if size is None:
            return extra
        if lines is not None:
            n = len(lines)
        elif self._rows.get(source):
            n = size * num_rows // self._rows[source]
        else:
            n = int(getattr(table, "nbytes", 0) or 0)
        done = self._credited.get(source, 0)
        n = max(0, min(n, size - done))
        self._credited[source] = done + n
        return extra + n

    def finish(self) -> int:
        """What is left of the last file (call once the input is read)."""
        if self._current is None:
            return 0
        rest, self._current = self._rest(self._current), None
        return rest

    def _rest(self, source: str) -> int:
        size = self._size.get(source)
        if size is None:
            return 0
        rest = size - self._credited.get(source, 0)
        self._credited[source] = size
        return max(0, rest)


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover - the loop returns


class ConsoleProgress:
    """``progress`` for a terminal (a ``rich`` bar) or a log (a line every ``interval`` s).

    ``mode``: ``"auto"`` (a bar when ``stream`` is a terminal, else lines), ``"bar"``, ``"lines"``
    or ``"none"``. Use as a context manager; the instance is the callback."""

    def __init__(
        self,
        verb: str,
        total_bytes: int | None = None,
        *,
        stream: IO[str] | None = None,
        mode: str = "auto",
        interval: float = 10.0,
    ) -> None:
        if mode not in ("auto", "bar", "lines", "none"):
            raise ValueError(f"progress mode must be auto, bar, lines or none, got {mode!r}")
        self.verb = verb
        self.total_bytes = total_bytes
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", lambda: False)()
        self.mode = ("bar" if isatty else "lines") if mode == "auto" else mode
        self.interval = interval
        self.rows = 0
        self.bytes = 0
        self.started = time.monotonic()
        self._last = self.started
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> ConsoleProgress:
        return self

    def _start_bar(self) -> None:
        if self.mode == "bar":
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TaskProgressColumn,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            console = Console(file=self.stream, force_terminal=True)
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[rows]:,} rows"),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.verb, total=self.total_bytes, rows=0)

    def __call__(self, rows: int, nbytes: int, total_bytes: int | None = None) -> None:
        if total_bytes is not None:
            self.total_bytes = total_bytes
        self.rows += rows
        self.bytes += nbytes
        if self.mode == "bar" and self._bar is None:
            self._start_bar()
        if self._bar is not None:
            self._bar.update(self._task, advance=nbytes, rows=self.rows)
        elif self.mode == "lines":
            now = time.monotonic()
            if now - self._last >= self.interval:
                self._last = now
                print(self.line(), file=self.stream, flush=True)

    def line(self) -> str:
        """``prepare: 120,000 rows, 48.0 MB of 96.0 MB (50%), 31.2 MB/s, ETA 2 s``"""
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.bytes / elapsed
        parts = [f"{self.rows:,} rows"]
        if self.total_bytes:
            pct = 100.0 * self.bytes / self.total_bytes
            parts.append(f"{fmt_bytes(self.bytes)} of {fmt_bytes(self.total_bytes)} ({pct:.0f}%)")
            parts.append(f"{fmt_bytes(rate)}/s")
            if rate > 0 and self.bytes < self.total_bytes:
                parts.append(f"ETA {(self.total_bytes - self.bytes) / rate:.0f} s")
        else:
            parts.append(f"{self.rows / elapsed:,.0f} rows/s")
        return f"{self.verb}: " + ", ".join(parts)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif self.mode == "lines":
            print(self.line() + (" (done)" if exc[0] is None else " (stopped)"), file=self.stream, flush=True)
