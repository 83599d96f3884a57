"""Benchmark `lifecycle import online-retail`: its CPU, now against the whole number parse.

Each run is a fresh process importing the file (``lifecycle --quiet import online-retail
FILE``, the `lifecycle` script's code) into a workspace of its own; its CPU seconds from
``getrusage``. The baseline, alternating with it in the same run, is the same code with
``features.parsing._plain_numbers`` turned off: Quantity and UnitPrice read through every
form a number may take, as before 2026-12-07. Both must write the same bytes: the events,
users and guest rows tables and the quarantine file (checked, sha256).

    python experiments/bench_online_retail_import.py [--rows 541909] [--runs 3]
    python experiments/bench_online_retail_import.py --doc docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("LIFECYCLE_DATA_ROOT", ROOT.parent / "shared" / "data"))
SOURCE = DATA / "online_retail" / "online_retail_transactions.csv.gz"
OUTPUTS = ("events.parquet", "users.parquet", "guest_rows.parquet", "quarantine/events.csv")
RUN = """
import sys
BASELINE
from lifecycle.cli import run
sys.argv = ["lifecycle", "--quiet", "import", "online-retail", FILE]
run()
"""
BASELINE = "import features.parsing as p; p._plain_numbers = lambda text, filled: None"


def source_file(rows: int, folder: Path) -> Path:
    """The real file, or its first ``rows`` lines (gzip, as it is)."""
    if rows <= 0:
        return SOURCE
    part = folder / "online_retail_part.csv.gz"
    with gzip.open(SOURCE, "rt", encoding="utf-8") as whole, gzip.open(part, "wt") as out:
        for number, line in enumerate(whole):
            if number > rows:
                break
            out.write(line)
    return part


def one_run(source: Path, home: Path, baseline: bool) -> tuple[float, dict[str, str]]:
    """CPU seconds of one import process, and the sha256 of each file it wrote."""
    code = RUN.replace("BASELINE", BASELINE if baseline else "").replace("FILE", repr(str(source)))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}
    environ |= {"LIFECYCLE_HOME": str(home), "PYTHONPATH": str(ROOT)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", code], env=environ, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    spent = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    dataset = home / "datasets" / "online_retail"
    digests = {
        name: hashlib.sha256((dataset / name).read_bytes()).hexdigest()
        for name in OUTPUTS
        if (dataset / name).is_file()
    }
    return spent, digests


def bench(rows: int, runs: int, folder: Path) -> dict[str, Any]:
    source = source_file(rows, folder)
    samples: dict[str, list[float]] = {"baseline": [], "now": []}
    written: dict[str, set[tuple[tuple[str, str], ...]]] = {"baseline": set(), "now": set()}
    for run in range(runs):
        for way in ("baseline", "now"):
            spent, digests = one_run(source, folder / f"{way}-{run}", way == "baseline")
            samples[way].append(spent)
            written[way].add(tuple(sorted(digests.items())))
    baseline, now = (statistics.median(samples[w]) for w in ("baseline", "now"))
    files = sorted({name for digests in written["now"] for name, _ in digests})
    return {
        "rows": rows if rows > 0 else "all",
        "runs": runs,
        "cpu_baseline": round(baseline, 2),
        "cpu_now": round(now, 2),
        "ratio": round(now / baseline, 3),
        "files": files,
        "same_bytes": written["now"] == written["baseline"] and len(written["now"]) == 1,
    }


def render_doc(name: str, document: dict[str, Any]) -> str:
    from docblocks import measured_on

    rows = document["rows"]
    return "\n".join(
        [
            f"| `lifecycle import online-retail` ({'all 541,909' if rows == 'all' else f'{rows:,}'}"
            " lines, CPU s) | baseline: the whole number parse | now | ratio |",
            "|---|---:|---:|---:|",
            f"| one process | {document['cpu_baseline']:.2f} | {document['cpu_now']:.2f} | "
            f"**{document['ratio']:.3f}x** |",
            "",
            f"Medians of {document['runs']} processes each, alternating, "
            f"{measured_on(document['machine'])}. The same bytes both ways: "
            f"{'yes' if document['same_bytes'] else 'NO'} ({', '.join(document['files'])}).",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    sys.path.insert(0, str(ROOT / "experiments"))
    from docblocks import machine, parse_arguments, record_run

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=0, help="the file's first ROWS lines")
    args = parse_arguments(parser, argv, runs=3)
    measured_from = machine()
    with tempfile.TemporaryDirectory(prefix="bench-online-retail-") as scratch:
        document = {"machine": measured_from, **bench(args.rows, args.runs, Path(scratch))}
    print(
        f"import online-retail: {document['cpu_baseline']:.2f} -> {document['cpu_now']:.2f} "
        f"CPU-s ({document['ratio']:.3f}x the baseline, in the same run); the same bytes: "
        f"{document['same_bytes']}"
    )
    if not document["same_bytes"]:
        raise SystemExit(f"the import wrote other bytes: {document}")
    if args.doc:
        record_run("bench_online_retail_import.py", args, argv, document, render_doc)


if __name__ == "__main__":
    main()
