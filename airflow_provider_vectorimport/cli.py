"""``vectorimport``: the parts of the provider that work without Airflow.

* ``vectorimport prepare``  - schema-checked import files (Parquet / NumPy / JSON / JSONL) + manifest
* ``vectorimport emulator`` - the local emulator of Zilliz Cloud, Milvus and VikingDB
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from airflow_provider_vectorimport import __version__


def build_parser() -> argparse.ArgumentParser:
    from airflow_provider_vectorimport.emulator.cli import register as register_emulator
    from airflow_provider_vectorimport.prepare.cli import register as register_prepare

    parser = argparse.ArgumentParser(prog="vectorimport", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    register_prepare(sub)
    register_emulator(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
