"""The predict hot path, as a bare ASGI endpoint.

Starlette's Request/Response objects cost more than a small model's predict,
so this endpoint reads the headers and body itself: the body size is checked
against the limit while it streams in (413 before reading it all), the JSON is
parsed with orjson, the signature's numeric fast path builds the ndarray, and the
version's micro-batcher runs the model. No database is touched: telemetry and the
prediction log are in-memory appends, flushed by background threads.

Who may call: the alias route and versions an alias points at are open unless
``predict_requires_token``; a version no alias points at needs a ``deployer`` token,
because predicting with it makes this server load (for a pickle: run) a version
nobody deployed. An unknown model's 404 suggests other names only to token holders.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from deploykit.errors import (
    AuthenticationError,
    DeployKitError,
    InvalidInputError,
    ModelNotFoundError,
    PermissionDeniedError,
    VersionNotFoundError,
)
from deploykit.server.experiments import KEY_HEADER
from deploykit.server.payloads import (
    Limits,
    Parsed,
    check_limits,
    ignored_columns,
    no_bool_literal,
    parse_body,
    too_many_values,
)
from deploykit.server.responses import error_response
from deploykit.server.wire import (
    check_json_type,
    check_length,
    dumps,
    error_body,
    new_request_id,
    parse_json,
    read_body,
    status_of,
    wants_proba,
)

if TYPE_CHECKING:
    from deploykit.server.models import LoadedModel
    from deploykit.server.state import ServerState

__all__ = ["PredictEndpoint"]

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def _headers(scope: dict[str, Any]) -> dict[bytes, bytes]:
    return {k: v for k, v in scope["headers"] if k in _WANTED}


_WANTED = {b"content-type", b"content-length", b"authorization", b"x-request-id", KEY_HEADER}


class PredictEndpoint:
    """``POST /v1/models/{name}/predict`` and ``.../versions/{version}/predict``."""

    def __init__(self, state: ServerState) -> None:
        self.state = state

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        start = time.perf_counter()
        state = self.state
        params = scope["path_params"]
        name: str = params["name"]
        headers = _headers(scope)
        given_id = headers.get(b"x-request-id", b"").decode("latin-1")
        # The caller's id is echoed for tracing; the answer's request_id is one this server
        # signs for this model, the only kind feedback may label (see request_ids.py).
        trace_id = given_id if _REQUEST_ID.fullmatch(given_id) else None
        request_id = ""
        loaded: LoadedModel | None = None
        rows = 0
        authorized = False
        variant = b""  # which side of a running experiment answered
        shadow: Any = None  # the running shadow's Split, when it mirrors this request
        logged = False  # production's row went to the prediction log
        try:
            authorization = headers.get(b"authorization")
            # Open predict still refuses a token it does not know: a typo must not pass silently.
            if state.config.predict_requires_token or authorization:
                await state.authorize(authorization, "viewer")
                authorized = True
            loaded = await self._resolve(name, params.get("version"), authorization)
            content_type = headers.get(b"content-type")
            check_json_type(content_type.decode("latin-1") if content_type else None)
            limit = state.config.max_body_bytes
            length = headers.get(b"content-length")
            check_length(length.decode("latin-1") if length else None, limit)
            spec = loaded.spec
            limits = Limits.of(state.config, len(spec.columns) if spec is not None else None)
            body = await _read_body(receive, limit, limits)
            proba = wants_proba(scope.get("query_string", b""))
            if proba and not loaded.has_proba:
                raise InvalidInputError(
                    f"Model {loaded.record.ref} ({loaded.record.estimator}) has no "
                    "predict_proba; drop ?proba=true."
                )
            if len(body) <= _INLINE_BYTES:  # the common small request: no thread hop
                parsed, data, rows = _prepare(body, loaded, limits)
            else:  # decoding and checking a large body must not hold up other requests
                parsed, data, rows = await asyncio.to_thread(_prepare, body, loaded, limits)
            split = state.host.splits.get(name) if "version" not in params else None
            if split is not None:
                loaded, answered, shadow = split.route(headers.get(KEY_HEADER), parsed, loaded)
                variant = answered.encode()
                if answered == "candidate":  # its own columns; without predict_proba, classes
                    proba = proba and loaded.has_proba
                    data, rows = loaded.to_input(parsed)
            predictions, probabilities, model_seconds = await loaded.predict_timed(
                data, rows, proba, state.predlog.enabled
            )
            request_id = state.request_ids.issue(name)
            answer: dict[str, Any] = {
                "predictions": predictions,
                "model": name,
                "version": loaded.version,
                "request_id": request_id,
            }
            if proba and probabilities is not None:
                answer["probabilities"] = probabilities
                answer["classes"] = loaded.classes
            ignored = ignored_columns(parsed, loaded.spec)
            if ignored:
                answer["ignored_columns"] = ignored
            payload = dumps(answer)
            status = 200
            if state.predlog.enabled:
                columns = loaded.spec.columns if loaded.spec is not None else None
                classes = loaded.classes if probabilities is not None else None
                logged = state.predlog.add(
                    request_id,
                    name,
                    loaded.version,
                    data,
                    np.asarray(predictions),
                    tuple(columns) if columns else None,
                    probabilities=None if classes is None else np.asarray(probabilities),
                    classes=None if classes is None else tuple(classes),
                )
        except Exception as exc:
            request_id = trace_id or new_request_id()
            error = exc
            if isinstance(exc, ModelNotFoundError) and not authorized:
                error = ModelNotFoundError(f"No model named {name!r}.")  # no list of the others
            if isinstance(error, DeployKitError):
                status = status_of(error)
                payload = dumps(error_body(error, request_id))
            else:
                response = error_response(error, request_id)  # logs it
                status, payload = 500, bytes(response.body)
        if loaded is not None:
            state.telemetry.record(name, loaded.version, status, time.perf_counter() - start, rows)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"x-request-id", (trace_id or request_id).encode()),
                    *(
                        [(b"x-model-version", str(loaded.version).encode())]
                        if loaded is not None
                        else []
                    ),
                    *([(b"x-deploykit-variant", variant)] if variant else []),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
        if shadow is not None and status == 200 and loaded is not None:  # references queued
            state.shadow.submit(
                shadow, loaded, parsed, data, rows, request_id, model_seconds, logged
            )

    async def _resolve(
        self, name: str, version: str | None, authorization: bytes | None
    ) -> LoadedModel:
        host = self.state.host
        if version is None:
            loaded = host.routes.get(name)
            if loaded is not None:
                return loaded
            return await asyncio.to_thread(host.served, name)
        try:
            number = int(version)
        except ValueError:
            raise VersionNotFoundError(
                f"A version in the URL must be a number, as in /v1/models/{name}/versions/3/"
                f"predict. Got {version!r} instead."
            ) from None
        for loaded in host.routes.values():
            if loaded.name == name and loaded.version == number:
                return loaded
        if not await asyncio.to_thread(host.is_aliased, name, number):
            try:
                await self.state.authorize(authorization, "deployer")
            except (AuthenticationError, PermissionDeniedError) as exc:
                raise type(exc)(
                    f"Predicting with a version no alias points at (here {name}:{number}) "
                    "needs a token with the 'deployer' role: it makes the server load a "
                    f"version nobody deployed. Deploy it to an alias first, or: {exc}"
                ) from None
        return await asyncio.to_thread(host.version, name, number)


_INLINE_BYTES = 64 * 1024  # bodies up to this are decoded on the event loop (~0.2 ms)


def _prepare(body: bytes, loaded: LoadedModel, limits: Limits) -> tuple[Parsed, Any, int]:
    """Decode, check against the limits, then against the signature:
    (the parsed body, model input, rows)."""
    # no true/false literal anywhere (names included): numpy may read the values unchecked
    plain = no_bool_literal(body)
    parsed: Parsed = parse_body(parse_json(body), plain=plain)
    check_limits(parsed, limits, loaded.spec.columns if loaded.spec is not None else None)
    data, rows = loaded.to_input(parsed)
    return parsed, data, rows


async def _read_body(receive: Any, limit: int, limits: Limits) -> bytes:
    """The request body, refused as soon as it grows past ``limit`` bytes or ``limits``.

    Commas are counted as chunks arrive (a C loop, ~0.3 ms per MB): a body with more
    values than the limits allow is refused before any of it is decoded.
    """
    commas = 0

    def count_values(chunk: bytes) -> None:
        nonlocal commas
        commas += chunk.count(b",")
        if commas > limits.commas:
            raise too_many_values(limits)

    return await read_body(receive, limit, count_values)
