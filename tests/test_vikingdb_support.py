"""Shared set-up for the VikingDB tests: the signature-verifying emulator on 127.0.0.1 and
``vikingdb`` connections (env ``AIRFLOW_CONN_*`` JSON) pointing at it. No tests in here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_vectorimport.emulator.core import HTTPServerThread
from airflow_provider_vectorimport.emulator.vikingdb import InMemoryVikingDBBackend, VikingDBEmulator

AK = "AKLTtestaccesskey"
SK = "vikingdb-secret-key-Zx9=="
ROWS = [
    {"id": i, "user_id": i % 10, "city": ["beijing", "shanghai", "shenzhen"][i % 3], "vec": [float(i), 0.5]}
    for i in range(60)
]


@dataclass
class VikingDBEnv:
    server: HTTPServerThread
    emulator: VikingDBEmulator
    backend: InMemoryVikingDBBackend
    conn_id: str
    root: Path | None


def conn_json(server: HTTPServerThread, *, ak: str = AK, sk: str = SK, **extra: Any) -> str:
    extras = {"scheme": "http", "max_attempts": 4, "backoff_initial": 0.05, "backoff_max": 0.2, **extra}
    return json.dumps(
        {
            "conn_type": "vikingdb",
            "login": ak,
            "password": sk,
            "host": server.host,
            "port": server.port,
            "extra": extras,
        }
    )


_MOUNTED: dict[int, VikingDBEmulator] = {}


def shared_server() -> Iterator[HTTPServerThread]:
    """Body of a module-scoped ``vikingdb_server`` fixture: one loopback server per module; each test
    mounts a fresh emulator on it (``start_env(..., server=vikingdb_server)``), which saves the
    server's 0.5 s shutdown per test."""
    server = HTTPServerThread([]).start()
    try:
        yield server
    finally:
        server.stop()


def start_env(
    monkeypatch: pytest.MonkeyPatch,
    *,
    root: Path | None = None,
    s3_client: Any = None,
    pace: float = 0.05,
    conn_id: str = "vikingdb_test",
    server: HTTPServerThread | None = None,
    **extra: Any,
) -> VikingDBEnv:
    """A fresh emulator (collection ``demo`` = ROWS) on its own server, or mounted on ``server``
    in place of the previous test's; the connection ``conn_id`` points at it."""
    backend = InMemoryVikingDBBackend({"demo": list(ROWS)}, s3_client=s3_client, local_root=root)
    emulator = VikingDBEmulator({AK: SK}, backend, pace_seconds=pace)
    if server is None:
        server = HTTPServerThread([emulator]).start()
    else:
        server.replace_service(_MOUNTED.get(id(server)), emulator)  # type: ignore[arg-type]
        _MOUNTED[id(server)] = emulator
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", conn_json(server, **extra))
    return VikingDBEnv(server, emulator, backend, conn_id, root)
