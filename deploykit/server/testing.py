"""For tests: :class:`LiveServer` and :func:`free_port`, which live in
:mod:`deploykit.server.process` (the demo starts its server with them too)."""

from __future__ import annotations

from deploykit.server.process import LiveServer, free_port

__all__ = ["LiveServer", "free_port"]
