"""Benchmark a blank tail: a CSV's ``,,,,`` lines under its last row of data, skipped.

Writes two CSVs of the same rows of data (user, time, type, amount and six more columns),
one ending in ``--tail`` lines of commas only (a sheet's rows once formatted, exported), and
ingests each with ``lifecycle ingest``'s function in its own subprocess (so ``ru_maxrss`` is
that file's alone). The file without the tail is the baseline measured in the same run: the
tail's lines must be read and checked, not held (session 57 measured 304 MB peak against
214 MB, 4.9 s against 1.2 s, for 1M lines held as frames). It checks that both datasets hold
the same events and quarantine, and that the tail is counted as skipped.

    uv run python experiments/bench_blank_tail.py [--rows 1000 --tail 1000000] [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_ingest_stream import _peak_rss_mb, identical

from features.read_words import BLANK_ROWS_SKIPPED

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("user_id", "event_time", "event_type", "amount", *(f"note{i}" for i in range(6)))


def write_csv(path: Path, rows: int, tail: int) -> None:
    """``rows`` purchases, a blank line among them (an ``empty_row``), then ``tail`` blank
    lines."""
    start = dt.datetime(2024, 1, 1)
    lines = [
        f"u{i % 40},{start + dt.timedelta(minutes=i):%Y-%m-%d %H:%M},purchase,2.5,a,b,c,d,e,f\n"
        for i in range(rows)
    ]
    blank = "," * (len(COLUMNS) - 1) + "\n"
    lines.insert(rows // 2, blank)
    with path.open("w") as out:
        out.write(",".join(COLUMNS) + "\n")
        out.writelines(lines)
        for _ in range(tail // 100_000):
            out.write(blank * 100_000)
        out.write(blank * (tail % 100_000))


def measure(csv_path: Path, out: Path) -> dict[str, object]:
    """One ingest, in this (child) process."""
    sys.path.insert(0, str(ROOT))
    from features.ingest import ingest_events

    began = time.perf_counter()
    summary = ingest_events(csv_path, out)
    events = summary.tables["events"]
    return {
        "seconds": round(time.perf_counter() - began, 2),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "rows_read": events["rows_read"],
        "skipped": events["notes"].get(BLANK_ROWS_SKIPPED, 0),
    }


def _child(*args: str) -> dict[str, object]:
    command = [sys.executable, __file__, "--child", *args]
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench(rows: int, tail: int, scratch: Path) -> dict[str, object]:
    result: dict[str, object] = {"rows": rows, "tail_lines": tail}
    for name, lines in (("no_tail", 0), ("tail", tail)):
        path = scratch / name / "orders.csv"  # one name: the quarantine names its file
        path.parent.mkdir()
        write_csv(path, rows, lines)
        result[name] = _child("ingest", str(path), str(scratch / name / "dataset"))
    same = _child("compare", *(str(scratch / name / "dataset") for name in ("no_tail", "tail")))
    result["identical"] = same["identical"]
    return result


def child(args: list[str]) -> dict[str, object]:
    if args[0] == "compare":  # the same events and quarantine; reports but for the note
        one, other = Path(args[1]), Path(args[2])
        but = (("source",), ("notes", BLANK_ROWS_SKIPPED))
        return {"identical": identical(one, other, but)}
    return measure(Path(args[1]), Path(args[2]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000, help="rows of data")
    parser.add_argument("--tail", type=int, default=1_000_000, help="blank lines under them")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 20,000 blank lines")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-blank-tail-") as tmp:
        result = bench(args.rows, 20_000 if args.quick else args.tail, Path(tmp))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    base, tail = result["no_tail"], result["tail"]
    print(f"{result['rows']:,} rows of data, {len(COLUMNS)} columns; each file in its own process")
    for name in ("no_tail", "tail"):
        row = result[name]
        print(
            f"{name:>8}: {row['seconds']:6.2f} s, peak RSS {row['peak_rss_mb']:6.0f} MB, "
            f"{row['rows_read']:,} rows read, {row['skipped']:,} blank lines skipped"
        )
    print(
        f"the {result['tail_lines']:,}-line tail against none: peak RSS "
        f"{tail['peak_rss_mb'] / base['peak_rss_mb']:.2f}x, time "
        f"{tail['seconds'] / base['seconds']:.2f}x; same events and quarantine: "
        f"{'yes' if result['identical'] else 'NO'}"
    )


if __name__ == "__main__":
    main()
