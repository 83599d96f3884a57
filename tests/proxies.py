"""A proxy in front of a tracking server that refuses the requests a test names (a
gateway's or MLflow auth's refusal, a read-only route, a maintenance window), or answers
them late (a slow but live server)."""

from __future__ import annotations

import contextlib
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

HTML_403 = (403, b"<html><body><h1>403 Forbidden</h1></body></html>", "text/html")


@contextlib.contextmanager
def read_only_proxy(
    server: str,
    refusal: tuple[int, bytes, str] = HTML_403,
    refuses: Callable[[str, str], bool] = lambda method, path: method != "GET",
    delay: Callable[[str, str], float] = lambda method, path: 0.0,
) -> Iterator[str]:
    """A proxy in front of the tracking server passing its requests and answering those
    ``refuses`` names (method, path: every write by default) with ``refusal`` (status, body,
    content type: its own 403 page by default, a maintenance window, a read-only route),
    each request after ``delay`` (method, path) seconds; yields its URI."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Proxy(BaseHTTPRequestHandler):
        def _pass(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            time.sleep(delay(self.command, self.path))
            if refuses(self.command, self.path):
                return self._send(*refusal)
            request = urllib.request.Request(
                server + self.path,
                data=body,
                method=self.command,
                headers={  # the user's credentials too (MLflow's own auth)
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() in ("content-type", "authorization")
                },
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    status, body = answer.status, answer.read()
            except urllib.error.HTTPError as error:
                status, body = error.code, error.read()
            return self._send(status, body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _pass

        def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    proxy.handle_error = lambda request, address: None  # a client gone before a late answer
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{proxy.server_address[1]}"
    finally:
        proxy.shutdown()
        proxy.server_close()


def slow_proxy(
    server: str, seconds: float, slowed: Callable[[str, str], bool] = lambda method, path: True
) -> contextlib.AbstractContextManager[str]:
    """A proxy passing every request to the tracking server, those ``slowed`` names (method,
    path: all by default) ``seconds`` late: a server that is alive but slow."""
    return read_only_proxy(
        server,
        refuses=lambda method, path: False,
        delay=lambda method, path: seconds if slowed(method, path) else 0.0,
    )
