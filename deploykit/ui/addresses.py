"""Where a notebook front end finds the server and the console, without starting either.

The ``%deploy`` magic prints the console's link and the console serves itself
there: both read it here, so the magic needs nothing of the console (Voila,
Tornado) to say where it is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

__all__ = ["CONSOLE_PATH", "CONSOLE_PORT", "DEFAULT_SERVER_URL", "console_url"]

DEFAULT_SERVER_URL = "http://127.0.0.1:8765"
#: the port ``deploykit up`` and ``deploykit console`` serve the console on
CONSOLE_PORT = 8766
CONSOLE_PATH = "/console/"


def console_url(
    server_url: str | None = None,
    *,
    port: int = CONSOLE_PORT,
    environ: Mapping[str, str] | None = None,
) -> str:
    """Where the console is: ``DEPLOYKIT_CONSOLE_URL`` if set, else the one ``deploykit up``
    starts beside the server at ``server_url`` (its host, port ``port``, path /console/)."""
    env = os.environ if environ is None else environ
    explicit = (env.get("DEPLOYKIT_CONSOLE_URL") or "").strip()
    if explicit:
        return explicit if explicit.endswith("/") else explicit + "/"
    host = urlsplit(server_url or DEFAULT_SERVER_URL).hostname or "127.0.0.1"
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return f"http://{host}:{port}{CONSOLE_PATH}"
