"""The monitoring routes: metrics and drift over time, alert rules, drift options.

    GET    /v1/models/{name}/metrics?since=&until=&step=&version=   (or ?window=seconds)
    GET    /v1/models/{name}/drift?since=&until=&step=&version=
    GET    /v1/models/{name}/estimated?since=&until=&step=&version=&confidence=
    GET    /v1/models/{name}/drift/options        PUT  (deployer) the same, as JSON
    GET    /v1/models/{name}/alerts               POST (deployer) create or replace a rule
    DELETE /v1/models/{name}/alerts/{rule}        (deployer)

Times are ISO 8601 or epoch seconds. A malformed or empty period is a 422 naming
the parameter; a period without traffic is an answer with zero requests/rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deploykit.errors import InvalidInputError
from deploykit.monitoring.periods import parse_time, period
from deploykit.monitoring.rules import RULE_FIELDS
from deploykit.server.endpoint import Call, thread

if TYPE_CHECKING:
    from collections.abc import Callable

    from deploykit.monitoring.periods import Period

__all__ = [
    "delete_alert",
    "get_drift_options",
    "list_alerts",
    "model_drift",
    "model_estimated",
    "model_metrics",
    "put_drift_options",
    "set_alert",
]

MAX_SECONDS = 90 * 86400
_ALERT_FIELDS = {"rule", *RULE_FIELDS}  # the rule's name, then what it sets


def _period(call: Call, **defaults: Any) -> Period:
    q = call.request.query_params
    return period(
        parse_time(q.get("since"), "since"),
        parse_time(q.get("until"), "until"),
        call.query_int("step", None, high=MAX_SECONDS),
        **defaults,
    )


async def model_metrics(call: Call) -> Any:
    from datetime import timedelta

    from deploykit.monitoring.telemetry import summary

    window = call.query_int("window", 3600, high=MAX_SECONDS)
    span = _period(call, default_span=timedelta(seconds=window))
    version = call.query_int("version", None)
    state = call.state
    await thread(state.registry.model, call.name)  # 404 for unknown models
    await thread(state.telemetry.flush)
    return await thread(
        summary,
        state.registry.engine,
        call.name,
        since=span.since.timestamp(),
        until=span.until.timestamp(),  # summary() rounds it up, keeping the current bucket
        step_seconds=span.step,
        version=version,
    )


async def model_drift(call: Call) -> Any:
    from deploykit.monitoring.monitor import drift

    return await _over_logged_period(call, drift)


async def model_estimated(call: Call) -> Any:
    from deploykit.monitoring.performance import estimated_performance

    confidence = _confidence(call.request.query_params.get("confidence"))
    return await _over_logged_period(call, estimated_performance, confidence=confidence)


async def _over_logged_period(call: Call, compute: Callable[..., Any], **options: Any) -> Any:
    """``compute`` (drift, estimated performance) over the logged traffic of the period and
    version the query names: both read the prediction logs the same way."""
    from deploykit.monitoring.monitor import DEFAULT_SPAN

    span = _period(call, default_span=DEFAULT_SPAN)
    version = call.query_int("version", None)
    state = call.state
    await thread(state.registry.model, call.name)  # 404 for unknown models
    await thread(state.predlog.flush)  # this worker's latest rows, not only the flushed ones
    return await thread(
        compute,
        state.registry,
        call.name,
        since=span.since,
        until=span.until,
        step=span.step,
        version=version,
        **options,
    )


def _confidence(text: str | None) -> float:
    if text is None:
        return 0.9
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.5 <= value < 1:
        raise InvalidInputError(
            "The 'confidence' query parameter must be a number in [0.5, 1), such as 0.9. "
            f"Got {text[:50]!r} instead."
        )
    return value


async def get_drift_options(call: Call) -> Any:
    from deploykit.monitoring.store import drift_options

    await thread(call.state.registry.model, call.name)
    return await thread(drift_options, call.state.registry, call.name)


async def put_drift_options(call: Call) -> Any:
    from deploykit.monitoring.store import set_drift_options

    body = await call.json()
    reg = call.state.registry_as(call.actor)
    return await thread(set_drift_options, reg, call.name, body)


async def list_alerts(call: Call) -> Any:
    from deploykit.monitoring.store import alerts

    return await thread(alerts, call.state.registry, call.name)


async def set_alert(call: Call) -> Any:
    from deploykit.monitoring.store import set_alert as store_rule

    body = await call.json()
    unknown = sorted(set(body) - _ALERT_FIELDS)
    if unknown:
        raise InvalidInputError(
            f"Unknown alert rule field(s) {', '.join(map(repr, unknown))}; the fields are "
            f"{', '.join(sorted(_ALERT_FIELDS))}."
        )
    for key in ("rule", "metric", "threshold"):
        if key not in body:
            raise InvalidInputError(
                f"The request body needs the field {key!r}, as in "
                '{"rule": "errors", "metric": "error_rate", "threshold": 0.05}.'
            )
    fields = dict(body)
    rule = fields.pop("rule")
    reg = call.state.registry_as(call.actor)
    return await thread(store_rule, reg, call.name, rule, **fields)


async def delete_alert(call: Call) -> Any:
    from deploykit.monitoring.store import delete_alert as drop_rule

    reg = call.state.registry_as(call.actor)
    return await thread(drop_rule, reg, call.name, call.request.path_params["rule"])
