"""Benchmark the medians an append's money checks take of a large dataset's amounts.

An append compares its file's amounts with the dataset's
(``features.money_checks.refuse_amount_shift``: the file's median against the dataset's)
and holds back amounts far above the median of the two together (``absurd_amounts``). The
code reads the dataset's positive amounts four times: a count and a median for each check
(DuckDB's exact median up to 1,000,000 amounts, its ``approx_quantile`` estimate beyond).
This times three ways on one dataset of ``--rows`` purchases and a 2,000-row file, in the
same run, CPU seconds (``time.process_time``, DuckDB's threads included) under
``ingest.memory_limit``'s default 256MB:

- ``before``: the two checks as they ran before 2026-12-07 (the baseline): beyond 1M
  amounts DuckDB's estimate, however few the distinct amounts
  (``features.duckdb_memory.FEW_DISTINCT_VALUES`` off);
- ``now``: the two checks as they run: beyond 1M amounts, of up to 100,000 distinct ones
  (by DuckDB's HyperLogLog estimate), the exact median from each amount's count;
- ``one read``: the counts in one pass, then the three medians (the file's, the dataset's,
  the two together) in one pass: the same functions over the same amounts, read twice;
- ``histogram``: one ``GROUP BY amount`` pass, each median exact from the counts of each
  amount (a cumulative sum): exact at every size, its cost following the distinct amounts.

Each on two datasets: ``prices`` (1,000 distinct amounts, as a shop's prices) and
``distinct`` (every amount apart, as converted currencies).

    python experiments/bench_append_medians.py [--rows 16000000] [--runs 3]
    python experiments/bench_append_medians.py --doc docs/benchmarks.md   # into the doc
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
WAYS = ("before", "now", "one read", "histogram")
AMOUNTS = {
    "prices": "(10 + (i % 1000) / 100)::DOUBLE",  # 10.00 .. 19.99
    "distinct": "(10 + random() * 10)::DOUBLE",
}


def _write(folder: Path, rows: int, kind: str) -> tuple[Path, str]:
    """A dataset's events of ``rows`` purchases, and a 2,000-row file's staged amounts."""
    from features import contract as c
    from features.duckdb_memory import connect
    from lifecycle.sql import literal

    stored, staged = folder / f"{kind}.parquet", folder / "staged.parquet"
    with connect() as con:
        con.execute(
            f"COPY (SELECT 'u' || (i % 50000) AS {c.USER_ID}, TIMESTAMP '2020-01-01' + "
            f"to_seconds(i) AS {c.EVENT_TIME}, '{c.PURCHASE}' AS {c.EVENT_TYPE}, "
            f"{AMOUNTS[kind]} AS {c.AMOUNT} FROM range({rows}) t(i)) TO {literal(stored)}"
        )
        con.execute(
            f"COPY (SELECT i + 1 AS source_row, (12 + i % 7)::DOUBLE AS {c.AMOUNT} "
            f"FROM range(2000) t(i)) TO {literal(staged)}"
        )
    return stored, f"read_parquet({literal(staged)})"


def _flagged(stored: Path, staged: str) -> str:
    from features.money_checks import SUBNORMAL
    from lifecycle.sql import literal

    positive = f"amount >= {SUBNORMAL!r}"
    return (
        f"(SELECT amount, true AS held FROM read_parquet({literal(stored)}) WHERE {positive} "
        f"UNION ALL SELECT amount, false FROM {staged} WHERE {positive} "
        "AND source_row NOT IN (SELECT source_row FROM held_back))"
    )


def _now(con: Any, stored: Path, staged: str) -> list[float]:
    from features.money_checks import absurd_amounts, refuse_amount_shift
    from features.table_checks import TableChecks

    checks = TableChecks()
    refuse_amount_shift(con, staged, "source_row", stored, 1e9, checks, "f.csv")
    absurd_amounts(con, staged, "source_row", 1e9, checks, stored)
    return []


def _before(con: Any, stored: Path, staged: str) -> list[float]:
    from features import duckdb_memory

    few, duckdb_memory.FEW_DISTINCT_VALUES = duckdb_memory.FEW_DISTINCT_VALUES, -1
    try:
        return _now(con, stored, staged)
    finally:
        duckdb_memory.FEW_DISTINCT_VALUES = few


def _one_read(con: Any, stored: Path, staged: str) -> list[float]:
    from features.duckdb_memory import EXACT_MEDIAN_VALUES

    rows = _flagged(stored, staged)
    held, file = con.execute(
        f"SELECT count(*) FILTER (WHERE held), count(*) FILTER (WHERE NOT held) FROM {rows}"
    ).fetchone()

    def how(count: int, where: str) -> str:
        median = (
            "median(amount)" if count <= EXACT_MEDIAN_VALUES else "approx_quantile(amount, 0.5)"
        )
        return f"{median} FILTER (WHERE {where})"

    found = con.execute(
        f"SELECT {how(file, 'NOT held')}, {how(held, 'held')}, {how(held + file, 'true')} "
        f"FROM {rows}"
    ).fetchone()
    return [float(v) for v in found]


def _histogram(con: Any, stored: Path, staged: str) -> list[float]:
    """Exact medians from each amount's counts, in one query: DuckDB's median of n values is
    lo + (hi - lo) * 0.5, lo and hi the ((n - 1) // 2)-th and (n // 2)-th in order."""
    parts = ("file", "held", "total")
    grouped = (
        "SELECT amount, count(*) FILTER (WHERE NOT held) AS file, count(*) FILTER (WHERE "
        f"held) AS held, count(*) AS total FROM {_flagged(stored, staged)} GROUP BY amount"
    )
    running = ", ".join(f"sum({p}) OVER w AS upto_{p}" for p in parts)
    picked = ", ".join(
        f"min(amount) FILTER (WHERE upto_{p} > (n_{p} - 1) // 2), "
        f"min(amount) FILTER (WHERE upto_{p} > n_{p} // 2)"
        for p in parts
    )
    found = con.execute(
        f"WITH g AS ({grouped}), "
        f"n AS (SELECT {', '.join(f'sum({p}) AS n_{p}' for p in parts)} FROM g), "
        f"c AS (SELECT amount, {running} FROM g "
        "WINDOW w AS (ORDER BY amount ROWS UNBOUNDED PRECEDING)) "
        f"SELECT {picked} FROM c, n"
    ).fetchone()
    pairs = zip(found[::2], found[1::2], strict=True)
    return [lo if lo == hi else lo + (hi - lo) * 0.5 for lo, hi in pairs]


def bench(rows: int, runs: int, folder: Path) -> dict[str, Any]:
    from features.duckdb_memory import INGEST, OutOfMemory, bounded, connect

    cases = []
    for kind in AMOUNTS:
        stored, staged = _write(folder, rows, kind)
        spent: dict[str, list[float]] = {w: [] for w in WAYS}
        found: dict[str, list[float]] = {}
        failed: dict[str, int] = {}  # way -> runs that ran out of the 256MB
        for timed in [False] + [True] * runs:  # a first run of each untimed: imports
            for way, run in zip(WAYS, (_before, _now, _one_read, _histogram), strict=True):
                try:
                    with bounded(connect(), "256MB", folder / "shop", *INGEST) as con:
                        con.execute("CREATE TEMP TABLE held_back (source_row BIGINT)")
                        started = time.process_time()
                        found[way] = run(con, stored, staged)
                        if timed:
                            spent[way].append(time.process_time() - started)
                except OutOfMemory:
                    failed[way] = failed.get(way, 0) + 1
        base = statistics.median(spent["before"])
        case: dict[str, Any] = {"amounts": kind, "rows": rows, "out_of_memory": failed}
        for way in WAYS:
            key = way.replace(" ", "_")
            median = statistics.median(spent[way]) if spent[way] else None
            case[f"cpu_{key}"] = None if median is None else round(median, 3)
            if way != "before":
                case[f"ratio_{key}"] = None if median is None else round(median / base, 2)
            if way in ("one read", "histogram"):
                case[f"medians_{key}"] = [round(v, 4) for v in found.get(way, [])]
        cases.append(case)
        stored.unlink()
    return {"runs": runs, "cases": cases}


def _shown(cpu: float | None, ratio: float | None = None) -> str:
    if cpu is None:
        return "out of 256MB"
    return f"{cpu:.3f}" + ("" if ratio is None else f" ({ratio:.2f}x)")


def render_doc(name: str, document: dict[str, Any]) -> str:
    from docblocks import measured_on

    lines = [
        "| dataset's amounts | rows | before (CPU s) | now | one read | histogram |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for case in document["cases"]:
        lines.append(
            f"| {case['amounts']} | {case['rows']:,} | {_shown(case['cpu_before'])} | "
            f"{_shown(case['cpu_now'], case['ratio_now'])} | "
            f"{_shown(case['cpu_one_read'], case['ratio_one_read'])} | "
            f"{_shown(case['cpu_histogram'], case['ratio_histogram'])} |"
        )
    failed = [
        f"{way} {n} of {document['runs'] + 1} on {case['amounts']}"
        for case in document["cases"]
        for way, n in case["out_of_memory"].items()
    ]
    lines += [
        "",
        f"Medians of {document['runs']} runs each way, {measured_on(document['machine'])}, "
        "under a 256MB memory limit"
        + (f"; runs out of it: {', '.join(failed)}." if failed else "."),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=16_000_000)
    parser.add_argument("--runs", type=int, default=3)
    sys.path.insert(0, str(ROOT / "experiments"))
    from docblocks import doc_arguments, machine, record_run

    doc_arguments(parser)
    args = parser.parse_args(argv)
    measured_from = machine()
    with tempfile.TemporaryDirectory(prefix="bench-append-medians-") as scratch:
        document = {"machine": measured_from, **bench(args.rows, args.runs, Path(scratch))}
    for case in document["cases"]:
        print(
            f"{case['amounts']:>8} ({case['rows']:,} amounts): before "
            f"{_shown(case['cpu_before'])} CPU-s; now {_shown(case['cpu_now'], case['ratio_now'])}"
            f"; one read {_shown(case['cpu_one_read'], case['ratio_one_read'])}; "
            f"histogram {_shown(case['cpu_histogram'], case['ratio_histogram'])}; medians "
            f"(file, dataset, both) {case['medians_one_read']} / exact "
            f"{case['medians_histogram']}; out of memory: {case['out_of_memory'] or 'none'}"
        )
    if args.doc:
        record_run("bench_append_medians.py", args, argv, document, render_doc)


if __name__ == "__main__":
    main()
