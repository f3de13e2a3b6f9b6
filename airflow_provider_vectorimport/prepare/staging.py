"""Staging folders of ``prepare_files``: provably ours, and swept when their run is gone.

Output is written into ``.<out>.staging-<id>/`` next to ``out_dir`` and renamed into place only when
the whole input was valid, so a reader never sees half an output. Beside each staging folder an owner
record ``.<out>.staging-<id>.owner.json`` (host, pid, the pid's start time, creation time) proves whose
it is. A run that dies without cleaning up (SIGKILL, OOM, a lost worker) leaves both behind; the next
run for the same ``out_dir`` removes every staging folder whose owner is provably gone:

* same host, and the pid no longer runs (or runs a different process: its start time differs);
* any host, and the record is older than ``STALE_AFTER`` (a run on another host that shares the
  folder cannot be probed; nothing prepares for a day).

Folders without an owner record are never touched (not provably ours). Replacing an existing output
goes through ``.<out>.staging-<id>.old`` (two renames, then the old tree is deleted), which the same
sweep removes if a run dies in between.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
import uuid
from typing import Any

log = logging.getLogger(__name__)

STALE_AFTER = 24 * 3600.0  # seconds: owner records older than this are stale whatever the host
OWNER_SUFFIX = ".owner.json"
OLD_SUFFIX = ".old"


def _prefix(out: str) -> str:
    return f".{os.path.basename(out)}.staging-"


def _proc_start(pid: int) -> str | None:
    """The start time of ``pid`` (clock ticks since boot, Linux), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode("ascii", "replace")
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def owner_record() -> dict[str, Any]:
    pid = os.getpid()
    return {
        "tool": "airflow-provider-vectorimport prepare_files",
        "host": socket.gethostname(),
        "pid": pid,
        "pid_start": _proc_start(pid),
        "created": time.time(),
    }


def is_stale(record: dict[str, Any], *, now: float | None = None) -> bool:
    """Whether the run that wrote ``record`` is provably gone."""
    now = time.time() if now is None else now
    try:
        created = float(record.get("created", 0))
        pid = int(record["pid"])
    except (KeyError, TypeError, ValueError):
        return False  # not a record we wrote
    if now - created > STALE_AFTER:
        return True
    if record.get("host") != socket.gethostname():
        return False
    if not _pid_alive(pid):
        return True
    started = record.get("pid_start")
    return started is not None and _proc_start(pid) not in (None, started)


def create_staging(out: str) -> str:
    """Make ``.<out>.staging-<id>/`` next to ``out`` (owner record first, so the folder is never
    unowned) and return its path."""
    parent = os.path.dirname(out)
    base = os.path.join(parent, f"{_prefix(out)}{uuid.uuid4().hex[:12]}")
    fd = os.open(base + OWNER_SUFFIX, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w") as fh:
        json.dump({**owner_record(), "out": out}, fh)
    os.makedirs(base)
    return base


def remove_staging(staging: str) -> None:
    """Delete a staging folder, its ``.old`` sibling and, last, its owner record."""
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(staging + OLD_SUFFIX, ignore_errors=True)
    try:
        os.unlink(staging + OWNER_SUFFIX)
    except FileNotFoundError:
        pass


def sweep_stale(out: str, *, logger: Any = log) -> list[str]:
    """Remove the staging folders of ``out`` left by runs that are gone; returns what was removed."""
    parent = os.path.dirname(out)
    prefix = _prefix(out)
    try:
        names = os.listdir(parent)
    except FileNotFoundError:
        return []
    removed = []
    for name in names:
        if not (name.startswith(prefix) and name.endswith(OWNER_SUFFIX)):
            continue
        record_path = os.path.join(parent, name)
        try:
            with open(record_path, encoding="utf-8") as fh:
                record = json.load(fh)
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict) or not is_stale(record):
            continue
        staging = record_path[: -len(OWNER_SUFFIX)]
        remove_staging(staging)
        removed.append(staging)
    if removed:
        logger.info("Removed %d staging folder(s) left by runs that are gone: %s", len(removed), removed)
    return removed


def publish(staging: str, out: str) -> None:
    """Put the finished ``staging`` folder in place of ``out`` (replacing it), then drop the record.

    ``out`` is first renamed aside (``<staging>.old``), so at no point does ``out`` hold a mix of old
    and new files or a half-deleted tree."""
    old = staging + OLD_SUFFIX
    if os.path.isdir(out):
        os.rename(out, old)
    os.rename(staging, out)
    shutil.rmtree(old, ignore_errors=True)
    try:
        os.unlink(staging + OWNER_SUFFIX)
    except FileNotFoundError:
        pass
