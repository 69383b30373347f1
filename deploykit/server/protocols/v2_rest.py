"""Open Inference Protocol (v2) over HTTP: health, metadata, readiness, inference.

The routes KServe, Seldon MLServer and Triton answer, so ``tritonclient.http`` and the
``kserve`` SDK call deploykit unchanged. Errors are ``{"error": "..."}`` with deploykit's
statuses (400 malformed, 401/403 tokens, 404 no such model, 413 limits, 415 type, 422 the
signature's verdict). The binary tensor data extension is supported both ways: inputs
after a JSON header of ``Inference-Header-Content-Length`` bytes, and outputs asked for
with ``binary_data`` (per output) or ``binary_data_output`` (the request's parameters).

Inference is a bare ASGI endpoint like ``/v1`` predict (Starlette's Request costs more
than a small model's predict); the rest are plain Starlette handlers.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from deploykit._version import __version__
from deploykit.errors import InvalidInputError
from deploykit.server.experiments import KEY_HEADER
from deploykit.server.payloads import Limits, Parsed, no_bool_literal, too_many_values
from deploykit.server.protocols import tensors
from deploykit.server.protocols.core import Failure, Scored, Scorer
from deploykit.server.wire import (
    BadRequestError,
    UnsupportedMediaTypeError,
    check_length,
    dumps,
    is_json,
    read_body,
)

if TYPE_CHECKING:
    from deploykit.server.models import LoadedModel
    from deploykit.server.state import ServerState

__all__ = ["EXTENSIONS", "routes", "server_metadata"]

EXTENSIONS = ["binary_tensor_data"]
_HEADER = b"inference-header-content-length"
_WANTED = {b"content-type", b"content-length", b"authorization", _HEADER, KEY_HEADER}


def server_metadata() -> dict[str, Any]:
    return {"name": "deploykit", "version": __version__, "extensions": EXTENSIONS}


def _error(failure: Failure) -> Response:
    return Response(
        dumps({"error": failure.message}),
        status_code=failure.status,
        media_type="application/json",
        headers={"x-request-id": failure.request_id},
    )


def _version(raw: str | None) -> str | None:
    """A version from the URL: a number, or a 422 saying so (v2 names versions as strings)."""
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise InvalidInputError(
            f"A model version must be a number, as in /v2/models/churn/versions/3/infer. "
            f"Got {raw[:40]!r} instead."
        )
    return raw


class Handlers:
    """The v2 REST handlers of one worker."""

    def __init__(self, state: ServerState, scorer: Scorer) -> None:
        self.state = state
        self.scorer = scorer

    async def live(self, request: Request) -> Response:
        return Response(b'{"live":true}', media_type="application/json")

    async def ready(self, request: Request) -> Response:
        return Response(b'{"ready":true}', media_type="application/json")

    async def server(self, request: Request) -> Response:
        return Response(dumps(server_metadata()), media_type="application/json")

    async def _model(self, request: Request) -> LoadedModel:
        params = request.path_params
        return await self.scorer.open(
            params["name"], _version(params.get("version")), request.headers.get("authorization")
        )

    async def metadata(self, request: Request) -> Response:
        try:
            loaded = await self._model(request)
        except Exception as exc:
            return _error(Failure.of(exc))
        return Response(dumps(tensors.model_metadata(loaded)), media_type="application/json")

    async def model_ready(self, request: Request) -> Response:
        try:
            loaded = await self._model(request)
        except Exception as exc:
            return _error(Failure.of(exc))
        body = {"name": loaded.name, "version": str(loaded.version), "ready": True}
        return Response(dumps(body), media_type="application/json")


class InferEndpoint:
    """``POST /v2/models/{name}[/versions/{version}]/infer``."""

    def __init__(self, state: ServerState, scorer: Scorer) -> None:
        self.state = state
        self.scorer = scorer

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        start = time.perf_counter()
        params = scope["path_params"]
        headers = {k: v for k, v in scope["headers"] if k in _WANTED}
        loaded: LoadedModel | None = None
        rows = 0
        extra: list[tuple[bytes, bytes]] = []
        try:
            authorization = headers.get(b"authorization")
            loaded = await self.scorer.open(
                params["name"], _version(params.get("version")), authorization
            )
            header_length = _header_length(headers)
            content_type = headers.get(b"content-type")
            _check_type(content_type.decode("latin-1") if content_type else None, header_length)
            limit = self.state.config.max_body_bytes
            length = headers.get(b"content-length")
            check_length(length.decode("latin-1") if length else None, limit)
            spec = loaded.spec
            columns = spec.columns if spec is not None else None
            limits = Limits.of(self.state.config, len(columns) if columns else None)
            body = await _read(receive, limit, limits, header_length)
            request, binary, plain = _split(body, header_length)
            _check_declared(request, limits, columns)
            request_id = request.get("id")
            common = _common(request, loaded) if plain and not binary else None
            if common is not None:
                parsed, names, proba = common
                as_binary: dict[str, bool] = {}
            else:
                inputs = _inputs(request, binary, plain)
                names, proba, as_binary = _outputs(request, loaded)
                parsed = tensors.to_parsed(inputs, loaded)
            scored = await self.scorer.score(
                loaded,
                parsed,
                proba,
                routed=params.get("version") is None,
                key_header=headers.get(KEY_HEADER),
            )
            loaded, rows = scored.loaded, scored.rows  # a canary may have answered
            names = tensors.answerable(names, scored.probabilities)
            if scored.variant:
                extra.append((b"x-deploykit-variant", scored.variant.encode()))
            answer: dict[str, Any] = {
                "model_name": loaded.name,
                "model_version": str(loaded.version),
                "id": request_id if isinstance(request_id, str) else scored.request_id,
                "parameters": {"request_id": scored.request_id},
                "outputs": [],
            }
            if scored.ignored:
                answer["parameters"]["ignored_columns"] = ",".join(scored.ignored)
            if scored.probabilities is not None and loaded.classes is not None:
                answer["parameters"]["classes"] = ",".join(map(str, loaded.classes))
            payload, json_length = _encode(answer, names, scored, as_binary)
            status = 200
            if json_length is not None:
                extra.append((_HEADER, str(json_length).encode()))
                media = b"application/octet-stream"
            else:
                media = b"application/json"
            request_header = scored.request_id
        except Exception as exc:
            failure = Failure.of(exc)
            status, payload, media = failure.status, dumps({"error": failure.message}), None
            request_header = failure.request_id
        self.scorer.record(loaded, status, start, rows)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", media or b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"x-request-id", request_header.encode()),
                    *extra,
                    *(
                        [(b"x-model-version", str(loaded.version).encode())]
                        if loaded is not None
                        else []
                    ),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _header_length(headers: dict[bytes, bytes]) -> int | None:
    raw = headers.get(_HEADER)
    if raw is None:
        return None
    text = raw.decode("latin-1").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise BadRequestError(
            f"Inference-Header-Content-Length must be the byte length of the JSON header. "
            f"Got {text[:40]!r} instead."
        )
    return int(text)


def _check_type(content_type: str | None, header_length: int | None) -> None:
    if is_json(content_type):
        return
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if header_length is not None and media == "application/octet-stream":
        return
    raise UnsupportedMediaTypeError(
        "This endpoint takes JSON ('Content-Type: application/json'), or a JSON header and "
        "binary tensors ('application/octet-stream' with Inference-Header-Content-Length). "
        f"Got {content_type!r} instead."
    )


async def _read(
    receive: Any, limit: int, limits: Limits, header_length: int | None = None
) -> bytes:
    """The body, refused as soon as it grows past ``limit`` bytes, or its JSON (the whole
    body, or its first ``header_length`` bytes) holds more commas than a request within
    ``limits`` has: over the limits before any of it is decoded, as on ``/v1``."""
    size = 0
    commas = 0

    def count_values(chunk: bytes) -> None:
        nonlocal size, commas
        json_part = chunk if header_length is None else chunk[: max(0, header_length - size)]
        size += len(chunk)
        commas += json_part.count(b",")
        if commas > limits.commas:
            raise too_many_values(limits)

    return await read_body(receive, limit, count_values)


def _split(body: bytes, header_length: int | None) -> tuple[dict[str, Any], bytes, bool]:
    """(the JSON request, the binary tensor bytes after it, whether the JSON holds no
    boolean literal: see :func:`tensors.from_json`)."""
    if header_length is None:
        header, binary = body, b""
    elif header_length > len(body):
        raise BadRequestError(
            f"Inference-Header-Content-Length is {header_length}, but the body holds only "
            f"{len(body)} bytes."
        )
    else:
        header, binary = body[:header_length], body[header_length:]
    if not header:
        raise BadRequestError("The request body is empty; send a JSON inference request.")
    try:
        request = orjson.loads(header)
    except orjson.JSONDecodeError as exc:
        start = header[:40].decode("utf-8", "replace")
        raise BadRequestError(
            f"The inference request is not valid JSON ({exc}). Got {start!r} instead."
        ) from None
    if not isinstance(request, dict):
        raise InvalidInputError(
            'The inference request must be a JSON object, as in {"inputs": [{"name": "input", '
            '"shape": [1, 2], "datatype": "FP64", "data": [0.5, 1.0]}]}.'
        )
    return request, binary, no_bool_literal(header)


# scoring formats of other protocols, which a newcomer may send here by mistake
_OTHER_FORMATS = ("instances", "dataframe_split", "dataframe_records")
_ELSEWHERE = (
    " {} is another protocol's format: send it to /invocations (MLflow) or "
    "/v1/models/NAME/predict, which take it as it is."
)


_TENSOR = '{"name": "input", "shape": [1, 2], "datatype": "FP64", "data": [0.5, 1.0]}'


def _shown(value: Any) -> str:
    """``value`` for an error message: its repr, cut at 60 characters with an ellipsis."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _check_declared(request: dict[str, Any], limits: Limits, columns: list[str] | None) -> None:
    """:func:`tensors.check_declared` on the request's input headers, before their data is
    decoded (malformed headers are left to :func:`_inputs` to name)."""
    raw_inputs = request.get("inputs")
    if isinstance(raw_inputs, list):
        shapes = [item.get("shape") if isinstance(item, dict) else None for item in raw_inputs]
        tensors.check_declared(shapes, 0, limits, columns)


_COMMON_KEYS = frozenset({"inputs", "outputs", "id"})


def _common(request: dict[str, Any], loaded: LoadedModel) -> tuple[Parsed, list[str], bool] | None:
    """(rows, output names, with probabilities) of the common request, decoded in a few
    checks: one flat numeric ``[rows, columns]`` tensor for a model of float columns
    (:func:`tensors.plain_matrix`), outputs named by name alone or not at all, no
    parameters, JSON without booleans. None for anything else: :func:`_inputs`,
    :func:`_outputs` and :func:`tensors.to_parsed` then decode it and name any mistake."""
    if not request.keys() <= _COMMON_KEYS:
        return None
    inputs = request.get("inputs")
    if type(inputs) is not list or len(inputs) != 1:
        return None
    item = inputs[0]
    if type(item) is not dict or len(item) != 4:  # name, datatype, shape, data: no parameters
        return None
    data = item.get("data")
    if type(data) is not list:
        return None
    plan = tensors.plan(loaded)
    parsed = tensors.plain_matrix(
        plan, item.get("name"), item.get("datatype"), item.get("shape"), data, True
    )
    if parsed is None:
        return None
    asked = request.get("outputs")
    wanted: list[str] = []
    if asked is not None:
        if type(asked) is not list:
            return None
        tensors.check_output_count(len(asked))  # before walking a list of any length
        for output in asked:  # {"name": ...} alone: no parameters (binary_data)
            if type(output) is not dict or len(output) != 1:
                return None
            name = output.get("name")
            if type(name) is not str:
                return None
            wanted.append(name)
    try:
        chosen, proba = tensors.plain_outputs(plan, tuple(wanted), loaded)
    except InvalidInputError:
        return None  # _outputs says which name is wrong
    return parsed, chosen, proba


def _inputs(request: dict[str, Any], binary: bytes, plain: bool = False) -> list[tensors.Tensor]:
    raw_inputs = request.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        other = next((key for key in _OTHER_FORMATS if key in request), None)
        raise InvalidInputError(
            "The field 'inputs' must be a non-empty list of tensors, each with 'name', "
            "'shape', 'datatype' and 'data'. Got "
            f"{'nothing' if raw_inputs is None else _shown(raw_inputs)} instead."
            + (_ELSEWHERE.format(f"'{other}'") if other else "")
        )
    found = []
    at = 0
    for i, item in enumerate(raw_inputs):
        if not isinstance(item, dict):
            raise InvalidInputError(
                f"inputs[{i}] must be a tensor object, as in {_TENSOR}. Got {_shown(item)} "
                "instead." + (_ELSEWHERE.format("A list of rows") if isinstance(item, list) else "")
            )
        name, datatype, shape = tensors.check_header(
            i, item.get("name"), item.get("datatype"), item.get("shape")
        )
        size = _binary_size(item.get("parameters"), f"inputs[{i}]")
        if size is not None:
            if at + size > len(binary):
                raise InvalidInputError(
                    f"inputs[{i}] ({name!r}) says binary_data_size {size}, but only "
                    f"{len(binary) - at} bytes of binary data are left in the body."
                )
            found.append(tensors.from_raw(i, name, datatype, shape, binary[at : at + size]))
            at += size
        else:
            data = item.get("data")
            found.append(tensors.from_json(i, name, datatype, shape, data, plain=plain, text=True))
    if at != len(binary):
        raise InvalidInputError(
            f"The body holds {len(binary) - at} bytes of binary data no input claims "
            "(parameters.binary_data_size)."
        )
    return found


def _binary_size(parameters: Any, where: str) -> int | None:
    if parameters is None:
        return None
    if not isinstance(parameters, dict):
        raise InvalidInputError(f"{where}.parameters must be an object. Got {parameters!r:.60}.")
    size = parameters.get("binary_data_size")
    if size is None:
        return None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidInputError(
            f"{where}.parameters.binary_data_size must be a byte count. Got {size!r} instead."
        )
    return size


def _outputs(
    request: dict[str, Any], loaded: LoadedModel
) -> tuple[list[str], bool, dict[str, bool]]:
    """(output names, with probabilities, which outputs go binary)."""
    parameters = request.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InvalidInputError(f"'parameters' must be an object. Got {parameters!r:.60}.")
    everything_binary = parameters.get("binary_data_output") is True
    asked = request.get("outputs")
    if asked is None:
        asked = []
    if not isinstance(asked, list):
        raise InvalidInputError(f"'outputs' must be a list of objects. Got {asked!r:.60}.")
    tensors.check_output_count(len(asked))
    names: list[str] = []
    binary: dict[str, bool] = {}
    for i, item in enumerate(asked):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise InvalidInputError(
                f'outputs[{i}] must be an object with a name, as in {{"name": "predict"}}. '
                f"Got {item!r:.60} instead."
            )
        names.append(item["name"])
        own = item.get("parameters") or {}
        if not isinstance(own, dict):
            raise InvalidInputError(f"outputs[{i}].parameters must be an object.")
        binary[item["name"]] = own.get("binary_data", everything_binary) is True
    chosen, proba = tensors.requested(names, loaded)
    for name in chosen:
        binary.setdefault(name, everything_binary)
    return chosen, proba, binary


def _encode(
    answer: dict[str, Any], names: list[str], scored: Scored, as_binary: dict[str, bool]
) -> tuple[bytes, int | None]:
    """The response body with the ``names`` outputs, and the JSON header's length when
    binary outputs (``as_binary``) follow it."""
    blobs = []
    entries = answer["outputs"]
    for name in names:
        array = tensors.output_array(name, scored.predictions, scored.probabilities)
        datatype = tensors.datatype_of(array.dtype)
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if as_binary.get(name):
            blob = tensors.encode_raw(array, datatype)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = tensors.json_data(array, datatype)
        entries.append(entry)
    header = dumps(answer)
    if not blobs:
        return header, None
    return header + b"".join(blobs), len(header)


def routes(state: ServerState, scorer: Scorer) -> list[Route]:
    handlers = Handlers(state, scorer)
    infer = InferEndpoint(state, scorer)
    return [  # inference first: routes are matched in order, one regex each
        Route("/v2/models/{name}/infer", infer, methods=["POST"]),
        Route("/v2/models/{name}/versions/{version}/infer", infer, methods=["POST"]),
        Route("/v2", handlers.server, methods=["GET"]),
        Route("/v2/health/live", handlers.live, methods=["GET"]),
        Route("/v2/health/ready", handlers.ready, methods=["GET"]),
        Route("/v2/models/{name}", handlers.metadata, methods=["GET"]),
        Route("/v2/models/{name}/ready", handlers.model_ready, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}", handlers.metadata, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}/ready", handlers.model_ready, methods=["GET"]),
    ]
