"""MLflow's scoring server protocol: ``/invocations``, ``/ping``, ``/health``, ``/version``.

A client written for ``mlflow models serve`` works with only the base URL changed:

- ``http://host:8765`` serves the model named by ``deploykit serve --model NAME``
  (server option ``model``), or the only model this server serves;
- ``http://host:8765/models/NAME`` serves any model by name.

``POST /invocations`` takes MLflow's JSON bodies (``dataframe_split``,
``dataframe_records``, ``instances``, ``inputs``; ``params`` ignored) and ``text/csv``
with a header row, and answers ``{"predictions": [...]}``. Errors have MLflow's shape,
``{"error_code": "BAD_REQUEST", "message": "..."}``, with its statuses (400 for bad
input, 404 for an unknown model) and deploykit's messages, which name the column, the
expected and the received value. The input contract, tokens, logging and telemetry are
``/v1``'s (see :mod:`deploykit.server.protocols.core`).
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from deploykit._version import __version__
from deploykit.errors import AliasNotFoundError, ModelNotFoundError, SignatureError
from deploykit.server.experiments import KEY_HEADER
from deploykit.server.payloads import (
    Limits,
    Parsed,
    check_limits,
    over_limit,
    parse_body,
    too_many_values,
)
from deploykit.server.protocols.core import Failure, Scorer
from deploykit.server.wire import (
    BadRequestError,
    UnsupportedMediaTypeError,
    check_length,
    dumps,
    is_json,
    parse_json,
    too_large,
)

if TYPE_CHECKING:
    from deploykit.server.models import LoadedModel
    from deploykit.server.state import ServerState

__all__ = ["error_code", "routes"]

# deploykit's status -> (MLflow's status, MLflow's error code); mlflow.exceptions maps codes
# to statuses the same way, so an MLflow client reading either sees what it expects.
_CODES: dict[int, tuple[int, str]] = {
    400: (400, "BAD_REQUEST"),
    401: (401, "UNAUTHENTICATED"),
    403: (403, "PERMISSION_DENIED"),
    404: (404, "RESOURCE_DOES_NOT_EXIST"),
    409: (409, "RESOURCE_CONFLICT"),
    413: (413, "REQUEST_LIMIT_EXCEEDED"),
    415: (415, "BAD_REQUEST"),
    422: (400, "INVALID_PARAMETER_VALUE"),
    503: (503, "TEMPORARILY_UNAVAILABLE"),
}
_CSV = "text/csv"
_INLINE_BYTES = 64 * 1024


def error_code(failure: Failure) -> tuple[int, str]:
    """(status, MLflow error code) for a deploykit failure."""
    if failure.type == SignatureError.__name__:
        return 400, "INVALID_PARAMETER_VALUE"
    return _CODES.get(failure.status, (failure.status, "INTERNAL_ERROR"))


def _error(failure: Failure) -> Response:
    status, code = error_code(failure)
    return Response(
        dumps({"error_code": code, "message": failure.message}),
        status_code=status,
        media_type="application/json",
        headers={"x-request-id": failure.request_id},
    )


class Scoring:
    """The MLflow scoring routes of one worker."""

    def __init__(self, state: ServerState, scorer: Scorer) -> None:
        self.state = state
        self.scorer = scorer

    def _name(self, request: Request) -> str:
        name = request.path_params.get("name")
        if name is not None:
            return str(name)
        configured = self.state.config.model
        if configured:
            return configured
        served = sorted({m.name for m in self.state.host.routes.values()})
        if len(served) == 1:
            return served[0]
        if not served:
            raise AliasNotFoundError(
                "This server serves no model yet, so /invocations has nothing to score. "
                "Deploy one (`deploykit deploy NAME VERSION`), or post to "
                "/models/NAME/invocations."
            )
        raise ModelNotFoundError(
            f"This server serves {len(served)} models, so /invocations does not know which "
            "one to use. Post to /models/NAME/invocations, or start the server with "
            "`deploykit serve --model NAME`."
        )

    async def _open(self, request: Request) -> LoadedModel:
        return await self.scorer.open(
            self._name(request), None, request.headers.get("authorization")
        )

    async def ping(self, request: Request) -> Response:
        """200 once the model ``/invocations`` scores with loads (MLflow's health check)."""
        try:
            if request.path_params.get("name") is not None or self.state.config.model:
                await self._open(request)
        except Exception as exc:
            return _error(Failure.of(exc))
        return Response("\n", media_type="text/plain")

    async def version(self, request: Request) -> Response:
        return Response(__version__, media_type="text/plain")

    async def invocations(self, request: Request) -> Response:
        start = time.perf_counter()
        loaded: LoadedModel | None = None
        rows = 0
        try:
            loaded = await self._open(request)
            content_type = request.headers.get("content-type")
            is_csv = _media(content_type) == _CSV
            if not is_csv and not is_json(content_type):
                raise UnsupportedMediaTypeError(
                    "This endpoint takes 'application/json' (dataframe_split, "
                    "dataframe_records, instances or inputs) or 'text/csv' with a header "
                    f"row. Got {content_type!r} instead."
                )
            _check_charset(content_type)
            body = await self._body(request, loaded, is_csv)
            limits = self._limits(loaded) if is_csv else None
            if len(body) <= _INLINE_BYTES:
                parsed = _decode(body, limits, loaded)
            else:  # decoding a large body must not hold up other requests
                parsed = await asyncio.to_thread(_decode, body, limits, loaded)
            key = request.headers.get(KEY_HEADER.decode())
            scored = await self.scorer.score(
                loaded, parsed, False, routed=True, key_header=key.encode() if key else None
            )
            loaded, rows = scored.loaded, scored.rows  # a canary may have answered
            headers = {"x-request-id": scored.request_id, "x-model-version": str(loaded.version)}
            if scored.variant:
                headers["x-deploykit-variant"] = scored.variant
            response = Response(
                dumps({"predictions": scored.predictions}),
                media_type="application/json",
                headers=headers,
            )
            status = 200
        except ClientDisconnect:
            response = _error(Failure.of(BadRequestError("The client disconnected mid-request.")))
            status = response.status_code
        except Exception as exc:
            failure = Failure.of(exc)
            response = _error(failure)
            status = failure.status
        self.scorer.record(loaded, status, start, rows)
        return response

    def _limits(self, loaded: LoadedModel) -> Limits:
        width = len(loaded.spec.columns) if loaded.spec is not None else None
        return Limits.of(self.state.config, width)

    async def _body(self, request: Request, loaded: LoadedModel, is_csv: bool = False) -> bytes:
        """The body under the byte limit, refused early when it holds too many values (or,
        for CSV, more lines than rows allowed: pandas takes seconds on millions of them)."""
        config = self.state.config
        limit = config.max_body_bytes
        check_length(request.headers.get("content-length"), limit)
        limits = self._limits(loaded)
        chunks, size, separators, lines = [], 0, 0, 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            separators += chunk.count(b",")
            if separators > limits.commas:
                raise too_many_values(limits)
            if is_csv:
                lines += chunk.count(b"\n")
                if lines > limits.rows + 1:  # the header row, then one line per row
                    raise over_limit(
                        "rows",
                        f"more than {limits.rows:,}",
                        limits.rows,
                        "max_rows",
                        "Send fewer rows per request.",
                    )
            chunks.append(chunk)
        return b"".join(chunks)


def _media(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _check_charset(content_type: str | None) -> None:
    for part in (content_type or "").split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "charset" and value.strip().strip('"').lower() != "utf-8":
            raise UnsupportedMediaTypeError(
                f"The scoring server takes UTF-8 text only. Got charset {value.strip()!r}."
            )


def _decode(body: bytes, csv_limits: Limits | None, loaded: LoadedModel) -> Parsed:
    """The body as rows: JSON when ``csv_limits`` is None, else CSV under those limits."""
    if csv_limits is None:
        return parse_body(parse_json(body))
    return _csv(body, csv_limits, loaded.spec.columns if loaded.spec is not None else None)


def _csv(body: bytes, limits: Limits, columns: list[str] | None = None) -> Parsed:
    """A CSV body with a header row, as rows with their column names (values typed by
    pandas, then checked by the signature like JSON ones). A header wider than the
    limits is refused before pandas reads anything (it takes seconds on 50,000 columns)."""
    import pandas as pd

    if not body.strip():
        raise BadRequestError("The CSV body is empty; send a header row and one row per record.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequestError(f"The CSV body is not UTF-8 text ({exc}).") from None
    try:
        header = next(csv.reader(io.StringIO(text)), [])
    except csv.Error as exc:
        raise BadRequestError(f"The CSV body's header row cannot be read: {exc}") from None
    check_limits(Parsed("rows", [], header, "dataframe_split"), limits, columns)
    try:
        frame = pd.read_csv(io.StringIO(text))
    except (ValueError, pd.errors.ParserError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise BadRequestError(f"The CSV body cannot be read: {first}") from None
    if not isinstance(frame.index, pd.RangeIndex):
        # pandas reads the extra leading fields of rows wider than the header as an
        # index, so every value would land one column off: refuse instead
        raise BadRequestError(
            f"The CSV body's rows are wider than its header: the header names "
            f"{len(frame.columns):,} columns, the first row holds "
            f"{len(frame.columns) + frame.index.nlevels:,} values. Send one value per "
            "column on every row."
        )
    if len(frame.index) == 0:
        shown = ", ".join(repr(name) for name in header[:3])
        raise BadRequestError(
            "The CSV body has no data rows: its first line is read as the column names "
            f"({shown}{', …' if len(header) > 3 else ''}). Send a header row naming "
            "the columns, then one row per record."
        )
    split: dict[str, Any] = frame.to_dict(orient="split", index=False)
    names = [str(c) for c in split["columns"]]
    return Parsed("rows", split["data"], names, "dataframe_split")


def routes(state: ServerState, scorer: Scorer) -> list[Route]:
    scoring = Scoring(state, scorer)
    table = []
    for prefix in ("", "/models/{name}"):
        table += [
            Route(f"{prefix}/invocations", scoring.invocations, methods=["POST"]),
            Route(f"{prefix}/ping", scoring.ping, methods=["GET"]),
            Route(f"{prefix}/health", scoring.ping, methods=["GET"]),
            Route(f"{prefix}/version", scoring.version, methods=["GET"]),
        ]
    return table
