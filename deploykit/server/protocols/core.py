"""The ``/v1`` predict path's steps, for the other protocols on the wire.

MLflow scoring (``/invocations``) and Open Inference v2 (REST and gRPC) decode their own
payloads into a :class:`~deploykit.server.payloads.Parsed`; from there they go the way
``POST /v1/models/{name}/predict`` goes (:mod:`deploykit.server.predict`): the same token
rule, the same model resolution (aliases, versions, hot swap), the same limits and
signature validation with named errors, the same micro-batcher, signed request ids,
prediction log and telemetry. Only the envelope differs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from deploykit.errors import DeployKitError, ModelNotFoundError
from deploykit.server.payloads import Limits, Parsed, check_limits, ignored_columns
from deploykit.server.predict import PredictEndpoint
from deploykit.server.wire import new_request_id, public, public_problems, status_of

if TYPE_CHECKING:
    from deploykit.server.models import LoadedModel
    from deploykit.server.state import ServerState

__all__ = ["Failure", "Scored", "Scorer"]

log = logging.getLogger("deploykit.server")

_INLINE_VALUES = 10_000  # payloads up to about this many values are checked on the event loop


@dataclass(slots=True)
class Scored:
    """What a model answered for one request."""

    loaded: LoadedModel
    predictions: np.ndarray
    probabilities: np.ndarray | None
    request_id: str  # signed: the id feedback may label (deploykit.server.request_ids)
    rows: int
    ignored: list[str] = field(default_factory=list)
    variant: str = ""  # "production" / "candidate" while an experiment runs, else ""


@dataclass(frozen=True)
class Failure:
    """An error as every protocol reports it: status, public message, request id."""

    status: int
    message: str
    request_id: str
    type: str
    problems: tuple[str, ...] = ()

    @classmethod
    def of(cls, exc: BaseException, request_id: str | None = None) -> Failure:
        request_id = request_id or new_request_id()
        if isinstance(exc, DeployKitError):
            problems = tuple(public_problems(getattr(exc, "problems", None)))
            status = status_of(exc)
            if status >= 500:
                log.warning("request %s: %s: %s", request_id, type(exc).__name__, exc)
            return cls(status, public(str(exc)), request_id, type(exc).__name__, problems)
        log.error("unexpected error in request %s", request_id, exc_info=exc)
        return cls(
            500,
            "Internal server error. The server logged the details under this request id: "
            f"{request_id}.",
            request_id,
            "DeployKitError",
        )


class Scorer:
    """One worker's predict path, shared by every protocol (one per :class:`ServerState`)."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self._v1 = PredictEndpoint(state)

    async def open(
        self, name: str, version: str | None, authorization: bytes | str | None
    ) -> LoadedModel:
        """The version that answers (``version`` None: the served alias), after the token
        check ``/v1`` predict makes: open unless ``predict_requires_token``, a token sent is
        always checked, a version no alias points at needs a deployer."""
        state = self.state
        if version is None and not authorization and not state.config.predict_requires_token:
            loaded = state.host.routes.get(name)  # the common request: the served alias
            if loaded is not None:
                return loaded
        authorized = False
        try:
            if state.config.predict_requires_token or authorization:
                await state.authorize(authorization, "viewer")
                authorized = True
            return await self._v1._resolve(name, version, _as_bytes(authorization))
        except ModelNotFoundError:
            if authorized:
                raise
            raise ModelNotFoundError(f"No model named {name!r}.") from None  # no list of others

    async def score(
        self,
        loaded: LoadedModel,
        parsed: Parsed,
        proba: bool,
        *,
        routed: bool = False,
        key_header: bytes | None = None,
    ) -> Scored:
        """Check ``parsed`` (limits, signature), predict, and log it like ``/v1`` does.

        ``routed``: the caller named no version, so a running canary may answer instead of
        production and a running shadow mirrors the request, as on ``/v1``; ``key_header``
        is the request's stickiness key (``X-DeployKit-Key``)."""
        state = self.state
        spec = loaded.spec
        limits = Limits.of(state.config, len(spec.columns) if spec is not None else None)
        check_limits(parsed, limits, spec.columns if spec is not None else None)
        if _values(parsed) <= _INLINE_VALUES:
            data, rows = loaded.to_input(parsed)
        else:  # checking a large payload must not hold up other requests
            data, rows = await asyncio.to_thread(loaded.to_input, parsed)
        split = state.host.splits.get(loaded.name) if routed else None
        shadow = None
        variant = ""
        if split is not None:
            loaded, variant, shadow = split.route(key_header, parsed, loaded)
            if variant == "candidate":  # it may take other columns, and may not score
                proba = proba and loaded.has_proba
                data, rows = loaded.to_input(parsed)
        predictions, probabilities, model_seconds = await loaded.predict_timed(
            data, rows, proba, state.predlog.enabled
        )
        predictions = np.asarray(predictions)
        probabilities = None if probabilities is None else np.asarray(probabilities)
        request_id = state.request_ids.issue(loaded.name)
        logged = False
        if state.predlog.enabled:
            columns = loaded.spec.columns if loaded.spec is not None else None
            classes = loaded.classes if probabilities is not None else None
            logged = state.predlog.add(
                request_id,
                loaded.name,
                loaded.version,
                data,
                predictions,
                tuple(columns) if columns else None,
                probabilities=probabilities if classes is not None else None,
                classes=None if classes is None else tuple(classes),
            )
        if shadow is not None:  # references queued: scored off the request path
            state.shadow.submit(
                shadow, loaded, parsed, data, rows, request_id, model_seconds, logged
            )
        return Scored(
            loaded,
            predictions,
            probabilities if proba else None,
            request_id,
            rows,
            ignored_columns(parsed, loaded.spec),
            variant,
        )

    def record(self, loaded: LoadedModel | None, status: int, start: float, rows: int) -> None:
        """Telemetry for one request (``/metrics``, the console), as ``/v1`` counts it."""
        if loaded is not None:
            self.state.telemetry.record(
                loaded.name, loaded.version, status, time.perf_counter() - start, rows
            )


def _values(parsed: Parsed) -> int:
    """About how many values ``parsed`` holds (its first row's width times its rows)."""
    data = parsed.data
    if parsed.shape == "columns":
        return parsed.nrows * len(data)
    if isinstance(data, np.ndarray):
        return int(data.size)
    first = data[0] if data else None
    return len(data) * (len(first) if isinstance(first, (list, dict)) else 1)


def _as_bytes(value: bytes | str | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return value.encode("latin-1", "replace")
