"""The cards part of the OpenAPI document: a version's card and lineage, and amendments.

Merged into ``/openapi.json`` by :func:`deploykit.server.openapi.openapi_document`.
"""

from __future__ import annotations

from typing import Any

from deploykit.cards.fields import CARD_FIELDS
from deploykit.server.openapi_parts import (
    AUTH,
    NAME,
    ON_BEHALF,
    READ,
    REF_PARAM,
    errors,
    get,
    object_schema,
    post,
    query_param,
    ref,
)

__all__ = ["paths"]


_FIELDS = {
    "type": "object",
    "description": "Card fields to change; null or '' clears one",
    "properties": {
        key: (
            {"type": ["array", "string", "null"], "items": {"type": "string"}, "description": d}
            if key == "owners"
            else {"type": ["string", "null"], "maxLength": 20_000, "description": d}
        )
        for key, d in CARD_FIELDS.items()
    },
    "additionalProperties": False,
}


def paths() -> dict[str, Any]:
    params = [NAME, REF_PARAM]
    return {
        "/v1/models/{name}/versions/{ref}/card": {
            "get": {
                "summary": "The version's model card with its history so far: Markdown, or "
                "HTML when Accept prefers text/html (or ?format=html)",
                "security": AUTH,
                "parameters": [
                    *params,
                    query_param(
                        "revision",
                        {"type": "integer", "minimum": 1, "maximum": 10**9},
                        "A card revision (default: the latest)",
                    ),
                    query_param(
                        "format",
                        {"type": "string", "enum": ["markdown", "html"]},
                        "Overrides Accept",
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "The card",
                        "content": {
                            "text/markdown": {"schema": {"type": "string"}},
                            "text/html": {"schema": {"type": "string"}},
                        },
                    },
                    **errors(*READ),
                },
            },
            "post": post(
                "Amend the card: a new revision with some fields changed (the "
                "version stays as pushed; a 'card' event is logged)",
                object_schema(
                    ["fields"],
                    fields=_FIELDS,
                    reason={"type": ["string", "null"], "maxLength": 2000},
                ),
                ref("CardRevision"),
                parameters=[*params, ON_BEHALF],
            ),
        },
        "/v1/models/{name}/versions/{ref}/lineage": get(
            "Where the version came from, and its reference sample", ref("Lineage"), params=params
        ),
    }
