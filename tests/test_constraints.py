"""The README's two commands install a locked set: constraints/constraints-<python>.txt (made by
scripts/lock.sh) pins every dependency pyproject.toml names, and scripts/env.sh installs with it."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "constraints" / f"constraints-{sys.version_info[0]}.{sys.version_info[1]}.txt"


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _pins() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and version, f"{CONSTRAINTS.name}: {line!r} is not name==version"
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_every_dependency_of_the_project_and_its_setup_extras_is_pinned():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    for extra in ("test", "local", "docs"):
        wanted |= {_name(r) for r in project["optional-dependencies"][extra]}
    wanted.discard("airflow-provider-vectorimport")  # test includes the docs extra by self-reference
    pins = _pins()
    assert wanted - set(pins) == set(), "not pinned: run scripts/lock.sh in a venv where the suite passed"
    assert "airflow-provider-vectorimport" not in pins  # the project itself is never constrained
    assert pins["apache-airflow"].startswith("3.")


def test_ranges_stay_open_and_extras_are_spelled_as_published():
    text = (ROOT / "pyproject.toml").read_text()
    project = tomllib.loads(text)["project"]
    assert not [r for r in project["dependencies"] if "==" in r]  # the provider's own ranges stay open
    assert "pymilvus[bulk-writer]" in text and "bulk_writer]" not in text


def test_env_sh_installs_with_the_constraints():
    env = (ROOT / "scripts" / "env.sh").read_text()
    assert "constraints/constraints-$PYVER.txt" in env and '-c "$CONSTRAINTS"' in env
    assert '"${constraint_args[@]}" -e "$ROOT[$EXTRAS]"' in env
