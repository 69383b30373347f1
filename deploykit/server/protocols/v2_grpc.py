"""Open Inference Protocol (v2) over gRPC: ``inference.GRPCInferenceService``.

Started by each worker beside its HTTP server when ``grpc_port`` is set (``deploykit serve
--grpc-port 8766``); with several workers every one binds the port (SO_REUSEPORT) and
the kernel spreads connections, as for HTTP. Same models, tokens (``authorization:
Bearer ...`` metadata), validation, logging and telemetry as ``/v1``; errors are gRPC
statuses (INVALID_ARGUMENT, NOT_FOUND, UNAUTHENTICATED, PERMISSION_DENIED,
RESOURCE_EXHAUSTED, ...) with deploykit's message as the details.

Needs ``grpcio`` (``pip install deploykit[grpc]``); imported only when the port is set.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import grpc
import numpy as np

from deploykit._version import __version__
from deploykit.errors import InvalidInputError
from deploykit.server.experiments import KEY_HEADER
from deploykit.server.payloads import Limits, Parsed
from deploykit.server.protocols import inference_pb2 as pb
from deploykit.server.protocols import tensors
from deploykit.server.protocols.core import Failure, Scorer
from deploykit.server.protocols.inference_service import add_servicer
from deploykit.server.protocols.v2_rest import EXTENSIONS

if TYPE_CHECKING:
    from deploykit.server.config import ServerConfig
    from deploykit.server.models import LoadedModel
    from deploykit.server.state import ServerState

__all__ = ["GrpcServer", "start"]

log = logging.getLogger("deploykit.server")

_STATUS = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.FAILED_PRECONDITION,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    503: grpc.StatusCode.UNAVAILABLE,
}
# InferTensorContents field holding each datatype's values
_CONTENTS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP16": "fp32_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
_FIELDS = sorted(set(_CONTENTS.values()))


_AUTHORIZATION = "authorization"
_KEY = KEY_HEADER.decode()
_WANTED = frozenset({_AUTHORIZATION, _KEY})


def _metadata(context: grpc.aio.ServicerContext) -> dict[str, bytes]:
    """The metadata entries deploykit reads (the first of each), as bytes, in one pass
    (gRPC lower-cases the keys)."""
    found: dict[str, bytes] = {}
    for key, value in context.invocation_metadata() or ():
        if key in _WANTED and key not in found:
            found[key] = value.encode("latin-1") if isinstance(value, str) else value
    return found


async def _abort(context: grpc.aio.ServicerContext, exc: BaseException) -> Any:
    failure = Failure.of(exc)
    await context.abort(_STATUS.get(failure.status, grpc.StatusCode.INTERNAL), failure.message)


def _version(raw: str) -> str | None:
    if raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise InvalidInputError(f"model_version must be a number such as '3'. Got {raw[:40]!r}.")
    return raw


class Servicer:
    """Every RPC of the service (:data:`.inference_service.RPCS`), as a coroutine."""

    def __init__(self, state: ServerState, scorer: Scorer) -> None:
        self.state = state
        self.scorer = scorer

    async def ServerLive(self, request: Any, context: Any) -> Any:  # noqa: N802
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request: Any, context: Any) -> Any:  # noqa: N802
        return pb.ServerReadyResponse(ready=True)

    async def ServerMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802
        return pb.ServerMetadataResponse(
            name="deploykit", version=__version__, extensions=EXTENSIONS
        )

    async def _open(self, name: str, version: str, context: Any) -> LoadedModel:
        token = _metadata(context).get(_AUTHORIZATION)
        return await self.scorer.open(name, _version(version), token)

    async def ModelReady(self, request: Any, context: Any) -> Any:  # noqa: N802
        try:
            await self._open(request.name, request.version, context)
        except Exception as exc:
            failure = Failure.of(exc)
            if failure.status in (401, 403):
                return await _abort(context, exc)
            return pb.ModelReadyResponse(ready=False)
        return pb.ModelReadyResponse(ready=True)

    async def ModelMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802
        try:
            loaded = await self._open(request.name, request.version, context)
        except Exception as exc:
            return await _abort(context, exc)
        meta = tensors.model_metadata(loaded)
        return pb.ModelMetadataResponse(
            name=meta["name"],
            versions=meta["versions"],
            platform=meta["platform"],
            inputs=[pb.ModelMetadataResponse.TensorMetadata(**t) for t in meta["inputs"]],
            outputs=[pb.ModelMetadataResponse.TensorMetadata(**t) for t in meta["outputs"]],
        )

    async def ModelInfer(self, request: Any, context: Any) -> Any:  # noqa: N802
        start = time.perf_counter()
        loaded: LoadedModel | None = None
        rows = 0
        try:
            metadata = _metadata(context)
            loaded = await self.scorer.open(
                request.model_name,
                _version(request.model_version),
                metadata.get(_AUTHORIZATION),
            )
            _check_declared(request, loaded, self.state.config)
            common = _common(request, loaded)
            if common is not None:
                parsed, names, proba = common
            else:
                inputs = _inputs(request)
                names, proba = tensors.requested([o.name for o in request.outputs], loaded)
                parsed = tensors.to_parsed(inputs, loaded)
            scored = await self.scorer.score(
                loaded,
                parsed,
                proba,
                routed=not request.model_version,
                key_header=metadata.get(_KEY),
            )
            loaded, rows = scored.loaded, scored.rows  # a canary may have answered
            names = tensors.answerable(names, scored.probabilities)
            outputs = tensors.outputs_of(names, scored.predictions, scored.probabilities)
            response = pb.ModelInferResponse(
                model_name=loaded.name,
                model_version=str(loaded.version),
                id=request.id or scored.request_id,
            )
            response.parameters["request_id"].string_param = scored.request_id
            if scored.ignored:
                response.parameters["ignored_columns"].string_param = ",".join(scored.ignored)
            if scored.probabilities is not None and loaded.classes is not None:
                response.parameters["classes"].string_param = ",".join(map(str, loaded.classes))
            raw = bool(request.raw_input_contents)
            for output in outputs:
                tensor = response.outputs.add(
                    name=output.name, datatype=output.datatype, shape=output.shape
                )
                if raw:  # answer in the form asked in (tritonclient reads raw bytes)
                    response.raw_output_contents.append(
                        tensors.encode_raw(output.array, output.datatype)
                    )
                else:
                    _fill(tensor.contents, output)
            status = 200
        except Exception as exc:
            failure = Failure.of(exc)
            self.scorer.record(loaded, failure.status, start, rows)
            return await _abort(context, exc)
        self.scorer.record(loaded, status, start, rows)
        return response


def _check_declared(request: Any, loaded: LoadedModel, config: ServerConfig) -> None:
    """:func:`tensors.check_declared` on the inputs' shapes and on the values sent (the
    typed fields' lengths, the raw bytes over the datatype's size), before any value
    becomes a Python object: gRPC has parsed the message already, but millions of values
    must not be unpacked one by one on the event loop only to be refused."""
    spec = loaded.spec
    columns = spec.columns if spec is not None else None
    limits = Limits.of(config, len(columns) if columns else None)
    tensors.check_output_count(len(request.outputs))
    items = request.inputs
    if len(items) > limits.columns:  # before looking at each of them
        tensors.check_declared([None] * len(items), 0, limits, columns)
    values = 0
    if request.ByteSize() > limits.cells:  # else it cannot hold more (a value is >= 1 byte)
        values = sum(len(getattr(item.contents, name)) for item in items for name in _FIELDS)
        for item, raw in zip(items, request.raw_input_contents, strict=False):
            dtype = tensors.DATATYPES.get(item.datatype)
            size = 4 if dtype is None or item.datatype == "BYTES" else dtype.itemsize
            values += len(raw) // size  # a BYTES element takes at least its 4-byte length
    tensors.check_declared([list(item.shape) for item in items], values, limits, columns)


_FLOATS = frozenset({"fp32_contents", "fp64_contents"})


def _common(request: Any, loaded: LoadedModel) -> tuple[Parsed, list[str], bool] | None:
    """(rows, output names, with probabilities) of the common request, decoded in a few
    checks: one floating-point ``[rows, columns]`` tensor in typed contents for a model of
    float columns (:func:`tensors.plain_matrix`). None for anything else: :func:`_inputs`,
    :func:`tensors.requested` and :func:`tensors.to_parsed` then decode it and name any
    mistake."""
    if len(request.inputs) != 1 or request.raw_input_contents:
        return None
    item = request.inputs[0]
    field = _CONTENTS.get(item.datatype)
    if field not in _FLOATS:
        return None
    values = getattr(item.contents, field)
    plan = tensors.plan(loaded)
    parsed = tensors.plain_matrix(
        plan,
        item.name,
        item.datatype,
        list(item.shape),
        np.fromiter(values, np.float64, len(values)),
        False,  # a double may be NaN: the signature's null rule decides
    )
    if parsed is None:
        return None
    try:
        chosen, proba = tensors.plain_outputs(
            plan, tuple([o.name for o in request.outputs]), loaded
        )
    except InvalidInputError:
        return None  # the general path says which name is wrong
    return parsed, chosen, proba


def _inputs(request: Any) -> list[tensors.Tensor]:
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise InvalidInputError(
            f"raw_input_contents must hold one entry per input: {len(request.inputs)} inputs, "
            f"{len(raw)} entries."
        )
    found = []
    for i, item in enumerate(request.inputs):
        name, datatype, shape = tensors.check_header(
            i, item.name, item.datatype, [int(d) for d in item.shape]
        )
        if raw:
            if item.HasField("contents"):
                raise InvalidInputError(
                    f"inputs[{i}] ({name!r}): the values come either in contents or in "
                    "raw_input_contents, not both (Open Inference v2). Got both."
                )
            found.append(tensors.from_raw(i, name, datatype, shape, raw[i]))
            continue
        field = _CONTENTS[datatype]
        values = list(getattr(item.contents, field))
        if not values:
            _check_field(i, name, datatype, item.contents)
        if datatype == "BYTES":
            try:
                values = [v.decode("utf-8") for v in values]
            except UnicodeDecodeError:
                raise InvalidInputError(
                    f"inputs[{i}] ({name!r}): BYTES values must be UTF-8 text."
                ) from None
        # typed contents: a number field never holds a boolean (bool_contents is BOOL's)
        found.append(tensors.from_json(i, name, datatype, shape, values, plain=True))
    return found


def _check_field(i: int, name: str, datatype: str, contents: Any) -> None:
    """An empty field for ``datatype`` while another holds values: name both, since the
    count error that would follow ("Got 0 values") hides the real mistake."""
    for other in sorted(set(_CONTENTS.values()) - {_CONTENTS[datatype]}):
        if len(getattr(contents, other)):
            raise InvalidInputError(
                f"inputs[{i}] ({name!r}): a {datatype} tensor's values go in "
                f"contents.{_CONTENTS[datatype]}. Got them in contents.{other} instead."
            )


def _fill(contents: Any, output: tensors.Output) -> None:
    field = getattr(contents, _CONTENTS[output.datatype])
    values = output.values()
    if output.datatype == "BYTES":
        field.extend(str(v).encode("utf-8") for v in values)
    else:
        field.extend(values)


class GrpcServer:
    """One worker's gRPC server, on the event loop uvicorn runs."""

    def __init__(self, state: ServerState, scorer: Scorer) -> None:
        config = state.config
        limit = config.max_body_bytes
        self.server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", max(limit, 64 * 1024 * 1024)),
                ("grpc.so_reuseport", 1),
            ]
        )
        add_servicer(Servicer(state, scorer), self.server)
        host = config.host or "0.0.0.0"
        address = f"[{host}]:{config.grpc_port}" if ":" in host else f"{host}:{config.grpc_port}"
        self.port = self.server.add_insecure_port(address)

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop(grace=1.0)


async def start(state: ServerState, scorer: Scorer) -> GrpcServer:
    server = GrpcServer(state, scorer)
    await server.start()
    log.info("gRPC (Open Inference v2) on port %s", server.port)
    return server
