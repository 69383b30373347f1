"""The installed deploykit's version, in a module of its own so that anything (the
server's OpenAPI document, the CLI) can read it without importing the package root."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("deploykit")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+unknown"
