"""What every route handler stands on: the :class:`Call` it gets, and the wrapper around it.

Each handler runs behind :func:`endpoint`, which checks the caller's role, turns any
deploykit error into the error JSON with its status, and answers any other exception
with a 500 carrying a request id (and logs it). Registry calls are blocking SQL, so
handlers run them with :func:`thread`. Shared by ``routes`` and ``monitor_routes`` so
that neither imports the other's internals.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from deploykit.errors import DeployKitError, InvalidInputError, ModelNotFoundError
from deploykit.server.payloads import json_type
from deploykit.server.responses import error_response, json_response, read_json
from deploykit.server.wire import BadRequestError, new_request_id

if TYPE_CHECKING:
    from deploykit.server.state import ServerState

__all__ = ["ON_BEHALF_HEADER", "Call", "Handler", "endpoint", "field", "thread"]

ON_BEHALF_HEADER = "x-deploykit-on-behalf-of"
_ON_BEHALF_MAX = 100


@dataclass(frozen=True)
class Call:
    request: Request
    state: ServerState
    actor: str

    @property
    def name(self) -> str:
        return self.request.path_params["name"]

    async def json(self) -> dict[str, Any]:
        body = await read_json(self.request, self.state.config.max_body_bytes)
        if not isinstance(body, dict):
            raise InvalidInputError(
                f"The request body must be a JSON object. Got {json_type(body)}."
            )
        return body

    def query_int(self, key: str, default: int | None, *, low: int = 1, high: int = 10**9) -> Any:
        raw = self.request.query_params.get(key)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise InvalidInputError(
                f"The '{key}' query parameter must be an integer in [{low}, {high}]. "
                f"Got {raw!r} instead."
            )
        return value


Handler = Callable[[Call], Awaitable[Any]]


def endpoint(state: ServerState, role: str | None, handler: Handler) -> Callable[..., Any]:
    async def run(request: Request) -> Response:
        try:
            actor = "anonymous"
            if role is not None:
                _, actor = await state.authorize(request.headers.get("authorization"), role)
                person = _on_behalf_of(request)
                if person is not None:
                    actor = f"{actor} for {person}"
            result = await handler(Call(request, state, actor))
        except ClientDisconnect:
            return error_response(BadRequestError("The client disconnected mid-request."))
        except ModelNotFoundError as exc:
            error = exc
            if role is None and not await _holds_token(state, request):
                # An open route: the caller may be anyone, so no list of the other models.
                error = ModelNotFoundError(f"No model named {request.path_params.get('name')!r}.")
            return error_response(error, new_request_id())
        except Exception as exc:  # DeployKitError -> its status; anything else -> 500, logged
            return error_response(exc, new_request_id())  # an id to quote in a bug report
        if isinstance(result, Response):
            return result
        return json_response(_plain(result))

    return run


async def _holds_token(state: ServerState, request: Request) -> bool:
    try:
        await state.authorize(request.headers.get("authorization"), "viewer")
    except DeployKitError:
        return False
    return True


def _on_behalf_of(request: Request) -> str | None:
    """The person a token holder says it acts for, checked: one printable line, short."""
    raw = request.headers.get(ON_BEHALF_HEADER)
    if raw is None:
        return None
    value = raw.encode("latin-1").decode("utf-8", errors="replace").strip()  # sent as UTF-8
    if not value or len(value) > _ON_BEHALF_MAX or not value.isprintable():
        raise InvalidInputError(
            f"The X-Deploykit-On-Behalf-Of header must name a person in 1 to {_ON_BEHALF_MAX} "
            f"printable characters. Got {raw[:40]!r}{'...' if len(raw) > 40 else ''} instead."
        )
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else value


def thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Awaitable[Any]:
    return asyncio.to_thread(fn, *args, **kwargs)


_KIND_NAMES = {
    int: "an integer",
    float: "a number",
    str: "a string",
    bool: "true or false",
    dict: "an object",
    list: "a list",
}


def field(body: dict[str, Any], key: str, kinds: tuple[type, ...], default: Any = ...) -> Any:
    if key not in body or body[key] is None:
        if default is ...:
            raise InvalidInputError(f"The request body needs the field {key!r}.")
        return default
    value = body[key]
    if int in kinds and isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON has one number type: 3.0 is the integer 3
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        names = " or ".join(_KIND_NAMES.get(k, k.__name__) for k in kinds)
        raise InvalidInputError(
            f"The field {key!r} must be {names}. Got {json_type(value)} {value!r} instead."
        )
    return value
