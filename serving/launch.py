"""How the scoring service is started: one command line for the CLI, tests and benchmarks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lifecycle.settings import Settings

SERVICE = "serving.service:LifecycleScoring"
# Scoring holds the GIL: past a few processes per core, workers only wait for a core, each
# with its own copy of the models in memory.
WORKERS_PER_CORE = 4


def bentoml_command(host: str, port: int) -> list[str]:
    """``bentoml serve`` of the scoring service, with this interpreter."""
    return [sys.executable, "-m", "bentoml", "serve", SERVICE, "--host", host, "--port", str(port)]


def server_home(bentoml_home: str | None, host: str, port: int) -> Path:
    """BentoML's home for the server on ``host:port``: its own Prometheus directory. BentoML
    empties its home's one at every start, so servers sharing a home wiped each other's
    request metrics and each reported what the others left there. One server listens on an
    address at a time, so a start empties only what a stopped server of it left."""
    base = Path(bentoml_home) if bentoml_home else Path.home() / "bentoml"
    return base / "servers" / f"{host}-{port}"


def check_workers(workers: int) -> None:
    """A worker count that would start a process per digit typed (--workers 100000, a typo
    for 10: a hundred thousand copies of the models) is one line before any starts."""
    import os

    from lifecycle.errors import UserError

    cores = os.cpu_count() or 1
    if workers > WORKERS_PER_CORE * cores:
        raise UserError(
            f"--workers {workers}: at most {WORKERS_PER_CORE * cores} on this machine "
            f"({WORKERS_PER_CORE} per core, {cores} cores): each worker holds its own copy of "
            "the models, and past that they only wait for a core"
        )


def check_can_listen(host: str, port: int) -> None:
    """Bind ``host:port`` as BentoML's arbiter will (``SO_REUSEADDR``, so a port a stopped
    server left in TIME_WAIT passes) and let it go: a port in use or an address that is not
    this machine's is one line naming it, not BentoML's traceback after the start."""
    import errno
    import socket

    from lifecycle.errors import UserError

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except socket.gaierror as error:
        raise UserError(
            f"--host {host!r}: not an address to listen on ({error.strerror})"
        ) from None
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise UserError(
                f"port {port} on {host} is already in use (another service listens there): "
                "stop it or pick another with --port"
            ) from None
        raise UserError(f"cannot listen on {host}:{port}: {error.strerror}") from None


def refuse_auth_without_tokens(settings: Settings, host: str) -> None:
    """A server whose API token auth is on (``--host`` not loopback, or serving.auth = on)
    with no token configured would refuse every call but the probes: said before the start
    in one line, not found out from a log warning and a wall of 401s."""
    from lifecycle.errors import UserError
    from serving.auth import auth_config, is_loopback

    config = auth_config(settings, [host])
    if config.enabled and not config.tokens:
        # under serving.auth = on loopback turns nothing off: the way out is the setting's
        other = "serve on 127.0.0.1"
        if config.forced:
            other = "set serving.auth = auto" + ("" if is_loopback(host) else f" and {other}")
        raise UserError(
            f"--host {host}: API token auth is on ({config.reason}) and no token is "
            "configured, so every call would be refused: set LIFECYCLE_SERVING__API_TOKEN "
            "(and LIFECYCLE_SERVING__ADMIN_TOKEN for /reload and /promote) or "
            f"serving.api_tokens_file, or {other}"
        )
