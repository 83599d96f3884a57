"""Benchmark what a `lifecycle` process pays before its command does anything.

Each call is a fresh process (the `lifecycle` script's code, ``lifecycle.cli.run``), its CPU
seconds from ``getrusage``, with the heavy libraries it imported. Two baselines in the same
run bound it: ``python -c pass`` (the interpreter alone) and a process importing every
library a command may need (Feast, MLflow, BentoML, LightGBM, scikit-learn, pandas, DuckDB,
the settings' pydantic-settings). A command's help is timed now and as before 2026-12-07,
when lifecycle's callback read the settings before click read the command's ``--help`` (and
the ``datasets`` group imported pandas before it knew a subcommand was asked), and
`lifecycle settings` imported the training code (pandas, SciPy) for the models' specs: the
baseline runs the same code with that callback's check turned off (``shows_help``) and
those imports made. `lifecycle datasets` of an empty workspace reads the settings and lists
nothing; until 2026-12-07 (later) it imported pandas for the words of its datasets' notes,
which lived with the code that reads a file: its baseline imports them from there.

    python experiments/bench_cli_startup.py [--runs 5]
    python experiments/bench_cli_startup.py --doc docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LIBRARIES = (
    "feast",
    "mlflow",
    "bentoml",
    "lightgbm",
    "sklearn",
    "scipy",
    "pandas",
    "pyarrow",
    "duckdb",
    "pydantic_settings",
)
EVERYTHING = "; ".join(f"import {name}" for name in LIBRARIES)
LIFECYCLE = """
import json, sys
BEFORE
from lifecycle.cli import run
sys.argv = ["lifecycle", *ARGS]
try:
    run()
except SystemExit:
    pass
print(json.dumps([m for m in LIBRARIES if m in sys.modules]), file=sys.stderr)
"""
# as before 2026-12-07: the settings read before a command's help, pandas with `datasets`
BEFORE = """
import lifecycle.cli
lifecycle.cli.shows_help = lambda ctx: False
if ARGS[:1] == ["datasets"]:
    import features.ingest
if ARGS[:1] == ["settings"]:  # the model specs lived with the training code
    import training.models
"""
CALLS = {  # name -> the command's words
    "lifecycle --help": ["--help"],
    "lifecycle ingest --help": ["ingest", "--help"],
    "lifecycle datasets history --help": ["datasets", "history", "--help"],
    "lifecycle datasets": ["datasets"],
    "lifecycle settings": ["settings"],
}
HELPS = (
    "lifecycle ingest --help",
    "lifecycle datasets history --help",
    "lifecycle datasets",
    "lifecycle settings",
)


def one_process(code: str, home: Path) -> tuple[float, list[str]]:
    """CPU seconds of one ``python -c code`` process, and the libraries it said it imported."""
    from docblocks import python_child

    spent, done = python_child(code, home)
    said = done.stderr.strip().splitlines()
    return spent, json.loads(said[-1]) if said and said[-1].startswith("[") else []


def lifecycle_code(args: list[str], before: bool) -> str:
    return (
        LIFECYCLE.replace("BEFORE", BEFORE if before else "")
        .replace("ARGS", repr(args))
        .replace("LIBRARIES", repr(LIBRARIES))
    )


def bench(runs: int, home: Path) -> dict[str, Any]:
    codes = {"python -c pass": "pass", "import everything": EVERYTHING}
    codes |= {name: lifecycle_code(args, before=False) for name, args in CALLS.items()}
    codes |= {f"{name} (before)": lifecycle_code(CALLS[name], before=True) for name in HELPS}
    samples: dict[str, list[float]] = {name: [] for name in codes}
    imported: dict[str, list[str]] = {}
    for _ in range(runs):
        for name, code in codes.items():  # alternating: a load change touches each alike
            spent, imported[name] = one_process(code, home)
            samples[name].append(spent)
    cpu = {name: statistics.median(values) for name, values in samples.items()}
    everything = cpu["import everything"]
    calls = [
        {
            "call": name,
            "cpu": round(cpu[name], 3),
            "of_everything": round(cpu[name] / everything, 3),
            "imported": imported[name],
        }
        for name in codes
        if name != "import everything"
    ]
    ratios = {name: round(cpu[name] / cpu[f"{name} (before)"], 2) for name in HELPS}
    return {"runs": runs, "cpu_everything": round(everything, 3), "calls": calls} | {
        "help_ratios": ratios
    }


def render_doc(name: str, document: dict[str, Any]) -> str:
    from docblocks import measured_on

    rows = [
        f"| {call['call']} | {call['cpu']:.3f} | {call['of_everything']:.2f}x | "
        f"{', '.join(call['imported']) or 'none'} |"
        for call in document["calls"]
    ]
    return "\n".join(
        [
            "| process | CPU s | of importing everything | of those libraries imported |",
            "|---|---:|---:|---|",
            *rows,
            f"| import everything | {document['cpu_everything']:.3f} | 1.00x | all |",
            "",
            f"Median CPU seconds of {document['runs']} processes each, alternating, "
            f"{measured_on(document['machine'])}. Now against before: "
            + ", ".join(f"`{n}` **{r:.2f}x**" for n, r in document["help_ratios"].items())
            + ".",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    sys.path.insert(0, str(ROOT / "experiments"))
    from docblocks import machine, parse_arguments, record_run

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    args = parse_arguments(parser, argv, runs=5)
    measured_from = machine()
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as scratch:
        document = {"machine": measured_from, **bench(args.runs, Path(scratch) / "workspace")}
    for call in document["calls"]:
        print(
            f"{call['call']}: {call['cpu']:.3f} CPU-s, {call['of_everything']:.2f}x importing "
            f"everything ({document['cpu_everything']:.3f}); imported: "
            f"{', '.join(call['imported']) or 'none'}"
        )
    print(f"now / before: {document['help_ratios']}")
    if args.doc:
        record_run("bench_cli_startup.py", args, argv, document, render_doc)


if __name__ == "__main__":
    main()
