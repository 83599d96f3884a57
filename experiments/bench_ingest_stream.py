"""Benchmark streaming ingest: peak memory and time against reading the same CSV whole.

Writes a synthetic events CSV per size (user, ISO time, type, amount, currency, order id;
0.5% bad rows and 0.2% exact repeats, spread over the file) into a temporary folder, then
measures, each in its own subprocess so ``ru_maxrss`` is that variant's alone:

- ``stream``: ``lifecycle ingest``'s function with the default ``ingest.chunk_rows``;
- ``one chunk``: the same function with one chunk as large as the file (what validating
  the whole frame costs);
- ``pandas read`` (baseline, same run): ``pd.read_csv(dtype=str, keep_default_na=False)``
  of the whole file, which is what ingest did before it streamed, before any checking.

It also checks that the streamed and the one-chunk datasets are identical.

    uv run python experiments/bench_ingest_stream.py [--rows 1000000 --rows 4000000] [--quick]
    uv run python experiments/bench_ingest_stream.py --doc docs/benchmarks.md   # into the doc
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from lifecycle.workspace import EVENTS_FILE

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("pandas_read", "stream", "one_chunk")


def _peak_rss_mb() -> float:
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: KiB on Linux, bytes on macOS
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def write_events_csv(path: Path, rows: int, seed: int = 7, batch: int = 500_000) -> None:
    """A synthetic event log with a few bad rows and repeats, written batch by batch."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    rng = np.random.default_rng(seed)
    users = max(rows // 40, 10)
    start = np.datetime64("2023-01-01T00:00:00", "s").astype(np.int64)
    span = 3 * 365 * 86_400
    kinds = np.array(["session", "session", "session", "purchase", "activation", "refund"])
    names = ("user_id", "event_time", "event_type", "amount", "currency", "order_id")
    schema = pa.schema([(name, pa.string()) for name in names])
    with pa_csv.CSVWriter(path, schema) as writer:
        for offset in range(0, rows, batch):
            n = min(batch, rows - offset)
            user = np.char.add("u", rng.integers(1, users + 1, n).astype(str))
            seconds = np.sort(rng.integers(start, start + span, n))
            when = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")
            kind = kinds[rng.integers(0, len(kinds), n)]
            monetary = np.isin(kind, ["purchase", "refund"])
            amount = np.where(monetary, np.round(rng.gamma(2.0, 20.0, n), 2).astype(str), "")
            order = np.where(monetary, np.char.add("o", (offset + np.arange(n)).astype(str)), "")
            bad = rng.random(n)
            user = np.where(bad < 0.002, "", user)  # missing_user_id
            when = np.where((bad >= 0.002) & (bad < 0.004), "not a time", when)
            amount = np.where((bad >= 0.004) & (bad < 0.005) & monetary, "-1", amount)
            columns = [user, when, kind, amount, np.where(monetary, "EUR", ""), order]
            repeat = np.flatnonzero(rng.random(n) < 0.002)  # copy the row before it
            repeat = repeat[repeat > 0]
            for column in columns:
                column[repeat] = column[repeat - 1]
            writer.write_table(pa.table(dict(zip(names, columns, strict=True)), schema=schema))


def measure(variant: str, csv_path: Path, out: Path, chunk_rows: int | None) -> dict[str, float]:
    """One variant, in this (child) process."""
    sys.path.insert(0, str(ROOT))
    began = time.perf_counter()
    if variant == "pandas_read":
        import pandas as pd

        frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
        rows = len(frame)
    else:
        from features.ingest import ingest_events
        from features.reading import DEFAULT_CHUNK_ROWS

        summary = ingest_events(
            csv_path, out, chunk_rows=chunk_rows or DEFAULT_CHUNK_ROWS, max_bad_fraction=0.5
        )
        rows = summary.tables["events"]["rows_read"]
    return {
        "seconds": round(time.perf_counter() - began, 2),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "rows": rows,
    }


def _child(*args: str) -> dict[str, object]:
    """Run a step in a fresh interpreter: Linux keeps ru_maxrss across fork and exec, so
    this (parent) process stays small and does no step itself."""
    command = [sys.executable, __file__, "--child", *args]
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def identical(one: Path, other: Path, but: tuple[tuple[str, ...], ...] = ()) -> bool:
    """Same events table, quarantine file and report (in a child: it reads both tables),
    the report's tables but the fields at these paths (("notes", "blank_rows_skipped"))."""
    import pandas as pd

    events = [pd.read_parquet(d / EVENTS_FILE) for d in (one, other)]
    reports = [json.loads((d / "report.json").read_text())["tables"] for d in (one, other)]
    for table in (table for report in reports for table in report.values()):
        for *within, field in but:
            for key in within:
                table = table.get(key, {})
            table.pop(field, None)
    held = [(d / "quarantine" / "events.csv").read_bytes() for d in (one, other)]
    return events[0].equals(events[1]) and reports[0] == reports[1] and held[0] == held[1]


def bench(rows: int, chunk_rows: int | None, scratch: Path) -> dict[str, object]:
    csv_path = scratch / f"events-{rows}.csv"
    _child("generate", str(rows), str(csv_path))
    result: dict[str, object] = {"rows": rows, "csv_mb": round(csv_path.stat().st_size / 2**20, 1)}
    for variant in VARIANTS:
        size = rows + 1 if variant == "one_chunk" else chunk_rows or 0
        out = scratch / f"{variant}-{rows}"
        result[variant] = _child(variant, str(csv_path), str(out), str(size))
    same = _child("compare", str(scratch / f"stream-{rows}"), str(scratch / f"one_chunk-{rows}"))
    result["identical"] = same["identical"]
    events = json.loads((scratch / f"stream-{rows}" / "report.json").read_text())["tables"]
    result["quarantined"] = events["events"]["rows_quarantined"]
    csv_path.unlink()
    return result


def child(args: list[str]) -> dict[str, object]:
    step = args[0]
    if step == "generate":
        write_events_csv(Path(args[2]), int(args[1]))
        return {"written": args[2]}
    if step == "compare":
        return {"identical": identical(Path(args[1]), Path(args[2]))}
    return measure(step, Path(args[1]), Path(args[2]), int(args[3]) or None)


LABELS = {
    "pandas_read": "pandas read (baseline)",
    "stream": "streamed ingest",
    "one_chunk": "same code, one chunk",
}


def render_doc(name: str, results: dict[str, Any]) -> str:
    """The doc's table: each size's variants against the same-run whole-file read."""
    from docblocks import measured_on

    runs = results["runs"]
    chunk_rows = results["chunk_rows"] or "the default"
    lines = [
        f"{measured_on(results['machine'])}; `ingest.chunk_rows` {chunk_rows}:",
        "",
        "| rows | CSV | variant | time | peak RSS | RSS vs read | time vs read |",
        "|---:|---:|---|---:|---:|---:|---:|",
    ]
    for run in runs:
        base = run["pandas_read"]
        for variant in VARIANTS:
            row = run[variant]
            lines.append(
                f"| {run['rows']:,} | {run['csv_mb']:,.0f} MB | {LABELS[variant]} | "
                f"{row['seconds']:.1f} s | {row['peak_rss_mb']:,.0f} MB | "
                f"{row['peak_rss_mb'] / base['peak_rss_mb']:.2f}x | "
                f"{row['seconds'] / base['seconds']:.2f}x |"
            )
    same = all(run["identical"] for run in runs)
    lines += [
        "",
        "The streamed and one-chunk datasets are "
        + ("identical in every run" if same else "NOT identical in every run")
        + " ("
        + ", ".join(f"{run['quarantined']:,} rows quarantined of {run['rows']:,}" for run in runs)
        + ").",
    ]
    if len(runs) > 1:
        small, large = min(runs, key=lambda r: r["rows"]), max(runs, key=lambda r: r["rows"])
        grown = large["stream"]["peak_rss_mb"] - small["stream"]["peak_rss_mb"]
        lines[-1] += (
            f" {large['rows'] / small['rows']:.0f} times the rows cost the streamed ingest "
            f"{grown:,.0f} MB more peak memory; the whole-file read grew by "
            f"{large['pandas_read']['peak_rss_mb'] - small['pandas_read']['peak_rss_mb']:,.0f} MB."
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="repeatable")
    parser.add_argument("--chunk-rows", type=int, help="default: ingest.chunk_rows' default")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20,000 rows")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--doc", type=Path, help="write the table into this doc's block")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child)))
        return
    sizes = args.rows or ([20_000] if args.quick else [1_000_000, 4_000_000])
    chunk_rows = args.chunk_rows or (5_000 if args.quick else None)
    from docblocks import machine, record, shown_command

    meta = machine()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        results = [bench(rows, chunk_rows, Path(tmp)) for rows in sizes]
    if args.doc:
        command = shown_command("bench_ingest_stream.py", argv)
        document = {"machine": meta, "chunk_rows": chunk_rows, "runs": results}
        record(
            args.doc, "bench_ingest_stream", "bench_ingest_stream.py", command, document, render_doc
        )
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"chunk_rows: {chunk_rows or 'default'}; each variant in its own process")
    print(
        f"{'rows':>10} {'CSV MB':>7} {'variant':>12} {'seconds':>8} {'peak RSS MB':>12} "
        f"{'RSS vs read':>12} {'time vs read':>13}"
    )
    for result in results:
        base = result["pandas_read"]
        for variant in VARIANTS:
            row = result[variant]
            print(
                f"{result['rows']:>10,} {result['csv_mb']:>7.1f} {variant:>12} "
                f"{row['seconds']:>8.2f} {row['peak_rss_mb']:>12.0f} "
                f"{row['peak_rss_mb'] / base['peak_rss_mb']:>11.2f}x "
                f"{row['seconds'] / base['seconds']:>12.2f}x"
            )
        print(
            f"{'':>10} streamed dataset identical to one chunk: "
            f"{'yes' if result['identical'] else 'NO'}; {result['quarantined']:,} rows quarantined"
        )


if __name__ == "__main__":
    main()
