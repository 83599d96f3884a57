"""features.memory_limit: DuckDB's memory for the as-of feature table, spilled beside it.

Without a limit DuckDB held 8.8 GB building the table of 306,410 customers
(docs/benchmarks.md, "Backtest at scale"). Real DuckDB, small data: under a limit too small
for the build it runs out of memory, which is one line naming the setting.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner

from features import contract as c
from features.asof import build_feature_table
from features.duckdb_memory import DEFAULT_MEMORY_LIMIT
from lifecycle.cli import main
from lifecycle.settings import FeatureSettings
from tests.test_hostile_inputs import one_line_error


def purchase_log(users: int = 300, seed: int = 5) -> pd.DataFrame:
    """A year of purchases, sessions and refunds of ``users`` customers."""
    rng = np.random.default_rng(seed)
    n = users * 8
    kinds = rng.choice([c.PURCHASE, c.SESSION, c.REFUND], n, p=[0.45, 0.45, 0.1])
    start = pd.Timestamp("2024-01-01", tz="UTC")
    return pd.DataFrame(
        {
            c.USER_ID: [f"u{i}" for i in rng.integers(0, users, n)],
            c.EVENT_TIME: start + pd.to_timedelta(rng.integers(0, 365 * 86_400, n), unit="s"),
            c.EVENT_TYPE: kinds,
            c.AMOUNT: np.where(kinds == c.SESSION, np.nan, rng.integers(100, 9_999, n) / 100),
        }
    )


def test_the_default_limit_is_the_settings_default() -> None:
    assert FeatureSettings().memory_limit == DEFAULT_MEMORY_LIMIT == "4GB"


def test_the_table_under_the_limit_is_the_one_without_it_and_no_spill_folder_is_left(
    tmp_path: Path, monkeypatch
) -> None:
    events = tmp_path / "events.parquet"
    log = purchase_log()
    log[c.EVENT_TIME] = log[c.EVENT_TIME].astype("datetime64[us, UTC]")
    log.to_parquet(events, index=False)
    here = tmp_path / "cwd"  # DuckDB's own spill folder is .tmp in the current directory
    here.mkdir()
    monkeypatch.chdir(here)
    tables = {}
    for limit in (None, DEFAULT_MEMORY_LIMIT):
        out = tmp_path / str(limit) / "user_features.parquet"
        summary = build_feature_table(
            events, None, out, windows=[7, 30, 90, 365], frequency="7D", memory_limit=limit
        )
        tables[limit] = pd.read_parquet(out)
        # the table and its lineage, no spill folder beside them
        assert sorted(p.name for p in out.parent.iterdir()) == [
            f"_{out.name}.lineage.json",
            out.name,
        ]
    assert summary["rows"] == len(tables[None]) > 5_000
    pd.testing.assert_frame_equal(tables[DEFAULT_MEMORY_LIMIT], tables[None])
    assert os.listdir(here) == []


def test_out_of_memory_is_one_line_naming_the_setting_and_keeps_the_table_built_before(
    home: Path, tmp_path: Path
) -> None:
    """20MB (the least the setting takes is 16 MiB) is too little for the build: DuckDB cannot spill
    its way through, and says so in the setting's words, not in a traceback."""
    log = tmp_path / "events.csv"
    purchase_log().to_csv(log, index=False, date_format="%Y-%m-%d %H:%M:%S")
    runner = CliRunner()
    ingested = runner.invoke(main, ["--quiet", "ingest", str(log), "--dataset", "shop"])
    assert ingested.exit_code == 0, ingested.output
    build = ["--quiet", "features", "build", "--dataset", "shop"]
    built = runner.invoke(main, build)
    assert built.exit_code == 0, built.output
    table = home / "features" / "shop" / "user_features.parquet"
    before = table.read_bytes()

    refused = runner.invoke(main, build, env={"LIFECYCLE_FEATURES__MEMORY_LIMIT": "20MB"})

    error = one_line_error(refused, "DuckDB ran out of memory", "features.memory_limit = '20MB'")
    assert "raise features.memory_limit" in error
    assert table.read_bytes() == before
    assert sorted(p.name for p in table.parent.iterdir()) == [
        f"_{table.name}.lineage.json",
        table.name,
    ]
