"""Data integrity of prepared files (issue 11, items 1-4), on every reader x writer path.

Corpus: each bad row (a null inside a vector or an array, invalid UTF-8 in a string field) is fed
through every reader (JSON array, ``{"rows": ...}``, JSON Lines, CSV, Parquet, Arrow, pandas, Python
rows) into every writer (Parquet, NumPy, JSON, JSONL); each must be rejected naming file, row and
field, with nothing written and no staging left. Then: a corrupted Parquet page, and killed runs.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_vectorimport.operators.prepare import PrepareImportFilesOperator
from airflow_provider_vectorimport.prepare import PrepareError, prepare_files

BAD = "\udcff"  # the byte 0xff, as ``surrogateescape`` decodes it: invalid UTF-8 once written as bytes
_ARROW_BAD = "\u00a4"  # stands in for BAD while building Arrow data; its bytes are then made invalid

SCHEMA = {
    "fields": [
        {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "title", "dataType": "VarChar", "elementTypeParams": {"max_length": 32}},
        {"fieldName": "vec", "dataType": "FloatVector", "elementTypeParams": {"dim": 4}},
        {"fieldName": "bvec", "dataType": "BinaryVector", "elementTypeParams": {"dim": 16}},
        {"fieldName": "i8v", "dataType": "Int8Vector", "elementTypeParams": {"dim": 2}},
        {"fieldName": "meta", "dataType": "JSON"},
        {
            "fieldName": "tags",
            "dataType": "Array",
            "elementDataType": "VarChar",
            "elementTypeParams": {"max_capacity": 4, "max_length": 16},
        },
        {
            "fieldName": "nums",
            "dataType": "Array",
            "elementDataType": "Int32",
            "elementTypeParams": {"max_capacity": 4},
        },
    ]
}
NUMPY_SCHEMA = {"fields": [f for f in SCHEMA["fields"] if f["dataType"] != "Array"]}


def good(i: int, *, numpy: bool = False) -> dict:
    row = {
        "id": i,
        "title": f"title {i}",
        "vec": [0.25, -0.5, 1.0, float(i)],
        "bvec": [i % 256, 7],
        "i8v": [-3, i % 100],
        "meta": {"k": f"v{i}", "n": i},
    }
    if not numpy:
        row["tags"] = ["a", f"t{i}"]
        row["nums"] = [1, i]
    return row


# (case, change to row 2, field, message fragment, also on NumPy output)
CASES = [
    ("vector_null", {"vec": [0.25, None, 1.0, 2.0]}, "vec", "null value at index 1", True),
    ("binary_vector_null", {"bvec": [None, 7]}, "bvec", "null value at index 0", True),
    ("int8_vector_null", {"i8v": [-3, None]}, "i8v", "null value at index 1", True),
    ("array_null_element", {"tags": ["a", None]}, "tags", "element 1: null value", False),
    ("int_array_null_element", {"nums": [None, 2]}, "nums", "element 0: null value", False),
    ("varchar_bad_utf8", {"title": f"ti{BAD}tle"}, "title", "invalid UTF-8", True),
    ("array_bad_utf8", {"tags": ["a", f"x{BAD}"]}, "tags", "invalid UTF-8", False),
    ("json_bad_utf8", {"meta": {"k": f"v{BAD}"}}, "meta", "invalid UTF-8", True),
]
READERS = ["json_array", "json_rows", "jsonl", "csv", "parquet", "arrow", "pandas", "rows"]
WRITERS = ["parquet", "numpy", "json", "jsonl"]
CORPUS = [
    (reader, writer, *case)
    for reader in READERS
    for writer in WRITERS
    for case in CASES
    if writer != "numpy" or case[4]
]


def _json_bytes(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogateescape")


def _poison(arr: pa.Array) -> pa.Array:
    """Make the stand-in character's bytes (C2 A4) invalid UTF-8 (FF FF) inside string data."""
    t = arr.type
    if pa.types.is_string(t):
        validity, offsets, data = arr.buffers()
        raw = data.to_pybytes().replace(_ARROW_BAD.encode(), b"\xff\xff") if data is not None else b""
        return pa.StringArray.from_buffers(
            len(arr), offsets, pa.py_buffer(raw), validity, arr.null_count, arr.offset
        )
    if pa.types.is_list(t):
        return pa.ListArray.from_arrays(arr.offsets, _poison(arr.values), mask=arr.is_null())
    return arr


def _arrow_table(rows: list[dict], names: list[str], json_fields: set[str]) -> pa.Table:
    def standin(v):
        if isinstance(v, str):
            return v.replace(BAD, _ARROW_BAD)
        if isinstance(v, list):
            return [standin(x) for x in v]
        return v

    cols = {}
    for name in names:
        values = []
        for r in rows:
            v = r.get(name)
            if name in json_fields and v is not None:
                v = json.dumps(v, ensure_ascii=False)
            values.append(standin(v))
        cols[name] = _poison(pa.array(values))
    return pa.table(cols)


def write_input(tmp_path, reader: str, rows: list[dict], schema: dict):
    """``rows`` as the input of ``reader``: a path or an in-memory object."""
    names = [f["fieldName"] for f in schema["fields"]]
    json_fields = {f["fieldName"] for f in schema["fields"] if f["dataType"] == "JSON"}
    if reader in ("json_array", "json_rows"):
        body = b"[" + b",\n".join(_json_bytes(r) for r in rows) + b"]"
        if reader == "json_rows":
            body = b'{"rows": ' + body + b"}"
        path = tmp_path / f"{reader}.json"
        path.write_bytes(body)
        return str(path)
    if reader == "jsonl":
        path = tmp_path / "in.jsonl"
        path.write_bytes(b"\n".join(_json_bytes(r) for r in rows) + b"\n")
        return str(path)
    if reader == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(names)
        for r in rows:
            w.writerow(
                [
                    v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
                    for v in (r.get(n) for n in names)
                ]
            )
        path = tmp_path / "in.csv"
        path.write_bytes(buf.getvalue().encode("utf-8", "surrogateescape"))
        return str(path)
    if reader in ("parquet", "arrow"):
        table = _arrow_table(rows, names, json_fields)
        if reader == "arrow":
            return table
        path = tmp_path / "in.parquet"
        pq.write_table(table, path)
        return str(path)
    if reader == "pandas":
        import pandas as pd

        return pd.DataFrame(rows, dtype=object)
    return [dict(r) for r in rows]


@pytest.mark.parametrize(
    ("reader", "writer", "case", "change", "field", "fragment", "_numpy"),
    CORPUS,
    ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CORPUS],
)
def test_corpus_rejects_before_writing(tmp_path, reader, writer, case, change, field, fragment, _numpy):
    schema = NUMPY_SCHEMA if writer == "numpy" else SCHEMA
    rows = [good(i, numpy=writer == "numpy") for i in (1, 2, 3)]
    rows[1].update(change)
    src_dir = tmp_path / "src"
    src_dir.mkdir()
    inputs = write_input(src_dir, reader, rows, schema)
    work = tmp_path / "work"
    work.mkdir()
    out = work / "out"
    with pytest.raises(PrepareError) as err:
        prepare_files(inputs, schema, out, format=writer)
    e = err.value.errors[0]
    label = inputs if isinstance(inputs, str) else e.file
    assert (e.file, e.row, e.field) == (label, 2, field), str(e)
    assert fragment in e.message, str(e)
    assert os.listdir(work) == []  # neither output nor staging


def test_corpus_counts():
    """The corpus covers every reader x writer (the closing note of issue 11 quotes these counts)."""
    per_pair = {(r, w): sum(1 for c in CORPUS if c[:2] == (r, w)) for r in READERS for w in WRITERS}
    assert set(per_pair) == {(r, w) for r in READERS for w in WRITERS}
    assert all(per_pair[(r, "numpy")] == 5 for r in READERS)
    assert all(per_pair[(r, w)] == len(CASES) for r in READERS for w in WRITERS if w != "numpy")
    assert len(CORPUS) == len(READERS) * (3 * len(CASES) + 5) == 232


@pytest.mark.parametrize("reader", READERS)
def test_corpus_good_rows_pass_on_every_reader(tmp_path, reader):
    """The same inputs without the bad row are accepted (the corpus rejects the bad value, not the path)."""
    rows = [good(i) for i in (1, 2, 3)]
    inputs = write_input(tmp_path, reader, rows, SCHEMA)
    manifest = prepare_files(inputs, SCHEMA, tmp_path / "out", format="jsonl")
    text = (tmp_path / "out" / manifest["files"][0]["path"]).read_text()
    back = [json.loads(line) for line in text.splitlines()]
    assert [r["tags"] for r in back] == [["a", "t1"], ["a", "t2"], ["a", "t3"]]
    assert [r["vec"] for r in back] == [r["vec"] for r in rows]
    assert [json.loads(r["meta"]) if isinstance(r["meta"], str) else r["meta"] for r in back] == [
        r["meta"] for r in rows
    ]


# ------------------------------------------------------------------------------------------------
# item 3: corrupted Parquet input -> a clear, non-retryable error naming the file
# ------------------------------------------------------------------------------------------------
def _corrupt_parquet(path) -> None:
    import numpy as np

    n = 600
    table = pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "title": [f"t{i}" for i in range(n)],
            "vec": pa.FixedSizeListArray.from_arrays(pa.array(np.linspace(0, 1, n * 4, dtype=np.float32)), 4),
            "bvec": [[1, 2]] * n,
            "i8v": [[1, 2]] * n,
            "meta": ["{}"] * n,
            "tags": [["a"]] * n,
            "nums": [[1]] * n,
        }
    )
    pq.write_table(table, path, row_group_size=200)
    data = bytearray(path.read_bytes())
    start = pq.ParquetFile(path).metadata.row_group(1).column(1).data_page_offset
    for i in range(start + 4, start + 64):
        data[i] ^= 0x5A  # damage the page header of row group 1 (rows 201-400)
    path.write_bytes(bytes(data))


def test_corrupted_parquet_names_file_and_rows(tmp_path):
    src = tmp_path / "damaged.parquet"
    _corrupt_parquet(src)
    with pytest.raises(PrepareError) as err:
        prepare_files(str(src), SCHEMA, tmp_path / "out")
    e = err.value.errors[0]
    assert (e.file, e.row) == (str(src), 201), str(e)
    assert "corrupted Parquet file: row group 1" in e.message
    assert not (tmp_path / "out").exists()


def test_operator_fails_fast_on_corrupted_parquet(tmp_path):
    """Retrying cannot repair a file: the operator raises AirflowFailException (no retry), naming it."""
    src = tmp_path / "damaged.parquet"
    _corrupt_parquet(src)
    op = PrepareImportFilesOperator(
        task_id="prep", inputs=str(src), schema=SCHEMA, output_dir=str(tmp_path / "o"), retries=3
    )
    with pytest.raises(AirflowFailException, match=r"damaged\.parquet, row 201: corrupted Parquet file"):
        op.execute({})
    assert sorted(os.listdir(tmp_path)) == ["damaged.parquet"]


def test_csv_header_with_bad_utf8_is_named(tmp_path):
    src = tmp_path / "in.csv"
    src.write_bytes(b"id,ti\xfftle\n1,x\n")
    with pytest.raises(PrepareError, match=r"in\.csv: the CSV header row is not valid UTF-8"):
        prepare_files(str(src), SCHEMA, tmp_path / "out")


# ------------------------------------------------------------------------------------------------
# item 4: killed runs leave nothing that looks like output; the next run sweeps their staging
# ------------------------------------------------------------------------------------------------
_CHILD = textwrap.dedent(
    """
    import json, pathlib, sys, time
    from airflow_provider_vectorimport.prepare import prepare_files

    out, ready, schema = sys.argv[1], pathlib.Path(sys.argv[2]), json.loads(sys.argv[3])

    def rows():
        for i in range(20000):
            if i == 9000:
                ready.write_text("writing")
                time.sleep(120)  # killed here, mid-run, with a chunk already in staging
            yield {"id": i, "title": "t", "vec": [0.5, 0.5, 0.5, 0.5], "bvec": [1, 2], "i8v": [1, 2],
                   "meta": {}, "tags": [], "nums": []}

    prepare_files(rows(), schema, out, threads=False, overwrite=True)
    """
)


def _killed_run(out, tmp_path) -> None:
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(out), str(ready), json.dumps(SCHEMA)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, "the child run ended early"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    ready.unlink()


def test_killed_run_leaves_no_output_and_next_run_sweeps_its_staging(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    out = work / "out"
    _killed_run(out, tmp_path)
    left = os.listdir(work)
    assert "out" not in left  # never mistaken for output
    assert left, "the killed run left its staging (that is what the next run must clean)"
    manifest = prepare_files([good(1), good(2)], SCHEMA, out)
    assert manifest["total_rows"] == 2
    assert os.listdir(work) == ["out"]  # the dead run's staging is gone


def test_killed_rerun_keeps_the_previous_output_whole(tmp_path):
    """A re-run over an existing output that is killed leaves the previous output intact."""
    out = tmp_path / "work" / "out"
    first = prepare_files([good(1)], SCHEMA, out)
    before = sorted(os.listdir(out))
    _killed_run(out, tmp_path)
    assert sorted(os.listdir(out)) == before
    assert pq.read_table(out / first["files"][0]["path"]).num_rows == 1
    prepare_files([good(1), good(2)], SCHEMA, out, overwrite=True)
    assert os.listdir(out.parent) == ["out"]


def test_sweep_removes_only_provably_stale_staging(tmp_path):
    from airflow_provider_vectorimport.prepare import staging as staging_mod

    out = str(tmp_path / "out")
    mine = staging_mod.create_staging(out)  # this process: alive
    dead = staging_mod.create_staging(out)
    other_host = staging_mod.create_staging(out)
    old = staging_mod.create_staging(out)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()

    def rewrite(path, **change):
        record = json.loads(open(path + staging_mod.OWNER_SUFFIX).read())
        record.update(change)
        open(path + staging_mod.OWNER_SUFFIX, "w").write(json.dumps(record))

    rewrite(dead, pid=proc.pid, pid_start=None)  # that pid has exited
    rewrite(other_host, host="another-worker")  # cannot be probed, and recent
    rewrite(old, host="another-worker", created=time.time() - staging_mod.STALE_AFTER - 60)
    unowned = tmp_path / ".out.staging-0123456789ab"  # no owner record: not provably ours
    unowned.mkdir()
    foreign = tmp_path / ".out.staging-x.owner.json"
    foreign.write_text("not json")
    removed = staging_mod.sweep_stale(out)
    assert sorted(removed) == sorted([dead, old])
    assert os.path.isdir(mine) and os.path.isdir(other_host) and unowned.is_dir() and foreign.exists()
    assert not os.path.exists(dead + staging_mod.OWNER_SUFFIX)
    # a pid that is reused by another process is not the owner any more
    rewrite(mine, pid_start="1")
    assert staging_mod.sweep_stale(out) == ([mine] if staging_mod._proc_start(os.getpid()) else [])
