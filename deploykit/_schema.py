"""A small JSON Schema checker: the subset deploykit's own schemas use, with plain messages.

One schema serves twice: the server publishes it in ``/openapi.json`` and
:func:`check` enforces it, so the document and the behaviour cannot drift apart.
Supported keywords: ``type`` (one or a list), ``enum``, ``properties``, ``required``,
``additionalProperties`` (a schema or a bool), ``items``, ``minimum``, ``maximum``,
``minLength``, ``maxLength``, ``pattern``, ``maxProperties``. ``description`` and other
annotations are ignored. A message names the field, what was expected and what came::

    The field 'draft.gate' must be an object or null. Got an array [1] instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from deploykit.errors import InvalidInputError

__all__ = ["check", "json_type"]

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}
_NAMES = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def json_type(value: Any) -> str:
    """What a JSON client sent, in JSON's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    names: dict[type, str] = {
        dict: "an object",
        list: "an array",
        str: "a string",
        float: "a number",
    }
    return names.get(type(value), type(value).__name__)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is(value: Any, kind: str) -> bool:
    if isinstance(value, bool) and kind != "boolean":
        return False  # JSON has no 1 == true
    return isinstance(value, _TYPES[kind])


def _fail(where: str, expected: str, value: Any) -> InvalidInputError:
    got = json_type(value) if value is None else f"{json_type(value)} {_shown(value)}"
    return InvalidInputError(f"The field {where!r} must be {expected}. Got {got} instead.")


@cache
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text)


def check(schema: Mapping[str, Any], value: Any, where: str) -> None:
    """Raise :class:`InvalidInputError` naming the first field of ``value`` that breaks
    ``schema``; ``where`` names ``value`` itself (``"draft"``)."""
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        if not any(_is(value, k) for k in kinds):
            if "enum" in schema:  # the choices say more than their type
                raise _fail(where, f"one of {', '.join(map(repr, schema['enum']))}", value)
            raise _fail(where, " or ".join(_NAMES[k] for k in kinds), value)
    if "enum" in schema and value not in schema["enum"]:
        choices = ", ".join(repr(c) for c in schema["enum"])
        raise _fail(where, f"one of {choices}", value)
    if isinstance(value, str):
        _check_string(schema, value, where)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise _fail(where, f"at least {schema['minimum']}", value)
        if "maximum" in schema and value > schema["maximum"]:
            raise _fail(where, f"at most {schema['maximum']}", value)
    elif isinstance(value, dict):
        _check_object(schema, value, where)
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            check(schema["items"], item, f"{where}[{i}]")


def _check_string(schema: Mapping[str, Any], value: str, where: str) -> None:
    if len(value) < schema.get("minLength", 0):
        raise _fail(where, f"a string of at least {schema['minLength']} character(s)", value)
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        raise _fail(where, f"a string of at most {schema['maxLength']:,} characters", value)
    pattern = schema.get("pattern")
    if pattern is not None and not _pattern(pattern).search(value):
        described = schema.get("x-pattern-text") or f"a string matching {pattern}"
        raise _fail(where, described, value)


def _check_object(schema: Mapping[str, Any], value: dict[str, Any], where: str) -> None:
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        raise InvalidInputError(
            f"The field {where!r} may have at most {schema['maxProperties']:,} entries. "
            f"Got {len(value):,} instead."
        )
    missing = [k for k in schema.get("required", ()) if k not in value]
    if missing:
        raise InvalidInputError(
            f"The field {where!r} needs the field(s) {', '.join(map(repr, missing))}."
        )
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        sub = properties.get(key)
        if sub is not None:
            check(sub, item, f"{where}.{key}")
        elif extra is False:
            known = ", ".join(map(repr, properties))
            raise InvalidInputError(
                f"The field {where!r} has an unknown field {key!r}; known fields: {known}."
            )
        elif isinstance(extra, Mapping):
            check(extra, item, f"{where}.{key}")
