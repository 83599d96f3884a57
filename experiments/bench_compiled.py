"""Benchmark: compiled trees (lleaves) vs LightGBM, in batch and for one row; compile time.

Every booster of the champions (churn, conversion, LTV with its purchase and quantile
boosters) predicts the same rows three ways, timed in CPU seconds of the calling thread
(other load on the machine is excluded) for one row and as wall seconds for a batch:

- ``Booster.predict`` (what the bundle called before);
- LightGBM's single-row fast path (``LGBM_BoosterPredictForMatSingleRowFast``, one row only);
- the lleaves-compiled trees (``lifecycle.compiled``), outputs compared with the first.

Compile time is measured with an empty cache; a load from the cache is what a later start pays.

    .venv/bin/python experiments/bench_compiled.py --home workspace
    .venv/bin/python experiments/bench_compiled.py --quick            # CI: small synthetic models
    .venv/bin/python experiments/bench_compiled.py --home workspace --doc docs/serving.md
"""

from __future__ import annotations

import argparse
import ctypes
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


class FastSingleRow:
    """LightGBM's single-row fast path: the prediction set-up done once, then one row a call."""

    def __init__(self, booster: Any, columns: int) -> None:
        from lightgbm.basic import _LIB, _safe_call

        self._lib, self._safe_call = _LIB, _safe_call
        self._config = ctypes.c_void_p()
        self._out = np.zeros(1, dtype=np.float64)
        self._length = ctypes.c_int64()
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(0),  # C_API_PREDICT_NORMAL: what Booster.predict returns
                ctypes.c_int(0),
                ctypes.c_int(-1),
                ctypes.c_int(1),  # C_API_DTYPE_FLOAT64
                ctypes.c_int32(columns),
                ctypes.c_char_p(b"num_threads=1"),
                ctypes.byref(self._config),
            )
        )

    def predict(self, row: np.ndarray) -> float:
        self._safe_call(
            self._lib.LGBM_BoosterPredictForMatSingleRowFast(
                self._config,
                row.ctypes.data_as(ctypes.c_void_p),
                ctypes.byref(self._length),
                self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
            )
        )
        return float(self._out[0])

    def close(self) -> None:
        self._lib.LGBM_FastConfigFree(self._config)


def cpu_per_call(call: Any, repeats: int) -> float:
    """Median CPU seconds of the calling thread per call, over 5 rounds of ``repeats`` calls."""
    rounds = []
    for _ in range(5):
        started = time.thread_time()
        for _ in range(repeats):
            call()
        rounds.append((time.thread_time() - started) / repeats)
    return float(np.median(rounds))


def boosters(champions: Any) -> dict[str, tuple[Any, Any]]:
    """'task/file' -> (bundle, booster) for every LightGBM booster of the champions."""
    return {
        f"{task}/{Path(file_name).stem}": (bundle, booster)
        for task, bundle in champions.bundles.items()
        for file_name, booster in bundle.booster_files().items()
    }


def render_doc(name: str, d: dict[str, Any]) -> str:
    from docblocks import measured_on

    return (
        f"{measured_on(d['machine'])}: {d['boosters']} boosters, {d['trees']:,} trees, "
        f"{d['features']} features ({d['source']}).\n\n"
        "| | LightGBM `predict` | LightGBM single-row fast path | compiled (lleaves) |\n"
        "|---|---:|---:|---:|\n"
        f"| 1 row, all boosters (CPU µs) | {d['one_row_us']['lightgbm']:,.0f} | "
        f"{d['one_row_us']['fast_path']:,.0f} | {d['one_row_us']['compiled']:,.0f} |\n"
        f"| {d['rows']:,} rows, all boosters (s) | {d['batch_seconds']['lightgbm']:.2f} | "
        f"one row only | {d['batch_seconds']['compiled']:.2f} |\n\n"
        f"Compiled is **{d['one_row_us']['lightgbm'] / d['one_row_us']['compiled']:.1f}x** "
        f"faster for one row and **{d['batch_seconds']['lightgbm'] / d['batch_seconds']['compiled']:.1f}x** "
        f"in batch; largest difference from LightGBM's output {d['max_abs_diff']:.1e}. "
        f"Compiling all of them took {d['compile_seconds']:.1f} s (once per model version); "
        f"loading them from the cache {d['cache_load_seconds']:.2f} s.\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, help="a trained workspace (its champions)")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument(
        "--quick", action="store_true", help="synthetic models of 15 trees, 5k rows: for CI"
    )
    parser.add_argument("--doc", type=Path, help="write the result into this doc's block")
    args = parser.parse_args()
    from bench_batch_scoring import synthetic_models, synthetic_users, workspace_models
    from docblocks import machine

    meta = machine()
    rows = 5_000 if args.quick else args.rows
    if args.home and not args.quick:
        champions, real = workspace_models(args.home)
        source = "a trained workspace"
    else:
        # --quick checks the script and that compiled trees predict as LightGBM's, for any
        # number of trees: 15 per booster (90) compile in a quarter of 60's CPU
        champions, real = synthetic_models(rows=5_000, rounds=15 if args.quick else 60), None
        source = "synthetic models"
    features = (
        real.iloc[np.random.default_rng(0).integers(0, len(real), rows)].reset_index(drop=True)
        if real is not None and len(real)
        else synthetic_users(rows)
    )
    matrix = champions.bundles["churn"].matrix(features).to_numpy(dtype="float64")
    models = boosters(champions)
    trees = sum(booster.num_trees() for _, booster in models.values())
    print(
        f"{len(models)} boosters, {trees:,} trees, matrix {matrix.shape[0]:,} x {matrix.shape[1]}"
    )

    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        for task, bundle in champions.bundles.items():
            bundle.compile_trees(Path(cache), f"{task}-bench")
        compile_seconds = time.perf_counter() - started
        compiled = {key: bundle.compiled[id(booster)] for key, (bundle, booster) in models.items()}
        started = time.perf_counter()
        for task, bundle in champions.bundles.items():
            bundle.compiled.clear()
            bundle.compile_trees(Path(cache), f"{task}-bench")
        cache_load_seconds = time.perf_counter() - started
    print(f"compile: {compile_seconds:.1f} s; load from the cache: {cache_load_seconds:.2f} s")

    max_diff = max(
        float(np.max(np.abs(compiled[k].predict(matrix) - b.predict(matrix))))
        for k, (_, b) in models.items()
    )
    print(f"largest |compiled - LightGBM| over {rows:,} rows: {max_diff:.1e}")

    row = np.ascontiguousarray(matrix[:1])
    fast = {k: FastSingleRow(b, matrix.shape[1]) for k, (_, b) in models.items()}
    one_row = {
        "lightgbm": cpu_per_call(
            lambda: [b.predict(row, num_threads=1) for _, b in models.values()], 300
        ),
        "fast_path": cpu_per_call(lambda: [f.predict(row[0]) for f in fast.values()], 300),
        "compiled": cpu_per_call(lambda: [c.predict(row) for c in compiled.values()], 300),
    }
    for f in fast.values():
        f.close()
    one_row_us = {k: round(v * 1e6, 1) for k, v in one_row.items()}
    print(f"one row, all boosters (CPU µs): {one_row_us}")

    batch = {}
    for name, call in (
        ("lightgbm", lambda: [b.predict(matrix) for _, b in models.values()]),
        ("compiled", lambda: [c.predict(matrix) for c in compiled.values()]),
    ):
        started = time.perf_counter()
        call()
        batch[name] = round(time.perf_counter() - started, 3)
    print(f"{rows:,} rows, all boosters (s): {batch}")
    print(
        f"compiled vs LightGBM: {one_row['lightgbm'] / one_row['compiled']:.1f}x for one row, "
        f"{batch['lightgbm'] / batch['compiled']:.1f}x in batch"
    )
    if args.doc:
        from docblocks import record, shown_command

        document = {
            "machine": meta,
            "source": source,
            "boosters": len(models),
            "trees": trees,
            "features": int(matrix.shape[1]),
            "rows": rows,
            "compile_seconds": round(compile_seconds, 2),
            "cache_load_seconds": round(cache_load_seconds, 3),
            "max_abs_diff": max_diff,
            "one_row_us": one_row_us,
            "batch_seconds": batch,
        }
        command = shown_command("bench_compiled.py", None)
        record(args.doc, "bench_compiled", "bench_compiled.py", command, document, render_doc)


if __name__ == "__main__":
    main()
