"""PrepareImportFilesOperator: direct execution, failure without retry on bad data, and a dag.test() run."""

from __future__ import annotations

import json
import os
import shutil

import pyarrow.parquet as pq
import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_vectorimport.operators.prepare import PrepareImportFilesOperator
from tests.test_prepare_helpers import DATA

SCHEMA = json.loads((DATA / "articles_schema.json").read_text())


def test_operator_returns_manifest_and_template_fields(tmp_path):
    op = PrepareImportFilesOperator(
        task_id="prep",
        inputs=str(DATA / "articles.json"),
        schema=SCHEMA,
        output_dir=str(tmp_path / "o"),
        format="json",
    )
    assert {"inputs", "schema", "output_dir"} <= set(op.template_fields)
    manifest = op.execute({})
    assert manifest["total_rows"] == 3 and manifest["format"] == "json"
    assert manifest["groups"] == [{"files": ["part-00000.json"], "rows": 3, "bytes": manifest["total_bytes"]}]
    json.dumps(manifest)
    # a retry rewrites the same output (overwrite=True by default for the operator)
    again = op.execute({})
    assert again["files"] == manifest["files"]


def test_operator_fails_without_retry_on_bad_data(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "title": "t", "title_vector": [1, 2], "reading_time": 1, "tags": []}\n')
    op = PrepareImportFilesOperator(
        task_id="prep", inputs=[str(bad)], schema=SCHEMA, output_dir=str(tmp_path / "o")
    )
    with pytest.raises(
        AirflowFailException, match=r"row 1, field 'title_vector': vector has 2 values, expected dim 8"
    ):
        op.execute({})
    assert not (tmp_path / "o").exists()


def test_prepare_dag_runs_with_taskflow_rows_and_files(load_dag, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    schema_path = tmp_path / "schema.json"
    schema_path.write_text(json.dumps(SCHEMA))
    src = tmp_path / "src.json"
    shutil.copy(DATA / "articles.json", src)
    monkeypatch.setenv("VECTORIMPORT_PREPARE_OUT", str(out))
    monkeypatch.setenv("VECTORIMPORT_PREPARE_SRC", str(src))
    monkeypatch.setenv("VECTORIMPORT_PREPARE_SCHEMA", str(schema_path))
    dag = load_dag("prepare_articles")
    dr = dag.test()
    assert str(dr.state).endswith("success"), dr.state
    summary = json.loads((out / "summary.json").read_text())
    rows_m, file_m = summary["rows"], summary["file"]
    assert rows_m["total_rows"] == 5 and file_m["total_rows"] == 3
    assert rows_m["root"].startswith(str(out)) and rows_m["root"].endswith("/rows")
    assert dr.run_id in rows_m["root"]
    table = pq.read_table(os.path.join(rows_m["root"], rows_m["files"][0]["path"]))
    assert table.column("title").to_pylist() == [f"from taskflow {i}" for i in range(5)]
    assert file_m["format"] == "jsonl"
