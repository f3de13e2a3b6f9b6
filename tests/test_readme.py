"""The README is the front page: at most 150 lines, its links lead somewhere, its two commands are
the scripts CI runs, and its quick start works as written against the local emulator (the collection
it creates with curl, the `vectorimport prepare --from-collection` line, the DAG excerpt's operators)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()

pytest_plugins = ["airflow_provider_vectorimport.emulator.pytest_plugin"]


def test_the_readme_is_a_front_page():
    assert len(README.splitlines()) <= 150


def broken_links(text: str, base: Path) -> list[str]:
    """Relative Markdown links of ``text`` whose file does not exist under ``base``."""
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://|#|mailto:", target):
            continue
        if not (base / target.split("#", 1)[0]).exists():
            broken.append(target)
    return broken


def test_every_relative_link_of_the_readme_exists():
    assert re.search(r"\]\(docs/", README)
    assert broken_links(README, ROOT) == []


def test_a_link_to_a_missing_page_is_named():
    assert broken_links("see [refresh](docs/refresh.md) and [docs](docs/index.md)", ROOT) == [
        "docs/refresh.md"
    ]


def test_the_two_commands_are_the_scripts():
    assert "bash scripts/demo.sh" in README and "bash scripts/test.sh" in README
    assert (ROOT / "scripts" / "demo.sh").is_file() and (ROOT / "scripts" / "test.sh").is_file()
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def _block(after: str, lang: str) -> str:
    start = README.index(after)
    match = re.compile(rf"^```{lang}\n(.*?)^```", re.S | re.M).search(README, start)
    assert match, after
    return match.group(1)


def test_the_emulator_quick_start_works_as_written(vectorimport_emulator, monkeypatch, tmp_path):
    env = vectorimport_emulator.connection_env()
    monkeypatch.setenv("AIRFLOW_CONN_ZILLIZ_DEFAULT", env["AIRFLOW_CONN_ZILLIZ_EMULATOR"])
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", env["AIRFLOW_CONN_S3_EMULATOR"])
    tokens = shlex.split(_block("Create a collection with your file's fields", "bash"), comments=True)
    curl, prepare = tokens[: tokens.index("vectorimport")], tokens[tokens.index("vectorimport") :]
    assert curl[0] == "curl" and prepare[:2] == ["vectorimport", "prepare"]
    url = curl[curl.index("-X") + 2].replace("http://127.0.0.1:19530", vectorimport_emulator.url)
    headers = dict(h.split(": ", 1) for h in (curl[i + 1] for i, a in enumerate(curl) if a == "-H"))
    answer = requests.post(url, data=curl[curl.index("-d") + 1], headers=headers, timeout=30).json()
    assert answer["code"] == 0, answer

    rows = [{"id": i, "vector": [i / 10, 0.5, -0.5, 1.0]} for i in range(20)]
    (tmp_path / "my_rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    argv = [sys.executable, "-m", "airflow_provider_vectorimport.cli", *prepare[1:]]
    result = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, env=os.environ.copy())
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["total_rows"] == 20


def test_the_readmes_dag_excerpt_builds_its_tasks():
    imports = (
        "import pendulum\nfrom airflow.sdk import DAG\n"
        "from airflow_provider_vectorimport.operators.object_storage import UploadToObjectStorageOperator\n"
        "from airflow_provider_vectorimport.operators.prepare import PrepareImportFilesOperator\n"
        "from airflow_provider_vectorimport.operators.zilliz import ZillizImportOperator\n"
    )
    namespace: dict = {}
    exec(imports + _block("Then one DAG prepares, uploads and imports it", "python"), namespace)
    assert namespace["uploaded"].upstream_task_ids == {"prepare"}
