"""Benchmark of ``vectorimport prepare`` against pymilvus ``LocalBulkWriter`` and pyarrow's JSON reader.

Generates a medium_articles-shaped data set (id int64, title varchar, title_vector float 768-d,
link varchar, reading_time int64, publication varchar, claps int64, responses int64) in the seed's
``{"rows": [...]}`` JSON (plus the same rows as JSONL for the pyarrow bound and LocalBulkWriter's
line-by-line feed, its most favourable case; it is also run on the seed's recipe, ``json.load`` of
the whole JSON file, as users of the vendor docs would), then runs each contender as a separate process and prints wall time, CPU time (user + sys; the
fairer figure on a shared machine) and peak RSS (``wait4`` rusage of that process alone).

    python3 bench/prepare.py                  # 20,000 rows and >= 1 GiB
    python3 bench/prepare.py --rows 20000     # one size only
    python3 bench/prepare.py --gib 1 --skip-lbw-numpy

Data goes to a scratch directory under /tmp (removed afterwards unless --keep).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

SCHEMA = {
    "autoId": False,
    "enableDynamicField": False,
    "fields": [
        {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
        {"fieldName": "title", "dataType": "VarChar", "elementTypeParams": {"max_length": 512}},
        {"fieldName": "title_vector", "dataType": "FloatVector", "elementTypeParams": {"dim": 768}},
        {"fieldName": "link", "dataType": "VarChar", "elementTypeParams": {"max_length": 512}},
        {"fieldName": "reading_time", "dataType": "Int64"},
        {"fieldName": "publication", "dataType": "VarChar", "elementTypeParams": {"max_length": 512}},
        {"fieldName": "claps", "dataType": "Int64"},
        {"fieldName": "responses", "dataType": "Int64"},
    ],
}
PUBLICATIONS = [
    "The Startup",
    "Towards Data Science",
    "Better Humans",
    "UX Collective",
    "The Writing Cooperative",
]


def generate(rows: int, json_path: str, jsonl_path: str) -> None:
    """Rows cycle through 1,000 distinct pre-formatted vectors (formatting floats is the slow part)."""
    rnd = random.Random(42)
    vectors = [
        "[" + ", ".join(f"{rnd.uniform(-0.1, 0.1):.8f}" for _ in range(768)) + "]" for _ in range(1000)
    ]
    with open(json_path, "w") as fj, open(jsonl_path, "w") as fl:
        fj.write('{"rows": [\n')
        for i in range(rows):
            title = json.dumps(
                f"Article {i}: how to {rnd.choice(['scale', 'ship', 'learn', 'write'])} things"
            )
            line = (
                f'{{"id": {i}, "title": {title}, "title_vector": {vectors[i % 1000]}, '
                f'"link": "https://medium.com/p/{i:08x}", "reading_time": {i % 23}, '
                f'"publication": "{PUBLICATIONS[i % 5]}", "claps": {(i * 37) % 5000}, "responses": {i % 17}}}'
            )
            fj.write(("" if i == 0 else ",\n") + line)
            fl.write(line + "\n")
        fj.write("\n]}\n")


OURS = """
import sys, json
from airflow_provider_vectorimport.prepare import prepare_files
m = prepare_files(sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], format=sys.argv[4], chunk_size="512MB")
print(m["total_rows"], m["total_bytes"], len(m["groups"]))
"""

LBW = """
import sys, json, logging
logging.disable(logging.INFO)
from pymilvus import CollectionSchema, DataType, FieldSchema
from pymilvus.bulk_writer import BulkFileType, LocalBulkWriter
fields = [
    FieldSchema("id", DataType.INT64, is_primary=True),
    FieldSchema("title", DataType.VARCHAR, max_length=512),
    FieldSchema("title_vector", DataType.FLOAT_VECTOR, dim=768),
    FieldSchema("link", DataType.VARCHAR, max_length=512),
    FieldSchema("reading_time", DataType.INT64),
    FieldSchema("publication", DataType.VARCHAR, max_length=512),
    FieldSchema("claps", DataType.INT64),
    FieldSchema("responses", DataType.INT64),
]
ft = BulkFileType.PARQUET if sys.argv[3] == "parquet" else BulkFileType.NUMPY
w = LocalBulkWriter(schema=CollectionSchema(fields), local_path=sys.argv[2], file_type=ft, chunk_size=512 * 1024 * 1024)
n = 0
if sys.argv[1].endswith(".jsonl"):
    with open(sys.argv[1]) as fh:      # streamed line by line: LocalBulkWriter's own cost, not json.load's
        for line in fh:
            w.append_row(json.loads(line))
            n += 1
else:
    with open(sys.argv[1]) as fh:      # the seed's recipe: json.load the whole {"rows": [...]} file
        rows = json.load(fh)["rows"]
    for row in rows:
        w.append_row(row)
        n += 1
w.commit()
print(n, len(w.batch_files))
"""

PYARROW_BOUND = """
import sys, pyarrow as pa, pyarrow.json as pj
schema = pa.schema([("id", pa.int64()), ("title", pa.string()), ("title_vector", pa.list_(pa.float32())),
    ("link", pa.string()), ("reading_time", pa.int64()), ("publication", pa.string()),
    ("claps", pa.int64()), ("responses", pa.int64())])
reader = pj.open_json(sys.argv[1], read_options=pj.ReadOptions(block_size=32 << 20),
                      parse_options=pj.ParseOptions(explicit_schema=schema))
n = 0
for batch in reader:
    n += batch.num_rows
print(n)
"""


def run(name: str, code: str, *args: str) -> dict:
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out = proc.stdout.read().decode().strip() if proc.stdout else ""
    err = proc.stderr.read().decode().strip() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        print(f"  {name}: FAILED ({proc.returncode}): {err[-500:]}")
    return {
        "name": name,
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
        "out": out,
        "ok": proc.returncode == 0,
    }


def dir_size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def bench(rows: int, scratch: str, skip_lbw: set[str]) -> None:
    json_path = os.path.join(scratch, f"articles_{rows}.json")
    jsonl_path = os.path.join(scratch, f"articles_{rows}.jsonl")
    t = time.perf_counter()
    generate(rows, json_path, jsonl_path)
    size = os.path.getsize(json_path)
    print(
        f"\n== {rows:,} rows, input {size / 2**20:,.0f} MiB JSON (generated in {time.perf_counter() - t:.1f} s)"
    )
    schema = json.dumps(SCHEMA)
    results = [run("pyarrow JSONL reader (bound)", PYARROW_BOUND, jsonl_path)]
    for fmt in ("parquet", "numpy"):
        out = os.path.join(scratch, f"ours_{fmt}_{rows}")
        r = run(f"ours -> {fmt}", OURS, json_path, schema, out, fmt)
        r["out_mb"] = dir_size(out) / 2**20 if os.path.isdir(out) else 0
        results.append(r)
        shutil.rmtree(out, ignore_errors=True)
    for fmt in ("parquet", "numpy"):
        if fmt in skip_lbw:
            continue
        out = os.path.join(scratch, f"lbw_{fmt}_{rows}")
        r = run(f"LocalBulkWriter -> {fmt}", LBW, jsonl_path, out, fmt)
        r["out_mb"] = dir_size(out) / 2**20 if os.path.isdir(out) else 0
        results.append(r)
        shutil.rmtree(out, ignore_errors=True)
    if "seed" not in skip_lbw:
        out = os.path.join(scratch, f"lbw_seed_{rows}")
        r = run("LBW, json.load (seed) -> parquet", LBW, json_path, out, "parquet")
        r["out_mb"] = dir_size(out) / 2**20 if os.path.isdir(out) else 0
        results.append(r)
        shutil.rmtree(out, ignore_errors=True)
    bound = results[0]
    # the speed-up column compares with LocalBulkWriter fed line by line (its most favourable case)
    lbw = {r["name"].split()[-1]: r for r in results if r["name"].startswith("LocalBulkWriter")}
    print(
        f"{'contender':30} {'wall s':>7} {'cpu s':>7} {'MB/s':>6} {'peak RSS MB':>11} "
        f"{'x bound wall/cpu':>16} {'LBW/ours wall/cpu':>17}"
    )
    for r in results:
        fmt = r["name"].split()[-1]
        speedup = ""
        if r["name"].startswith("ours") and fmt in lbw:
            speedup = f"{lbw[fmt]['wall'] / r['wall']:.1f}x / {lbw[fmt]['cpu'] / r['cpu']:.1f}x"
        vs_bound = f"{r['wall'] / bound['wall']:.2f} / {r['cpu'] / bound['cpu']:.2f}"
        print(
            f"{r['name']:30} {r['wall']:7.2f} {r['cpu']:7.2f} {size / 2**20 / r['wall']:6.0f} {r['rss_mb']:11.0f} "
            f"{vs_bound:>16} {speedup:>17}{'' if r['ok'] else '  FAILED'}"
        )
    os.unlink(json_path)
    os.unlink(jsonl_path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="row counts to run (repeatable)")
    parser.add_argument("--gib", type=float, default=None, help="also run an input of at least this many GiB")
    parser.add_argument("--skip-lbw-numpy", action="store_true")
    parser.add_argument("--skip-lbw", action="store_true")
    parser.add_argument("--skip-lbw-seed", action="store_true", help="skip LocalBulkWriter fed by json.load")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    sizes = list(args.rows or [])
    if not args.rows and args.gib is None:
        sizes = [20_000]
        args.gib = 1.0
    if args.gib:
        per_row = 9_800  # bytes of JSON per generated row, measured
        sizes.append(int(args.gib * 2**30 / per_row) + 1)
    skip = {"parquet", "numpy", "seed"} if args.skip_lbw else ({"numpy"} if args.skip_lbw_numpy else set())
    if args.skip_lbw_seed:
        skip.add("seed")
    scratch = tempfile.mkdtemp(prefix="vectorimport-bench-", dir="/tmp")
    try:
        for rows in sizes:
            bench(rows, scratch, skip)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
