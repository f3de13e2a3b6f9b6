"""Small helpers shared by the operators, sensors and triggers (Airflow-side only)."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from airflow.sdk import conf

from airflow_provider_vectorimport.protocols.common import normalize_file_groups as normalize_file_groups

_LOG = logging.getLogger(__name__)

#: XCom key of the summary a job operator pushes before it fails on a failed (or empty) job: the
#: same dict it returns (``return_value``) on success, so the job's reason and per-file failures
#: stay readable (ops dashboard, downstream ``trigger_rule="all_done"`` tasks) although the task
#: raised. Small and secret-free like the return value.
SUMMARY_XCOM_KEY = "job_summary"


def push_failure_summary(context: Any, summary: Any) -> None:
    """Push ``summary`` under :data:`SUMMARY_XCOM_KEY`; never raises (the job's own error must win)."""
    try:
        context["ti"].xcom_push(key=SUMMARY_XCOM_KEY, value=summary)
    except Exception as exc:  # pragma: no cover - a broken XCom backend must not hide the failure
        _LOG.warning("could not push the job summary to XCom: %s", exc)


def default_deferrable() -> bool:
    """``[operators] default_deferrable``, as the official providers read it."""
    return conf.getboolean("operators", "default_deferrable", fallback=False)


_MASK_LATER: ContextVar[list[Any] | None] = ContextVar("vectorimport_mask_later", default=None)


def mask_secrets(*values: Any) -> None:
    """Register secret values with Airflow's secrets masker so they never reach logs or XCom.

    Inside :func:`collect_secrets` (async callers) the values are collected instead, for
    :func:`amask_secrets` to register without a blocking call on the event loop."""
    later = _MASK_LATER.get()
    if later is not None:
        later.extend(v for v in values if v)
        return
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - very old SDKs
        return
    for value in values:
        if value:
            mask_secret(value)


async def amask_secrets(*values: Any) -> None:
    """:func:`mask_secrets` for event loops (triggers): the SDK's ``amask_secret`` when it exists
    (Airflow >= 3.3.2), else the sync one in a worker thread, where blocking is harmless."""
    values = tuple(v for v in values if v)
    if not values:
        return
    try:
        from airflow.sdk.log import amask_secret
    except ImportError:  # pragma: no cover - older SDKs
        import asyncio

        await asyncio.to_thread(mask_secrets, *values)
        return
    for value in values:
        await amask_secret(value)


@contextmanager
def collect_secrets() -> Iterator[list[Any]]:
    """Collect what :func:`mask_secrets` is asked to mask inside the block (see :func:`amask_secrets`)."""
    collected: list[Any] = []
    token = _MASK_LATER.set(collected)
    try:
        yield collected
    finally:
        _MASK_LATER.reset(token)


# Extras holding secrets (the others are settings: api_flavour "v2", scheme "http", region ...).
SECRET_EXTRA_KEYS = frozenset(
    {
        "session_token",
        "aws_session_token",
        "token",
        "api_key",
        "secret_key",
        "aws_secret_access_key",
        "password",
    }
)


def _parse_extra(conn: Any) -> tuple[dict[str, Any], list[str]]:
    raw = getattr(conn, "extra", None)
    if isinstance(raw, dict):
        extra = dict(raw)
    elif not raw:
        extra = {}
    else:
        try:
            extra = json.loads(raw)
        except ValueError as exc:
            conn_id = getattr(conn, "conn_id", None) or "?"
            raise ValueError(f"connection {conn_id!r}: the extra is not valid JSON ({exc})") from None
        if not isinstance(extra, dict):
            raise ValueError(f"connection {getattr(conn, 'conn_id', '?')!r}: the extra must be a JSON object")
    secrets = [str(v) for k, v in extra.items() if k.lower() in SECRET_EXTRA_KEYS and v]
    return extra, secrets


def connection_extra(conn: Any) -> dict[str, Any]:
    """The connection's extra as a dict, masking only the extras that are secrets.

    Airflow's ``Connection.extra_dejson`` registers *every* string extra with the secrets masker, so
    short settings (``api_flavour: v2``, ``scheme: http``) log "Skipping masking for a secret as it's
    too short" in every task; the extra as a whole is already masked when Airflow fetches the
    connection."""
    extra, secrets = _parse_extra(conn)
    mask_secrets(*secrets)
    return extra


async def aconnection_extra(conn: Any) -> dict[str, Any]:
    """:func:`connection_extra` for triggers (masks through ``amask_secret`` where Airflow has it)."""
    extra, secrets = _parse_extra(conn)
    try:
        from airflow.sdk.log import amask_secret
    except ImportError:  # pragma: no cover - Airflow < 3.3.2
        mask_secrets(*secrets)
        return extra
    for value in secrets:
        await amask_secret(value)
    return extra


_QUIET: dict[str, Any] = {"depth": 0, "saved": False}


@contextmanager
def quiet_short_extra_masking() -> Iterator[None]:
    """While a connection is fetched, keep Airflow from logging "Skipping masking for a secret as
    it's too short" for the connection's *settings*.

    Airflow's SDK caches every fetched connection through ``Connection.get_uri()``, which reads
    ``extra_dejson``, which registers every string extra with the secrets masker; the masker warns
    about a short value (``api_flavour: v2``, ``scheme: http``, ``region: cn``) before it looks at
    the extra's name, although it would never mask such a name. Real secrets are checked afterwards
    by :func:`warn_short_secrets` (which says which field is too short)."""
    try:
        from airflow.sdk._shared.secrets_masker.secrets_masker import SecretsMasker
    except ImportError:  # pragma: no cover - another Airflow layout: nothing to quieten
        yield
        return
    # nested / interleaved uses (triggers awaiting in one event loop) restore the flag once, at the end
    if _QUIET["depth"] == 0:
        _QUIET["saved"] = SecretsMasker._has_warned_short_secret
    _QUIET["depth"] += 1
    SecretsMasker._has_warned_short_secret = True
    try:
        yield
    finally:
        _QUIET["depth"] -= 1
        if _QUIET["depth"] == 0:
            SecretsMasker._has_warned_short_secret = _QUIET["saved"]


def warn_short_secrets(conn: Any, log: Any) -> None:
    """Warn (naming the connection and field, never the value) about a secret too short to mask."""
    try:
        from airflow.sdk.configuration import conf as sdk_conf

        min_length = sdk_conf.getint("logging", "min_length_masked_secret", fallback=5)
    except Exception:  # pragma: no cover
        min_length = 5
    extra, _ = _parse_extra(conn)
    fields = [("password", getattr(conn, "password", None))] + [
        (k, v) for k, v in extra.items() if k.lower() in SECRET_EXTRA_KEYS
    ]
    for name, value in fields:
        if isinstance(value, str) and 0 < len(value) < min_length:
            log.warning(
                "connection %r: %s is shorter than %d characters and is not masked in logs",
                getattr(conn, "conn_id", "?"),
                name,
                min_length,
            )


class QuietExtrasMixin:
    """For hooks: fetch connections without Airflow's misleading short-"secret" warning for settings
    extras (:func:`quiet_short_extra_masking`), warning instead about real secrets that are short."""

    @classmethod
    def get_connection(cls, conn_id: str) -> Any:
        with quiet_short_extra_masking():
            conn = super().get_connection(conn_id)  # type: ignore[misc]
        warn_short_secrets(conn, getattr(cls, "_quiet_log", None) or _LOG)
        return conn


def run_identity(context: Any) -> tuple[str, str, str, int]:
    """(dag_id, task_id, run_id, map_index) of the running task instance."""
    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    if map_index is None:
        map_index = -1
    return ti.dag_id, ti.task_id, context.get("run_id") or ti.run_id, int(map_index)


def idempotency_key(context: Any, *parts: Any) -> str:
    """A stable key for one logical submission: the same for every try of the same task instance
    (dag id, task id, run id, map index) and the same extra ``parts``; different across runs.

    Printable ASCII, well under the 256 bytes Milvus accepts.
    """
    dag_id, task_id, run_id, map_index = run_identity(context)
    raw = "\x1f".join(str(p) for p in (dag_id, task_id, run_id, map_index, *parts))
    digest = hashlib.sha256(raw.encode()).hexdigest()[:40]
    prefix = re.sub(r"[^A-Za-z0-9_.-]", "-", f"{dag_id}.{task_id}")[:64]
    return f"af-{prefix}-{digest}"


def input_fingerprint(*manifests: Any) -> str | None:
    """What the import's objects hold, from the upload manifest(s) given as ``files=`` /
    ``object_urls=`` (each group's ``fingerprint``: keys, sizes and ETags at upload); None when a
    manifest has none (plain key lists, older manifests)."""
    for manifest in manifests:
        if not isinstance(manifest, dict):
            continue
        groups = manifest.get("groups")
        if not isinstance(groups, list) or not groups:
            return None
        prints = [g.get("fingerprint") if isinstance(g, dict) else None for g in groups]
        texts = [fp for fp in prints if isinstance(fp, str) and fp]
        if len(texts) != len(prints):
            return None
        return hashlib.sha256("\n".join(texts).encode()).hexdigest()[:32]
    return None


def get_task_state(context: Any, key: str) -> Any:
    """Read a value persisted for this task instance across tries (Airflow >= 3.3 task_state_store)."""
    store = context.get("task_state_store") if hasattr(context, "get") else None
    if store is None:
        return None
    try:
        return store.get(key)
    except Exception:  # the store is an optimisation, never a reason to fail
        return None


def set_task_state(context: Any, key: str, value: Any) -> bool:
    """Persist ``value`` for later tries of this task instance; False where no store exists."""
    store = context.get("task_state_store") if hasattr(context, "get") else None
    if store is None:
        return False
    try:
        store.set(key, value)
        return True
    except Exception:
        return False
