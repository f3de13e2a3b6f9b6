"""``vectorimport prepare``: schema-checked import files + a manifest (printed as JSON on stdout).

    vectorimport prepare --schema schema.json --format parquet --out ./out [--chunk-size 512MB] data.json ...
    vectorimport prepare --from-collection milvus_conn:articles --out ./out data.json  # schema from the service

Exit codes: 0 ok; 1 bad data (errors on stderr, one per line: file, row, field, message; nothing
written); 2 bad arguments or schema.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence
from typing import Any

from airflow_provider_vectorimport.exceptions import ConfigurationError


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``prepare`` sub-command to the ``vectorimport`` CLI."""
    parser = subparsers.add_parser(
        "prepare",
        help="check data against a collection schema and write import files (Parquet/NumPy/JSON/JSONL)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_arguments(parser)
    parser.set_defaults(func=run)
    return parser


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="files, directories or globs (.json .jsonl .csv .parquet)"
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--schema", help="collection schema JSON file (Milvus REST v2 form)")
    source.add_argument(
        "--from-collection",
        metavar="CONN:COLLECTION",
        help="read the schema from the live collection (Airflow connection id of type zilliz or vikingdb, "
        "then the collection, optionally DB.COLLECTION); it is written to OUT/schema.json",
    )
    parser.add_argument("--format", default="parquet", choices=["parquet", "numpy", "json", "jsonl"])
    parser.add_argument(
        "--out", required=True, help="output directory (must be empty or absent, see --overwrite)"
    )
    parser.add_argument(
        "--chunk-size", default="512MB", help="target size of one file / NumPy folder (default 512MB)"
    )
    parser.add_argument(
        "--target",
        default="milvus",
        choices=["milvus", "zilliz", "vikingdb"],
        help="service whose file formats and limits apply",
    )
    parser.add_argument("--mode", default="fail_fast", choices=["fail_fast", "collect"])
    parser.add_argument("--max-errors", type=int, default=100, help="errors reported in collect mode")
    parser.add_argument(
        "--input-format", choices=["json", "jsonl", "csv", "parquet"], help="override the extension"
    )
    parser.add_argument("--check-duplicates", action="store_true", help="reject repeated primary keys")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    parser.add_argument(
        "--progress",
        default="auto",
        choices=["auto", "bar", "lines", "none"],
        help="progress on stderr: a bar on a terminal, a line every --progress-interval seconds otherwise",
    )
    parser.add_argument("--progress-interval", type=float, default=10.0, help="seconds between lines")


def run(args: argparse.Namespace) -> int:
    from airflow_provider_vectorimport.prepare import PrepareError, prepare_files
    from airflow_provider_vectorimport.prepare.progress import ConsoleProgress
    from airflow_provider_vectorimport.schema_source import attach_schema, resolve_prepare_schema

    try:
        with contextlib.redirect_stdout(sys.stderr):  # Airflow's log lines must not mix with the manifest
            schema, source = resolve_prepare_schema(args.schema, args.from_collection)
        with ConsoleProgress(
            "prepare", mode=args.progress, interval=args.progress_interval, stream=sys.stderr
        ) as progress:
            manifest = prepare_files(
                args.inputs,
                schema,
                args.out,
                format=args.format,
                chunk_size=args.chunk_size,
                mode=args.mode,
                max_errors=args.max_errors,
                target=args.target,
                input_format=args.input_format,
                check_duplicates=args.check_duplicates,
                overwrite=args.overwrite,
                progress=None if args.progress == "none" else progress,
            )
    except PrepareError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if source is not None:
        attach_schema(manifest, schema, source)
    json.dump(manifest, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="vectorimport prepare", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
