"""Benchmark `lifecycle refresh` against running the steps it needs by hand.

A demo workspace is brought up to date on every day but the last week (ingest, features,
Feast apply and materialize, three models trained and gated, scores, report), then copied
twice. In the same run:

- ``steps by hand`` (baseline): the steps a new week needs, called directly: ingest
  --append, features build, apply + materialize, train all, score-all, report;
- ``refresh``: ``lifecycle refresh`` with the week's file (it decides which steps to run);
- ``refresh, all current``: ``lifecycle refresh`` again with nothing new (every step
  skipped: what a scheduler pays on a day without data).

    uv run python experiments/bench_refresh.py [--users 2000] [--doc docs/refresh.md]
    uv run python experiments/bench_refresh.py --quick   # CI: 500 users, 100 rounds at most

``--quick`` (tests/test_benchmark_scripts.py) checks the script, not the timings: the
smallest demo whose conversion model trains (500 users of seed 5: 300 users, or 600 of seed
5, leave its validation set fewer than 20 positives), every model at most
``quick.QUICK_ROUNDS`` boosting rounds on one thread, no plots, no compiled trees.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WEEK = 7  # days in the new batch
QUICK_DEMO = {"users": 500, "seed": 5}  # --quick's demo: its conversion model trains


def settings_of(home: Path, environ: dict[str, str]) -> Any:
    """The workspace's settings: the defaults, and ``environ`` (--quick's caps) over them."""
    from lifecycle.settings import load_settings

    return load_settings(home=home, environ=environ)


def prepare(home: Path, users: int, seed: int, environ: dict[str, str]) -> Path:
    """A workspace current up to the last week; returns the last week's events file."""
    import pandas as pd

    from features import contract as c
    from features.demo import generate_demo
    from features.ingest import ingest_events
    from lifecycle import steps
    from serving.batch import score_all
    from serving.report import build_report

    settings = settings_of(home, environ)
    demo = settings.demo
    out = home.parent / "demo-files"
    generate_demo(
        users=users,
        seed=seed,
        out_dir=out,
        start=demo.start,
        days=demo.days,
        future_days=demo.future_days,
    )
    events = pd.read_parquet(out / "events.parquet")
    split = events[c.EVENT_TIME].max() - pd.Timedelta(days=WEEK)
    events[events[c.EVENT_TIME] <= split].to_parquet(out / "before.parquet", index=False)
    week = out / "week.parquet"
    events[events[c.EVENT_TIME] > split].to_parquet(week, index=False)
    ingest_events(
        out / "before.parquet",
        settings.workspace.dataset_dir(settings.dataset),
        users_path=out / "users.parquet",
    )
    steps.build_features(settings)
    steps.publish_features(settings)
    steps.train_tasks(settings)
    score_all(settings)
    build_report(settings)
    return week


def by_hand(home: Path, week: Path, environ: dict[str, str]) -> dict[str, float]:
    """The steps a new week needs, each timed."""
    from features.ingest import ingest_events
    from lifecycle import steps
    from serving.batch import score_all
    from serving.report import build_report

    settings = settings_of(home, environ)
    dataset = settings.workspace.dataset_dir(settings.dataset)
    seconds = {}
    for step, action in (
        ("ingest", lambda: ingest_events(week, dataset, mode="append")),
        ("features", lambda: steps.build_features(settings)),
        ("online", lambda: steps.publish_features(settings)),
        ("train", lambda: steps.train_tasks(settings)),
        ("score", lambda: score_all(settings)),
        ("report", lambda: build_report(settings)),
    ):
        started = time.perf_counter()
        action()
        seconds[step] = round(time.perf_counter() - started, 2)
    return seconds


def refreshed(home: Path, files: list[Path], environ: dict[str, str]) -> dict[str, Any]:
    from lifecycle.refresh import refresh

    started = time.perf_counter()
    result = refresh(settings_of(home, environ), files)
    total = round(time.perf_counter() - started, 2)
    return {"seconds": total, "ran": result.to_dict()["ran"], "steps": result.to_dict()["steps"]}


def bench(
    users: int, seed: int, folder: Path, environ: dict[str, str] | None = None
) -> dict[str, Any]:
    """``environ``: LIFECYCLE_* settings of every step (none: the product's defaults)."""
    environ = environ or {}
    sys.path.insert(0, str(ROOT / "tests"))
    from workspaces import copy_workspace  # re-points MLflow and Feast paths at the copy

    base = folder / "base" / "workspace"
    week = prepare(base, users, seed, environ)
    manual = copy_workspace(base, folder / "manual" / "workspace")
    auto = copy_workspace(base, folder / "auto" / "workspace")
    steps = by_hand(manual, week, environ)
    refresh_run = refreshed(auto, [week], environ)
    current = refreshed(auto, [], environ)
    needed = round(sum(steps.values()), 2)
    return {
        "users": users,
        "week_days": WEEK,
        "by_hand": {"seconds": needed, "steps": steps},
        "refresh": {"seconds": refresh_run["seconds"], "ran": refresh_run["ran"]},
        "refresh_current": {"seconds": current["seconds"], "ran": current["ran"]},
        "ratio": round(refresh_run["seconds"] / needed, 2),
    }


def render_doc(name: str, document: dict[str, Any]) -> str:
    from docblocks import measured_on

    run = document["run"]
    lines = [
        f"| {run['users']:,} demo users, one new week | seconds | vs steps by hand | steps run |",
        "|---|---:|---:|---|",
        f"| steps by hand (baseline) | {run['by_hand']['seconds']:.1f} | 1.00x | "
        f"{', '.join(run['by_hand']['steps'])} |",
        f"| `lifecycle refresh` | {run['refresh']['seconds']:.1f} | {run['ratio']:.2f}x | "
        f"{', '.join(run['refresh']['ran'])} |",
        f"| `lifecycle refresh`, all current | {run['refresh_current']['seconds']:.1f} | "
        f"{run['refresh_current']['seconds'] / run['by_hand']['seconds']:.2f}x | "
        f"{', '.join(run['refresh_current']['ran']) or 'none'} |",
        "",
        f"One run each, {measured_on(document['machine'])}"
        + (f"; CI sizes ({run['quick']})." if run.get("quick") else "."),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument(
        "--quick", action="store_true", help="500 users, 100 rounds at most, no plots: for CI"
    )
    sys.path.insert(0, str(ROOT / "experiments"))
    from docblocks import machine, parse_arguments, record_run

    args = parse_arguments(parser, argv)
    environ: dict[str, str] = {}
    quick_note = None
    if args.quick:
        from quick import NO_PLOTS, QUICK_ROUNDS, UNCOMPILED, few_rounds, single_threaded_models

        single_threaded_models()
        args.users, args.seed = QUICK_DEMO["users"], QUICK_DEMO["seed"]
        environ = UNCOMPILED | NO_PLOTS | few_rounds()
        quick_note = f"at most {QUICK_ROUNDS} rounds a model, one thread, no plots"

    measured_from = machine()
    with tempfile.TemporaryDirectory(prefix="bench-refresh-") as tmp:
        run = bench(args.users, args.seed, Path(tmp), environ)
    if quick_note:
        run["quick"] = quick_note
    if args.doc:
        record_run(
            "bench_refresh.py", args, argv, {"machine": measured_from, "run": run}, render_doc
        )
    print(json.dumps(run, indent=2))


if __name__ == "__main__":
    main()
