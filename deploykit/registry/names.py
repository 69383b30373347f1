"""Rules for model and alias names, and the "did you mean" hint for unknown ones."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from deploykit.errors import InvalidInputError

__all__ = ["check_alias_name", "check_model_name", "did_you_mean"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_RULE = "1 to 128 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"
_NUMBER = re.compile(r"[+-]?\d+")


def check_model_name(name: object) -> str:
    """``name`` if it is a valid model name; InvalidInputError naming the rule otherwise."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInputError(
            f"The model name must be {_RULE}, such as 'churn' or 'churn-rf.v2'. "
            f"Got {name!r} instead."
        )
    return name


def check_alias_name(alias: object) -> str:
    """``alias`` if it is a valid alias name; InvalidInputError naming the rule otherwise.

    An alias may not look like a version number or be ``latest``, so that a
    reference such as ``"3"`` or ``"latest"`` always means one thing.
    """
    if not isinstance(alias, str) or not _NAME.fullmatch(alias):
        raise InvalidInputError(
            f"The alias name must be {_RULE}, such as 'production' or 'staging'. "
            f"Got {alias!r} instead."
        )
    if _NUMBER.fullmatch(alias) or alias.lower() == "latest":
        raise InvalidInputError(
            f"The alias name {alias!r} is reserved: it would read as a version reference. "
            "Choose a name such as 'production', 'staging' or 'canary'."
        )
    return alias


def did_you_mean(name: str, known: Iterable[str], *, what: str = "model") -> str:
    """The tail of a not-found message: close matches, else the known names, else how to start."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    if close:
        return f" (did you mean {' or '.join(map(repr, close))}?)"
    if not known:
        return f"; the registry has no {what}s yet"
    shown = ", ".join(map(repr, known[:10]))
    more = f" and {len(known) - 10} more" if len(known) > 10 else ""
    return f"; known {what}s: {shown}{more}"
