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
import os
import re
import secrets
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from deploykit.errors import DeployKitError, InvalidInputError, http_status

__all__ = [
    "BadRequestError",
    "PayloadTooLargeError",
    "UnsupportedMediaTypeError",
    "dumps",
    "error_body",
    "error_response",
    "json_response",
    "new_request_id",
    "read_json",
]

log = logging.getLogger("deploykit.server")

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


class BadRequestError(InvalidInputError):
    """Malformed JSON: answered 400 (``type`` InvalidInputError on the wire)."""

    status = 400


class PayloadTooLargeError(InvalidInputError):
    status = 413


class UnsupportedMediaTypeError(InvalidInputError):
    status = 415


def status_of(exc: BaseException) -> int:
    return getattr(exc, "status", None) or http_status(exc)


def wire_type(exc: BaseException) -> str:
    """The class name sent: the nearest class the client knows (deploykit.errors)."""
    for cls in type(exc).__mro__:
        if cls.__module__ == "deploykit.errors":
            return cls.__name__
    return "DeployKitError"


def new_request_id() -> str:
    return secrets.token_hex(8)


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value, option=_OPTIONS)
    except TypeError:  # object arrays (string class labels) and other non-native values
        return orjson.dumps(value, default=_fallback, option=_OPTIONS)


def _fallback(value: Any) -> Any:
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        return isoformat()
    return str(value)


# -- what a remote caller may not read -------------------------------------------------
# Messages written for a local user name the database URL, the home folder or an
# artifact's path. Over HTTP they are replaced by stand-ins (the server's log keeps
# the original): where the registry lives is not the caller's business.
_PRIVATE: dict[str, str] = {}
_STORE_URL = re.compile(r"\b[a-zA-Z][\w+.-]*://(?<!https://)(?<!http://)[^\s'\"),;<>]+")
_PATH = re.compile(r"(?<![\w.:/~-])(?:[A-Za-z]:)?/(?!v1/)[\w.@+-]+(?:/[\w.@+*-]*)+")


def keep_private(text: str | os.PathLike[str] | None, stand_in: str) -> None:
    """Never show ``text`` (a URL, a folder) in an error a remote caller receives."""
    text = str(text or "").strip()
    if len(text) > 1:
        _PRIVATE[text] = stand_in


def public(message: str) -> str:
    """``message`` without this server's database URL, folders, store URLs or paths."""
    message = _STORE_URL.sub("<store URL>", message)
    for text in sorted(_PRIVATE, key=len, reverse=True):
        message = message.replace(text, _PRIVATE[text])
    return _PATH.sub("<path>", message)


def error_body(exc: BaseException, request_id: str | None = None) -> dict[str, Any]:
    if isinstance(exc, DeployKitError):
        error: dict[str, Any] = {"type": wire_type(exc), "message": public(str(exc))}
        problems = getattr(exc, "problems", None)
        if problems:
            error["problems"] = [public(str(p)) for p in problems]
    else:
        error = {
            "type": "DeployKitError",
            "message": "Internal server error. The server logged the details under this "
            f"request id: {request_id}.",
        }
    if request_id:
        error["request_id"] = request_id
    return {"error": error}


def error_response(exc: BaseException, request_id: str | None = None) -> Response:
    if not isinstance(exc, DeployKitError):
        request_id = request_id or new_request_id()
        log.error("unexpected error in request %s", request_id, exc_info=exc)
        status = 500
    else:
        status = status_of(exc)
        if status >= 500:  # the server's fault: its log keeps what the caller does not see
            log.warning("request %s: %s: %s", request_id, type(exc).__name__, exc)
    headers = {"x-request-id": request_id} if request_id else None
    return Response(
        dumps(error_body(exc, request_id)),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        dumps(value), status_code=status, media_type="application/json", headers=headers
    )


# curl -d sends this type unless told otherwise; the body is still parsed as JSON (and a
# form-encoded body then gets a 400 saying it is not JSON), so `curl -d '{...}'` just works.
_CURL_DEFAULT = "application/x-www-form-urlencoded"


def is_json(content_type: str | None) -> bool:
    """Whether a Content-Type is taken as JSON: JSON types, none at all, or curl's default."""
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media in ("application/json", _CURL_DEFAULT) or media.endswith("+json")


def check_json_type(content_type: str | None) -> None:
    if not is_json(content_type):
        raise UnsupportedMediaTypeError(
            f"This endpoint takes JSON: send 'Content-Type: application/json'. "
            f"Got {content_type!r} instead."
        )


def check_length(content_length: str | None, limit: int) -> None:
    if content_length is None:
        return
    try:
        size = int(content_length)
    except ValueError:
        raise BadRequestError(
            f"Content-Length must be an integer. Got {content_length!r}."
        ) from None
    if size > limit:
        raise PayloadTooLargeError(
            f"The request body is {size} bytes; this server takes at most {limit} bytes "
            "(server option max_body_bytes). Send fewer rows per request."
        )


def too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"The request body exceeds {limit} bytes, the most this server takes "
        "(server option max_body_bytes). Send fewer rows per request."
    )


def parse_json(body: bytes) -> Any:
    if not body:
        raise BadRequestError("The request body is empty; send a JSON object.")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        start = body[:40].decode("utf-8", "replace") + ("..." if len(body) > 40 else "")
        raise BadRequestError(
            f"The request body is not valid JSON ({exc}). Got {start!r} instead."
        ) from None


async def read_json(request: Request, limit: int) -> Any:
    """The JSON body of ``request``, refusing non-JSON types and bodies over ``limit``."""
    check_json_type(request.headers.get("content-type"))
    check_length(request.headers.get("content-length"), limit)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    if size > _INLINE_BYTES:  # decoding a large body must not hold up other requests
        return await asyncio.to_thread(parse_json, body)
    return parse_json(body)


_INLINE_BYTES = 64 * 1024
