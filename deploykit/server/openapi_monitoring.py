"""The monitoring part of the OpenAPI document: metrics, drift, drift options, alert rules.

Merged into ``/openapi.json`` by :func:`deploykit.server.openapi.openapi_document`.
"""

from __future__ import annotations

from typing import Any

from deploykit.monitoring.rules import RULE_FIELDS
from deploykit.server.monitor_routes import MAX_SECONDS
from deploykit.server.openapi_parts import (
    AUTH,
    NAME,
    WRITE,
    errors,
    json_content,
    post,
    query_param,
    read_operation,
    ref,
)
from deploykit.server.openapi_schemas import MONITORING

__all__ = ["paths"]

_TIME_HELP = "ISO 8601 time (naive means UTC) or epoch seconds"


def _query(name: str, kind: str, description: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": kind}
    if kind == "integer":  # what Call.query_int takes; outside it is a 422
        schema.update(minimum=1, maximum=_HIGH.get(name, 10**9))
    return query_param(name, schema, description)


_HIGH = {"step": MAX_SECONDS, "window": MAX_SECONDS}


_PERIOD = [
    _query("since", "string", f"Start of the period, included: {_TIME_HELP}"),
    _query("until", "string", f"End of the period, excluded (default now): {_TIME_HELP}"),
    _query("step", "integer", "Window width in seconds, for a series (at most 1000 windows)"),
    _query("version", "integer", "A version (default: the one production points at)"),
]


def paths() -> dict[str, Any]:
    rule_body = {
        "type": "object",
        "required": ["rule", "metric", "threshold"],
        "properties": {
            "rule": {"type": "string", "description": "The rule's name, unique per model"},
            **{k: v for k, v in MONITORING["AlertRule"]["properties"].items() if k in RULE_FIELDS},
        },
    }
    options_put = post("Keep the model's drift options", ref("DriftOptions"), ref("DriftOptions"))
    return {
        "/v1/models/{name}/metrics": {
            "get": read_operation(
                "Requests, 4xx/5xx errors, latency p50/p95/p99 and throughput, in total, per "
                "version and per step",
                ref("Metrics"),
                [
                    NAME,
                    _query("window", "integer", "Seconds back from now (without since)"),
                    *_PERIOD,
                ],
            )
        },
        "/v1/models/{name}/drift": {
            "get": read_operation(
                "Drift of each feature and of the predictions against the version's reference "
                "profile, overall and per step; accuracy where feedback exists",
                ref("Drift"),
                [NAME, *_PERIOD],
                409,
            )
        },
        "/v1/models/{name}/estimated": {
            "get": read_operation(
                "Metrics estimated from the logged scores before labels arrive, with a band; "
                "realized beside them where feedback exists; overall and per step",
                ref("EstimatedPerformance"),
                [
                    NAME,
                    *_PERIOD,
                    _query("confidence", "number", "Band coverage in [0.5, 1); 0.9 by default"),
                ],
            )
        },
        "/v1/models/{name}/drift/options": {
            "get": read_operation("The model's drift options", ref("DriftOptions"), [NAME]),
            "put": options_put,
        },
        "/v1/models/{name}/alerts": {
            "get": read_operation(
                "The model's alert rules", {"type": "array", "items": ref("AlertRule")}, [NAME]
            ),
            "post": post("Create or replace an alert rule", rule_body, ref("AlertRule")),
        },
        "/v1/models/{name}/alerts/{rule}": {
            "delete": {
                "summary": "Remove an alert rule",
                "security": AUTH,
                "parameters": [
                    NAME,
                    {"name": "rule", "in": "path", "required": True, "schema": {"type": "string"}},
                ],
                "responses": {"200": json_content(ref("AlertRule"), "Removed"), **errors(*WRITE)},
            }
        },
    }
