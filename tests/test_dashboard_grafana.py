"""The shipped Grafana dashboard (dashboards/grafana-vectorimport.json) is built on the metric names
the provider really sends: every job event of every service goes through Airflow's Stats to a real
StatsD listener (UDP on 127.0.0.1), and each name is mapped the way prometheus/statsd_exporter does
by default (dots -> underscores; timers -> a summary with ``_sum``/``_count``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from airflow_provider_vectorimport.metrics import emit_job_metrics
from tests.test_metrics import statsd  # noqa: F401  (the UDP listener fixture)

DASHBOARD = Path(__file__).resolve().parent.parent / "dashboards" / "grafana-vectorimport.json"
SERVICES = ("zilliz", "milvus", "vikingdb")


def _exporter_names(lines: list[str]) -> set[str]:
    names = set()
    for line in lines:
        name, _, rest = line.partition(":")
        kind = rest.split("|")[1] if "|" in rest else ""
        prom = name.replace(".", "_").replace("-", "_")
        if kind == "ms":
            names |= {f"{prom}_sum", f"{prom}_count", prom}
        else:
            names.add(prom)
    return names


def _exprs(dashboard: dict) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_grafana_dashboard_uses_the_names_the_provider_sends(statsd):  # noqa: F811
    for service in SERVICES:
        for event in ("job_created", "job_reattached"):
            emit_job_metrics(service, event)
        emit_job_metrics(service, "job_completed", rows=10, duration=1.5, rows_counter="rows_imported")
    emit_job_metrics("vikingdb", "job_completed", rows=10, duration=1.5, rows_counter="rows_exported")
    for service in SERVICES:
        emit_job_metrics(service, "job_failed", rows=0, duration=2.0)
    sent = _exporter_names(statsd())
    assert "airflow_vectorimport_zilliz_job_completed" in sent  # the listener really heard them

    dashboard = json.loads(DASHBOARD.read_text())
    used = {m for expr in _exprs(dashboard) for m in re.findall(r"\bairflow_vectorimport_\w+", expr)}
    assert used, "the dashboard queries no vectorimport metric"
    assert used <= sent, f"metrics the provider never sends: {sorted(used - sent)}"
    for service in SERVICES:  # every service's completed / failed / created counts are charted
        for event in ("job_completed", "job_failed", "job_created"):
            assert f"airflow_vectorimport_{service}_{event}" in used
    # daily row totals come from the counters (a gauge keeps only the last job's rows)
    daily = [
        expr
        for panel in dashboard["panels"]
        if panel["type"] == "timeseries"
        for expr in (t["expr"] for t in panel["targets"])
        if "_rows_" in expr
    ]
    counters = {f"airflow_vectorimport_{s}_rows_imported" for s in SERVICES}
    counters.add("airflow_vectorimport_vikingdb_rows_exported")
    assert {m for expr in daily for m in re.findall(r"\bairflow_vectorimport_\w+", expr)} == counters
    assert all(re.fullmatch(r"sum\(increase\(airflow_vectorimport_\w+\[1d\]\)\)", e) for e in daily)


def test_grafana_dashboard_is_importable():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["panels"]
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}"
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs))
