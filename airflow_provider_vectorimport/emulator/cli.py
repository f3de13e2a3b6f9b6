"""``vectorimport emulator``: run the local Zilliz Cloud / Milvus / VikingDB emulator until
SIGINT/SIGTERM, printing its endpoints and the ``AIRFLOW_CONN_*`` lines that point Airflow at it.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DESCRIPTION = (
    "Serve Zilliz Cloud (v1/v2), Milvus REST v2 and VikingDB task APIs on loopback, backed by a "
    "moto S3 server and Milvus Lite, for running DAGs without cloud accounts."
)


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``emulator`` sub-command to a ``vectorimport`` argument parser."""
    parser = subparsers.add_parser("emulator", help="run the local service emulator", description=DESCRIPTION)
    add_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def _rate(value: str) -> float:
    try:
        rate = float(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from exc
    if not 0 <= rate <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {rate}")
    return rate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one (default)")
    parser.add_argument("--api-key", default="emulator-api-key", help="accepted Zilliz/Milvus API key")
    parser.add_argument(
        "--pace", type=float, default=0.5, help="seconds per job lifecycle step, so polling is observable"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for deterministic fault injection")
    parser.add_argument("--data-dir", default=None, help="keep Milvus Lite data here (default: a temp dir)")
    store = parser.add_mutually_exclusive_group()
    store.add_argument("--s3-endpoint", default=None, help="use this S3-compatible endpoint instead of moto")
    store.add_argument(
        "--local-dir", default=None, help="serve objects from DIR/<bucket>/<key> instead of S3"
    )
    parser.add_argument("--s3-access-key", default="emulator-ak")
    parser.add_argument("--s3-secret-key", default="emulator-sk")
    parser.add_argument(
        "--milvus-bucket", default="a-bucket", help="bucket Milvus 'files' paths are relative to"
    )
    faults = parser.add_argument_group("fault injection")
    faults.add_argument("--rate-429", type=_rate, default=0.0, help="share of requests answered 429")
    faults.add_argument("--rate-5xx", type=_rate, default=0.0, help="share of requests answered 503")
    faults.add_argument("--rate-drop", type=_rate, default=0.0, help="share of connections dropped")
    faults.add_argument(
        "--rate-lost-response",
        type=_rate,
        default=0.0,
        help="share of processed requests whose answer is lost",
    )
    faults.add_argument("--latency-ms", type=float, default=0.0, help="latency added to every request")
    faults.add_argument(
        "--fail-job-at", type=float, default=None, help="import jobs fail at this progress %%"
    )
    parser.add_argument("--env-file", default=None, help="also write the AIRFLOW_CONN_* lines to this file")


def build_config(args: argparse.Namespace) -> Any:
    from airflow_provider_vectorimport.emulator.faults import FaultConfig
    from airflow_provider_vectorimport.emulator.server import EmulatorConfig

    faults = FaultConfig(
        rate_429=args.rate_429,
        rate_5xx=args.rate_5xx,
        rate_drop=args.rate_drop,
        rate_lost_response=args.rate_lost_response,
        latency_ms=args.latency_ms,
        fail_job_at_percent=args.fail_job_at,
        seed=args.seed,
    )
    faults.validate()
    return EmulatorConfig(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        pace_seconds=args.pace,
        seed=args.seed,
        data_dir=args.data_dir,
        s3_endpoint=args.s3_endpoint,
        s3_access_key=args.s3_access_key,
        s3_secret_key=args.s3_secret_key,
        local_dir=args.local_dir,
        milvus_bucket=args.milvus_bucket,
        faults=faults,
    )


def run(args: argparse.Namespace) -> int:
    from airflow_provider_vectorimport.emulator.server import Emulator

    try:
        config = build_config(args)
    except ValueError as exc:
        print(f"vectorimport emulator: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    emulator = Emulator(config)
    try:
        emulator.start()
        env = emulator.connection_env()
        lines = [f"export {name}={shlex.quote(value)}" for name, value in env.items()]
        print(f"vectorimport emulator listening on {emulator.url}")
        print(f"  Zilliz Cloud v2/v1 : {emulator.url}  (cluster id {emulator.cluster_id})")
        print(f"  Milvus REST v2     : {emulator.url}  (files relative to bucket {emulator.milvus_bucket!r})")
        print(f"  VikingDB task API  : {emulator.url}  (mounted: {emulator.vikingdb_mounted})")
        print(f"  Object store       : {emulator.s3_endpoint or config.local_dir}")
        print(f"  Admin              : {emulator.url}/_emulator/stats | faults | reset")
        print("Airflow connections:")
        for line in lines:
            print(line)
        if args.env_file:
            Path(args.env_file).write_text("\n".join(lines) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
        print("vectorimport emulator: stopping", flush=True)
    except OSError as exc:
        print(f"vectorimport emulator: cannot start: {exc}", file=sys.stderr)
        return 1
    finally:
        emulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vectorimport emulator", description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
