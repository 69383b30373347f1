"""The ``deploykit`` command line: the registry operations for shells, scripts and CI."""

from deploykit.cli.app import app, main

__all__ = ["app", "main"]
