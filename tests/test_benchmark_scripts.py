"""Benchmark scripts of experiments/ that no other test runs, run with their smallest
parameters (as MLflow runs every example script in CI): a script nobody runs rots.

Each test runs the script's ``main`` in this process (``experiment_runs.run_main``), checks
what it promises (its fields, finite ratios, its same-output check) and, with ``--doc``,
that it writes its block into a copy of the doc and its results into a folder of the test's
(``--results-dir``), never into the repository's docs/.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from experiment_runs import run_main
from services import SharedServer
from workspaces import TrainedWorkspace

REPO = Path(__file__).resolve().parents[1]


def _recorded(tmp_path: Path, name: str, page: str = "benchmarks.md") -> tuple[Path, Path]:
    """A copy of docs/PAGE holding block ``name``, and a results folder, in tmp."""
    doc = tmp_path / page
    shutil.copyfile(REPO / "docs" / page, doc)
    assert f"<!-- BEGIN generated {name}:" in doc.read_text()
    return doc, tmp_path / "results"


def _block_from_results(doc: Path, results: Path, name: str) -> dict[str, Any]:
    """The block ``name`` the script wrote into ``doc``, checked against its results JSON
    rendered again (tests/test_docs.py's check); the recorded results."""
    sys.path.insert(0, str(REPO / "experiments"))
    from docblocks import blocks, rendered

    record = json.loads((results / f"{name}.json").read_text())
    assert record["experiment"] == f"{name}.py"
    assert record["command"].startswith(f"python experiments/{name}.py ")
    (block,) = [b for b in blocks(doc) if b.name == name]
    assert block.body == rendered(name, results)
    return record["results"]


def _finite(*values: Any) -> bool:
    return all(isinstance(v, int | float) and math.isfinite(v) and v > 0 for v in values)


def test_bench_ingest_connections_quick(tmp_path: Path) -> None:
    """A 300-row ingest, with and without a users file, and a 200-row append, once each way:
    the step-per-connection baseline opens more connections than the one the ingest now
    opens, and every ratio is a number; the users' check alone is timed both ways."""
    doc, results = _recorded(tmp_path, "bench_ingest_connections")
    printed = run_main(
        "bench_ingest_connections.py",
        *("--rows", "300", "--runs", "1", "--doc", str(doc), "--results-dir", str(results)),
        cwd=tmp_path,
    )
    document = _block_from_results(doc, results, "bench_ingest_connections")
    cases = {case["case"]: case for case in document["cases"]}
    assert set(cases) == {"fresh", "append", "users"}, document
    assert cases["fresh"]["rows"] == cases["users"]["rows"] == 300
    assert cases["append"]["rows"] == 200
    assert _finite(document["users_check"]["ms_before"], document["users_check"]["ms_now"])
    for case in cases.values():
        assert case["connections_now"] == 1 < case["connections_before"], case
        assert _finite(case["cpu_before"], case["cpu_now"], case["ratio"]), case
        assert f"{case['ratio']:.2f}x the baseline" in printed


def test_bench_list_reasons_quick(trained_workspace: TrainedWorkspace, tmp_path: Path) -> None:
    """One run over the shared workspace's scored users (read-only), both ways: the same
    reasons, the contributions' CPU a part of the whole, and the ratio a number."""
    doc, results = _recorded(tmp_path, "bench_list_reasons")
    home = str(trained_workspace.home)
    run_main(
        "bench_list_reasons.py",
        *("--home", home, "--runs", "1", "--doc", str(doc), "--results-dir", str(results)),
        cwd=tmp_path,
    )
    document = _block_from_results(doc, results, "bench_list_reasons")
    assert document["users"] > 0 and document["runs"] == 1
    assert document["same_words"] is True and document["contribution_rel_diff"] <= 1e-9
    assert _finite(document["cpu_words"], document["ratio"])
    # the kernel's compile: 0.00 s where an earlier process of the run left it cached
    assert math.isfinite(document["kernel_cpu"]) and document["kernel_cpu"] >= 0
    for way in ("baseline", "now"):
        assert _finite(document[f"contributions_{way}"], document[f"cpu_{way}"])
        assert document[f"contributions_{way}"] <= document[f"cpu_{way}"] + 0.01, document
    # the TreeSHAP built for each list (before) against the one saved per model version
    assert _finite(document["cpu_built"], document["saved_ratio"], document["small_ratio"])
    assert document["small_users"] == 10 and document["small_now_ms"] > 0
    assert home not in (results / "bench_list_reasons.json").read_text()  # "<trained workspace>"


def test_bench_not_scored_quick(trained_workspace: TrainedWorkspace, tmp_path: Path) -> None:
    """2,000 users drawn from the shared workspace's feature rows (read-only), once: both
    ways write the same ``not_scored`` text for every user, and the times are numbers."""
    doc, results = _recorded(tmp_path, "bench_not_scored")
    home = str(trained_workspace.home)
    run_main(
        "bench_not_scored.py",
        *("--home", home, "--users", "2000", "--runs", "1"),
        *("--doc", str(doc), "--results-dir", str(results)),
        cwd=tmp_path,
    )
    document = _block_from_results(doc, results, "bench_not_scored")
    assert document["users"] == 2000 and document["runs"] == 1
    assert document["same_text"] is True and document["not_scored_rows"] > 0
    assert _finite(document["baseline_cpu"], document["score_users_cpu"])
    assert home not in (results / "bench_not_scored.json").read_text()  # "<trained workspace>"


def test_bench_list_scores_quick(trained_workspace: TrainedWorkspace, tmp_path: Path) -> None:
    """3,000 users drawn from the shared workspace's scores rows (read-only), once: both
    ways give the same page, and the times and peaks are numbers."""
    doc, results = _recorded(tmp_path, "bench_list_scores")
    home = str(trained_workspace.home)
    run_main(
        "bench_list_scores.py",
        *("--home", home, "--users", "3000", "--runs", "1"),
        *("--doc", str(doc), "--results-dir", str(results)),
        cwd=tmp_path,
    )
    document = _block_from_results(doc, results, "bench_list_scores")
    assert document["users"] == 3000 and document["same_page"] is True
    assert _finite(document["baseline_cpu"], document["now_cpu"], document["now_rss"])
    assert home not in (results / "bench_list_scores.json").read_text()  # "<trained workspace>"


def test_bench_cli_startup_quick(tmp_path: Path) -> None:
    """One process of each call: a command's help imports none of the libraries and
    `lifecycle settings` only pydantic-settings (with the settings read first, and the
    training code, before 2026-12-07), each a fraction of importing everything."""
    doc, results = _recorded(tmp_path, "bench_cli_startup")
    run_main(
        "bench_cli_startup.py",
        *("--runs", "1", "--doc", str(doc), "--results-dir", str(results)),
        cwd=tmp_path,
    )
    document = _block_from_results(doc, results, "bench_cli_startup")
    calls = {call["call"]: call for call in document["calls"]}
    assert document["runs"] == 1 and _finite(document["cpu_everything"])
    for name, ratio in document["help_ratios"].items():
        settings = [] if name.endswith("--help") else ["pydantic_settings"]  # it shows them
        assert calls[name]["imported"] == settings, calls[name]
        assert "pydantic_settings" in calls[f"{name} (before)"]["imported"]
        assert _finite(ratio, calls[name]["cpu"], calls[name]["of_everything"])
        assert calls[name]["cpu"] < document["cpu_everything"]


@pytest.mark.real_data
def test_bench_online_retail_import_quick(shared_data: Path, tmp_path: Path) -> None:
    """online_retail's first 20,000 lines imported once each way: the same bytes written
    (events, users, guest rows, quarantine), and the ratio a number."""
    doc, results = _recorded(tmp_path, "bench_online_retail_import")
    run_main(
        "bench_online_retail_import.py",
        *("--rows", "20000", "--runs", "1", "--doc", str(doc), "--results-dir", str(results)),
        cwd=tmp_path,
    )
    document = _block_from_results(doc, results, "bench_online_retail_import")
    assert document["rows"] == 20_000 and document["same_bytes"] is True
    assert {"events.parquet", "quarantine/events.csv"} <= set(document["files"])
    assert _finite(document["cpu_baseline"], document["cpu_now"], document["ratio"])


def test_bench_padded_width_quick(tmp_path: Path) -> None:
    """A 20,000-row table, twice each way: the same width, and the load with the width kept
    beside the table reads no id (a fraction of the baseline's CPU)."""
    doc, results = _recorded(tmp_path, "bench_padded_width")
    run_main(
        "bench_padded_width.py",
        *("--rows", "20000", "--runs", "2", "--doc", str(doc), "--results-dir", str(results)),
        cwd=tmp_path,
    )
    document = _block_from_results(doc, results, "bench_padded_width")
    assert document["rows"] == 20_000 and document["width"] == 5 and document["same_width"]
    assert _finite(document["cpu_baseline"], document["cpu_record"])
    assert document["cpu_now"] <= document["cpu_baseline"], document


def test_bench_append_medians_quick(tmp_path: Path) -> None:
    """20,001 amounts (an odd count, an even one with the file's), once each way: the three
    medians read once are the checks' exact ones, and the histogram's equal them."""
    doc, results = _recorded(tmp_path, "bench_append_medians")
    run_main(
        "bench_append_medians.py",
        *("--rows", "20001", "--runs", "1", "--doc", str(doc), "--results-dir", str(results)),
        cwd=tmp_path,
    )
    document = _block_from_results(doc, results, "bench_append_medians")
    assert [case["amounts"] for case in document["cases"]] == ["prices", "distinct"]
    for case in document["cases"]:
        assert case["medians_one_read"] == case["medians_histogram"], case
        assert _finite(case["cpu_before"], case["cpu_now"], case["ratio_now"])
        assert _finite(case["ratio_one_read"], case["ratio_histogram"])


def test_bench_models_listing_quick(trained_workspace: TrainedWorkspace, tmp_path: Path) -> None:
    """One `lifecycle models` process each way: the same lines, every champion version listed,
    and the baseline imports LightGBM where the listing now imports none of the libraries."""
    doc, results = _recorded(tmp_path, "bench_models_listing")
    home = str(trained_workspace.home)
    run_main(
        "bench_models_listing.py",
        *("--home", home, "--runs", "1", "--doc", str(doc), "--results-dir", str(results)),
        cwd=tmp_path,
    )
    document = _block_from_results(doc, results, "bench_models_listing")
    assert document["same_output"] is True
    assert document["versions_listed"] >= 3  # churn, conversion, ltv: one version each at least
    assert _finite(document["cpu_before"], document["cpu_now"], document["ratio"])
    assert "lightgbm" in document["imported_before"] and document["imported_now"] == []


def test_bench_demo_data_quick(tmp_path: Path) -> None:
    """Two tiny sizes, each in its own process: events generated and counted, a write-only
    baseline timed beside them, and the doc's line of memory per user."""
    doc, results = _recorded(tmp_path, "bench_demo_data")
    printed = run_main(
        "bench_demo_data.py",
        *("--users", "100", "--users", "200", "--json"),
        *("--doc", str(doc), "--results-dir", str(results)),
        cwd=tmp_path,
    )
    document = _block_from_results(doc, results, "bench_demo_data")
    runs = document["runs"]
    assert json.loads(printed) == runs
    assert [run["users"] for run in runs] == [100, 200]
    assert runs[0]["events"] < runs[1]["events"]
    for run in runs:
        assert 0 < run["paying_users"] <= run["users"] and run["revenue"] > 0, run
        assert _finite(run["seconds"], run["baseline_write_seconds"], run["peak_rss_mb"]), run
        assert _finite(run["ratio_to_baseline"], run["events_mb"]), run
    assert "Peak memory grows by about" in doc.read_text()


def test_bench_serving_inprocess_quick(trained_workspace: TrainedWorkspace, tmp_path: Path) -> None:
    """Every case through LightGBM for 50 ms each (--no-compile: compiling the trees costs
    minutes, tests/test_compiled.py measures them), read-only over the shared workspace:
    each case timed over calls, against the floor measured in the same run."""
    doc, results = _recorded(tmp_path, "bench_serving_inprocess")
    home = str(trained_workspace.home)
    args = ("--home", home, "--seconds", "0.05", "--no-compile")
    printed = run_main(
        "bench_serving_inprocess.py",
        *(*args, "--doc", str(doc), "--results-dir", str(results)),
        cwd=tmp_path,
    )
    document = _block_from_results(doc, results, "bench_serving_inprocess")
    sys.path.insert(0, str(REPO / "experiments"))
    from bench_serving_inprocess import CASES

    result = document["in_process"]
    assert set(result["engines"]) == {"lightgbm"} and result["compiled_boosters"] == 0
    cases = result["engines"]["lightgbm"]
    assert set(cases) == set(CASES)
    for name, case in cases.items():
        assert case["calls"] >= 1 and _finite(case["cpu_p50_ms"], case["wall_p50_ms"]), name
        assert _finite(case["over_floor"]), name
        assert CASES[name] in printed
    assert cases["floor"]["over_floor"] == 1.0
    assert document["users"] > 0


def test_bench_blank_tail_quick(tmp_path: Path) -> None:
    """1,000 rows with and without 20,000 blank lines under them, each ingested in its own
    process: the same events and quarantine, the tail counted, the ratios numbers."""
    printed = run_main("bench_blank_tail.py", "--quick", "--json", cwd=tmp_path)
    result = json.loads(printed)
    assert result["identical"] is True, result
    assert (result["no_tail"]["skipped"], result["tail"]["skipped"]) == (0, 20_000)
    assert result["no_tail"]["rows_read"] == result["tail"]["rows_read"] == 1_001
    assert _finite(*(result[n][k] for n in ("no_tail", "tail") for k in ("seconds", "peak_rss_mb")))


def test_bench_refresh_quick(tmp_path: Path) -> None:
    """The demo of 500 users (the smallest whose conversion model trains) up to its last week,
    then that week three ways: the steps by hand (the baseline), `lifecycle refresh`, and
    refresh again with nothing new; each timed, the ratio printed and recorded."""
    doc, results = _recorded(tmp_path, "bench_refresh", "refresh.md")
    printed = run_main(
        "bench_refresh.py",
        *("--quick", "--doc", str(doc), "--results-dir", str(results)),
        cwd=tmp_path,
    )
    document = _block_from_results(doc, results, "bench_refresh")
    run = document["run"]
    assert json.loads(printed) == run
    assert run["users"] == 500 and run["week_days"] == 7 and run["quick"]
    every = ["ingest", "features", "online", "train", "score", "report"]
    assert list(run["by_hand"]["steps"]) == every, run
    assert _finite(*run["by_hand"]["steps"].values(), run["by_hand"]["seconds"]), run
    assert run["refresh"]["ran"] == every and run["refresh_current"]["ran"] == [], run
    assert _finite(run["refresh"]["seconds"], run["refresh_current"]["seconds"]), run
    assert run["ratio"] == round(run["refresh"]["seconds"] / run["by_hand"]["seconds"], 2)
    assert _finite(run["ratio"]) and "CI sizes (at most 100 rounds" in doc.read_text()


def test_bench_serving_quick(
    shared_server: SharedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The HTTP load on the workspace of the suite's shared server (a served copy, whose files
    are checked unchanged after), 0.2 s a row at 1 and 3 connections: the script starts its
    plain route, its bare-ASGI baseline and a real `bentoml serve` of 1 worker, nothing
    compiled; every target, size and concurrency measured without an error, the starts timed
    in order, and the ratios its block gives are numbers."""
    sys.path.insert(0, str(REPO / "experiments"))
    from bench_serving import BARE, BENTOML, PLAIN, QUICK_SECONDS, SCORER

    monkeypatch.setenv("BENTOML_HOME", str(tmp_path / "bentoml"))  # not ~/bentoml
    doc, results = _recorded(tmp_path, "bench_serving")
    home = str(shared_server.workspace.home)
    printed = run_main(
        "bench_serving.py",
        *("--home", home, "--quick", "--connections", "3"),
        *("--doc", str(doc), "--results-dir", str(results)),
        cwd=tmp_path,
    )
    document = _block_from_results(doc, results, "bench_serving")
    assert document["quick"] is True and document["seconds"] == QUICK_SECONDS
    assert (document["connections"], document["workers"]) == (3, [1])
    served = [(t, u, c) for t in (PLAIN, BARE, BENTOML) for u in (1, 100) for c in (1, 3)]
    by = {(r["target"], r["users_per_request"], r["connections"]): r for r in document["rows"]}
    assert list(by) == [(SCORER, 1, 1), (SCORER, 100, 1), *served], list(by)
    for key, row in by.items():
        assert row["errors"] == 0 and row["requests"] >= 1, (key, row)
        assert _finite(row["req_per_s"], row["p50_ms"], row["p99_ms"]), (key, row)
        assert row["p50_ms"] <= row["p99_ms"], (key, row)
    for users in (1, 100):
        bento = by[(BENTOML, users, 1)]["p50_ms"]
        assert _finite(
            bento / by[(PLAIN, users, 1)]["p50_ms"],
            bento / by[(SCORER, users, 1)]["p50_ms"],
            by[(BENTOML, users, 3)]["req_per_s"] / by[(BARE, users, 3)]["req_per_s"],
        )
    for name in (BARE, BENTOML):
        start = document["start_s"][name]
        assert 0 < start["ready"] <= start["first_answer"], (name, start)
    assert _finite(document["start_s"][BENTOML]["worker_mb"], *document["cli_help_s"].values())
    in_process = document["in_process"]
    assert set(in_process["engines"]) == {"lightgbm"} and in_process["compiled_boosters"] == 0
    assert "CI sizes (no tree compiled)" in doc.read_text()
    assert "start to ready, bentoml: " in printed
    assert home not in (results / "bench_serving.json").read_text()  # "<trained workspace>"


def test_bench_backtest_scale_quick(tmp_path: Path) -> None:
    """A demo product's purchases at 1 and 2 copies, each ingested and backtested in its own
    process: twice the rows and users, more customers at the cutoff, every command's wall,
    CPU and peak memory and the backtest's steps measured, and the per-customer ratios to
    the smallest size numbers."""
    sys.path.insert(0, str(REPO / "experiments"))
    from bench_backtest_scale import QUICK_HORIZON, QUICK_RESAMPLES, table

    result = json.loads(run_main("bench_backtest_scale.py", "--quick", "--json", cwd=tmp_path))
    run, sizes = result["run"], result["sizes"]
    assert run == {
        "replicas": [1, 2],
        "cutoff": run["cutoff"],
        "horizon": QUICK_HORIZON,
        "resamples": QUICK_RESAMPLES,
        "quick": True,
    }
    one, two = sizes
    assert [one["replicas"], two["replicas"]] == [1, 2]
    assert (two["rows"], two["users"]) == (2 * one["rows"], 2 * one["users"]), sizes
    assert 0 < one["customers"] <= one["users"] and one["customers"] < two["customers"]
    for size in sizes:
        for command in ("ingest", "backtest"):
            took = size[command]
            assert _finite(took["wall_s"], took["cpu_s"], took["peak_rss_mb"]), size
        assert {"features", "scoring", "judge"} <= set(size["steps_s"]), size["steps_s"]
    shown = [line.split("|") for line in table(sizes).splitlines()[2:6]]
    assert [cells[3].strip() for cells in shown] == ["ingest", "backtest"] * 2
    assert _finite(*(float(cells[-2].strip().removesuffix("x")) for cells in shown))


def test_shared_arguments_of_the_scripts(monkeypatch: Any, capsys: Any) -> None:
    """docblocks' --home (from LIFECYCLE_HOME, else a fallback, else refused), --runs and
    --doc/--results-dir, as the scripts above parse them."""
    import argparse

    sys.path.insert(0, str(REPO / "experiments"))
    from docblocks import RESULTS, home_argument, parse_arguments

    def parsed(argv: list[str], **home: Any) -> argparse.Namespace:
        parser = argparse.ArgumentParser(prog="bench_x.py")
        home_argument(parser, "a trained workspace", **home)
        return parse_arguments(parser, argv, runs=3)

    monkeypatch.delenv("LIFECYCLE_HOME", raising=False)
    try:
        parsed(["--runs", "1"])
    except SystemExit as refused:
        assert refused.code == 2
    else:
        raise AssertionError("no --home and no LIFECYCLE_HOME: not refused")
    assert "error: --home (or LIFECYCLE_HOME): a trained workspace" in capsys.readouterr().err
    args = parsed(["--home", "ws", "--doc", "d.md"])
    assert (args.home, args.runs, args.doc, args.results_dir) == (
        Path("ws"),
        3,
        Path("d.md"),
        RESULTS,
    )
    assert parsed([], fallback="workspace").home == Path("workspace")
    monkeypatch.setenv("LIFECYCLE_HOME", "/srv/ws")
    assert parsed(["--runs", "5"]).home == Path("/srv/ws") and parsed(["--runs", "5"]).runs == 5


def test_a_recorded_command_names_no_workspace_of_this_machine(monkeypatch: Any) -> None:
    """A script run from the shell (``main()`` reads sys.argv, as bench_batch_scoring's and
    bench_compiled's do) records its command as docblocks.shown_command shows it: the
    workspace given to --home is this machine's, not part of the command."""
    sys.path.insert(0, str(REPO / "experiments"))
    from docblocks import shown_command

    argv = ["bench_compiled.py", "--home", "/tmp/s5ws/ws", "--rows", "50000", "--doc", "d.md"]
    monkeypatch.setattr(sys, "argv", argv)
    shown = (
        "python experiments/bench_compiled.py --home <trained workspace> --rows 50000 --doc d.md"
    )
    assert shown_command("bench_compiled.py", None) == shown
    assert shown_command("bench_compiled.py", []) == "python experiments/bench_compiled.py"
