"""JSON in and out: bodies read under a size limit, errors in one shape.

Every error the server answers has this body, whatever raised it::

    {"error": {"type": "SignatureError", "message": "...", "problems": ["..."],
               "request_id": "..."}}

``type`` is the deploykit exception class, which :class:`deploykit.Client`
raises again on its side.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from deploykit.errors import DeployKitError
from deploykit.server import wire

# The wire contract (error bodies, JSON, request ids) is deploykit.server.wire, shared with
# exported images; this module adds the Starlette side.
__all__ = ["error_response", "json_response", "read_json"]

log = logging.getLogger("deploykit.server")


def error_response(exc: BaseException, request_id: str | None = None) -> Response:
    if not isinstance(exc, DeployKitError):
        request_id = request_id or wire.new_request_id()
        log.error("unexpected error in request %s", request_id, exc_info=exc)
        status = 500
    else:
        status = wire.status_of(exc)
        if status >= 500:  # the server's fault: its log keeps what the caller does not see
            log.warning("request %s: %s: %s", request_id, type(exc).__name__, exc)
    headers = {"x-request-id": request_id} if request_id else None
    return Response(
        wire.dumps(wire.error_body(exc, request_id)),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        wire.dumps(value), status_code=status, media_type="application/json", headers=headers
    )


async def read_json(request: Request, limit: int) -> Any:
    """The JSON body of ``request``, refusing non-JSON types and bodies over ``limit``."""
    wire.check_json_type(request.headers.get("content-type"))
    wire.check_length(request.headers.get("content-length"), limit)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise wire.too_large(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    if size > _INLINE_BYTES:  # decoding a large body must not hold up other requests
        return await asyncio.to_thread(wire.parse_json, body)
    return wire.parse_json(body)


_INLINE_BYTES = 64 * 1024
