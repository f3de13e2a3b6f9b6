"""Benchmark: our upload/download operators vs a plain boto3 upload_file/download_file loop.

Generates >= 1 GiB of "prepared" files under /tmp (a few large Parquet-sized parts plus many small ones),
starts moto's S3 server in-process on 127.0.0.1, and moves the same files both ways with each method,
side by side in one run. Prints MiB/s and our/boto3 ratios (target >= 0.9x). Not a test; no assertions.

    python3 bench/transfer.py [--size-mib 1024] [--rounds 1] [--keep]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import boto3
import numpy as np

from airflow_provider_vectorimport.operators.object_storage import (
    DownloadFromObjectStorageOperator,
    UploadToObjectStorageOperator,
)

MiB = 1024 * 1024


def make_files(root: Path, size_mib: int) -> list[Path]:
    """3/4 of the volume in 128 MiB parts, 1/4 in 4 MiB parts."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    big_total = size_mib * 3 // 4
    sizes = [128] * (big_total // 128) + [4] * ((size_mib - (big_total // 128) * 128) // 4)
    files = []
    for i, mib in enumerate(sizes):
        path = root / f"part-{i:05d}.parquet"
        if not path.exists() or path.stat().st_size != mib * MiB:
            path.write_bytes(rng.integers(0, 256, mib * MiB, dtype=np.uint8).tobytes())
        files.append(path)
    return files


def timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the generated files under /tmp")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
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
    print(f"moto S3 server: {endpoint}; cores: {os.cpu_count()}")
    rows = []
    try:
        for rnd in range(args.rounds):
            # --- plain boto3 loop (default TransferConfig) -------------------------------------------------
            b = f"bench-boto3-{rnd}"
            client.create_bucket(Bucket=b)
            up_s, _ = timed(lambda b=b: [client.upload_file(str(p), b, f"data/{p.name}") for p in files])
            dl_dir = work / f"boto3-{rnd}"
            dl_dir.mkdir()
            down_s, _ = timed(
                lambda b=b, d=dl_dir: [
                    client.download_file(b, f"data/{p.name}", str(d / p.name)) for p in files
                ]
            )
            rows.append(("boto3 loop", rnd, up_s, down_s))
            for p in files:
                client.delete_object(Bucket=b, Key=f"data/{p.name}")
            shutil.rmtree(dl_dir)

            # --- our operators ----------------------------------------------------------------------------------
            o = f"bench-ours-{rnd}"
            client.create_bucket(Bucket=o)
            up_op = UploadToObjectStorageOperator(
                task_id="up",
                source=str(src),
                bucket=o,
                prefix="data",
                conn_id="bench_s3",
                progress_interval=5,
            )
            up2_s, up_result = timed(lambda op=up_op: op.execute({}))
            assert up_result["uploaded"] == len(files)
            skip_s, skip_result = timed(lambda op=up_op: op.execute({}))
            assert skip_result["skipped"] == len(files)
            out = work / f"ours-{rnd}"
            down_op = DownloadFromObjectStorageOperator(
                task_id="down", bucket=o, prefix="data", local_dir=str(out), conn_id="bench_s3"
            )
            down2_s, down_result = timed(lambda op=down_op: op.execute({}))
            assert down_result["downloaded"] == len(files)
            reskip_s, _ = timed(lambda op=down_op: op.execute({}))
            rows.append(("operators", rnd, up2_s, down2_s))
            print(f"round {rnd}: re-run skip: upload {skip_s:.2f} s (hash + HEAD), download {reskip_s:.2f} s")
            for p in files:
                client.delete_object(Bucket=o, Key=f"data/{p.name}")
            shutil.rmtree(out)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(src, ignore_errors=True)

    mib = total / MiB
    print(
        f"\n{'method':<12} {'round':>5} {'upload s':>9} {'up MiB/s':>9} {'download s':>11} {'down MiB/s':>10}"
    )
    for name, rnd, up_s, down_s in rows:
        print(f"{name:<12} {rnd:>5} {up_s:>9.2f} {mib / up_s:>9.1f} {down_s:>11.2f} {mib / down_s:>10.1f}")
    for rnd in range(args.rounds):
        base = next(r for r in rows if r[0] == "boto3 loop" and r[1] == rnd)
        ours = next(r for r in rows if r[0] == "operators" and r[1] == rnd)
        print(
            f"round {rnd}: ours/boto3 throughput: upload {base[2] / ours[2]:.2f}x, download {base[3] / ours[3]:.2f}x"
        )


if __name__ == "__main__":
    main()
