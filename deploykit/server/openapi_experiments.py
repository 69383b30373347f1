"""The experiment part of the OpenAPI document: shadow, canary, promote, abort, compare.

Merged into ``/openapi.json`` by :func:`deploykit.server.openapi.openapi_document`.
"""

from __future__ import annotations

from typing import Any

from deploykit.server.openapi_parts import NAME, get, post, query_param, read_operation, ref

__all__ = ["SCHEMAS", "paths"]

_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
_TEXT_OR_NULL = {"type": ["string", "null"]}

SCHEMAS: dict[str, Any] = {
    "Experiment": {
        "type": "object",
        "required": ["id", "model", "kind", "production", "candidate", "percent", "state"],
        "properties": {
            "id": {"type": "integer"},
            "model": {"type": "string"},
            "kind": {"type": "string", "enum": ["shadow", "canary"]},
            "alias": {"type": "string"},
            "production": {"type": "integer", "description": "production's version at start"},
            "candidate": {"type": "integer"},
            "percent": {
                "type": "number",
                "description": "canary: share answered by the candidate; shadow: share also "
                "scored by it",
            },
            "state": {"type": "string", "enum": ["running", "promoted", "aborted", "ended"]},
            "started_at": {"type": "string", "format": "date-time"},
            "started_by": {"type": "string"},
            "updated_at": {"type": "string", "format": "date-time"},
            "sticky": _TEXT_OR_NULL,
            "promote_when": _TEXT_OR_NULL,
            "min_requests": {"type": "integer"},
            "max_duration": {"type": ["number", "null"]},
            "reason": _TEXT_OR_NULL,
            "ended_at": _NULLABLE_TIME,
            "ended_by": _TEXT_OR_NULL,
            "end_reason": _TEXT_OR_NULL,
            "statistics": {"type": "object", "description": "the last policy decision"},
        },
    },
    "Comparison": {
        "type": "object",
        "required": ["model", "a", "b", "source", "pairs"],
        "properties": {
            "model": {"type": "string"},
            "a": {"type": "integer"},
            "b": {"type": "integer"},
            "source": {"type": "string", "enum": ["shadow log", "canary log", "data"]},
            "pairs": {"type": "integer"},
            "agreement": {"type": ["number", "null"]},
            "mean_abs_difference": {"type": ["number", "null"]},
            "crosstab": {"type": "object", "description": "a's prediction -> b's -> rows"},
            "prediction_mix": {"type": "object"},
            "disagreement": {
                "type": "array",
                "description": "feature bins (of the reference profile) where they disagree "
                "most: feature, bin, rows, disagreement",
                "items": {"type": "object"},
            },
            "serving": {"type": "object", "description": "requests, error rate, latency per side"},
            "accuracy": {"type": ["object", "null"]},
            "examples": {"type": "array", "items": {"type": "object"}},
            "since": _TEXT_OR_NULL,
            "until": _TEXT_OR_NULL,
            "seconds": {"type": "number"},
        },
    },
}

_REASON = {"type": "string", "minLength": 1, "description": "why, for the audit log"}


def _body(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


def _query(name: str, description: str) -> dict[str, Any]:
    return query_param(name, {"type": "string"}, description)


def paths() -> dict[str, Any]:
    version = {"type": ["integer", "string"], "description": "a number, 'latest' or an alias"}
    nullable_experiment = {"anyOf": [ref("Experiment"), {"type": "null"}]}
    return {
        "/v1/models/{name}/experiment": get(
            "The running shadow or canary, else the last one, else null", nullable_experiment
        ),
        "/v1/models/{name}/experiment/shadow": {
            "post": post(
                "Score a share of production's requests with a candidate too, off the "
                "request path; callers get production's answer",
                _body(
                    ["version"],
                    version=version,
                    share={"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                    reason=_REASON,
                ),
                ref("Experiment"),
            )
        },
        "/v1/models/{name}/experiment/canary": {
            "post": post(
                "Let a candidate answer a share of production's requests, optionally "
                "promoted or aborted on evidence",
                _body(
                    ["version"],
                    version=version,
                    percent={"type": "number", "exclusiveMinimum": 0, "maximum": 100},
                    sticky={
                        "type": ["string", "null"],
                        "description": "input column keeping a caller on one version (the "
                        "X-Deploykit-Key header always does)",
                    },
                    promote_when={
                        "type": ["string", "null"],
                        "description": "e.g. 'error_rate<=production; accuracy>=production-0.01'",
                    },
                    min_requests={"type": "integer", "minimum": 0},
                    max_duration={"type": ["number", "null"], "description": "seconds"},
                    reason=_REASON,
                ),
                ref("Experiment"),
            )
        },
        "/v1/models/{name}/experiment/step": {
            "post": post(
                "Change the running experiment's share",
                _body(
                    ["percent"],
                    percent={"type": "number", "exclusiveMinimum": 0, "maximum": 100},
                    reason=_REASON,
                ),
                ref("Experiment"),
            )
        },
        "/v1/models/{name}/experiment/promote": {
            "post": post(
                "End the running experiment and move production to its candidate",
                _body(["reason"], reason=_REASON),
                ref("Experiment"),
            )
        },
        "/v1/models/{name}/experiment/abort": {
            "post": post(
                "End the running experiment; all traffic back to production",
                _body(["reason"], reason=_REASON),
                ref("Experiment"),
            )
        },
        "/v1/models/{name}/experiment/evidence": get(
            "What the promotion policy's sequential test says now", {"type": "object"}
        ),
        "/v1/models/{name}/compare": {
            "get": read_operation(
                "Compare two versions on logged shadow/canary traffic",
                ref("Comparison"),
                [
                    NAME,
                    _query("a", "version a (default production)"),
                    _query("b", "version b (default the experiment's candidate)"),
                    _query("since", "ISO 8601 time or epoch seconds (default: its start)"),
                ],
                409,
            ),
            "post": post(
                "Compare two versions on the rows sent (both score them)",
                _body(
                    ["data"],
                    a=version,
                    b=version,
                    data={
                        "type": ["object", "array"],
                        "description": "a predict body (dataframe_split, "
                        "dataframe_records...) or a list of records",
                    },
                ),
                ref("Comparison"),
            ),
        },
    }
