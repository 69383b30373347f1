"""The registry and admin routes (everything but predict), one small handler each.

Each handler runs behind :func:`deploykit.server.endpoint.endpoint`, which checks the caller's role,
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
import os
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from deploykit.errors import (
    ArtifactError,
    ArtifactIntegrityError,
    DeployKitError,
    InvalidInputError,
    NotFoundError,
)
from deploykit.monitoring.tables import feedback
from deploykit.records import utcnow
from deploykit.server.auth import check_role
from deploykit.server.endpoint import Call, Handler, endpoint, field, thread
from deploykit.server.payloads import json_type
from deploykit.server.responses import json_response
from deploykit.server.wire import (
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    check_length,
    error_body,
    public,
)

if TYPE_CHECKING:
    from deploykit.server.models import LoadedModel
    from deploykit.server.state import ServerState

__all__ = ["routes"]

_CHUNK = 1 << 20


class UploadMismatchError(ArtifactIntegrityError):
    """An upload whose bytes hash to something else than its X-Content-Digest: the
    request's fault, so a 422 (``type`` ArtifactIntegrityError on the wire)."""

    status = 422


# ---------------------------------------------------------------------- models
async def list_models(call: Call) -> Any:
    return await thread(call.state.registry.models)


async def get_model(call: Call) -> Any:
    return await thread(call.state.registry.model, call.name)


async def list_versions(call: Call) -> Any:
    return await thread(call.state.registry.versions, call.name)


async def get_version(call: Call) -> Any:
    ref = call.request.path_params["ref"]
    return await thread(call.state.registry.version, call.name, ref)  # the registry parses refs


async def get_card(call: Call) -> Any:
    """The version's card: HTML if the caller's ``Accept`` prefers it, else Markdown."""
    from deploykit.server.cards import card_response

    return await card_response(call)


async def amend_card(call: Call) -> Any:
    body = await call.json()
    fields = field(body, "fields", (dict,))
    reason = field(body, "reason", (str,), None)
    reg = call.state.registry_as(call.actor)
    ref = call.request.path_params["ref"]
    return await thread(reg.amend_card, call.name, ref, fields, reason=reason)


async def get_lineage(call: Call) -> Any:
    ref = call.request.path_params["ref"]
    return await thread(call.state.registry.lineage, call.name, ref)


async def get_aliases(call: Call) -> Any:
    return await thread(call.state.registry.aliases, call.name)


async def push_version(call: Call) -> Any:
    """Register a version; with ``deploy``, then move production to it if it loads here.

    The version exists once registered, whatever the deploy does next: a deploy that
    cannot happen (gate failed, artifact does not load) answers 200 all the same, with
    ``deployed: false``, the reason in ``deploy_error`` and a warning that says
    "pushed as version N, not deployed".
    """
    from deploykit.registry import VersionDraft

    body = await call.json()
    draft = VersionDraft.from_dict(field(body, "draft", (dict,)))
    deploy = field(body, "deploy", (bool,), False)
    reg = call.state.registry_as(call.actor)
    version = await thread(reg.register, call.name, draft, deploy=False)
    warnings: list[str] = []
    error: dict[str, Any] | None = None
    formats = call.state.config.formats
    compiled = (version.runtime or {}).get("runtime") == "onnx" and "onnx" in formats
    if version.format not in formats and not compiled:  # stored, never loaded here
        warnings.append(
            f"{version.ref} is stored as {version.format!r}, a format this server does not "
            f"load (DEPLOYKIT_SERVE_FORMATS={','.join(formats)}), so it cannot be deployed "
            "here" + (" and was not." if deploy else ".")
        )
    elif deploy:
        if draft.gate_passed is False:
            summary = (draft.gate or {}).get("summary") or "gate failed"
            error = {"type": "GateError", "message": str(summary)}
        else:
            try:
                await _deploy(call, version.version, call.state.config.alias, None)
            except DeployKitError as exc:
                error = error_body(exc)["error"]
            version = await thread(reg.version, call.name, version.version)
        if error is not None:
            warnings.append(
                f"{call.name}: pushed as version {version.version}, not deployed: "
                f"{error['message']} Production is unchanged; deploy it anyway with "
                f"deploy({call.name!r}, {version.version})."
            )
    deployed = call.state.config.alias in version.aliases
    return {**version.to_dict(), "deployed": deployed, "deploy_error": error, "warnings": warnings}


async def _deploy(call: Call, version: int, alias: str, reason: str | None) -> Any:
    state = call.state
    reg = state.registry_as(call.actor)
    if alias == state.config.alias:
        await _loadable(call, version, alias)
    moved = await thread(reg.deploy, call.name, version, alias=alias, reason=reason)
    if alias == state.config.alias:
        await thread(state.host.prepare, call.name, moved.version, route=True)
    return moved


async def _loadable(call: Call, version: int, alias: str) -> None:
    """Load and warm ``version`` here before any alias moves; say why if it cannot."""
    try:
        await thread(call.state.host.prepare, call.name, version)
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
    ref = field(body, "version", (int, str))
    alias = field(body, "alias", (str,), call.state.config.alias)
    reason = field(body, "reason", (str,), None)
    record = await thread(call.state.registry.deploy_target, call.name, ref)
    return await _deploy(call, record.version, alias, reason)


async def rollback(call: Call) -> Any:
    state = call.state
    body = await call.json()
    to = field(body, "to", (int,), None)
    alias = field(body, "alias", (str,), state.config.alias)
    reason = field(body, "reason", (str,), None)
    if_current = field(body, "if_current", (int,), None)
    action = field(body, "action", (str,), "rollback")
    reg = state.registry_as(call.actor)
    served = alias == state.config.alias
    if served and to is not None:
        await _loadable(call, to, alias)
    before = (await thread(reg.model, call.name)).aliases.get(alias)
    moved = await thread(
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
            await thread(state.host.prepare, call.name, moved.version, route=True)
        except Exception as exc:
            # The target cannot load: put the alias back where it was, and say why.
            detail = str(exc) if isinstance(exc, DeployKitError) else repr(exc)
            if before is not None:
                await thread(
                    reg.deploy,
                    call.name,
                    before,
                    alias=alias,
                    reason=f"automatic: rollback target version {moved.version} cannot load",
                )
            kind = type(exc) if isinstance(exc, ArtifactError) else ArtifactError
            raise kind(
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
    await thread(state.registry.model, call.name)  # an unknown model is a 404, not a bad id
    items = body.get("feedback", [body]) if isinstance(body.get("feedback"), list) else [body]
    rows = []
    now = utcnow()
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "label" not in item:
            raise InvalidInputError(
                f"Feedback item {i} must be an object with 'request_id' and 'label', as in "
                '{"request_id": "3f2a...", "label": 1}.'
            )
        request_id = field(item, "request_id", (str,))
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

    await thread(insert)
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
    from deploykit.server.prometheus import prometheus_text

    state = call.state
    await thread(state.telemetry.flush)
    from deploykit.server.experiments import prometheus_lines

    text = await thread(prometheus_text, state.registry.engine, state.host.served_versions())
    text += prometheus_lines(state.host.splits, state.shadow)
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
    return await thread(
        call.state.registry.events,
        q.get("model"),
        limit=call.query_int("limit", 100, high=10_000),
        since=since_at,
        action=q.get("action"),
    )


async def last_event(call: Call) -> Any:
    return {"id": await thread(call.state.registry.last_event_id)}


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
    try:
        stored = await thread(store.put_stream, chunks(), expected_digest=expected)
    except ArtifactIntegrityError as exc:  # the bytes sent are not those the client named
        raise UploadMismatchError(f"X-Content-Digest does not match the body: {exc}") from None
    return json_response(stored.to_dict(), status=201)


async def download(call: Call) -> Any:
    digest = call.request.path_params["digest"]
    store = call.state.registry.artifacts
    if not await thread(store.exists, digest):  # a digest nobody uploaded: the caller's miss
        raise NotFoundError(f"No artifact {digest} in the store.")
    size = await thread(store.size, digest)
    handle = await thread(store.open, digest)

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
    return await thread(call.state.tokens.list)


async def create_token(call: Call) -> Any:
    body = await call.json()
    role = check_role(field(body, "role", (str,)))
    name = field(body, "name", (str,), "")
    if len(name) > 200:
        raise InvalidInputError(
            f"The field 'name' must be at most 200 characters. Got {len(name):,} characters."
        )
    secret, info = await thread(call.state.tokens.create, role, name=name, created_by=call.actor)
    return json_response({**info.to_dict(), "token": secret}, status=201)


async def revoke_token(call: Call) -> Any:
    raw = call.request.path_params["token_id"]
    if not (raw.isascii() and raw.isdigit()):
        raise NotFoundError(f"No token with id {raw!r}; token ids are numbers.")
    if len(raw) > 18:  # past a 64-bit integer: no such row, and the database cannot bind it
        raise NotFoundError(f"No token with id {raw[:24]}{'…' if len(raw) > 24 else ''}.")
    return await thread(call.state.tokens.revoke, int(raw))


async def whoami(call: Call) -> Any:
    role, name = await call.state.authorize(call.request.headers.get("authorization"), "viewer")
    return {"role": role, "name": name}


# ---------------------------------------------------------------------- open
async def healthz(call: Call) -> Any:
    state = call.state
    return {
        "status": "ok",
        "pid": os.getpid(),
        "alias": state.config.alias,
        "serving": {m.name: m.version for m in state.host.routes.values()},
        # what this worker runs each on: "onnx", or "sklearn" (see deploykit.compile)
        "runtimes": {m.name: m.runtime for m in state.host.routes.values()},
        "failures": state.host.failures,
        # this worker's side of the running experiments: each worker follows them on its
        # own, so a client waits until every one of ``workers`` reports them (Client.wait)
        "workers": state.config.workers,
        "experiments": {
            name: {**e, "error": public(e["error"])} if "error" in e else e
            for name, e in state.host.following().items()
        },
    }


async def openapi(call: Call) -> Any:
    from deploykit.server.openapi import openapi_document

    return openapi_document(call.state.config)


def routes(state: ServerState) -> list[Route]:
    """Every route but predict; predict is mounted by the app (hot path)."""
    from deploykit.server import experiment_routes as trial
    from deploykit.server import monitor_routes as watch

    table: list[tuple[str, Handler, str | None, str]] = [
        ("/healthz", healthz, None, "GET"),
        ("/metrics", prometheus, None, "GET"),
        ("/openapi.json", openapi, None, "GET"),
        ("/v1/whoami", whoami, None, "GET"),
        ("/v1/models", list_models, "viewer", "GET"),
        ("/v1/models/{name}", get_model, "viewer", "GET"),
        ("/v1/models/{name}/versions", list_versions, "viewer", "GET"),
        ("/v1/models/{name}/versions", push_version, "deployer", "POST"),
        ("/v1/models/{name}/versions/{ref}", get_version, "viewer", "GET"),
        ("/v1/models/{name}/versions/{ref}/card", get_card, "viewer", "GET"),
        ("/v1/models/{name}/versions/{ref}/card", amend_card, "deployer", "POST"),
        ("/v1/models/{name}/versions/{ref}/lineage", get_lineage, "viewer", "GET"),
        ("/v1/models/{name}/aliases", get_aliases, "viewer", "GET"),
        ("/v1/models/{name}/deploy", deploy, "deployer", "POST"),
        ("/v1/models/{name}/rollback", rollback, "deployer", "POST"),
        ("/v1/models/{name}/metrics", watch.model_metrics, "viewer", "GET"),
        ("/v1/models/{name}/drift", watch.model_drift, "viewer", "GET"),
        ("/v1/models/{name}/estimated", watch.model_estimated, "viewer", "GET"),
        ("/v1/models/{name}/drift/options", watch.get_drift_options, "viewer", "GET"),
        ("/v1/models/{name}/drift/options", watch.put_drift_options, "deployer", "PUT"),
        ("/v1/models/{name}/alerts", watch.list_alerts, "viewer", "GET"),
        ("/v1/models/{name}/alerts", watch.set_alert, "deployer", "POST"),
        ("/v1/models/{name}/alerts/{rule}", watch.delete_alert, "deployer", "DELETE"),
        ("/v1/models/{name}/experiment", trial.get_experiment, "viewer", "GET"),
        ("/v1/models/{name}/experiment/shadow", trial.shadow, "deployer", "POST"),
        ("/v1/models/{name}/experiment/canary", trial.canary, "deployer", "POST"),
        ("/v1/models/{name}/experiment/step", trial.step, "deployer", "POST"),
        ("/v1/models/{name}/experiment/promote", trial.promote, "deployer", "POST"),
        ("/v1/models/{name}/experiment/abort", trial.abort, "deployer", "POST"),
        ("/v1/models/{name}/experiment/evidence", trial.evidence, "viewer", "GET"),
        ("/v1/models/{name}/compare", trial.compare_logged, "viewer", "GET"),
        ("/v1/models/{name}/compare", trial.compare_data, "deployer", "POST"),
        ("/v1/models/{name}/feedback", post_feedback, None, "POST"),  # checks its own token
        ("/v1/events", events, "viewer", "GET"),
        ("/v1/events/last", last_event, "viewer", "GET"),
        ("/v1/artifacts", upload, "deployer", "POST"),
        ("/v1/artifacts/{digest}", download, "viewer", "GET"),
        ("/v1/tokens", list_tokens, "admin", "GET"),
        ("/v1/tokens", create_token, "admin", "POST"),
        ("/v1/tokens/{token_id}", revoke_token, "admin", "DELETE"),
    ]
    # One Route per path, whatever its methods: Starlette answers a wrong method with the
    # Allow header of the first route whose path matches, which would omit the others.
    by_path: dict[str, dict[str, Callable[..., Any]]] = {}
    for path, handler, role, method in table:
        by_path.setdefault(path, {})[method] = endpoint(state, role, handler)
    return [
        Route(path, _by_method(methods), methods=list(methods)) for path, methods in by_path.items()
    ]


def _by_method(handlers: dict[str, Callable[..., Any]]) -> Callable[..., Any]:
    if len(handlers) == 1:
        return next(iter(handlers.values()))
    get = handlers.get("GET")

    async def dispatch(request: Request) -> Response:
        handler = handlers.get(request.method) or (get if request.method == "HEAD" else None)
        assert handler is not None  # the Route let only these methods through
        return await handler(request)

    return dispatch
