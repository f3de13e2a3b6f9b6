"""The lowest and the newest supported Airflow, each in a throw-away venv running a subset of the suite.

For each Airflow version (default: the newest patch release of pyproject's lower bound
``apache-airflow>=X.Y`` and the newest 3.x the package index has), makes a venv with uv, installs
``apache-airflow==<version>`` plus this provider ``.[test,local]`` (with Airflow's official
constraints file for that version when it can be downloaded; otherwise the newest versions the
ranges allow plus ``COMPAT_PINS``, the pins an older Airflow needs against today's releases),
and runs in it:

* provider metadata and imports (tests/test_provider_info.py),
* the example DAGs parse with no import errors (tests/test_example_dags_parse.py),
* ``dag.test()`` end-to-end runs against the emulator (tests/test_daily_load.py),
* a deferrable trigger (tests/test_zilliz_trigger.py),
* the Zilliz/Milvus exactly-once fault matrix, ``-k`` subset (tests/test_zilliz_fault_matrix.py).

Prints one row per version: installed Airflow, passed/failed/skipped/error counts, minutes.

    python scripts/airflow_versions_check.py                 # lower bound + newest 3.x
    python scripts/airflow_versions_check.py 3.1.8 3.3.2     # given versions
    KEEP=1 python scripts/airflow_versions_check.py          # keep the venvs (in $TMPDIR)

Installs share uv's cache (``UV_CACHE_DIR``, default ``~/.cache/uv``); a cold run downloads ~400 MB
per version. Exit 0 when every version passed. Not part of .ci/run (minutes per version).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
TESTS = [
    "tests/test_provider_info.py",
    "tests/test_example_dags_parse.py",
    "tests/test_daily_load.py",
    "tests/test_zilliz_trigger.py",
    "tests/test_zilliz_fault_matrix.py",
]
# the fault matrix's exactly-once cases for both flavours, not all of its parametrisations
FAULT_K = "create_fault or recreated_from_serialize or killed_after_create or backfill_twice"
# Without Airflow's constraints file, the newest releases of Airflow's own dependencies are installed;
# where they broke an older Airflow, the pins that make it work (found here; the versions its
# constraints would have given are older still). Keyed by minor.
COMPAT_PINS: dict[tuple[int, int], list[str]] = {
    (3, 2): [
        # svcs 26 drops the request-state key 3.2's Execution API reads ('svcs_registry'): every task
        # start answers 500, dag.test() fails even for a one-task DAG without this provider
        "svcs<26",
        # fastapi 0.165 / cadwyn 9 fail building 3.2's Execution API (pydantic: 'TITerminalStatePayload
        # needs a discriminator field'); 0.136.3 / 7.0.0 (the project's tested set) work
        "fastapi<=0.136.3",
        "cadwyn<8",
    ],
}
CONSTRAINTS_URL = "https://raw.githubusercontent.com/apache/airflow/constraints-{v}/constraints-{py}.txt"


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def lower_bound() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    match = re.search(r'"apache-airflow>=([0-9.]+)"', text)
    if not match:
        raise SystemExit("no apache-airflow>= lower bound in pyproject.toml")
    return match.group(1)


def index_versions() -> list[tuple[int, ...]]:
    """apache-airflow's released versions, as the configured package index lists them."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", "apache-airflow"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("Available versions:"))
    return [tuple(int(p) for p in v.strip().split(".")) for v in line.split(":", 1)[1].split(",")]


def default_versions() -> list[str]:
    versions = [v for v in index_versions() if len(v) == 3]
    low = tuple(int(p) for p in lower_bound().split("."))
    lowest = max(v for v in versions if v[: len(low)] == low or (len(low) == 2 and v[:2] == low))
    newest = max(v for v in versions if v[0] == 3)
    return [".".join(map(str, v)) for v in dict.fromkeys([lowest, newest])]


def constraints_for(version: str, dest: Path) -> Path | None:
    url = CONSTRAINTS_URL.format(v=version, py=PY)
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            dest.write_bytes(resp.read())
        return dest
    except OSError as exc:
        say(f"  no official constraints ({url}: {exc}); the newest versions allowed, plus COMPAT_PINS")
        return None


def run(cmd: list[str], log: Path, **kw) -> int:
    with log.open("ab") as out:
        out.write(f"\n$ {' '.join(cmd)}\n".encode())
        out.flush()
        return subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, **kw).returncode


def counts(junit: Path) -> dict[str, int]:
    result = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    if not junit.exists():
        return result
    for suite in ET.parse(junit).getroot().iter("testsuite"):
        tests, fail, err, skip = (int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
        result["failed"] += fail
        result["errors"] += err
        result["skipped"] += skip
        result["passed"] += tests - fail - err - skip
    return result


def check(version: str, base: Path, src: Path) -> dict:
    venv = base / f"airflow-{version}"
    log = base / f"airflow-{version}.log"
    py = venv / "bin" / "python"
    started = time.monotonic()
    row: dict = {"version": version, "installed": "-", "constraints": "no", "pins": "-"}
    say(f"{version}: venv {venv} (log {log})")
    uv = [sys.executable, "-m", "uv"]
    if run([*uv, "venv", "-q", "--python", sys.executable, str(venv)], log):
        row["status"] = "venv failed"
        return row
    constraints = constraints_for(version, base / f"constraints-{version}.txt")
    row["constraints"] = "official" if constraints else "no"
    pins = [] if constraints else COMPAT_PINS.get(tuple(int(p) for p in version.split(".")[:2]), [])
    row["pins"] = " ".join(pins) or "-"
    args = ["-c", str(constraints)] if constraints else []
    install = [*uv, "pip", "install", "--python", str(py), *args, f"apache-airflow=={version}", *pins]
    install += ["-e", f"{src}[test,local]"]
    if run(install, log):
        row["status"] = "install failed"
        row["minutes"] = round((time.monotonic() - started) / 60, 1)
        return row
    row["install_min"] = round((time.monotonic() - started) / 60, 1)
    row["installed"] = subprocess.run(
        [str(py), "-c", "import airflow; print(airflow.__version__)"], capture_output=True, text=True
    ).stdout.strip()
    junit = base / f"junit-{version}.xml"
    pytest = [str(py), "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--junitxml={junit}"]
    pytest += ["--timeout=300", "--continue-on-collection-errors", *TESTS[:-1]]
    env = {**os.environ, "PYTHONPATH": str(src)}
    say(f"{version}: installed Airflow {row['installed']} in {row['install_min']} min; running the subset")
    rc = run(pytest, log, cwd=src, env=env)
    junit2 = base / f"junit-{version}-faults.xml"
    pytest2 = [str(py), "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--junitxml={junit2}"]
    rc2 = run([*pytest2, "--timeout=300", TESTS[-1], "-k", FAULT_K], log, cwd=src, env=env)
    one, two = counts(junit), counts(junit2)
    row.update({k: one[k] + two[k] for k in one})
    row["status"] = "ok" if rc == 0 and rc2 == 0 and row["passed"] > 0 else "FAILED"
    row["minutes"] = round((time.monotonic() - started) / 60, 1)
    say(f"{version}: {row}")
    return row


def main(argv: list[str]) -> int:
    versions = argv or default_versions()
    base = Path(tempfile.mkdtemp(prefix="vectorimport-airflow-versions-"))
    say(f"pyproject lower bound apache-airflow>={lower_bound()}; checking {', '.join(versions)} in {base}")
    # a copy of the source tree: edits made while the check runs do not change what it tests
    src = base / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info"))
    rows = [check(v, base, src) for v in versions]
    print()
    head = (
        "airflow",
        "installed",
        "constraints",
        "pins",
        "install min",
        "passed",
        "failed",
        "errors",
        "skipped",
    )
    print("| " + " | ".join((*head, "total min", "status")) + " |")
    print("|" + "---|" * (len(head) + 2))
    for r in rows:
        cells = [r["version"], r["installed"], r["constraints"], r["pins"], r.get("install_min", "-")]
        cells += [r.get(k, "-") for k in ("passed", "failed", "errors", "skipped")]
        cells += [r.get("minutes", "-"), r["status"]]
        print("| " + " | ".join(str(c) for c in cells) + " |")
    ok = all(r["status"] == "ok" for r in rows)
    if ok and not os.environ.get("KEEP"):
        shutil.rmtree(base, ignore_errors=True)
    else:
        print(f"venvs and logs kept in {base}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
