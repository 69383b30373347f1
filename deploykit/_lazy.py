"""A package's public names, imported from their modules on first use (PEP 562).

``import deploykit`` (and ``deploykit.console``, ``deploykit.monitoring``) stays quick:
scikit-learn, SQLAlchemy or ipywidgets load when a name that needs them is first read.
Each package keeps its table of names; this is the ``__getattr__``/``__dir__`` pair.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from importlib import import_module
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, modules: Mapping[str, str], public: Sequence[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``modules`` maps a public name to the
    module that defines it (absolute, or relative to ``package`` without a dot)."""

    def get(name: str) -> Any:
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        path = module if "." in module else f"{package}.{module}"
        value = getattr(import_module(path), name)
        vars(sys.modules[package])[name] = value  # found once; later reads skip this
        return value

    def names() -> list[str]:
        return sorted(public)

    return get, names
