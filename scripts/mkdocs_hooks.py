"""MkDocs hooks (``hooks:`` in mkdocs.yml): the docs' tables that must not drift from the code are
generated from it at build time.

* ``<!-- vectorimport:connection TYPE -->`` becomes the form of connection type ``TYPE`` as
  ``get_provider_info()`` declares it to Airflow: the standard fields (shown, hidden, relabelled) and
  every extra with its label, type, default, choices and description. Every connection type the
  provider registers must be placed on some page; a type placed nowhere, or a marker naming a type the
  provider does not register, is a warning, which ``mkdocs build --strict`` turns into a failure.
* ``<!-- vectorimport:limits -->`` becomes prepare's limits table per service, from
  ``airflow_provider_vectorimport.prepare.api.LIMITS`` (what ``prepare_files`` and the fan-out plan with).

The functions that render the tables are plain (``connection_markdown``, ``limits_markdown``), so the
tests call them too.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

log = logging.getLogger("mkdocs.plugins.vectorimport")

CONNECTION_MARKER = re.compile(r"<!--\s*vectorimport:connection\s+([a-z0-9_]+)\s*-->")
LIMITS_MARKER = re.compile(r"<!--\s*vectorimport:limits\s*-->")
STANDARD_FIELDS = ("host", "schema", "login", "password", "port", "extra")

_placed: dict[str, str] = {}


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _types(schema: dict[str, Any]) -> tuple[str, bool]:
    types = schema.get("type", "")
    types = [types] if isinstance(types, str) else list(types)
    return " / ".join(t for t in types if t != "null") or "any", schema.get("format") == "password"


def connection_types() -> dict[str, dict[str, Any]]:
    from airflow_provider_vectorimport.get_provider_info import get_provider_info

    return {c["connection-type"]: c for c in get_provider_info()["connection-types"]}


def connection_markdown(conn_type: str) -> str:
    """The connection form of ``conn_type`` as Markdown tables (standard fields, then extras)."""
    info = connection_types()[conn_type]
    behaviour = info.get("ui-field-behaviour", {})
    hidden = set(behaviour.get("hidden-fields", []))
    relabel = behaviour.get("relabeling", {})
    placeholders = behaviour.get("placeholders", {})
    hook = info["hook-class-name"]
    lines = [
        f"Connection type `{conn_type}` ({info.get('hook-name', '')}), hook `{hook}`.",
        "",
        "| standard field | in the form as | placeholder |",
        "|---|---|---|",
    ]
    for name in STANDARD_FIELDS:
        if name in hidden:
            shown = "hidden"
        else:
            shown = relabel.get(name, name.capitalize() if name != "extra" else "Extra (JSON)")
        placeholder = placeholders.get(name, "")
        lines.append(f"| `{name}` | {_cell(shown)} | {_cell(placeholder) if placeholder else ''} |")
    lines += [
        "",
        "| extra | in the form as | type | default | choices | description |",
        "|---|---|---|---|---|---|",
    ]
    for name, field in sorted(info.get("conn-fields", {}).items()):
        schema = field.get("schema", {})
        kind, secret = _types(schema)
        default = schema.get("default")
        choices = [c for c in schema.get("enum", []) if c is not None]
        lines.append(
            "| `{}` | {} | {}{} | {} | {} | {} |".format(
                name,
                _cell(field.get("label", "")),
                kind,
                " (secret)" if secret else "",
                f"`{json.dumps(default)}`" if default is not None else "",
                ", ".join(f"`{c}`" for c in choices),
                _cell(field.get("description", "")),
            )
        )
    return "\n".join(lines) + "\n"


_LIMIT_LABELS = {
    "max_unit_bytes": "largest file group",
    "max_unit_bytes_numpy": "largest NumPy file group",
    "max_units_per_request": "file groups per import request",
    "max_units_per_request_json": "JSON files per request (Zilliz v1)",
    "max_request_bytes": "bytes per import request",
}


def _limit(key: str, value: Any) -> str:
    if value is None:
        return "no limit"
    if "bytes" in key:
        gib = value / (1 << 30)
        return f"{gib:g} GiB" if gib >= 1 else f"{value / (1 << 20):g} MiB"
    if isinstance(value, int) and value >= 1 << 30:
        return "no limit"
    return f"{value:,}"


def limits_markdown() -> str:
    """prepare's per-service limits (``prepare.api.LIMITS``) as a Markdown table, one row per service."""
    from airflow_provider_vectorimport.prepare.api import LIMITS

    keys = list(_LIMIT_LABELS)
    keys += sorted({k for limits in LIMITS.values() for k in limits} - set(keys))
    keys = [k for k in keys if any(k in limits for limits in LIMITS.values())]
    lines = [
        "| `target` | " + " | ".join(f"{_LIMIT_LABELS.get(k, k)} (`{k}`)" for k in keys) + " |",
        "|---" * (len(keys) + 1) + "|",
    ]
    for target, limits in LIMITS.items():
        cells = [_limit(k, limits[k]) if k in limits else "—" for k in keys]
        lines.append(f"| `{target}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------- MkDocs events
def on_pre_build(config: Any) -> None:
    _placed.clear()


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    known = connection_types()

    def connection(match: re.Match[str]) -> str:
        conn_type = match.group(1)
        if conn_type not in known:
            log.warning(
                "%s: <!-- vectorimport:connection %s -->: the provider registers no connection type %r "
                "(it registers %s)",
                page.file.src_path,
                conn_type,
                conn_type,
                ", ".join(sorted(known)),
            )
            return match.group(0)
        _placed[conn_type] = page.file.src_path
        return connection_markdown(conn_type)

    markdown = CONNECTION_MARKER.sub(connection, markdown)
    return LIMITS_MARKER.sub(lambda _m: limits_markdown(), markdown)


def on_post_build(config: Any) -> None:
    missing = sorted(set(connection_types()) - set(_placed))
    for conn_type in missing:
        log.warning(
            "connection type %r (get_provider_info) is documented on no page: add "
            "<!-- vectorimport:connection %s --> to docs/connections.md",
            conn_type,
            conn_type,
        )
