#!/usr/bin/env bash
# The test command (README, and .ci/run): installs what the tests need from pyproject.toml into
# ./.venv, then runs the whole suite. Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VECTORIMPORT_EXTRAS=test,local source "$ROOT/scripts/env.sh"
cd "$ROOT"
exec "$VECTORIMPORT_PY" -m pytest -p no:cacheprovider -q "$@"
