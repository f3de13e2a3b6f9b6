"""Downloads are exact (issue 11, item 5) against moto's S3 server on 127.0.0.1.

A download returns and records exactly the objects under the prefix now (size and ETag / SHA-256, not
size alone); files of earlier downloads that left the prefix are removed; the processing helper reads
the download manifest, not a folder walk; bad exports (an incomplete multipart upload, a JSON file cut
mid-row, a Parquet file of another schema) fail naming the file before anything is processed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_vectorimport.exceptions import ConfigurationError
from airflow_provider_vectorimport.storage import (
    StorageConfig,
    TransferError,
    TransferOptions,
    download_prefix,
    iter_record_batches,
)
from airflow_provider_vectorimport.storage.transfer import MiB

OPTIONS = TransferOptions(
    multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_workers=2, progress_interval=0
)


def _client(endpoint: str) -> Any:
    config = StorageConfig(
        access_key="testing-ak", secret_key="testing-sk", region_name="us-east-1", endpoint_url=endpoint
    )
    return config.client(max_pool_connections=OPTIONS.pool_connections)


def _parquet_bytes(ids: range, *, schema: str = "export", scale: float = 1.0) -> bytes:
    if schema == "export":
        table = pa.table({"id": pa.array(ids, pa.int64()), "vec": [[float(i) * scale, 0.5] for i in ids]})
    else:
        table = pa.table({"id": [str(i) for i in ids], "title": [f"t{i}" for i in ids]})
    sink = pa.BufferOutputStream()
    # plain, uncompressed, no statistics: other values give a file of exactly the same size
    pq.write_table(table, sink, compression="none", use_dictionary=False, write_statistics=False)
    return sink.getvalue().to_pybytes()


def _ids(source: Any) -> list[int]:
    return [i for b in iter_record_batches(source, batch_size=4) for i in b.column("id").to_pylist()]


def test_same_size_changed_object_is_downloaded_again(s3_endpoint, s3_client, bucket, tmp_path):
    """Size alone is not enough: an object replaced by one of the same size is fetched again
    (single-part and multipart objects), and a local file edited in place is too."""
    client = _client(s3_endpoint)
    small_v1, small_v2 = _parquet_bytes(range(10)), _parquet_bytes(range(10), scale=2.0)
    assert len(small_v1) == len(small_v2) and small_v1 != small_v2
    big_v1, big_v2 = os.urandom(6 * MiB), os.urandom(6 * MiB)
    s3_client.put_object(Bucket=bucket, Key="exp/part-0.parquet", Body=small_v1)
    (tmp_path / "big1").write_bytes(big_v1)
    s3_client.upload_file(str(tmp_path / "big1"), bucket, "exp/blob.bin", Config=OPTIONS.transfer_config())
    out = tmp_path / "out"
    first = download_prefix(client, bucket, "exp", out, options=OPTIONS)
    assert (first["downloaded"], first["skipped"]) == (2, 0)

    again = download_prefix(client, bucket, "exp", out, options=OPTIONS)
    assert (again["downloaded"], again["skipped"], again["bytes_transferred"]) == (0, 2, 0)

    s3_client.put_object(Bucket=bucket, Key="exp/part-0.parquet", Body=small_v2)
    (tmp_path / "big2").write_bytes(big_v2)
    s3_client.upload_file(str(tmp_path / "big2"), bucket, "exp/blob.bin", Config=OPTIONS.transfer_config())
    third = download_prefix(client, bucket, "exp", out, options=OPTIONS)
    assert (third["downloaded"], third["skipped"]) == (2, 0)
    assert (out / "part-0.parquet").read_bytes() == small_v2
    assert (out / "blob.bin").read_bytes() == big_v2
    assert {f["key"]: f["etag"] for f in third["files"]}["exp/blob.bin"].endswith("-2")  # multipart

    (out / "part-0.parquet").write_bytes(small_v1)  # edited locally, same size: not the object
    fourth = download_prefix(client, bucket, "exp", out, options=OPTIONS)
    assert (fourth["downloaded"], fourth["skipped"]) == (1, 1)
    assert (out / "part-0.parquet").read_bytes() == small_v2
    recorded = json.loads(Path(fourth["manifest"]).read_text())
    assert recorded["state"] == "complete"
    assert {f["rel"]: (f["bytes"], f["sha256"]) for f in recorded["files"]}["part-0.parquet"] == (
        len(small_v2),
        __import__("hashlib").sha256(small_v2).hexdigest(),
    )


def test_files_that_left_the_prefix_are_removed_and_never_read(s3_endpoint, s3_client, bucket, tmp_path):
    client = _client(s3_endpoint)
    for n, key in enumerate(["exp/a.parquet", "exp/sub/b.parquet", "exp/c.parquet"]):
        s3_client.put_object(Bucket=bucket, Key=key, Body=_parquet_bytes(range(n * 10, n * 10 + 10)))
    out = tmp_path / "out"
    out.mkdir()
    mine = out / "notes.parquet"  # the user's file in the target folder: never deleted, never read
    mine.write_bytes(_parquet_bytes(range(900, 903)))
    outside = tmp_path / "outside.parquet"
    outside.write_bytes(b"x")
    download_prefix(client, bucket, "exp", out, options=OPTIONS)
    s3_client.delete_object(Bucket=bucket, Key="exp/sub/b.parquet")
    s3_client.delete_object(Bucket=bucket, Key="exp/c.parquet")
    result = download_prefix(client, bucket, "exp", out, options=OPTIONS)
    assert sorted(result["removed"]) == ["c.parquet", "sub/b.parquet"]
    assert [f["key"] for f in result["files"]] == ["exp/a.parquet"]
    assert not (out / "c.parquet").exists() and not (out / "sub").exists()
    assert mine.exists() and outside.exists()
    # the processing helper reads what the download recorded: from the XCom, the folder or the manifest
    for source in (result, out, str(out), result["manifest"]):
        assert _ids(source) == list(range(10)), source
    # another prefix into the same folder: the first download's files go, the user's file stays
    s3_client.put_object(Bucket=bucket, Key="other/z.parquet", Body=_parquet_bytes(range(50, 53)))
    other = download_prefix(client, bucket, "other", out, options=OPTIONS)
    assert other["removed"] == ["a.parquet"] and mine.exists()
    assert _ids(other) == [50, 51, 52]


def test_a_file_changed_after_the_download_is_refused(s3_endpoint, s3_client, bucket, tmp_path):
    client = _client(s3_endpoint)
    s3_client.put_object(Bucket=bucket, Key="exp/a.parquet", Body=_parquet_bytes(range(10)))
    out = tmp_path / "out"
    result = download_prefix(client, bucket, "exp", out, options=OPTIONS)
    (out / "a.parquet").write_bytes(b"PAR1 cut")
    with pytest.raises(ConfigurationError, match=r"a\.parquet: 8 bytes on disk, the download recorded"):
        next(iter_record_batches(result))
    manifest = json.loads(Path(result["manifest"]).read_text())
    Path(result["manifest"]).write_text(json.dumps({**manifest, "state": "in_progress"}))
    with pytest.raises(ConfigurationError, match="the download did not complete"):
        next(iter_record_batches(out))


def test_incomplete_multipart_upload_fails_naming_the_key(s3_endpoint, s3_client, bucket, tmp_path):
    client = _client(s3_endpoint)
    s3_client.put_object(Bucket=bucket, Key="exp/0.parquet", Body=_parquet_bytes(range(5)))
    upload = s3_client.create_multipart_upload(Bucket=bucket, Key="exp/1.parquet")
    s3_client.upload_part(
        Bucket=bucket, Key="exp/1.parquet", UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * (5 * MiB)
    )
    out = tmp_path / "out"
    with pytest.raises(
        TransferError, match=rf"incomplete multipart upload\(s\): s3://{bucket}/exp/1\.parquet"
    ):
        download_prefix(client, bucket, "exp", out, options=OPTIONS)
    assert not out.exists() or not any(out.iterdir())  # nothing fetched
    partial = download_prefix(client, bucket, "exp", out, options=OPTIONS, incomplete_uploads="ignore")
    assert [f["key"] for f in partial["files"]] == ["exp/0.parquet"]
    assert _ids(partial) == list(range(5))


def test_json_export_cut_mid_row_fails_before_any_batch(s3_endpoint, s3_client, bucket, tmp_path):
    client = _client(s3_endpoint)
    rows = [{"id": i, "vec": [0.5, 1.0]} for i in range(6)]
    s3_client.put_object(Bucket=bucket, Key="exp/a.json", Body=json.dumps(rows).encode())
    lines = "".join(json.dumps(r) + "\n" for r in rows)
    s3_client.put_object(Bucket=bucket, Key="exp/b.json", Body=lines[: len(lines) - 9].encode())
    result = download_prefix(client, bucket, "exp", tmp_path / "out", options=OPTIONS)
    batches = iter_record_batches(result, batch_size=2)
    with pytest.raises(ConfigurationError, match=r"b\.json: the file ends mid-row"):
        next(batches)  # a.json is fine, but nothing is yielded before the whole export is checked
    wrapped = tmp_path / "w" / "c.json"
    wrapped.parent.mkdir()
    wrapped.write_text(json.dumps({"rows": rows})[:-1])  # the closing brace is missing
    with pytest.raises(ConfigurationError, match=r"c\.json: the file ends mid-row"):
        next(iter_record_batches(wrapped))


def test_parquet_of_another_schema_in_the_prefix_fails_naming_it(s3_endpoint, s3_client, bucket, tmp_path):
    client = _client(s3_endpoint)
    s3_client.put_object(Bucket=bucket, Key="exp/0.parquet", Body=_parquet_bytes(range(5)))
    s3_client.put_object(Bucket=bucket, Key="exp/1.parquet", Body=_parquet_bytes(range(3), schema="other"))
    result = download_prefix(client, bucket, "exp", tmp_path / "out", options=OPTIONS)
    with pytest.raises(
        ConfigurationError, match=r"1\.parquet: Parquet schema differs from 0\.parquet"
    ) as err:
        next(iter_record_batches(result))
    assert "id: int64 vs string" in str(err.value)
    # a truncated Parquet file (a partial copy) is named too, before any batch
    s3_client.delete_object(Bucket=bucket, Key="exp/1.parquet")
    s3_client.put_object(Bucket=bucket, Key="exp/2.parquet", Body=_parquet_bytes(range(5))[:-20])
    result = download_prefix(client, bucket, "exp", tmp_path / "out", options=OPTIONS)
    with pytest.raises(ConfigurationError, match=r"2\.parquet: not a readable Parquet file"):
        next(iter_record_batches(result))


def test_download_operator_rerun_fetches_changed_objects(
    monkeypatch, s3_endpoint, s3_client, bucket, tmp_path
):
    from airflow_provider_vectorimport.operators.object_storage import DownloadFromObjectStorageOperator

    monkeypatch.setenv(
        "AIRFLOW_CONN_S3_DL",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "testing-ak",
                "password": "testing-sk",
                "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"},
            }
        ),
    )
    s3_client.put_object(Bucket=bucket, Key="e/x.parquet", Body=_parquet_bytes(range(4)))
    op = DownloadFromObjectStorageOperator(
        task_id="dl", conn_id="s3_dl", bucket=bucket, prefix="e", local_dir=str(tmp_path / "o")
    )
    first = op.execute({})
    s3_client.put_object(Bucket=bucket, Key="e/x.parquet", Body=_parquet_bytes(range(4), scale=3.0))
    second = op.execute({})
    assert (first["downloaded"], second["downloaded"], second["skipped"]) == (1, 1, 0)
    assert first["files"][0]["etag"] != second["files"][0]["etag"]
    vecs = [v for b in iter_record_batches(second) for v in b.column("vec").to_pylist()]
    assert vecs[1] == [3.0, 0.5]
    json.dumps(second)


def test_example_dag_processing_step_reads_the_download_manifest(s3_endpoint, s3_client, bucket, tmp_path):
    """The VikingDB example's ``process`` step counts exactly the downloaded export: a stale file left
    in the folder (here: the user's, and one from an earlier export that left the prefix) is not read."""
    import importlib.util

    path = Path(__file__).parent.parent / "example_dags" / "vectorimport_vikingdb_export.py"
    spec = importlib.util.spec_from_file_location("example_vikingdb_export", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    process = module.dag.get_task("process").python_callable

    def export_part(ids: range) -> bytes:
        table = pa.table(
            {"id": list(ids), "claps": [10] * len(ids), "publication": ["The Startup"] * len(ids)}
        )
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        return sink.getvalue().to_pybytes()

    client = _client(s3_endpoint)
    s3_client.put_object(Bucket=bucket, Key="exports/r/0.parquet", Body=export_part(range(5)))
    s3_client.put_object(Bucket=bucket, Key="exports/r/1.parquet", Body=export_part(range(5, 8)))
    out = tmp_path / "dl"
    download_prefix(client, bucket, "exports/r", out, options=OPTIONS)
    s3_client.delete_object(Bucket=bucket, Key="exports/r/1.parquet")  # the next export has 5 rows only
    (out / "old-export.parquet").write_bytes(export_part(range(100, 150)))  # not the download's
    download = download_prefix(client, bucket, "exports/r", out, options=OPTIONS)
    summary = process(download, {"task_id": "t-1", "tos_path": f"{bucket}/exports/r"})
    assert (summary["rows"], summary["total_claps"], summary["files"]) == (5, 50, 1)
    assert summary["rows_by_publication"] == {"The Startup": 5}
