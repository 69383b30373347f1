"""What a server process hands its workers: settings as JSON, and the log format.

``deploykit serve --workers N`` (and a test's child server) start fresh processes that
rebuild :class:`~deploykit.settings.Settings` from JSON in the environment or argv;
both ends use these helpers so the two sides cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from deploykit.settings import Settings

__all__ = ["configure_logging", "settings_from_dict", "settings_to_dict"]


def configure_logging(level: str) -> None:
    """Swaps, load failures and 500s go to stderr like uvicorn's own lines."""
    log = logging.getLogger("deploykit.server")
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     [%(process)d] %(message)s"))
        log.addHandler(handler)
    log.setLevel(level.upper())


def settings_to_dict(settings: Settings) -> dict[str, Any]:
    """``settings`` as plain JSON values (paths and tuples made strings and lists)."""
    data = dataclasses.asdict(settings)
    data["home"] = str(settings.home)
    data["skops_trusted"] = list(settings.skops_trusted)
    data["webhook_allow_networks"] = list(settings.webhook_allow_networks)
    return data


def settings_from_dict(data: dict[str, Any]) -> Settings:
    """The inverse of :func:`settings_to_dict`."""
    values = dict(data)
    values["home"] = Path(values["home"])
    values["skops_trusted"] = tuple(values.get("skops_trusted") or ())
    values["webhook_allow_networks"] = tuple(values.get("webhook_allow_networks") or ())
    return Settings(**values)
