"""Griffe extension for the API reference (mkdocstrings, mkdocs.yml): the package's docstrings are
Sphinx-style reST (``:param x:``, ``:class:`~pkg.Cls```, ````code````); mkdocstrings parses the
``:param`` fields itself, and this turns the cross-reference roles into Markdown code spans
(``:class:`~a.b.C``` -> `` `C` ``, ``:func:`a.f``` -> `` `a.f` ``) so they do not show as raw roles."""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|data|mod|exc|obj|const):`(~?)([^`]+)`")


def _role(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    target = target.strip()
    if "<" in target and target.endswith(">"):  # :class:`text <target>`
        target = target.split("<", 1)[0].strip()
    elif tilde:
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


class SphinxRoles(griffe.Extension):
    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ":" in obj.docstring.value:
            obj.docstring.value = ROLE.sub(_role, obj.docstring.value)
