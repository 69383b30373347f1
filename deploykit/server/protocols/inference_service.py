"""The RPCs of ``inference.GRPCInferenceService`` that deploykit serves, as one table.

grpcio-tools would also generate an ``inference_pb2_grpc`` module: a stub, a servicer base
and a registration function, each written out once per RPC. All six RPCs are unary calls
that differ only in their name and messages, so the registration (for
:mod:`.v2_grpc`) and the client stub (for Python callers and the tests) are built from
:data:`RPCS` instead. The messages stay generated (``inference_pb2``; see
``inference.proto`` on regenerating them).
"""

from __future__ import annotations

from typing import Any

import grpc

from deploykit.server.protocols import inference_pb2 as pb

__all__ = ["RPCS", "SERVICE", "Stub", "add_servicer"]

SERVICE = "inference.GRPCInferenceService"
# (RPC, request message, response message), in the order inference.proto declares them
RPCS: tuple[tuple[str, Any, Any], ...] = (
    ("ServerLive", pb.ServerLiveRequest, pb.ServerLiveResponse),
    ("ServerReady", pb.ServerReadyRequest, pb.ServerReadyResponse),
    ("ModelReady", pb.ModelReadyRequest, pb.ModelReadyResponse),
    ("ServerMetadata", pb.ServerMetadataRequest, pb.ServerMetadataResponse),
    ("ModelMetadata", pb.ModelMetadataRequest, pb.ModelMetadataResponse),
    ("ModelInfer", pb.ModelInferRequest, pb.ModelInferResponse),
)


def add_servicer(servicer: Any, server: grpc.Server | grpc.aio.Server) -> None:
    """Serve each RPC with the ``servicer`` method of the same name."""
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, name),
            request_deserializer=request.FromString,
            response_serializer=response.SerializeToString,
        )
        for name, request, response in RPCS
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_registered_method_handlers(SERVICE, handlers)


class Stub:
    """A client: ``Stub(channel).ModelInfer(request, timeout=30)``, one callable per RPC
    (awaitable on a ``grpc.aio`` channel)."""

    ServerLive: grpc.UnaryUnaryMultiCallable
    ServerReady: grpc.UnaryUnaryMultiCallable
    ModelReady: grpc.UnaryUnaryMultiCallable
    ServerMetadata: grpc.UnaryUnaryMultiCallable
    ModelMetadata: grpc.UnaryUnaryMultiCallable
    ModelInfer: grpc.UnaryUnaryMultiCallable

    def __init__(self, channel: grpc.Channel | grpc.aio.Channel) -> None:
        for name, request, response in RPCS:
            call = channel.unary_unary(
                f"/{SERVICE}/{name}",
                request_serializer=request.SerializeToString,
                response_deserializer=response.FromString,
            )
            setattr(self, name, call)
