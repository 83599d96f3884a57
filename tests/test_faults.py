"""Fault injection: SIGKILL during materialize, training, batch scoring, promotion and ingest.

Each fault runs the real CLI in a subprocess (``tests/fault_entry.py``) that hangs at a
known point mid-way (after a first online-store batch, after a new model version is
registered, with half a scores table on disk, after the champion alias moved, with a first
chunk of an ingest staged); the test
then kills the whole process group. The previous good state must stay readable and the
next run of the same command must succeed. Also: training beside serving, and a corrupt
or missing champion artifact reported as unavailable with a reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pandas as pd
import pytest
from experiment_runs import few_rounds
from services import run_cli, stopped_at
from workspaces import NO_COMPILE, NO_PLOTS

from lifecycle.settings import Settings, load_settings

ENTRY = Path(__file__).with_name("fault_entry.py")
REPO = ENTRY.parents[1]
USERS = ["u0000001", "u0000002", "u0000003", "u0000010", "u0000500"]
PROBE_PAUSE = 1.0  # seconds between serving probes while a training beside them trains


def kill_at(home: Path, point: str, *args: str, timeout: float = 60) -> None:
    """Run ``lifecycle ARGS`` until it reaches ``point``, then SIGKILL its process group;
    fails the test if the command ends (or never gets) there first."""
    marker = home.parent / f"reached-{point}-{uuid.uuid4().hex}"
    process = subprocess.Popen(
        [sys.executable, str(ENTRY), point, str(marker), "--home", str(home), "--quiet", *args],
        cwd=REPO,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + timeout
    try:
        while not marker.exists():
            if process.poll() is not None:
                _, stderr = process.communicate()
                pytest.fail(f"{args} ended ({process.returncode}) before {point}: {stderr[-2000:]}")
            assert time.monotonic() < deadline, f"{args} never reached {point}"
            time.sleep(0.05)
    finally:
        with contextlib.suppress(ProcessLookupError):  # already ended: nothing to kill
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL  # killed, not finished


def settings(home: Path) -> Settings:
    return load_settings(home=home, environ={})


def champion_versions(home: Path) -> dict[str, str | None]:
    from lifecycle import registry

    client = registry.client(settings(home))
    out = {}
    for task in ("churn", "conversion", "ltv"):
        version = registry.alias_version(client, registry.model_name("demo", task), "champion")
        out[task] = str(version.version) if version is not None else None
    return out


def online(home: Path) -> pd.DataFrame:
    from features.store import online_features, open_store

    result = online_features(open_store(settings(home)), USERS, "churn_v1")
    assert result.found.all(), "known users missing from the online store"
    return result.frame.sort_index(axis=1)


@pytest.fixture
def home(trained_copy: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own copy of the trained, materialized and batch-scored demo workspace;
    the commands run on it (and their subprocesses) draw no plots and compile no champion
    they promote (seconds of CPU a training; compiled trees are tested in test_compiled)."""
    for name, value in (NO_PLOTS | NO_COMPILE).items():
        monkeypatch.setenv(name, value)
    return trained_copy


def test_kill_during_materialize_keeps_the_online_store_and_the_next_run_recovers(
    home: Path,
) -> None:
    before = online(home)
    kill_at(home, "materialize", "features", "materialize")
    pd.testing.assert_frame_equal(online(home), before)  # every known user, same values
    assert "u0000001" in run_cli(home, "features", "show", "u0000001")
    run_cli(home, "features", "materialize")
    pd.testing.assert_frame_equal(online(home), before)


def test_kill_during_training_keeps_the_champion_and_the_next_run_recovers(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from serving.scoring import load_champions

    # What is killed and recovered is asserted here, not the model: few boosting rounds.
    for name, value in few_rounds().items():
        monkeypatch.setenv(name, value)
    before = champion_versions(home)
    assert None not in before.values()
    kill_at(home, "register", "train", "churn")  # a new version exists, no alias moved
    assert champion_versions(home) == before
    champions = load_champions(settings(home))
    assert not champions.unavailable and champions.versions == before
    # the killed run's version says it was never gated (it listed with no verdict at all)
    listed = run_cli(home, "models").splitlines()
    killed = next(i for i, line in enumerate(listed) if line.startswith("demo-churn v2 "))
    assert listed[killed + 1] == (
        "  no gate verdict: its training stopped before the gate; `lifecycle train churn` "
        "trains and gates a new version"
    )
    run_cli(home, "train", "churn")  # recovery: the next run trains, registers and gates
    after = champion_versions(home)
    assert after["churn"] is not None and after["conversion"] == before["conversion"]
    assert not load_champions(settings(home)).unavailable
    models = run_cli(home, "models")
    assert "demo-churn v3" in models  # v2 from the killed run, v3 from the recovery


def test_a_train_stopped_by_sigterm_or_ctrl_c_says_in_one_line_what_it_kept(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """online_retail: `train all` stopped by SIGTERM exited 143 with no line at all, and
    Ctrl-C said 'Aborted!' (exit 1), with --json no document, while `refresh` says what it
    kept in both. A stopped train now says in one line that the champions are unchanged,
    exits 128 + the signal (130, 143) and, with --json, gives its document."""
    # What is asserted is the stop and what it kept, not the model: few boosting rounds
    # (two churn trainings to their register at full rounds: 29.7 CPU-s, now 14.8).
    for name, value in few_rounds().items():
        monkeypatch.setenv(name, value)
    before = champion_versions(home)
    kept = ", ".join(f"{task} v{version}" for task, version in before.items())
    for stop, code, as_json in ((signal.SIGTERM, 143, ["--json"]), (signal.SIGINT, 130, [])):
        marker = home.parent / f"reached-register-{uuid.uuid4().hex}"
        # stopped once its version is registered, before the gate
        args = ("--home", str(home), "--quiet", *as_json, "train", "churn")
        returncode, out, err = stopped_at("register", marker, stop, *args)
        said = (
            f"stopped ({stop.name}) during `lifecycle train churn`: the champions are unchanged: "
            f"{kept}; `lifecycle train churn` trains again"
        )
        assert returncode == code and err.splitlines() == [f"Error: {said}"], err
        if as_json:
            assert json.loads(out) == {
                "status": "interrupted",
                "error": said,
                "exit_code": code,
                "champions": before,
            }
        else:
            assert out == "", out
    assert champion_versions(home) == before


def test_a_train_whose_sigterm_a_library_made_its_own_error_is_still_a_stop(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`train` sent SIGTERM while a library turned the stop into its own error (pydantic-core's
    SchemaError '... Stopped: 15' as MLflow is imported) ended in that error's traceback,
    exit 1; refresh took it for the stop. Now train's stop too: one line, exit 143."""
    for name, value in few_rounds().items():
        monkeypatch.setenv(name, value)
    before = champion_versions(home)
    kept = ", ".join(f"{task} v{version}" for task, version in before.items())
    marker = home.parent / f"reached-register-{uuid.uuid4().hex}"
    args = ("--home", str(home), "--quiet", "train", "churn")
    returncode, out, err = stopped_at("register_own_error", marker, signal.SIGTERM, *args)
    said = (
        "stopped (SIGTERM) during `lifecycle train churn`: the champions are unchanged: "
        f"{kept}; `lifecycle train churn` trains again"
    )
    assert (returncode, err.splitlines(), out) == (143, [f"Error: {said}"], ""), err
    assert champion_versions(home) == before


def test_kill_during_score_all_keeps_the_latest_table_and_lists(home: Path) -> None:
    from lifecycle.workspace import LATEST_SCORES
    from serving.batch import read_scores

    scores = settings(home).workspace.scores_dir
    latest = read_scores(scores / LATEST_SCORES)
    at_risk = run_cli(home, "at-risk")
    tables = sorted(scores.glob("scores-*.parquet"))
    kill_at(home, "scores", "score-all")
    assert list(scores.glob(".*.tmp")), "the fault never put half a table on disk"
    after = read_scores(scores / LATEST_SCORES)
    assert after.path == latest.path
    pd.testing.assert_frame_equal(after.frame, latest.frame)
    assert sorted(scores.glob("scores-*.parquet")) == tables  # the half file is no table
    assert run_cli(home, "at-risk") == at_risk
    run_cli(home, "score-all")  # recovery
    assert not list(scores.glob(".*.tmp")), "the killed writer's half table is still there"
    recovered = read_scores(scores / LATEST_SCORES)
    assert recovered.path != latest.path and len(recovered.frame) == len(latest.frame)
    assert run_cli(home, "at-risk")


def test_kill_during_promotion_leaves_old_or_new_champion_that_loads(home: Path) -> None:
    from lifecycle import registry
    from serving.scoring import load_champions

    # A second version to promote: the champion's artifacts registered again.
    client = registry.client(settings(home))
    champion = registry.alias_version(client, "demo-churn", registry.CHAMPION)
    old = str(champion.version)
    new = str(client.create_model_version("demo-churn", champion.source, champion.run_id).version)
    kill_at(home, "alias", "promote", "churn", new, "--reason", "fault test", "--force")
    assert champion_versions(home)["churn"] in (old, new)  # never missing
    champions = load_champions(settings(home))
    assert not champions.unavailable and champions.versions["churn"] in (old, new)
    run_cli(home, "promote", "churn", old, "--reason", "fault test recovery")
    assert champion_versions(home)["churn"] == old
    assert not load_champions(settings(home)).unavailable


def test_kill_during_ingest_keeps_the_dataset_and_the_next_ingest_cleans_up(
    home: Path,
) -> None:
    events = home.parent / "shop.csv"
    events.write_text(
        "user_id,event_time,event_type,amount\n"
        + "".join(f"u{i},2024-01-{1 + i % 28:02d},purchase,{i}.5\n" for i in range(200))
    )
    run_cli(home, "ingest", str(events), "--dataset", "shop")
    dataset = settings(home).workspace.dataset_dir("shop")
    before = pd.read_parquet(dataset / "events.parquet")
    versions = dataset.parent / ".versions"
    kill_at(home, "ingest", "ingest", str(events), "--dataset", "shop")
    stale = [p for p in versions.iterdir() if p.name.startswith(".shop.dir.")]
    assert stale and (stale[0] / ".work").is_dir(), "the fault never staged a chunk"
    pd.testing.assert_frame_equal(pd.read_parquet(dataset / "events.parquet"), before)
    run_cli(home, "ingest", str(events), "--dataset", "shop")  # recovery
    assert not [p for p in versions.iterdir() if p.name.startswith(".")], "staging left behind"
    pd.testing.assert_frame_equal(pd.read_parquet(dataset / "events.parquet"), before)


def test_training_beside_serving_corrupts_neither(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from features.store import latest_feature_rows, store_paths
    from serving.scoring import load_champions, score_frame

    # What is asserted is the serving side while a training registers and promotes beside
    # it, not the model: few boosting rounds.
    for name, value in few_rounds().items():
        monkeypatch.setenv(name, value)
    features = latest_feature_rows(store_paths(settings(home))).head(200)
    registering = home.parent / f"registering-{uuid.uuid4().hex}"
    command = ["registering", str(registering), "--home", str(home), "--quiet", "train", "churn"]
    process = subprocess.Popen(
        [sys.executable, str(ENTRY), *command],
        cwd=REPO,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    probed = Path(f"{registering}.probed")
    calls, met = 0, set()  # probes; the registry writes (fault_entry.in_turn) they met
    try:
        while process.poll() is None or calls < 3:
            step = int(registering.read_text() or 0) if registering.exists() else 0
            champions = load_champions(settings(home))
            assert not champions.unavailable, champions.unavailable
            scores = score_frame(champions, features, reasons=False)
            assert scores["ltv"].notna().all() and len(scores) == len(features)
            calls += 1
            if step:  # the child waits at this write until this probe is done
                met.add(step)
                probed.write_text(str(step))
            # While the child only trains, a probe every PROBE_PAUSE (back to back, they took
            # a core for the whole training); from registering on, back to back again.
            pause_until = time.monotonic() + PROBE_PAUSE
            while time.monotonic() < pause_until and not registering.exists():
                if process.poll() is not None:
                    break
                time.sleep(0.02)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr[-2000:]
    assert registering.exists(), "the training never registered a version"
    # every registry write was met by a probe: before the register, after it, after each
    # alias move (champion at least); counting probes in the window failed on a fast machine
    written = int(registering.read_text())
    assert written >= 3 and met == set(range(1, written + 1)), (written, sorted(met))
    assert not load_champions(settings(home)).unavailable


@pytest.mark.parametrize("damage", ["truncate", "delete", "truncate bundle.json"])
def test_a_corrupt_or_missing_champion_artifact_is_reported_unavailable(
    home: Path, damage: str
) -> None:
    from lifecycle import registry
    from serving.scoring import load_champions

    client = registry.client(settings(home))
    version = registry.alias_version(client, "demo-ltv", "champion")
    source = Path(
        client.get_model_version_download_uri("demo-ltv", version.version).removeprefix("file://")
    )
    damaged = next(source.rglob("bundle.json" if "bundle.json" in damage else "booster.txt"))
    backup = damaged.read_bytes()
    try:
        if damage.startswith("truncate"):
            damaged.write_bytes(backup[: len(backup) // 3])
        else:
            damaged.unlink()
        champions = load_champions(settings(home))
        assert "ltv" not in champions.bundles
        reason = champions.unavailable["ltv"]
        assert f"demo-ltv v{version.version} could not be loaded from " in reason
        # where the artifact lives in the registry, not the temporary copy that was read
        bundle = damaged.parent
        assert f"loaded from {bundle}: " in reason and "lifecycle-models-" not in reason, reason
        if damage.startswith("truncate"):  # which file, and that it is damaged
            assert f"{damaged.name} is truncated or not " in reason, reason
        assert {"churn", "conversion"} <= set(champions.bundles)  # the others still serve
    finally:
        damaged.write_bytes(backup)
    assert not load_champions(settings(home)).unavailable


def test_a_command_that_never_reaches_its_fault_point_fails_the_test(tmp_path: Path) -> None:
    """No fault test can pass without its fault: ``kill_at`` fails when the command ends
    before the point (here `lifecycle --help` never registers a model: `lifecycle models`,
    which never does either, first built an empty MLflow database, 3 CPU-s of a subprocess)."""
    with pytest.raises(pytest.fail.Exception, match=r"ended \(0\) before register"):
        kill_at(tmp_path / "workspace", "register", "--help")


def test_sigterm_turned_into_a_librarys_own_error_is_still_a_stop() -> None:
    """A refresh sent SIGTERM while MLflow was being imported ended in a traceback and no
    JSON (full suite, session 50): pydantic-core, building a schema when the signal came,
    raised its own SchemaError '... Stopped: 15'. Once SIGTERM came within sigterm_stops,
    the stop is known asked (a refresh step's error is then the stop's, SIGTERM's number);
    a new block starts with none asked."""
    script = """
import json, os, signal, time
from lifecycle.errors import Stopped, sigterm_stops, stop_asked, stop_signal

class SchemaError(Exception):
    pass

try:
    with sigterm_stops():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        except Stopped as stop:
            raise SchemaError(f"Stopped: {stop.signum}") from None
except SchemaError as error:
    said = [stop_asked(), stop_signal(error)]
with sigterm_stops():
    said.append(stop_asked())
print(json.dumps(said))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(done.stdout) == [True, int(signal.SIGTERM), False], done.stderr
