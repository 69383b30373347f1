"""The component schemas of ``/openapi.json``: every body the API takes or answers with.

Gathered in one place, by part (registry, monitoring, experiments, cards), so that the
operations in ``openapi``, ``openapi_monitoring``, ``openapi_experiments`` and
``openapi_cards`` name them with :func:`~deploykit.server.openapi_parts.ref` and the
shapes of records (model, version, times...) read the same way from one part to the next.
"""

from __future__ import annotations

from typing import Any

from deploykit.monitoring.rules import METRICS
from deploykit.server.openapi_parts import ref
from deploykit.server.payloads import FORMATS

__all__ = ["CARDS", "EXPERIMENTS", "MONITORING", "REGISTRY"]


REGISTRY: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["type", "message"],
                "properties": {
                    "type": {"type": "string", "description": "deploykit exception class"},
                    "message": {"type": "string"},
                    "problems": {"type": "array", "items": {"type": "string"}},
                    "request_id": {"type": "string"},
                },
            }
        },
    },
    "ScoringRequest": {
        "type": "object",
        "description": "MLflow scoring formats: exactly one of the four keys; params ignored",
        "properties": {
            "dataframe_split": {
                "type": "object",
                "required": ["data"],
                "properties": {
                    "columns": {"type": "array", "items": {"type": "string"}},
                    "data": {"type": "array", "minItems": 1, "items": {"type": "array"}},
                    "index": {"type": "array"},
                },
            },
            "dataframe_records": {"type": "array", "minItems": 1, "items": {"type": "object"}},
            "instances": {"type": "array", "minItems": 1},
            "inputs": {
                "oneOf": [{"type": "array", "minItems": 1}, {"type": "object", "minProperties": 1}]
            },
            "params": {"type": "object"},
        },
        "oneOf": [{"required": [f]} for f in FORMATS],
    },
    "Prediction": {
        "type": "object",
        "required": ["predictions", "model", "version", "request_id"],
        "properties": {
            "predictions": {"type": "array"},
            "ignored_columns": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Columns sent that the model does not take (ignored); "
                "absent when none",
            },
            "probabilities": {"type": "array", "items": {"type": "array"}},
            "classes": {"type": "array"},
            "model": {"type": "string"},
            "version": {"type": "integer"},
            "request_id": {
                "type": "string",
                "description": "Signed by the server for this model: the id feedback labels",
            },
        },
    },
    "ModelInfo": {
        "type": "object",
        "required": ["name", "created_at", "latest_version", "aliases"],
        "properties": {
            "name": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "latest_version": {"type": ["integer", "null"]},
            "aliases": {"type": "object", "additionalProperties": {"type": "integer"}},
            "description": {"type": "string"},
        },
    },
    "PushResult": {
        "allOf": [
            {"$ref": "#/components/schemas/ModelVersion"},
            {
                "type": "object",
                "required": ["deployed", "warnings"],
                "properties": {
                    "deployed": {
                        "type": "boolean",
                        "description": "Whether production now points at this version",
                    },
                    "deploy_error": {
                        "type": ["object", "null"],
                        "description": "Why a requested deploy did not happen (the version "
                        "is registered all the same): the error's type and message",
                        "properties": {
                            "type": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    },
                    "warnings": {"type": "array", "items": {"type": "string"}},
                },
            },
        ]
    },
    "ModelVersion": {
        "type": "object",
        "required": ["model", "version", "digest", "format", "size", "created_at"],
        "properties": {
            "model": {"type": "string"},
            "version": {"type": "integer"},
            "digest": {"type": "string"},
            "format": {"type": "string"},
            "size": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
            "author": {"type": "string"},
            "estimator": {"type": "string"},
            "signature": {"type": ["object", "null"]},
            "metrics": {"type": "object"},
            "aliases": {"type": "array", "items": {"type": "string"}},
            "runtime": {
                "type": ["object", "null"],
                "description": "How the version runs: runtime 'onnx' (a compiled artifact "
                "verified against the original at push: digest, speedup, max_abs_diff, rows) "
                "or 'sklearn' with the reason; null for versions pushed before compilation",
                "properties": {
                    "runtime": {"type": "string", "enum": ["onnx", "sklearn"]},
                    "reason": {"type": ["string", "null"]},
                    "digest": {"type": ["string", "null"]},
                    "speedup": {"type": ["number", "null"]},
                    "max_abs_diff": {"type": ["number", "null"]},
                },
            },
        },
    },
    "Alias": {
        "type": "object",
        "required": ["model", "name", "version", "updated_at", "updated_by"],
        "properties": {
            "model": {"type": "string"},
            "name": {"type": "string"},
            "version": {"type": "integer"},
            "updated_at": {"type": "string", "format": "date-time"},
            "updated_by": {"type": "string"},
        },
    },
    "Event": {
        "type": "object",
        "required": ["id", "at", "actor", "action", "model"],
        "properties": {
            "id": {"type": "integer"},
            "at": {"type": "string", "format": "date-time"},
            "actor": {"type": "string"},
            "action": {"type": "string"},
            "model": {"type": "string"},
            "alias": {"type": ["string", "null"]},
            "from_version": {"type": ["integer", "null"]},
            "to_version": {"type": ["integer", "null"]},
            "reason": {"type": ["string", "null"]},
            "details": {"type": "object"},
        },
    },
    "Token": {
        "type": "object",
        "required": ["id", "name", "role", "created_at", "created_by"],
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "role": {"type": "string", "enum": ["viewer", "deployer", "admin"]},
            "created_at": {"type": "string", "format": "date-time"},
            "created_by": {"type": "string"},
            "revoked_at": {"type": ["string", "null"]},
            "token": {"type": "string", "description": "The secret; shown once, at creation"},
        },
    },
}


_NUMBER_OR_NULL = {"type": ["number", "null"]}

MONITORING: dict[str, Any] = {
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
            "repeats": {
                "type": ["string", "null"],
                "description": "How the band counted the rows: rows with identical inputs "
                "are one case seen again (one label), when the evaluation's inputs tell "
                "cases apart; overall.effective_rows gives the count",
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
            "effective_rows": {
                **_NUMBER_OR_NULL,
                "description": "How many independent rows the band counted (fewer than "
                "rows when the same cases repeat)",
            },
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


_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
_TEXT_OR_NULL = {"type": ["string", "null"]}

EXPERIMENTS: dict[str, Any] = {
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


CARDS: dict[str, Any] = {
    "CardRevision": {
        "type": "object",
        "required": ["model", "version", "revision", "created_at", "actor", "fields", "markdown"],
        "properties": {
            "model": {"type": "string"},
            "version": {"type": "integer"},
            "revision": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
            "actor": {"type": "string"},
            "fields": {"type": "object"},
            "markdown": {"type": "string"},
        },
    },
    "Lineage": {
        "type": ["object", "null"],
        "description": "Where the version came from (notebook, cells hash, git, the package "
        "lock) and its reference sample; null for versions pushed before lineage was kept",
        "properties": {
            "lineage": {"type": ["object", "null"]},
            "reference": {"type": ["object", "null"]},
        },
    },
}
