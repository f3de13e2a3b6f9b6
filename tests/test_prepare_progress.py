"""Prepare's progress: the input bytes it reports add up to the input's size exactly (JSON, JSONL,
CSV, Parquet, several files, many batches), rows to the rows written, and the CLI shows it as a bar on
a terminal and as plain lines in a log, with the manifest alone on stdout."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_vectorimport.prepare import prepare_files
from airflow_provider_vectorimport.prepare.progress import ConsoleProgress
from tests.test_prepare_helpers import DATA

SCHEMA = DATA / "articles_schema.json"
N = 600


def rows(start: int, n: int) -> list[dict]:
    return [
        {
            "id": start + i,
            "title": f"title {start + i}",
            "title_vector": [float((start + i) % 7) / 7 + j for j in range(8)],
            "reading_time": i % 30,
            "tags": ["a", "b"][: i % 3],
        }
        for i in range(n)
    ]


def write_inputs(tmp_path):
    """One file of each input format, N rows each, different ids."""
    paths = []
    p = tmp_path / "a.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows(0, N)))
    paths.append(p)
    p = tmp_path / "b.json"
    p.write_text(json.dumps({"rows": rows(N, N)}))
    paths.append(p)
    p = tmp_path / "c.csv"
    with p.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "title", "title_vector", "reading_time", "tags"])
        for r in rows(2 * N, N):
            w.writerow(
                [r["id"], r["title"], json.dumps(r["title_vector"]), r["reading_time"], json.dumps(r["tags"])]
            )
    paths.append(p)
    p = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist(rows(3 * N, N)), p, row_group_size=100)
    paths.append(p)
    return paths


def test_progress_adds_up_to_the_input_size_and_rows(tmp_path):
    paths = write_inputs(tmp_path)
    calls: list[tuple[int, int, int | None]] = []
    m = prepare_files(
        [str(p) for p in paths],
        str(SCHEMA),
        tmp_path / "out",
        block_size="64KB",  # many batches per file
        progress=lambda r, b, t: calls.append((r, b, t)),
    )
    size = sum(os.path.getsize(p) for p in paths)
    assert m["total_rows"] == 4 * N
    assert sum(r for r, _, _ in calls) == 4 * N
    assert sum(b for _, b, _ in calls) == size
    assert {t for _, _, t in calls} == {size}
    assert len(calls) > 8 and all(b >= 0 for _, b, _ in calls)
    # it moves as the input is read, not all at the end
    running = 0
    for _, b, _ in calls[:-1]:
        running += b
    assert 0 < calls[0][1] < size and running > size // 2


def test_in_memory_input_counts_rows_without_a_size(tmp_path):
    calls: list[tuple[int, int, int | None]] = []
    prepare_files(rows(0, 50), str(SCHEMA), tmp_path / "o", progress=lambda r, b, t: calls.append((r, b, t)))
    assert sum(r for r, _, _ in calls) == 50
    assert {t for _, _, t in calls} == {None} and sum(b for _, b, _ in calls) == 0
    line = ConsoleProgress("prepare", mode="lines")
    line(50, 0, None)
    assert line.line().startswith("prepare: 50 rows, ") and "rows/s" in line.line()


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "airflow_provider_vectorimport.prepare.cli", *args],
        capture_output=True,
        text=True,
    )


def test_cli_prints_progress_lines_in_a_log_and_the_manifest_alone_on_stdout(tmp_path):
    paths = write_inputs(tmp_path)
    size = sum(os.path.getsize(p) for p in paths)
    r = _cli(
        "--schema", str(SCHEMA), "--out", str(tmp_path / "out"), "--progress-interval", "0", *map(str, paths)
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["total_rows"] == 4 * N  # nothing but the manifest on stdout
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("prepare: ")]
    assert len(lines) >= 2, r.stderr
    assert "\x1b[" not in r.stderr  # not a terminal: plain lines, no escape codes
    last = lines[-1]
    assert last.startswith(f"prepare: {4 * N:,} rows, ") and last.endswith("(done)")
    total = f"{size / 1000:.1f} KB"
    assert f"{total} of {total} (100%)" in last and "/s" in last


def test_cli_draws_a_bar_on_a_terminal(tmp_path):
    paths = write_inputs(tmp_path)
    r = _cli("--schema", str(SCHEMA), "--out", str(tmp_path / "out"), "--progress", "bar", *map(str, paths))
    assert r.returncode == 0, r.stderr
    assert "\x1b[" in r.stderr and "prepare" in r.stderr
    assert f"{4 * N:,} rows" in r.stderr and "100%" in r.stderr


def test_cli_progress_none_is_silent_and_a_bad_mode_is_refused(tmp_path):
    paths = write_inputs(tmp_path)
    r = _cli("--schema", str(SCHEMA), "--out", str(tmp_path / "out"), "--progress", "none", str(paths[0]))
    assert r.returncode == 0 and "prepare: " not in r.stderr
    with pytest.raises(ValueError, match="progress mode"):
        ConsoleProgress("prepare", mode="sometimes")
