"""Asset URIs per service (airflow_provider_vectorimport.assets) and the post-import checks
(airflow_provider_vectorimport.verify) against the local emulator's Milvus REST v2 (Milvus Lite)."""

from __future__ import annotations

import uuid

import pytest
from airflow.sdk import Asset

from airflow_provider_vectorimport.assets import (
    CollectionRef,
    export_prefix_asset,
    milvus_collection_asset,
    parse_collection_asset,
    vikingdb_collection_asset,
    zilliz_collection_asset,
)
from airflow_provider_vectorimport.verify import (
    VerificationError,
    build_query_body,
    search_smoke_test,
    verify_import,
)
from tests.test_daily_load import SCHEMA, rest

pytest_plugins = ["airflow_provider_vectorimport.emulator.pytest_plugin"]


def test_one_uri_scheme_per_service():
    m = milvus_collection_asset("http://Milvus.internal:19530/", "articles")
    assert isinstance(m, Asset) and m.uri == "milvus://milvus.internal:19530/default/articles"
    assert m.extra == {"service": "milvus"} and m.group == "vector-collection"
    assert (
        zilliz_collection_asset("in01-abc123", "articles", "prod").uri == "zilliz://in01-abc123/prod/articles"
    )
    assert (
        vikingdb_collection_asset("api-vikingdb.volces.com", "docs").uri
        == "vikingdb://api-vikingdb.volces.com/docs"
    )
    assert export_prefix_asset("tos", "my-bucket", "/exports/docs/").uri == "tos://my-bucket/exports/docs"
    assert export_prefix_asset("s3", "my-bucket", "a/b").uri == "s3://my-bucket/a/b"
    # never a password in an asset URI
    assert milvus_collection_asset("http://root:secret@h:19530", "c").uri == "milvus://h:19530/default/c"


def test_parse_round_trips():
    for asset, ref in (
        (milvus_collection_asset("h:19530", "c1", "db2"), CollectionRef("milvus", "h:19530", "db2", "c1")),
        (zilliz_collection_asset("in01-x1", "c2"), CollectionRef("zilliz", "in01-x1", "default", "c2")),
        (vikingdb_collection_asset("v.example", "c3"), CollectionRef("vikingdb", "v.example", None, "c3")),
    ):
        assert parse_collection_asset(asset) == ref
        assert parse_collection_asset(asset.uri) == ref


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: milvus_collection_asset("h:19530", "9starts-with-digit"), "collection '9starts-with-digit'"),
        (lambda: milvus_collection_asset("h:19530", "c", "bad db"), "database 'bad db'"),
        (lambda: zilliz_collection_asset("in01 x", "c"), "cluster_id 'in01 x'"),
        (lambda: vikingdb_collection_asset("h x", "c"), "endpoint .h x."),
        (lambda: export_prefix_asset("gs", "b-1", "p"), "scheme 'gs'"),
        (lambda: export_prefix_asset("s3", "B", "p"), "bucket 'B'"),
        (lambda: export_prefix_asset("s3", "bkt", "a/../b"), "prefix 'a/../b'"),
        (lambda: parse_collection_asset("s3://b/p"), "not a collection asset URI"),
        (lambda: parse_collection_asset("milvus://h/c"), "expected milvus://h/db/collection"),
    ],
)
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        call()


def test_query_body_quotes_string_keys():
    body = build_query_body("c", ids=[1, 2], output_fields=["id"])
    assert body["filter"] == "id in [1, 2]" and body["limit"] == 2
    assert build_query_body("c", ids=['a"b'], primary_key="pk")["filter"] == 'pk in ["a\\"b"]'


@pytest.fixture
def collection(vectorimport_emulator_env):
    em = vectorimport_emulator_env
    name = f"v_{uuid.uuid4().hex[:8]}"
    rest(em, "/v2/vectordb/collections/create", {"collectionName": name, "schema": SCHEMA})
    return em, name


ROWS = [{"id": i, "title": f"t{i}", "vector": [float(i == j) + 0.25 * i for j in range(8)]} for i in range(6)]


def test_smoke_test_and_verify_against_the_emulator(collection):
    em, name = collection
    with pytest.raises(VerificationError, match=f"collection '{name}': 0 row"):
        search_smoke_test("zilliz_emulator", name)
    rest(em, "/v2/vectordb/entities/insert", {"collectionName": name, "data": ROWS})
    result = search_smoke_test("zilliz_emulator", name)
    assert result["rows"] == 6 and result["top_ids"][0] == result["probe_id"]
    ok = verify_import(
        "zilliz_emulator", name, expected_rows=6, sample=ROWS[:3], settle_seconds=0, whole_collection=True
    )
    assert ok["sampled"] == 3 and ok["fields"] == ["id", "title", "vector"]
    # a count or a value that differs is named
    with pytest.raises(
        VerificationError, match=f"'{name}': 6 row\\(s\\) in the whole collection, expected 7"
    ):
        verify_import("zilliz_emulator", name, expected_rows=7, settle_seconds=0, whole_collection=True)
    wrong = dict(ROWS[2], vector=[0.0] * 8)
    with pytest.raises(VerificationError, match="row id=2, field 'vector'"):
        verify_import(
            "zilliz_emulator", name, expected_rows=6, sample=[wrong], settle_seconds=0, whole_collection=True
        )
    with pytest.raises(VerificationError, match="row id=99 is missing"):
        verify_import(
            "zilliz_emulator",
            name,
            expected_rows=6,
            sample=[dict(ROWS[0], id=99)],
            settle_seconds=0,
            whole_collection=True,
        )
