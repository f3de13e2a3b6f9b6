"""The provider registers with Airflow: metadata valid against Airflow's own schema, every listed
module/class importable, connection forms declared with secrets marked as passwords."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import airflow
import jsonschema
import pytest

from airflow_provider_vectorimport.get_provider_info import get_provider_info

INFO = get_provider_info()


def test_metadata_validates_against_airflow_schema():
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(INFO, schema)


def _modules():
    for section in ("hooks", "operators", "sensors", "triggers"):
        for entry in INFO[section]:
            yield from entry["python-modules"]


@pytest.mark.parametrize("module", sorted(set(_modules())))
def test_listed_modules_import(module):
    importlib.import_module(module)


@pytest.mark.parametrize(
    "path",
    [c["hook-class-name"] for c in INFO["connection-types"]] + INFO["extra-links"],
)
def test_listed_classes_exist(path):
    module, _, name = path.rpartition(".")
    assert isinstance(getattr(importlib.import_module(module), name), type)


def test_connection_forms_mark_secrets_as_passwords():
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    pm = ProvidersManager()
    assert {"zilliz", "vikingdb", "vectorimport_s3"} <= set(ProvidersManagerTaskRuntime().hooks)
    widgets = pm.connection_form_widgets
    assert widgets["extra__vikingdb__session_token"].is_sensitive
    assert widgets["extra__vectorimport_s3__aws_session_token"].is_sensitive
    assert not widgets["extra__zilliz__cluster_id"].is_sensitive
    behaviours = pm.field_behaviours
    assert behaviours["zilliz"]["relabeling"]["password"] == "API key / token"


def test_airflow_cli_lists_the_provider():
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list", "--output", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    names = {p["package_name"] for p in json.loads(out[out.index("[") :])}
    assert "airflow-provider-vectorimport" in names
