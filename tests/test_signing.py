"""SignerV4: byte-identical to the official volcengine SDK on random requests, the reference's
worked example, and verification (the emulator's side) rejecting every kind of tampering."""

from __future__ import annotations

import json
import random
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from airflow_provider_vectorimport.signing import (
    SignatureError,
    SigningCredentials,
    VolcengineSigner,
    canonical_query,
    format_x_date,
    parse_x_date,
    sign_request,
    verify_request,
)

volc_signer = pytest.importorskip("volcengine.auth.SignerV4")
from volcengine.base.Request import Request  # noqa: E402
from volcengine.Credentials import Credentials  # noqa: E402

N_RANDOM = 1000
SAMPLE_CHARS = "abcXYZ019 -_.~!*'();:@&=+$,/?#[]%\"<>\\^`{|}é中文ß🙂\t"


def sdk_sign(
    method: str,
    path: str,
    query: dict[str, Any],
    headers: dict[str, str],
    body: str | bytes,
    creds: SigningCredentials,
    x_date: str,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """Sign with the official SDK, its clock pinned to ``x_date`` (the reference, not under test)."""
    SignerV4 = volc_signer.SignerV4
    monkeypatch.setattr(SignerV4, "get_current_format_date", staticmethod(lambda: x_date))
    request = Request()
    request.set_method(method)
    request.set_host(headers.get("Host", ""))
    request.set_path(path)
    request.set_headers(dict(headers))
    request.set_query({k: (list(v) if isinstance(v, list) else v) for k, v in query.items()})
    request.set_body(body)
    SignerV4.sign(
        request,
        Credentials(
            creds.access_key, creds.secret_key, creds.service, creds.region, creds.session_token or ""
        ),
    )
    return dict(request.headers)


def rand_text(rng: random.Random, lo: int = 0, hi: int = 8) -> str:
    return "".join(rng.choice(SAMPLE_CHARS) for _ in range(rng.randint(lo, hi)))


def rand_request(rng: random.Random) -> dict[str, Any]:
    method = rng.choice(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"])
    segments = [rand_text(rng, 1, 6).replace("/", "") or "s" for _ in range(rng.randint(0, 4))]
    path = "/" + "/".join(segments) + rng.choice(["", "/"])
    query: dict[str, Any] = {}
    for _ in range(rng.randint(0, 5)):
        key = rand_text(rng, 1, 6)
        if rng.random() < 0.3:
            query[key] = [rand_text(rng) for _ in range(rng.randint(1, 3))]  # repeated key
        else:
            query[key] = rand_text(rng)
    host = rng.choice(["api-vikingdb.volces.com", "127.0.0.1"]) + rng.choice(["", ":80", ":443", ":8080"])
    headers = {"Host": host, "Accept": "application/json", "User-Agent": "x"}
    if (method != "GET" and rng.random() < 0.8) or (method == "GET" and rng.random() < 0.3):
        headers["Content-Type"] = rng.choice(["application/json", "text/plain; charset=utf-8"])
    if rng.random() < 0.3:
        headers["Content-Md5"] = "1B2M2Y8AsgTpgAmY7PhCfg=="
    if rng.random() < 0.4:
        headers["X-Custom-" + rng.choice(["Trace", "Id", "Top-Request"])] = (
            rand_text(rng, 1, 8).strip() or "v"
        )
    if rng.random() < 0.5:
        body: str | bytes = json.dumps(
            {"k": rand_text(rng, 0, 20), "n": rng.randint(0, 10**6)}, ensure_ascii=False
        )
    else:
        body = rand_text(rng, 0, 30)
    if rng.random() < 0.2:
        body = body.encode("utf-8")
    creds = SigningCredentials(
        access_key="AK" + rand_text(random.Random(rng.random()), 4, 10).encode("ascii", "ignore").hex(),
        secret_key=rand_text(rng, 8, 40),
        region=rng.choice(["cn-north-1", "cn-beijing", "ap-southeast-1"]),
        service=rng.choice(["air", "vikingdb"]),
        session_token=rng.choice([None, None, "STS" + rand_text(rng, 5, 20).encode("ascii", "ignore").hex()]),
    )
    x_date = format_x_date(rng.randint(946684800, 4102444800))
    return dict(method=method, path=path, query=query, headers=headers, body=body, creds=creds, x_date=x_date)


def test_matches_official_sdk_on_random_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(20261126)
    compared = 0
    for _ in range(N_RANDOM):
        r = rand_request(rng)
        expected = sdk_sign(
            r["method"], r["path"], r["query"], r["headers"], r["body"], r["creds"], r["x_date"], monkeypatch
        )
        # 1) the pure function, given the unencoded path and the query mapping
        added = sign_request(
            r["method"], r["path"], r["query"], r["headers"], r["body"], r["creds"], x_date=r["x_date"]
        )
        # 2) the per-attempt signer the HTTP core calls, given the URL a client would send
        url = f"http://{r['headers']['Host']}{quote(r['path'])}"
        if r["query"]:
            url += "?" + urlencode(r["query"], doseq=True)
        signer = VolcengineSigner(r["creds"], clock=lambda d=r["x_date"]: parse_x_date(d).timestamp())
        via_url = signer(
            r["method"],
            url,
            dict(r["headers"]),
            r["body"] if isinstance(r["body"], bytes) else r["body"].encode(),
        )
        for name, value in added.items():
            assert expected[name] == value, (name, r)
        assert expected["Authorization"] == via_url["Authorization"], r
        assert set(added) == set(expected) - set(r["headers"]), r
        compared += 2
    assert compared == 2 * N_RANDOM
    print(f"compared {compared} signatures ({N_RANDOM} random requests x 2 entry points) with the SDK")


def test_worked_example_from_reference() -> None:
    body = json.dumps(
        {
            "task_type": "data_export",
            "task_params": {
                "collection_name": "demo",
                "tos_path": "my-bucket/export/",
                "file_type": "parquet",
            },
        }
    )
    creds = SigningCredentials("AKLTexampleAK", "exampleSecretKey==", "cn-north-1", "air")
    headers = {"Host": "api-vikingdb.volces.com", "Content-Type": "application/json"}
    added = sign_request("POST", "/api/task/create", None, headers, body, creds, x_date="20250101T000000Z")
    assert added["Authorization"] == (
        "HMAC-SHA256 Credential=AKLTexampleAK/20250101/cn-north-1/air/request, "
        "SignedHeaders=content-type;host;x-content-sha256;x-date, "
        "Signature=d0fd136a29477d0e197091f7541e6d335b08deb5929595e4d08a133418f2e859"
    )
    assert added["X-Date"] == "20250101T000000Z"
    assert "exampleSecretKey" not in repr(creds)


def test_canonical_query_repeated_keys_and_reserved_chars() -> None:
    assert canonical_query([("b", "2"), ("a", "x y"), ("b", "1"), ("c", "é/~")]) == (
        "a=x%20y&b=2&b=1&c=%C3%A9%2F~"
    )
    assert canonical_query(None) == ""


# --- verification (what the emulator does with every request) -------------------------------

SECRETS = {"AKgood": "sk-good"}
NOW = 1_800_000_000.0


def _signed(body: bytes = b'{"task_id":"t1"}', *, sk: str = "sk-good", ak: str = "AKgood", when: float = NOW):
    creds = SigningCredentials(ak, sk, "cn-north-1", "air")
    signer = VolcengineSigner(creds, clock=lambda: when)
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    headers.update(signer("POST", "http://127.0.0.1:5000/api/task/info?x=a+b&x=c", headers, body))
    return headers


def _verify(
    headers: dict[str, str], body: bytes = b'{"task_id":"t1"}', path: str = "/api/task/info?x=a+b&x=c"
):
    return verify_request("POST", path, headers, body, SECRETS, region="cn-north-1", service="air", now=NOW)


def test_verify_accepts_a_good_signature() -> None:
    assert _verify(_signed()) == "AKgood"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda h, b, p: (_signed(sk="sk-wrong"), b, p), "signature does not match"),
        (lambda h, b, p: (_signed(ak="AKother"), b, p), "unknown access key"),
        (lambda h, b, p: (h, b'{"task_id":"t2"}', p), "X-Content-Sha256"),
        (lambda h, b, p: (_signed(when=NOW - 3600), b, p), "stale"),
        (lambda h, b, p: (h, b, "/api/task/info?x=a+b"), "signature does not match"),
        (lambda h, b, p: (h, b, "/api/task/drop?x=a+b&x=c"), "signature does not match"),
        (lambda h, b, p: ({k: v for k, v in h.items() if k != "Authorization"}, b, p), "Authorization"),
        (lambda h, b, p: ({**h, "Content-Type": "text/plain"}, b, p), "signature does not match"),
        (lambda h, b, p: ({**h, "X-Extra": "1"}, b, p), "not signed"),
    ],
    ids=[
        "wrong-sk",
        "unknown-ak",
        "tampered-body",
        "stale-date",
        "dropped-query",
        "other-path",
        "no-auth",
        "changed-header",
        "unsigned-x-header",
    ],
)
def test_verify_rejects(mutate, message: str) -> None:
    headers, body, path = mutate(_signed(), b'{"task_id":"t1"}', "/api/task/info?x=a+b&x=c")
    with pytest.raises(SignatureError, match=message):
        _verify(headers, body, path)
