#!/usr/bin/env bash
# The main job (README): installs the provider with its [local] extra into ./.venv, starts the
# local emulator, runs the example DAGs end to end with Airflow, prints the result, stops it all.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VECTORIMPORT_EXTRAS=test,local source "$ROOT/scripts/env.sh"
exec "$VECTORIMPORT_PY" "$ROOT/scripts/demo.py" "$@"
