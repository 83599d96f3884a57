"""A served process stopped by SIGTERM, as a deploy or `systemctl stop` stops it: a real
``bentoml serve`` of a copy of the shared trained workspace, each test its own server."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from services import bentoml_process
from workspaces import TrainedWorkspace, copy_workspace

USERS = [f"u{n:07d}" for n in range(1, 1001)]


def _send_score(connection: socket.socket, body: dict[str, object]) -> None:
    sent = json.dumps(body).encode()
    connection.sendall(
        b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(sent)}\r\n\r\n".encode()
        + sent
    )


def _status(connection: socket.socket) -> int | str:
    """The status of the answer on ``connection``, or what came instead."""
    answer = b""
    try:
        while b"\r\n" not in answer and (chunk := connection.recv(4096)):
            answer += chunk
    except OSError as error:
        return f"{type(error).__name__}: {error}"
    finally:
        connection.close()
    return int(answer.split(b" ")[1]) if answer.startswith(b"HTTP/1.1 ") else f"{answer!r}"


def test_a_sigterm_answers_every_request_sent_before_it(
    trained_workspace: TrainedWorkspace, tmp_path: Path
) -> None:
    """6 requests of 1,000 users sent, SIGTERM 0.3 s later: 1 of the 6 got no answer
    (``Server disconnected without sending a response``, ``Connection reset by peer``), in 2
    runs of 3 (session 58, helper SVC; here too). uvicorn closed at once every connection
    whose request it had not begun to read, as idle (a worker busy scoring reads late), and
    the arbiter reset those no worker had accepted yet. Here also a connection opened before
    the SIGTERM and its request sent 0.5 s after it: no answer before, 200 now."""
    home = copy_workspace(trained_workspace.home, tmp_path / "ws")
    with bentoml_process(home, {}, ready_path="/readyz") as (base, server):
        host, port = base.removeprefix("http://").split(":")
        with httpx.Client(timeout=120) as client:  # warm: the first answers load lazily
            assert client.post(f"{base}/score", json={"user_ids": USERS[:10]}).status_code == 200
        sent = [socket.create_connection((host, int(port)), timeout=120) for _ in range(6)]
        for connection in sent:
            _send_score(connection, {"user_ids": USERS, "reasons": "fresh"})
        idle = socket.create_connection((host, int(port)), timeout=120)
        time.sleep(0.3)
        stopped = time.monotonic()
        server.send_signal(signal.SIGTERM)  # the arbiter, as `kill PID` of `lifecycle serve`
        time.sleep(0.5)
        _send_score(idle, {"user_ids": USERS[:1]})
        answers = [_status(connection) for connection in sent]
        late = _status(idle)
        server.wait(timeout=120)
        exited = time.monotonic() - stopped
    assert answers == [200] * 6, answers
    assert late == 200, late
    assert server.returncode == 0 and exited < 60, (server.returncode, exited)


# uvicorn serving a duplicate of a listening socket another process holds, as BentoML's
# workers serve the arbiter's; the first request holds the event loop 2 s (a worker whose
# scoring threads hold the GIL), 3 clients connect meanwhile and wait in the queue, SIGTERM
# comes during the hold, the holder closes its socket once the server has stopped (the arbiter
# exits after its workers). Prints each client's answer.
QUEUED = """import json, os, signal, socket, sys, threading, time
import uvicorn
from serving.drain import drain_on_shutdown
drain_on_shutdown()
held = []
async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    if not held:
        held.append(1)
        time.sleep(2)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
arbiter = socket.socket()
arbiter.bind(("127.0.0.1", 0))
arbiter.listen(64)
port = arbiter.getsockname()[1]
worker = socket.socket(fileno=os.dup(arbiter.fileno()))
server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on"))
answers, stopped = {}, threading.Event()
def client(i, wait):
    time.sleep(wait)
    sent = socket.create_connection(("127.0.0.1", port), timeout=30)
    sent.sendall(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
    try:
        answer = sent.recv(100)
        answers[i] = answer.split(b" ")[1].decode() if answer else "closed"
    except OSError as error:
        answers[i] = type(error).__name__
def stop():
    time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)
    stopped.wait()
    time.sleep(0.5)
    arbiter.close()
clients = [threading.Thread(target=client, args=(i, 0.5 if i == 0 else 0.8)) for i in range(4)]
for thread in [*clients, threading.Thread(target=stop)]:
    thread.start()
signal.signal(signal.SIGTERM, lambda *_: None)  # uvicorn raises it again once stopped
try:
    server.run(sockets=[worker])
finally:
    stopped.set()
for thread in clients:
    thread.join()
print(json.dumps([answers[i] for i in range(4)]))"""


def test_connections_waiting_in_the_listening_queue_at_a_sigterm_are_answered() -> None:
    """A connection no worker had accepted when the SIGTERM came stayed in the listening
    socket's queue, which BentoML's arbiter holds until its workers have exited, then reset:
    3 of 3 here before (uvicorn closes its own duplicate of the socket only), 3 of 3 200 now."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", QUEUED], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["200"] * 4, done.stdout


def test_a_sigterm_during_the_registry_check_after_start_says_it_stopped_it(
    trained_workspace: TrainedWorkspace, tmp_path: Path
) -> None:
    """A server stopped while its workers checked the registry after the start (a child
    process, which BentoML stops with its worker) logged the warning ``registry check after
    start failed: no output``, as if the registry had failed (session 58, helper SVC)."""
    home = copy_workspace(trained_workspace.home, tmp_path / "ws")
    with bentoml_process(home, {}, ready_path="/readyz") as (base, server):
        with httpx.Client(timeout=60) as client:
            settling = client.post(f"{base}/models", json={}).json()["settling"]
        time.sleep(0.5)  # the check's process started: it imports MLflow for seconds
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
    assert settling == ["checking the champions' aliases against the registry"], settling
    log = (home / "server.log").read_text()
    assert "registry check after start failed" not in log, log[-2000:]


def test_the_registry_check_stopped_by_a_signal_is_told_from_a_failed_one(
    trained_workspace: TrainedWorkspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check's child process stopped by SIGTERM is ``CheckStopped`` (logged at INFO:
    not done, the next start checks again), not a failure with "no output"."""
    import psutil

    from serving.service import CheckStopped, aliases_elsewhere

    home = copy_workspace(trained_workspace.home, tmp_path / "ws")
    monkeypatch.setenv("LIFECYCLE_HOME", str(home))
    raised: list[BaseException] = []

    def check() -> None:
        try:
            aliases_elsewhere("demo")
        except Exception as error:
            raised.append(error)

    # only the check's own child: a suite worker may hold a server of another module's, its
    # children too (signalled, that server stopped and the check had none to stop)
    before = {child.pid for child in psutil.Process().children()}
    checking = threading.Thread(target=check)
    checking.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (
        children := [c for c in psutil.Process().children() if c.pid not in before]
    ):
        time.sleep(0.05)
    for child in children:
        child.send_signal(signal.SIGTERM)
    checking.join(timeout=120)
    assert len(raised) == 1 and isinstance(raised[0], CheckStopped), raised
    assert str(raised[0]) == "SIGTERM"
