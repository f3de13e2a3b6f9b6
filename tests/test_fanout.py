"""Fan-out (``airflow_provider_vectorimport.fanout``, ``operators/fanout.py`` and the example DAG
``example_dags/vectorimport_fanout.py``): shards planned, merged and split into import requests
(pure), and the DAG with ``dag.test()`` against the local emulator (moto S3 + Milvus Lite): one
mapped prepare+upload task per shard, one import job per request, a re-run creating no job, a bad
shard failing the run by name with nothing imported."""

from __future__ import annotations

import ast
import json
import re

import pytest

from airflow_provider_vectorimport.emulator.examples import article_schema, rest, write_fanout_inputs
from airflow_provider_vectorimport.exceptions import ConfigurationError
from airflow_provider_vectorimport.fanout import (
    ShardError,
    merge_shard_manifests,
    split_import_requests,
    split_into_shards,
)

pytest_plugins = ["airflow_provider_vectorimport.emulator.pytest_plugin"]

DIM = 8
COLLECTION = "fanout_articles"
SCHEMA = article_schema(DIM)


# -- pure: plan, merge, split --------------------------------------------------------------------


def shard_manifest(index: int, keys: list[list[str]], **extra) -> dict:
    """What a shard task returns: the upload manifest of its groups (shape of ``upload_plan``)."""
    groups = [
        {"keys": g, "urls": [f"s3://b/{k}" for k in g], "rows": 10, "bytes": 100 * len(g)} for g in keys
    ]
    return {
        "bucket": "b",
        "format": "parquet",
        "target": "milvus",
        "schema": SCHEMA,
        "schema_fingerprint": "f" * 64,
        "groups": groups,
        "files": [g["keys"] for g in groups],
        "shard_index": index,
        **extra,
    }


def test_split_into_shards_balances_by_size_and_is_deterministic():
    files = [(f"/in/{n}.json", size) for n, size in zip("abcdefg", [70, 10, 10, 30, 30, 20, 20], strict=True)]
    shards = split_into_shards(files, 3)
    assert shards == [
        ["/in/a.json"],
        ["/in/b.json", "/in/d.json", "/in/f.json"],
        ["/in/c.json", "/in/e.json", "/in/g.json"],
    ]
    sizes = dict(files)
    assert sorted(sum(sizes[p] for p in s) for s in shards) == [60, 60, 70]
    assert split_into_shards(list(reversed(files)), 3) == shards  # input order does not matter
    assert sorted(p for s in shards for p in s) == sorted(sizes)  # every file exactly once
    # more shards than files: one file each; max_files_per_shard adds shards
    assert split_into_shards(["/x/1", "/x/2"], 8) == [["/x/1"], ["/x/2"]]
    capped = split_into_shards([f"/x/{i:02d}" for i in range(10)], 2, max_files_per_shard=3)
    assert len(capped) == 4 and max(len(s) for s in capped) == 3


@pytest.mark.parametrize(
    ("files", "shards", "message"),
    [([], 2, "no input files"), (["/a", "/a"], 2, "listed twice"), (["/a"], 0, "positive integer")],
)
def test_split_into_shards_rejects_bad_input(files, shards, message):
    with pytest.raises(ConfigurationError, match=message):
        split_into_shards(files, shards)


def test_merge_keeps_every_group_in_shard_order():
    planned = [["/in/a.json"], ["/in/b.json", "/in/c.json"]]
    merged = merge_shard_manifests(
        [
            shard_manifest(0, [["p/shard-00000/part-00000.parquet"]], shard_inputs=planned[0]),
            shard_manifest(1, [["p/shard-00001/part-00000.parquet"], ["p/shard-00001/part-00001.parquet"]]),
        ],
        shards=planned,
        run_id="r1",
    )
    assert merged["files"] == [
        ["p/shard-00000/part-00000.parquet"],
        ["p/shard-00001/part-00000.parquet"],
        ["p/shard-00001/part-00001.parquet"],
    ]
    assert [g["shard"] for g in merged["groups"]] == [0, 1, 1]
    assert (merged["shards"], merged["total_rows"], merged["total_bytes"]) == (2, 30, 300)
    assert merged["schema"] == SCHEMA and merged["bucket"] == "b"


def test_merge_names_a_missing_shard_and_a_failed_one():
    planned = [["/in/a.json"], ["/in/b.json"], ["/in/c.json"]]
    with pytest.raises(ShardError) as err:
        merge_shard_manifests(
            [shard_manifest(0, [["k0"]]), None, None],
            shards=planned,
            failures={2: "run r1, shard 2 (inputs: c.json): /in/c.json, row 3, field 'vector': bad"},
            run_id="r1",
        )
    text = str(err.value)
    assert text.startswith("run r1: 2 problem(s)")
    assert "shard 1 (inputs: b.json): produced no manifest" in text
    assert (
        "shard 2 (inputs: c.json): run r1, shard 2 (inputs: c.json): /in/c.json, row 3, field 'vector'"
        in text
    )
    assert "nothing was imported" in text


def test_merge_refuses_fewer_manifests_than_planned_shards():
    with pytest.raises(ShardError, match=r"1 shard manifest\(s\) for 2 planned shard\(s\)"):
        merge_shard_manifests([shard_manifest(0, [["k0"]])], shards=[["/a"], ["/b"]])


@pytest.mark.parametrize(
    ("manifests", "message"),
    [
        (
            [shard_manifest(0, [["k0"]]), shard_manifest(1, [["k0"]])],
            r"object k0 is in shard 1, group 0 and in shard 0, group 0",
        ),
        ([shard_manifest(0, [["k0"], ["k0"]])], r"object k0 is in shard 0, group 1 and in the same shard"),
        ([shard_manifest(0, [["k0"]]), shard_manifest(1, [["k1"]], bucket="other")], r"different buckets"),
        (
            [shard_manifest(0, [["k0"]]), shard_manifest(1, [["k1"]], schema_fingerprint="e" * 64)],
            r"different schemas",
        ),
        ([shard_manifest(0, [])], r"shard 0: its manifest has no file groups"),
    ],
)
def test_merge_refuses_groups_twice_and_mixed_shards(manifests, message):
    with pytest.raises(ShardError, match=message):
        merge_shard_manifests(manifests, run_id="r1")


def test_merge_refuses_a_manifest_of_other_inputs():
    with pytest.raises(ShardError, match=r"shard 0: its manifest is of other inputs than planned"):
        merge_shard_manifests(
            [shard_manifest(0, [["k0"]], shard_inputs=["/old.json"])], shards=[["/new.json"]]
        )


def test_split_at_the_1024_group_limit():
    keys = [[f"p/shard-{i // 100:05d}/part-{i:05d}.parquet"] for i in range(2500)]
    merged = merge_shard_manifests([shard_manifest(0, keys)])
    chunks = split_import_requests(merged)
    assert [len(c["files"]) for c in chunks] == [1024, 1024, 452]
    assert [c["chunk"] for c in chunks] == [0, 1, 2] and {c["chunks"] for c in chunks} == {3}
    assert [k for c in chunks for k in c["files"]] == keys  # every group once, in order
    assert all(c["schema"] == SCHEMA for c in chunks)  # each import's preflight compares it
    assert sum(c["total_rows"] for c in chunks) == merged["total_rows"] == 25000
    # exactly 1,024 is one request; a smaller limit on request; above the service's limit refused
    assert len(split_import_requests(merge_shard_manifests([shard_manifest(0, keys[:1024])]))) == 1
    assert [len(c["files"]) for c in split_import_requests(merged, max_files_per_job=1000)] == [
        1000,
        1000,
        500,
    ]
    with pytest.raises(ConfigurationError, match="above the milvus limit of 1024"):
        split_import_requests(merged, max_files_per_job=1025)


def test_split_follows_the_service_limits_of_the_target_and_format():
    keys = [[f"k{i}"] for i in range(3)]
    json_v1 = merge_shard_manifests([shard_manifest(0, keys, target="zilliz", format="json")])
    assert [len(c["files"]) for c in split_import_requests(json_v1)] == [1, 1, 1]  # Zilliz JSON: one a job
    by_bytes = split_import_requests(merge_shard_manifests([shard_manifest(0, keys)]), max_bytes_per_job=250)
    assert [len(c["files"]) for c in by_bytes] == [2, 1]  # 100 bytes a group


def test_split_refuses_a_group_twice():
    merged = merge_shard_manifests([shard_manifest(0, [["k0"]])])
    merged["groups"].append(dict(merged["groups"][0]))
    with pytest.raises(ShardError, match="appears twice"):
        split_import_requests(merged)


# -- the example DAG against the emulator ---------------------------------------------------------


def write_inputs(folder, files: int, rows_per_file: int) -> int:
    return write_fanout_inputs(folder, files, rows_per_file, dim=DIM)


@pytest.fixture
def fanout(vectorimport_emulator_env, monkeypatch, tmp_path, load_dag):
    em = vectorimport_emulator_env
    env = em.connection_env()
    monkeypatch.setenv("AIRFLOW_CONN_ZILLIZ_DEFAULT", env["AIRFLOW_CONN_ZILLIZ_EMULATOR"])
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", env["AIRFLOW_CONN_S3_EMULATOR"])
    monkeypatch.setenv("VECTORIMPORT_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("VECTORIMPORT_FANOUT_INPUT", str(tmp_path / "input"))
    rest(em, "/v2/vectordb/collections/create", {"collectionName": COLLECTION, "schema": SCHEMA})
    return em, tmp_path / "input", load_dag("example_fanout")


def report(capfd) -> dict:
    out = "".join(capfd.readouterr())
    (line,) = re.findall(r"VECTORIMPORT_FANOUT (\{.*?\})$", out, re.M)
    return ast.literal_eval(line)


def landed(em) -> int:
    return int(rest(em, "/v2/vectordb/collections/get_stats", {"collectionName": COLLECTION})["rowCount"])


def task_instances(run, task_id: str) -> list:
    return sorted((ti for ti in run.get_task_instances() if ti.task_id == task_id), key=lambda t: t.map_index)


def test_shards_prepare_upload_merge_and_one_job_per_request(fanout, capfd):
    em, inputs, dag = fanout
    total = write_inputs(inputs, files=7, rows_per_file=20)

    run = dag.test(run_conf={"shards": 3, "batch": "b1"})
    assert run.state == "success"
    summary = report(capfd)
    shards = task_instances(run, "prepare_upload_shard")
    assert [ti.map_index for ti in shards] == [0, 1, 2] and {ti.state for ti in shards} == {"success"}
    assert summary["shards"] == 3 and summary["requests"] == 1 and summary["file_groups"] == 3
    assert em.stats()["jobs_created"] == {COLLECTION: 1}  # one job for the one request
    assert summary["imported_rows"] == total == landed(em)
    keys = {
        o["Key"]
        for o in em.s3_client().list_objects_v2(Bucket=em.milvus_bucket, Prefix=f"fanout/{COLLECTION}/b1/")[
            "Contents"
        ]
    }
    assert {k.split("/")[3] for k in keys} == {"shard-00000", "shard-00001", "shard-00002"}

    again = dag.test(run_conf={"shards": 3, "batch": "b1"})  # the same batch, re-run
    assert again.state == "success"
    rerun = report(capfd)
    assert rerun["jobs"] == summary["jobs"] and rerun["reattached"] == [True]
    assert em.stats()["jobs_created"] == {COLLECTION: 1}  # no new job
    assert landed(em) == total  # nothing imported twice
    print("fan-out: 3 shards, 1 request, jobs per collection after a re-run:", em.stats()["jobs_created"])


def test_a_small_limit_splits_into_one_job_per_request_each_with_its_own_record(fanout, capfd):
    em, inputs, dag = fanout
    total = write_inputs(inputs, files=5, rows_per_file=10)

    run = dag.test(run_conf={"shards": 5, "batch": "small", "max_files_per_job": 2})
    assert run.state == "success"
    summary = report(capfd)
    assert len(task_instances(run, "prepare_upload_shard")) == 5
    imports = task_instances(run, "import")
    assert [ti.map_index for ti in imports] == [0, 1, 2]  # 5 groups / 2 a request
    assert summary["requests"] == 3 and len(set(summary["jobs"])) == 3
    assert em.stats()["jobs_created"] == {COLLECTION: 3}
    assert summary["imported_rows"] == total == landed(em)
    # each request's job was created once under its own Idempotency-Key ...
    assert sorted(em.stats()["jobs_created_by_key"].values()) == [1, 1, 1]
    # ... and the exactly-once record of each mapped import is its own (keyed by the map index)
    records = import_records(run.run_id)
    assert sorted(records) == [0, 1, 2]
    assert sorted(r["job_id"] for r in records.values()) == sorted(summary["jobs"])


def test_the_idempotency_key_of_a_mapped_import_includes_its_map_index():
    from types import SimpleNamespace

    from airflow_provider_vectorimport.utils import idempotency_key

    def key(map_index: int, files) -> str:
        ti = SimpleNamespace(dag_id="d", task_id="import", run_id="r", map_index=map_index)
        return idempotency_key({"ti": ti, "run_id": "r"}, COLLECTION, None, files, None, None)

    same_files = [["a.parquet"]]
    assert key(0, same_files) != key(1, same_files)  # two requests never share a key
    assert key(1, same_files) == key(1, [["a.parquet"]])  # every try of one request does
    assert key(1, same_files) != key(1, [["b.parquet"]])


def import_records(run_id: str) -> dict[int, dict]:
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_provider_vectorimport.operators.zilliz import STATE_KEY

    with create_session() as session:
        rows = session.execute(
            select(TaskStateStoreModel.map_index, TaskStateStoreModel.value).where(
                TaskStateStoreModel.run_id == run_id,
                TaskStateStoreModel.task_id == "import",
                TaskStateStoreModel.key == STATE_KEY,
            )
        ).all()
    return {int(m): (json.loads(v) if isinstance(v, str) else v) for m, v in rows}


def test_a_bad_shard_fails_the_run_by_name_and_nothing_is_imported(fanout, capfd):
    em, inputs, dag = fanout
    write_inputs(inputs, files=4, rows_per_file=10)
    bad = json.loads((inputs / "part02.json").read_text())
    bad["rows"][4]["vector"] = bad["rows"][4]["vector"][:3]  # wrong dimension in row 5
    (inputs / "part02.json").write_text(json.dumps(bad))

    run = dag.test(run_conf={"shards": 4, "batch": "bad"})
    assert run.state == "failed"
    states = {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}
    failed = [m for (t, m), s in states.items() if t == "prepare_upload_shard" and s == "failed"]
    assert len(failed) == 1 and states[("merge_shards", -1)] == "failed"
    assert all(s != "success" for (t, _), s in states.items() if t in ("import", "report"))
    logs = "".join(capfd.readouterr())
    (index,) = failed
    assert f"run {run.run_id}: 1 problem(s) with the shards; nothing was imported" in logs
    # the shard's own error names the run and the shard; the merge's lists the shard with its error
    assert f"run {run.run_id}, shard {index} (inputs: part02.json): 1 error(s) in the input" in logs
    assert f"  - shard {index} (inputs: part02.json): failed: 1 error(s) in the input" in logs
    assert re.search(r"part02\.json, row 5, field 'vector': vector has 3 values, expected dim 8", logs)
    assert em.stats()["jobs_created"] == {}  # no partial import
    assert landed(em) == 0


@pytest.mark.parametrize("flavour", ["milvus", "v2"])
def test_each_request_is_one_valid_create_call(flavour):
    """A request from the split, passed as the import operator takes it (``files=`` for Milvus,
    ``object_urls=`` for Zilliz Cloud v2), builds one create call with exactly its groups."""
    from airflow_provider_vectorimport.hooks.zilliz import ZillizConfig, build_create_call, create_call_files
    from airflow_provider_vectorimport.operators.zilliz import ZillizImportOperator

    keys = [[f"fanout/c/b/shard-{i // 600:05d}/part-{i:05d}.parquet"] for i in range(1500)]
    chunks = split_import_requests(merge_shard_manifests([shard_manifest(0, keys)]))
    assert len(chunks) == 2
    config = ZillizConfig(flavour=flavour, base_url="https://x", token="t", cluster_id="in01-x")
    seen: list[str] = []
    for chunk in chunks:
        arg = {"files": chunk} if flavour == "milvus" else {"object_urls": chunk}
        op = ZillizImportOperator(task_id=f"import_{flavour}_{chunk['chunk']}", collection_name="c", **arg)
        files, urls = op._files_arg()
        call = build_create_call(config, "c", files=files, object_urls=urls)
        body_groups = call.json["files"] if flavour == "milvus" else call.json["objectUrls"]
        assert len(body_groups) == len(chunk["files"]) <= 1024
        seen += create_call_files(call)
    expected = (
        [k for g in keys for k in g] if flavour == "milvus" else [f"s3://b/{k}" for g in keys for k in g]
    )
    assert [s.rsplit("/", 1)[-1] for s in seen] == [e.rsplit("/", 1)[-1] for e in expected]


# -- merge takes every mapped shard of the run (issue 21) -----------------------------------------


@pytest.mark.parametrize("mapped, planned", [(5, 4), (3, 4)])
def test_merge_refuses_a_count_or_plan_that_disagrees_with_the_mapped_shards(
    load_dag, capfd, mapped, planned
):
    """5 shard task instances ran, merge told 4 (a number, or a plan of 4): shard 4's rows would be in
    no import request; merge fails naming the mapped count and the extra shard. 3 ran for 4 planned:
    the missing one is named."""
    run = load_dag("fanout_merge_count").test(run_conf={"mapped": mapped, "planned": planned})
    states = {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}
    assert len([1 for (t, _), s in states.items() if t == "shard" and s == "success"]) == mapped
    assert states[("merge_count", -1)] == "failed" and states[("merge_plan", -1)] == "failed"
    logs = "".join(capfd.readouterr())
    if mapped > planned:
        assert f"the shard task shard has {mapped} mapped task instance(s) in this run, not {planned}" in logs
        assert "shard 4: ran but is not in the plan" in logs
    else:
        assert "shard 3" in logs and "no such task instance" in logs


def test_merge_takes_every_mapped_shard_when_the_count_agrees(load_dag, capfd):
    run = load_dag("fanout_merge_count").test(run_conf={"mapped": 5, "planned": 5})
    states = {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}
    assert states[("merge_count", -1)] == states[("merge_plan", -1)] == "success"
    (merge,) = [ti for ti in run.get_task_instances() if ti.task_id == "merge_count"]
    chunks = merge.xcom_pull(task_ids="merge_count")
    assert sorted(chunks[0]["shards"]) == [0, 1, 2, 3, 4] and chunks[0]["total_rows"] == 10
