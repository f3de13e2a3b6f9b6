"""Small pure helpers the protocol modules share."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def normalize_file_groups(files: Any) -> list[list[str]]:
    """``"a.parquet"`` / ``["a", "b"]`` / ``[["a"], ["b", "c"]]`` -> list of groups of paths."""
    if files is None:
        return []
    if isinstance(files, str):
        return [[files]]
    groups: list[list[str]] = []
    for item in files:
        if isinstance(item, str):
            groups.append([item])
        elif isinstance(item, Iterable):
            group = [str(x) for x in item]
            if group:
                groups.append(group)
        else:
            raise TypeError(f"file entries must be strings or lists of strings, got {type(item).__name__}")
    return groups
