"""The experiment part of the OpenAPI document: shadow, canary, promote, abort, compare.

Merged into ``/openapi.json`` by :func:`deploykit.server.openapi.openapi_document`.
"""

from __future__ import annotations

from typing import Any

from deploykit.server.openapi_parts import (
    NAME,
    get,
    object_schema,
    post,
    query_param,
    read_operation,
    ref,
)

__all__ = ["paths"]

_REASON = {"type": "string", "minLength": 1, "description": "why, for the audit log"}


def _start_body(version: dict[str, Any], **options: Any) -> dict[str, Any]:
    """What starting a shadow or a canary takes: the candidate version, options, why."""
    return object_schema(["version"], version=version, **options, reason=_REASON)


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
                _start_body(version, share={"type": "number", "exclusiveMinimum": 0, "maximum": 1}),
                ref("Experiment"),
            )
        },
        "/v1/models/{name}/experiment/canary": {
            "post": post(
                "Let a candidate answer a share of production's requests, optionally "
                "promoted or aborted on evidence",
                _start_body(
                    version,
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
                ),
                ref("Experiment"),
            )
        },
        "/v1/models/{name}/experiment/step": {
            "post": post(
                "Change the running experiment's share",
                object_schema(
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
                object_schema(["reason"], reason=_REASON),
                ref("Experiment"),
            )
        },
        "/v1/models/{name}/experiment/abort": {
            "post": post(
                "End the running experiment; all traffic back to production",
                object_schema(["reason"], reason=_REASON),
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
                object_schema(
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
