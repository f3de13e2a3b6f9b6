"""pytest fixtures for the local emulator. Enable with ``pytest_plugins =
["airflow_provider_vectorimport.emulator.pytest_plugin"]`` in a test module or conftest.

* ``vectorimport_emulator_session``: one emulator for the session (moto S3 + Milvus Lite start once);
* ``vectorimport_emulator``: that emulator, reset before the test (no jobs, counters, faults or
  collections left over from other tests);
* ``vectorimport_emulator_env``: the same, with its ``AIRFLOW_CONN_*`` variables set for the test.

The pace (seconds per job lifecycle step) defaults to 0.02; set ``VECTORIMPORT_EMULATOR_PACE`` to
change it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from airflow_provider_vectorimport.emulator.server import Emulator, EmulatorConfig


@pytest.fixture(scope="session")
def vectorimport_emulator_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    pace = float(os.environ.get("VECTORIMPORT_EMULATOR_PACE", "0.02"))
    config = EmulatorConfig(
        pace_seconds=pace, data_dir=str(tmp_path_factory.mktemp("vectorimport-emulator")), seed=1234
    )
    with Emulator(config) as emulator:
        yield emulator


@pytest.fixture
def vectorimport_emulator(vectorimport_emulator_session: Emulator) -> Iterator[Emulator]:
    vectorimport_emulator_session.reset()
    yield vectorimport_emulator_session
    vectorimport_emulator_session.set_faults()  # never leak faults into the next test


@pytest.fixture
def vectorimport_emulator_env(vectorimport_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    for name, value in vectorimport_emulator.connection_env().items():
        monkeypatch.setenv(name, value)
    return vectorimport_emulator
