"""The sync half of the HTTP core's total timeout: ``requests`` has per-read timeouts only, so a
server trickling one byte at a time could hold a call forever. A :class:`TotalTimeout` (armed per
attempt by :class:`~airflow_provider_vectorimport.http.HttpClient`) shuts the attempt's socket down
when its time is up; the urllib3 connection classes below hand it their socket once the request is
sent. Imported only by sync clients, so triggers never load ``requests``."""

from __future__ import annotations

import socket
import threading
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_guard_local = threading.local()


class TotalTimeout:
    """Cuts the sockets of one sync attempt when its total time is up (a trickling server would
    otherwise satisfy every per-read timeout forever). Watches the connections this thread sends
    requests on until :meth:`cancel`."""

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, seconds), self._fire)
        self._timer.daemon = True
        self._timer.start()
        _guard_local.guard = self

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._socks.append(sock)
            fired = self.fired
        if fired:
            _cut(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            socks = list(self._socks)
        for sock in socks:
            _cut(sock)

    def cancel(self) -> None:
        _guard_local.guard = None
        self._timer.cancel()


def _cut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _WatchedMixin:
    sock: socket.socket | None

    def request(self, *args: Any, **kwargs: Any) -> Any:
        result = super().request(*args, **kwargs)  # type: ignore[misc]
        guard = getattr(_guard_local, "guard", None)
        if guard is not None:
            guard.watch(self.sock)
        return result


class _WatchedHTTPConnection(_WatchedMixin, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedMixin, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


def new_session(pool_maxsize: int) -> requests.Session:
    session = requests.Session()
    adapter = _WatchedAdapter(pool_connections=4, pool_maxsize=pool_maxsize)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
