"""The OpenAPI document as the service really answers: every error status with its shape.

BentoML documents 400/404/500 with ``detail`` as a string and nothing else; this rewrites
``/docs.json`` on its way out (``OpenApiErrors``) with the errors of ``serving.errors``,
per route, and the bearer scheme when auth is on.
"""

from __future__ import annotations

import json
from typing import Any

from serving.auth import ADMIN_PATHS, AUTH_SCOPE_KEY, OPEN_PATHS
from serving.errors import ERROR_SCHEMA

PATH_ERRORS = {  # answers only some routes give
    "/promote": {"409": "no challenger to promote, or it is already the champion"},
}
API_ERRORS = {
    "400": "a field is invalid, or the body is not valid JSON (detail says which)",
    "404": "no such route, or no batch scores yet (/at_risk)",
    "413": "request body over serving.max_request_bytes",
    "415": "a body that is not application/json (multipart, form, text, ...)",
    "500": "a server fault",
    "503": "not ready yet (models or feature store loading or failed), a feature store or "
    "registry gone, damaged or replaced on disk (the message names the command that fixes it), "
    "or reload failed",
}


def document_errors(spec: dict[str, Any], auth: bool) -> dict[str, Any]:
    """BentoML documents 400/404/500 with ``detail`` as a string and nothing else; document
    the errors this service really answers, with their real shape, and the token scheme."""
    components = spec.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    if auth:
        components.setdefault("securitySchemes", {})["bearer"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "an API token; /reload and /promote need an admin token",
        }
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            if method == "post" and "requestBody" in operation:
                state_request_body(operation["requestBody"])
            if method == "post":
                for code, text in {**API_ERRORS, **PATH_ERRORS.get(path, {})}.items():
                    responses[code] = {"description": text, "content": ref}
            elif path == "/readyz":
                responses["503"] = {"description": "not ready yet", "content": ref}
            if auth and path not in OPEN_PATHS:
                operation["security"] = [{"bearer": []}]
                responses["401"] = {"description": "missing or invalid API token", "content": ref}
                if path in ADMIN_PATHS:
                    responses["403"] = {"description": "not an admin token", "content": ref}
    return spec


def state_request_body(body: dict[str, Any]) -> None:
    """Say what the service accepts, as OpenAPI 3.0 says it: BentoML leaves out that a body
    with required fields is required (an empty body is read as ``{}``: fine only without
    them), drops ``null`` from ``X | None`` fields, and writes ``lt``/``gt`` as numbers
    (OpenAPI 3.1), which 3.0 readers take as no bound at all."""
    for media in body.get("content", {}).values():
        schema = media.get("schema", {})
        body["required"] = bool(schema.get("required"))
        for field in schema.get("properties", {}).values():
            if "default" in field and field["default"] is None:
                field["nullable"] = True  # null is the default, so null is accepted
            _exclusive_bounds(field)


def _exclusive_bounds(schema: Any) -> None:
    if isinstance(schema, list):
        for item in schema:
            _exclusive_bounds(item)
    if not isinstance(schema, dict):
        return
    for exclusive, bound in (("exclusiveMaximum", "maximum"), ("exclusiveMinimum", "minimum")):
        value = schema.get(exclusive)
        if isinstance(value, int | float) and not isinstance(value, bool):
            schema[bound], schema[exclusive] = value, True
    for value in schema.values():
        _exclusive_bounds(value)


class OpenApiErrors:
    """ASGI middleware: rewrites ``/docs.json`` on its way out with :func:`document_errors`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope.get("path", "").endswith("/docs.json"):
            return await self.app(scope, receive, send)
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    await finish()

        async def finish() -> None:
            body = b"".join(chunks)
            if start.get("status") == 200:
                try:
                    spec = document_errors(json.loads(body), bool(scope.get(AUTH_SCOPE_KEY)))
                    body = json.dumps(spec).encode()
                except ValueError:
                    pass
            headers = [
                (k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"
            ]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, capture)
