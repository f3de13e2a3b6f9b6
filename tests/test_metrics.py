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
        ZillizImportOperator(
            task_id="import", collection_name="c", files=[["a.parquet"]], deferrable=False, poll_interval=0.01
        ).execute(context(FakeTI(), Store()))
    finally:
        server.stop()
    lines = statsd()
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
