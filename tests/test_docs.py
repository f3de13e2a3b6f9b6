"""The documentation site (mkdocs.yml, docs/): it builds in strict mode, a broken link, snippet or
connection form fails the build naming it, every example DAG has a cookbook page, the generated tables
are the code's, and the Python examples in the pages run (against the local emulator where they talk
to a service).

A ```` ```python ```` block runs unless it only includes a file (``--8<--``: the example DAGs have their
own tests) or the line before it is ``<!-- docs-test: skip (reason) -->``. The runnable blocks of one
page run in order as one script, written into a temporary DAGs folder and run as ``python <script>``
(``__name__ == "__main__"``, so a page's ``dag.test()`` runs), with the emulator's connections as the
default connection ids (``zilliz_default``: Milvus, ``zilliz_cloud``: Zilliz Cloud v2,
``vikingdb_default``, ``aws_default``: its S3 server).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "example_dags"
sys.path.insert(0, str(ROOT / "scripts"))
import mkdocs_hooks  # noqa: E402

sys.path.pop(0)

pytest_plugins = ["airflow_provider_vectorimport.emulator.pytest_plugin"]

FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.S | re.M)
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\b[^>]*-->\s*$")
SNIPPET = re.compile(r'--8<--\s+"([^"]+)"')
CONNECTIONS = {
    "ZILLIZ_DEFAULT": "ZILLIZ_EMULATOR",
    "ZILLIZ_CLOUD": "ZILLIZ_CLOUD_EMULATOR",
    "VIKINGDB_DEFAULT": "VIKINGDB_EMULATOR",
    "AWS_DEFAULT": "S3_EMULATOR",
}


def mkdocs_build(root: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )


def python_blocks(page: Path) -> list[tuple[int, str]]:
    """(line, code) of the page's runnable ```python blocks."""
    text = page.read_text()
    blocks = []
    for match in FENCE.finditer(text):
        code = match.group(1)
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        if SKIP.search(before) or SNIPPET.search(code):
            continue
        blocks.append((text.count("\n", 0, match.start()) + 1, code))
    return blocks


def pages_with_examples() -> list[str]:
    return sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md") if python_blocks(p))


def missing_cookbook_pages(examples: Path, docs: Path) -> list[str]:
    """Example DAG files that no docs page includes with ``--8<-- "example_dags/<file>"``."""
    included = {name for page in docs.rglob("*.md") for name in SNIPPET.findall(page.read_text())}
    return sorted(
        p.name
        for p in examples.glob("*.py")
        if f"example_dags/{p.name}" not in included and p.name != "__init__.py"
    )


# ------------------------------------------------------------------------------ the build
def test_the_docs_build_in_strict_mode(tmp_path):
    result = mkdocs_build(ROOT, tmp_path / "site")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    connections = (tmp_path / "site" / "connections" / "index.html").read_text()
    for conn_type in mkdocs_hooks.connection_types():  # the generated forms are on the page
        assert f"Connection type <code>{conn_type}</code>" in connections
    assert "vectorimport:connection" not in connections
    assert "MergeShardsOperator" in (tmp_path / "site" / "cookbook" / "fanout" / "index.html").read_text()


def _copy_site_sources(dest: Path) -> Path:
    dest.mkdir()
    for name in ("mkdocs.yml", "CHANGELOG.md"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("docs", "example_dags", "airflow_provider_vectorimport"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "scripts").mkdir()
    for name in ("mkdocs_hooks.py", "griffe_sphinx_roles.py"):
        shutil.copy2(ROOT / "scripts" / name, dest / "scripts" / name)
    return dest


def _break_link(root: Path) -> str:
    page = root / "docs" / "quickstart.md"
    page.write_text(page.read_text() + "\nSee [the refresh guide](refresh-guide.md).\n")
    return "refresh-guide.md"


def _break_anchor(root: Path) -> str:
    page = root / "docs" / "install.md"
    page.write_text(page.read_text() + "\nSee [TLS](connections.md#no-such-section).\n")
    return "no-such-section"


def _remove_example_dag(root: Path) -> str:
    (root / "example_dags" / "vectorimport_fanout.py").unlink()
    return "example_dags/vectorimport_fanout.py"


def _unplace_connection_form(root: Path) -> str:
    page = root / "docs" / "connections.md"
    page.write_text(page.read_text().replace("<!-- vectorimport:connection vikingdb -->", ""))
    return "connection type 'vikingdb'"


def _misname_connection_form(root: Path) -> str:
    page = root / "docs" / "connections.md"
    page.write_text(page.read_text() + "\n<!-- vectorimport:connection milvus -->\n")
    return "no connection type 'milvus'"


@pytest.mark.parametrize(
    "breakage",
    [_break_link, _break_anchor, _remove_example_dag, _unplace_connection_form, _misname_connection_form],
)
def test_a_broken_docs_source_fails_the_build_naming_it(tmp_path, breakage):
    root = _copy_site_sources(tmp_path / "src")
    named = breakage(root)
    result = mkdocs_build(root, tmp_path / "site")
    assert result.returncode != 0, f"{breakage.__name__}: the build passed"
    assert named in result.stdout + result.stderr, result.stdout + result.stderr


# ------------------------------------------------------------------------------ what the pages hold
def test_every_example_dag_has_a_cookbook_page():
    assert missing_cookbook_pages(EXAMPLES, DOCS) == []
    assert len(list(EXAMPLES.glob("vectorimport_*.py"))) >= 6


def test_an_example_dag_without_a_page_is_named(tmp_path):
    examples = tmp_path / "example_dags"
    shutil.copytree(EXAMPLES, examples)
    (examples / "vectorimport_new_recipe.py").write_text("# a new example DAG\n")
    assert missing_cookbook_pages(examples, DOCS) == ["vectorimport_new_recipe.py"]


def test_the_generated_connection_forms_list_every_field_of_the_provider_info():
    for conn_type, info in mkdocs_hooks.connection_types().items():
        table = mkdocs_hooks.connection_markdown(conn_type)
        rows = set(re.findall(r"^\| `([a-z_0-9]+)` \|", table, flags=re.M))
        assert set(info["conn-fields"]) <= rows, conn_type
        assert {"host", "login", "password"} <= rows


def test_the_generated_limits_table_is_prepares():
    from airflow_provider_vectorimport.prepare.api import LIMITS

    table = mkdocs_hooks.limits_markdown()
    for target, limits in LIMITS.items():
        row = next(line for line in table.splitlines() if line.startswith(f"| `{target}` |"))
        assert row.count("|") == table.splitlines()[0].count("|"), row
        for key, value in limits.items():
            assert f"(`{key}`)" in table
            if isinstance(value, int) and "bytes" in key and value >= 1 << 30:
                assert f"{value / (1 << 30):g} GiB" in row, (target, key)
    assert "| `milvus` | 16 GiB |" in table and "1,024" in table


# ------------------------------------------------------------------------------ the examples run
def test_examples_are_found_and_skips_are_explained():
    pages = pages_with_examples()
    assert {"quickstart.md", "prepare.md", "operators.md"} <= set(pages)
    for page in DOCS.rglob("*.md"):
        for line in page.read_text().splitlines():
            if "docs-test:" in line:
                assert re.search(r"docs-test:\s*skip \(.+\)", line), (
                    f"{page}: a skip without its reason: {line}"
                )


@pytest.fixture
def emulator_connections(vectorimport_emulator, monkeypatch):
    env = vectorimport_emulator.connection_env()
    for ours, theirs in CONNECTIONS.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{ours}", env[f"AIRFLOW_CONN_{theirs}"])
    return vectorimport_emulator


def run_page(page: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    """The page's runnable blocks as one script in ``workdir`` (the DAGs folder), run from there."""
    parts = [f"# {page}: the runnable ```python blocks, in order\n"]
    for line, code in python_blocks(DOCS / page):
        parts.append(f"# --- {page}, block at line {line}\n{code}")
    script = workdir / (re.sub(r"[^a-z0-9]+", "_", page.removesuffix(".md")) + "_docs_example.py")
    script.write_text("\n".join(parts))
    env = {
        **os.environ,
        "AIRFLOW__CORE__DAGS_FOLDER": str(workdir),
        "VECTORIMPORT_WORK_DIR": str(workdir / "work"),
        "PYTHONPATH": "",
    }
    return subprocess.run(
        [sys.executable, str(script)], cwd=workdir, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.parametrize("page", pages_with_examples())
def test_the_python_examples_of_the_page_run(page, airflow_db, emulator_connections, tmp_path):
    result = run_page(page, tmp_path)
    assert result.returncode == 0, (
        f"docs/{page}: an example failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    )
    if page == "quickstart.md":  # the quick start's DAG imported the 100 rows it wrote
        from airflow_provider_vectorimport.emulator.examples import row_count

        assert row_count(emulator_connections, "quickstart") == 100
        assert emulator_connections.stats()["jobs_created"].get("quickstart") == 1


def test_a_failing_example_fails_naming_the_page_and_line(tmp_path, monkeypatch):
    page = tmp_path / "broken.md"
    page.write_text(
        "# Broken\n\n```python\nx = 1\n```\n\ntext\n\n```python\nassert x == 2, 'the docs are wrong'\n```\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "DOCS", tmp_path)
    result = run_page("broken.md", tmp_path)
    assert result.returncode != 0
    assert "the docs are wrong" in result.stderr
    assert "broken.md, block at line 9" in (tmp_path / "broken_docs_example.py").read_text()
