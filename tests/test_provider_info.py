"""The provider registers with Airflow: metadata valid against Airflow's own schema, every listed
module/class importable, connection forms declared with secrets marked as passwords."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import traceback
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


def _documented_extras() -> dict[str, set[str]]:
    """The extras each connection section of docs/connections.md names in its hand-written parts (the
    "what the fields mean" tables' ``extra `name``` cells, the TLS table's first column for both HTTP
    connection types, and the object storage paragraph's list). The generated forms are markers in the
    page source, so only what was written by hand is read here."""
    import re

    text = (Path(__file__).resolve().parent.parent / "docs" / "connections.md").read_text()
    sections = re.split(r"^## ", text, flags=re.M)
    found: dict[str, set[str]] = {"zilliz": set(), "vikingdb": set(), "vectorimport_s3": set()}
    for section in sections[1:]:
        heading = section.split("\n", 1)[0]
        names: set[str] = set()
        for cell in re.findall(r"^\| extra ([^|]+)\|", section, flags=re.M):
            names |= set(re.findall(r"`([a-z_]+)`", cell))
        listed = re.search(r"extras ((?:`[a-z_]+`[,\s]*(?:and\s+)?)+)", section)
        if listed:
            names |= set(re.findall(r"`([a-z_]+)`", listed.group(1)))
        if heading.startswith("TLS"):
            for cell in re.findall(r"^\| (`[^|]+)\|", section, flags=re.M):
                names |= set(re.findall(r"`([a-z_]+)`", cell))
            found["zilliz"] |= names
            found["vikingdb"] |= names
        elif heading.startswith("`zilliz`"):
            found["zilliz"] |= names
        elif heading.startswith("`vikingdb`"):
            found["vikingdb"] |= names
        elif heading.startswith("Object storage"):
            found["vectorimport_s3"] |= names
    return found


def test_every_extra_the_docs_name_is_a_form_field():
    extras = _documented_extras()
    assert "signature_version" in extras["vectorimport_s3"] and "cluster_endpoint" in extras["zilliz"]
    assert "total_timeout" in extras["vikingdb"] and "session_token" in extras["vikingdb"]
    forms = {c["connection-type"]: set(c.get("conn-fields", {})) for c in INFO["connection-types"]}
    for conn_type, names in extras.items():
        assert names - forms[conn_type] == set(), (
            f"{conn_type}: docs/connections.md names extras without a form field"
        )


def test_each_connection_type_has_its_default_connection_id():
    from airflow_provider_vectorimport.hooks.object_storage import ObjectStorageHook
    from airflow_provider_vectorimport.hooks.vikingdb import VikingDBHook
    from airflow_provider_vectorimport.hooks.zilliz import ZillizHook

    defaults = {
        c["connection-type"]: importlib.import_module(c["hook-class-name"].rpartition(".")[0])
        .__dict__[c["hook-class-name"].rpartition(".")[2]]
        .default_conn_name
        for c in INFO["connection-types"]
    }
    assert defaults == {
        "zilliz": "zilliz_default",
        "vikingdb": "vikingdb_default",
        "vectorimport_s3": "aws_default",
    }
    assert (ZillizHook().zilliz_conn_id, VikingDBHook().vikingdb_conn_id, ObjectStorageHook().conn_id) == (
        "zilliz_default",
        "vikingdb_default",
        "aws_default",
    )


def test_airflow_ui_gets_no_default_conn_name_so_no_provider_can_prefill_it():
    """What docs/connections.md says about the connection form: Airflow 3.3's UI API builds each connection
    type's metadata without the hook's ``default_conn_name`` (its provider metadata has no such
    field, and ``HookMetaService.hook_meta_data`` sends ``None``), so the form cannot prefill our
    hooks' default ids. When Airflow starts sending it, this fails: update docs/connections.md then."""
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
    from airflow.providers_manager import ConnectionTypeHookUIMetadata, HookInfo

    assert "default_conn_name" not in ConnectionTypeHookUIMetadata._fields
    assert "default_conn_name" not in HookInfo._fields
    sent = {m.connection_type: m.default_conn_name for m in HookMetaService.hook_meta_data()}
    assert {sent[t] for t in ("zilliz", "vikingdb", "vectorimport_s3")} == {None}


def test_reading_connections_warns_about_no_short_secret_and_still_masks_secrets(monkeypatch):
    """Airflow's ``extra_dejson`` registers every string extra as a secret ("v2", "http" are too short
    and log a warning in every task); the hooks parse the extra themselves and mask only secrets."""
    from airflow.sdk._shared.secrets_masker import secrets_masker as masker
    from airflow.sdk.log import redact

    from airflow_provider_vectorimport.hooks.object_storage import ObjectStorageHook
    from airflow_provider_vectorimport.hooks.vikingdb import VikingDBHook, settings_from_connection
    from airflow_provider_vectorimport.hooks.zilliz import ZillizHook

    warnings: list[str] = []
    monkeypatch.setattr(
        masker.log,
        "warning",
        lambda msg, *a, **k: warnings.append(msg % a + "".join(traceback.format_stack(limit=9))),
    )
    monkeypatch.setattr(masker.SecretsMasker, "_has_warned_short_secret", False)
    token = "sts-session-token-0123456789"
    conns = {
        "ZILLIZ_SHORT": {
            "conn_type": "zilliz",
            "password": "zilliz-api-key-0123456789",
            "extra": {"api_flavour": "v2", "cluster_id": "in01-a", "db_name": "db", "china": False},
        },
        "VIKINGDB_SHORT": {
            "conn_type": "vikingdb",
            "login": "AKLT-access-key",
            "password": "viking-secret-key-0123",
            "extra": {"scheme": "http", "region": "cn", "session_token": token, "task_list_paging": "none"},
        },
        "S3_SHORT": {
            "conn_type": "vectorimport_s3",
            "login": "ak-0123456",
            "password": "sk-0123456789",
            "extra": {"provider": "tos", "region_name": "cn", "signature_version": "s3v4"},
        },
    }
    for name, value in conns.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{name}", json.dumps(value))
    assert ZillizHook("zilliz_short").config.flavour == "v2"
    assert settings_from_connection(VikingDBHook.get_connection("vikingdb_short")).list_paging is False
    assert ObjectStorageHook("s3_short").connection_extra["signature_version"] == "s3v4"
    assert [w for w in warnings if "too short" in w] == [], "\n".join(warnings)
    assert redact(f"token={token}") == "token=***"  # the secret extra is still masked


def test_milvus_jobs_get_a_link_named_for_milvus():
    from airflow_provider_vectorimport.links import MilvusImportJobLink, ZillizImportJobLink, link_applies
    from airflow_provider_vectorimport.operators.zilliz import ZillizImportOperator

    assert MilvusImportJobLink.name == "Milvus import job" and ZillizImportJobLink.name == "Zilliz import job"
    names = [link.name for link in ZillizImportOperator.operator_extra_links]
    assert names == ["Zilliz import job", "Milvus import job"]
    # a Milvus job shows only the Milvus link, a Zilliz Cloud job (or an older run) only the Zilliz one
    assert (link_applies("milvus", "milvus"), link_applies("zilliz", "milvus")) == (True, False)
    assert (link_applies("zilliz", "zilliz"), link_applies("milvus", "zilliz")) == (True, False)
    assert (link_applies("zilliz", None), link_applies("milvus", None)) == (True, False)


def test_a_short_real_secret_is_named_not_hidden(monkeypatch, caplog):
    from airflow_provider_vectorimport.hooks.zilliz import ZillizHook

    monkeypatch.setenv(
        "AIRFLOW_CONN_ZILLIZ_TINY",
        json.dumps(
            {
                "conn_type": "zilliz",
                "host": "http://m:19530",
                "password": "abc",
                "extra": {"api_flavour": "milvus"},
            }
        ),
    )
    with caplog.at_level("WARNING", logger="airflow_provider_vectorimport.utils"):
        ZillizHook.get_connection("zilliz_tiny")
    assert "connection 'zilliz_tiny': password is shorter than 5 characters" in caplog.text
    assert "abc" not in caplog.text


def test_quieting_restores_the_masker_flag_even_when_interleaved(monkeypatch):
    import asyncio

    from airflow.sdk._shared.secrets_masker.secrets_masker import SecretsMasker

    from airflow_provider_vectorimport.utils import quiet_short_extra_masking

    monkeypatch.setattr(SecretsMasker, "_has_warned_short_secret", False)

    async def fetch(delay: float) -> bool:
        with quiet_short_extra_masking():
            await asyncio.sleep(delay)
            return SecretsMasker._has_warned_short_secret

    async def both() -> list[bool]:
        return list(await asyncio.gather(fetch(0.01), fetch(0.03)))

    assert asyncio.run(both()) == [True, True]  # quiet while fetching
    assert SecretsMasker._has_warned_short_secret is False  # and real short secrets warn again after
