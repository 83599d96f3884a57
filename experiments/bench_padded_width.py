"""Benchmark what a model load pays for a dataset's zero-padded id width.

A scorer's load, a campaign's start and `features show` ask the dataset's padded id width
(``features.id_spellings.padded_width``: CDNOW's ``00001``..``23570`` are 5 digits,
zero-padded), to say so when an id typed unpadded finds no user. Where the Parquet
statistics left the ids possibly padded, every load read every id (0.73 s at 16M rows).
The step that writes the events (ingest, append, import, forget) now finds it once and
keeps it beside the table (``record_padded_width``), under the file's key; a load reads
that. The baseline, in the same run, is the load of the same table with nothing kept
beside it, which reads the ids as every load did before. CPU seconds
(``time.process_time``), medians of ``--runs`` alternating runs, on a synthetic events table
of ``--rows`` rows of 5-digit padded ids (a third of them starting with 0).

    python experiments/bench_padded_width.py [--rows 16000000] [--runs 5]
    python experiments/bench_padded_width.py --doc docs/benchmarks.md   # into the doc
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def write_events(path: Path, rows: int) -> None:
    """A dataset's events table (the contract's columns) with padded 5-digit ids."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from features import contract as c

    generator = np.random.default_rng(7)
    numbers = pa.array(generator.integers(1, 30_000, rows))
    ids = pc.utf8_lpad(pc.cast(numbers, pa.string()), 5, "0")
    start = np.datetime64("2024-01-01T00:00:00", "us")
    times = start + generator.integers(0, 365 * 86_400_000_000, rows).astype("timedelta64[us]")
    table = pa.table(
        {
            c.USER_ID: ids,
            c.EVENT_TIME: pa.array(np.sort(times)).cast(pa.timestamp("us", tz="UTC")),
            c.EVENT_TYPE: pa.array(["purchase"] * rows).dictionary_encode(),
            c.AMOUNT: pa.array(generator.gamma(2.0, 15.0, rows).round(2)),
        }
    )
    pq.write_table(table, path, row_group_size=1_000_000)


def bench(rows: int, runs: int, folder: Path) -> dict[str, Any]:
    from features.id_spellings import IDS_RECORD, padded_width, record_padded_width

    events = folder / "events.parquet"
    write_events(events, rows)
    kept = events.with_name(IDS_RECORD)
    started = time.process_time()
    width = record_padded_width(events)  # what the writing step pays, once
    record_cpu = time.process_time() - started
    saved = kept.read_bytes()
    samples: dict[str, list[float]] = {"baseline": [], "now": []}
    widths: set[Any] = set()
    for _ in range(runs):
        for way in ("baseline", "now"):
            if way == "baseline":
                kept.unlink()  # nothing beside the table: every id read, as before
            else:
                kept.write_bytes(saved)
            started = time.process_time()
            widths.add(padded_width(events))
            samples[way].append(time.process_time() - started)
    baseline, now = (statistics.median(samples[w]) for w in ("baseline", "now"))
    return {
        "rows": rows,
        "runs": runs,
        "width": width,
        "same_width": widths == {width},
        "cpu_baseline": round(baseline, 4),
        "cpu_now": round(now, 4),
        "ratio": round(now / baseline, 4),
        "cpu_record": round(record_cpu, 4),  # the doc shows 2 decimals; a small table takes ms
    }


def render_doc(name: str, document: dict[str, Any]) -> str:
    from docblocks import measured_on

    return "\n".join(
        [
            f"| padded id width of {document['rows']:,} events (CPU s) | baseline: every id "
            "read | now: kept beside the table | ratio |",
            "|---|---:|---:|---:|",
            f"| a model load | {document['cpu_baseline']:.3f} | {document['cpu_now']:.4f} | "
            f"**{document['ratio']:.4f}x** |",
            "",
            f"Medians of {document['runs']} runs, {measured_on(document['machine'])}. Width "
            f"{document['width']} both ways; the step that writes the events reads them once "
            f"({document['cpu_record']:.2f} s).",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=16_000_000)
    parser.add_argument("--runs", type=int, default=5)
    sys.path.insert(0, str(ROOT / "experiments"))
    from docblocks import doc_arguments, machine, record_run

    doc_arguments(parser)
    args = parser.parse_args(argv)
    measured_from = machine()
    with tempfile.TemporaryDirectory(prefix="bench-padded-") as scratch:
        document = {"machine": measured_from, **bench(args.rows, args.runs, Path(scratch))}
    print(
        f"{document['rows']:,} padded ids, width {document['width']}: a load "
        f"{document['cpu_baseline']:.3f} -> {document['cpu_now']:.4f} CPU-s "
        f"({document['ratio']:.4f}x the baseline, every id read, in the same run); "
        f"recorded once in {document['cpu_record']:.2f} s"
    )
    if not document["same_width"] or document["width"] != 5:
        raise SystemExit(f"the widths differ: {document}")
    if args.doc:
        record_run("bench_padded_width.py", args, argv, document, render_doc)


if __name__ == "__main__":
    main()
