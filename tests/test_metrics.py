"""Job metrics reach a real StatsD listener (UDP on 127.0.0.1) through Airflow's own Stats."""

from __future__ import annotations

import json
import socket

import pytest

from airflow_provider_vectorimport.operators.zilliz import ZillizImportOperator
from tests.loopback import ScriptedService, ok, serve
from tests.runtime import FakeTI, Store, context


@pytest.fixture
def statsd(monkeypatch):
    """Airflow's StatsD backend pointed at a UDP socket we read."""
    pytest.importorskip("statsd")
    from airflow.sdk._shared.observability.metrics.base_stats_logger import NoStatsLogger
    from airflow.sdk.observability.metrics.stats_utils import get_stats_factory
    from airflow.sdk.observability.stats import Stats

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2)
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "True")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PORT", str(sock.getsockname()[1]))
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PREFIX", "airflow")
    Stats.initialize(factory=get_stats_factory(), export_legacy_names=False)

    def received() -> list[str]:
        lines = []
        try:
            while True:
                lines.extend(sock.recv(65535).decode().splitlines())
                sock.settimeout(0.3)
        except TimeoutError:
            return lines

    yield received
    Stats.initialize(factory=NoStatsLogger, export_legacy_names=False)
    sock.close()


def test_import_job_metrics(statsd, monkeypatch):
    svc = ScriptedService()
    # a create first lists the collection's jobs (those are never this task's)
    svc.script("POST", "/v2/vectordb/jobs/import/list", ok({"count": 0, "records": []}))
    server = serve(svc)
    try:
        monkeypatch.setenv(
            "AIRFLOW_CONN_ZILLIZ_DEFAULT",
            json.dumps(
                {
                    "conn_type": "zilliz",
                    "host": server.url,
                    "password": "sk-metrics-key",
                    "extra": {"api_flavour": "milvus"},
                }
            ),
        )
        svc.script("POST", "/v2/vectordb/jobs/import/create", ok({"jobId": "7"}))
        svc.script(
            "POST",
            "/v2/vectordb/jobs/import/describe",
            ok(
                {"jobId": "7", "state": "Completed", "progress": 100, "importedRows": 1234, "totalRows": 1234}
            ),
        )
        store = Store()
        ZillizImportOperator(
            task_id="import", collection_name="c", files=[["a.parquet"]], deferrable=False, poll_interval=0.01
        ).execute(context(FakeTI(), store))
        lines = statsd()
        # a retry of the same task instance (e.g. it failed after the job completed) reattaches to
        # the completed job: it reports it again, but its rows are already in the counter
        ZillizImportOperator(
            task_id="import", collection_name="c", files=[["a.parquet"]], deferrable=False, poll_interval=0.01
        ).execute(context(FakeTI(try_number=2), store))
        retry = statsd()
    finally:
        server.stop()
    assert len(svc.calls("/v2/vectordb/jobs/import/create")) == 1
    assert "airflow.vectorimport.milvus.job_reattached:1|c" in retry
    assert "airflow.vectorimport.milvus.job_completed:1|c" in retry
    assert [line for line in lines if ".rows_imported:" in line] == [
        "airflow.vectorimport.milvus.rows_imported:1234|c"
    ]
    assert not any(".rows_imported:" in line for line in retry)
    assert "airflow.vectorimport.milvus.job_created:1|c" in lines
    assert "airflow.vectorimport.milvus.job_completed:1|c" in lines
    assert (
        "airflow.vectorimport.milvus.rows:1234.0|g" in lines
        or "airflow.vectorimport.milvus.rows:1234|g" in lines
    )
    assert any(
        line.startswith("airflow.vectorimport.milvus.duration:") and line.endswith("|ms") for line in lines
    )
    assert not any("sk-metrics-key" in line for line in lines)


def test_vikingdb_export_counts_exported_rows_and_a_failed_import_counts_none(statsd, monkeypatch, tmp_path):
    from airflow_provider_vectorimport.exceptions import JobFailedError
    from airflow_provider_vectorimport.operators.vikingdb import (
        VikingDBExportOperator,
        VikingDBImportOperator,
    )
    from tests.test_vikingdb_support import start_env

    env = start_env(monkeypatch, root=tmp_path, pace=0.01, conn_id="vikingdb_default")
    try:
        store = Store()
        export = dict(
            task_id="export",
            collection_name="demo",
            tos_path="exports/m",
            export_all=True,
            poll_interval=0.02,
        )
        summary = VikingDBExportOperator(**export).execute(context(FakeTI(task_id="export"), store))
        lines = statsd()
        # a retry reattaching to the done (already counted) task: no second count
        again = VikingDBExportOperator(**export).execute(context(FakeTI(2, task_id="export"), store))
        retry = statsd()
        with pytest.raises(JobFailedError):
            VikingDBImportOperator(
                task_id="imp", collection_name="demo", tos_path="nothing/here", poll_interval=0.02
            ).execute(context(FakeTI(task_id="imp"), Store()))
        failed = statsd()
    finally:
        env.server.stop()
    rows = summary["total_filter_count"]
    assert rows > 0
    assert f"airflow.vectorimport.vikingdb.rows_exported:{rows}|c" in lines
    assert not any(".rows_imported:" in line for line in lines)
    assert again["reattached"] is True and "airflow.vectorimport.vikingdb.job_completed:1|c" in retry
    assert not any(".rows_exported:" in line for line in retry)
    assert "airflow.vectorimport.vikingdb.job_failed:1|c" in failed
    assert not any(".rows_imported:" in line or ".rows_exported:" in line for line in failed)
