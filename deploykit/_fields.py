"""Dataclasses built from names a caller chose: unknown names refused in one wording.

Settings, server options, drift options and alert rules all take keyword names from
users (code, environment, JSON); a misspelt one names the known ones, the same way
everywhere. Records read back from JSON keep only the fields they know, so an older
client reads a newer server's answer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

__all__ = ["field_names", "from_known", "known_items", "refuse_unknown", "replace_fields"]

_T = TypeVar("_T")


def field_names(cls: Any) -> set[str]:
    """The field names of a dataclass (or of an instance's class)."""
    return {f.name for f in dataclasses.fields(cls)}


def refuse_unknown(
    given: Iterable[str], known: Iterable[str], *, what: str, known_as: str, error: type[Exception]
) -> None:
    """Raise ``error`` naming the ``given`` names not in ``known``:
    "Unknown <what>(s) 'x'; <known_as> a, b."."""
    known = set(known)
    unknown = sorted(set(given) - known)
    if unknown:
        raise error(
            f"Unknown {what}(s) {', '.join(map(repr, unknown))}; "
            f"{known_as} {', '.join(sorted(known))}."
        )


def replace_fields(obj: _T, changes: Mapping[str, Any], *, what: str, known_as: str) -> _T:
    """A copy of the dataclass ``obj`` with ``changes``; an unknown name is a
    ConfigurationError (what ``Settings.replace`` and ``ServerConfig.replace`` raise)."""
    from deploykit.errors import ConfigurationError

    refuse_unknown(
        changes, field_names(obj), what=what, known_as=known_as, error=ConfigurationError
    )
    return dataclasses.replace(obj, **changes)  # type: ignore[type-var]


def known_items(cls: Any, data: Mapping[str, Any]) -> dict[str, Any]:
    """The items of ``data`` that are fields of ``cls``: what a newer writer added is dropped."""
    known = field_names(cls)
    return {k: v for k, v in data.items() if k in known}


def from_known(cls: type[_T], data: Mapping[str, Any]) -> _T:
    """``cls`` from the items of ``data`` that are its fields; the others are ignored."""
    return cls(**known_items(cls, data))
