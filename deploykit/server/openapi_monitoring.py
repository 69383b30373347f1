"""The monitoring part of the OpenAPI document: metrics, drift, drift options, alert rules.

Merged into ``/openapi.json`` by :func:`deploykit.server.openapi.openapi_document`.
"""

from __future__ import annotations

from typing import Any

from deploykit.monitoring.rules import METRICS, RULE_FIELDS
from deploykit.server.monitor_routes import MAX_SECONDS
from deploykit.server.openapi_parts import AUTH, NAME, READ, WRITE, errors, json_content, post, ref

__all__ = ["SCHEMAS", "paths"]

_TIME_HELP = "ISO 8601 time (naive means UTC) or epoch seconds"


def _query(name: str, kind: str, description: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": kind}
    if kind == "integer":  # what Call.query_int takes; outside it is a 422
        schema.update(minimum=1, maximum=_HIGH.get(name, 10**9))
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


_HIGH = {"step": MAX_SECONDS, "window": MAX_SECONDS}


_PERIOD = [
    _query("since", "string", f"Start of the period, included: {_TIME_HELP}"),
    _query("until", "string", f"End of the period, excluded (default now): {_TIME_HELP}"),
    _query("step", "integer", "Window width in seconds, for a series (at most 1000 windows)"),
    _query("version", "integer", "A version (default: the one production points at)"),
]

_NUMBER_OR_NULL = {"type": ["number", "null"]}

SCHEMAS: dict[str, Any] = {
    "Metrics": {
        "type": "object",
        "required": ["model", "since", "until", "step_seconds", "total", "versions", "series"],
        "properties": {
            "model": {"type": "string"},
            "since": {"type": "integer", "description": "epoch seconds"},
            "until": {"type": "integer", "description": "epoch seconds"},
            "window_seconds": {"type": "integer"},
            "step_seconds": {"type": "integer"},
            "total": {"type": "object"},
            "versions": {"type": "object", "additionalProperties": {"type": "object"}},
            "series": {
                "type": "array",
                "description": "One point per step and version: requests, errors_4xx, "
                "errors_5xx, rows, throughput_rps, latency_mean/p50/p95/p99_ms",
                "items": {"type": "object"},
            },
        },
    },
    "FeatureDrift": {
        "type": "object",
        "required": ["feature", "kind", "method", "score", "threshold", "drifted"],
        "properties": {
            "feature": {"type": "string"},
            "kind": {"type": "string", "enum": ["numeric", "categorical"]},
            "method": {"type": "string"},
            "score": _NUMBER_OR_NULL,
            "threshold": {"type": ["number", "null"]},
            "drifted": {"type": ["boolean", "null"]},
            "p_value": _NUMBER_OR_NULL,
            "alpha": _NUMBER_OR_NULL,
            "test": {"type": ["string", "null"]},
            "n_reference": {"type": "integer"},
            "n_current": {"type": "integer"},
            "missing": {"type": "integer"},
            "missing_share": _NUMBER_OR_NULL,
            "reference_missing_share": {"type": "number"},
            "missing_drifted": {"type": "boolean"},
            "unseen": {"type": "integer"},
            "unseen_values": {"type": "array", "items": {"type": "string"}},
            "bins": {"type": "array", "items": {"type": "string"}},
            "reference_counts": {"type": "array", "items": {"type": "integer"}},
            "current_counts": {"type": "array", "items": {"type": "integer"}},
            "note": {"type": ["string", "null"]},
        },
    },
    "Drift": {
        "type": "object",
        "required": ["model", "version", "since", "until", "rows", "features", "windows"],
        "properties": {
            "model": {"type": "string"},
            "version": {"type": "integer"},
            "since": {"type": "string", "format": "date-time"},
            "until": {"type": "string", "format": "date-time"},
            "rows": {"type": "integer"},
            "alpha": {"type": "number"},
            "drifted_share": _NUMBER_OR_NULL,
            "drifted_features": {"type": "array", "items": {"type": "string"}},
            "features": {"type": "array", "items": ref("FeatureDrift")},
            "prediction": {"oneOf": [ref("FeatureDrift"), {"type": "null"}]},
            "notes": {"type": "array", "items": {"type": "string"}},
            "step_seconds": {"type": ["integer", "null"]},
            "windows": {
                "type": "array",
                "description": "Per step: since, until, rows, drifted_share, drifted_features, "
                "scores (by feature), prediction_score, prediction_drifted",
                "items": {"type": "object"},
            },
            "accuracy": {
                "type": ["object", "null"],
                "description": "metric, reference (at push), labelled, value, drop, windows",
            },
        },
    },
    "EstimatedPerformance": {
        "type": "object",
        "description": "Metrics estimated from logged scores without labels (CBPE for "
        "classifiers, an error model for regressors), with a band; realized where feedback "
        "exists. deploykit EstimatedPerformance.to_dict()",
        "required": ["model", "version", "metrics", "overall", "windows"],
        "properties": {
            "model": {"type": "string"},
            "version": {"type": "integer"},
            "task": {
                "type": ["string", "null"],
                "enum": ["binary", "multiclass", "regression", None],
            },
            "metrics": {"type": "array", "items": {"type": "string"}},
            "headline": {"type": ["string", "null"]},
            "confidence": {"type": "number"},
            "reference": {
                "type": "object",
                "additionalProperties": {"type": "number"},
                "description": "The metrics measured at push (the evaluation)",
            },
            "overall": ref("EstimatedWindow"),
            "windows": {"type": "array", "items": ref("EstimatedWindow")},
            "step_seconds": {"type": ["integer", "null"]},
            "calibration": {
                "type": ["string", "null"],
                "description": "How the scores were calibrated: which map (isotonic, Platt "
                "scaling, the scores as they are), fitted on how many labelled rows",
            },
        },
    },
    "EstimatedWindow": {
        "type": "object",
        "required": ["rows", "metrics", "trusted"],
        "properties": {
            "since": {"type": ["string", "null"], "format": "date-time"},
            "until": {"type": ["string", "null"], "format": "date-time"},
            "rows": {"type": "integer"},
            "labelled": {"type": "integer"},
            "metrics": {
                "type": "object",
                "description": "metric -> {value, lower, upper, realized} (null: unknown)",
                "additionalProperties": {
                    "type": "object",
                    "properties": {
                        k: _NUMBER_OR_NULL for k in ("value", "lower", "upper", "realized")
                    },
                },
            },
            "trusted": {"type": "boolean"},
            "reasons": {"type": "array", "items": {"type": "string"}},
            "outside_support": _NUMBER_OR_NULL,
        },
    },
    "DriftOptions": {
        "type": "object",
        "description": "null (or leaving a field out) keeps its default; other keys are refused",
        "additionalProperties": False,
        "properties": {
            "alpha": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 0.5},
            "numeric_threshold": {"type": ["number", "null"], "exclusiveMinimum": 0},
            "categorical_threshold": {
                "type": ["number", "null"],
                "exclusiveMinimum": 0,
                "maximum": 1,
            },
            "missing_threshold": {"type": ["number", "null"], "exclusiveMinimum": 0, "maximum": 1},
            "numeric": {"description": "'auto', a method name, or {method, threshold}"},
            "categorical": {"description": "'auto', a method name, or {method, threshold}"},
            "features": {
                "type": ["object", "null"],
                "description": "Per feature: 'auto', a method name, a threshold, or "
                "{method, threshold}",
            },
        },
    },
    "AlertRule": {
        "type": "object",
        "required": ["model", "name", "metric", "threshold", "window_seconds", "rollback"],
        "properties": {
            "id": {"type": ["integer", "null"]},
            "model": {"type": "string"},
            "name": {"type": "string"},
            "metric": {
                "type": "string",
                "enum": list(METRICS),
            },
            "threshold": {"type": "number"},
            "window_seconds": {"type": "integer"},
            "rollback": {"type": "boolean"},
            "webhook": {"type": ["string", "null"]},
            "min_count": {"type": "integer"},
            "cooldown_seconds": {"type": "integer"},
            "enabled": {"type": "boolean"},
            "created_at": {"type": ["string", "null"], "format": "date-time"},
            "created_by": {"type": ["string", "null"]},
            "last_fired_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
}


def _read(summary: str, schema: dict[str, Any], params: list[Any], *extra: int) -> Any:
    return {
        "summary": summary,
        "security": AUTH,
        "parameters": params,
        "responses": {"200": json_content(schema, "OK"), **errors(*READ, *extra)},
    }


def paths() -> dict[str, Any]:
    rule_body = {
        "type": "object",
        "required": ["rule", "metric", "threshold"],
        "properties": {
            "rule": {"type": "string", "description": "The rule's name, unique per model"},
            **{k: v for k, v in SCHEMAS["AlertRule"]["properties"].items() if k in RULE_FIELDS},
        },
    }
    options_put = post("Keep the model's drift options", ref("DriftOptions"), ref("DriftOptions"))
    return {
        "/v1/models/{name}/metrics": {
            "get": _read(
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
            "get": _read(
                "Drift of each feature and of the predictions against the version's reference "
                "profile, overall and per step; accuracy where feedback exists",
                ref("Drift"),
                [NAME, *_PERIOD],
                409,
            )
        },
        "/v1/models/{name}/estimated": {
            "get": _read(
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
            "get": _read("The model's drift options", ref("DriftOptions"), [NAME]),
            "put": options_put,
        },
        "/v1/models/{name}/alerts": {
            "get": _read(
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
