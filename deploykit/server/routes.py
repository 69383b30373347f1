"""The registry and admin routes (everything but predict), one small handler each.

Each handler runs behind :func:`_endpoint`, which checks the caller's role,
turns any deploykit error into the error JSON with its status, and answers any
other exception with a 500 carrying a request id (and logs it). Registry calls
are blocking SQL, so they run in threads; the audit log records the token's name
as the actor. A front end that holds a token for several people (the JupyterLab
sidebar's Jupyter server) names the person it acts for in ``X-Deploykit-On-Behalf-Of``;
the actor is then "<token name> for <person>": the token stays on record, the person
is what the token holder asserts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from deploykit.errors import (
    ArtifactError,
    DeployKitError,
    InvalidInputError,
    NotFoundError,
)
from deploykit.records import utcnow
from deploykit.server.auth import check_role
from deploykit.server.payloads import json_type
from deploykit.server.responses import (
    BadRequestError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    check_length,
    error_response,
    json_response,
    new_request_id,
    read_json,
)
from deploykit.server.tables import feedback

if TYPE_CHECKING:
    from deploykit.server.app import ServerState
    from deploykit.server.models import LoadedModel

__all__ = ["routes"]

_CHUNK = 1 << 20
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


def _endpoint(state: ServerState, role: str | None, handler: Handler) -> Callable[..., Any]:
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
        except Exception as exc:  # DeployKitError -> its status; anything else -> 500, logged
            return error_response(exc, new_request_id())  # an id to quote in a bug report
        if isinstance(result, Response):
            return result
        return json_response(_plain(result))

    return run


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


def _thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Awaitable[Any]:
    return asyncio.to_thread(fn, *args, **kwargs)


_KIND_NAMES = {
    int: "an integer",
    float: "a number",
    str: "a string",
    bool: "true or false",
    dict: "an object",
    list: "a list",
}


def _field(body: dict[str, Any], key: str, kinds: tuple[type, ...], default: Any = ...) -> Any:
    if key not in body or body[key] is None:
        if default is ...:
            raise InvalidInputError(f"The request body needs the field {key!r}.")
        return default
    value = body[key]
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        names = " or ".join(_KIND_NAMES.get(k, k.__name__) for k in kinds)
        raise InvalidInputError(
            f"The field {key!r} must be {names}. Got {json_type(value)} {value!r} instead."
        )
    return value


# ---------------------------------------------------------------------- models
async def list_models(call: Call) -> Any:
    return await _thread(call.state.registry.models)


async def get_model(call: Call) -> Any:
    return await _thread(call.state.registry.model, call.name)


async def list_versions(call: Call) -> Any:
    return await _thread(call.state.registry.versions, call.name)


async def get_version(call: Call) -> Any:
    ref = call.request.path_params["ref"]
    return await _thread(call.state.registry.version, call.name, ref)  # the registry parses refs


async def get_aliases(call: Call) -> Any:
    return await _thread(call.state.registry.aliases, call.name)


async def push_version(call: Call) -> Any:
    from deploykit.registry import VersionDraft

    body = await call.json()
    draft = VersionDraft.from_dict(_field(body, "draft", (dict,)))
    deploy = _field(body, "deploy", (bool,), False)
    reg = call.state.registry_as(call.actor)
    version = await _thread(reg.register, call.name, draft, deploy=False)
    warnings: list[str] = []
    if deploy:
        if draft.gate_passed is False:
            summary = (draft.gate or {}).get("summary") or "gate failed"
            warnings.append(
                f"{version.ref} was pushed but not deployed ({summary}). Production is "
                f"unchanged; deploy it anyway with deploy({call.name!r}, {version.version})."
            )
        else:
            await _deploy(call, version.version, call.state.config.alias, None)
            version = await _thread(reg.version, call.name, version.version)
    return {**version.to_dict(), "warnings": warnings}


async def _deploy(call: Call, version: int, alias: str, reason: str | None) -> Any:
    state = call.state
    reg = state.registry_as(call.actor)
    if alias == state.config.alias:
        await _loadable(call, version, alias)
    moved = await _thread(reg.deploy, call.name, version, alias=alias, reason=reason)
    if alias == state.config.alias:
        await _thread(state.host.prepare, call.name, moved.version, route=True)
    return moved


async def _loadable(call: Call, version: int, alias: str) -> None:
    """Load and warm ``version`` here before any alias moves; say why if it cannot."""
    try:
        await _thread(call.state.host.prepare, call.name, version)
    except DeployKitError as exc:
        if not isinstance(exc, ArtifactError):
            raise  # no such model or version, a bad name...: the caller's mistake, as is
        current = call.state.host.routes.get(call.name)
        still = f"{alias!r} still serves version {current.version}" if current else "nothing moved"
        raise type(exc)(f"{call.name}:{version} cannot be served, so {still}: {exc}") from None
    except Exception as exc:
        current = call.state.host.routes.get(call.name)
        still = f"{alias!r} still serves version {current.version}" if current else "nothing moved"
        raise ArtifactError(
            f"{call.name}:{version} cannot be served, so {still}: {type(exc).__name__}: {exc}"
        ) from None


async def deploy(call: Call) -> Any:
    body = await call.json()
    ref = _field(body, "version", (int, str))
    alias = _field(body, "alias", (str,), call.state.config.alias)
    reason = _field(body, "reason", (str,), None)
    record = await _thread(call.state.registry.version, call.name, ref)
    return await _deploy(call, record.version, alias, reason)


async def rollback(call: Call) -> Any:
    state = call.state
    body = await call.json()
    to = _field(body, "to", (int,), None)
    alias = _field(body, "alias", (str,), state.config.alias)
    reason = _field(body, "reason", (str,), None)
    if_current = _field(body, "if_current", (int,), None)
    action = _field(body, "action", (str,), "rollback")
    reg = state.registry_as(call.actor)
    served = alias == state.config.alias
    if served and to is not None:
        await _loadable(call, to, alias)
    before = (await _thread(reg.model, call.name)).aliases.get(alias)
    moved = await _thread(
        reg.rollback,
        call.name,
        to=to,
        alias=alias,
        reason=reason,
        action=action,
        if_current=if_current,
    )
    if served:
        try:
            await _thread(state.host.prepare, call.name, moved.version, route=True)
        except Exception as exc:
            # The target cannot load: put the alias back where it was, and say why.
            detail = str(exc) if isinstance(exc, DeployKitError) else repr(exc)
            if before is not None:
                await _thread(
                    reg.deploy,
                    call.name,
                    before,
                    alias=alias,
                    reason=f"automatic: rollback target version {moved.version} cannot load",
                )
            raise ArtifactError(
                f"{call.name}:{moved.version} cannot be served, so {alias!r} stays on "
                f"version {before}: {detail}"
            ) from None
    return moved


# ---------------------------------------------------------------------- monitoring
async def post_feedback(call: Call) -> Any:
    """True labels for predictions this server answered for this model.

    Labels can roll production back (an ``accuracy_drop`` rule), so they need a token
    of ``feedback_role`` unless the server was told otherwise (``feedback_requires_token``
    false: anonymous labels are kept, unauthenticated, and no rule acts on them). A
    token sent is always checked. Each request id must be one this server signed for
    this model: a caller cannot label someone else's request or one it named itself.
    """
    state = call.state
    config = state.config
    header = call.request.headers.get("authorization")
    actor, authenticated = "anonymous", False
    if config.feedback_requires_token or header:
        _, actor = await state.authorize(header, config.feedback_role)
        authenticated = True
    body = await call.json()
    await _thread(state.registry.model, call.name)  # an unknown model is a 404, not a bad id
    items = body.get("feedback", [body]) if isinstance(body.get("feedback"), list) else [body]
    rows = []
    now = utcnow()
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "label" not in item:
            raise InvalidInputError(
                f"Feedback item {i} must be an object with 'request_id' and 'label', as in "
                '{"request_id": "3f2a...", "label": 1}.'
            )
        request_id = _field(item, "request_id", (str,))
        if not 1 <= len(request_id) <= 128:
            raise InvalidInputError(
                f"A request id is 1 to 128 characters. Got {len(request_id)} characters."
            )
        if not state.request_ids.verify(call.name, request_id):
            raise InvalidInputError(_unsigned(call.name, i, request_id))
        rows.append(
            {
                "model": call.name,
                "request_id": request_id,
                "label": item["label"],
                "at": now,
                "actor": actor,
                "authenticated": authenticated,
            }
        )
    if not rows:
        raise InvalidInputError("The feedback list is empty; send at least one label.")
    served = state.host.routes.get(call.name)
    if served is not None:  # labels a model could never predict would skew its accuracy
        for i, row in enumerate(rows):
            _check_label(row["label"], served, i)

    def insert() -> None:
        with state.registry.engine.begin() as conn:
            conn.execute(feedback.insert(), rows)

    await _thread(insert)
    return {"model": call.name, "recorded": len(rows), "authenticated": authenticated}


def _unsigned(model: str, index: int, request_id: str) -> str:
    from deploykit.server.request_ids import looks_signed

    why = (
        f"was issued for another model or by another deploykit registry, not for {model!r}"
        if looks_signed(request_id)
        else "is not one this server issued (an X-Request-ID you send is echoed for "
        "tracing, but only the server's id can carry labels)"
    )
    return (
        f"Feedback item {index}: the field 'request_id' must be the 'request_id' of a predict "
        f"answer of model {model!r} from this server; {request_id!r} {why}."
    )


def _check_label(label: Any, served: LoadedModel, index: int) -> None:
    """A label (or one per row) the model could have predicted: a class, or a number."""
    from sklearn.base import is_regressor

    classes, ref = served.classes, served.record.ref
    numeric = classes is None and is_regressor(served.estimator)
    values = label if isinstance(label, list) else [label]
    for value in values:
        if classes is not None:
            if value is None or isinstance(value, (dict, list)) or value not in classes:
                shown = ", ".join(repr(c) for c in classes[:10])
                more = f" and {len(classes) - 10} more" if len(classes) > 10 else ""
                raise InvalidInputError(
                    f"Feedback item {index}: the label must be one of the classes of {ref} "
                    f"({shown}{more}). Got {json_type(value)} {value!r} instead."
                )
        elif numeric and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise InvalidInputError(
                f"Feedback item {index}: {ref} predicts numbers, so the label must be a "
                f"number. Got {json_type(value)} {value!r} instead."
            )


async def prometheus(call: Call) -> Any:
    from deploykit.server.telemetry import prometheus_text

    state = call.state
    await _thread(state.telemetry.flush)
    text = await _thread(prometheus_text, state.registry.engine, state.host.served_versions())
    return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")


async def events(call: Call) -> Any:
    q = call.request.query_params
    since = q.get("since")
    since_at = None
    if since is not None:
        try:
            since_at = datetime.fromisoformat(since)
        except ValueError:
            raise InvalidInputError(
                f"The 'since' query parameter must be an ISO 8601 time such as "
                f"2025-01-31T12:00:00+00:00. Got {since!r} instead."
            ) from None
    return await _thread(
        call.state.registry.events,
        q.get("model"),
        limit=call.query_int("limit", 100, high=10_000),
        since=since_at,
        action=q.get("action"),
    )


async def last_event(call: Call) -> Any:
    return {"id": await _thread(call.state.registry.last_event_id)}


# ---------------------------------------------------------------------- artifacts
async def upload(call: Call) -> Any:
    request = call.request
    state = call.state
    media = (request.headers.get("content-type") or "application/octet-stream").split(";")[0]
    if media.strip().lower() != "application/octet-stream":
        raise UnsupportedMediaTypeError(
            "Upload the artifact's bytes with 'Content-Type: application/octet-stream'. "
            f"Got {media!r} instead."
        )
    limit = state.config.max_upload_bytes
    check_length(request.headers.get("content-length"), limit)
    expected = request.headers.get("x-content-digest")
    loop = asyncio.get_running_loop()
    stream = request.stream().__aiter__()

    async def next_chunk() -> bytes | None:
        with contextlib.suppress(StopAsyncIteration):
            return await stream.__anext__()
        return None

    def chunks() -> Iterator[bytes]:
        # Runs in the store's thread; pulls one chunk at a time from the event loop, so
        # memory stays bounded whatever the artifact's size.
        size = 0
        while True:
            chunk = asyncio.run_coroutine_threadsafe(next_chunk(), loop).result()
            if chunk is None:
                return
            size += len(chunk)
            if size > limit:
                raise PayloadTooLargeError(
                    f"The artifact exceeds {limit} bytes, the most this server takes "
                    "(server option max_upload_bytes)."
                )
            if chunk:
                yield chunk

    store = state.registry.artifacts
    stored = await _thread(store.put_stream, chunks(), expected_digest=expected)
    return json_response(stored.to_dict(), status=201)


async def download(call: Call) -> Any:
    digest = call.request.path_params["digest"]
    store = call.state.registry.artifacts
    size = await _thread(store.size, digest)
    handle = await _thread(store.open, digest)

    def read() -> Iterator[bytes]:
        with handle:
            while chunk := handle.read(_CHUNK):
                yield chunk

    return StreamingResponse(
        read(),
        media_type="application/octet-stream",
        headers={"content-length": str(size), "x-content-digest": digest},
    )


# ---------------------------------------------------------------------- tokens
async def list_tokens(call: Call) -> Any:
    return await _thread(call.state.tokens.list)


async def create_token(call: Call) -> Any:
    body = await call.json()
    role = check_role(_field(body, "role", (str,)))
    name = _field(body, "name", (str,), "")
    secret, info = await _thread(call.state.tokens.create, role, name=name, created_by=call.actor)
    return json_response({**info.to_dict(), "token": secret}, status=201)


async def revoke_token(call: Call) -> Any:
    raw = call.request.path_params["token_id"]
    if not (raw.isascii() and raw.isdigit()):
        raise NotFoundError(f"No token with id {raw!r}; token ids are numbers.")
    return await _thread(call.state.tokens.revoke, int(raw))


async def whoami(call: Call) -> Any:
    role, name = await call.state.authorize(call.request.headers.get("authorization"), "viewer")
    return {"role": role, "name": name}


# ---------------------------------------------------------------------- open
async def healthz(call: Call) -> Any:
    from deploykit.server.app import health

    return health(call.state)


async def openapi(call: Call) -> Any:
    from deploykit.server.openapi import openapi_document

    return openapi_document(call.state.config)


def routes(state: ServerState) -> list[Route]:
    """Every route but predict; predict is mounted by the app (hot path)."""
    from deploykit.server import monitor_routes as watch

    def r(path: str, handler: Handler, role: str | None, method: str = "GET") -> Route:
        return Route(path, _endpoint(state, role, handler), methods=[method])

    return [
        r("/healthz", healthz, None),
        r("/metrics", prometheus, None),
        r("/openapi.json", openapi, None),
        r("/v1/whoami", whoami, None),
        r("/v1/models", list_models, "viewer"),
        r("/v1/models/{name}", get_model, "viewer"),
        r("/v1/models/{name}/versions", list_versions, "viewer"),
        r("/v1/models/{name}/versions", push_version, "deployer", "POST"),
        r("/v1/models/{name}/versions/{ref}", get_version, "viewer"),
        r("/v1/models/{name}/aliases", get_aliases, "viewer"),
        r("/v1/models/{name}/deploy", deploy, "deployer", "POST"),
        r("/v1/models/{name}/rollback", rollback, "deployer", "POST"),
        r("/v1/models/{name}/metrics", watch.model_metrics, "viewer"),
        r("/v1/models/{name}/drift", watch.model_drift, "viewer"),
        r("/v1/models/{name}/drift/options", watch.get_drift_options, "viewer"),
        r("/v1/models/{name}/drift/options", watch.put_drift_options, "deployer", "PUT"),
        r("/v1/models/{name}/alerts", watch.list_alerts, "viewer"),
        r("/v1/models/{name}/alerts", watch.set_alert, "deployer", "POST"),
        r("/v1/models/{name}/alerts/{rule}", watch.delete_alert, "deployer", "DELETE"),
        r("/v1/models/{name}/feedback", post_feedback, None, "POST"),  # checks its own token
        r("/v1/events", events, "viewer"),
        r("/v1/events/last", last_event, "viewer"),
        r("/v1/artifacts", upload, "deployer", "POST"),
        r("/v1/artifacts/{digest}", download, "viewer"),
        r("/v1/tokens", list_tokens, "admin"),
        r("/v1/tokens", create_token, "admin", "POST"),
        r("/v1/tokens/{token_id}", revoke_token, "admin", "DELETE"),
    ]
