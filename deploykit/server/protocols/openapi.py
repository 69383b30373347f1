"""The MLflow scoring and Open Inference v2 part of ``/openapi.json``.

Merged by :func:`deploykit.server.openapi.openapi_document`. Error bodies are each
protocol's own: ``{"error_code", "message"}`` (MLflow) and ``{"error": "..."}`` (v2).
"""

from __future__ import annotations

from typing import Any

from deploykit.server.config import ServerConfig
from deploykit.server.openapi_parts import AUTH, ERROR_TEXT, NAME, path_param, ref
from deploykit.server.protocols.tensors import DATATYPES

__all__ = ["SCHEMAS", "paths"]

_VERSION = path_param("version", "^[1-9][0-9]{0,17}$", "A version number")
_PARAMETERS = {
    "type": "object",
    "additionalProperties": {"type": ["string", "number", "integer", "boolean"]},
}
_TENSOR_META: dict[str, Any] = {
    "type": "object",
    "required": ["name", "datatype", "shape"],
    "properties": {
        "name": {"type": "string"},
        "datatype": {"type": "string", "enum": list(DATATYPES)},
        "shape": {"type": "array", "items": {"type": "integer"}},
    },
}

SCHEMAS: dict[str, Any] = {
    "MlflowError": {
        "type": "object",
        "required": ["error_code", "message"],
        "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
    },
    "V2Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}},
    },
    "V2InferRequest": {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string"},
            "parameters": _PARAMETERS,
            "inputs": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["name", "shape", "datatype"],
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "shape": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": 2,
                            "items": {"type": "integer", "minimum": 0},
                        },
                        "datatype": {"type": "string", "enum": list(DATATYPES)},
                        "parameters": _PARAMETERS,
                        "data": {"type": "array"},
                    },
                },
            },
            "outputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "enum": ["predict", "predict_proba"]},
                        "parameters": _PARAMETERS,
                    },
                },
            },
        },
    },
    "V2InferResponse": {
        "type": "object",
        "required": ["model_name", "outputs"],
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "parameters": _PARAMETERS,
            "outputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "datatype", "shape"],
                    "properties": {
                        **_TENSOR_META["properties"],
                        "parameters": _PARAMETERS,
                        "data": {"type": "array"},
                    },
                },
            },
        },
    },
    "V2ModelMetadata": {
        "type": "object",
        "required": ["name", "platform", "inputs", "outputs"],
        "properties": {
            "name": {"type": "string"},
            "versions": {"type": "array", "items": {"type": "string"}},
            "platform": {"type": "string"},
            "inputs": {"type": "array", "items": _TENSOR_META},
            "outputs": {"type": "array", "items": _TENSOR_META},
        },
    },
}


def _errors(schema: str, *codes: int) -> dict[str, Any]:
    return {
        str(c): {
            "description": ERROR_TEXT.get(c, "Error"),
            "content": {"application/json": {"schema": ref(schema)}},
        }
        for c in codes
    }


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _text(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}


def _security(config: ServerConfig) -> list[Any]:
    if config.predict_requires_token:
        return AUTH
    return [{}, *AUTH]  # optional; needed for a version no alias points at


# 422: a version in the path that is not a number (the pattern says so; the server names it)
_MODEL_ERRORS = (400, 401, 403, 404, 409, 422, 500, 503)
_INFER_ERRORS = (400, 401, 403, 404, 409, 413, 415, 422, 500, 503)
_MLFLOW_ERRORS = (400, 401, 403, 404, 409, 413, 415, 500, 503)


def _v2_model_get(
    config: ServerConfig, versioned: bool, summary: str, schema: dict[str, Any]
) -> dict[str, Any]:
    """A v2 GET about one model (or one of its versions): metadata, readiness."""
    return {
        "get": {
            "summary": summary,
            "parameters": [NAME, _VERSION] if versioned else [NAME],
            "security": _security(config),
            "responses": {"200": _json(schema), **_errors("V2Error", *_MODEL_ERRORS)},
        }
    }


def _v2_model(config: ServerConfig, versioned: bool) -> dict[str, Any]:
    return _v2_model_get(
        config,
        versioned,
        "Open Inference v2: model metadata (inputs from the signature)",
        ref("V2ModelMetadata"),
    )


def _v2_ready(config: ServerConfig, versioned: bool) -> dict[str, Any]:
    return _v2_model_get(
        config,
        versioned,
        "Open Inference v2: 200 once the model loads and answers",
        {"type": "object", "properties": {"ready": {"type": "boolean"}}},
    )


def _v2_infer(config: ServerConfig, versioned: bool) -> dict[str, Any]:
    params = [NAME, _VERSION] if versioned else [NAME]
    return {
        "post": {
            "summary": "Open Inference v2: inference. One [rows, columns] tensor or one [rows] "
            "tensor per column; outputs predict and predict_proba (both by default). Binary "
            "tensors: a JSON header of Inference-Header-Content-Length bytes, then the data",
            "parameters": params,
            "security": _security(config),
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref("V2InferRequest")}},
            },
            "responses": {
                "200": {
                    "description": "Outputs (JSON, or a JSON header and binary tensors)",
                    "content": {
                        "application/json": {"schema": ref("V2InferResponse")},
                        "application/octet-stream": {"schema": {"type": "string"}},
                    },
                },
                **_errors("V2Error", *_INFER_ERRORS),
            },
        }
    }


def _mlflow(config: ServerConfig, named: bool) -> dict[str, Any]:
    prefix = "/models/{name}" if named else ""
    params = [NAME] if named else []
    which = "the named model" if named else "the server's model (serve --model)"
    body = ref("ScoringRequest")
    health = {
        "get": {
            "summary": f"MLflow scoring: 200 when {which} loads",
            "parameters": params,
            "security": _security(config),
            "responses": {"200": _text("Healthy"), **_errors("MlflowError", *_MODEL_ERRORS)},
        }
    }
    return {
        f"{prefix}/invocations": {
            "post": {
                "summary": f"MLflow scoring: predictions of {which} (JSON formats or text/csv)",
                "parameters": params,
                "security": _security(config),
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": body},
                        "text/csv": {"schema": {"type": "string"}},
                    },
                },
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["predictions"],
                            "properties": {"predictions": {"type": "array"}},
                        }
                    ),
                    **_errors("MlflowError", *_MLFLOW_ERRORS),
                },
            }
        },
        f"{prefix}/ping": health,
        f"{prefix}/health": health,
        f"{prefix}/version": {
            "get": {
                "summary": "MLflow scoring: the server's version",
                "parameters": params,
                "responses": {"200": _text("deploykit's version")},
            }
        },
    }


def paths(config: ServerConfig) -> dict[str, Any]:
    open_get = {"get": {"responses": {"200": _json({"type": "object"})}}}
    return {
        "/v2": {
            "get": {
                "summary": "Open Inference v2: server metadata",
                "responses": {"200": _json({"type": "object"})},
            }
        },
        "/v2/health/live": {"get": {**open_get["get"], "summary": "Open Inference v2: live"}},
        "/v2/health/ready": {"get": {**open_get["get"], "summary": "Open Inference v2: ready"}},
        "/v2/models/{name}": _v2_model(config, False),
        "/v2/models/{name}/versions/{version}": _v2_model(config, True),
        "/v2/models/{name}/ready": _v2_ready(config, False),
        "/v2/models/{name}/versions/{version}/ready": _v2_ready(config, True),
        "/v2/models/{name}/infer": _v2_infer(config, False),
        "/v2/models/{name}/versions/{version}/infer": _v2_infer(config, True),
        **_mlflow(config, False),
        **_mlflow(config, True),
    }
