"""The deploykit model server: predict, registry operations over HTTP, hot swap, telemetry.

    from deploykit.server import ServerConfig, run
    run(Settings.from_env(), ServerConfig(port=8765, workers=2))

Modules, from the top down (each imports only those below it): ``app`` (factory),
``protocols`` (MLflow scoring and Open Inference v2, REST and gRPC, over ``predict``),
``routes`` and ``monitor_routes`` (registry, admin and monitoring routes) on ``endpoint``
(the ``Call`` and its wrapper), ``predict`` (the hot path), ``openapi`` and
``openapi_monitoring`` (the contract; bodies in ``openapi_schemas``) on ``openapi_parts``,
``state`` (one worker's state), ``alerting`` and ``judge`` (background rounds on ``rounds``),
``models`` (loaded versions, alias follower), ``batching``,
``payloads`` (MLflow scoring formats), ``telemetry`` (counters, compaction) with
``prometheus``, ``predlog`` (writes prediction logs in the
format of :mod:`deploykit.monitoring.logs`), ``auth`` (tokens and roles), ``config``
(ServerConfig), ``spec`` (what workers are handed), ``process`` (a server in a child
process, for the demo and tests).

Importing this package is cheap: the web stack loads with :func:`create_app`/:func:`run`.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from deploykit.server.config import ServerConfig
from deploykit.settings import Settings

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from deploykit.registry import Registry

__all__ = ["ServerConfig", "create_app", "prepare", "run"]


def create_app(
    source: Settings | Registry | None = None, *, config: ServerConfig | None = None
) -> Starlette:
    """The ASGI app of one worker (see :func:`deploykit.server.app.create_app`)."""
    from deploykit.server.app import create_app as _create_app

    return _create_app(source, config=config)


def prepare(settings: Settings | None = None) -> str:
    """Migrate the registry database and return the local admin token (created if needed).

    The token is also in ``<home>/token`` (mode 0600), where :class:`deploykit.Client`
    finds it. ``deploykit up`` prints it.
    """
    from deploykit.registry import Registry
    from deploykit.server.auth import TokenStore, ensure_local_token

    settings = settings or Settings.from_env()
    with Registry(settings) as registry:
        return ensure_local_token(TokenStore(registry.engine), settings.home, actor=settings.actor)


def run(settings: Settings | None = None, config: ServerConfig | None = None) -> None:
    """Serve until interrupted: one process, or ``config.workers`` sharing the port."""
    from deploykit._files import private_umask
    from deploykit.server.spec import configure_logging

    settings = settings or Settings.from_env()
    config = config or ServerConfig.from_env()
    configure_logging(config.log_level)
    with private_umask():  # prediction logs, artifacts, locks: 0600 (workers inherit it)
        _run(settings, config)


def _run(settings: Settings, config: ServerConfig) -> None:
    import uvicorn

    from deploykit.server.spec import settings_to_dict

    prepare(settings)  # migrations and the local token, once, before any worker starts
    from deploykit.server.memory import own_process_heap

    own_process_heap()  # worker processes are spawned fresh: app_from_env says it again
    common: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "log_level": config.log_level,
        "access_log": False,
        "lifespan": "on",
        "server_header": False,
    }
    if config.workers == 1:
        uvicorn.run(create_app(settings, config=config), **common)
        return
    os.environ["DEPLOYKIT_SERVER_SPEC"] = json.dumps(
        {"settings": settings_to_dict(settings), "config": config.to_dict()}
    )
    uvicorn.run("deploykit.server.app:app_from_env", factory=True, workers=config.workers, **common)
