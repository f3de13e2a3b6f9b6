"""Shared test set-up.

Airflow is pointed at a throw-away AIRFLOW_HOME with a SQLite metadata DB *before* anything imports
it; ``airflow_db`` migrates that DB once per session (``airflow db migrate``), for tests that run
DAGs with ``dag.test()``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

_HOME = Path(tempfile.mkdtemp(prefix="vectorimport-airflow-home-"))
_DAGS = Path(__file__).parent / "dags"
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(_DAGS)
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME / 'airflow.db'}"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")
os.environ.setdefault("NO_PROXY", "*")
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated SQLite metadata DB (once per session) for ``dag.test()`` runs."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        env=os.environ.copy(),
        capture_output=True,
    )
    return _HOME


def load_dag_file(name: str):
    """Import ``tests/dags/<name>.py`` and return its ``dag``. ``dag.test()`` needs DAGs that live
    in a file under the DAGs folder (it serializes them from there)."""
    import importlib.util

    path = _DAGS / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"vectorimport_test_dags.{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


@pytest.fixture
def load_dag(airflow_db):
    """``load_dag("my_dag_file")`` -> the DAG object, ready for ``dag.test()``."""
    return load_dag_file


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3 HTTP endpoint: moto in server mode on 127.0.0.1 (a random free port).

    Any access key / secret works against it; tests create their own buckets with unique names.
    """
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_client(s3_endpoint):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="testing-ak",
        aws_secret_access_key="testing-sk",
        region_name="us-east-1",
    )


@pytest.fixture
def bucket(s3_client, request):
    """A fresh bucket per test, named after the test."""
    import re
    import uuid

    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:40].strip("-")
    name = f"{name}-{uuid.uuid4().hex[:8]}"
    s3_client.create_bucket(Bucket=name)
    return name
