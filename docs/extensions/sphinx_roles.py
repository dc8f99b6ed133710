"""Griffe extension for the docs build: render Sphinx cross-reference roles as inline code.

The package's docstrings are Google style but refer to other objects with Sphinx roles
(``:class:`~lightning_spectral.nn.BandLimitedConv2d```), which mkdocstrings would print
verbatim. This extension rewrites every role in every docstring before rendering:
``:role:`~a.b.C``` becomes ``C`` and ``:role:`a.b.C``` becomes ``a.b.C`` (as inline code), and
``:role:`title <a.b.C>``` becomes ``title``, as Sphinx would display them.

Used by ``mkdocs.yml`` (``plugins.mkdocstrings.handlers.python.options.extensions``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

__all__ = ["SphinxRoles", "render_roles"]

_ROLE = re.compile(
    r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const|type):`(?P<tilde>~?)(?P<target>[^`]+)`"
)
_TITLED = re.compile(r"^(?P<title>.+?)\s*<(?P<target>[^>]+)>$")


def render_roles(text: str) -> str:
    """Replace every Sphinx role in ``text`` by the inline code Sphinx would display."""

    def display(match: re.Match[str]) -> str:
        target = match["target"].strip()
        titled = _TITLED.match(target)
        if titled:
            return f"`{titled['title']}`"
        if match["tilde"]:
            target = target.rsplit(".", 1)[-1]
        return f"`{target}`"

    return _ROLE.sub(display, text)


class SphinxRoles(griffe.Extension):
    """Rewrite the roles of each object's docstring once the package is loaded."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = render_roles(obj.docstring.value)
