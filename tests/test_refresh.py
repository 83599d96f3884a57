"""`lifecycle refresh` on the demo: all current -> every step skipped; a second batch of days
appended -> build, apply, materialize, train, gate, score and report run; the same file again
-> nothing new, nothing runs. Exit codes and --json for schedulers."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from experiment_runs import few_rounds
from services import run_cli, stopped_at

from features import contract as c
from lifecycle import aliases_mirror, lineage, registry
from lifecycle.cli import main
from lifecycle.errors import UserError
from lifecycle.refresh import RefreshResult, model_problem, scores_problem, train_detail
from lifecycle.refresh_reload import reload_service
from lifecycle.settings import load_settings


def _next_week(home: Path, folder: Path) -> Path:
    """The demo's last week again, a week later (a second batch of days)."""
    events = pd.read_parquet(home / "datasets" / "demo" / "events.parquet")
    last = events[c.EVENT_TIME].max()
    week = events[events[c.EVENT_TIME] > last - pd.Timedelta(days=7)].copy()
    week[c.EVENT_TIME] = week[c.EVENT_TIME] + pd.Timedelta(days=7)
    path = folder / "next_week.parquet"
    week.to_parquet(path, index=False)
    return path


def _uncompiled(home: Path) -> Path:
    """``home`` with ``serving.compile_trees`` and ``training.plots`` off in its settings file,
    for the refresh and a server started on it: compiling the champions a refresh promotes
    (or a server's background compile of all three, ~20 s of CPU) and the trainings' plots
    are asserted nowhere here; compiled trees are tested equal to LightGBM's in
    test_compiled.py, plots in test_evaluation.py and test_batch.py's report."""
    (home / "lifecycle.toml").write_text(
        "[serving]\ncompile_trees = false\n[training]\nplots = false\n"
    )
    return home


def _refresh(home: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict]:
    result = CliRunner().invoke(main, ["--home", str(home), "--json", "refresh", *args], env=env)
    assert "Traceback" not in result.output, result.output
    return result.exit_code, json.loads(result.stdout)


def test_refresh_runs_only_the_steps_whose_inputs_moved_on(
    trained_copy: Path, tmp_path: Path
) -> None:
    _uncompiled(trained_copy)
    code, current = _refresh(trained_copy)
    assert code == 0, current
    assert current["ran"] == []
    assert current["skipped"] == [
        "ingest", "features", "online", "train", "score", "report", "reload"
    ]  # fmt: skip
    # scores made by other versions than the champions are said in versions, not a dict
    settings = load_settings(home=trained_copy, environ={})
    champions = registry.champion_versions(registry.client(settings), "demo")
    assert champions == {"churn": "1", "conversion": "1", "ltv": "1"}
    assert scores_problem(settings, champions, "demo") is None
    assert scores_problem(settings, {**champions, "churn": "2"}, "demo") == (
        "the latest scores used churn v1, conversion v1, ltv v1; "
        "the champions are churn v2, conversion v1, ltv v1"
    )

    week = _next_week(trained_copy, tmp_path)
    # What is asserted of the three trainings is how refresh runs and gates them (the steps,
    # the verdicts against champion v1, which version is champion): any number of trees.
    code, fresh = _refresh(trained_copy, str(week), env=few_rounds())
    assert code == 0, fresh  # every task has a champion: v1 or the one this training made
    assert fresh["ran"] == ["ingest", "features", "online", "train", "score", "report"]
    steps = {s["step"]: s for s in fresh["steps"]}
    assert "learned from an older feature table" in steps["train"]["why"]
    trained = steps["train"]["detail"]["models"]
    assert [m["task"] for m in trained] == ["churn", "conversion", "ltv"]
    # a task whose champion stayed (neither its model nor a baseline in its place promoted)
    # is named with the gate's verdict and its champion v1, which still serves
    assert fresh["not_promoted"] == {
        m["task"]: {"why": m["gate"], "trained": True, "champion": "1"}
        for m in trained
        if not m["champion"]
    }
    # The champions were refit on the cutoff a week before the new test cutoff: they
    # learned outcomes within its horizon, so each is judged by its own recorded test.
    for m in trained:
        assert "champion v1 " in m["gate"] and " on its test " in m["gate"], m["gate"]
    for m in trained:
        promoted = m["version"] if m["promoted"] else None
        baseline = m["baseline"] and m["baseline"]["promoted"] and m["baseline"]["version"]
        assert m["champion"] == (promoted or baseline or None), m
    settings = load_settings(home=trained_copy, environ={})
    table = lineage.read(settings.workspace.feature_table("demo"))
    assert table["dataset_version"] == lineage.dataset_version(
        settings.workspace.dataset_dir("demo")
    )
    from serving.batch import latest_scores

    assert latest_scores(settings).metadata["lineage"]["feature_table"] == table["id"]

    # The same file again, with the same settings (the models' training settings are part of
    # their lineage): every row is already there, so the dataset keeps its version and
    # nothing after the ingest runs.
    code, again = _refresh(trained_copy, str(week), env=few_rounds())
    assert code == 0 and again["ran"] == ["ingest"], again
    added = again["steps"][0]["detail"]["files"][0]["tables"]["events"]
    assert added["rows_loaded"] == 0 and added["reasons"] == {
        "already_ingested": added["rows_read"]
    }
    assert again["steps"][0]["detail"]["files"][0]["unchanged"] is True
    # and the terminal says so, with the counts (it said only "appending 1 file(s)")
    assert f"  1 append; the last, of {week}:" in fresh["steps"][0]["detail"]["lines"]
    said = CliRunner().invoke(
        main, ["--home", str(trained_copy), "refresh", str(week)], env=few_rounds()
    )
    assert said.exit_code == 0, said.output
    read, ingested = added["rows_read"], added["reasons"]["already_ingested"]
    assert (
        f"    nothing new in {week}: the dataset keeps its version (1 append before); "
        "of this file:\n"
        f"    events: 0 rows loaded of {read:,}, {read:,} quarantined ({ingested:,} "
        "already_ingested)\n"
    ) in said.stdout


def test_refresh_seconds_are_its_wall_time_checks_included(trained_copy: Path) -> None:
    """An all-current refresh said `"seconds": 0.0`, and 0.0 for every step, however long its
    checks took (5 s of registry reads on online_retail): its seconds were the sum of the
    steps that ran. They are the run's wall time, and each step's include its checks."""
    started = time.perf_counter()
    code, current = _refresh(_uncompiled(trained_copy))
    wall = time.perf_counter() - started
    assert code == 0 and current["ran"] == [], current
    took = {s["step"]: s["seconds"] for s in current["steps"]}
    # every step's seconds within the run's (each rounded to 0.01 s), the run's within the call's
    assert sum(took.values()) <= current["seconds"] + 0.005 * len(took), (took, current)
    assert 0 < current["seconds"] <= wall + 0.005, (current["seconds"], wall)  # rounded
    # the checks (the registry read that found every model current) are most of the run: in
    # its steps' seconds, not lost to rounding as one quick step's would be (review 3 #4)
    assert sum(took.values()) >= current["seconds"] / 2, (took, current)


def test_refresh_checks_replaced_data_through_its_own_registry_client(
    trained_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`lineage.champions_of_replaced_data` opened a registry client of its own inside a
    refresh that already holds one; it takes the refresh's."""
    import sys

    opened_by: list[str] = []
    real = registry.client

    def counted(settings: Any, **kwargs: Any) -> Any:
        opened_by.append(sys._getframe(1).f_code.co_name)
        return real(settings, **kwargs)

    monkeypatch.setattr(registry, "client", counted)
    code, current = _refresh(_uncompiled(trained_copy))
    assert code == 0 and current["ran"] == [], current
    # the refresh's own, opened where it reads the registry (its train step's models_to_train)
    assert opened_by == ["models_to_train"], opened_by


def test_a_stopped_refresh_still_gives_its_document_and_keeps_what_it_did(
    trained_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`kill -INT` (or `kill -TERM`, a scheduler's stop) during a refresh printed nothing on
    stdout with --json, only "Aborted!" (or nothing) on stderr: not the step, nor that the
    append before it was kept. Now the document says it (status interrupted, the step, the
    steps done), with exit 128 + the signal (130, 143)."""
    import signal
    import uuid

    from lifecycle import steps

    _uncompiled(trained_copy)
    week = _next_week(trained_copy, tmp_path)

    def ctrl_c(_settings: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(steps, "build_features", ctrl_c)
    code, stopped = _refresh(trained_copy, str(week))
    assert code == 130 and stopped["status"] == "interrupted" and stopped["step"] == "features"
    assert stopped["ran"] == ["ingest"] and stopped["exit_code"] == 130
    assert stopped["error"] == (
        "stopped (SIGINT) during the features step: ingest done and kept; the features step "
        "left what it writes as it was; `lifecycle refresh` runs what is left"
    )
    monkeypatch.undo()
    # SIGTERM in a process of its own, mid-way through the next file's ingest (its first
    # rows staged): the dataset stays as the first refresh left it.
    settings = load_settings(home=trained_copy, environ={})
    version = lineage.dataset_version(settings.workspace.dataset_dir("demo"))
    (tmp_path / "later").mkdir()
    later = _next_week(trained_copy, tmp_path / "later")
    marker = tmp_path / f"reached-{uuid.uuid4().hex}"
    code, out, err = stopped_at(
        "ingest",
        marker,
        signal.SIGTERM,
        "--home",
        str(trained_copy),
        "--json",
        "refresh",
        str(later),
    )
    document = json.loads(out)
    assert code == 143 and document["exit_code"] == 143, err
    assert document["status"] == "interrupted" and document["step"] == "ingest", document
    assert document["ran"] == [] and "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        "Error: stopped (SIGTERM) during the ingest step: the ingest step left what it writes "
        "as it was; `lifecycle refresh` runs what is left"
    )
    assert lineage.dataset_version(settings.workspace.dataset_dir("demo")) == version


def test_refresh_refusal_exits_1_with_one_line(trained_copy: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,when\nu1,2026-01-01\n")
    result = CliRunner().invoke(main, ["--home", str(trained_copy), "refresh", str(bad)])
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert result.exit_code == 1 and len(errors) == 1 and "Traceback" not in result.output
    assert "bad.csv" in errors[0]


def test_a_retraining_that_keeps_the_champion_exits_0_naming_it(trained_copy: Path) -> None:
    """A weekly cron refresh exited 3 (not_promoted) every week a retrained model lost to its
    champion (trial W, online_retail), though that champion still served: now 0, with the
    task, the gate's verdict and the serving champion in ``not_promoted``; 3 is left for a
    task that could not be trained or that no champion serves (test_label_free)."""
    _uncompiled(trained_copy)
    env = {  # churn's LightGBM values changed: only churn is stale; no lead of 0.5 is reached
        "LIFECYCLE_TRAINING__MODELS__CHURN__NUM_BOOST_ROUND": "20",
        "LIFECYCLE_TRAINING__MIN_IMPROVEMENT": "0.5",
    }
    ran = CliRunner().invoke(main, ["--home", str(trained_copy), "--json", "refresh"], env=env)
    code, kept = ran.exit_code, json.loads(ran.stdout)
    assert code == 0 and kept["status"] == "ok", kept
    [train] = [step for step in kept["steps"] if step["step"] == "train"]
    [churn] = train["detail"]["models"]
    # the training's own progress on stderr, as `lifecycle train` says it: the train step
    # said only '... still train: <why>' every 10 s (helper C, session 46: 6-7 minutes)
    said = [line.split("] ", 1)[1] for line in ran.stderr.splitlines() if line.startswith("[")]
    start = said.index(f"train: {train['why']}")
    trained = [line for line in said[start + 1 :] if line.startswith("churn: ")]
    assert [line.split(" on ")[0].split(" (")[0] for line in trained] == [
        "churn: building the training set through Feast",
        "churn: fitting LightGBM",
        "churn: evaluating against baselines",
        "churn: refitting",
        f"churn: registered demo-churn version {churn['version']}; checking the promotion gate",
        *(  # a rule that beat LightGBM is registered in its place (recency_rule here)
            [
                f"churn: the baseline {churn['baseline']['kind']} won; registering it as a servable model"
            ]
            if churn["baseline"]
            else []
        ),
    ], said
    assert said.index(trained[-1]) < said.index(next(s for s in said if s.startswith("score:")))
    assert train["status"] == "ran" and churn["task"] == "churn", train
    assert not churn["promoted"] and churn["champion"] is None, churn
    assert kept["not_promoted"] == {
        "churn": {"why": churn["gate"], "trained": True, "champion": "1"}
    }
    settings = load_settings(home=trained_copy, environ={})
    assert registry.champion_versions(registry.client(settings), "demo")["churn"] == "1"
    # the text output names the champion that still serves (it said only the gate's verdict)
    said = RefreshResult("demo", not_promoted=kept["not_promoted"]).lines()
    assert said[-1] == (
        "  churn: the retrained model did not beat its champion v1, which keeps serving "
        "(see --json not_promoted)"
    ), said


def test_a_challenger_held_for_its_label_definition_exits_3_saying_how_to_accept(
    trained_copy: Path,
) -> None:
    """A changed label definition (churn's horizon 90 -> 60 days) holds the retrained churn
    back: refresh exited 0 (status ok), and later refreshes find it current, so the new
    definition never served and nothing said so but one JSON field. Now 3, and the text
    output says how to accept it. Session 44: --json's ``why`` (and the train step's line)
    named `lifecycle train churn --accept-definition-change REASON` or `lifecycle promote ...`
    while the text named `lifecycle refresh --accept-definition-change REASON`: refresh's
    own now, in both, as its train step's gate and a later refresh's waiting verdict."""
    _uncompiled(trained_copy)
    env = {"LIFECYCLE_LABELS__CHURN_HORIZON_DAYS": "60", **few_rounds()}
    code, held = _refresh(trained_copy, env=env)
    assert code == 3, held
    accept = "; accept it with `lifecycle refresh --accept-definition-change REASON`"
    assert held["not_promoted"]["churn"]["why"].endswith(accept), held["not_promoted"]
    [train] = [step for step in held["steps"] if step["step"] == "train"]
    assert "`lifecycle train" not in json.dumps(train), train
    assert "`lifecycle promote" not in json.dumps(train), train
    said = CliRunner().invoke(main, ["--home", str(trained_copy), "refresh"], env=env)
    assert said.exit_code == 3, said.output
    assert (
        "  churn: held back, its label definition differs from champion v1's, which keeps "
        "serving the old one; to let the new definition replace it: "
        "`lifecycle refresh --accept-definition-change REASON`"
    ) in said.stdout.splitlines(), said.output
    settings = load_settings(home=trained_copy, environ=env)
    client = registry.client(settings)
    assert registry.champion_versions(client, "demo")["churn"] == "1"
    name = registry.model_name("demo", "churn")
    newest = max(client.search_model_versions(f"name = '{name}'"), key=lambda v: int(v.version))
    assert newest.tags[registry.GATE_TAG].startswith(registry.DEFINITION_HELD), newest.tags
    # the next refresh finds churn current (nothing to train), yet it still waits: said again
    again = CliRunner().invoke(main, ["--home", str(trained_copy), "--json", "refresh"], env=env)
    assert again.exit_code == 3, again.output
    report = json.loads(again.stdout)
    assert [s["status"] for s in report["steps"] if s["step"] == "train"] == ["skipped"], report
    waits = report["not_promoted"]["churn"]
    assert waits["champion"] == "1" and waits["why"].startswith(registry.DEFINITION_HELD), waits
    assert waits["why"].endswith(accept), waits
    # a verdict stored before 2efb577 asked `promote` for --force too: refresh named it
    old = newest.tags[registry.GATE_TAG].replace(
        "--accept-definition-change`", "--accept-definition-change --force`"
    )
    assert "--reason REASON --accept-definition-change --force`" in old, old
    client.set_model_version_tag(name, newest.version, registry.GATE_TAG, old)
    stored = CliRunner().invoke(main, ["--home", str(trained_copy), "--json", "refresh"], env=env)
    assert json.loads(stored.stdout)["not_promoted"]["churn"]["why"].endswith(accept), stored.stdout
    accepted = CliRunner().invoke(
        main,
        ["--home", str(trained_copy), "refresh", "--accept-definition-change", "product asked"],
        env=env,
    )
    assert accepted.exit_code == 0, accepted.output
    # the accepted definition serves now (a version trained with it; v1 had 90 days)
    assert int(registry.champion_versions(client, "demo")["churn"]) >= int(newest.version)


def test_refresh_of_a_raw_file_names_the_ingest_that_maps_it(
    trained_copy: Path, tmp_path: Path
) -> None:
    week = pd.read_parquet(_next_week(trained_copy, tmp_path))
    raw = tmp_path / "raw.csv"  # the source system's own column names
    week.rename(columns={c.USER_ID: "CustomerID", c.EVENT_TIME: "InvoiceDate"}).to_csv(
        raw, index=False
    )
    result = CliRunner().invoke(main, ["--home", str(trained_copy), "refresh", str(raw)])
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert result.exit_code == 1 and len(errors) == 1, result.output
    hint = f"lifecycle ingest {raw} --dataset demo --append --map CONTRACT=SOURCE"
    assert hint in errors[0] and "then run `lifecycle refresh --dataset demo`" in errors[0]
    # The hint works: the same file goes in with the mapping it names.
    maps = ["--map", "user_id=CustomerID", "--map", "event_time=InvoiceDate"]
    ingest = [str(raw), "--dataset", "demo", "--append", *maps]
    done = CliRunner().invoke(main, ["--home", str(trained_copy), "ingest", *ingest])
    assert done.exit_code == 0, done.output


def test_refresh_reloads_a_running_service_when_scores_changed(
    trained_copy: Path, tmp_path: Path
) -> None:
    from services import lifecycle_serve

    # An address no service answers (exit 1, one Error line naming the reload): in
    # test_a_reload_that_failed_is_tried_again_by_the_next_refresh, whose first refresh
    # also makes new scores (one scoring and report fewer than a refresh of its own here).
    _uncompiled(trained_copy)
    (trained_copy / "scores" / "latest.parquet").unlink()  # the scores must be made again
    with lifecycle_serve(trained_copy, tmp_path / "serve") as base:
        code, done = _refresh(trained_copy, "--reload-url", base)
        # A refresh whose training promoted: the worker follows the registry before the
        # reload reaches it, so only the refresh knows what was served before it.
        served = dict(done["steps"][-1]["detail"]["model_versions"])
        older = {**served, "churn": "0"}
        moved = reload_service(load_settings(home=trained_copy, environ={}), base, older)
        # A refresh of another dataset given this service's address: the reload "ran",
        # with demo's champions as the orders dataset's, every task "changed".
        mirror = aliases_mirror.aliases_file(
            registry.tracking_uri(load_settings(home=trained_copy))
        )
        reloads = aliases_mirror.mirror_reloads(aliases_mirror.read_mirror_document(mirror))
        orders = load_settings(home=trained_copy, environ={}, dataset="orders")
        with pytest.raises(UserError) as other:
            reload_service(orders, base, {})
        assert aliases_mirror.mirror_reloads(aliases_mirror.read_mirror_document(mirror)) == reloads
        assert str(other.value) == (
            f"the service at {base} serves dataset demo, not orders: not reloaded; give "
            "--reload-url the address of the service of dataset orders (started with "
            "`lifecycle serve --dataset orders`)"
        )
    assert moved["dataset"] == "demo" and done["steps"][-1]["detail"]["dataset"] == "demo"
    assert moved["previous_versions"] == older and moved["model_versions"] == served
    assert moved["changed"] == ["churn"]
    assert code == 0, done
    assert done["ran"] == ["score", "report", "reload"]
    reload = next(s for s in done["steps"] if s["step"] == "reload")
    assert reload["detail"]["model_versions"]["churn"]
    # what was served before this refresh (it promoted nothing): the same, nothing changed
    assert reload["detail"]["previous_versions"] == reload["detail"]["model_versions"]
    assert reload["detail"]["changed"] == []


def test_a_reload_that_failed_is_tried_again_by_the_next_refresh(trained_copy: Path) -> None:
    """A service that refused /reload (or could not be reached) stayed on what it served:
    the next refresh found no model or scores changed and skipped the reload, exit 0, not a
    word. Each later refresh tries again, saying why, until one reaches the service."""
    from services import free_port

    _uncompiled(trained_copy)
    unreachable = f"http://127.0.0.1:{free_port()}"
    (trained_copy / "scores" / "latest.parquet").unlink()  # the scores must be made again
    refresh = ["--home", str(trained_copy), "refresh", "--reload-url", unreachable]
    result = CliRunner().invoke(main, ["--json", *refresh])
    assert "Traceback" not in result.output, result.output
    code, first = result.exit_code, json.loads(result.stdout)
    assert code == 1 and first["step"] == "reload", first
    assert first["ran"] == ["score", "report"]
    # one Error line says why, with --json and without (the text refresh tries again)
    for said in (result, CliRunner().invoke(main, refresh)):
        errors = [line for line in said.stderr.splitlines() if line.startswith("Error:")]
        assert said.exit_code == 1 and len(errors) == 1, said.output
        assert f"reload of the service at {unreachable} failed" in errors[0]
    code, quiet = _refresh(trained_copy)
    assert code == 0 and quiet["ran"] == []
    reload = next(s for s in quiet["steps"] if s["step"] == "reload")
    assert reload["why"].startswith("no running service configured (--reload-url); the last ")
    assert f"reload of the service at {unreachable} failed" in reload["why"]
    code, again = _refresh(trained_copy, "--reload-url", unreachable)
    assert code == 1 and again["step"] == "reload", again  # tried, though nothing changed
    failed = next(s for s in again["steps"] if s["step"] == "reload")
    assert failed["status"] == "failed"
    assert failed["why"].startswith(f"POST {unreachable}/reload: the last refresh's reload failed")


@pytest.mark.parametrize("url", ["localhost:3000", "http://[::1", "http://127.0.0.1:0"])
def test_a_reload_url_that_is_no_address_is_refused_before_any_step(
    tmp_path: Path, url: str
) -> None:
    """A typo in --reload-url (LIFECYCLE_RELOAD_URL) was found only by the reload, after the
    training: 'localhost:3000' failed then, 'http://[::1' with a traceback (InvalidURL)."""
    for args, env in (([], {"LIFECYCLE_RELOAD_URL": url}), (["--reload-url", url], {})):
        result = CliRunner().invoke(main, ["--home", str(tmp_path), "refresh", *args], env=env)
        errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
        assert result.exit_code == 2 and len(errors) == 1, result.output
        assert f"{url!r} is not the service's http:// or https:// address" in errors[0]
        assert "Traceback" not in result.output


def test_a_reload_answered_by_another_server_says_so(tmp_path: Path) -> None:
    """A 200 that is no JSON (a web server on that port) failed with a JSONDecodeError."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Page(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<html>it works</html>")

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        with pytest.raises(UserError, match="answered 200 without the service's JSON"):
            reload_service(load_settings(home=tmp_path, environ={}), url, {})
    finally:
        server.shutdown()


def test_refresh_refusal_with_json_is_a_document(trained_copy: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,when\nu1,2026-01-01\n")
    code, document = _refresh(trained_copy, str(bad))
    assert code == 1 and document["exit_code"] == 1
    assert document["status"] == "failed" and document["step"] == "ingest"
    assert "bad.csv" in document["error"]
    assert document["steps"][-1]["status"] == "failed" and document["ran"] == []


def test_refresh_of_a_dataset_the_workspace_lacks_is_refused_before_any_step(
    tmp_path: Path,
) -> None:
    """Without --dataset after `import online-retail`, refresh went on to build the features
    of 'demo' ("dataset 'demo' has no feature table") and failed there, naming that step."""
    code, document = _refresh(tmp_path)
    assert code == 1 and document["status"] == "failed" and document["step"] == "ingest"
    assert document["error"] == (
        f"refresh: no dataset 'demo' in {tmp_path}: ingest or import it first"
    ), document["error"]
    assert [s["step"] for s in document["steps"]] == ["ingest"]
    # New files do not start a dataset under the settings' default name either: the user's
    # data would silently become 'demo' (issue 12); under a name given, they do.
    new = tmp_path / "shop.csv"
    new.write_text("user_id,event_time,event_type\nu1,2025-01-01 10:00,session\n")
    code, document = _refresh(tmp_path, str(new))
    assert code == 1 and document["step"] == "ingest", document
    assert document["error"].startswith("refresh: no dataset 'demo' in "), document["error"]
    assert not (tmp_path / "datasets").exists()
    code, document = _refresh(tmp_path, str(new), "--dataset", "shop")
    assert document["steps"][0] == {**document["steps"][0], "step": "ingest", "status": "ran"}
    assert (tmp_path / "datasets" / "shop" / "events.parquet").is_file()


def test_a_refresh_that_cannot_train_several_tasks_says_so_in_plain_words(tmp_path: Path) -> None:
    """Session 43 worded a refusal by what was asked ('train all refused'), so refresh's
    train step, which asks for the stale tasks by name, read 'train churn, conversion, ltv
    refused: ...'. It says what it could not do now."""
    new = tmp_path / "shop.csv"
    new.write_text("user_id,event_time,event_type\nu1,2025-01-01 10:00,session\n")
    home = ["--home", str(tmp_path)]
    ingested = CliRunner().invoke(main, [*home, "ingest", str(new), "--dataset", "shop"])
    assert ingested.exit_code == 0, ingested.output
    settings = load_settings(home=tmp_path, environ={"LIFECYCLE_DATASET": "shop"})
    with pytest.raises(UserError) as refused:  # its feature table is not built
        train_detail(settings, ["churn", "conversion", "ltv"], None)
    assert str(refused.value).startswith(
        "refresh could not train churn, conversion and ltv: dataset 'shop' has no feature "
        "table; run `lifecycle features build --dataset shop`"
    ), refused.value
    with pytest.raises(UserError) as refused:
        train_detail(settings, ["ltv"], None)
    assert str(refused.value).startswith("refresh could not train ltv: dataset 'shop' has no ")


def test_a_training_stopped_before_the_gate_is_trained_again(trained_copy: Path) -> None:
    """Ctrl-C between a version's registration and its gate left it the newest, learned from
    the current feature table: refresh skipped train ('every model learned from the current
    feature table'), the fresher model never judged and the champion on older data."""
    settings = load_settings(home=trained_copy, environ={})
    client = registry.client(settings)
    assert model_problem(settings, client, "demo", "ltv") is None
    newest = max(client.search_model_versions("name = 'demo-ltv'"), key=lambda v: int(v.version))
    verdicts = (registry.GATE_TAG, registry.PROMOTION_TAG, registry.GATE_PASSED_TAG)
    tags = {k: v for k, v in newest.tags.items() if k not in verdicts}
    stopped = client.create_model_version(
        "demo-ltv", source=newest.source, run_id=newest.run_id, tags=tags
    ).version
    assert model_problem(settings, client, "demo", "ltv") == (
        f"ltv v{stopped} was never judged by the promotion gate (its training stopped before "
        "the gate or before the champions of its run moved, or it was registered by hand)"
    )


def test_scoring_after_a_column_went_away_names_it_and_the_way_back(
    trained_copy: Path, tmp_path: Path
) -> None:
    """`ingest --replace` of the events alone (the users table, with `country`, gone), then
    features build and apply: score-all and refresh's score step were Feast's ValueError
    traceback ('The projection for user_profile cannot be applied ...'). A real server
    started in that state said only `run lifecycle features materialize` (the view's online
    table is new and empty), which led to the lost column; now both, the column first."""
    events = tmp_path / "events.parquet"
    shutil.copy(trained_copy / "datasets" / "demo" / "events.parquet", events)
    home = ["--home", str(trained_copy), "--quiet"]
    runner = CliRunner()
    ingest = ["ingest", str(events), "--dataset", "demo", "--replace"]
    assert runner.invoke(main, [*home, *ingest]).exit_code == 0
    # Building the table, then applying the views, that would stop the champions is
    # refused, each keeping what serving reads; forced, each goes on.
    table = trained_copy / "features" / "demo" / "user_features.parquet"
    kept = table.read_bytes()
    refused = runner.invoke(main, [*home, "features", "build"])
    assert refused.exit_code == 1 and table.read_bytes() == kept, refused.output
    assert (
        refused.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "Error: features build: the new feature table of 'demo' lacks what champions read "
            "(demo-churn v1 reads country, device; "
        )
    ), refused.stderr
    forced = runner.invoke(main, [*home, "features", "build", "--drop-champion-inputs"])
    assert forced.exit_code == 0 and table.read_bytes() != kept, forced.output
    mirror = trained_copy / "feast" / "demo" / "registry.json"  # what serving reads
    before = mirror.read_bytes()
    refused = runner.invoke(main, [*home, "features", "apply"])
    assert refused.exit_code == 1, refused.output
    assert (
        refused.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "Error: features apply: the new Feast repository of 'demo' lacks what champions read "
            "(demo-churn v1 reads country, device; "
        )
    ), refused.stderr
    assert mirror.read_bytes() == before
    forced = runner.invoke(main, [*home, "features", "apply", "--drop-champion-inputs"])
    assert forced.exit_code == 0, forced.output
    lost = (
        "asks feature view user_profile for country, which the dataset no longer has (its "
        "columns changed since: a users table dropped or renamed?)"
    )
    result = runner.invoke(main, [*home, "score-all"])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "Error: cannot score with every champion: champion demo-churn v1 reads feature "
            f"service 'churn_v1', which {lost}: train a model on the current service with "
            "`lifecycle train churn`"
        )
    )
    # features show (and /score) read the online store by the same plan: it was a KeyError.
    # Without --service it shows churn's service of the current table (17c9b90); the
    # champion's service, named, says what it lost
    shown = runner.invoke(main, [*home, "features", "show", "u0000001"])
    assert shown.exit_code == 0 and "country" not in shown.stdout, shown.output
    show = ["features", "show", "u0000001", "--service", "churn_v1"]
    result = runner.invoke(main, [*home, *show])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: feature service churn_v1 (what the models learned from) {lost}: retrain with "
        "`lifecycle train all`, or bring the dataset back with `lifecycle datasets restore`"
    )
    served_lost_column(trained_copy, lost)


def test_a_changed_windows_setting_keeps_the_feature_table_the_champions_read(
    trained_copy: Path,
) -> None:
    """features.windows_days [30, 90]: build and apply took every champion offline at once,
    and the server's 503 asked to materialize, which could not help."""
    runner = CliRunner()
    home = ["--home", str(trained_copy), "--quiet"]
    table = trained_copy / "features" / "demo" / "user_features.parquet"
    before = table.read_bytes()
    narrower = {"LIFECYCLE_FEATURES__WINDOWS_DAYS": "[30, 90]"}
    for command in (["features", "build"], ["refresh", "--dataset", "demo"]):
        refused = runner.invoke(main, [*home, *command], env=narrower)
        assert refused.exit_code == 1 and table.read_bytes() == before, refused.output
        said = refused.stderr.strip().splitlines()[-1]
        assert "lacks what champions read (demo-churn v1 reads " in said, said
        assert "_7d" in said and "features.windows_days is [30, 90]" in said
    assert "`lifecycle features apply --drop-champion-inputs`, then `lifecycle train all`" in said
    # Built anyway: score-all says which champions cannot read it (it was DuckDB's traceback)
    forced = runner.invoke(
        main, [*home, "features", "build", "--drop-champion-inputs"], env=narrower
    )
    assert forced.exit_code == 0, forced.output
    scored = runner.invoke(main, [*home, "score-all"], env=narrower)
    assert scored.exit_code == 1 and "Traceback" not in scored.output, scored.output
    line = scored.stderr.strip().splitlines()[-1]
    assert line.startswith(
        "Error: cannot score with every champion: champion demo-churn v1 reads "
    ), line
    assert "which the feature table no longer has (built with --drop-champion-inputs)" in line
    same = runner.invoke(main, [*home, "features", "build"])  # the settings the models know
    assert same.exit_code == 0, same.output


def served_lost_column(home: Path, lost: str) -> None:
    """A real ``bentoml serve`` (one worker) started on ``home`` in that state: never ready,
    /readyz and /score say which champion lost which column, then why the online store cannot
    answer; materialized and reloaded, the same refusal; never a traceback, never a score."""
    import time

    import httpx
    from services import bentoml_server

    def reasons() -> list[str]:
        """The 503 of /readyz, /score and /score_features, once the start has finished."""
        answers = [httpx.get(f"{base}/readyz", timeout=30)] + [
            httpx.post(f"{base}/{route}", json=body, timeout=30)
            for route, body in (
                ("score", {"user_ids": ["u0000001"]}),
                ("score_features", {"users": [{"user_id": "p", "features": {}}]}),
            )
        ]
        assert [a.status_code for a in answers] == [503] * 3, [a.text for a in answers]
        return [a.json()["error"].removeprefix("not ready: ") for a in answers]

    unserved = "no model can serve churn, conversion, ltv: " + "; ".join(
        f"{task}: champion demo-{task} v1 reads feature service '{task}_v1', which {lost}: "
        f"train a model on the current service with `lifecycle train {task}`, and if the gate "
        f'keeps v1, serve the new one with `lifecycle promote {task} challenger --reason "'
        f'{task}_v1 unavailable" --force`'
        for task in ("churn", "conversion", "ltv")
    )
    with bentoml_server(home, {}) as base:
        deadline = time.monotonic() + 120
        while "still loading" in httpx.get(f"{base}/readyz", timeout=30).text:
            assert time.monotonic() < deadline, "the service never finished its start"
            time.sleep(0.2)
        online = home / "feast" / "demo" / "online.db"
        empty = f"the online store {online} has no rows for user_profile: run `lifecycle "
        assert reasons() == [f"{unserved}; and {empty}features materialize`"] * 3
        run_cli(home, "features", "materialize")
        reloaded = httpx.post(f"{base}/reload", json={}, timeout=120)
        assert reloaded.status_code == 200, reloaded.text
        assert reloaded.json()["model_versions"] == {}
        assert all(lost in why for why in reloaded.json()["unavailable"].values())
        assert reasons() == [unserved] * 3
    log = (home / "server.log").read_text()
    assert "Traceback" not in log and "country" in log


def test_a_model_trained_with_other_training_settings_is_trained_again(trained_copy: Path) -> None:
    """`refresh` said every model learned from the current feature table after the LightGBM
    values of churn changed: the lineage held the features and labels settings only."""
    settings = load_settings(home=trained_copy, environ={})
    client = registry.client(settings)
    assert model_problem(settings, client, "demo", "churn") is None
    leaves = {"LIFECYCLE_TRAINING__MODELS": '{"churn": {"num_leaves": 7}}'}
    changed = load_settings(home=trained_copy, environ=leaves)
    assert model_problem(changed, client, "demo", "churn") == (
        "churn v1 was trained with other training settings"
    )
    assert model_problem(changed, client, "demo", "ltv") is None  # another task's values
    seed = load_settings(home=trained_copy, environ={"LIFECYCLE_TRAINING__SEED": "8"})
    assert (
        model_problem(seed, client, "demo", "ltv")
        == "ltv v1 was trained with other training settings"
    )
    plots = load_settings(home=trained_copy, environ={"LIFECYCLE_TRAINING__PLOTS": "false"})
    assert model_problem(plots, client, "demo", "churn") is None  # the same model either way


SHOP_HEADER = "user_id,event_time,event_type,amount\n"


def _shop(home: Path, tmp_path: Path) -> None:
    first = tmp_path / "first.csv"
    first.write_text(SHOP_HEADER + "u1,2025-01-01 10:00,purchase,5\nu2,2025-01-02 10:00,session,\n")
    ingested = CliRunner().invoke(
        main, ["--home", str(home), "ingest", str(first), "--dataset", "shop"]
    )
    assert ingested.exit_code == 0, ingested.output


RETAIL_HEADER = (
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
)


@pytest.mark.parametrize("given", ["", "--users", "--source"])
def test_a_header_only_day_is_nothing_new_and_the_stale_steps_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    """A daily export of a day without orders (a header, no rows) failed the refresh's ingest
    ('no data rows', exit 1), and the stale steps after it waited for the next day. It is
    nothing new now: the ingest step runs, the dataset keeps its version, features go on;
    so too with --source online-retail (a header of its invoice lines), which still failed.
    With --users the users file is read and updates the users table (sign-ups without
    activity are real): a new version, whose features then run."""
    from lifecycle import steps

    home = tmp_path / "workspace"
    sunday = tmp_path / "sunday.csv"
    sunday.write_text(SHOP_HEADER)
    name, options = "shop", []
    if given == "--source":
        name, options = "online_retail", ["--source", "online-retail"]
        month = tmp_path / "month.csv"
        month.write_text(RETAIL_HEADER + "536365,85123A,HEART,6,2010-12-01 08:26,2.55,17850,UK\n")
        imported = CliRunner().invoke(
            main, ["--home", str(home), "import", "online-retail", str(month)]
        )
        assert imported.exit_code == 0, imported.output
        sunday.write_text(RETAIL_HEADER)
    else:
        _shop(home, tmp_path)
    if given == "--users":
        users = tmp_path / "users.csv"
        users.write_text("user_id,signup_time\nu1,2024-12-01\nu2,2024-12-02\n")
        options = ["--users", str(users)]
    version = lineage.dataset_version(home / "datasets" / name)

    def reached(_settings: object) -> None:  # the features step began: stop there
        raise KeyboardInterrupt

    monkeypatch.setattr(steps, "build_features", reached)
    code, document = _refresh(home, str(sunday), "--dataset", name, *options)
    assert code == 130 and document["step"] == "features", document
    ingest = document["steps"][0]
    file = ingest["detail"]["files"][0]
    assert ingest["status"] == "ran" and document["ran"] == ["ingest"]
    assert file["tables"]["events"]["notes"]["header_only"] is True, file
    if given == "--users":  # the users table updated: a new version
        assert "unchanged" not in file and "appended" in ingest["detail"], ingest
        assert lineage.dataset_version(home / "datasets" / name) != version
        assert file["tables"]["users"]["notes"]["users_added"] == 2, file
        return
    assert file["unchanged"] is True and "appended" not in ingest["detail"]
    assert lineage.dataset_version(home / "datasets" / name) == version


def test_a_refresh_refused_at_its_second_file_says_the_first_stays_appended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`refresh A B` whose B was refused had appended A, but said `ran: []`, an empty ingest
    detail and "0 step(s) ran": a scheduler logged that nothing happened. Each file is a
    version of its own: the ingest step now names the files appended and the dataset
    version (`detail.appended`, `ran`, the error), refused or stopped. The refusal's
    command keeps the option it names (--delimiter ';'), which it dropped."""
    from features import ingest

    home = tmp_path / "workspace"
    _shop(home, tmp_path)
    day = tmp_path / "day.csv"
    day.write_text(SHOP_HEADER + "u1,2025-01-03 10:00,purchase,7\n")
    semicolons = tmp_path / "semicolons.csv"
    semicolons.write_text(SHOP_HEADER.replace(",", ";") + "u2;2025-01-04 10:00;purchase;3\n")
    code, document = _refresh(home, str(day), str(semicolons), "--dataset", "shop")
    version = lineage.dataset_version(home / "datasets" / "shop")
    assert code == 1 and document["status"] == "failed" and document["step"] == "ingest"
    assert document["ran"] == ["ingest"], document
    step = document["steps"][0]
    assert step["status"] == "failed"
    assert step["detail"]["appended"] == {"files": [str(day)], "dataset_version": version}
    assert [f["file"] for f in step["detail"]["files"]] == [str(day)]
    assert (
        f"`lifecycle ingest {semicolons} --dataset shop --append --delimiter ';'`"
        in (document["error"])
    )
    assert document["error"].endswith(
        f"; {day} stays appended (dataset version {version}; given again, its rows are "
        "already_ingested)"
    )
    # stopped during the next file: the files before it are said kept, not "left as it was"
    later = tmp_path / "later.csv"
    later.write_text(SHOP_HEADER + "u1,2025-01-05 10:00,purchase,9\n")
    appended = ingest.ingest_events

    def stopped_at_semicolons(path: Path, *args: object, **kwargs: object) -> object:
        if path == semicolons:
            raise KeyboardInterrupt
        return appended(path, *args, **kwargs)

    monkeypatch.setattr(ingest, "ingest_events", stopped_at_semicolons)
    code, document = _refresh(home, str(later), str(semicolons), "--dataset", "shop")
    version = lineage.dataset_version(home / "datasets" / "shop")
    assert code == 130 and document["status"] == "interrupted" and document["ran"] == ["ingest"]
    assert document["error"] == (
        f"stopped (SIGINT) during the ingest step: {later} stays appended (dataset version "
        f"{version}; given again, its rows are already_ingested); `lifecycle refresh` runs "
        "what is left"
    )


def test_a_refresh_of_an_online_retail_month_offers_keep_repeats_as_import_append_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`refresh --source online-retail` of a month with repeated invoice lines counted its
    duplicate_row rows without the `--keep-repeats` hint `import online-retail --append` of
    the same file gives (online_retail September: "363 duplicate_row rows: the same in every
    column as another row of this file" and nothing more). The two say it alike now, and
    refresh takes the --keep-repeats it names (it had no such option)."""
    from lifecycle import steps

    month = tmp_path / "month.csv"
    month.write_text(RETAIL_HEADER + "536365,85123A,HEART,6,2010-12-01 08:26,2.55,17850,UK\n")
    line = "536400,22423,CAKE STAND,1,2010-12-08 09:02,12.75,17850,UK\n"
    later = tmp_path / "later.csv"
    later.write_text(RETAIL_HEADER + line + line)
    said = {}
    for command in ("import", "refresh"):
        home = tmp_path / command
        imported = CliRunner().invoke(
            main, ["--home", str(home), "import", "online-retail", str(month)]
        )
        assert imported.exit_code == 0, imported.output
        if command == "import":
            appended = CliRunner().invoke(
                main,
                ["--home", str(home), "import", "online-retail", str(later), "--append"],
            )
            assert appended.exit_code == 0, appended.output
            said[command] = appended.stdout
            continue

        def reached(_settings: object) -> None:  # the features step began: stop there
            raise KeyboardInterrupt

        monkeypatch.setattr(steps, "build_features", reached)
        code, document = _refresh(
            home, str(later), "--dataset", "online_retail", "--source", "online-retail"
        )
        assert code == 130 and document["step"] == "features", document
        said[command] = "\n".join(document["steps"][0]["detail"]["lines"])
    hint = (
        "1 duplicate_row rows: the same in every column as another row of this file; if they "
        "are separate events (two purchases at one moment, an item bought twice in one basket, "
        "invoice lines exported without their product), --keep-repeats loads every copy"
    )
    assert hint in said["import"] and hint in said["refresh"], said
    home = tmp_path / "kept"  # and refresh takes --keep-repeats, as the hint says
    assert CliRunner().invoke(main, ["--home", str(home), "import", "online-retail", str(month)])
    code, document = _refresh(
        home,
        str(later),
        "--dataset",
        "online_retail",
        "--source",
        "online-retail",
        "--keep-repeats",
    )
    assert code == 130 and document["step"] == "features", document
    events = document["steps"][0]["detail"]["files"][0]["tables"]["events"]
    assert (events["rows_loaded"], events["notes"]["repeats_kept"]) == (2, 1), events
