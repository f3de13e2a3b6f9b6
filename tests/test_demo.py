"""The README's main job, as a user runs it: the example DAGs end to end with Airflow against the
local emulator (scripts/demo.py, which scripts/demo.sh runs after setting up the venv)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_runs_the_example_dags_end_to_end():
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "done: vectorimport_import_pipeline=success, vectorimport_vikingdb_export=success" in out
    jobs = re.search(r"import jobs created per collection: (\{.*\})", out)
    assert jobs and ast.literal_eval(jobs.group(1)) == {"medium_articles": 1, "medium_articles_cloud": 1}
    assert re.search(r"rows in medium_articles: 2000\b", out)
    assert re.search(r"rows in medium_articles_cloud: 2000\b", out)
    # the search with article 7's own vector finds article 7 first
    assert re.search(r"top 3:\s+\{'id': 7, 'distance': 1\.0", out)
    assert re.search(r"VikingDB export wrote [1-9]\d* file\(s\)", out)
