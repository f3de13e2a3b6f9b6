"""Errors of the preparation step: every problem names the input file, the row and the field."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from airflow_provider_vectorimport.exceptions import VectorImportError


@dataclass(frozen=True)
class RowError:
    """One bad value. ``row`` is the 1-based record number in ``file`` (``None``: not row-specific)."""

    file: str
    row: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.file or "<input>"
        if self.row is not None:
            where += f", row {self.row}"
        if self.field:
            where += f", field {self.field!r}"
        return f"{where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class PrepareError(VectorImportError, ValueError):
    """The input data does not fit the schema; nothing was written. ``errors`` lists every problem found
    (one in ``fail_fast`` mode, up to ``max_errors`` in ``collect`` mode; ``truncated``: reading
    stopped at that limit, so more errors may follow)."""

    def __init__(self, errors: list[RowError], *, truncated: bool = False) -> None:
        self.errors = list(errors)
        self.truncated = truncated
        lines = [
            f"{len(self.errors)} error(s) in the input{' (stopped there: more may follow)' if truncated else ''}:"
        ]
        lines += [f"  - {e}" for e in self.errors]
        super().__init__("\n".join(lines))

    def to_dict(self) -> dict[str, Any]:
        return {"errors": [e.to_dict() for e in self.errors], "truncated": self.truncated}


class TooManyErrors(Exception):
    """Internal: the error budget is spent; stop reading."""
