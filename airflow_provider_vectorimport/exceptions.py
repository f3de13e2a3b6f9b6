"""Typed errors shared by every service client of the provider.

Each service answers errors in its JSON body (often with HTTP 200); the HTTP core turns those into
``ServiceError`` subclasses carrying the service name, the body code, the message, the HTTP status
and the request id, so callers never meet a bare ``KeyError`` from a surprising payload.
"""

from __future__ import annotations

from typing import Any


class VectorImportError(Exception):
    """Base class of every error raised by this provider."""


class ConfigurationError(VectorImportError, ValueError):
    """Bad arguments or connection settings, detected before any request is sent."""


class ServiceError(VectorImportError):
    """An error answered by a remote service (body code != success, or an HTTP error)."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        service: str = "",
        code: int | str | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
        payload: Any = None,
    ) -> None:
        self.service = service
        self.code = code
        self.message = message
        self.http_status = http_status
        self.request_id = request_id
        self.payload = payload
        parts = [f"{service or 'service'} error"]
        if code is not None:
            parts.append(f"code={code}")
        if http_status is not None:
            parts.append(f"http={http_status}")
        if request_id:
            parts.append(f"request_id={request_id}")
        super().__init__(f"{' '.join(parts)}: {message}")


class AuthenticationError(ServiceError):
    """Bad or missing credentials (never retried)."""


class PermissionDeniedError(ServiceError):
    """Credentials are valid but not allowed to do this (never retried)."""


class NotFoundError(ServiceError):
    """The job, task, cluster or collection does not exist."""


class InvalidRequestError(ServiceError):
    """The service rejected the parameters (never retried)."""


class RetryableServiceError(ServiceError):
    """Rate limits, internal errors and other transient failures; retried with backoff."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class TransportError(VectorImportError):
    """Connection refused/reset, read timeout, or an unparseable response after all retries."""

    retryable = True


class JobFailedError(VectorImportError):
    """A bulk import / export job ended in a failed state."""

    def __init__(self, message: str, *, job_id: str | None = None, summary: dict[str, Any] | None = None):
        self.job_id = job_id
        self.summary = summary or {}
        super().__init__(message)


class TlsError(TransportError):
    """The server's certificate did not verify (or the TLS handshake failed). Never retried, and
    never "fixed" by retrying without verification: set the connection's ``ca_bundle`` extra."""

    retryable = False


class DeadlineExceeded(TransportError):
    """The caller's deadline passed before a request (with its retries) could get an answer."""

    retryable = False
