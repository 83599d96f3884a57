"""How `lifecycle ingest` + `lifecycle backtest` (one cutoff) scale with the customers of a log.

    python experiments/bench_backtest_scale.py --events cdnow.csv --replicas 1,4,13
    python experiments/bench_backtest_scale.py --quick --json    # CI sizes, in seconds

``--events`` is a purchase log with the contract's columns (``user_id, event_time,
event_type, amount``; CDNOW: ``CDNOW_master.txt`` of the ``lifetimes`` wheel, see
docs/quality.md). Each size is the log replicated ``k`` times: replica ``r`` has its user ids
suffixed ``r<r>`` and each purchase moved by -3..+3 days (seeded, kept inside the log's
span), so the customers are new and their days differ. Every size is ingested
(``--keep-repeats``) and backtested in a fresh workspace under a temporary folder, each
command in its own process (wall, CPU and peak RSS from ``wait4``), and the backtest's own
step timings are read from its JSON. The baseline is the smallest size of the same run:
the last columns are each size's seconds per 1,000 customers against it (1.0x: linear).

``--quick`` (what CI runs, tests/test_benchmark_scripts.py) checks the script, not the
product: instead of ``--events``, the purchases of a demo product of QUICK_USERS users over
QUICK_DAYS days, at 1 and 2 copies, cut QUICK_HORIZON days before its end and judged with
QUICK_RESAMPLES bootstrap resamples; its models on one thread, at most 100 boosting rounds,
no plots, no compiled trees (quick.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUICK_USERS, QUICK_SEED, QUICK_DAYS = 500, 5, 160
QUICK_REPLICAS, QUICK_HORIZON, QUICK_RESAMPLES = "1,2", 28, 100
# The installed script: under ``python -c`` DuckDB takes the session for an interactive one
# (``__main__`` has no file) and draws progress bars on stdout, before the JSON.
LIFECYCLE = [sys.executable, str(Path(sys.executable).with_name("lifecycle"))]


def replicate(events: Path, replicas: int, out: Path, seed: int = 11) -> dict[str, int]:
    """The log ``replicas`` times with disjoint user ids and -3..+3 days of jitter (the first
    copy as it is); rows whose time is not a date or timestamp are kept once, unchanged."""
    import numpy as np
    import pandas as pd

    source = pd.read_csv(events, dtype=str)
    times = pd.to_datetime(source["event_time"], errors="coerce", format="mixed")
    good, kept = source[times.notna()], times[times.notna()]
    low, high = kept.min(), kept.max()
    dates_only = good["event_time"].str.len().max() <= len("YYYY-MM-DD")
    stamp = "%Y-%m-%d" if dates_only else "%Y-%m-%d %H:%M:%S"
    rng = np.random.default_rng(seed)
    parts = [source]
    for replica in range(1, replicas):
        shift = pd.to_timedelta(rng.integers(-3, 4, len(good)), unit="D")
        part = good.copy()
        part["user_id"] = part["user_id"] + f"r{replica}"
        part["event_time"] = (kept + shift).clip(low, high).dt.strftime(stamp)
        parts.append(part)
    table = pd.concat(parts)
    table.to_csv(out, index=False)
    return {"rows": len(table), "users": int(table["user_id"].nunique())}


def demo_log(folder: Path) -> tuple[Path, str]:
    """--quick's log: the purchases of a demo product (QUICK_USERS, QUICK_DAYS) as a contract
    CSV, and its cutoff, QUICK_HORIZON days before its last purchase."""
    import pandas as pd

    from features import contract as c
    from features.demo import generate_demo

    generate_demo(QUICK_USERS, QUICK_SEED, folder / "demo", days=QUICK_DAYS, future_days=0)
    events = pd.read_parquet(folder / "demo" / "events.parquet")
    bought = events.loc[events[c.EVENT_TYPE] == c.PURCHASE, [c.USER_ID, c.EVENT_TIME, c.AMOUNT]]
    log = folder / "demo_purchases.csv"
    stamps = bought[c.EVENT_TIME].dt.strftime("%Y-%m-%d %H:%M:%S")
    bought.assign(**{c.EVENT_TIME: stamps, c.EVENT_TYPE: c.PURCHASE}).to_csv(log, index=False)
    cutoff = bought[c.EVENT_TIME].max() - pd.Timedelta(days=QUICK_HORIZON)
    return log, cutoff.strftime("%Y-%m-%d")


def measured(args: list[str], stdout: Path, env: dict[str, str]) -> dict[str, float]:
    """Run one command in its own process: wall seconds, CPU seconds and peak RSS (MB)."""
    started = time.perf_counter()
    with stdout.open("w") as out, stdout.with_suffix(".log").open("w") as err:
        process = subprocess.Popen(args, stdout=out, stderr=err, cwd=REPO, env=env)
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        tail = stdout.with_suffix(".log").read_text()[-2000:]
        raise SystemExit(f"{' '.join(args[2:])} failed:\n{tail}")
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
    }


def run_size(
    events: Path, replicas: int, options: argparse.Namespace, folder: Path, env: dict[str, str]
) -> dict:
    """One size: the log ``replicas`` times, ingested and backtested in a fresh workspace."""
    log = folder / f"events_x{replicas}.csv"
    counts = replicate(events, replicas, log)
    home = folder / f"home_x{replicas}"
    base = [*LIFECYCLE, "--home", str(home)]
    ingest = measured(
        [*base, "ingest", str(log), "--dataset", "log", "--keep-repeats"],
        folder / "ingest.out",
        env,
    )
    out = folder / f"backtest_x{replicas}.json"
    judged = ["--cutoff", options.cutoff, "--horizon", str(options.horizon)]
    judged += ["--resamples", str(options.resamples), "--out", str(home / "bt")]
    backtest = measured([*base, "--json", "backtest", "--dataset", "log", *judged], out, env)
    result = json.loads(out.read_text())
    (verdict,) = result["cutoffs"]
    log.unlink()
    return counts | {
        "replicas": replicas,
        "customers": verdict["users"],
        "ingest": ingest,
        "backtest": backtest,
        "steps_s": verdict["seconds"],
    }


def table(results: list[dict]) -> str:
    first = results[0]
    per_1k = {
        cmd: first[cmd]["wall_s"] / first["customers"] * 1000 for cmd in ("ingest", "backtest")
    }
    lines = [
        "| customers | rows | command | wall s | CPU s | peak RSS MB | s per 1k customers | vs smallest |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for size in results:
        for cmd in ("ingest", "backtest"):
            took = size[cmd]
            rate = took["wall_s"] / size["customers"] * 1000
            lines.append(
                f"| {size['customers']:,} | {size['rows']:,} | {cmd} | {took['wall_s']:.1f} | "
                f"{took['cpu_s']:.1f} | {took['peak_rss_mb']:,} | {rate:.2f} | "
                f"{rate / per_1k[cmd]:.2f}x |"
            )
    steps = sorted({step for size in results for step in size["steps_s"]})
    lines += [
        "",
        "| backtest step, s | " + " | ".join(f"{s['customers']:,}" for s in results) + " |",
    ]
    lines.append("|---|" + "---:|" * len(results))
    for step in steps:
        cells = " | ".join(f"{size['steps_s'].get(step, 0):.1f}" for size in results)
        lines.append(f"| {step} | {cells} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=Path, help="purchase log (contract CSV); or --quick")
    parser.add_argument("--replicas", help="sizes, as copies of the log [1,4,13; --quick 1,2]")
    parser.add_argument("--cutoff", help="[1997-09-30; --quick the demo's end less the horizon]")
    parser.add_argument("--horizon", type=int, help=f"days [91; --quick {QUICK_HORIZON}]")
    parser.add_argument(
        "--resamples", type=int, help=f"bootstrap [1000; --quick {QUICK_RESAMPLES}]"
    )
    parser.add_argument("--quick", action="store_true", help="CI sizes: a demo's purchases")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    options = parser.parse_args(argv)
    if (options.events is None) == (not options.quick):
        parser.error("give the purchase log (--events FILE) or --quick (a demo's), not both")
    quick = {"replicas": QUICK_REPLICAS, "horizon": QUICK_HORIZON, "resamples": QUICK_RESAMPLES}
    full = {"replicas": "1,4,13", "horizon": 91, "resamples": 1000, "cutoff": "1997-09-30"}
    for name, value in (quick if options.quick else full).items():
        setattr(options, name, value if getattr(options, name) is None else getattr(options, name))
    sizes = sorted(int(k) for k in options.replicas.split(","))
    env = {**os.environ}
    if options.quick:
        from quick import NO_PLOTS, UNCOMPILED, few_rounds

        env |= UNCOMPILED | NO_PLOTS | few_rounds()
    with tempfile.TemporaryDirectory(prefix="bench-backtest-scale-") as folder:
        if options.quick:
            options.events, cutoff = demo_log(Path(folder))
            options.cutoff = options.cutoff or cutoff
        results = []
        for replicas in sizes:
            print(f"x{replicas}: ingest + backtest", file=sys.stderr, flush=True)
            results.append(run_size(options.events, replicas, options, Path(folder), env))
    load = os.getloadavg()[0]
    if options.json:
        run = {"replicas": sizes, "cutoff": options.cutoff, "horizon": options.horizon}
        run |= {"resamples": options.resamples, "quick": options.quick}
        print(json.dumps({"load_average_at_end": load, "run": run, "sizes": results}, indent=1))
        return
    print(
        f"measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} CPUs (load {load:.1f} at the end)"
    )
    print(table(results))


if __name__ == "__main__":
    main()
