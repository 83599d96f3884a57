"""Benchmark: the exact P10/P50/P90 of a served BG/NBD + Gamma-Gamma (``lifecycle.btyd_interval``)
on many customers, against the direct evaluation it replaced, in the same run.

Customers are drawn from the MBG/NBD and Gamma-Gamma processes themselves
(``tests/btyd_simulation.py``), first purchases spread over two years, in two shops: a
"light" one (most customers buy a few times a year, the processes' parameters of the tests)
and a "heavy" one (frequent buyers, up to hundreds of purchases a year, as wholesale or
grocery customers). Each is scored for a 91-day and a 365-day horizon.

- **current**: ``value_quantiles`` as served: P(N >= n) by recurrences in blocks of n, each
  customer's own terms in one flat array, all levels together by Newton's method on the
  logit of the value's distribution in the log value;
- **reference**: the direct evaluation it replaced (commit 367bf7e): P(N >= n) from the
  incomplete beta and Beta functions for every customer up to the widest one's need
  (at most 400 purchases), each level by 36 bisections; timed on the first
  ``--reference`` customers, where both are compared (the largest relative difference of a
  nonzero level, and whether the same levels are 0).

Seconds are CPU seconds of this process (``time.process_time``): the machine is shared.
Memory: the peak of Python allocations (``tracemalloc``) for one chunk of 50,000 customers,
what batch scoring passes at a time (``serving.batch.CHUNK_ROWS``).

    .venv/bin/python experiments/bench_btyd_interval.py                      # 200k customers
    .venv/bin/python experiments/bench_btyd_interval.py --doc docs/benchmarks.md
    .venv/bin/python experiments/bench_btyd_interval.py --quick              # CI
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "experiments"))
sys.path.insert(0, str(ROOT / "tests"))

SHOPS = {  # MBG/NBD (per week) and Gamma-Gamma parameters
    "light": ({"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5, "first": 1.0}, (6.0, 4.0, 15.0)),
    "heavy": ({"r": 2.0, "alpha": 4.0, "a": 0.1, "b": 3.0, "first": 1.0}, (3.0, 4.0, 300.0)),
}
HORIZONS = (91, 365)
CHUNK = 50_000


def customers(shop: str, count: int, seed: int) -> dict[str, np.ndarray]:
    """``value_quantiles``' inputs of ``count`` customers drawn from the shop's processes."""
    from btyd_simulation import simulate_bgnbd, simulate_gamma_gamma

    process, (p, q, v) = SHOPS[shop]
    rng = np.random.default_rng(seed)
    weeks = rng.uniform(0.0, 104.0, count)
    drawn = simulate_bgnbd(
        count, *(process[k] for k in ("r", "alpha", "a", "b")), weeks, rng, first=1
    )
    x = drawn["frequency"].to_numpy()
    return {
        "orders": x + 1.0,
        "first": weeks * 7.0,
        "last": (weeks - drawn["recency"].to_numpy()) * 7.0,
        "mean_value": simulate_gamma_gamma(x, p, q, v, rng),
    }


def reference_quantiles(
    process: dict[str, float],
    spend: tuple[float, float, float],
    data: dict[str, np.ndarray],
    days: float,
) -> np.ndarray:
    """The direct evaluation (367bf7e): the same distribution, special functions, bisection."""
    from scipy.special import betainc, betaln

    from lifecycle.btyd import purchase_model

    model = purchase_model(process)
    r, alpha, a, b = model.params
    x = data["orders"] - 1
    t_obs, t_x = data["first"] / 7.0, (data["first"] - data["last"]) / 7.0
    t = days / 7.0
    alive = model.probability_alive(x, t_x, t_obs)
    odds, b_post = t / (alpha + t_obs + t), b + model.FIRST + x
    columns = []
    for n in range(1, 401):
        columns.append(
            alive * betainc(n, r + x, odds) * np.exp(betaln(a, b_post + n - 1) - betaln(a, b_post))
        )
        if columns[-1].max() < 1e-9:
            break
    survival = np.column_stack(columns)
    exactly = survival - np.column_stack([survival[:, 1:], np.zeros(len(x))])
    p, q, v = spend
    shape, scale = q + p * x, v + x * np.where(x > 0, data["mean_value"], 0.0)
    purchases = np.arange(1, survival.shape[1] + 1) * p
    expected = np.log(p * scale / np.maximum(shape - 1, 1e-12)) + np.log1p(
        (exactly * np.arange(1, survival.shape[1] + 1)).sum(1)
    )

    def below(log_z: np.ndarray) -> np.ndarray:
        share = (np.exp(log_z) / (np.exp(log_z) + scale))[:, None]
        return 1 - survival[:, 0] + (exactly * betainc(purchases, shape[:, None], share)).sum(1)

    found = np.zeros((len(x), 3))
    for j, level in enumerate((0.1, 0.5, 0.9)):
        low, high = expected - 25.0, expected + 3.0
        while (below(high) < level).any():
            high = np.where(below(high) < level, high + 2.0, high)
        for _ in range(36):
            middle = (low + high) / 2
            under = below(middle) < level
            low, high = np.where(under, middle, low), np.where(under, high, middle)
        found[:, j] = np.where(1 - survival[:, 0] < level, np.exp(high), 0.0)
    return found


def cpu_seconds(call: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    started = time.process_time()
    result = call(*args, **kwargs)
    return time.process_time() - started, result


def bench(count: int, reference: int) -> list[dict[str, Any]]:
    from lifecycle.btyd_interval import purchase_survival, value_quantiles

    runs = []
    for shop, (process, spend) in SHOPS.items():
        gamma_gamma = dict(zip("pqv", spend, strict=True))
        data = customers(shop, count, seed=len(runs))
        head = {k: v[:reference] for k, v in data.items()}
        for days in HORIZONS:
            current = partial(value_quantiles, process, gamma_gamma, horizon_days=days)
            seconds, _ = cpu_seconds(current, **data)
            head_seconds, (fast, _) = cpu_seconds(current, **head)
            slow_seconds, slow = cpu_seconds(
                partial(reference_quantiles, process, spend), head, days
            )
            tracemalloc.start()
            current(**{k: v[:CHUNK] for k, v in data.items()})
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            x = data["orders"] - 1
            needed = purchase_survival(
                process, x, (data["first"] - data["last"]) / 7, data["first"] / 7, days / 7
            ).needed()
            nonzero = slow > 0
            runs.append(
                {
                    "shop": shop,
                    "horizon_days": days,
                    "customers": count,
                    "seconds": round(seconds, 2),
                    "seconds_per_million": round(seconds * 1e6 / count, 1),
                    "reference_customers": reference,
                    "reference_seconds": round(slow_seconds, 2),
                    "current_seconds_on_reference": round(head_seconds, 3),
                    "speedup": round(slow_seconds / head_seconds, 1),
                    "max_relative_difference": float(
                        np.abs(fast[nonzero] / slow[nonzero] - 1).max(initial=0.0)
                    ),
                    "same_zeros": bool(((fast == 0) == (slow == 0)).all()),
                    "most_purchases": int(needed.max()),
                    "median_purchases": float(np.median(needed)),
                    "chunk_peak_mib": round(peak / 2**20, 1),
                }
            )
            print(json.dumps(runs[-1]))
    return runs


def render_doc(name: str, document: dict[str, Any]) -> str:
    from docblocks import measured_on

    runs = document["runs"]
    lines = [
        f"| shop | horizon | {runs[0]['customers']:,} customers | per 1M | "
        f"reference on {runs[0]['reference_customers']:,} | current on them | speed-up | "
        "largest difference | columns: median / most | peak of a 50,000 chunk |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        lines.append(
            f"| {run['shop']} | {run['horizon_days']} d | {run['seconds']:.1f} s | "
            f"{run['seconds_per_million']:.0f} s | {run['reference_seconds']:.1f} s | "
            f"{run['current_seconds_on_reference']:.2f} s | **{run['speedup']:.1f}x** | "
            f"{run['max_relative_difference']:.0e}"
            f"{'' if run['same_zeros'] else ' (zeros differ)'} | "
            f"{run['median_purchases']:.0f} / {run['most_purchases']:,} | "
            f"{run['chunk_peak_mib']:.0f} MiB |"
        )
    lines += [
        "",
        f'CPU seconds of this process, {measured_on(document["machine"])}. "Columns" are the '
        "purchases a customer can make with more than 1e-9 probability, each one a term of the "
        "value's distribution; the reference computes every customer's up to the widest one's "
        "(at most 400, so it cuts the heaviest customers' distribution short).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--reference", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="2,000 customers: for CI")
    parser.add_argument("--doc", type=Path, help="write the table into this doc's block")
    args = parser.parse_args(argv)
    from docblocks import machine, record, shown_command

    count, reference = (2_000, 500) if args.quick else (args.customers, args.reference)
    measured_from = machine()
    runs = bench(count, min(reference, count))
    for run in runs:
        print(
            f"{run['shop']:>5} {run['horizon_days']:>3} d: {run['seconds']:7.2f} s for "
            f"{count:,} ({run['seconds_per_million']:.0f} s per 1M); {run['speedup']:.1f}x the "
            f"reference on {reference:,}; largest relative difference "
            f"{run['max_relative_difference']:.1e}; same zeros {run['same_zeros']}"
        )
    if args.doc:
        command = shown_command("bench_btyd_interval.py", argv)
        document = {"machine": measured_from, "runs": runs}
        record(
            args.doc, "bench_btyd_interval", "bench_btyd_interval.py", command, document, render_doc
        )


if __name__ == "__main__":
    main()
