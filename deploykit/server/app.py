"""The ASGI application: one worker's routes and lifespan (its state: ``state.py``).

``create_app(settings_or_registry, config=...)`` builds a Starlette app that
serves every model's ``production`` alias from the registry and the registry
operations under ``/v1`` (see ``openapi.py`` for the contract). One app is one
worker; run several (``ServerConfig.workers``) and they follow the same
registry, each hot-swapping on its own within ``poll_interval``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from deploykit.errors import DeployKitError, InvalidInputError, NotFoundError
from deploykit.registry import Registry
from deploykit.server import protocols, routes
from deploykit.server.config import ServerConfig
from deploykit.server.hotroutes import ServerApp
from deploykit.server.predict import PredictEndpoint
from deploykit.server.responses import error_response
from deploykit.server.spec import configure_logging, settings_from_dict
from deploykit.server.state import ServerState
from deploykit.server.wire import new_request_id
from deploykit.settings import Settings

__all__ = ["ServerState", "create_app"]  # ServerState lives in deploykit.server.state


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        error: DeployKitError = NotFoundError(
            f"No such endpoint: {request.method} {request.url.path}. "
            "The API is described at /openapi.json."
        )
    elif exc.status_code == 405:
        error = InvalidInputError(
            f"{request.method} is not allowed on {request.url.path}. "
            "The API is described at /openapi.json."
        )
        error.status = 405
    else:
        error = InvalidInputError(str(exc.detail))
        error.status = exc.status_code
    response = error_response(error, new_request_id())
    for key, value in (exc.headers or {}).items():  # a 405 says what is allowed (Allow)
        response.headers[key] = value
    return response


async def _unexpected(request: Request, exc: Exception) -> Response:
    return error_response(exc)


def create_app(
    source: Settings | Registry | None = None, *, config: ServerConfig | None = None
) -> Starlette:
    """The server for the registry ``source`` names (``Settings.from_env()`` by default)."""
    config = config or ServerConfig()
    if isinstance(source, Registry):
        registry, owns = source, False
    else:
        registry, owns = Registry(source or Settings.from_env()), True
    state = ServerState(registry, config, owns_registry=owns)
    predict = PredictEndpoint(state)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await state.start()
        grpc_server = await protocols.start_grpc(state)  # Open Inference v2 over gRPC, if set
        try:
            yield
        finally:
            if grpc_server is not None:
                await grpc_server.stop()
            await state.stop()

    app = ServerApp(  # Starlette, with the predict routes dispatched directly
        routes=[
            Route("/v1/models/{name}/predict", predict, methods=["POST"]),
            Route("/v1/models/{name}/versions/{version}/predict", predict, methods=["POST"]),
            *protocols.routes(state),  # MLflow scoring, Open Inference v2 REST: hot paths early
            *routes.routes(state),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _unexpected},
        lifespan=lifespan,
    )
    app.state.deploykit = state
    return app


def app_from_env() -> Starlette:
    """Factory for uvicorn worker processes: settings and config come as JSON in the env."""
    import json

    from deploykit.server.memory import own_process_heap

    own_process_heap()
    if os.name != "nt":
        os.umask(0o077)  # a worker process of ours: what it writes is private (deploykit._files)

    raw = os.environ.get("DEPLOYKIT_SERVER_SPEC")
    if not raw:
        return create_app(Settings.from_env(), config=ServerConfig.from_env())
    spec = json.loads(raw)
    settings = settings_from_dict(spec["settings"])
    configure_logging(spec["config"].get("log_level", "warning"))
    return create_app(settings, config=ServerConfig.from_dict(spec["config"]))
