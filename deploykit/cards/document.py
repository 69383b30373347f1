"""A card as a reader gets it: the stored revision, its history from the audit log, rendered.

Used by :class:`deploykit.Registry` (and so by the server); the HTTP client gets the
text this produces.
"""

from __future__ import annotations

from collections.abc import Sequence

from deploykit.cards.render import history_section
from deploykit.errors import InvalidInputError
from deploykit.records import Event

__all__ = ["assemble", "check_format"]

_FORMATS = ("markdown", "html")
_LOCK_HEADING = "\n## Package lock"


def check_format(format: object) -> str:
    """``format`` if it is one a card renders to, else InvalidInputError."""
    if format not in _FORMATS:
        raise InvalidInputError(
            f"The 'format' parameter must be 'markdown' or 'html'. Got {format!r} instead."
        )
    return str(format)


def assemble(markdown: str, version: int, events: Sequence[Event], *, format: str) -> str:
    """``markdown`` with the history of ``version`` (before the package lock), as ``format``."""
    history = history_section(version, events)
    head, lock, tail = markdown.partition(_LOCK_HEADING)
    text = (
        f"{head.rstrip()}\n\n{history}{lock}{tail}" if lock else f"{markdown.rstrip()}\n\n{history}"
    )
    if format == "html":
        from deploykit.cards.html import to_html

        return to_html(text)
    return text
