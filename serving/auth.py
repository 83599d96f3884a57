"""API token authentication of the scoring service: who may call what.

``serving.auth``: ``on``, ``off`` or ``auto`` (default) = on as soon as the server listens
on a non-loopback address (the worker's listening socket, or ``serving.bind_host``). When
on, every route but ``/livez``, ``/readyz``, ``/healthz`` and ``/metrics`` (probes and
Prometheus scraping; no user data) needs ``Authorization: Bearer <token>``: 401 when it is
missing or unknown; the admin calls ``/reload`` and ``/promote`` need an admin token, else
403. Tokens come from ``LIFECYCLE_SERVING__API_TOKEN`` / ``LIFECYCLE_SERVING__ADMIN_TOKEN``
and/or ``serving.api_tokens_file`` (one per line, ``admin:`` prefix); they are ``SecretStr``
in the settings and are never logged. Auth on with no token configured refuses every call.
"""

from __future__ import annotations

import hmac
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifecycle.words import counted
from serving.errors import error_response, send_response

if TYPE_CHECKING:
    from lifecycle.settings import Settings

logger = logging.getLogger("lifecycle.serving")

BIND_HOST_ENV = "LIFECYCLE_SERVING__BIND_HOST"  # serving.bind_host, e.g. set by a launcher
OPEN_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/metrics"})  # probes and scraping
ADMIN_PATHS = frozenset({"/reload", "/promote"})
AUTH_SCOPE_KEY = "lifecycle.auth"  # TokenAuth tells OpenApiErrors whether auth is on


@dataclass(frozen=True)
class AuthConfig:
    """Whether requests need a token, why, and the tokens (bytes; never logged or shown)."""

    enabled: bool
    reason: str
    tokens: tuple[bytes, ...] = ()
    admin_tokens: tuple[bytes, ...] = ()
    forced: bool = False  # on by serving.auth = on, whatever the address (loopback too)

    def __repr__(self) -> str:  # no token in any repr
        return (
            f"AuthConfig(enabled={self.enabled}, reason={self.reason!r}, "
            f"tokens={len(self.tokens)}, admin_tokens={len(self.admin_tokens)})"
        )


def bind_hosts(settings: Settings) -> list[str]:
    """The addresses this server may listen on: the listening socket a BentoML worker was
    handed (``--fd N``) and ``serving.bind_host`` (set by ``lifecycle serve``); none in
    process (a test client)."""
    import os
    import socket
    import sys

    hosts: list[str] = []
    argv = sys.argv
    for i, arg in enumerate(argv[:-1]):
        if arg == "--fd" and argv[i + 1].isdigit():
            try:
                with socket.socket(fileno=os.dup(int(argv[i + 1]))) as listening:
                    hosts.append(str(listening.getsockname()[0]))
            except (OSError, IndexError):
                pass
    if settings.serving.bind_host:
        hosts.append(settings.serving.bind_host.strip("[]"))
    return hosts


def is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: assume it is reachable from elsewhere


def read_tokens_file(path: Path) -> tuple[list[str], list[str]]:
    """(tokens, admin tokens) of a file: one per line, ``admin:`` prefix, # comments."""
    from lifecycle.settings import SettingsError

    try:
        lines = path.read_text().splitlines()
    except OSError as error:
        raise SettingsError(
            f"serving.api_tokens_file {path} cannot be read: {error.strerror}"
        ) from None
    tokens: list[str] = []
    admin: list[str] = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("admin:"):
            admin.append(line.removeprefix("admin:").strip())
        else:
            tokens.append(line)
    return [t for t in tokens if t], [t for t in admin if t]


def auth_config(settings: Settings, hosts: list[str]) -> AuthConfig:
    """auto: on as soon as one address the server listens on is not loopback."""
    serving = settings.serving
    if serving.auth == "off":
        return AuthConfig(False, "serving.auth = off")
    public = [h for h in hosts if not is_loopback(h)]
    if serving.auth == "on":
        reason = "serving.auth = on"
    elif not hosts:
        return AuthConfig(False, "serving.auth = auto, not bound to a network address")
    elif not public:
        return AuthConfig(False, f"serving.auth = auto, bound to loopback {', '.join(hosts)}")
    else:
        reason = f"serving.auth = auto, bound to {', '.join(public)}"
    tokens: list[str] = []
    admin: list[str] = []
    if serving.api_tokens_file is not None:
        tokens, admin = read_tokens_file(serving.api_tokens_file)
    if serving.api_token is not None and serving.api_token.get_secret_value():
        tokens.append(serving.api_token.get_secret_value())
    if serving.admin_token is not None and serving.admin_token.get_secret_value():
        admin.append(serving.admin_token.get_secret_value())
    return AuthConfig(
        True,
        reason,
        tuple(t.encode() for t in tokens + admin),  # an admin token is also an API token
        tuple(t.encode() for t in admin),
        forced=serving.auth == "on",
    )


def no_tokens_text(config: AuthConfig) -> str:
    """The server log's warning when auth is on with no token: every call but the probes is
    refused, why auth is on and the ways out. Under serving.auth = on loopback alone is none."""
    loopback = "serve on loopback: `lifecycle serve`, or `bentoml serve --host 127.0.0.1`"
    return (
        f"API token auth is on ({config.reason}) but no token is configured: every call but "
        "the probes is refused (set LIFECYCLE_SERVING__API_TOKEN or serving.api_tokens_file, "
        f"or {'set serving.auth = auto and ' if config.forced else ''}{loopback})"
    )


# what a refused caller is told when no token can pass: the reason, not the server's set-up
# (why auth is on, the token variables), which only its log says, for its operator
NO_TOKENS_REFUSAL = (
    "no API token is configured on this server, so it refuses every call: "
    "its log says why auth is on and how to set a token (docs/serving.md#access)"
)


def _matches(given: bytes, tokens: tuple[bytes, ...]) -> bool:
    """Constant-time against every token (no early exit that would tell which one is close)."""
    found = False
    for token in tokens:
        found |= hmac.compare_digest(given, token)
    return found


class TokenAuth:
    """ASGI middleware: ``Authorization: Bearer <token>`` on every route but the probes and
    /metrics; /reload and /promote need an admin token. 401 missing or unknown token, 403
    not admin."""

    def __init__(self, app: Any, config: AuthConfig | None = None) -> None:
        self.app = app
        if config is None:
            from lifecycle.settings import load_settings

            settings = load_settings()
            config = auth_config(settings, bind_hosts(settings))
        self.config = config
        # auth on with no token (a raw `bentoml serve`, which binds every address): no token
        # can ever pass, so every 401 says so in short; the log's warning says the rest
        self.no_tokens = f"; {NO_TOKENS_REFUSAL}" if config.enabled and not config.tokens else ""
        if config.enabled:
            logger.info(
                "API token auth on (%s): %s, %d admin",
                config.reason,
                counted(len(config.tokens), ("token", "tokens")),
                len(config.admin_tokens),
            )
            if not config.tokens:
                logger.warning(no_tokens_text(config))
        else:
            logger.info("API token auth off (%s)", config.reason)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        scope[AUTH_SCOPE_KEY] = self.config.enabled
        if not self.config.enabled:
            return await self.app(scope, receive, send)
        path = re.sub("/+", "/", scope.get("path") or "/")
        if path != "/":
            path = path.rstrip("/")
        if path in OPEN_PATHS:
            return await self.app(scope, receive, send)
        given, refused = _bearer(scope)
        if given is None or not _matches(given, self.config.tokens):
            return await _deny(send, 401, (refused or "invalid API token") + self.no_tokens)
        if path in ADMIN_PATHS and not _matches(given, self.config.admin_tokens):
            return await _deny(send, 403, f"{path} needs an admin token")
        return await self.app(scope, receive, send)


# schemes a client may send instead of Bearer, named in the 401; any other first word of
# the header may be the token itself, which no answer repeats
SCHEMES = ("Basic", "Digest", "Negotiate", "NTLM", "Token", "ApiKey", "OAuth", "HOBA")
SEND_BEARER = "send Authorization: Bearer <token>"


def _bearer(scope: dict[str, Any]) -> tuple[bytes | None, str | None]:
    """The Bearer token of the request, or None and why it has none (no header, another
    scheme: ``Basic`` is not accepted)."""
    for name, value in scope.get("headers") or []:
        if name.lower() == b"authorization":
            scheme, _, token = bytes(value).strip().partition(b" ")
            token = token.strip()
            if scheme.lower() == b"bearer":
                return (token, None) if token else (None, f"missing API token: {SEND_BEARER}")
            named = [s for s in SCHEMES if s.lower().encode() == scheme.lower()]
            if named:
                return None, f"the {named[0]} scheme is not accepted: {SEND_BEARER}"
            return None, f"an Authorization header without the Bearer scheme: {SEND_BEARER}"
    return None, f"missing API token: {SEND_BEARER}"


async def _deny(send: Any, status: int, message: str) -> None:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    await send_response(send, error_response(status, message, ("header", "authorization"), headers))
