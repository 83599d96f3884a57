"""What a request body must be before it is parsed: under ``serving.max_request_bytes``
(refused unread), JSON, and there at all where the route has required fields."""

from __future__ import annotations

from typing import Any

from serving.errors import error_response, send_response


class BodyLimit:
    """ASGI middleware: a body over ``serving.max_request_bytes`` gets 413 before it is parsed."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._limit: int | None = None

    @property
    def limit(self) -> int:
        if self._limit is None:
            from lifecycle.settings import load_settings

            self._limit = load_settings().serving.max_request_bytes
        return self._limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.limit:
                return await self._too_large(send, declared.decode(errors="replace"))
            return await self.app(scope, receive, send)
        # No length given (chunked): read it here, up to the limit, then replay it.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                return await self._too_large(send, f"more than {size}")
            if not message.get("more_body"):
                break
        await self.app(scope, replaying(b"".join(chunks), receive), send)

    async def _too_large(self, send: Any, size: str) -> None:
        message = f"request body of {size} bytes is over the limit of {self.limit} (serving.max_request_bytes)"
        await send_response(send, error_response(413, message, ("body",)))


JSON = b"application/json"


class JsonOnly:
    """ASGI middleware: a POST whose body is not JSON gets 415, unread.

    BentoML picks a parser by ``Content-Type``: multipart and form bodies reach its form
    parser (a malformed one is a 500) and any other type is parsed as JSON anyway. Every
    route here takes JSON only; a request without a ``Content-Type`` is read as JSON. Nor
    does BentoML decode a compressed body (``Content-Encoding``): 415 too.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        coding = headers.get(b"content-encoding", b"").lower()
        applied = [
            c for c in (p.strip() for p in coding.split(b",")) if c not in (b"", b"identity")
        ]
        if applied:  # read as it came, a gzip body was 'Invalid JSON' at column 1
            shown = b", ".join(applied).decode(errors="replace")[:100]
            message = f"Content-Encoding {shown!r} is not accepted: send the body uncompressed"
            return await send_response(send, error_response(415, message, ("body",)))
        declared = headers.get(b"content-type")
        media_type = (declared or JSON).split(b";")[0].strip().lower()
        if media_type != JSON:
            shown = declared.decode(errors="replace")[:100] if declared else ""
            message = f"Content-Type {shown!r} is not accepted: send the body as application/json"
            return await send_response(send, error_response(415, message, ("body",)))
        await self.app(scope, receive, send)


class EmptyBody:
    """ASGI middleware: a POST with no body (or only spaces) to a route with required fields
    gets 400 naming the body and the fields. BentoML read it as ``{}`` and answered
    ``user_ids: Field required``, as if the client had sent an object without the field;
    spaces alone were ``body: Invalid JSON: EOF while parsing a value``. A route without
    required fields (``/at_risk``, ``/reload``) takes no body, as its document says. A body
    that is no UTF-8 text (Latin-1, UTF-16) gets 400 saying so, where BentoML said only
    ``Invalid JSON``. A JSON object holding a key twice gets 400 naming it
    (:func:`duplicate_key`). Runs after :class:`BodyLimit`, so what it reads is within the
    limit."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._required: dict[str, list[str]] | None = None

    @property
    def required(self) -> dict[str, list[str]]:
        """Route path -> the fields its body must hold (routes with some only)."""
        if self._required is None:
            from serving.service import LifecycleScoring

            self._required = {}
            for api in LifecycleScoring.apis.values():
                fields = api.input_spec.model_fields.items()
                if needed := [name for name, field in fields if field.is_required()]:
                    self._required[api.route] = needed
        return self._required

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        needed = self.required.get(scope.get("path", ""))
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as error:
            message = (
                f"the request body is not UTF-8 text (byte {error.start}: "
                f"{body[error.start : error.start + 1]!r}): send the JSON as UTF-8"
            )
            return await send_response(send, error_response(400, message, ("body",)))
        if needed and not body.strip():
            fields = " and ".join(needed)
            message = (
                f"the request body is empty: POST {scope['path']} takes a JSON object with "
                f"{fields} (/docs.json shows each field)"
            )
            return await send_response(send, error_response(400, message, ("body",)))
        if (twice := duplicate_key(body)) is not None:
            from serving.field_errors import place

            message = (
                f"{place(list(twice))}: given twice in one JSON object; send each field once "
                "(JSON parsers differ in which one they keep)"
            )
            return await send_response(send, error_response(400, message, twice))
        await self.app(scope, replaying(body, receive), send)


class _Pairs(list):  # type: ignore[type-arg]
    """A JSON object as its (key, value) pairs, in order, duplicates kept."""


def duplicate_key(body: bytes) -> tuple[str | int, ...] | None:
    """Where a JSON object of ``body`` holds a key twice (the path to its second
    occurrence: ``("where", "country")``), or None; a body that is no JSON is left to the
    route's parser, which says why. Python's json (and BentoML's parser) kept the last
    silently: ``{"user_ids": ["a"], "user_ids": ["b"]}`` scored b alone."""
    import json

    try:
        document = json.loads(body or b"null", object_pairs_hook=_Pairs)
    except (ValueError, RecursionError):
        return None
    stack: list[tuple[tuple[str | int, ...], object]] = [((), document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, _Pairs):
            seen: set[str] = set()
            for key, item in value:
                if key in seen:
                    return (*path, key)
                seen.add(key)
                if isinstance(item, list):  # an object (_Pairs) or array: looked into
                    stack.append(((*path, key), item))
        elif isinstance(value, list):
            stack.extend(((*path, i), v) for i, v in enumerate(value) if isinstance(v, list))
    return None


def replaying(body: bytes, receive: Any) -> Any:
    """An ASGI ``receive`` that gives ``body``, already read from ``receive``, then what
    ``receive`` gives (a disconnect)."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
