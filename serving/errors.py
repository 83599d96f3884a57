"""The one shape of every error answer of the scoring API, and the errors endpoints raise.

``{"error": "...", "detail": [{"loc": [field, ...], "msg": "..."}]}``: the shape BentoML uses
for its own validation errors, so a caller reads a 400 from pydantic, a 401 from the token
check and a 413 from the body limit the same way (documented by ``serving.openapi``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError
from starlette.responses import JSONResponse

Loc = tuple[str | int, ...]
# The shape of error_response, as the OpenAPI document states it (serving.openapi).
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Error",
    "description": "every error answer: a message and, per problem, where and what",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "what is wrong, and what fixes it"},
        "detail": {
            "type": "array",
            "description": "one item per problem",
            "items": {
                "type": "object",
                "required": ["loc", "msg"],
                "properties": {
                    "loc": {
                        "type": "array",
                        "description": "the field at fault, as a path (empty: the whole request)",
                        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    },
                    "msg": {"type": "string", "description": "what is wrong there"},
                },
            },
        },
    },
}


def error_response(
    status: int,
    message: str,
    loc: Sequence[str | int] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """An error answer: the message, and where it applies (empty: the request as a whole)."""
    return JSONResponse(
        {"error": message, "detail": [{"loc": list(loc), "msg": message}]},
        status_code=status,
        headers=headers,
    )


async def send_response(send: Any, response: JSONResponse) -> None:
    """Answer from ASGI middleware, without calling the app behind it."""
    await send(
        {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": response.raw_headers,
        }
    )
    await send({"type": "http.response.body", "body": response.body})


async def send_body(send: Any, start: dict[str, Any], body: bytes) -> None:
    """Send a response held back by middleware (its ``http.response.start`` message) with a
    new body, its content-length made to match."""
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({**start, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ApiError(Exception):
    """An answer other than 200 that is not a field error (404, 409, 503)."""

    def __init__(self, status: int, message: str, loc: Loc = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.loc = loc  # the field at fault, when one is (a 422's)

    def response(self) -> JSONResponse:
        return error_response(self.status, self.message, self.loc)


def field_errors(title: str, errors: list[tuple[Loc, str]]) -> ValidationError:
    """A pydantic ValidationError: BentoML answers it with 400 and the field of each error."""
    details = [
        InitErrorDetails(type=PydanticCustomError("invalid_value", message), loc=loc, input=None)
        for loc, message in errors
    ]
    return ValidationError.from_exception_data(title, details)


def as_json(value: Any) -> str:
    """A request's value as the client wrote it in JSON: the bodies' numbers arrive as
    floats (``5`` is ``5.0``), so 'got float' named what the client never sent."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value:g}"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__
