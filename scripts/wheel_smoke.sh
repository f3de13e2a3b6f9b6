#!/usr/bin/env bash
# The provider as a user installs it (CI: .ci/run). Builds the sdist and, from it, the wheel
# (`uv build`), checks what both hold, installs the wheel with its [local] extra into a fresh venv
# with the constraints file, and from that venv, outside the repository:
#   - every module of the installed package imports and its data files are there (scripts/wheel_check.py);
#   - `airflow providers list` shows the provider, `airflow plugins` the dashboard;
#   - the `vectorimport` CLI prepares a file against the example schema;
#   - `vectorimport emulator` starts, and `airflow dags test vectorimport_import_pipeline` imports into it.
# Fails naming the missing module or file, or the step. Reuses the uv cache (about a minute warm).
#
#   bash scripts/wheel_smoke.sh            # KEEP=1 keeps the work folder (printed) for a look
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VECTORIMPORT_EXTRAS="${VECTORIMPORT_EXTRAS:-test,local}" source "$ROOT/scripts/env.sh"
UV=("$VECTORIMPORT_PY" -m uv)
WORK="$(mktemp -d "${TMPDIR:-/tmp}/vectorimport-wheel-smoke.XXXXXX")"
EMULATOR_PID=""
started=$SECONDS

cleanup() {
  local rc=$?
  if [ -n "$EMULATOR_PID" ]; then
    kill -TERM -- "-$EMULATOR_PID" 2>/dev/null || true  # its process group (Milvus Lite runs a child)
    wait "$EMULATOR_PID" 2>/dev/null || true
  fi
  if [ "$rc" != 0 ]; then
    echo "wheel smoke: FAILED (rc=$rc) after $((SECONDS - started)) s; logs in $WORK" >&2
  elif [ -z "${KEEP:-}" ]; then
    rm -rf "$WORK"
  else
    echo "wheel smoke: kept $WORK"
  fi
}
trap cleanup EXIT

step() { echo "==> wheel smoke: $*"; }
fail() { echo "wheel smoke: $*" >&2; exit 1; }

step "build the sdist and the wheel (uv build: the wheel is built from the sdist)"
# from a copy of what a clone has (tracked and new files, not ignored ones such as *.egg-info), so a
# stale SOURCES.txt of an editable install cannot smuggle a file into the build
mkdir -p "$WORK/src"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] && printf '%s\0' "$f"; done | xargs -0 cp --parents -t "$WORK/src")
"${UV[@]}" build -q --out-dir "$WORK/dist" "$WORK/src" >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log" >&2; fail "uv build failed"; }
if grep -i -E "deprecat|warning" "$WORK/build.log" >&2; then fail "the build warns (above)"; fi
"$VECTORIMPORT_PY" "$ROOT/scripts/wheel_check.py" contents "$WORK/dist"
WHEEL="$(ls "$WORK"/dist/*.whl)"

step "install $(basename "$WHEEL") into a fresh venv (constraints/constraints-3.11.txt)"
PYVER="$("$VECTORIMPORT_PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
CONSTRAINTS="$ROOT/constraints/constraints-$PYVER.txt"
"${UV[@]}" venv -q --python "$VECTORIMPORT_PY" "$WORK/venv"
"${UV[@]}" pip install -q --python "$WORK/venv/bin/python" -c "$CONSTRAINTS" "$WHEEL"
BIN="$WORK/venv/bin"

cd "$WORK"  # nothing below may import from the repository
export AIRFLOW_HOME="$WORK/airflow" AIRFLOW__CORE__LOAD_EXAMPLES=False NO_PROXY='*' \
  AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$WORK/airflow/airflow.db" \
  AIRFLOW__CORE__DAGS_FOLDER="$WORK/dags" VECTORIMPORT_WORK_DIR="$WORK/work" AWS_EC2_METADATA_DISABLED=true
unset PYTHONPATH
mkdir -p "$AIRFLOW_HOME" "$WORK/work"
cp -r "$ROOT/example_dags" "$WORK/dags"

step "import every module of the installed package (no extras)"
"$BIN/python" "$ROOT/scripts/wheel_check.py" installed
step "add the [local] extra (the emulator)"
"${UV[@]}" pip install -q --python "$BIN/python" -c "$CONSTRAINTS" "airflow-provider-vectorimport[local] @ file://$WHEEL"

step "airflow providers list / airflow plugins"
"$BIN/airflow" providers list --output json >"$WORK/providers.json" 2>"$WORK/providers.err" \
  || { cat "$WORK/providers.err" >&2; fail "airflow providers list failed"; }
"$BIN/python" - "$WORK/providers.json" <<'EOF' || fail "airflow providers list does not show the provider"
import json, sys
text = open(sys.argv[1]).read()
found = {p["package_name"]: p["version"] for p in json.loads(text[text.index("["):])}
print(f"    airflow-provider-vectorimport {found['airflow-provider-vectorimport']}")
EOF
"$BIN/airflow" plugins --output json >"$WORK/plugins.json" 2>"$WORK/plugins.err" \
  || { cat "$WORK/plugins.err" >&2; fail "airflow plugins failed"; }
grep -q '"vectorimport_dashboard"' "$WORK/plugins.json" || fail "airflow plugins does not list vectorimport_dashboard"

step "the vectorimport CLI: prepare a file against the example schema"
"$BIN/vectorimport" --version
"$BIN/python" - "$WORK/rows.json" <<'EOF'
import json, random, sys
rng = random.Random(1)
rows = [{"id": i, "title": f"Article {i}", "title_vector": [rng.uniform(-1, 1) for _ in range(64)],
         "link": f"https://example.com/{i}", "reading_time": 3, "publication": "Demo", "claps": 1,
         "responses": 0} for i in range(50)]
json.dump({"rows": rows}, open(sys.argv[1], "w"))
EOF
"$BIN/vectorimport" prepare --schema "$WORK/dags/schemas/articles.json" --format parquet \
  --out "$WORK/prepared" "$WORK/rows.json" >"$WORK/prepare.json" || fail "vectorimport prepare failed"
"$BIN/python" -c 'import json,sys; m=json.load(open(sys.argv[1])); assert m["total_rows"] == 50, m; print("    prepared", m["total_rows"], "rows")' "$WORK/prepare.json"

step "vectorimport emulator (from the venv) and airflow db migrate"
setsid "$BIN/vectorimport" emulator --env-file "$WORK/emulator.env" >"$WORK/emulator.log" 2>&1 &
EMULATOR_PID=$!
"$BIN/airflow" db migrate >"$WORK/migrate.log" 2>&1 || { tail -20 "$WORK/migrate.log" >&2; fail "airflow db migrate failed"; }
for _ in $(seq 1 120); do
  [ "$(grep -c '^export AIRFLOW_CONN_' "$WORK/emulator.env" 2>/dev/null)" = 4 ] && break
  kill -0 "$EMULATOR_PID" 2>/dev/null || { cat "$WORK/emulator.log" >&2; fail "vectorimport emulator exited"; }
  sleep 0.5
done
[ -s "$WORK/emulator.env" ] || { cat "$WORK/emulator.log" >&2; fail "vectorimport emulator did not start in 60 s"; }
# shellcheck disable=SC1091
source "$WORK/emulator.env"
export AIRFLOW_CONN_ZILLIZ_DEFAULT="$AIRFLOW_CONN_ZILLIZ_EMULATOR" AIRFLOW_CONN_ZILLIZ_CLOUD="$AIRFLOW_CONN_ZILLIZ_CLOUD_EMULATOR" \
  AIRFLOW_CONN_AWS_DEFAULT="$AIRFLOW_CONN_S3_EMULATOR" AIRFLOW_CONN_VIKINGDB_DEFAULT="$AIRFLOW_CONN_VIKINGDB_EMULATOR"
URL="$(sed -n 's/^vectorimport emulator listening on //p' "$WORK/emulator.log")"
"$BIN/python" - "$URL" "$WORK/dags/schemas/articles.json" <<'EOF'
import json, sys, types
from airflow_provider_vectorimport.emulator.examples import create_collection
emulator = types.SimpleNamespace(url=sys.argv[1], api_key="emulator-api-key")
for name in ("medium_articles", "medium_articles_cloud"):
    create_collection(emulator, name, json.load(open(sys.argv[2])))
EOF

step "airflow dags test vectorimport_import_pipeline (200 rows into Milvus and Zilliz Cloud on the emulator)"
"$BIN/airflow" dags test vectorimport_import_pipeline -c '{"rows": 200}' >"$WORK/dags_test.log" 2>&1 \
  || { tail -40 "$WORK/dags_test.log" >&2; fail "airflow dags test vectorimport_import_pipeline failed"; }
grep -q "state=success" "$WORK/dags_test.log" || { tail -40 "$WORK/dags_test.log" >&2; fail "the DAG run did not succeed"; }
if grep -n "httpx2\|Traceback" "$WORK/dags_test.log" >&2; then fail "the DAG run logged the lines above"; fi
"$BIN/python" - "$URL" <<'EOF' || fail "the collections do not hold the DAG's rows"
import sys, types
from airflow_provider_vectorimport.emulator.examples import row_count
emulator = types.SimpleNamespace(url=sys.argv[1], api_key="emulator-api-key")
rows = {name: row_count(emulator, name) for name in ("medium_articles", "medium_articles_cloud")}
print(f"    rows: {rows}")
assert rows == {"medium_articles": 200, "medium_articles_cloud": 200}, rows
EOF
echo "wheel smoke: passed in $((SECONDS - started)) s"
