"""Benchmark: our upload/download operators vs a plain boto3 upload_file/download_file loop.

Generates >= 1 GiB of "prepared" files under /tmp (3/4 of the volume in 128 MiB parts, the rest in
4 MiB parts), starts moto's S3 server in-process on 127.0.0.1, and moves the same files both ways with
each method, side by side in one run (the order alternates between rounds). Prints MiB/s per run and
the median ours/boto3 throughput ratio (target >= 0.9x). Not a test; no assertions on timings.

    python3 bench/transfer.py [--size-mib 1024] [--rounds 2] [--keep]

Methods: "boto3 loop" (client.upload_file / download_file per file, default TransferConfig),
"operators" (UploadToObjectStorageOperator / DownloadFromObjectStorageOperator, defaults: SHA-256
metadata, 4 files x 8 parts in parallel) and "operators etag" (checksum="etag": no pre-upload hash).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import numpy as np

from airflow_provider_vectorimport.operators.object_storage import (
    DownloadFromObjectStorageOperator,
    UploadToObjectStorageOperator,
)

MiB = 1024 * 1024


def make_files(root: Path, size_mib: int) -> list[Path]:
    """3/4 of the volume in 128 MiB parts, 1/4 in 4 MiB parts (reused if already there)."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    big = (size_mib * 3 // 4) // 128
    sizes = [128] * big + [4] * ((size_mib - big * 128) // 4)
    files = []
    for i, mib in enumerate(sizes):
        path = root / f"part-{i:05d}.parquet"
        if not path.exists() or path.stat().st_size != mib * MiB:
            path.write_bytes(rng.integers(0, 256, mib * MiB, dtype=np.uint8).tobytes())
        files.append(path)
    return files


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the generated files under /tmp")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for name in ("werkzeug", "airflow"):
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ["AIRFLOW_CONN_BENCH_S3"] = json.dumps(
        {
            "conn_type": "aws",
            "login": "bench-ak",
            "password": "bench-sk",
            "extra": {"region_name": "us-east-1", "endpoint_url": endpoint},
        }
    )
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="bench-ak",
        aws_secret_access_key="bench-sk",
        region_name="us-east-1",
    )
    src = Path(tempfile.gettempdir()) / "vectorimport-bench-src"
    work = Path(tempfile.mkdtemp(prefix="vectorimport-bench-"))
    t_gen, files = timed(lambda: make_files(src, args.size_mib))
    total = sum(p.stat().st_size for p in files)
    print(f"data: {len(files)} files, {total / MiB:.0f} MiB in {src} (generated/checked in {t_gen:.1f} s)")
    print(f"moto S3 server: {endpoint}; cores: {os.cpu_count()}; load avg: {os.getloadavg()[0]:.2f}")

    counter = iter(range(1_000_000))

    def boto3_loop() -> tuple[float, float]:
        bucket = f"bench-boto3-{next(counter)}"
        client.create_bucket(Bucket=bucket)
        up, _ = timed(lambda: [client.upload_file(str(p), bucket, f"data/{p.name}") for p in files])
        out = work / bucket
        out.mkdir()
        down, _ = timed(
            lambda: [client.download_file(bucket, f"data/{p.name}", str(out / p.name)) for p in files]
        )
        for p in files:
            client.delete_object(Bucket=bucket, Key=f"data/{p.name}")
        shutil.rmtree(out)
        return up, down

    def operators(checksum: str) -> Callable[[], tuple[float, float]]:
        def run() -> tuple[float, float]:
            bucket = f"bench-ops-{checksum}-{next(counter)}"
            client.create_bucket(Bucket=bucket)
            up_op = UploadToObjectStorageOperator(
                task_id="up",
                source=str(src),
                bucket=bucket,
                prefix="data",
                conn_id="bench_s3",
                checksum=checksum,
            )
            up, result = timed(lambda: up_op.execute({}))
            assert result["uploaded"] == len(files)
            skip, result = timed(lambda: up_op.execute({}))
            assert result["skipped"] == len(files)
            out = work / bucket
            down_op = DownloadFromObjectStorageOperator(
                task_id="down", bucket=bucket, prefix="data", local_dir=str(out), conn_id="bench_s3"
            )
            down, result = timed(lambda: down_op.execute({}))
            assert result["downloaded"] == len(files)
            reskip, result = timed(lambda: down_op.execute({}))
            assert result["skipped"] == len(files)
            print(
                f"  operators {checksum}: re-run (all skipped): upload {skip:.2f} s, download {reskip:.2f} s"
            )
            for p in files:
                client.delete_object(Bucket=bucket, Key=f"data/{p.name}")
            shutil.rmtree(out)
            return up, down

        return run

    methods = {
        "boto3 loop": boto3_loop,
        "operators": operators("sha256"),
        "operators etag": operators("etag"),
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in methods}
    try:
        for rnd in range(args.rounds):
            order = list(methods) if rnd % 2 == 0 else list(reversed(methods))
            print(f"round {rnd}: {' -> '.join(order)}")
            for name in order:
                results[name].append(methods[name]())
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(src, ignore_errors=True)

    mib = total / MiB
    print(
        f"\n{'method':<15} {'round':>5} {'upload s':>9} {'up MiB/s':>9} {'download s':>11} {'down MiB/s':>10}"
    )
    for name, runs in results.items():
        for rnd, (up, down) in enumerate(runs):
            print(f"{name:<15} {rnd:>5} {up:>9.2f} {mib / up:>9.1f} {down:>11.2f} {mib / down:>10.1f}")
    base = results["boto3 loop"]
    for name in ("operators", "operators etag"):
        up_ratio = statistics.median(b[0] / o[0] for b, o in zip(base, results[name], strict=True))
        down_ratio = statistics.median(b[1] / o[1] for b, o in zip(base, results[name], strict=True))
        print(f"{name}: median throughput vs boto3 loop: upload {up_ratio:.2f}x, download {down_ratio:.2f}x")


if __name__ == "__main__":
    main()
