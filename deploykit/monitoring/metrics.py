"""Serving figures of a model (requests, errors, latency) from the registry database.

``Registry.metrics`` answers what ``GET /v1/models/{name}/metrics`` and
``Client.metrics`` answer: the servers that share the registry write their
telemetry to it, so an embedded registry reads the same rows. A registry no
server has served from answers the same shape with zero requests.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from deploykit.errors import InvalidInputError
from deploykit.monitoring.periods import period

if TYPE_CHECKING:
    from deploykit.registry import Registry

__all__ = ["MAX_SECONDS", "metrics"]

MAX_SECONDS = 90 * 86400  # the server's bound on ``window`` and ``step``


def _seconds(value: Any, param: str, *, required: bool) -> int | None:
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SECONDS:
        raise InvalidInputError(
            f"The {param!r} parameter must be a whole number of seconds between 1 and "
            f"{MAX_SECONDS}. Got {value!r} instead."
        )
    return value


def metrics(
    registry: Registry,
    name: str,
    *,
    window: int = 3600,
    step: int | None = None,
    version: int | None = None,
    since: Any = None,
    until: Any = None,
) -> dict[str, Any]:
    """Requests, 4xx/5xx errors, latency percentiles and throughput of ``name`` over
    [since, until) (the last ``window`` seconds by default): in total, per version and
    per ``step`` seconds."""
    from deploykit.monitoring.telemetry import summary  # SQLAlchemy, on first use

    span = period(
        since,
        until,
        _seconds(step, "step", required=False),
        default_span=timedelta(seconds=_seconds(window, "window", required=True) or 0),
    )
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise InvalidInputError(
            f"The 'version' parameter must be a version number. Got {version!r} instead."
        )
    registry.model(name)  # ModelNotFoundError for an unknown model, as the server's 404
    return summary(
        registry.engine,
        name,
        since=span.since.timestamp(),
        until=span.until.timestamp(),
        step_seconds=span.step,
        version=version,
    )
