"""``vectorimport emulator`` as a process: starts, prints endpoints and AIRFLOW_CONN_* lines, serves
with the fault flags applied, and stops cleanly (exit code 0, port closed) on SIGTERM."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text()
        if proc.poll() is not None:
            raise AssertionError(f"emulator exited early: {proc.communicate()}")
        time.sleep(0.1)
    raise AssertionError("emulator did not start in time")


def _parse_env(text: str) -> dict[str, str]:
    env = {}
    for line in text.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = shlex.split(value)[0]
    return env


def test_cli_serves_with_faults_and_stops_on_sigterm(tmp_path: Path) -> None:
    env_file = tmp_path / "conns.env"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_vectorimport.cli",  # the `vectorimport` console command
            "emulator",
            "--port",
            "0",
            "--pace",
            "0",
            "--seed",
            "3",
            "--rate-429",
            "1",
            "--data-dir",
            str(tmp_path / "data"),
            "--env-file",
            str(env_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        conns = _parse_env(_wait_for(env_file, proc))
        zilliz = json.loads(conns["AIRFLOW_CONN_ZILLIZ_EMULATOR"])
        url = zilliz["host"]
        assert url.startswith("http://127.0.0.1:")
        s3 = json.loads(conns["AIRFLOW_CONN_S3_EMULATOR"])["extra"]["endpoint_url"]
        assert requests.get(s3 + "/a-bucket", timeout=10).status_code == 200  # default bucket exists
        # --rate-429 1: every service request is throttled, with Retry-After
        resp = requests.post(url + "/v2/vectordb/collections/list", json={}, timeout=10)
        assert resp.status_code == 429 and "Retry-After" in resp.headers
        # admin endpoints are never faulted; they can turn the faults off
        assert requests.post(url + "/_emulator/faults", json={}, timeout=10).status_code == 200
        resp = requests.post(
            url + "/v2/vectordb/collections/list",
            json={},
            headers={"Authorization": f"Bearer {zilliz['password']}"},
            timeout=10,
        )
        assert resp.status_code == 200 and resp.json() == {"code": 0, "data": []}
        stats = requests.get(url + "/_emulator/stats", timeout=10).json()["data"]
        assert stats["faults_injected"] == {"429": 1}
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "listening on http://127.0.0.1:" in out and "export AIRFLOW_CONN_ZILLIZ_CLOUD_EMULATOR=" in out
    assert "stopping" in out
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/_emulator/health", timeout=2)


def test_cli_rejects_bad_flags() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "airflow_provider_vectorimport.emulator.cli", "--rate-5xx", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "--rate-5xx" in proc.stderr and "between 0 and 1" in proc.stderr


def test_cli_registers_as_a_subcommand() -> None:
    import argparse

    from airflow_provider_vectorimport.emulator.cli import register, run

    parser = argparse.ArgumentParser(prog="vectorimport")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["emulator", "--port", "9999", "--local-dir", "/tmp/x", "--fail-job-at", "40"])
    assert args.func is run and args.port == 9999 and args.local_dir == "/tmp/x" and args.fail_job_at == 40
    with pytest.raises(SystemExit):
        parser.parse_args(["emulator", "--local-dir", "/tmp/x", "--s3-endpoint", "http://h"])
