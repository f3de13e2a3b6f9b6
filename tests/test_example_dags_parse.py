"""Every example DAG parses with Airflow's own DagBag (no import errors) and defines the DAG its file
is named for. Also run by scripts/airflow_versions_check.py against the lowest and newest Airflow."""

from __future__ import annotations

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "example_dags"


def _dagbag_class():
    try:  # Airflow >= 3.1
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.0
        from airflow.models.dagbag import DagBag
    return DagBag


def test_example_dags_parse_without_import_errors(monkeypatch, tmp_path):
    monkeypatch.setenv("VECTORIMPORT_WORK_DIR", str(tmp_path))
    bag = _dagbag_class()(dag_folder=str(EXAMPLES), safe_mode=False)
    assert bag.import_errors == {}
    files = sorted(p.stem for p in EXAMPLES.glob("vectorimport_*.py"))
    assert len(files) >= 5
    assert sorted(bag.dag_ids) == files  # one DAG per file, named for it
    for dag in bag.dags.values():
        assert dag.tasks, dag.dag_id
