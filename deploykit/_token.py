"""Where a client's token comes from: given, ``DEPLOYKIT_TOKEN``, or ``<home>/token``.

Re-exported by :mod:`deploykit.backend`; apart from it so that the client imports it
without importing the backend chooser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from deploykit.settings import Settings

__all__ = ["find_token", "local_token", "token_source"]


def local_token(home: Path) -> str | None:
    """The admin token a server wrote to ``<home>/token`` on its first start, if any."""
    try:
        return (home / "token").read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def find_token(settings: Settings, token: str | None = None) -> str | None:
    """The token to send: ``token``, else ``DEPLOYKIT_TOKEN``, else ``<home>/token``."""
    return token or settings.token or local_token(settings.home)


def token_source(settings: Settings) -> str | None:
    """Where :func:`find_token` finds the token when none is given, for messages."""
    if settings.token:
        return "DEPLOYKIT_TOKEN"
    if local_token(settings.home):
        return str(settings.home / "token")
    return None
