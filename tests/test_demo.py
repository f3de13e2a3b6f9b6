"""The README's main job, as a user runs it: every example DAG end to end with Airflow against the
local emulator (scripts/demo.py, which scripts/demo.sh runs after setting up the venv), each DAG's
outcome checked from what the demo prints; and the demo's refusal to skip a DAG silently."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "example_dags"


@pytest.fixture(scope="module")
def demo():
    spec = importlib.util.spec_from_file_location("vectorimport_demo_script", ROOT / "scripts" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_runs_every_example_dag_end_to_end():
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    done = re.search(r"==> done: (.*)$", out, re.M)
    assert done, out[-4000:]
    states = dict(item.split("=") for item in done.group(1).split(", "))
    dag_files = sorted(p.stem for p in EXAMPLES.glob("vectorimport_*.py"))
    assert sorted(states) == dag_files and set(states.values()) == {"success"}

    # one import job per target collection, across all the DAGs
    jobs = re.search(r"import jobs created per collection: (\{.*\})", out)
    assert jobs and ast.literal_eval(jobs.group(1)) == {
        "medium_articles": 1,
        "medium_articles_cloud": 1,
        "daily_articles": 1,
        "fanout_articles": 2,
        "migrated_docs": 1,
        "migrated_docs_cloud": 1,
    }
    # import pipeline: the rows landed in Milvus and Zilliz Cloud; article 7's vector finds it first
    assert re.search(r"rows in medium_articles: 2000\b", out)
    assert re.search(r"rows in medium_articles_cloud: 2000\b", out)
    assert re.search(r"top 3:\s+\{'id': 7, 'distance': 1\.0", out)
    # VikingDB export: what the filter matched, in files
    exported = re.search(r"VikingDB export of (\d+) row\(s\) wrote ([1-9]\d*) file\(s\)", out)
    assert exported and 0 < int(exported.group(1)) < 2000
    # daily load, one day: its rows, its one job, one event on the collection Asset
    daily = re.search(
        r"daily load for 2025-01-02: [1-9]\d* object\(s\) uploaded, job \S+ imported (\d+) row\(s\); "
        r"rows in daily_articles: (\d+)",
        out,
    )
    assert daily and daily.groups() == ("500", "500")
    assert re.search(
        r"events on the collection Asset milvus://127\.0\.0\.1:\d+/default/daily_articles: 1$", out, re.M
    )
    # smoke test on the Asset's collection: the probe row comes back first
    smoke = re.search(
        r"smoke test on daily_articles: 500 row\(s\); a search with row (\d+)'s own vector returned \[(\d+),",
        out,
    )
    assert smoke and smoke.group(1) == smoke.group(2)
    # fan-out: 4 mapped shards, their file groups in 2 requests of at most 2, every input row landed
    fanout = re.search(
        r"fan-out: (\d+) shard\(s\) prepared and uploaded by mapped tasks, (\d+) file group\(s\) in (\d+) "
        r"import request\(s\), jobs \[.*\] imported (\d+) row\(s\); rows in fanout_articles: (\d+)",
        out,
    )
    assert fanout, out[-4000:]
    shards, groups, requests, imported, landed = map(int, fanout.groups())
    assert (shards, requests, imported, landed) == (4, 2, 828, 828) and 2 < groups <= 4
    # migration: verify figures on both targets equal the export's
    assert re.search(r"migration verify: exported 1000 row\(s\), transformed 1000$", out, re.M)
    for label, collection in (("milvus", "migrated_docs"), ("zilliz_cloud", "migrated_docs_cloud")):
        assert re.search(
            rf"migration verify {label}: collection {collection}, job \S+ imported 1000 row\(s\), "
            r"1000 row\(s\) in the collection, 5 sampled row\(s\) read back equal \(id, title, vector\)",
            out,
        ), label
    assert re.search(r"demo took \d+\.\d+s", out)
    # what a user reads is the outcome, not noise that looks like failure: no error lines or
    # tracebacks (Milvus Lite's unimplemented RPCs, a mapped result's end probe) and no "secret too
    # short" warning for settings extras such as api_flavour: v2
    noise = [line for line in out.splitlines() if re.search(r"\[error\s*\]|Traceback|too short", line)]
    assert noise == [], noise[:5]


def test_every_example_dag_has_a_demo_entry(demo):
    assert demo.bundle_problems() == []
    # every file of every bundle exists, and each example is in exactly one bundle
    files = [f for files in demo.BUNDLES.values() for f in files]
    assert sorted(files) == sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert set(demo.USERS) == {"admin", *demo.BUNDLES}


def test_a_dag_the_demo_does_not_run_is_an_error(demo, tmp_path):
    (tmp_path / "vectorimport_new.py").write_text("")
    for existing in EXAMPLES.glob("*.py"):
        (tmp_path / existing.name).write_text("")
    (problem,) = demo.bundle_problems(tmp_path)
    assert "example_dags/vectorimport_new.py has no entry in scripts/demo.py RUNS" in problem
    (problem,) = demo.coverage_problems([*demo.RUNS, "vectorimport_new"])
    assert "example DAG vectorimport_new has no entry in scripts/demo.py RUNS" in problem
    (problem,) = demo.coverage_problems(list(demo.RUNS)[1:])
    assert f"RUNS names {next(iter(demo.RUNS))}, which no example DAG file defines" in problem
    assert demo.coverage_problems(list(demo.RUNS)) == []


def test_the_demo_stops_before_starting_anything_when_a_dag_has_no_entry(demo, monkeypatch, capsys):
    monkeypatch.setattr(demo, "RUNS", {k: v for k, v in demo.RUNS.items() if k != "vectorimport_migration"})
    assert demo.main(["--home", "/nonexistent/never-created"]) == 2
    assert "example_dags/vectorimport_migration.py has no entry" in capsys.readouterr().err
    assert not Path("/nonexistent/never-created").exists()
