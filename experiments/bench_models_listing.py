"""Benchmark `lifecycle models`: its CPU with the champions' metadata alone against loading them.

`lifecycle models` prints what MLflow's tags, params and metrics hold, and, to say whether
churn's champion answers conversion, reads the churn and conversion champions: it parsed
their boosters (importing LightGBM, and scikit-learn through it) and imported the promotion
gate's metrics (SciPy, scikit-learn) for one function that formats a test window. Now it
reads their bundles' metadata (``load_champions(boosters=False)``) and imports neither.

Each run is a fresh process (``lifecycle --quiet models``), its CPU seconds from
``getrusage``; the baseline, alternating with it in the same run, is the same code with the
boosters parsed and the gate's metrics module imported, as before 2026-12-07. Both print
the same lines (checked).

    python experiments/bench_models_listing.py --home <trained workspace> [--runs 7]
    python experiments/bench_models_listing.py --home <trained workspace> --doc docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LIBRARIES = ("lightgbm", "sklearn", "scipy.stats")
VERSION_LINE = re.compile(r"^\S+ v\d+ \(")  # demo-churn v1 (lightgbm, ...
RUN = """
import json, sys
BASELINE
from lifecycle.cli import main
try:
    main(["--quiet", "models"])
except SystemExit:
    pass
print(json.dumps([m for m in LIBRARIES if m in sys.modules]))
"""
# as before 2026-12-07: the boosters parsed, the gate's metrics imported with the gate
BASELINE = """
import training.evaluation
import serving.scoring as scoring
loaded = scoring.conversion_champions
scoring.conversion_champions = lambda *args, boosters=True: loaded(*args, boosters=True)
"""


def one_run(home: Path, baseline: bool) -> tuple[float, list[str], list[str]]:
    """CPU seconds of one `lifecycle models` process, its lines, the libraries it imported."""
    code = RUN.replace("BASELINE", BASELINE if baseline else "").replace(
        "LIBRARIES", repr(LIBRARIES)
    )
    from docblocks import python_child

    spent, done = python_child(code, home)
    *lines, imported = done.stdout.splitlines()
    return spent, lines, json.loads(imported)


def bench(home: Path, runs: int) -> dict[str, Any]:
    samples: dict[str, list[float]] = {"now": [], "before": []}
    printed: dict[str, list[str]] = {}
    imported: dict[str, list[str]] = {}
    for _ in range(runs):
        for variant in ("before", "now"):
            spent, lines, libraries = one_run(home, variant == "before")
            samples[variant].append(spent)
            printed[variant], imported[variant] = lines, libraries
    now, before = statistics.median(samples["now"]), statistics.median(samples["before"])
    return {
        "runs": runs,
        "versions_listed": sum(bool(VERSION_LINE.match(line)) for line in printed["now"]),
        "same_output": printed["now"] == printed["before"],
        "cpu_before": round(before, 3),
        "cpu_now": round(now, 3),
        "ratio": round(now / before, 2),
        "imported_before": imported["before"],
        "imported_now": imported["now"],
    }


def render_doc(name: str, document: dict[str, Any]) -> str:
    from docblocks import measured_on

    def libraries(names: list[str]) -> str:
        return ", ".join(names) or "none"

    return "\n".join(
        [
            "| `lifecycle models` | CPU s | of these imported |",
            "|---|---:|---|",
            f"| before: boosters parsed, the gate's metrics imported | {document['cpu_before']:.2f}"
            f" | {libraries(document['imported_before'])} |",
            f"| now: the champions' metadata | {document['cpu_now']:.2f} | "
            f"{libraries(document['imported_now'])} |",
            f"| **now / before** | **{document['ratio']:.2f}** | |",
            "",
            f"Median CPU seconds of {document['runs']} processes each, alternating, "
            f"{measured_on(document['machine'])}; the demo workspace's "
            f"{document['versions_listed']} versions; the same output both ways: "
            f"{'yes' if document['same_output'] else 'NO'}.",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    sys.path.insert(0, str(ROOT / "experiments"))
    from docblocks import home_argument, machine, parse_arguments, record_run

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    home_argument(parser, "a trained workspace")
    args = parse_arguments(parser, argv, runs=7)

    measured_from = machine()
    document = {"machine": measured_from, **bench(args.home, args.runs)}
    print(
        f"lifecycle models: {document['cpu_before']:.2f} -> {document['cpu_now']:.2f} CPU-s, "
        f"{document['ratio']:.2f}x the baseline; imported before: "
        f"{document['imported_before']}, now: {document['imported_now']}; same output: "
        f"{document['same_output']}"
    )
    if args.doc:
        record_run("bench_models_listing.py", args, argv, document, render_doc)


if __name__ == "__main__":
    main()
