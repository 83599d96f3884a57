"""Real servers for tests: ``redis-server`` and ``mlflow server`` on free loopback ports.

Each is a context manager that starts the process in its own session, waits (bounded)
until it answers, yields its address and always stops it (SIGTERM, then SIGKILL).
Outside CI a missing ``redis-server`` binary skips the test; with ``CI=true`` it fails it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from workspaces import TrainedWorkspace

LOOPBACK = "127.0.0.1"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def require_binary(name: str, install: str) -> str:
    """The path of an executable; skip (fail in CI) when it is not installed."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed ({install})"
        if in_ci():
            pytest.fail(f"CI=true but {message}; .ci/run installs it")
        pytest.skip(message)
    return path


def _stop(process: subprocess.Popen[bytes], grace_seconds: float = 5) -> None:
    """SIGTERM the process group we started, then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace_seconds)


def _wait_until(
    ready: Callable[[], bool], process: subprocess.Popen[bytes], log: Path, seconds: float
) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"server exited with {process.returncode}: {log.read_text()[-2000:]}"
            )
        if ready():
            return
        time.sleep(0.2)
    raise TimeoutError(f"server not ready after {seconds:.0f} s: {log.read_text()[-2000:]}")


@contextlib.contextmanager
def _running(
    command: list[str],
    log: Path,
    ready: Callable[[], bool],
    seconds: float,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env, cwd=cwd
        )
    try:
        _wait_until(ready, process, log, seconds)
        yield process
    finally:
        _stop(process)


def _redis_pings(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def redis_server(
    workdir: Path,
    ready_seconds: float = 20,
    port: int | None = None,
    persist: bool = False,
    options: tuple[str, ...] = (),
) -> Iterator[str]:
    """An empty, non-persistent ``redis-server`` (on ``port``: a restart of one that was
    there, empty; ``persist``: one that snapshots, ``save 3600 1``, and keeps an append-only
    file in ``workdir``, as a production server does; ``options``: more of its command
    line); yields its ``host:port``."""
    binary = require_binary(
        "redis-server", "apt-get install -y --no-install-recommends redis-server"
    )
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    command = [
        binary,
        "--port", str(port),
        "--bind", LOOPBACK,
        "--save", "3600 1" if persist else "",
        "--appendonly", "yes" if persist else "no",
        "--dir", str(workdir),
        *options,
    ]  # fmt: skip
    with _running(command, workdir / "redis.log", lambda: _redis_pings(port), ready_seconds):
        yield f"{LOOPBACK}:{port}"


def http_ok(url: str) -> bool:
    """A GET of ``url`` answered 200 within 2 s (a server busy loading may not answer yet)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _ready_worker(url: str) -> int | None:
    """The worker that answered /readyz 200 (its number, ``worker``); None when not ready."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.loads(response.read())["worker"] if response.status == 200 else None
    except (urllib.error.URLError, OSError):
        return None


def _every_worker_ready(url: str, workers: int, connections: int = 20) -> Callable[[], bool]:
    """Each worker answers /readyz for itself, but a worker that is not yet accepting leaves
    its connections to the others, so a burst of 200s alone can miss it: ready when a burst
    is all 200 and ``workers`` different workers have answered 200."""
    seen: set[int] = set()

    def ready() -> bool:
        for _ in range(connections):  # a burst stops at its first worker not ready
            worker = _ready_worker(url)
            if worker is None:
                return False
            seen.add(worker)
        return len(seen) >= workers

    return ready


def every_worker_ready(base: str, workers: int, seconds: float = 180) -> None:
    """Wait until each of ``workers`` has answered /readyz 200 and a burst is all 200."""
    ready, deadline = _every_worker_ready(f"{base}/readyz", workers), time.monotonic() + seconds
    while not ready():
        assert time.monotonic() < deadline, f"{workers} workers never all ready at {base}"
        time.sleep(0.5)


def _settling(base: str) -> list[str]:
    """What the worker that answered still does in the background (``/models``)."""
    request = urllib.request.Request(
        f"{base}/models", data=b"{}", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())["settling"]
    except (urllib.error.URLError, OSError) as error:
        return [f"no answer: {error}"]


def every_worker_settled(base: str, seconds: float = 180, connections: int = 20) -> None:
    """Wait until every worker finished its work after loading (the registry check after
    start, compiling trees): a burst of new connections all answer ``settling: []``. The
    start check's child process and its registry read would otherwise run during what a
    test measures (memory) or moves (aliases)."""
    deadline = time.monotonic() + seconds
    while True:
        # A burst stops at its first worker still settling: whole bursts of 20 every 0.5 s
        # through a background compile (40 requests a second to the server) cost ~2 CPU-s
        # of test_serving_matches_batch's compiled-trees test.
        answers = (_settling(base) for _ in range(connections))
        pending = next((answer for answer in answers if answer), None)
        if pending is None:
            return
        assert time.monotonic() < deadline, (
            f"workers still settling after {seconds:.0f} s: {pending}"
        )
        time.sleep(0.5)


@contextlib.contextmanager
def mlflow_server(
    workdir: Path, ready_seconds: float = 90, admin_password: str | None = None
) -> Iterator[str]:
    """``mlflow server`` with a SQLite backend and served artifacts; yields its http URI.
    With ``admin_password``, MLflow's own auth (``--app-name basic-auth``): its users in
    ``auth.db`` beside, user ``admin`` with that password, every other user READ by default."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    mlflow = Path(sys.executable).with_name("mlflow")
    command = [
        str(mlflow) if mlflow.is_file() else "mlflow",
        "server",
        "--backend-store-uri", f"sqlite:///{(workdir / 'mlflow.db').resolve()}",
        "--artifacts-destination", str((workdir / "artifacts").resolve()),
        "--serve-artifacts",
        "--host", LOOPBACK,
        "--port", str(port),
        "--workers", "1",
    ]  # fmt: skip
    uri = f"http://{LOOPBACK}:{port}"
    # MLflow 3's job execution (a job runner and five huey consumers, each importing MLflow,
    # then polling) runs GenAI jobs (prompt optimization, trace rollups) that lifecycle never
    # submits: ~23 CPU-s of a start and a ready server 20 s later on a busy 2-core machine.
    # Tracking, registry and served artifacts are the same server without it.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    if admin_password is not None:
        config = workdir / "basic_auth.ini"
        config.write_text(
            "[mlflow]\ndefault_permission = READ\n"
            f"database_uri = sqlite:///{(workdir / 'auth.db').resolve()}\n"
            f"admin_username = admin\nadmin_password = {admin_password}\n"
        )
        command += ["--app-name", "basic-auth"]
        env["MLFLOW_AUTH_CONFIG_PATH"] = str(config)
        env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = "lifecycle-tests"  # its CSRF check needs one
    with _running(
        command, workdir / "mlflow.log", lambda: http_ok(f"{uri}/health"), ready_seconds, env=env
    ):
        if admin_password is not None:
            quick_logins(workdir, {"admin": admin_password})
        yield uri


def quick_logins(workdir: Path, passwords: dict[str, str]) -> None:
    """Rehash these users' passwords in the auth server's ``auth.db`` with one round of PBKDF2.
    MLflow auth checks the login of every request against werkzeug's default scrypt hash,
    0.12 s of CPU a request, most of a training's time through it; the server still checks
    each request's login, the same code on a cheaper hash. Tests only."""
    from werkzeug.security import generate_password_hash

    with contextlib.closing(sqlite3.connect(workdir / "auth.db")) as db, db:
        for username, password in passwords.items():
            hashed = generate_password_hash(password, method="pbkdf2:sha256:1")
            changed = db.execute(
                "UPDATE users SET password_hash = ? WHERE username = ?", (hashed, username)
            ).rowcount
            assert changed == 1, f"no user {username!r} in {workdir / 'auth.db'}"


@contextlib.contextmanager
def bentoml_server(
    home: Path,
    env: dict[str, str],
    ready_path: str = "/livez",
    ready_seconds: float = 120,
    workdir: Path | None = None,
) -> Iterator[str]:
    """A real ``bentoml serve`` of the scoring service on a free port; yields its base URL.

    ``env`` is added to this process's environment without its ``LIFECYCLE_*`` variables;
    the server's output goes to ``server.log`` and its BentoML home to ``bentoml`` in
    ``workdir`` (``home`` unless given).
    """
    with bentoml_process(home, env, ready_path, ready_seconds, workdir) as (base, _):
        yield base


@contextlib.contextmanager
def bentoml_process(
    home: Path,
    env: dict[str, str],
    ready_path: str = "/livez",
    ready_seconds: float = 120,
    workdir: Path | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """:func:`bentoml_server`, yielding its base URL and its process (BentoML's arbiter)."""
    from serving.launch import bentoml_command

    port = free_port()
    workdir = workdir or home
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")},
        "LIFECYCLE_HOME": str(home),
        "BENTOML_DO_NOT_TRACK": "true",
        "BENTOML_HOME": str(workdir / "bentoml"),
        # Compiling ~2,600 trees in the background costs a loaded 2-core box a minute of CPU
        # beside timed requests: served tests predict through LightGBM unless they ask
        # (compiled trees are tested equal to LightGBM in test_compiled.py).
        "LIFECYCLE_SERVING__COMPILE_TREES": "false",
        # One worker (the default is 2): half the start-up CPU and memory per served module;
        # test_service_workers serves two, and `lifecycle serve` tests the default.
        "BENTOML_CONFIG_OPTIONS": "services.lifecycle_scoring.workers=1",
        **env,
    }
    base = f"http://{LOOPBACK}:{port}"
    repo = Path(__file__).resolve().parents[1]
    with _running(
        bentoml_command(LOOPBACK, port),
        workdir / "server.log",
        lambda: http_ok(f"{base}{ready_path}"),
        ready_seconds,
        env=full_env,
        cwd=repo,
    ) as process:
        yield base, process


# The shared server's settings: the request limits test_fuzz_api fuzzes (test_soak's requests
# stay within them).
SHARED_SERVER_SETTINGS = {
    "LIFECYCLE_SERVING__MAX_USERS_PER_REQUEST": "50",
    "LIFECYCLE_SERVING__MAX_REQUEST_BYTES": "20000",
}


# A POST /reload (test_fuzz_api sends some) counts itself in the aliases mirror, which each
# worker follows: that rewrite alone leaves what is served as it was.
MIRROR = "mlflow/aliases.json"


@dataclass(frozen=True)
class SharedServer:
    base: str  # its URL
    log: Path  # its output
    workspace: TrainedWorkspace  # the copy it serves (files: its fingerprint, checked)
    champions: dict[str, Any]  # the aliases mirror's models when it was ready

    def changed(self) -> list[str]:
        """The workspace's files changed since the last check, but the aliases mirror
        where only its ``reloads`` count moved."""
        from workspaces import changed_files

        changed = changed_files(self.workspace)
        if json.loads((self.workspace.home / MIRROR).read_text())["models"] == self.champions:
            changed = [name for name in changed if name not in (MIRROR, f"{MIRROR}.lock")]
        return changed


def service_asgi_app() -> Any:
    """A fresh in-process ASGI app of the scoring service.

    BentoML registers the service's Prometheus metrics in the process-wide registry when
    an app is built; a second app in the same test process would register them twice.
    """
    import prometheus_client

    from serving.service import LifecycleScoring

    registry = prometheus_client.REGISTRY
    for collector, names in list(registry._collector_to_names.items()):
        if any(name.startswith("lifecycle_") for name in names):
            registry.unregister(collector)
    return LifecycleScoring.to_asgi()


def run_cli(home: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """``lifecycle --home HOME --quiet ARGS`` in process; fails the test with the output."""
    from click.testing import CliRunner

    from lifecycle.cli import main

    result = CliRunner().invoke(main, ["--home", str(home), "--quiet", *args], env=env)
    assert result.exit_code == 0, f"{args}: {result.output}"
    return result.stdout


# root writes through file modes: it gets the folder mounted read-only instead, in a mount
# namespace of its own (nothing outside the command sees the mount)
MOUNT_READ_ONLY = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'


def run_read_only(read_only: Path, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """``lifecycle ARGS`` in a subprocess on workspace ``home``; as root with ``read_only``
    mounted read-only for it (others: the caller takes the folder's write modes away)."""
    command = [str(Path(sys.executable).with_name("lifecycle")), *args]
    if os.geteuid() == 0:
        command = ["unshare", "-m", "sh", "-c", MOUNT_READ_ONLY, "sh", str(read_only), *command]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}
    environ["LIFECYCLE_HOME"] = str(home)
    return subprocess.run(command, env=environ, capture_output=True, text=True, timeout=600)


def prepare(home: Path, *steps: list[str], env: dict[str, str] | None = None) -> None:
    """Run CLI commands against the workspace ``home``, in order, failing loudly; ``env``:
    settings of every step (``LIFECYCLE_*``)."""
    for args in steps:
        run_cli(home, *args, env=env)


@contextlib.contextmanager
def home_copy(trained: Path, destination: Path) -> Iterator[Path]:
    """A copy of the trained workspace ``trained`` at ``destination`` (for a module that
    changes it or runs a server writing into it), as ``$LIFECYCLE_HOME`` with no other
    ``LIFECYCLE_`` variable set (servers started inside inherit exactly that)."""
    from workspaces import copy_workspace

    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("LIFECYCLE_"):
                patch.delenv(name)
        patch.setenv("LIFECYCLE_HOME", str(destination))
        yield copy_workspace(trained, destination)


@contextlib.contextmanager
def serving_copy(trained: Path, destination: Path) -> Iterator[Path]:
    """:func:`home_copy` in which churn gets a second registered version (the same
    artifacts) to promote."""
    from lifecycle import registry
    from lifecycle.settings import load_settings

    with home_copy(trained, destination) as workspace:
        settings = load_settings(home=workspace, environ={})
        client = registry.client(settings)
        name = registry.model_name(settings.dataset, "churn")
        champion = registry.alias_version(client, name, registry.CHAMPION)
        client.create_model_version(name, source=champion.source, run_id=champion.run_id)
        yield workspace


def known_user_ids(home: Path, limit: int = 200) -> list[str]:
    """The first ``limit`` users of the workspace's demo feature table."""
    import pandas as pd

    table = home / "features" / "demo" / "user_features.parquet"
    ids = pd.read_parquet(table, columns=["user_id"])["user_id"].drop_duplicates()
    return ids.astype(str).tolist()[:limit]


@contextlib.contextmanager
def redis_workspace(home: Path, redis_dir: Path, users: int, seed: int) -> Iterator[str]:
    """A demo workspace whose settings file selects a fresh redis-server, materialized into
    it; yields the Feast connection string."""
    with redis_server(redis_dir) as connection:
        (home / "lifecycle.toml").write_text(
            f'[feast]\nonline_store = "redis"\nredis_connection = "{connection}"\n'
        )
        prepare(
            home,
            ["demo-data", "--users", str(users), "--seed", str(seed)],
            ["features", "build"],
            ["features", "apply"],
            ["features", "materialize"],
        )
        yield connection


@contextlib.contextmanager
def lifecycle_serve(
    home: Path, workdir: Path, ready_seconds: float = 120, *, compile_trees: bool = False
) -> Iterator[str]:
    """``lifecycle --home HOME serve`` (the command operators run) on a free port, with no
    other ``LIFECYCLE_`` variable set but ``serving.compile_trees`` off unless asked, as
    ``bentoml_server`` (the background compile of the three champions, ~20 CPU-s, ran for as
    long as the server lived, ~0.5 CPU-s a second beside the test's requests; compiled trees:
    test_compiled.py, and one server with them on: test_serving_matches_batch.py); yields its
    base URL once every worker (2 by default) answers ``/readyz`` 200."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    lifecycle = Path(sys.executable).with_name("lifecycle")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")},
        "BENTOML_HOME": str(workdir / "bentoml"),
        "LIFECYCLE_SERVING__COMPILE_TREES": str(compile_trees).lower(),
    }
    command = [
        str(lifecycle),
        "--home",
        str(home),
        "serve",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
    ]
    base = f"http://{LOOPBACK}:{port}"
    with _running(
        command,
        workdir / "serve.log",
        _every_worker_ready(f"{base}/readyz", workers=2),
        ready_seconds,
        env=env,
    ):
        yield base


# -- a served workspace's registry and scores (test_service) -------------------------------


def champion_versions(home: Path) -> dict[str, str]:
    from lifecycle import registry, tasks
    from lifecycle.settings import load_settings

    settings = load_settings(home=home, environ={})
    client = registry.client(settings)
    return {
        task: str(
            registry.alias_version(client, registry.model_name("demo", task), "champion").version
        )
        for task in tasks.names()
    }


def promote(home: Path, task: str, version: str) -> None:
    from lifecycle.registry import promote as promote_version
    from lifecycle.settings import load_settings

    promote_version(load_settings(home=home, environ={}), task, version, "serving reload test")


def workspace_batch_scores(home: Path) -> Path:
    """Point ``latest`` back at the copied workspace's own ``score-all`` table (written by the
    champions served: the shared build's) after a test wrote a hand-made one; returns it."""
    written = sorted((home / "scores").glob("scores-*.parquet"))[0]
    latest = home / "scores" / "latest.parquet"
    latest.unlink(missing_ok=True)
    latest.symlink_to(written.name)
    return written


def write_batch_scores(home: Path) -> Path:
    """A hand-made scores table as ``latest`` (reasons as batch scoring stores them: JSON)."""
    import json

    import pandas as pd

    path = home / "scores" / "latest.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # a link to a real `score-all` table: replace, never write through
    reasons = json.dumps(
        [
            {
                "feature": "recency_days",
                "value": 40.0,
                "contribution": 0.5,
                "text": "no activity for 40 days",
            }
        ]
    )
    pd.DataFrame(
        {
            "user_id": ["a", "b", "c", "d"],
            "churn_probability": [0.9, 0.2, 0.6, 0.7],
            "ltv": [10.0, 500.0, 100.0, 50.0],
            "value_at_risk": [9.0, 100.0, 60.0, 35.0],
            "risk_band": ["high", "medium", "high", "high"],
            "lifecycle_stage": ["at_risk", "active", "at_risk", "silent"],
            "segment": ["s1", "s2", "s1", "s1"],
            "channel": ["email", "organic", "email", "social"],
            "reasons": [reasons, "[]", reasons, None],
        }
    ).to_parquet(path)
    return path


def _sigint_as_from_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stopped_at(point: str, marker: Path, stop: int, *cli: str) -> tuple[int, str, str]:
    """Run ``lifecycle CLI`` through ``tests/fault_entry.py`` until it reaches ``point``
    (it writes ``marker`` and waits there), send it ``stop`` (SIGTERM, SIGINT) and give its
    exit status, stdout and stderr."""
    entry = Path(__file__).with_name("fault_entry.py")
    process = subprocess.Popen(
        [sys.executable, str(entry), point, str(marker), *cli],
        cwd=entry.parents[1],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal: an xdist worker ignores SIGINT, and a child inheriting that
        # ignores Ctrl-C (Python then installs no KeyboardInterrupt handler)
        preexec_fn=_sigint_as_from_a_terminal,
    )
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{cli} never reached {point}"
        time.sleep(0.05)
    process.send_signal(stop)
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err
