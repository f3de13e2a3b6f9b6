"""Export filters: ``filter_conds`` (the current create-task page's DSL, sent by default) and the
seed's legacy ``filter`` map; bad filters fail before any request, naming the argument and element;
the emulator exports exactly the rows the documents say (and everything without filter_conds)."""

from __future__ import annotations

from typing import Any

import pyarrow.parquet as pq
import pytest

from airflow_provider_vectorimport.exceptions import ConfigurationError, InvalidRequestError
from airflow_provider_vectorimport.hooks.vikingdb import VikingDBHook
from airflow_provider_vectorimport.operators.vikingdb import (
    VikingDBExportOperator,
    export_filter_params,
    validate_filter_conds,
)
from tests.runtime import context
from tests.test_vikingdb_support import ROWS, shared_server, start_env


@pytest.fixture(scope="module")
def vikingdb_server():
    yield from shared_server()


@pytest.fixture
def vdb(monkeypatch, vikingdb_server, tmp_path):
    env = start_env(monkeypatch, server=vikingdb_server, root=tmp_path, pace=0.02, conn_id="vikingdb_default")
    yield env


def export(vdb, prefix: str, **kwargs: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    op = VikingDBExportOperator(
        task_id="export",
        collection_name="demo",
        tos_path=f"exports/{prefix}",
        poll_interval=0.03,
        timeout=30,
        deferrable=False,
        **kwargs,
    )
    summary = op.execute(context())
    rows = pq.read_table(vdb.root / "exports" / prefix / "0.parquet").to_pylist()
    return summary, rows


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"filter_conds": {"city": ["x"]}}, r"filter_conds must be a list .* legacy form: pass it as filter"),
        ({"filter_conds": "[{]"}, "filter_conds is not valid JSON"),
        ({"filter_conds": []}, "filter_conds is empty"),
        ({"filter_conds": ["city"]}, r"filter_conds\[0\] must be an object"),
        (
            {"filter_conds": [{"op": "in", "field": "c", "conds": [1]}]},
            r"filter_conds\[0\]: op must be one of",
        ),
        ({"filter_conds": [{"op": "must", "conds": [1]}]}, r"filter_conds\[0\]: field"),
        ({"filter_conds": [{"op": "must", "field": "c"}]}, r"filter_conds\[0\]: must needs conds"),
        ({"filter_conds": [{"op": "must", "field": "c", "conds": [[1]]}]}, r"must needs conds"),
        ({"filter_conds": [{"op": "range", "field": "c"}]}, r"range needs at least one of gt"),
        ({"filter_conds": [{"op": "range", "field": "c", "gt": "1"}]}, r"gt must be a number"),
        ({"filter_conds": [{"op": "range_out", "field": "c", "gt": 1, "gte": 2}]}, "not both"),
        ({"filter_conds": [{"op": "range", "field": "c", "gt": 5, "lt": 1}]}, "lower bound 5 is above"),
        (
            {
                "filter_conds": [
                    {"op": "must", "field": "c", "conds": [1]},
                    {"op": "must", "field": "c", "x": 1},
                ]
            },
            r"filter_conds\[1\]",
        ),
        ({"filter_conds": [{"op": "range", "field": "c", "gt": 1, "conds": [1]}]}, "unknown key"),
        ({"filter": [{"op": "must", "field": "c", "conds": [1]}]}, "goes in filter_conds"),
        ({"filter": {"city": "beijing"}}, r"filter\['city'\] must be a non-empty list"),
        (
            {"filter": {"city": ["x"]}, "filter_conds": [{"op": "must", "field": "c", "conds": [1]}]},
            "not both",
        ),
        ({"filter_conds": [{"op": "must", "field": "c", "conds": [1]}], "export_all": True}, "not both"),
        ({}, "give filter_conds"),
        ({"filter": {"c": [1]}, "filter_field": "filters"}, "filter_field must be one of"),
        (
            {"filter_conds": [{"op": "range", "field": "c", "gt": 1}], "filter_field": "filter"},
            r"filter_conds\[0\]: filter_field='filter'",
        ),
    ],
)
def test_bad_filters_fail_before_any_request(kwargs, message):
    with pytest.raises(ConfigurationError, match=message):
        VikingDBExportOperator(task_id="e", collection_name="demo", tos_path="exports/x", **kwargs)


def test_forms_sent():
    conds = [
        {"op": "must", "field": "city", "conds": ["beijing"]},
        {"op": "range", "field": "id", "gt": 0, "lt": 4},
    ]
    assert export_filter_params(filter_conds=conds) == {"filter_conds": conds}
    assert validate_filter_conds('[{"op": "must_nor", "field": "c", "conds": [1]}]') == [
        {"op": "must_nor", "field": "c", "conds": [1]}
    ]
    legacy = {"user_id": [5, 9], "city": ["beijing"]}  # seed 004's example
    assert export_filter_params(filter=legacy) == {
        "filter_conds": [
            {"op": "must", "field": "user_id", "conds": [5, 9]},
            {"op": "must", "field": "city", "conds": ["beijing"]},
        ]
    }
    assert export_filter_params(filter=legacy, filter_field="filter") == {"filter": legacy}
    assert export_filter_params(export_all=True) == {"export_all": True}


def test_rows_exported_for_each_op(vdb):
    cases = {
        "must": ([{"op": "must", "field": "city", "conds": ["beijing"]}], lambda r: r["city"] == "beijing"),
        "nor": (
            [{"op": "must_nor", "field": "user_id", "conds": [1, 2]}],
            lambda r: r["user_id"] not in (1, 2),
        ),
        "range": ([{"op": "range", "field": "id", "gte": 10, "lt": 20}], lambda r: 10 <= r["id"] < 20),
        "out": ([{"op": "range_out", "field": "id", "gt": 5, "lte": 50}], lambda r: not 5 < r["id"] <= 50),
        "and": (
            [
                {"op": "must", "field": "city", "conds": ["shanghai"]},
                {"op": "range", "field": "user_id", "gt": 0, "lt": 4},
            ],
            lambda r: r["city"] == "shanghai" and 0 < r["user_id"] < 4,
        ),
    }
    for prefix, (conds, keep) in cases.items():
        summary, rows = export(vdb, prefix, filter_conds=conds)
        expected = [r for r in ROWS if keep(r)]
        assert rows == expected and summary["total_filter_count"] == len(expected) > 0, prefix


def test_default_form_stays_filtered_where_the_legacy_field_is_ignored(vdb):
    """A service that ignores ``filter`` (the V2 rule: no filter_conds, everything exported)."""
    vdb.emulator.legacy_filter = False
    legacy = {"city": ["beijing"], "user_id": [3, 6, 9]}
    expected = [r for r in ROWS if r["city"] == "beijing" and r["user_id"] in (3, 6, 9)]
    summary, rows = export(vdb, "default", filter=legacy)
    assert rows == expected and summary["total_filter_count"] == len(expected)
    _, everything = export(vdb, "legacy", filter=legacy, filter_field="filter")
    assert len(everything) == len(ROWS)  # what sending only the seed's field risks


def test_emulator_follows_the_documents(vdb):
    hook = VikingDBHook()
    with pytest.raises(InvalidRequestError, match=r"filter_conds\[0\]\.op must be one of"):
        hook.create_task(
            "data_export",
            {
                "collection_name": "demo",
                "tos_path": "exports/bad",
                "filter_conds": [{"op": "in", "field": "c"}],
            },
        )
    # no filter_conds and no export_all: the V2 page says everything is exported
    task_id = hook.create_task("data_export", {"collection_name": "demo", "tos_path": "exports/none"})
    import time

    deadline = time.time() + 10
    while not (task := hook.get_task(task_id)).is_terminal:
        assert time.time() < deadline
        time.sleep(0.03)
    assert task.total_filter_count == len(ROWS)
