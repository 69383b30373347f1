"""Plain JSON out of what models and numpy hand back: used by the registry's drafts and by
the compiler's records alike (kept apart so neither imports the other), and orjson's
``default`` for the predict bodies the client sends and the server answers.

``deploykit export --docker`` copies this module into images beside ``server/wire.py``:
it imports nothing from deploykit."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["encode_default", "json_safe"]


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON: numpy scalars unwrapped, NaN/inf as None, the rest repr()'d."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalar
    if callable(item) and getattr(value, "ndim", None) == 0:
        return json_safe(item())
    return repr(value)


def encode_default(value: Any, otherwise: Callable[[Any], Any]) -> Any:
    """orjson's ``default``: arrays and numpy/pandas scalars as their lists or Python
    values, dates as ISO text, anything else as ``otherwise(value)`` (which may raise
    TypeError to refuse it)."""
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        return isoformat()
    return otherwise(value)
