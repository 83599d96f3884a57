"""Benchmark a list's read of a scores table of N users: every column, or the text for the listed rows.

``lifecycle at-risk`` (top 100 by value at risk) reads the scores table, ranks it and shows
its page. This times, each way in its own process (CPU seconds, peak RSS (``VmHWM``), the most
memory Arrow held at once), on the same table:

- the baseline: ``serving.batch.read_scores`` (every column, the JSON text of every user:
  ``reasons``, ``not_scored``, ``outlook_apart``) then ``serving.lists.at_risk_page``, as the
  list read it before 2026-12-07;
- now: ``serving.batch.read_list_scores`` (without the text columns) then ``at_risk_page``
  with ``serving.scores_text.listed_text`` (the text of the 100 listed rows).

The table: the workspace's latest scores table's rows drawn with replacement to N users with
new ids (``bench_batch_scoring.drawn_users``), written by ``serving.batch.write_scores`` to a
temporary folder. The two pages are compared (their CSV text).

    python experiments/bench_list_scores.py --home <trained workspace>              # 1M users
    python experiments/bench_list_scores.py --home <trained workspace> --doc docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from docblocks import home_argument, machine, measured_on, parse_arguments, python_child, record_run

# one list in a fresh process: the page's CSV digest, its peak RSS (MiB), Arrow's peak (MiB)
CHILD = """
import hashlib, json, sys
from functools import partial
import pyarrow as pa
from serving.batch import read_list_scores, read_scores
from serving.lists import at_risk_page
from serving.scores_text import listed_text
from pathlib import Path
path, way = Path(sys.argv[1]), sys.argv[2]
if way == "baseline":
    page = at_risk_page(read_scores(path).frame, limit=100).ranked
else:
    table = read_list_scores(path)
    page = at_risk_page(table.frame, limit=100, rows_text=partial(listed_text, table)).ranked
# this process's peak (ru_maxrss would count the parent's at the fork)
status = open("/proc/self/status").read().split("VmHWM:")[1]
hwm = int(status.split()[0]) / 1024
print(json.dumps({
    "digest": hashlib.sha256(page.to_csv().encode()).hexdigest(),
    "rss": hwm,
    "arrow": pa.default_memory_pool().max_memory() / 2**20,
}))
"""


def bench(home: Path, users: int, runs: int) -> dict[str, Any]:
    import pyarrow.parquet as pq
    from bench_batch_scoring import drawn_users

    from lifecycle.settings import load_settings
    from serving.batch import read_scores, write_scores

    latest = load_settings(home=home).workspace.latest_scores
    real = read_scores(latest)
    with tempfile.TemporaryDirectory() as folder:
        path = write_scores(Path(folder), drawn_users(real.frame, users), real.metadata)
        text_mib = {
            name: pq.read_table(path, columns=[name]).nbytes / 2**20
            for name in ("reasons", "not_scored", "outlook_apart")
        }
        found: dict[str, list[dict[str, Any]]] = {"baseline": [], "now": []}
        for _ in range(runs):
            for way, results in found.items():
                code = f"import sys; sys.argv = ['', {str(path)!r}, {way!r}]\n" + CHILD
                seconds, done = python_child(code, home)
                results.append(json.loads(done.stdout) | {"cpu": seconds})
    median = {
        way: {key: statistics.median(r[key] for r in results) for key in ("cpu", "rss", "arrow")}
        for way, results in found.items()
    }
    digests = {r["digest"] for results in found.values() for r in results}
    return {
        "machine": machine(),
        "users": users,
        "drawn_from": len(real.frame),
        "runs": runs,
        "text_mib": {name: round(mib, 1) for name, mib in text_mib.items()},
        **{
            f"{way}_{key}": round(value, 2)
            for way, values in median.items()
            for key, value in values.items()
        },
        "cpu_ratio": round(median["now"]["cpu"] / median["baseline"]["cpu"], 3),
        "same_page": len(digests) == 1,
    }


def render_doc(name: str, d: dict[str, Any]) -> str:
    """The block: the list's read, both ways, on the same table."""
    text = ", ".join(f"`{name}` {mib:,.0f}" for name, mib in d["text_mib"].items())
    return (
        f"| at-risk top 100 of {d['users']:,} users (a process each) | baseline: every column "
        "(`read_scores`) | now: the text of the listed rows (`read_list_scores`) | ratio |\n"
        "|---|---:|---:|---:|\n"
        f"| CPU s (read, rank, page) | {d['baseline_cpu']:.2f} | {d['now_cpu']:.2f} | "
        f"**{d['cpu_ratio']:.2f}x** |\n"
        f"| peak RSS (MiB) | {d['baseline_rss']:,.0f} | {d['now_rss']:,.0f} | "
        f"{d['now_rss'] / d['baseline_rss']:.2f}x |\n"
        f"| most memory Arrow held (MiB) | {d['baseline_arrow']:,.0f} | {d['now_arrow']:,.0f} | "
        f"{d['now_arrow'] / d['baseline_arrow']:.2f}x |\n\n"
        f"Medians of {d['runs']} runs, {measured_on(d['machine'])}; rows drawn from the "
        f"{d['drawn_from']:,} rows of a scored workspace's latest table (text columns in Arrow, "
        f"MiB: {text}). The two pages are the same (their CSV text): "
        f"{'yes' if d['same_page'] else 'NO'}.\n"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    home_argument(parser, "a scored workspace (its latest scores table)")
    parser.add_argument("--users", type=int, default=1_000_000)
    args = parse_arguments(parser, argv, runs=3)
    d = bench(args.home, args.users, args.runs)
    print(render_doc("bench_list_scores", d))
    if args.doc:
        record_run("bench_list_scores.py", args, argv, d, render_doc)


if __name__ == "__main__":
    main()
