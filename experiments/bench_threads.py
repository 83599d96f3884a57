"""Benchmark: LightGBM training threads and OpenMP's wait policy on shared cores.

``lifecycle`` sets ``GOMP_SPINCOUNT=1000`` (lifecycle/__init__.py) unless the user set a wait
policy: OpenMP threads that spin while they wait lose their time slices to each other when
the cores are busy with other work, and threads that sleep at once (``passive``) pay a
wake-up at every barrier on a quiet machine. This fits one model (LightGBM's binary
objective on synthetic rows, the size at which training turns to two threads) with one and
two threads under each way of waiting, each fit in a fresh process (libgomp reads them when
it loads), on a quiet machine and beside ``--busy`` processes that spin on the cores, and
prints every wall time as a ratio to one thread with OpenMP's default in the same setting.

    .venv/bin/python experiments/bench_threads.py                      # 51,000 rows, 2 busy
    .venv/bin/python experiments/bench_threads.py --doc docs/benchmarks.md
    .venv/bin/python experiments/bench_threads.py --quick              # CI: tiny
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# How OpenMP's threads wait (libgomp reads these when it loads; every other setting cleared)
WAITS = {
    "spin (OpenMP's default)": {},
    "passive": {"OMP_WAIT_POLICY": "PASSIVE"},
    "spin 1,000 then sleep": {"GOMP_SPINCOUNT": "1000"},
}
BASELINE = "spin (OpenMP's default), 1 thread"
# LightGBM without scikit-learn (~0.9 CPU-s of each fit's process, before what is timed):
# lgb.train needs none of it. Inline, not lifecycle.lightgbm_import: importing lifecycle sets
# GOMP_SPINCOUNT, one of the waits compared here.
FIT = """
import json, sys, time
import numpy as np
sys.modules["sklearn"] = None
import lightgbm as lgb
del sys.modules["sklearn"]
rows, rounds, threads = (int(a) for a in sys.argv[1:4])
rng = np.random.default_rng(0)
X = rng.normal(size=(rows, 45))
y = (X[:, 0] + rng.normal(size=rows) > 0).astype(float)
params = {"objective": "binary", "num_threads": threads, "verbosity": -1, "seed": 7,
          "force_row_wise": True, "deterministic": True, "num_leaves": 31}
data = lgb.Dataset(X, y)
started, cpu = time.perf_counter(), time.process_time()
lgb.train(params, data, num_boost_round=rounds)
print(json.dumps({"wall": time.perf_counter() - started, "cpu": time.process_time() - cpu}))
"""


def spin(stop: Any) -> None:
    while not stop.is_set():
        sum(range(10_000))


def fit(wait: dict[str, str], threads: int, rows: int, rounds: int) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    env |= wait
    out = subprocess.run(
        [sys.executable, "-c", FIT, str(rows), str(rounds), str(threads)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(rows: int, rounds: int, busy: int, repeats: int) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    load = os.getloadavg()[0]  # other work already on the machine
    cases = [("quiet", 0)] + ([(f"beside {busy} busy processes", busy)] if busy else [])
    for label, spinners in cases:
        stop = multiprocessing.Event()
        workers = [multiprocessing.Process(target=spin, args=(stop,)) for _ in range(spinners)]
        for worker in workers:
            worker.start()
        try:
            runs = {
                f"{name}, {threads} thread{'s' if threads > 1 else ''}": min(
                    (fit(wait, threads, rows, rounds) for _ in range(repeats)),
                    key=lambda run: run["wall"],
                )
                for name, wait in WAITS.items()
                for threads in (1, 2)
            }
        finally:
            stop.set()
            for worker in workers:
                worker.join()
        base = runs[BASELINE]["wall"]
        settings[label] = {name: run | {"ratio": run["wall"] / base} for name, run in runs.items()}
    from docblocks import machine

    meta = machine()  # when and on what: the load is taken before the runs (above)
    return {
        "date": meta["date"],
        "cpus": meta["cpus"],
        "rows": rows,
        "rounds": rounds,
        "busy": busy,
        "repeats": repeats,
        "load_average": load,
        "settings": settings,
    }


def render_doc(name: str, results: dict[str, Any]) -> str:
    lines = [
        f"One LightGBM fit of {results['rows']:,} rows x 45 features, {results['rounds']} "
        f"rounds, best of {results['repeats']} (`experiments/bench_threads.py`, measured "
        f"{results['date']} on {results['cpus']} CPUs, load average "
        f"{results['load_average']:.1f} before it started); wall seconds and the ratio to one "
        "thread with OpenMP's default in the same setting:",
        "",
        "| threads, OpenMP wait policy | " + " | ".join(results["settings"]) + " |",
        "|---|" + "---:|" * len(results["settings"]),
    ]
    names = list(next(iter(results["settings"].values())))
    for run in names:
        cells = [
            f"{setting[run]['wall']:.2f} s ({setting[run]['ratio']:.2f}x)"
            for setting in results["settings"].values()
        ]
        lines.append(f"| {run} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=51_000)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument(
        "--busy", type=int, default=2, help="spinning processes beside the fit (0: quiet only)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="CI: 2,000 rows, 5 rounds, once")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--doc", type=Path, help="write the bench_threads block of this doc")
    args = parser.parse_args(argv)
    if args.quick and args.doc:
        parser.error("--quick measures CI sizes: the doc keeps the full-size run (drop --doc)")
    if args.quick:
        args.rows, args.rounds, args.repeats = 2_000, 5, 1
    results = measure(args.rows, args.rounds, args.busy, args.repeats)
    print(render_doc("bench_threads", results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if args.doc:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from docblocks import record, shown_command

        shown = shown_command("bench_threads.py", argv)
        record(args.doc, "bench_threads", "bench_threads.py", shown, results, render_doc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
