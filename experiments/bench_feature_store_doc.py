"""The feature store benchmark's block of docs/benchmarks.md, rendered from its recorded results
(``bench_feature_store.py --doc``; kept apart so the benchmark stays one job)."""

from __future__ import annotations

from typing import Any

# The steps of the doc's table, in the words of the doc.
DOC_STEPS = {
    "features": "as-of feature engineering (DuckDB)",
    "feast_asof": "Feast `get_historical_features`, our ASOF offline store (every row kept)",
    "feast_ibis": "Feast `get_historical_features`, Feast's DuckDB offline store",
    "feast_asof_latest": "scoring one date (the latest cutoff's users), our ASOF offline store",
    "feast_ibis_latest": "scoring one date, Feast's DuckDB offline store",
    "duckdb_asof": "baseline: plain DuckDB `ASOF LEFT JOIN`, same rows and values",
    "pandas_asof": "baseline: pandas `merge_asof`",
    "materialize_rows": "materialize {users} users, our row-per-user SQLite store",
    "materialize_feast": "materialize {users} users, Feast's stock SQLite store",
}


def render_doc(name: str, document: dict[str, Any]) -> str:
    """The doc's block: each step's time and memory, the values checks, online latency and the
    issue's aims."""
    from docblocks import measured_on

    steps, ratios = document["steps"], document["ratios"]
    verify, online = steps["verify"], steps["online"]
    users = f"{steps['materialize_rows']['rows'] / 1000:,.0f}k"
    lines = [
        f"{measured_on(document['machine'])}; {document['parameters']['users']:,} demo users, "
        f"{document['parameters']['cutoffs']} monthly cutoffs, "
        f"{steps['feast_asof']['rows']:,} training rows:",
        "",
        "| step | time | peak RSS |",
        "|---|---|---|",
    ]
    for step, words in DOC_STEPS.items():
        row = steps[step]
        rss = row["peak_rss_mb"]
        memory = f"{rss / 1024:.1f} GB" if rss >= 1024 else f"{rss:,.0f} MB"
        lines.append(f"| {words.format(users=users)} | {row['seconds']:.1f} s | {memory} |")
    latency = online["latency"]

    def pair(variant: str, size: int) -> str:
        row = latency[f"{variant} x{size}"]
        return f"{row['p50_ms']:.2f}/{row['p99_ms']:.2f} ms"

    cells = verify["feast_asof_vs_duckdb"]["cells"]
    mismatches = [
        verify[k]["mismatching_cells"]
        for k in ("feast_asof_vs_duckdb", "feast_ibis_vs_duckdb", "pandas_vs_duckdb")
    ]
    lines += [
        "",
        f"Values against the plain DuckDB join: {mismatches[0]:,} (our store), {mismatches[1]:,} "
        f"(Feast's store) and {mismatches[2]:,} (pandas) of {cells / 1e6:.1f}M cells differ; "
        f"the online store against each user's latest offline row: "
        f"{online['parity_mismatching_cells']} cells differ, {online['parity_found']} of "
        f"{online['parity_users']} users found. Online lookup of a feature service "
        f"({online['note'].split(';')[0]}), p50/p99: {pair('online_features(service)', 1)} for "
        f"1 user and {pair('online_features(service)', 100)} for 100 through `online_features`; "
        f"Feast's `get_online_features` on the same store {pair('get_online_features(service)', 1)} "
        f"and {pair('get_online_features(service)', 100)}.",
        "",
        f"Ratios: retrieval {ratios['feast_over_duckdb']}x the plain join (Feast's own store "
        f"{ratios['feast_ibis_over_duckdb']}x), {ratios['feast_over_pandas']}x pandas; "
        f"materialize: Feast's store {ratios['materialize_feast_store_over_ours']}x ours; "
        f"scoring one date: Feast's store {ratios['scoring_feast_store_over_ours']}x our time "
        f"and {ratios['scoring_peak_feast_store_over_ours']}x our peak RSS. Against the "
        "issue's aims:",
        "",
        *(f"- {aim['aim']}: {aim['measured']} (**{aim['verdict']}**)" for aim in document["aims"]),
    ]
    return "\n".join(lines) + "\n"
