"""What the UI's connection **Test** button says: one read-only call, and which setting is wrong.

Every hook's ``test_connection`` runs one cheap read-only call (list one import job, list one
VikingDB task, head the bucket) through :func:`run_connection_test`, bounded by a short deadline so a
host that does not answer fails the button in seconds, not after the full retry budget. The
exception the call raised is turned into a sentence that starts with what to fix:

* ``Unauthorized`` -- the key (or AK/SK, token) was refused;
* ``Forbidden`` -- the credentials are valid but may not do this;
* ``Not found`` -- a wrong cluster id, region, project, endpoint path or bucket;
* ``Unreachable`` -- no answer from the host (name, port, network, proxy);
* ``TLS`` -- the certificate did not verify (``ca_bundle`` extra);
* ``Invalid setting`` -- the connection's fields are incomplete or contradict each other;
* ``Rejected`` -- any other answer of the service, with its code and message.

The service's message follows; secrets never do (the HTTP core masks them in every message).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_vectorimport.exceptions import (
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    PermissionDeniedError,
    ServiceError,
    TlsError,
    TransportError,
)

#: seconds the Test button may take, retries included
TEST_DEADLINE_SECONDS = 15.0

OK_MESSAGE = "Connection successfully tested"

# (exception class, what the user should check); the first match wins, so subclasses come first
_EXPLANATIONS: tuple[tuple[type[BaseException], str, str], ...] = (
    (AuthenticationError, "Unauthorized", "the service refused the credentials; check {credentials}"),
    (PermissionDeniedError, "Forbidden", "the credentials are valid but not allowed to do this"),
    (NotFoundError, "Not found", "check {locator}"),
    (TlsError, "TLS", "the server's certificate did not verify; set the ca_bundle extra"),
    (TransportError, "Unreachable", "no answer from {endpoint}; check the host, port, network or proxy"),
    (ConfigurationError, "Invalid setting", "fix the connection's fields"),
    (ServiceError, "Rejected", "the service refused the request"),
)


def _is_unreachable(exc: BaseException) -> bool:
    """Connection failures raised by clients other than our HTTP core (botocore, the Azure/GCS SDKs)."""
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    try:
        from botocore.exceptions import ConnectionError as BotoConnectionError
    except ImportError:  # pragma: no cover - boto3 is a core dependency
        return False
    return isinstance(exc, BotoConnectionError)


def explain_connection_error(
    exc: BaseException,
    *,
    credentials: str = "the API key",
    locator: str = "the endpoint",
    endpoint: str = "the host",
) -> str:
    """``"<Kind>: <what to check> (<the error>)"`` for the Test button."""
    if _is_unreachable(exc):
        return f"Unreachable: no answer from {endpoint}; check the host, port, network or proxy ({exc})"
    for kind, label, advice in _EXPLANATIONS:
        if isinstance(exc, kind):
            what = advice.format(credentials=credentials, locator=locator, endpoint=endpoint)
            return f"{label}: {what} ({exc})"
    return f"Error: {type(exc).__name__}: {exc}"


def run_connection_test(
    call: Callable[[], Any],
    hints: Callable[[], Mapping[str, str]] = dict,
    *,
    deadline_seconds: float = TEST_DEADLINE_SECONDS,
) -> tuple[bool, str]:
    """Run ``call`` under a deadline; ``(True, OK_MESSAGE)`` or ``(False, what is wrong)``.

    ``hints()`` gives the wording of what to check (``credentials``, ``locator``, ``endpoint``, see
    :func:`explain_connection_error`); it reads the connection, so it runs inside the test too: a
    connection that cannot be read is reported like any other wrong setting."""
    from airflow_provider_vectorimport.http import deadline_scope

    words: Mapping[str, str] = {}
    try:
        words = hints()
        with deadline_scope(time.time() + deadline_seconds):
            call()
    except Exception as exc:
        return False, explain_connection_error(exc, **words)
    return True, OK_MESSAGE
