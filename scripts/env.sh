#!/usr/bin/env bash
# Sourced by scripts/test.sh and scripts/demo.sh: makes ./.venv (Python >= 3.11) with the project
# installed editable plus the extras given in $VECTORIMPORT_EXTRAS, once; later runs reuse it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VECTORIMPORT_VENV:-$ROOT/.venv}"
EXTRAS="${VECTORIMPORT_EXTRAS:-test,local}"
PY="${PYTHON:-python3}"

stamp="$VENV/.installed-$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)-${EXTRAS//,/_}"
if [ ! -f "$stamp" ]; then
  echo "==> setting up $VENV (extras: $EXTRAS)" >&2
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip uv >&2
  "$VENV/bin/python" -m uv pip install -q --python "$VENV/bin/python" -e "$ROOT[$EXTRAS]" >&2
  rm -f "$VENV"/.installed-* && touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
export VECTORIMPORT_PY="$VENV/bin/python"
