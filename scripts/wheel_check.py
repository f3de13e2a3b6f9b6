"""Checks of scripts/wheel_smoke.sh: what the sdist and the wheel contain, and what the installed wheel
imports. Every failure names the file or the module at fault.

    python scripts/wheel_check.py contents DIST_DIR       # the repository's venv: the built files
    <fresh venv>/bin/python scripts/wheel_check.py installed   # the wheel installed in a fresh venv

``contents``: every file of the package in the source tree (modules and data files such as
``plugins/dashboard.html`` and ``py.typed``; caches excluded) is in the wheel and in the sdist, the
sdist has what a rebuild needs (pyproject.toml, README.md, LICENSE), and the wheel's metadata carries
the SPDX license, the license file, the provider entry point and the CLI.

``installed``: run from outside the repository, so nothing is imported from the source tree; every
module of the installed package imports (with the extras it was installed with), the package is the
installed one, its data files are readable through importlib.resources, and importing the dashboard
plugin warns nothing about missing packages (the "install httpx2" warning of a dependency set that
lacked httpx2).
"""

from __future__ import annotations

import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "airflow_provider_vectorimport"
#: modules that need a package of no runtime extra: (module, the package it needs)
NEEDS_TEST_TOOLS = {f"{PACKAGE}.emulator.pytest_plugin": "pytest"}
#: data files the package reads at run time (checked to be readable when installed)
DATA_FILES = [("plugins", "dashboard.html"), ("", "py.typed")]


def fail(problems: list[str]) -> int:
    for problem in problems:
        print(f"wheel check: {problem}", file=sys.stderr)
    return 1 if problems else 0


def package_files() -> list[str]:
    """The package's files in the source tree, as paths relative to the repository root."""
    out = []
    for path in sorted((ROOT / PACKAGE).rglob("*")):
        if path.is_dir() or "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo"):
            continue
        out.append(path.relative_to(ROOT).as_posix())
    return out


def check_contents(dist: Path) -> int:
    wheels = sorted(dist.glob("*.whl"))
    sdists = sorted(dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        return fail([f"expected one wheel and one sdist in {dist}, found {[p.name for p in dist.iterdir()]}"])
    wheel, sdist = wheels[0], sdists[0]
    with zipfile.ZipFile(wheel) as zf:
        in_wheel = set(zf.namelist())
        dist_info = next(n.split("/")[0] for n in in_wheel if n.split("/")[0].endswith(".dist-info"))
        metadata = zf.read(f"{dist_info}/METADATA").decode()
        entry_points = zf.read(f"{dist_info}/entry_points.txt").decode()
    with tarfile.open(sdist) as tf:
        names = tf.getnames()
    top = names[0].split("/")[0]
    in_sdist = {n[len(top) + 1 :] for n in names if n.startswith(top + "/")}

    problems = []
    expected = package_files()
    for rel in expected:
        if rel not in in_wheel:
            problems.append(f"{wheel.name} lacks {rel} (a module or data file of the package)")
        if rel not in in_sdist:
            problems.append(f"{sdist.name} lacks {rel}")
    extra = sorted(
        n for n in in_wheel if n.startswith(PACKAGE + "/") and n not in expected and "__pycache__" not in n
    )
    if extra:
        problems.append(f"{wheel.name} has files the source tree does not: {extra}")
    for rel in ("pyproject.toml", "README.md", "LICENSE"):
        if rel not in in_sdist:
            problems.append(f"{sdist.name} lacks {rel}")
    if f"{dist_info}/licenses/LICENSE" not in in_wheel:
        problems.append(f"{wheel.name} lacks {dist_info}/licenses/LICENSE (license-files)")
    for line in ("License-Expression: Apache-2.0", "License-File: LICENSE", "Requires-Python: >=3.11"):
        if line not in metadata.splitlines():
            problems.append(f"{wheel.name} METADATA lacks {line!r}")
    if "License: " in metadata:
        problems.append(f"{wheel.name} METADATA has the deprecated License field (the TOML-table form)")
    for line in (
        "[apache_airflow_provider]",
        f"provider_info = {PACKAGE}.get_provider_info:get_provider_info",
        f"vectorimport = {PACKAGE}.cli:main",
    ):
        if line not in entry_points.splitlines():
            problems.append(f"{wheel.name} entry_points.txt lacks {line!r}")
    if not problems:
        print(f"wheel check: {wheel.name} and {sdist.name} hold all {len(expected)} files of the package")
    return fail(problems)


def check_installed() -> int:
    """Runs the imports in a child process and reads everything it printed: Airflow routes warnings
    to its log (``py.warnings``), past ``warnings.catch_warnings``."""
    import subprocess

    child = subprocess.run(
        [sys.executable, __file__, "imports"], capture_output=True, text=True, cwd=Path(sys.executable).parent
    )
    output = child.stdout + child.stderr
    problems = [line for line in child.stdout.splitlines() if line.startswith("problem: ")]
    problems = [p.removeprefix("problem: ") for p in problems]
    if child.returncode != 0 and not problems:
        problems.append(f"importing the package failed (rc={child.returncode}):\n{output[-3000:]}")
    problems += [
        f"importing warns about a missing package: {line.strip()}"
        for line in output.splitlines()
        if "warn" in line.lower() and "install" in line.lower()
    ]
    if not problems:
        print(child.stdout.strip())
    return fail(problems)


def import_everything() -> int:
    import importlib
    import importlib.resources
    import pkgutil

    package = importlib.import_module(PACKAGE)
    location = Path(package.__file__).resolve()
    if ROOT in location.parents:
        print(f"problem: {PACKAGE} was imported from the source tree ({location}), not from the wheel")
        return 1
    problems = []
    modules: list[str] = []

    def broken(name: str) -> None:  # walk_packages' onerror: a package that does not import
        problems.append(f"module {name} does not import from the wheel: {sys.exc_info()[1]!r}")

    for info in pkgutil.walk_packages(package.__path__, PACKAGE + ".", onerror=broken):
        modules.append(info.name)
        try:
            importlib.import_module(info.name)
        except ImportError as exc:
            needed = NEEDS_TEST_TOOLS.get(info.name)
            if needed is None or exc.name != needed:
                problems.append(f"module {info.name} does not import from the wheel: {exc!r}")
    for sub, filename in DATA_FILES:
        where = importlib.resources.files(f"{PACKAGE}.{sub}" if sub else PACKAGE) / filename
        if not where.is_file():
            problems.append(f"data file {PACKAGE}/{sub + '/' if sub else ''}{filename} is not installed")
    for problem in problems:
        print(f"problem: {problem}")
    if not problems:
        print(f"wheel check: {len(modules)} modules import from {location.parent}")
    return 1 if problems else 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["contents"] and len(argv) == 2:
        return check_contents(Path(argv[1]))
    if argv == ["installed"]:
        return check_installed()
    if argv == ["imports"]:
        return import_everything()
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
