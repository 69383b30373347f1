"""The wire protocols other clients speak, beside deploykit's own ``/v1``.

- :mod:`.mlflow`: MLflow's scoring server (``/invocations``, ``/ping``, ``/health``,
  ``/version``, also per model under ``/models/{name}/``);
- :mod:`.v2_rest`: the Open Inference Protocol v2 over HTTP (``/v2/...``);
- :mod:`.v2_grpc`: the same over gRPC (``inference.GRPCInferenceService``), on the port
  ``grpc_port`` names; ``inference.proto``, its generated ``inference_pb2`` messages and
  the service's RPC table (:mod:`.inference_service`).

All of them decode their payloads into :class:`~deploykit.server.payloads.Parsed` and go
through :class:`.core.Scorer`, the ``/v1`` predict path's steps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.routing import Route

if TYPE_CHECKING:
    from deploykit.server.state import ServerState

__all__ = ["routes", "start_grpc"]


def routes(state: ServerState) -> list[Route]:
    """The HTTP routes of the MLflow and Open Inference v2 protocols for one worker."""
    from deploykit.server.protocols import mlflow, v2_rest
    from deploykit.server.protocols.core import Scorer

    scorer = Scorer(state)
    return [*v2_rest.routes(state, scorer), *mlflow.routes(state, scorer)]


async def start_grpc(state: ServerState) -> Any:
    """The worker's gRPC server, started, if ``grpc_port`` is set (``stop()`` it); else None."""
    if not state.config.grpc_port:
        return None
    try:
        from deploykit.server.protocols import v2_grpc
    except ImportError as exc:
        from deploykit.errors import ConfigurationError

        raise ConfigurationError(
            f"The gRPC port is set (grpc_port={state.config.grpc_port}), but gRPC cannot load "
            f"here ({exc}). Install it with `pip install 'deploykit[grpc]'`."
        ) from None
    from deploykit.server.protocols.core import Scorer

    return await v2_grpc.start(state, Scorer(state))
