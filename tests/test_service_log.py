"""The service's INFO lines reach the server's log (``serving.logs.show_service_info``):
BentoML's server logging sets the root logger to WARNING, and ``lifecycle.serving``'s INFO
lines (API token auth on or off and why, a promotion over HTTP, an alias moved, the registry
check after start stopped) never showed (session 59: report SVC3's Left)."""

from __future__ import annotations

from services import SharedServer


def test_the_server_log_says_at_start_whether_auth_is_on_and_why(
    shared_server: SharedServer,
) -> None:
    log = shared_server.log.read_text(errors="replace")
    said = [line for line in log.splitlines() if "API token auth off (" in line]
    assert said, log[-2000:]  # one a worker: a loopback bind, serving.auth auto
    assert all("[INFO]" in line for line in said), said
