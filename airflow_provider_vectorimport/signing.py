"""Volcengine request signing (``HMAC-SHA256``, "SignerV4"), pure Python, no SDK at run time.

Byte-for-byte the algorithm of ``volcengine.auth.SignerV4.SignerV4.sign`` (volcengine 1.0.x):

* ``X-Date`` = ``YYYYMMDDTHHMMSSZ`` (UTC); ``X-Content-Sha256`` = hex sha256 of the body;
  ``X-Security-Token`` when STS credentials carry a session token;
* a non-GET request without ``Content-Type`` gets ``application/x-www-form-urlencoded; charset=utf-8``;
* signed headers: ``Content-Type``, ``Content-Md5``, ``Host`` and every ``X-*`` header, lower-cased and
  sorted; a ``Host`` ending in ``:80`` / ``:443`` is signed without the port;
* canonical request: ``method \\n uri \\n query \\n (name:value\\n)* \\n signed;list \\n body-hash``
  where uri = ``quote(path, safe="/")`` and query = keys sorted, every value of a repeated key in order,
  ``quote(.., safe="-_.~")``;
* scope ``{YYYYMMDD}/{region}/{service}/request``; string to sign
  ``HMAC-SHA256\\n{x-date}\\n{scope}\\n{hex sha256(canonical request)}``;
* key chain ``HMAC(sk, date) -> region -> service -> "request"`` (no prefix on the secret key);
* ``Authorization: HMAC-SHA256 Credential={ak}/{scope}, SignedHeaders={list}, Signature={hex}``.

One deliberate difference: this module matches header *names* case-insensitively (HTTP semantics),
where the SDK only signs the exact spellings ``Content-Type``/``Content-Md5``/``Host``/``X-...``. For
headers spelled that way (everything this provider sends) the output is identical.

The same functions verify a signature (:func:`verify_request`), which the local emulator uses.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

ALGORITHM = "HMAC-SHA256"
DEFAULT_FORM_CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"
_ALWAYS_SIGNED = ("content-type", "content-md5", "host")

QueryInput = Mapping[str, Any] | Iterable[tuple[str, str]] | None


@dataclass(frozen=True)
class SigningCredentials:
    """Access key, secret key, region, service and an optional STS session token.

    ``repr`` never shows the secret key or the token.
    """

    access_key: str
    secret_key: str = field(repr=False)
    region: str = "cn-north-1"
    service: str = "air"
    session_token: str | None = field(default=None, repr=False)


class SignatureError(ValueError):
    """A request whose signature does not verify (the emulator answers 401 / 1000001)."""


def format_x_date(when: dt.datetime | float | None = None) -> str:
    """``YYYYMMDDTHHMMSSZ`` in UTC for a datetime, an epoch timestamp or now."""
    if when is None:
        when = time.time()
    if isinstance(when, int | float):
        when = dt.datetime.fromtimestamp(when, tz=dt.UTC)
    elif when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def parse_x_date(value: str) -> dt.datetime:
    """The inverse of :func:`format_x_date`; raises ``ValueError`` on anything else."""
    return dt.datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)


def sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, content: str) -> bytes:
    return hmac.new(key, content.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """``HMAC(sk, date) -> region -> service -> "request"``."""
    k_date = _hmac(secret_key.encode("utf-8"), date)
    k_region = _hmac(k_date, region)
    k_service = _hmac(k_region, service)
    return _hmac(k_service, "request")


@functools.lru_cache(maxsize=32)
def _day_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """:func:`signing_key`, derived once per secret, day, region and service (four HMACs a
    request add up: a triggerer polling 1,000 VikingDB tasks signs 200 requests a second). Held in
    this process's memory only, like the credentials it comes from."""
    return signing_key(secret_key, date, region, service)


def canonical_uri(path: str) -> str:
    """The unencoded path, percent-encoded as the SDK does (``/`` kept, empty path = ``/``)."""
    return quote(path or "/").replace("%2F", "/").replace("+", "%20")


def _query_items(query: QueryInput) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    if not query:
        return grouped
    items: Iterable[tuple[str, Any]]
    items = query.items() if isinstance(query, Mapping) else query
    for key, value in items:
        values = value if isinstance(value, list | tuple) else [value]
        grouped.setdefault(str(key), []).extend(str(v) for v in values)
    return grouped


def canonical_query(query: QueryInput) -> str:
    """Keys sorted; each value of a repeated key, in order; RFC 3986 unreserved chars kept."""
    grouped = _query_items(query)
    parts = [
        f"{quote(key, safe='-_.~')}={quote(value, safe='-_.~')}"
        for key in sorted(grouped)
        for value in grouped[key]
    ]
    return "&".join(parts).replace("+", "%20")


def _is_signed_header(name: str) -> bool:
    lower = name.lower()
    return lower in _ALWAYS_SIGNED or lower.startswith("x-")


def _signed_header_map(headers: Mapping[str, str], names: Sequence[str] | None = None) -> dict[str, str]:
    """Lower-cased name -> value of the headers that are (or, with ``names``, were) signed."""
    signed: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if (names is None and _is_signed_header(name)) or (names is not None and lower in names):
            signed[lower] = str(value)
    host = signed.get("host")
    if host is not None and ":" in host:
        split = host.split(":")
        if split[1] in ("80", "443"):
            signed["host"] = split[0]
    return signed


def canonical_request(
    method: str,
    path: str,
    query: QueryInput,
    signed_headers: Mapping[str, str],
    body_hash: str,
) -> tuple[str, str]:
    """(canonical request, ``;``-joined signed header names) from already-selected headers."""
    names = sorted(signed_headers)
    block = "".join(f"{name}:{signed_headers[name]}\n" for name in names)
    signed_list = ";".join(names)
    creq = "\n".join(
        [method.upper(), canonical_uri(path), canonical_query(query), block, signed_list, body_hash]
    )
    return creq, signed_list


def _signature(credentials_sk: str, x_date: str, region: str, service: str, creq: str) -> tuple[str, str]:
    date = x_date[:8]
    scope = f"{date}/{region}/{service}/request"
    string_to_sign = "\n".join([ALGORITHM, x_date, scope, sha256_hex(creq)])
    key = _day_key(credentials_sk, date, region, service)
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest(), scope


def sign_request(
    method: str,
    path: str,
    query: QueryInput,
    headers: Mapping[str, str],
    body: bytes | str,
    credentials: SigningCredentials,
    *,
    x_date: str | None = None,
) -> dict[str, str]:
    """Sign one request; return the headers to add (``X-Date``, ``X-Content-Sha256``,
    ``X-Security-Token`` with STS, a default ``Content-Type`` for non-GET, ``Authorization``).

    ``path`` is the unencoded path; ``query`` a mapping (list values for repeated keys) or pairs.
    """
    x_date = x_date or format_x_date()
    add: dict[str, str] = {}
    present = {name.lower() for name in headers}
    if method.upper() != "GET" and "content-type" not in present:
        add["Content-Type"] = DEFAULT_FORM_CONTENT_TYPE
    add["X-Date"] = x_date
    if credentials.session_token:
        add["X-Security-Token"] = credentials.session_token
    body_hash = sha256_hex(body or b"")
    add["X-Content-Sha256"] = body_hash
    # added headers replace any same-named header (case-insensitively) from ``headers``
    merged = {k: v for k, v in headers.items() if k.lower() not in {a.lower() for a in add}}
    merged.update(add)
    creq, signed_list = canonical_request(method, path, query, _signed_header_map(merged), body_hash)
    signature, scope = _signature(
        credentials.secret_key, x_date, credentials.region, credentials.service, creq
    )
    add["Authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={signed_list}, Signature={signature}"
    )
    return add


def split_url(url: str) -> tuple[str, list[tuple[str, str]], str]:
    """(unencoded path, query pairs in order, host[:port]) of a URL as an HTTP client sends it."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    return unquote(parts.path) or "/", pairs, parts.netloc


class VolcengineSigner:
    """A :data:`airflow_provider_vectorimport.http.Signer`: signs every attempt with a fresh
    ``X-Date`` and pins the ``Host`` header it signed. ``clock`` is injectable for tests."""

    def __init__(self, credentials: SigningCredentials, *, clock: Any = time.time) -> None:
        self.credentials = credentials
        self._clock = clock

    def __repr__(self) -> str:
        return f"VolcengineSigner({self.credentials!r})"

    def __call__(self, method: str, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
        path, query, netloc = split_url(url)
        merged = dict(headers)
        add: dict[str, str] = {}
        if not any(name.lower() == "host" for name in merged):
            add["Host"] = netloc
            merged["Host"] = netloc
        add.update(
            sign_request(
                method, path, query, merged, body, self.credentials, x_date=format_x_date(self._clock())
            )
        )
        return add


_AUTH_RE = re.compile(
    r"^HMAC-SHA256 Credential=(?P<ak>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]+)/(?P<service>[^/,\s]+)"
    r"/request, SignedHeaders=(?P<signed>[a-z0-9;_.-]+), Signature=(?P<sig>[0-9a-f]{64})$"
)


@dataclass(frozen=True)
class ParsedAuthorization:
    access_key: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str | None) -> ParsedAuthorization:
    """Split an ``Authorization`` header; :class:`SignatureError` when it is not SignerV4."""
    match = _AUTH_RE.match((value or "").strip())
    if not match:
        raise SignatureError("missing or malformed Authorization header")
    return ParsedAuthorization(
        access_key=match["ak"],
        date=match["date"],
        region=match["region"],
        service=match["service"],
        signed_headers=tuple(match["signed"].split(";")),
        signature=match["sig"],
    )


def verify_request(
    method: str,
    raw_path: str,
    headers: Mapping[str, str],
    body: bytes,
    secret_for: Mapping[str, str],
    *,
    region: str,
    service: str,
    now: float | None = None,
    max_skew_seconds: float = 900,
    session_token_for: Mapping[str, str] | None = None,
) -> str:
    """Recompute the signature of a received request as the service would; return the access key.

    ``raw_path`` is the request target as received (path and query, percent-encoded); ``headers``
    are the received headers (any case). Raises :class:`SignatureError` naming what is wrong (an
    unknown key, a wrong scope, a stale ``X-Date``, a body that does not match ``X-Content-Sha256``,
    an unsigned mandatory header, or a signature mismatch).
    """
    lower = {k.lower(): v for k, v in headers.items()}
    auth = parse_authorization(lower.get("authorization"))
    secret = secret_for.get(auth.access_key)
    if secret is None:
        raise SignatureError(f"unknown access key {auth.access_key!r}")
    if auth.region != region or auth.service != service:
        raise SignatureError(f"credential scope {auth.region}/{auth.service} is not {region}/{service}")
    x_date = lower.get("x-date", "")
    try:
        when = parse_x_date(x_date)
    except ValueError:
        raise SignatureError(f"missing or malformed X-Date {x_date!r}") from None
    if x_date[:8] != auth.date:
        raise SignatureError("X-Date does not match the credential scope date")
    skew = abs((now if now is not None else time.time()) - when.timestamp())
    if skew > max_skew_seconds:
        raise SignatureError(f"X-Date {x_date} is {skew:.0f}s away from server time (stale request)")
    body_hash = sha256_hex(body or b"")
    if lower.get("x-content-sha256") != body_hash:
        raise SignatureError("X-Content-Sha256 does not match the body")
    missing = [h for h in ("host", "x-date", "x-content-sha256") if h not in auth.signed_headers]
    missing += [h for h in lower if _is_signed_header(h) and h not in auth.signed_headers]
    if missing:
        raise SignatureError(f"headers not signed: {', '.join(sorted(set(missing)))}")
    absent = [h for h in auth.signed_headers if h not in lower]
    if absent:
        raise SignatureError(f"signed headers absent from the request: {', '.join(absent)}")
    expected_token = (session_token_for or {}).get(auth.access_key)
    if expected_token is not None and lower.get("x-security-token") != expected_token:
        raise SignatureError("missing or wrong X-Security-Token")
    path, query, _ = split_url(raw_path)
    creq, _ = canonical_request(
        method, path, query, _signed_header_map(lower, auth.signed_headers), body_hash
    )
    expected, _ = _signature(secret, x_date, region, service, creq)
    if not hmac.compare_digest(expected, auth.signature):
        raise SignatureError("signature does not match")
    return auth.access_key
