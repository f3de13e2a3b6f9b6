#!/usr/bin/env bash
# Sourced by scripts/test.sh and scripts/demo.sh: makes ./.venv (Python >= 3.11) with the project
# installed editable plus the extras given in $VECTORIMPORT_EXTRAS, once; later runs reuse it.
# Versions are pinned by constraints/constraints-<python>.txt (the set the suite passed with; made by
# scripts/lock.sh); VECTORIMPORT_CONSTRAINTS=none installs the newest versions pyproject allows.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VECTORIMPORT_VENV:-$ROOT/.venv}"
EXTRAS="${VECTORIMPORT_EXTRAS:-test,local}"
PY="${PYTHON:-python3}"

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PYVER="$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
CONSTRAINTS="${VECTORIMPORT_CONSTRAINTS:-$ROOT/constraints/constraints-$PYVER.txt}"
constraint_args=()
if [ "$CONSTRAINTS" != "none" ]; then
  if [ -f "$CONSTRAINTS" ]; then
    constraint_args=(-c "$CONSTRAINTS")
  else
    echo "==> no $CONSTRAINTS: installing unpinned (newest versions pyproject.toml allows)" >&2
    CONSTRAINTS=none
  fi
fi
lock_hash="$(cat "$ROOT/pyproject.toml" "$([ "$CONSTRAINTS" = none ] && echo /dev/null || echo "$CONSTRAINTS")" | sha256sum | cut -c1-16)"
stamp="$VENV/.installed-$lock_hash-${EXTRAS//,/_}"
if [ ! -f "$stamp" ]; then
  echo "==> setting up $VENV (extras: $EXTRAS, constraints: $CONSTRAINTS)" >&2
  "$VENV/bin/python" -m pip install -q --upgrade pip uv >&2
  "$VENV/bin/python" -m uv pip install -q --python "$VENV/bin/python" "${constraint_args[@]}" -e "$ROOT[$EXTRAS]" >&2
  rm -f "$VENV"/.installed-* && touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
export VECTORIMPORT_PY="$VENV/bin/python"
