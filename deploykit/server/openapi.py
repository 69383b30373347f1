"""The OpenAPI 3.1 document served at ``/openapi.json``.

Written by hand, next to the routes it describes, and checked against the
running server by schemathesis (``tests/server/test_openapi.py``): every status
a route can answer is listed, and every error body has the same schema.
"""

from __future__ import annotations

from typing import Any

from deploykit.server.config import ServerConfig
from deploykit.server.payloads import FORMATS

__all__ = ["openapi_document"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERROR_TEXT = {
    400: "Malformed JSON or request",
    401: "No token, or an unknown or revoked token",
    403: "The token's role is not enough",
    404: "No such model, version, alias, token or artifact",
    405: "Method not allowed",
    409: "Conflicts with the registry's state (nothing to roll back to, ...)",
    413: "Body over the size limit",
    415: "Content-Type not accepted",
    422: "Well-formed but invalid input (names the field, expected and received)",
    500: "The artifact cannot be loaded or verified",
    503: "The metadata or artifact store is unavailable",
}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): _json(_ref("Error"), _ERROR_TEXT[c]) for c in codes}


_NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": "Model name: letters, digits, '.', '_' or '-'",
    "schema": {"type": "string"},
}
_AUTH: list[dict[str, list[str]]] = [{"bearer": []}]
_READ = (401, 403, 404, 422, 503)
_WRITE = (400, 401, 403, 404, 409, 413, 415, 422, 500, 503)


def _predict(config: ServerConfig, versioned: bool) -> dict[str, Any]:
    params: list[dict[str, Any]] = [_NAME]
    if versioned:
        params.append(
            {"name": "version", "in": "path", "required": True, "schema": {"type": "string"}}
        )
    params.append(
        {
            "name": "proba",
            "in": "query",
            "required": False,
            "description": "Also return class probabilities",
            "schema": {"type": "string", "enum": ["true", "false", "1", "0"]},
        }
    )
    params.append(
        {
            "name": "X-Request-ID",
            "in": "header",
            "required": False,
            "description": "Your id for this request, echoed in this header for tracing; "
            "feedback labels the signed request_id of the answer instead",
            "schema": {"type": "string"},
        }
    )
    op: dict[str, Any] = {
        "summary": (
            "Predict with version {version}"
            if versioned
            else f"Predict with the version the {config.alias!r} alias points at"
        ),
        "operationId": "predictVersion" if versioned else "predict",
        "parameters": params,
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref("ScoringRequest")}},
        },
        "responses": {
            "200": _json(_ref("Prediction"), "Predictions"),
            **_errors(400, 401, 403, 404, 413, 415, 422, 500, 503),
        },
    }
    if config.predict_requires_token:
        op["security"] = _AUTH
    return op


def _get(summary: str, schema: dict[str, Any], *, params: list[Any] | None = None) -> Any:
    return {
        "get": {
            "summary": summary,
            "security": _AUTH,
            "parameters": params if params is not None else [_NAME],
            "responses": {"200": _json(schema, "OK"), **_errors(*_READ)},
        }
    }


_ON_BEHALF = {
    "name": "X-Deploykit-On-Behalf-Of",
    "in": "header",
    "required": False,
    "description": "The person a shared front end acts for; the audit log records "
    "'<token name> for <person>'",
    "schema": {"type": "string", "minLength": 1, "maxLength": 100},
}


def _post(summary: str, body: dict[str, Any], schema: dict[str, Any], **extra: Any) -> Any:
    return {
        "summary": summary,
        "security": _AUTH,
        "parameters": [_NAME, _ON_BEHALF],
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {"200": _json(schema, "OK"), **_errors(*_WRITE)},
        **extra,
    }


_SCHEMAS: dict[str, Any] = {
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
                    "data": {"type": "array", "items": {"type": "array"}},
                    "index": {"type": "array"},
                },
            },
            "dataframe_records": {"type": "array", "items": {"type": "object"}},
            "instances": {"type": "array"},
            "inputs": {"oneOf": [{"type": "array"}, {"type": "object"}]},
            "params": {"type": "object"},
        },
        "oneOf": [{"required": [f]} for f in FORMATS],
    },
    "Prediction": {
        "type": "object",
        "required": ["predictions", "model", "version", "request_id"],
        "properties": {
            "predictions": {"type": "array"},
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


def openapi_document(config: ServerConfig) -> dict[str, Any]:
    """The API contract of a server running with ``config``."""
    from deploykit import __version__
    from deploykit.server import openapi_monitoring as monitoring

    arr = {"type": "array"}
    versions_path = _get("List the versions of a model", {**arr, "items": _ref("ModelVersion")})
    versions_path["post"] = _post(
        "Register a version whose artifact was uploaded to /v1/artifacts",
        {
            "type": "object",
            "required": ["draft"],
            "properties": {
                "draft": {"type": "object", "description": "deploykit VersionDraft.to_dict()"},
                "deploy": {"type": "boolean"},
            },
        },
        _ref("ModelVersion"),
    )
    tokens = {
        "get": {
            "summary": "List tokens (admin)",
            "security": _AUTH,
            "responses": {
                "200": _json({**arr, "items": _ref("Token")}, "OK"),
                **_errors(401, 403, 503),
            },
        },
        "post": {
            "summary": "Create a token (admin); the secret is in the answer only",
            "security": _AUTH,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["role"],
                            "properties": {
                                "role": {"type": "string", "enum": ["viewer", "deployer", "admin"]},
                                "name": {"type": "string"},
                            },
                        }
                    }
                },
            },
            "responses": {"201": _json(_ref("Token"), "Created"), **_errors(*_WRITE)},
        },
    }
    query = lambda name, kind="integer": {  # noqa: E731
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": kind},
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "deploykit model server",
            "version": __version__,
            "description": "Predict with, and manage, the models of a deploykit registry.",
        },
        "paths": {
            "/healthz": {
                "get": {
                    "summary": "Liveness, and what this worker serves",
                    "responses": {"200": _json({"type": "object"}, "OK")},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus exposition of the fleet's predict telemetry",
                    "responses": {
                        "200": {
                            "description": "Prometheus text format 0.0.4",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        **_errors(503),
                    },
                }
            },
            "/v1/whoami": _get(
                "The role and name of the token sent (any valid token)",
                {
                    "type": "object",
                    "required": ["role", "name"],
                    "properties": {
                        "role": {"type": "string", "enum": ["viewer", "deployer", "admin"]},
                        "name": {"type": "string"},
                    },
                },
                params=[],
            ),
            "/v1/models": _get("List models", {**arr, "items": _ref("ModelInfo")}, params=[]),
            "/v1/models/{name}": _get("One model and its aliases", _ref("ModelInfo")),
            "/v1/models/{name}/versions": versions_path,
            "/v1/models/{name}/versions/{ref}": _get(
                "One version: a number, 'latest' or an alias",
                _ref("ModelVersion"),
                params=[
                    _NAME,
                    {"name": "ref", "in": "path", "required": True, "schema": {"type": "string"}},
                ],
            ),
            "/v1/models/{name}/aliases": _get(
                "Where each alias points", {**arr, "items": _ref("Alias")}
            ),
            "/v1/models/{name}/deploy": {
                "post": _post(
                    "Move an alias (production by default) to a version, once it loads here",
                    {
                        "type": "object",
                        "required": ["version"],
                        "properties": {
                            "version": {"type": ["integer", "string"]},
                            "alias": {"type": "string"},
                            "reason": {"type": "string"},
                        },
                    },
                    _ref("Alias"),
                )
            },
            "/v1/models/{name}/rollback": {
                "post": _post(
                    "Move an alias back to its previous version, or to 'to'",
                    {
                        "type": "object",
                        "properties": {
                            "to": {"type": "integer"},
                            "alias": {"type": "string"},
                            "reason": {"type": "string"},
                            "if_current": {"type": "integer"},
                            "action": {"type": "string", "enum": ["rollback", "auto-rollback"]},
                        },
                    },
                    _ref("Alias"),
                )
            },
            "/v1/models/{name}/predict": {"post": _predict(config, versioned=False)},
            "/v1/models/{name}/versions/{version}/predict": {
                "post": _predict(config, versioned=True)
            },
            "/v1/models/{name}/feedback": {
                "post": {
                    **_post(
                        "Record true labels by the request_id of predict answers "
                        f"(needs the {config.feedback_role!r} role; alert rules count only "
                        "labels sent with a token)",
                        {
                            "type": "object",
                            "properties": {
                                "request_id": {"type": "string"},
                                "label": {},
                                "feedback": {"type": "array", "items": {"type": "object"}},
                            },
                        },
                        {"type": "object"},
                    ),
                    **({} if config.feedback_requires_token else {"security": [{}, *_AUTH]}),
                }
            },
            **monitoring.paths(),
            "/v1/events": _get(
                "The audit log, newest first",
                {**arr, "items": _ref("Event")},
                params=[
                    query("model", "string"),
                    query("limit"),
                    query("since", "string"),
                    query("action", "string"),
                ],
            ),
            "/v1/events/last": _get("Id of the newest event", {"type": "object"}, params=[]),
            "/v1/artifacts": {
                "post": {
                    "summary": "Upload artifact bytes (streamed; digest checked on arrival)",
                    "security": _AUTH,
                    "parameters": [
                        {
                            "name": "X-Content-Digest",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string"},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/octet-stream": {"schema": {}}},
                    },
                    "responses": {
                        "201": _json({"type": "object"}, "Stored"),
                        **_errors(*_WRITE),
                    },
                }
            },
            "/v1/artifacts/{digest}": {
                "get": {
                    "summary": "Download artifact bytes",
                    "security": _AUTH,
                    "parameters": [
                        {
                            "name": "digest",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The bytes",
                            "content": {"application/octet-stream": {"schema": {}}},
                        },
                        **_errors(*_READ, 500),
                    },
                }
            },
            "/v1/tokens": tokens,
            "/v1/tokens/{token_id}": {
                "delete": {
                    "summary": "Revoke a token (admin)",
                    "security": _AUTH,
                    "parameters": [
                        {
                            "name": "token_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {"200": _json(_ref("Token"), "Revoked"), **_errors(*_READ)},
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": _json({"type": "object"}, "OK")},
                }
            },
        },
        "components": {
            "schemas": {**_SCHEMAS, **monitoring.SCHEMAS},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
