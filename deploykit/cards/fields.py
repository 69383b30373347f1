"""The editable part of a card: what a person writes about a version, checked.

Everything else on a card is read from the version and cannot change; these fields
can, as new card revisions (:meth:`deploykit.Registry.amend_card`). ``owners`` is a
list of names; the others are free text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deploykit.errors import InvalidInputError

__all__ = ["CARD_FIELDS", "check_fields"]

#: Field -> what it says, in the order a card shows them.
CARD_FIELDS: dict[str, str] = {
    "intended_use": "What the model is for, and for whom",
    "out_of_scope": "Uses it was not built or checked for",
    "limitations": "Known weaknesses, data it has not seen, caveats",
    "ethical_considerations": "Who could be harmed, and what was done about it",
    "owners": "The people to ask (a list of names)",
    "notes": "Anything else",
}
_MAX_TEXT = 20_000
_MAX_OWNERS = 50


def check_fields(value: Any, *, parameter: str = "card") -> dict[str, Any]:
    """``value`` as clean card fields, or InvalidInputError naming the bad one.

    Empty strings and ``None`` drop a field; ``owners`` may be one name or a list.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInputError(
            f"The '{parameter}' parameter must be a mapping of card fields such as "
            f"{{'intended_use': '...', 'owners': ['ana']}}. Got {type(value).__name__} instead."
        )
    unknown = sorted(str(k) for k in value if k not in CARD_FIELDS)
    if unknown:
        raise InvalidInputError(
            f"The '{parameter}' parameter has unknown field(s) {', '.join(map(repr, unknown))}; "
            f"a card's editable fields are {', '.join(CARD_FIELDS)}."
        )
    clean: dict[str, Any] = {}
    for key, item in value.items():
        if item is None or item == "" or item == []:
            continue
        if key == "owners":
            owners = [item] if isinstance(item, str) else item
            if not isinstance(owners, list | tuple) or not all(
                isinstance(o, str) and o.strip() and len(o) <= 200 for o in owners
            ):
                raise InvalidInputError(
                    f"The '{parameter}.owners' field must be a name or a list of names "
                    f"(strings of 1 to 200 characters). Got {item!r:.80} instead."
                )
            if len(owners) > _MAX_OWNERS:
                raise InvalidInputError(
                    f"The '{parameter}.owners' field takes at most {_MAX_OWNERS} names. "
                    f"Got {len(owners)}."
                )
            clean[key] = [o.strip() for o in owners]
        elif not isinstance(item, str) or len(item) > _MAX_TEXT:
            got = f"{len(item)} characters" if isinstance(item, str) else type(item).__name__
            raise InvalidInputError(
                f"The '{parameter}.{key}' field must be text of at most {_MAX_TEXT} "
                f"characters. Got {got} instead."
            )
        else:
            clean[key] = item.strip()
    return clean
