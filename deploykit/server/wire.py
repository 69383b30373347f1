"""The predict contract on the wire, shared by ``deploykit serve`` and exported images.

Request bodies (JSON under a size limit, ``?proba=``, ``X-Request-Id``) and error
bodies, in one shape whatever raised them::

    {"error": {"type": "SignatureError", "message": "...", "problems": ["..."],
               "request_id": "..."}}

``type`` is the deploykit exception class, which :class:`deploykit.Client` raises
again on its side. This module imports no web framework: ``deploykit export --docker``
copies it (with :mod:`deploykit.errors`, :mod:`deploykit._json`, :mod:`deploykit.signature`
and :mod:`deploykit.server.payloads`) into the image, so the image answers as the server does.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable
from typing import Any

import orjson

import deploykit.errors as _errors
from deploykit._json import encode_default
from deploykit.errors import DeployKitError, InvalidInputError, http_status

__all__ = [
    "BadRequestError",
    "PayloadTooLargeError",
    "UnsupportedMediaTypeError",
    "bounded",
    "check_json_type",
    "check_length",
    "dumps",
    "error_body",
    "keep_private",
    "new_request_id",
    "parse_json",
    "public",
    "public_problems",
    "read_body",
    "request_id_from",
    "status_of",
    "too_large",
    "wants_proba",
    "wire_type",
]

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


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
        if cls.__module__ == _errors.__name__:
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
    return encode_default(value, str)


# -- what a remote caller may not read -------------------------------------------------
# Messages written for a local user name the database URL, the home folder or an
# artifact's path. Over HTTP they are replaced by stand-ins (the server's log keeps
# the original): where the registry lives is not the caller's business.
_PRIVATE: dict[str, str] = {}
_STORE_URL = re.compile(r"\b[a-zA-Z][\w+.-]*://(?<!https://)(?<!http://)[^\s'\"),;<>]+")
# This server's own routes (/v1/..., /v2/..., /models/NAME/invocations) are hints, not paths.
_PATH = re.compile(
    r"(?<![\w.:/~-])(?:[A-Za-z]:)?/"
    r"(?!v[12]/|models/[^/\s]+/(?:invocations|ping|health|version)\b)"
    r"[\w.@+-]+(?:/[\w.@+*-]*)+"
)
# An error quotes what came, and what came may be megabytes: a message keeps its head
# (the field, what was expected) and its tail (the hint), so an error stays small (gRPC
# refuses status details over 16 KiB) whatever the request held.
MAX_MESSAGE_CHARS = 4000
MAX_PROBLEMS = 50


def keep_private(text: str | os.PathLike[str] | None, stand_in: str) -> None:
    """Never show ``text`` (a URL, a folder) in an error a remote caller receives."""
    text = str(text or "").strip()
    if len(text) > 1:
        _PRIVATE[text] = stand_in


def public(message: str) -> str:
    """``message`` without this server's database URL, folders, store URLs or paths, and
    at most about ``MAX_MESSAGE_CHARS`` long."""
    # cut first, far from what will be shown, so a huge message is not searched in full
    message = bounded(message, 16 * MAX_MESSAGE_CHARS)
    message = _STORE_URL.sub("<store URL>", message)
    for text in sorted(_PRIVATE, key=len, reverse=True):
        message = message.replace(text, _PRIVATE[text])
    return bounded(_PATH.sub("<path>", message))


def public_problems(problems: Any) -> list[str]:
    """The first ``MAX_PROBLEMS`` of an error's ``problems``, each :func:`public`."""
    problems = list(problems or ())
    shown = [public(str(p)) for p in problems[:MAX_PROBLEMS]]
    if len(problems) > MAX_PROBLEMS:
        shown.append(f"… and {len(problems) - MAX_PROBLEMS:,} more")
    return shown


def bounded(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``message`` cut in the middle to about ``limit`` characters: the first three
    quarters and the last quarter stay."""
    if len(message) <= limit:
        return message
    head, tail = limit * 3 // 4, limit // 4
    cut = len(message) - head - tail
    return f"{message[:head]} …[{cut:,} characters cut]… {message[-tail:]}"


def error_body(exc: BaseException, request_id: str | None = None) -> dict[str, Any]:
    if isinstance(exc, DeployKitError):
        error: dict[str, Any] = {"type": wire_type(exc), "message": public(str(exc))}
        problems = getattr(exc, "problems", None)
        if problems:
            error["problems"] = public_problems(problems)
    else:
        error = {
            "type": "DeployKitError",
            "message": "Internal server error. The server logged the details under this "
            f"request id: {request_id}.",
        }
    if request_id:
        error["request_id"] = request_id
    return {"error": error}


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
            f"The request body is {size:,} bytes; this server takes at most {limit:,} bytes "
            "(server option max_body_bytes, DEPLOYKIT_SERVE_MAX_BODY_BYTES). "
            "Send fewer rows per request."
        )


def too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"The request body exceeds {limit:,} bytes, the most this server takes "
        "(server option max_body_bytes, DEPLOYKIT_SERVE_MAX_BODY_BYTES). "
        "Send fewer rows per request."
    )


async def read_body(
    receive: Any, limit: int, check: Callable[[bytes], None] | None = None
) -> bytes:
    """An ASGI request's body, refused as soon as it grows past ``limit`` bytes: a client
    cannot make the server hold more than that. ``check`` sees each chunk as it arrives,
    to refuse a body early on other grounds too."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise BadRequestError("The client closed the connection before sending the whole body.")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        if check is not None:
            check(chunk)
        if not message.get("more_body", False):
            if not chunks:
                return chunk  # the usual single message: no copy
            chunks.append(chunk)
            return b"".join(chunks)
        chunks.append(chunk)


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


def request_id_from(header: str) -> str:
    """The client's ``X-Request-Id`` if it is a plain token, else a new id."""
    return header if _REQUEST_ID.fullmatch(header) else new_request_id()


def wants_proba(query: bytes) -> bool:
    """``?proba=true`` (or 1/yes/on); anything but a boolean is the caller's mistake."""
    if not query or b"proba" not in query:
        return False
    for part in query.decode("latin-1").split("&"):
        key, _, value = part.partition("=")
        if key == "proba":
            if value.lower() in _TRUE:
                return True
            if value.lower() in _FALSE:
                return False
            raise InvalidInputError(
                "The query parameter 'proba' must be true or false (or 1/0). "
                f"Got {value!r} instead."
            )
    return False
