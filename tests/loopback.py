"""A scripted HTTP service on 127.0.0.1 for narrow protocol cases (errors with HTTP 200, 429 with
Retry-After, 5xx, dropped connections) where the full emulator would be in the way.

Routes answer from a script: a list of responses consumed in order, the last one repeating. Every
request is recorded (method, path, query, headers, JSON body) so tests check exactly what was sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_vectorimport.emulator.core import HTTPServerThread, Request, Response

DROP = Response(200, None, {"X-Emulator-Drop": "1"})


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class ScriptedService:
    routes: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)

    def script(self, method: str, path: str, *responses: Response | Callable[[Request], Response]) -> None:
        self.routes[(method, path)] = list(responses)

    def handle(self, request: Request) -> Response | None:
        body = None
        if request.body:
            try:
                body = json.loads(request.body)
            except ValueError:
                body = request.body
        self.requests.append(Recorded(request.method, request.path, request.query, request.headers, body))
        script = self.routes.get((request.method, request.path))
        if not script:
            return Response(404, {"code": 404, "message": f"no route {request.method} {request.path}"})
        item = script.pop(0) if len(script) > 1 else script[0]
        return item(request) if callable(item) else item

    def calls(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]


def ok(data: Any, code: int = 0) -> Response:
    return Response(200, {"code": code, "data": data})


def serve(service: ScriptedService) -> HTTPServerThread:
    return HTTPServerThread([service]).start()
