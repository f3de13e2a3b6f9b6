"""The import ``options`` map, encoded as Milvus decodes it (pure; no I/O).

Milvus binds ``options`` to ``map[string]string`` (``internal/distributed/proxy/httpserver/request_v2.go``
``ImportReq.Options``): a JSON boolean or number does not bind, and the request is refused
(milvus-sdk-cpp#539). ``auto_commit`` must be one of ``"true"`` or ``"false"`` (milvus#50460), and
``timeout`` is parsed by Go's ``time.ParseDuration`` ("such as "300s", "1.5h" or "1h45m"",
``internal/util/importutilv2/option.go``). Zilliz Cloud v2 gets the same map (that it forwards the
options to Milvus unchanged is inferred). Sources: ``shared/reference/api-audit-2026-12.md`` §1.5.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from airflow_provider_vectorimport.exceptions import ConfigurationError

#: options whose value is a boolean on the server (``"true"`` / ``"false"``)
BOOLEAN_OPTIONS = frozenset({"auto_commit", "backup", "l0_import", "skip_disk_quota_check"})
#: options whose value is a Go duration
DURATION_OPTIONS = frozenset({"timeout"})

# Go time.ParseDuration: a sequence of decimal numbers with a unit ("300s", "1.5h", "1h45m", "2h0m0.5s")
_GO_DURATION = re.compile(r"^[+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def _boolean(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "false"):
            return lowered
    raise ConfigurationError(
        f'options[{name!r}] = {value!r}: Milvus accepts only "true" or "false" here '
        "(pass True / False or one of those strings)"
    )


def _duration(name: str, value: Any) -> str:
    if isinstance(value, bool):
        pass  # a boolean is not a duration
    elif isinstance(value, int | float) and math.isfinite(value) and value > 0:
        number = int(value) if float(value).is_integer() else value
        return f"{number}s"
    elif isinstance(value, str) and _GO_DURATION.match(value.strip()):
        return value.strip()
    raise ConfigurationError(
        f'options[{name!r}] = {value!r}: give seconds as a positive number (300 -> "300s") or a '
        'duration with a unit as Milvus parses it ("300s", "1.5h", "1h45m")'
    )


def encode_options(options: Mapping[str, Any] | None) -> dict[str, str]:
    """The options as the string map Milvus decodes: booleans ``"true"``/``"false"``, ``timeout``
    as a duration with a unit (a number of seconds becomes ``"<n>s"``), other numbers as decimal
    strings, strings unchanged. A value of the wrong form (a nested map or list, None, a boolean
    option that is not a boolean, a timeout without a unit) is a ConfigurationError naming the
    option and the accepted forms, raised before any request."""
    encoded: dict[str, str] = {}
    for raw_name, value in (options or {}).items():
        name = str(raw_name)
        if not name.strip():
            raise ConfigurationError("options: an option name is empty")
        if name in BOOLEAN_OPTIONS:
            encoded[name] = _boolean(name, value)
        elif name in DURATION_OPTIONS:
            encoded[name] = _duration(name, value)
        elif isinstance(value, bool):
            encoded[name] = "true" if value else "false"
        elif isinstance(value, int | float):
            if not math.isfinite(value):
                raise ConfigurationError(f"options[{name!r}] = {value!r}: not a finite number")
            encoded[name] = str(value)
        elif isinstance(value, str):
            encoded[name] = value
        else:
            raise ConfigurationError(
                f"options[{name!r}] = {value!r:.80}: Milvus reads options as a map of strings; "
                "give a string, a number or a boolean (no nested maps, lists or null)"
            )
    return encoded


def auto_commit_disabled(options: Mapping[str, Any] | None) -> bool:
    """Does ``options`` ask for two-phase commit (``auto_commit=false``)? (validates the value)"""
    if not options or "auto_commit" not in options:
        return False
    return _boolean("auto_commit", options["auto_commit"]) == "false"
