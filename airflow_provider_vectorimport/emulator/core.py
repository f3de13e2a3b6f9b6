"""The emulator's HTTP plumbing: a threaded HTTP server on 127.0.0.1 dispatching to service
handlers. Each service is an object with ``handle(request) -> Response | None`` (``None``: not my
route). Kept free of service logic so every service emulation plugs in the same way.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

log = logging.getLogger(__name__)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    raw_path: str = ""  # path with the query string, as sent

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        """The JSON body; raises ValueError on a malformed one."""
        if not self.body:
            return {}
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class Service(Protocol):
    def handle(self, request: Request) -> Response | None: ...


Middleware = Callable[[Request], Response | None]
"""Runs before dispatch (fault injection, latency...). A Response short-circuits the request;
the special header ``X-Emulator-Drop: 1`` on it means: close the connection without answering."""

AfterHook = Callable[[Request, Response], Response]
"""Runs after a service answered (e.g. lose the response of a request that *was* processed)."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet by default
        log.debug("emulator: " + format, *args)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=split.path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            raw_path=self.path,
        )
        response = self.server.dispatch(request)
        if response.headers.get("X-Emulator-Drop"):
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return
        if isinstance(response.body, bytes | bytearray):
            payload = bytes(response.body)
            ctype = response.headers.get("Content-Type", "application/octet-stream")
        elif isinstance(response.body, str):
            payload = response.body.encode()
            ctype = response.headers.get("Content-Type", "text/plain; charset=utf-8")
        else:
            payload = json.dumps(response.body).encode()
            ctype = "application/json"
        self.send_response(response.status)
        for name, value in response.headers.items():
            if name.lower() != "content-type":
                self.send_header(name, value)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        services: Sequence[Service],
        middleware: Sequence[Middleware],
        after: Sequence[AfterHook] = (),
    ):
        super().__init__(address, _Handler)
        self.services = list(services)
        self.middleware = list(middleware)
        self.after = list(after)

    def dispatch(self, request: Request) -> Response:
        try:
            for hook in self.middleware:
                early = hook(request)
                if early is not None:
                    return early
            for service in self.services:
                response = service.handle(request)
                if response is not None:
                    break
            else:
                response = Response(
                    404, {"code": 404, "message": f"no route {request.method} {request.path}"}
                )
            for hook_after in self.after:
                response = hook_after(request, response)
            return response
        except Exception as exc:  # an emulator bug must look like a 500, not a hung client
            log.exception("emulator error on %s %s", request.method, request.path)
            return Response(500, {"code": 500, "message": f"emulator internal error: {exc!r}"})


class HTTPServerThread:
    """Serve ``services`` on ``host:port`` (0 = a free port) in a background thread."""

    def __init__(
        self,
        services: Sequence[Service],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        middleware: Sequence[Middleware] = (),
        after: Sequence[AfterHook] = (),
    ) -> None:
        self._server = _Server((host, port), services, middleware, after)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="vectorimport-emulator", daemon=True
        )

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def add_service(self, service: Service) -> None:
        self._server.services.append(service)

    def replace_service(self, old: Service, new: Service) -> None:
        """Swap a mounted service (e.g. a fresh instance on reset); appends when ``old`` is absent."""
        services = self._server.services
        if old in services:
            services[services.index(old)] = new  # in place: services mounted after it stay
        else:
            services.append(new)

    def add_middleware(self, hook: Middleware) -> None:
        self._server.middleware.append(hook)

    def start(self) -> HTTPServerThread:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HTTPServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
