"""Benchmark of export processing: the seed's pandas ``iterrows`` loop vs ``iter_record_batches`` vs a
bare pyarrow read, on a downloaded VikingDB-style export.

Generates a 200,000-row Parquet export (id int64, vector float32[dim], publication string, claps
int64, in ``--files`` part files) plus the download manifest ``download_prefix`` writes for it, then
runs each contender in its own process and prints wall time, CPU time, rows/s and peak RSS (``wait4``
rusage of that process alone). Every contender counts the rows and sums ``claps``; the sums must agree.

* ``seed``: the vendor sample (seed 004): ``ParquetFile.iter_batches(batch_size=100)``, ``to_pandas()``,
  then ``for index, row in df.iterrows()``.
* ``ours``: ``iter_record_batches(<download folder>)`` - reads the manifest, checks every file (footer,
  schema, recorded size) before the first batch, then Arrow batches.
* ``bare``: ``pyarrow.parquet.ParquetFile(f).iter_batches()`` over the same files, no checks (the bound).

    python3 bench/process.py                      # 200,000 rows, dim 128
    python3 bench/process.py --rows 50000 --dim 768 --repeat 5

Takes about a minute (the seed loop is most of it). Data goes to a scratch folder under /tmp.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

MANIFEST = ".vectorimport-download.json"
PUBLICATIONS = ["The Startup", "Towards Data Science", "Better Humans", "UX Collective"]

# every contender imports first, then times its own processing loop (wall and CPU), so interpreter
# start-up and imports (noisy on a shared machine) are not part of the comparison
SEED = """
import sys, os, time, pandas, pyarrow.parquet as pq
t0, c0 = time.perf_counter(), time.process_time()
rows = claps = 0
for name in sorted(os.listdir(sys.argv[1])):
    if not name.endswith(".parquet"):
        continue
    parquet_file = pq.ParquetFile(os.path.join(sys.argv[1], name))
    for batch in parquet_file.iter_batches(batch_size=100):   # as in the vendor sample
        df = batch.to_pandas()
        for index, row in df.iterrows():
            rows += 1
            claps += int(row["claps"])
hwm = [ln.split()[1] for ln in open("/proc/self/status") if ln.startswith("VmHWM:")]
print(rows, claps, time.perf_counter() - t0, time.process_time() - c0, hwm[0] if hwm else 0)
"""

OURS = """
import sys, time
import pyarrow.compute as pc, pyarrow.parquet
from airflow_provider_vectorimport.storage import iter_record_batches
t0, c0 = time.perf_counter(), time.process_time()
rows = claps = 0
for batch in iter_record_batches(sys.argv[1], batch_size=int(sys.argv[2])):
    rows += batch.num_rows
    claps += pc.sum(batch.column("claps")).as_py() or 0
hwm = [ln.split()[1] for ln in open("/proc/self/status") if ln.startswith("VmHWM:")]
print(rows, claps, time.perf_counter() - t0, time.process_time() - c0, hwm[0] if hwm else 0)
"""

BARE = """
import sys, os, time
import pyarrow.compute as pc, pyarrow.parquet as pq
t0, c0 = time.perf_counter(), time.process_time()
rows = claps = 0
for name in sorted(os.listdir(sys.argv[1])):
    if not name.endswith(".parquet"):
        continue
    for batch in pq.ParquetFile(os.path.join(sys.argv[1], name)).iter_batches(batch_size=int(sys.argv[2])):
        rows += batch.num_rows
        claps += pc.sum(batch.column("claps")).as_py() or 0
hwm = [ln.split()[1] for ln in open("/proc/self/status") if ln.startswith("VmHWM:")]
print(rows, claps, time.perf_counter() - t0, time.process_time() - c0, hwm[0] if hwm else 0)
"""


def generate(folder: str, rows: int, dim: int, files: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(7)
    entries = []
    per_file = -(-rows // files)
    for n in range(files):
        lo, hi = n * per_file, min(rows, (n + 1) * per_file)
        count = hi - lo
        ids = np.arange(lo, hi, dtype=np.int64)
        vectors = pa.FixedSizeListArray.from_arrays(
            pa.array(rng.standard_normal(count * dim, dtype=np.float32)), dim
        )
        table = pa.table(
            {
                "id": ids,
                "vector": vectors.cast(pa.list_(pa.float32())),
                "publication": pa.array([PUBLICATIONS[i % 4] for i in range(lo, hi)]),
                "claps": pa.array((ids * 37) % 5000),
            }
        )
        rel = f"part-{n:05d}.parquet"
        path = os.path.join(folder, rel)
        pq.write_table(table, path, row_group_size=50_000)
        with open(path, "rb") as fh:
            data = fh.read()
        entries.append(
            {
                "rel": rel,
                "key": f"exports/run/{rel}",
                "bytes": len(data),
                "etag": hashlib.md5(data, usedforsecurity=False).hexdigest(),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    manifest = {
        "version": 1,
        "bucket": "bench",
        "prefix": "exports/run",
        "state": "complete",
        "files": entries,
    }
    with open(os.path.join(folder, MANIFEST), "w") as fh:
        json.dump(manifest, fh)


def run(code: str, *args: str) -> dict[str, float | str]:
    """One contender in its own process: its timings and peak RSS (printed by itself)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=out, stderr=err, env=env)
        proc.wait()
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"contender failed:\n{err.read().decode()}")
        rows, claps, wall, cpu, hwm_kb = out.read().decode().split()
    # VmHWM: the peak RSS of the contender's own address space (ru_maxrss would carry over the
    # parent's at fork time)
    return {"wall": float(wall), "cpu": float(cpu), "rss_mb": int(hwm_kb) / 1024, "result": f"{rows} {claps}"}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7, help="runs of ours / bare (best taken)")
    parser.add_argument("--skip-seed", action="store_true")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="vectorimport-bench-process-")
    try:
        t0 = time.perf_counter()
        generate(folder, args.rows, args.dim, args.files)
        size = sum(os.path.getsize(os.path.join(folder, n)) for n in os.listdir(folder))
        print(
            f"export: {args.rows:,} rows, dim {args.dim}, {args.files} Parquet files, "
            f"{size / 2**20:.1f} MiB (generated in {time.perf_counter() - t0:.1f} s)"
        )
        print("times: the processing loop of each contender, after its imports (best of --repeat)\n")
        results: dict[str, dict[str, float | str]] = {}
        batch = str(args.batch_size)
        runs: dict[str, list[dict[str, float | str]]] = {"bare": [], "ours": []}
        for _ in range(args.repeat):  # interleaved, so load from other processes hits both alike
            runs["bare"].append(run(BARE, folder, batch))
            runs["ours"].append(run(OURS, folder, batch))
        for name, got in runs.items():
            results[name] = min(got, key=lambda r: float(r["wall"]))
        if not args.skip_seed:
            results["seed"] = run(SEED, folder)
        answers = {r["result"] for r in results.values()}
        if len(answers) != 1:
            raise SystemExit(f"contenders disagree: { {k: v['result'] for k, v in results.items()} }")

        print(f"{'contender':<10} {'wall s':>8} {'cpu s':>8} {'rows/s':>14} {'peak RSS MB':>12}")
        for name in ("seed", "ours", "bare"):
            if name not in results:
                continue
            r = results[name]
            wall = float(r["wall"])
            print(
                f"{name:<10} {wall:>8.3f} {float(r['cpu']):>8.3f} {args.rows / wall:>14,.0f} "
                f"{float(r['rss_mb']):>12.0f}"
            )
        ours, bare = results["ours"], results["bare"]
        print()
        if "seed" in results:
            seed = results["seed"]
            print(
                f"ours vs seed: {float(seed['wall']) / float(ours['wall']):.0f}x faster (wall), "
                f"{float(seed['cpu']) / float(ours['cpu']):.0f}x (CPU)"
            )
        print(
            f"ours vs bare: {float(bare['wall']) / float(ours['wall']):.2f}x the bare read's speed (wall), "
            f"{float(bare['cpu']) / float(ours['cpu']):.2f}x (CPU)"
        )
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
