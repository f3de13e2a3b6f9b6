"""Deterministic fault injection (seeded): a share of requests answered 429 with Retry-After, 5xx,
dropped connections, added latency; plus request counters. Used as the HTTP server's middleware.
Admin requests (``/_emulator/...``) are never faulted.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from airflow_provider_vectorimport.emulator.core import Request, Response

ADMIN_PREFIX = "/_emulator/"
VIKINGDB_PREFIX = "/api/"  # VikingDB answers faults with its own codes (1000029 quota, 1000028 internal)


SCRIPT_FAULTS = frozenset({"429", "drop", "lost_response", "status_after", "delay_after"})
SCRIPT_KEYS = frozenset({"path", "fault", "status", "retry_after", "delay_ms"})
_AFTER_FAULTS = frozenset({"lost_response", "status_after", "delay_after"})


@dataclass
class FaultConfig:
    rate_429: float = 0.0
    rate_5xx: float = 0.0
    rate_drop: float = 0.0
    #: share of requests that are *processed* but whose answer is lost (connection dropped after
    #: the work): a create whose response is lost really created the job - the retry case
    rate_lost_response: float = 0.0
    latency_ms: float = 0.0
    #: every import job created while this is set fails when its progress reaches this percentage
    fail_job_at_percent: float | None = None
    seed: int | None = None
    #: only requests whose path starts with one of these are faulted (None: all service paths)
    paths: list[str] | None = None
    retry_after: int = 1
    status_5xx: int = 503
    #: one-shot faults, each consumed by the first later request whose path equals its ``path``
    #: (in order; no ``path``: any service request), for deterministic tests. ``fault``:
    #:
    #: * ``"429"``: answered 429 with ``Retry-After: retry_after`` (seconds), not processed;
    #: * ``"drop"``: the connection is reset after the request was sent, before any processing;
    #: * ``"lost_response"``: processed (a create creates its job), then the connection is reset;
    #: * ``"status_after"``: processed, then answered ``status`` (502/504) like a gateway would;
    #: * ``"delay_after"``: processed, then answered only after ``delay_ms`` (a client read timeout).
    script: list[dict[str, Any]] | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> FaultConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown fault setting(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        cfg = cls(**dict(data))
        cfg.validate()
        return cfg

    def validate(self) -> None:
        for name in ("rate_429", "rate_5xx", "rate_drop", "rate_lost_response"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
        if self.rate_429 + self.rate_5xx + self.rate_drop > 1:
            raise ValueError("rate_429 + rate_5xx + rate_drop must not exceed 1")
        if not isinstance(self.latency_ms, int | float) or self.latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {self.latency_ms!r}")
        if self.fail_job_at_percent is not None and not 0 <= float(self.fail_job_at_percent) <= 100:
            raise ValueError(f"fail_job_at_percent must be in [0, 100], got {self.fail_job_at_percent!r}")
        if self.paths is not None and (
            not isinstance(self.paths, list) or not all(isinstance(p, str) for p in self.paths)
        ):
            raise ValueError("paths must be a list of path prefixes")
        if not 500 <= int(self.status_5xx) <= 599:
            raise ValueError(f"status_5xx must be a 5xx status, got {self.status_5xx!r}")
        for i, step in enumerate(self.script or []):
            if not isinstance(step, Mapping):
                raise ValueError(f"script[{i}] must be an object")
            unknown = sorted(set(step) - SCRIPT_KEYS)
            if unknown:
                raise ValueError(f"script[{i}]: unknown key(s) {', '.join(unknown)}")
            if step.get("fault") not in SCRIPT_FAULTS:
                raise ValueError(
                    f"script[{i}].fault must be one of {', '.join(sorted(SCRIPT_FAULTS))}, got {step.get('fault')!r}"
                )
            if not isinstance(step.get("path", ""), str):
                raise ValueError(f"script[{i}].path must be a path prefix")
            if step["fault"] == "status_after" and not 500 <= int(step.get("status", 502)) <= 599:
                raise ValueError(f"script[{i}].status must be a 5xx status")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FaultInjector:
    config: FaultConfig = field(default_factory=FaultConfig)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(self.config.seed)
        self.requests: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self._script: list[dict[str, Any]] = list(self.config.script or [])
        self._pending_after: dict[int, dict[str, Any]] = {}

    def configure(self, config: FaultConfig) -> None:
        with self._lock:
            self.config = config
            self._rng = random.Random(config.seed)
            self._script = [dict(step) for step in config.script or []]

    def _take_scripted(self, request: Request) -> dict[str, Any] | None:
        for i, step in enumerate(self._script):
            if not step.get("path") or request.path.rstrip("/") == step["path"].rstrip("/"):
                self.injected[f"scripted_{step['fault']}"] += 1
                return self._script.pop(i)
        return None

    def _scripted_before(self, request: Request, step: dict[str, Any]) -> Response | None:
        if step["fault"] == "429":
            retry_after = str(step.get("retry_after", 1))
            body = {"code": 429, "message": "rate limit exceeded (injected by the emulator)"}
            return Response(429, body, {"Retry-After": retry_after})
        if step["fault"] == "drop":
            return Response(200, None, {"X-Emulator-Drop": "1"})
        self._pending_after[id(request)] = step
        return None

    @staticmethod
    def _scripted_after(step: dict[str, Any], response: Response) -> Response:
        if step["fault"] == "lost_response":
            return Response(200, None, {"X-Emulator-Drop": "1"})
        if step["fault"] == "status_after":
            status = int(step.get("status", 502))
            return Response(status, f"<html><body>{status} Gateway error (injected)</body></html>")
        time.sleep(float(step.get("delay_ms", 1000)) / 1000.0)  # delay_after
        return response

    def reset(self) -> None:
        with self._lock:
            self.config = FaultConfig()
            self._rng = random.Random(None)
            self.requests.clear()
            self.injected.clear()
            self._script = []
            self._pending_after.clear()

    def __call__(self, request: Request) -> Response | None:
        if request.path.startswith(ADMIN_PREFIX):
            return None
        with self._lock:
            self.requests[request.path] += 1
            step = self._take_scripted(request)
            if step is not None:
                return self._scripted_before(request, step)
            cfg = self.config
            if cfg.paths is not None and not any(request.path.startswith(p) for p in cfg.paths):
                return None
            roll = self._rng.random()
            if roll < cfg.rate_429:
                kind = "429"
            elif roll < cfg.rate_429 + cfg.rate_5xx:
                kind = "5xx"
            elif roll < cfg.rate_429 + cfg.rate_5xx + cfg.rate_drop:
                kind = "drop"
            else:
                kind = ""
            if kind:
                self.injected[kind] += 1
            latency = cfg.latency_ms
        if latency:
            time.sleep(latency / 1000.0)
        viking = request.path.startswith(VIKINGDB_PREFIX)
        if kind == "429":
            body = (
                {
                    "code": 1000029,
                    "message": "quota limit (injected by the emulator)",
                    "request_id": "emulator",
                }
                if viking
                else {"code": 429, "message": "rate limit exceeded (injected by the emulator)"}
            )
            return Response(429, body, {"Retry-After": str(cfg.retry_after)})
        if kind == "5xx":
            body = (
                {
                    "code": 1000028,
                    "message": "Internal error (injected by the emulator)",
                    "request_id": "emulator",
                }
                if viking
                else {"code": cfg.status_5xx, "message": "service unavailable (injected by the emulator)"}
            )
            return Response(cfg.status_5xx, body)
        if kind == "drop":
            return Response(200, None, {"X-Emulator-Drop": "1"})
        return None

    def after(self, request: Request, response: Response) -> Response:
        """Lose the answer of a processed request (``rate_lost_response``)."""
        if request.path.startswith(ADMIN_PREFIX):
            return response
        with self._lock:
            step = self._pending_after.pop(id(request), None)
        if step is not None:
            return self._scripted_after(step, response)
        with self._lock:
            cfg = self.config
            if not cfg.rate_lost_response:
                return response
            if cfg.paths is not None and not any(request.path.startswith(p) for p in cfg.paths):
                return response
            if self._rng.random() >= cfg.rate_lost_response:
                return response
            self.injected["lost_response"] += 1
        return Response(200, None, {"X-Emulator-Drop": "1"})
