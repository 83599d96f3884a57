"""Two commands that change one workspace at once: the second is refused in one line naming
the first, and nothing of it is done; readers are never held up; a holder killed mid-way
leaves nothing that blocks the next command."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from lifecycle.cli import main
from lifecycle.workspace_lock import changing, holder

EVENTS = "user_id,event_time,event_type,amount\nu1,2025-01-02 10:00:00,purchase,5\n"
HOLD = """
import sys, time
from pathlib import Path
from lifecycle.workspace_lock import changing
with changing(Path(sys.argv[1]), "refresh"):
    Path(sys.argv[2]).write_text("held")
    time.sleep(600)
"""


@contextlib.contextmanager
def holding(
    home: Path, marker: Path, command: tuple[str, ...] = ()
) -> Iterator[subprocess.Popen[bytes]]:
    """Another process changing the workspace ``home`` (as a `refresh` would) until killed;
    with ``command``, its command line reads as `lifecycle ... COMMAND`."""
    program = ["lifecycle"] if command else [sys.executable]  # argv[0], as a script shows
    argv = [*program, "-c", HOLD, str(home), str(marker), *command]
    process = subprocess.Popen(argv, executable=sys.executable)
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert process.poll() is None and time.monotonic() < deadline, "no lock taken"
            time.sleep(0.02)
        yield process
    finally:
        process.kill()
        process.wait(timeout=30)


@pytest.fixture
def other_command(home: Path, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    home.mkdir()
    with holding(home, tmp_path / "held") as process:
        yield process


def test_a_workspace_not_made_yet_is_locked_as_it_is_made(
    tmp_path: Path,
) -> None:
    """Two first commands on a new --home ran side by side: the lock needed the folder. The
    first command makes it and holds it, and a second is refused until it ends."""
    home = tmp_path / "new" / "workspace"
    events = tmp_path / "orders.csv"
    events.write_text(EVENTS)
    with holding(home, tmp_path / "held"):
        code, output = lifecycle(home, "ingest", str(events))
        assert code == 1 and "being changed by another lifecycle command" in output, output
    code, output = lifecycle(home, "ingest", str(events))  # the holder gone: it runs
    assert code == 0 and (home / "datasets" / "orders" / "events.parquet").is_file(), output


def lifecycle(home: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--home", str(home), "--quiet", *args])
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    return result.exit_code, result.output


def test_a_second_changing_command_is_refused_naming_the_first_and_readers_still_run(
    home: Path, tmp_path: Path, other_command: subprocess.Popen[bytes]
) -> None:
    events = tmp_path / "orders.csv"
    events.write_text(EVENTS)
    code, output = lifecycle(home, "ingest", str(events))
    assert code == 1
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert f"(pid {other_command.pid}: python -c " in lines[0] and str(home) in lines[0], lines[0]
    assert "nothing was done" in lines[0]
    assert not (home / "datasets" / "orders").exists()  # nothing of it was done
    code, output = lifecycle(home, "datasets")  # a reader takes no lock
    assert code == 0, output
    code, output = lifecycle(home, "forget", "u1")
    assert code == 1 and "being changed by another lifecycle command" in output
    assert not (home / "erasure_log.jsonl").exists()

    other_command.send_signal(signal.SIGKILL)  # killed mid-way: the kernel frees the lock
    other_command.wait(timeout=30)
    code, output = lifecycle(home, "ingest", str(events))
    assert code == 0, output
    assert (home / "datasets" / "orders" / "events.parquet").is_file()


def test_one_process_takes_its_own_lock_again_and_writes_nothing(home: Path) -> None:
    home.mkdir()
    with changing(home, "run"), changing(home, "ingest"):  # `run` does what `ingest` does
        assert holder(home).startswith(f"pid {os.getpid()}: ")
        probe = "from pathlib import Path; from lifecycle.workspace_lock import changing\n"
        probe += f"with changing(Path({str(home)!r}), 'score-all'): print('ran')"
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
        assert done.returncode == 1 and "being changed by another" in done.stderr
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ran", done.stderr
    assert list(home.iterdir()) == []  # the lock is the folder's own: no file to leave


def test_http_promote_beside_another_workers_promotion_names_it(
    trained_copy: Path, tmp_path: Path
) -> None:
    """Concurrent POST /promote to a served online_retail reaching both workers: the one
    refused was told `another lifecycle command is changing the models ... (a training or
    refresh takes minutes)`, while the holder was the other worker promoting (seconds). A
    holder serving the service (its command line, as a BentoML worker's, names it) is now
    said to be another POST /promote."""
    from lifecycle.settings import load_settings
    from serving.errors import ApiError
    from serving.launch import SERVICE
    from serving.scorer import Scorer

    scorer = Scorer(load_settings(home=trained_copy, environ={}))
    worker = ("-m", "_bentoml_impl.worker.service", SERVICE, "--fd", "3")
    with holding(trained_copy, tmp_path / "held", worker), pytest.raises(ApiError) as refused:
        scorer.promote("churn", "beside another", force=True, version="1")
    assert refused.value.status == 409
    assert refused.value.message == (
        "another POST /promote to this service is moving a champion; nothing was done: "
        "retry when it has answered (a promotion takes seconds)"
    )


def test_http_promote_is_refused_while_another_command_changes_the_workspace(
    trained_copy: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`POST /promote` took only the registry's alias lock: a promotion over HTTP moved the
    champion under a running `train` or `forget`. It now holds the workspace lock as
    `lifecycle promote` does, and is refused (409) naming the command running and saying
    when to retry. The 409 gave the client the server's workspace path and the holder's pid
    (`the workspace /srv/... (pid 123: python -c ...)`): those now stay in the server's log."""
    from lifecycle import registry
    from lifecycle.settings import load_settings
    from serving.errors import ApiError
    from serving.scorer import Scorer

    settings = load_settings(home=trained_copy, environ={})
    client = registry.client(settings)
    name = registry.model_name(settings.dataset, "churn")
    champion = registry.alias_version(client, name, registry.CHAMPION)
    added = client.create_model_version(name, source=champion.source, run_id=champion.run_id)
    client.set_registered_model_alias(name, registry.CHALLENGER, added.version)
    scorer = Scorer(settings)
    held = holding(trained_copy, tmp_path / "held", ("train", "all"))
    with held as other, pytest.raises(ApiError) as refused, caplog.at_level("WARNING"):
        scorer.promote("churn", "canary looked good", force=True)
    assert refused.value.status == 409
    message = refused.value.message
    assert message.startswith("`lifecycle train` is changing the models"), message
    assert "nothing was done: retry POST /promote when it has finished" in message
    assert str(trained_copy) not in message and str(other.pid) not in message, message
    logged = [r.getMessage() for r in caplog.records if r.name == "lifecycle.serving"]
    assert any(f"{trained_copy} is being changed" in m and f"pid {other.pid}" in m for m in logged)
    kept = registry.alias_version(client, name, registry.CHAMPION)
    assert str(kept.version) == str(champion.version)  # the champion did not move
