"""The card route's answer: Markdown or HTML, chosen by the ``Accept`` header.

``?format=html|markdown`` overrides the header (for a plain link). HTML is rendered
with raw HTML off (:mod:`deploykit.cards.html`) and served under a policy that runs no
script and loads nothing, since its text comes from users.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response

from deploykit.errors import InvalidInputError
from deploykit.server.endpoint import thread

if TYPE_CHECKING:
    from deploykit.server.endpoint import Call

__all__ = ["card_response", "preferred_format"]

_HTML_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def preferred_format(accept: str | None, query: str | None) -> str:
    """``html`` or ``markdown``: the query's choice, else the first of them ``accept`` names."""
    if query is not None:
        if query not in ("html", "markdown"):
            raise InvalidInputError(
                f"The 'format' query parameter must be 'html' or 'markdown'. Got {query!r}."
            )
        return query
    best, best_q = "markdown", -1.0
    for position, part in enumerate((accept or "").split(",")):
        media, _, params = part.strip().partition(";")
        kind = {"text/html": "html", "text/markdown": "markdown", "text/plain": "markdown"}.get(
            media.strip().lower()
        )
        if kind is None:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        q -= position * 1e-6  # ties go to the earlier one
        if q > best_q and q > 0:
            best, best_q = kind, q
    return best


async def card_response(call: Call) -> Response:
    request = call.request
    format = preferred_format(request.headers.get("accept"), request.query_params.get("format"))
    revision = call.query_int("revision", None)
    ref = request.path_params["ref"]
    text = await thread(call.state.registry.card, call.name, ref, revision=revision, format=format)
    headers = {"vary": "Accept", "x-content-type-options": "nosniff"}
    if format == "html":
        headers["content-security-policy"] = _HTML_POLICY
        return Response(text, media_type="text/html; charset=utf-8", headers=headers)
    return Response(text, media_type="text/markdown; charset=utf-8", headers=headers)
