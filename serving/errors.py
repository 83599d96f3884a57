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


class HeldAnswers:
    """ASGI middleware: an answer whose ``http.response.start`` :meth:`holds` accepts is held
    back whole and sent as :meth:`rewrite` makes it; every other passes as it comes."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def holds(self, start: dict[str, Any], scope: dict[str, Any]) -> bool:
        raise NotImplementedError

    def rewrite(
        self, scope: dict[str, Any], start: dict[str, Any], body: bytes
    ) -> tuple[dict[str, Any], bytes]:
        raise NotImplementedError

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        held: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and self.holds(message, scope):
                held.update(message)
                return None
            if not held or message["type"] != "http.response.body":
                return await send(message)
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                await send_body(send, *self.rewrite(scope, held, b"".join(chunks)))
            return None

        await self.app(scope, receive, capture)


class PlainErrors(HeldAnswers):
    """Starlette's plain-text 404 and 405 (``Not Found``, ``Method Not Allowed``) in the
    API's error shape, naming the method and path (and, for a 405, the methods the route
    takes, also in ``Allow``): a caller reads every error as JSON. Its 307 from a path with
    a trailing slash to the route without (``POST /score/``) is a 404 too: the redirect's
    absolute URL is built from the request's scheme, http:// behind a TLS proxy that does
    not say X-Forwarded-Proto, where a client following it sends the body and token in clear."""

    def holds(self, start: dict[str, Any], scope: dict[str, Any]) -> bool:
        headers = dict(start.get("headers") or [])
        plain = headers.get(b"content-type", b"").startswith(b"text/plain")
        return (start.get("status") in (404, 405) and plain) or _slash_redirect(scope, start)

    def rewrite(
        self, scope: dict[str, Any], start: dict[str, Any], body: bytes
    ) -> tuple[dict[str, Any], bytes]:
        answer = _miss(scope, start)
        return {**start, "status": answer.status_code, "headers": answer.raw_headers}, answer.body


def _slash_redirect(scope: dict[str, Any], start: dict[str, Any]) -> bool:
    """Whether ``start`` is Starlette's redirect of a path ending in a slash to the route
    without it (its ``redirect_slashes``)."""
    from urllib.parse import urlsplit

    path = scope.get("path", "")
    if start.get("status") != 307 or path == "/" or not path.endswith("/"):
        return False
    location = dict(start.get("headers") or []).get(b"location", b"").decode("latin-1")
    return urlsplit(location).path == path.rstrip("/")


def _miss(scope: dict[str, Any], start: dict[str, Any]) -> JSONResponse:
    asked = f"{scope['method']} {scope['path'][:100]}"
    if _slash_redirect(scope, start):
        route = f"{scope['method']} {scope['path'].rstrip('/')[:100]}"
        return error_response(
            404, f"{asked}: no such route; the route is {route}, without the trailing slash"
        )
    allow = dict(start.get("headers") or []).get(b"allow", b"").decode()
    if start["status"] == 405:  # BentoML's own GET routes (/livez) take no body
        body = " (a JSON body)" if "POST" in allow.upper().replace(" ", "").split(",") else ""
        message = f"{asked}: this route takes {allow or 'another method'}{body}"
        return error_response(405, message, headers={"allow": allow} if allow else None)
    return error_response(404, f"{asked}: no such route; /docs.json lists the API's routes")
