"""Import ``options`` as Milvus decodes them and the two-phase commit call (audit 1.2, 1.5).

Milvus binds ``options`` to ``map[string]string`` (``request_v2.go`` ``ImportReq.Options``; a JSON
boolean does not bind, milvus-sdk-cpp#539), ``auto_commit`` must be "true" or "false" (milvus#50460)
and ``timeout`` is a Go duration (``importutilv2/option.go``: "300s", "1.5h", "1h45m"). The
emulator refuses what Milvus refuses, so the provider's encoding is checked against it too."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from airflow_provider_vectorimport.exceptions import ConfigurationError
from airflow_provider_vectorimport.protocols.import_options import auto_commit_disabled, encode_options
from airflow_provider_vectorimport.protocols.zilliz import (
    ZillizConfig,
    build_commit_call,
    build_create_call,
)

pytest_plugins = ["airflow_provider_vectorimport.emulator.pytest_plugin"]


def cfg(flavour: str, **kw: Any) -> ZillizConfig:
    return ZillizConfig(
        flavour=flavour,
        base_url="http://milvus:19530" if flavour == "milvus" else "https://api.cloud.zilliz.com",
        token="k",
        cluster_id=None if flavour == "milvus" else "in01-x",
        **kw,
    )


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ({"auto_commit": False}, {"auto_commit": "false"}),
        ({"auto_commit": True}, {"auto_commit": "true"}),
        ({"auto_commit": "False"}, {"auto_commit": "false"}),  # str(False) was sent before
        ({"timeout": 300}, {"timeout": "300s"}),  # "300" was sent before: no unit
        ({"timeout": 1.5}, {"timeout": "1.5s"}),
        ({"timeout": "1h45m"}, {"timeout": "1h45m"}),
        ({"timeout": "1.5h"}, {"timeout": "1.5h"}),
        ({"sep": "|", "nullkey": "NULL"}, {"sep": "|", "nullkey": "NULL"}),
        ({"some_flag": True, "some_number": 7}, {"some_flag": "true", "some_number": "7"}),
    ],
)
def test_options_are_encoded_as_the_string_map_milvus_decodes(given, sent):
    assert encode_options(given) == sent
    for flavour in ("milvus", "v2"):
        call = build_create_call(
            cfg(flavour),
            "c",
            files=[["a.parquet"]] if flavour == "milvus" else None,
            object_url="s3://b/a.parquet" if flavour == "v2" else None,
            options=given,
        )
        assert call.json is not None and call.json["options"] == sent
        assert all(isinstance(v, str) for v in call.json["options"].values())


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"auto_commit": "no"}, "auto_commit"),
        ({"auto_commit": 0}, "auto_commit"),
        ({"timeout": "300"}, "timeout"),  # Go: missing unit in duration
        ({"timeout": -5}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"extra": {"nested": "x"}}, "extra"),
        ({"extra": ["a"]}, "extra"),
        ({"extra": None}, "extra"),
    ],
)
def test_an_option_of_the_wrong_form_is_refused_naming_it(given, named):
    with pytest.raises(ConfigurationError, match=rf"options\['{named}'\]") as err:
        build_create_call(cfg("milvus"), "c", files=[["a.parquet"]], options=given)
    assert "give" in str(err.value) or "accepts only" in str(err.value)  # the accepted forms


def test_auto_commit_disabled_reads_every_form():
    assert auto_commit_disabled({"auto_commit": False}) and auto_commit_disabled({"auto_commit": "FALSE"})
    assert not auto_commit_disabled({"auto_commit": "true"}) and not auto_commit_disabled(None)
    with pytest.raises(ConfigurationError, match="auto_commit"):
        auto_commit_disabled({"auto_commit": "nope"})


def test_v1_takes_no_options_so_no_two_phase_commit():
    with pytest.raises(ConfigurationError, match="takes no options"):
        build_create_call(cfg("v1"), "c", object_url="s3://b/a.parquet", options={"auto_commit": False})
    with pytest.raises(ConfigurationError, match="no commit call"):
        build_commit_call(cfg("v1"), "job-1")


def test_commit_call_per_flavour():
    """pymilvus commit_import: POST /v2/vectordb/jobs/import/commit with jobId + clusterId (Cloud);
    Milvus: jobId (+ dbName)."""
    v2 = build_commit_call(cfg("v2"), "job-1")
    assert (v2.method, v2.path, v2.json) == (
        "POST",
        "/v2/vectordb/jobs/import/commit",
        {"jobId": "job-1", "clusterId": "in01-x"},
    )
    milvus = build_commit_call(cfg("milvus"), "46")
    assert (milvus.path, milvus.json) == ("/v2/vectordb/jobs/import/commit", {"jobId": "46"})


def _create(em: Any, options: Any, *, zilliz: bool) -> dict[str, Any]:
    name = f"o_{uuid.uuid4().hex[:8]}"
    headers = {"Authorization": f"Bearer {em.api_key}"}
    schema = {
        "fields": [
            {"fieldName": "id", "dataType": "Int64", "isPrimary": True},
            {"fieldName": "v", "dataType": "FloatVector", "elementTypeParams": {"dim": 2}},
        ]
    }
    requests.post(
        f"{em.url}/v2/vectordb/collections/create",
        json={"collectionName": name, "schema": schema},
        headers=headers,
        timeout=30,
    ).raise_for_status()
    body: dict[str, Any] = {"collectionName": name, "options": options}
    if zilliz:
        body.update(clusterId=em.cluster_id, objectUrl=f"s3://{em.milvus_bucket}/{name}/1.parquet")
    else:
        body["files"] = [[f"{name}/1.parquet"]]
    return requests.post(
        f"{em.url}/v2/vectordb/jobs/import/create", json=body, headers=headers, timeout=30
    ).json()


@pytest.mark.parametrize("zilliz", [False, True], ids=["milvus", "zilliz-v2"])
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"auto_commit": False}, "map of strings"),  # a JSON boolean does not bind
        ({"timeout": 300}, "map of strings"),
        ({"auto_commit": "nope"}, 'one of "true" or "false"'),
        ({"timeout": "300"}, "missing unit"),
    ],
)
def test_the_emulator_refuses_what_milvus_refuses(vectorimport_emulator, zilliz, options, message):
    answer = _create(vectorimport_emulator, options, zilliz=zilliz)
    assert answer["code"] != 0 and message in answer["message"], answer


@pytest.mark.parametrize("zilliz", [False, True], ids=["milvus", "zilliz-v2"])
def test_the_emulator_accepts_what_the_provider_sends(vectorimport_emulator, zilliz):
    answer = _create(
        vectorimport_emulator, encode_options({"timeout": 300, "auto_commit": True}), zilliz=zilliz
    )
    assert answer["code"] == 0, answer
