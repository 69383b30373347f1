"""Pieces of the OpenAPI document every part uses: references, errors, auth, operations.

Shared by ``openapi`` (registry routes) and ``openapi_monitoring`` (monitoring routes),
so that neither reaches into the other's private names.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AUTH",
    "ERROR_TEXT",
    "NAME",
    "NAME_PATTERN",
    "ON_BEHALF",
    "READ",
    "REF",
    "REF_PARAM",
    "WRITE",
    "errors",
    "get",
    "json_body",
    "json_content",
    "object_schema",
    "path_param",
    "post",
    "query_param",
    "read_operation",
    "ref",
]


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """A required JSON request body."""
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def object_schema(required: list[str], **properties: Any) -> dict[str, Any]:
    """A JSON object with these properties, ``required`` among them."""
    return {"type": "object", "required": required, "properties": properties}


ERROR_TEXT = {
    400: "Malformed JSON or request",
    401: "No token, or an unknown or revoked token",
    403: "The token's role is not enough",
    404: "No such model, version, alias, token or artifact",
    405: "Method not allowed",
    409: "Conflicts with the registry's state (nothing to roll back to, ...)",
    413: "Body over the size limit, or more rows, columns or values than the server takes "
    "(server options max_body_bytes, max_rows, max_columns, max_cells)",
    415: "Content-Type not accepted",
    422: "Well-formed but invalid input (names the field, expected and received)",
    500: "The artifact cannot be loaded or verified",
    503: "The metadata or artifact store is unavailable",
}


def errors(*codes: int) -> dict[str, Any]:
    return {str(c): json_content(ref("Error"), ERROR_TEXT[c]) for c in codes}


# Path parameters state what the server takes: a value outside them is a 404 or a 422,
# never a 500 (schemathesis checks both sides against this document).
NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"  # deploykit.registry.names
NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": "Model name: a letter or digit, then letters, digits, '.', '_' or '-'",
    "schema": {"type": "string", "pattern": NAME_PATTERN},
}


def path_param(name: str, pattern: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "pattern": pattern},
    }


# A version number >= 1, or an alias name (never all digits; 'latest' among them).
REF = {
    "type": "string",
    "maxLength": 128,
    "pattern": "^([1-9][0-9]{0,17}|[A-Za-z][A-Za-z0-9._-]*|[0-9]+[A-Za-z._-][A-Za-z0-9._-]*)$",
}
REF_PARAM = {
    "name": "ref",
    "in": "path",
    "required": True,
    "description": "A version number, 'latest' or an alias name",
    "schema": REF,
}


def query_param(name: str, schema: dict[str, Any], description: str | None = None) -> Any:
    """An optional query parameter (the server's default applies when it is left out)."""
    described = {} if description is None else {"description": description}
    return {"name": name, "in": "query", "required": False, **described, "schema": schema}


AUTH: list[dict[str, list[str]]] = [{"bearer": []}]
READ = (401, 403, 404, 422, 503)
WRITE = (400, 401, 403, 404, 409, 413, 415, 422, 500, 503)


def read_operation(summary: str, schema: dict[str, Any], params: list[Any], *extra: int) -> Any:
    """A GET for a token with any role, answering ``schema``; ``extra``: its other errors."""
    return {
        "summary": summary,
        "security": AUTH,
        "parameters": params,
        "responses": {"200": json_content(schema, "OK"), **errors(*READ, *extra)},
    }


def get(summary: str, schema: dict[str, Any], *, params: list[Any] | None = None) -> Any:
    return {"get": read_operation(summary, schema, params if params is not None else [NAME])}


ON_BEHALF = {
    "name": "X-Deploykit-On-Behalf-Of",
    "in": "header",
    "required": False,
    "description": "The person a shared front end acts for; the audit log records "
    "'<token name> for <person>'",
    "schema": {"type": "string", "minLength": 1, "maxLength": 100},
}


def post(summary: str, body: dict[str, Any], schema: dict[str, Any], **extra: Any) -> Any:
    return {
        "summary": summary,
        "security": AUTH,
        "parameters": [NAME, ON_BEHALF],
        "requestBody": json_body(body),
        "responses": {"200": json_content(schema, "OK"), **errors(*WRITE)},
        **extra,
    }
