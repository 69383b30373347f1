"""The OpenAPI 3.1 document served at ``/openapi.json``.

Written by hand, next to the routes it describes, and checked against the
running server by schemathesis (``tests/server/test_openapi.py``): every status
a route can answer is listed, and every error body has the same schema.
"""

from __future__ import annotations

from typing import Any

from deploykit.registry.drafts import draft_schema
from deploykit.registry.events import ACTIONS
from deploykit.server.config import ServerConfig
from deploykit.server.openapi_parts import (
    AUTH,
    NAME,
    NAME_PATTERN,
    READ,
    REF,
    REF_PARAM,
    WRITE,
    errors,
    get,
    json_body,
    json_content,
    object_schema,
    path_param,
    post,
    query_param,
    ref,
)

__all__ = ["openapi_document"]


_NUMBER_PATTERN = "^[0-9]{1,18}$"  # fits a 64-bit integer column
_DIGEST_PATTERN = "^sha256:[0-9a-f]{64}$"
_NUMBER = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
_DEPLOY_VERSION = {"oneOf": [_NUMBER, REF]}
# Optional body fields: null means "not given" (the handler's default), as for absent ones.
_VERSION_NUMBER = {**_NUMBER, "type": ["integer", "null"]}
_ALIAS = {  # a name that does not read as a version number
    "type": ["string", "null"],
    "pattern": "^([A-Za-z][A-Za-z0-9._-]*|[0-9]+[A-Za-z._-][A-Za-z0-9._-]*)$",
    "maxLength": 128,
}
_OPTIONAL_TEXT = {"type": ["string", "null"]}
_ACTION = {"type": ["string", "null"], "enum": ["rollback", "auto-rollback", None]}
_FEEDBACK_ID = {"type": "string", "minLength": 1, "maxLength": 128}
_FEEDBACK_ITEMS = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "required": ["request_id", "label"],
        "properties": {"request_id": _FEEDBACK_ID, "label": {}},
    },
}


def _predict(config: ServerConfig, versioned: bool) -> dict[str, Any]:
    params: list[dict[str, Any]] = [NAME]
    if versioned:
        params.append(path_param("version", "^[1-9][0-9]{0,17}$", "A version number"))
    params.append(
        query_param(
            "proba",
            {"type": "string", "enum": ["true", "false", "1", "0"]},
            "Also return class probabilities",
        )
    )
    params.append(
        {
            "name": "X-Request-ID",
            "in": "header",
            "required": False,
            "description": "Your id for this request, echoed in this header for tracing; "
            "feedback labels the signed request_id of the answer instead",
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"},
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
        "requestBody": json_body(ref("ScoringRequest")),
        "responses": {
            "200": json_content(ref("Prediction"), "Predictions"),
            **errors(400, 401, 403, 404, 409, 413, 415, 422, 500, 503),
        },
    }
    if config.predict_requires_token:
        op["security"] = AUTH
    if versioned:
        op["description"] = (
            "A version no alias points at needs a token with the 'deployer' role (predicting "
            "with it makes the server load a version nobody deployed); a version an alias "
            "points at is as open as the alias route. 409: this server does not load the "
            "version's format (DEPLOYKIT_SERVE_FORMATS)."
        )
        if not config.predict_requires_token:
            op["security"] = [{}, *AUTH]  # optional: needed for unaliased versions only
    return op


# How one answer feeds the next request (OpenAPI links): for clients that generate code,
# and for schemathesis' stateful runs, which chain operations along them.
_OPERATION_IDS = {
    ("/v1/models", "get"): "listModels",
    ("/v1/models/{name}", "get"): "getModel",
    ("/v1/models/{name}/versions", "get"): "listVersions",
    ("/v1/models/{name}/versions", "post"): "pushVersion",
    ("/v1/models/{name}/versions/{ref}", "get"): "getVersion",
    ("/v1/models/{name}/aliases", "get"): "getAliases",
    ("/v1/models/{name}/alerts", "post"): "setAlert",
    ("/v1/models/{name}/alerts/{rule}", "delete"): "deleteAlert",
    ("/v1/events", "get"): "listEvents",
    ("/v1/artifacts", "post"): "uploadArtifact",
    ("/v1/artifacts/{digest}", "get"): "getArtifact",
    ("/v1/tokens", "post"): "createToken",
    ("/v1/tokens/{token_id}", "delete"): "revokeToken",
}
_NAME_OF_FIRST = "$response.body#/0/name"
_SAME_NAME = "$request.path.name"
_LINKS: dict[tuple[str, str, str], dict[str, dict[str, str]]] = {
    ("/v1/models", "get", "200"): {
        "getModel": {"name": _NAME_OF_FIRST},
        "listVersions": {"name": _NAME_OF_FIRST},
        "getAliases": {"name": _NAME_OF_FIRST},
    },
    ("/v1/models/{name}", "get", "200"): {"listEvents": {"model": "$response.body#/name"}},
    ("/v1/models/{name}/versions", "post", "200"): {
        "getVersion": {"name": _SAME_NAME, "ref": "$response.body#/version"},
    },
    ("/v1/models/{name}/alerts", "post", "200"): {
        "deleteAlert": {"name": _SAME_NAME, "rule": "$response.body#/name"},
    },
    ("/v1/artifacts", "post", "201"): {"getArtifact": {"digest": "$response.body#/digest"}},
    ("/v1/tokens", "post", "201"): {"revokeToken": {"token_id": "$response.body#/id"}},
}


def _linked(paths: dict[str, Any]) -> dict[str, Any]:
    for (path, method), operation_id in _OPERATION_IDS.items():
        paths[path][method].setdefault("operationId", operation_id)
    for (path, method, status), targets in _LINKS.items():
        response = paths[path][method]["responses"][status]
        response["links"] = {
            target: {"operationId": target, "parameters": parameters}
            for target, parameters in targets.items()
        }
    return paths


def openapi_document(config: ServerConfig) -> dict[str, Any]:
    """The API contract of a server running with ``config``."""
    from deploykit._version import __version__
    from deploykit.server import openapi_cards as cards
    from deploykit.server import openapi_experiments as experiments
    from deploykit.server import openapi_monitoring as monitoring
    from deploykit.server import openapi_schemas as schemas
    from deploykit.server.protocols import openapi as protocols

    arr = {"type": "array"}
    versions_path = get("List the versions of a model", {**arr, "items": ref("ModelVersion")})
    versions_path["post"] = post(
        "Register a version whose artifact was uploaded to /v1/artifacts; with deploy, "
        "then move production to it once it loads here. A deploy that cannot happen leaves "
        "the version registered and answers 200 with deployed false and deploy_error",
        {
            "type": "object",
            "required": ["draft"],
            "properties": {
                "draft": ref("VersionDraft"),
                "deploy": {
                    "type": ["boolean", "null"],
                    "description": "Also deploy it to production",
                },
            },
        },
        ref("PushResult"),
    )
    tokens = {
        "get": {
            "summary": "List tokens (admin)",
            "security": AUTH,
            "responses": {
                "200": json_content({**arr, "items": ref("Token")}, "OK"),
                **errors(401, 403, 503),
            },
        },
        "post": {
            "summary": "Create a token (admin); the secret is in the answer only",
            "security": AUTH,
            "requestBody": json_body(
                object_schema(
                    ["role"],
                    role={"type": "string", "enum": ["viewer", "deployer", "admin"]},
                    name={"type": ["string", "null"], "maxLength": 200},
                )
            ),
            "responses": {"201": json_content(ref("Token"), "Created"), **errors(*WRITE)},
        },
    }
    query = lambda name, kind="integer", **limits: query_param(  # noqa: E731
        name, {"type": kind, **limits}
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "deploykit model server",
            "version": __version__,
            "description": "Predict with, and manage, the models of a deploykit registry.",
        },
        "paths": _linked(
            {
                "/healthz": {
                    "get": {
                        "summary": "Liveness, and what this worker serves",
                        "responses": {"200": json_content({"type": "object"}, "OK")},
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
                            **errors(503),
                        },
                    }
                },
                "/v1/whoami": get(
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
                "/v1/models": get("List models", {**arr, "items": ref("ModelInfo")}, params=[]),
                "/v1/models/{name}": get("One model and its aliases", ref("ModelInfo")),
                "/v1/models/{name}/versions": versions_path,
                "/v1/models/{name}/versions/{ref}": get(
                    "One version: a number, 'latest' or an alias",
                    ref("ModelVersion"),
                    params=[NAME, REF_PARAM],
                ),
                "/v1/models/{name}/aliases": get(
                    "Where each alias points", {**arr, "items": ref("Alias")}
                ),
                "/v1/models/{name}/deploy": {
                    "post": post(
                        "Move an alias (production by default) to a version, once it loads here",
                        {
                            "type": "object",
                            "required": ["version"],
                            "properties": {
                                "version": _DEPLOY_VERSION,
                                "alias": _ALIAS,
                                "reason": _OPTIONAL_TEXT,
                            },
                        },
                        ref("Alias"),
                    )
                },
                "/v1/models/{name}/rollback": {
                    "post": post(
                        "Move an alias back to its previous version, or to 'to'",
                        {
                            "type": "object",
                            "properties": {
                                "to": _VERSION_NUMBER,
                                "alias": _ALIAS,
                                "reason": _OPTIONAL_TEXT,
                                "if_current": _VERSION_NUMBER,
                                "action": _ACTION,
                            },
                        },
                        ref("Alias"),
                    )
                },
                "/v1/models/{name}/predict": {"post": _predict(config, versioned=False)},
                "/v1/models/{name}/versions/{version}/predict": {
                    "post": _predict(config, versioned=True)
                },
                "/v1/models/{name}/feedback": {
                    "post": {
                        **post(
                            "Record true labels by the request_id of predict answers "
                            f"(needs the {config.feedback_role!r} role; alert rules count only "
                            "labels sent with a token)",
                            {
                                "type": "object",
                                "properties": {
                                    "request_id": _FEEDBACK_ID,
                                    "label": {},
                                    "feedback": _FEEDBACK_ITEMS,
                                },
                                "anyOf": [
                                    {"required": ["request_id", "label"]},
                                    {"required": ["feedback"]},
                                ],
                            },
                            {"type": "object"},
                        ),
                        **({} if config.feedback_requires_token else {"security": [{}, *AUTH]}),
                    }
                },
                **monitoring.paths(),
                **protocols.paths(config),  # MLflow scoring, Open Inference v2
                **experiments.paths(),
                **cards.paths(),
                "/v1/events": get(
                    "The audit log, newest first",
                    {**arr, "items": ref("Event")},
                    params=[
                        query("model", "string", pattern=NAME_PATTERN),
                        query("limit", minimum=1, maximum=10_000),
                        query("since", "string"),
                        query("action", "string", enum=list(ACTIONS)),
                    ],
                ),
                "/v1/events/last": get("Id of the newest event", {"type": "object"}, params=[]),
                "/v1/artifacts": {
                    "post": {
                        "summary": "Upload artifact bytes (streamed; digest checked on arrival)",
                        "security": AUTH,
                        "parameters": [
                            {
                                "name": "X-Content-Digest",
                                "in": "header",
                                "required": False,
                                "description": "The bytes' SHA-256; a body that hashes to "
                                "anything else is refused (422) and not stored",
                                "schema": {"type": "string", "pattern": _DIGEST_PATTERN},
                            }
                        ],
                        "requestBody": {
                            "required": True,
                            "content": {"application/octet-stream": {"schema": {}}},
                        },
                        "responses": {
                            "201": json_content({"type": "object"}, "Stored"),
                            **errors(*WRITE),
                        },
                    }
                },
                "/v1/artifacts/{digest}": {
                    "get": {
                        "summary": "Download artifact bytes",
                        "security": AUTH,
                        "parameters": [
                            path_param("digest", _DIGEST_PATTERN, "The artifact's digest")
                        ],
                        "responses": {
                            "200": {
                                "description": "The bytes",
                                "content": {"application/octet-stream": {"schema": {}}},
                            },
                            **errors(*READ, 500),
                        },
                    }
                },
                "/v1/tokens": tokens,
                "/v1/tokens/{token_id}": {
                    "delete": {
                        "summary": "Revoke a token (admin)",
                        "security": AUTH,
                        "parameters": [path_param("token_id", _NUMBER_PATTERN, "The token's id")],
                        "responses": {
                            "200": json_content(ref("Token"), "Revoked"),
                            **errors(*READ),
                        },
                    }
                },
                "/openapi.json": {
                    "get": {
                        "summary": "This document",
                        "responses": {"200": json_content({"type": "object"}, "OK")},
                    }
                },
            }
        ),
        "components": {
            "schemas": {
                **schemas.REGISTRY,
                "VersionDraft": draft_schema(),
                **schemas.MONITORING,
                **protocols.SCHEMAS,
                **schemas.EXPERIMENTS,
                **schemas.CARDS,
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
