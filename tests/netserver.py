"""A raw HTTP/1.1 keep-alive server on 127.0.0.1, optionally over TLS, for transport-level tests:
it counts TCP connections and completed requests, and its handler can answer, stall or trickle.

Also makes self-signed certificates (``cryptography``) for the HTTPS cases.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Answer:
    status: int = 200
    body: Any = None
    #: seconds to wait before answering at all (a stalled server)
    stall: float = 0.0
    #: send the body one byte every ``trickle`` seconds
    trickle: float = 0.0
    #: trickle the header block too (one byte per ``trickle`` seconds)
    trickle_headers: bool = False
    headers: dict[str, str] | None = None


Handler = Callable[[str, str, Any], Answer]


def make_cert(directory: Path, *, names: tuple[str, ...] = ("localhost", "127.0.0.1")) -> tuple[Path, Path]:
    """A self-signed certificate (also usable as its own CA bundle) for ``names``; (cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / f"{names[0]}.crt", directory / f"{names[0]}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock = self.request
        if self.server.tls is not None:
            try:
                sock = self.server.tls.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError):
                self.server.count("handshake_failures")
                return
            self.server.count("handshakes")
        reader = sock.makefile("rb")
        try:
            while not self.server.stopping.is_set():
                line = reader.readline()
                if not line:
                    return
                method, target, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    raw = reader.readline()
                    if raw in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = raw.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length") or 0)
                data = reader.read(length) if length else b""
                body = json.loads(data) if data else None
                self.server.count("requests")
                answer = self.server.handler(method, target, body)
                if not self._answer(sock, answer):
                    return
        except (OSError, ValueError):
            return
        finally:
            reader.close()

    def _answer(self, sock: socket.socket, answer: Answer) -> bool:
        if answer.stall:
            if self.server.stopping.wait(answer.stall):
                return False
        payload = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
        head = f"HTTP/1.1 {answer.status} X\r\nContent-Type: application/json\r\n"
        for name, value in (answer.headers or {}).items():
            head += f"{name}: {value}\r\n"
        head += f"Content-Length: {len(payload)}\r\n\r\n"
        if answer.trickle:
            data = head.encode() + payload if answer.trickle_headers else payload
            if not answer.trickle_headers:
                sock.sendall(head.encode())
            for i in range(len(data)):
                if self.server.stopping.wait(answer.trickle):
                    return False
                sock.sendall(data[i : i + 1])
            return True
        sock.sendall(head.encode() + payload)
        return True


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.handler = handler
        self.tls = tls
        self.stopping = threading.Event()
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def count(self, name: str) -> None:
        with self._lock:
            self.counts[name] = self.counts.get(name, 0) + 1

    def process_request(self, request: Any, client_address: Any) -> None:
        self.count("connections")
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:  # quiet: clients hang up
        pass


class NetServer:
    """``with NetServer(handler, cert=(crt, key)) as srv: srv.url, srv.counts["connections"]``."""

    def __init__(self, handler: Handler, *, cert: tuple[Path, Path] | None = None) -> None:
        tls = None
        if cert is not None:
            tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls.load_cert_chain(str(cert[0]), str(cert[1]))
        self._server = _Server(handler, tls)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="netserver")

    @property
    def url(self) -> str:
        scheme = "https" if self._server.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    @property
    def counts(self) -> dict[str, int]:
        return dict(self._server.counts)

    def __enter__(self) -> NetServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
