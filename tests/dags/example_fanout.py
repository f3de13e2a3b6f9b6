"""The example DAG ``example_dags/vectorimport_fanout.py`` itself, run as if it lived in this DAGs
folder: Airflow's ``dag.test()`` needs its DAG in a file under the DAGs folder, so the example's
source is executed here (same code, this file as its location)."""

from __future__ import annotations

from pathlib import Path

_EXAMPLE = Path(__file__).parents[2] / "example_dags" / "vectorimport_fanout.py"
exec(compile(_EXAMPLE.read_text(), __file__, "exec"))  # defines ``dag``
