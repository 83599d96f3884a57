"""What a worker does with its connections on SIGTERM: every request sent before it is
answered, and the worker exits once they are.

BentoML's arbiter passes SIGTERM to each worker, where uvicorn stops accepting, lets every
request it has begun finish (no timeout: BentoML sets none) and closes every other connection
at once, as idle. Two kinds of connection were not idle and got no answer: one whose request
was in its socket's buffer, unread (the event loop of a worker busy scoring reads late: the
scoring threads hold the GIL), closed at once (``Connection reset by peer`` or ``Server
disconnected without sending a response``); and one a client had opened but no worker had
accepted yet, left in the listening socket's queue, which BentoML's arbiter holds open until
every worker has exited and then closes (``Connection reset by peer`` seconds later). 6 requests of 1,000 users sent
0.3 s before a SIGTERM lost 1 in 2 runs of 3 to the first (docs/reliability.md has the
measures; ``tests/test_service_stop.py`` makes each case certain). Here the worker first
accepts what waits in the queue, then closes a connection with no request begun
:data:`DRAIN_SECONDS` later, as uvicorn closes it (at once when idle, after its answer when a
request came meanwhile, with ``Connection: close``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from typing import Any

# Long enough for a starved event loop to read what was already sent, and for a request a
# client sent on a kept-alive connection as the stop began; an idle connection holds the
# worker's exit this long at most.
DRAIN_SECONDS = 2.0


def drain_on_shutdown() -> None:
    """Patch uvicorn (once per process): its server accepts the connections waiting in its
    listening sockets' queue before closing them, and its HTTP connections (both of its
    implementations) wait :data:`DRAIN_SECONDS` before closing one with no request begun
    (uvicorn's own ``shutdown`` then, unchanged)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol
    from uvicorn.server import Server

    protocols: list[type[Any]] = [H11Protocol]
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # httptools is optional: uvicorn then serves with h11
        pass
    else:
        protocols.append(HttpToolsProtocol)
    for protocol in protocols:
        if not getattr(protocol.shutdown, "drains", False):
            protocol.shutdown = _closing_later(protocol.shutdown)
    if not getattr(Server.shutdown, "drains", False):
        Server.shutdown = _accepting_first(Server.shutdown)


def _closing_later(close: Any) -> Any:
    def later(self: Any) -> None:
        if not self.transport.is_closing():  # the client may have closed it meanwhile
            close(self)

    def shutdown(self: Any) -> None:
        if self.cycle is None and not self.transport.is_closing():
            self.loop.call_later(DRAIN_SECONDS, later, self)  # read what came first
        else:
            close(self)  # a request begun: uvicorn lets it finish, then closes

    shutdown.drains = True  # type: ignore[attr-defined]
    return shutdown


def _accepting_first(stop: Any) -> Any:
    async def shutdown(self: Any, sockets: list[socket.socket] | None = None) -> None:
        loop = asyncio.get_running_loop()

        def connection() -> asyncio.Protocol:  # as uvicorn's startup makes each
            return self.config.http_protocol_class(  # type: ignore[no-any-return]
                config=self.config,
                server_state=self.server_state,
                app_state=self.lifespan.state,
                _loop=loop,
            )

        for listening in sockets or ():  # BentoML's workers get the arbiter's socket
            for accepted in waiting_connections(listening):
                # TLS as uvicorn's listener has it (BentoML's --ssl-certfile)
                await loop.connect_accepted_socket(connection, accepted, ssl=self.config.ssl)
        await stop(self, sockets)

    shutdown.drains = True  # type: ignore[attr-defined]
    return shutdown


def waiting_connections(listening: socket.socket) -> list[socket.socket]:
    """The connections in the listening socket's queue, accepted, without waiting."""
    accepted = []
    own = socket.socket(fileno=os.dup(listening.fileno()))
    with own, contextlib.suppress(OSError):  # BlockingIOError: the queue is empty
        own.setblocking(False)
        while True:
            connection, _ = own.accept()
            connection.setblocking(False)
            accepted.append(connection)
    return accepted
