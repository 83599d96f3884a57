"""A list reads the scores table's text columns for its listed rows only (session 61: at 1M
users, ``at-risk`` read every user's ``reasons``, 374 MB in Arrow, for a top-100 list: 1.6 GB
peak, 4.2 CPU-s). The rows it gives are ``read_scores``'s, to the byte."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from test_lists import scores_table

from serving.batch import METADATA_KEY, read_list_scores, read_scores, write_scores
from serving.lists import at_risk_page
from serving.scores_text import TEXT_COLUMNS, listed_text

ROOT = Path(__file__).resolve().parents[1]


def _big_scores(users: int, reason_chars: int) -> pd.DataFrame:
    """``scores_table``'s six users repeated to ``users`` with new ids; each user's reasons
    a distinct text of about ``reason_chars`` characters (none for the sixth of them)."""
    base = scores_table()
    frame = base.iloc[np.arange(users) % len(base)].reset_index(drop=True)
    frame["user_id"] = [f"u{i:07d}" for i in range(users)]
    rng = np.random.default_rng(1)
    frame["churn_probability"] = np.where(
        frame["churn_probability"].isna(), np.nan, rng.uniform(0.0, 1.0, users)
    )
    frame["value_at_risk"] = frame["churn_probability"] * frame["ltv"]
    filler = "x" * reason_chars
    frame["reasons"] = [
        None if i % 6 == 5 else json.dumps([{"feature": "recency_days", "value": float(i),
                                              "contribution": 0.5, "text": f"{i} {filler}"}])
        for i in range(users)
    ]  # fmt: skip
    frame["not_scored"] = [None if i % 3 else json.dumps({"conversion": f"no {i}"}) for i in range(users)]  # fmt: skip
    frame["outlook_apart"] = [f"apart {i}" if i % 7 == 0 else None for i in range(users)]
    return frame


def test_listed_rows_have_read_scores_text_in_its_column_order(tmp_path: Path) -> None:
    frame = _big_scores(5_000, 40)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata(
        {**table.schema.metadata, METADATA_KEY: json.dumps({"as_of": "2024-01-05"}).encode()}
    )
    path = tmp_path / "scores.parquet"
    pq.write_table(table, path, row_group_size=700)  # rows across several row groups
    whole, lean = read_scores(path), read_list_scores(path)
    assert lean.later == TEXT_COLUMNS and not set(TEXT_COLUMNS) & set(lean.frame.columns)
    assert whole.later == () and lean.metadata == whole.metadata
    rng = np.random.default_rng(2)
    for rows in (rng.permutation(5_000)[:300], np.array([4_999, 0, 699, 700]), np.array([], int)):
        got = listed_text(lean, lean.frame.iloc[rows])
        pd.testing.assert_frame_equal(got, whole.frame.iloc[rows])
    # a page as the list makes it: ranked, filtered, a ranking column added
    for rank_by in ("value_at_risk", "return_probability"):
        old = at_risk_page(whole.frame, rank_by=rank_by, limit=250).ranked
        new = at_risk_page(
            lean.frame, rank_by=rank_by, limit=250, rows_text=lambda p: listed_text(lean, p)
        ).ranked
        pd.testing.assert_frame_equal(new, old)  # the same columns in the same order


def _peak_mib(home: Path, scores: Path) -> float:
    """The most memory Arrow held at once (MiB: what Parquet columns are decoded into) in a
    process that runs `lifecycle at-risk` on ``scores``."""
    code = (
        "import sys\n"
        "import pyarrow as pa\n"
        "from lifecycle.cli import main\n"
        "try:\n"
        f"    main(['--home', {str(home)!r}, 'at-risk', '--scores', {str(scores)!r}])\n"
        "except SystemExit as done:\n"
        "    assert not done.code, done.code\n"
        "print('PEAK', pa.default_memory_pool().max_memory() / 2**20, file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "top 100 users by value at risk" in done.stdout
    return float(done.stderr.rsplit("PEAK", 1)[1])


def test_at_risk_never_holds_the_text_of_unlisted_users(tmp_path: Path) -> None:
    """Measured: the list's peak of Arrow memory on a table whose reasons are 95 MiB against
    the same table with short reasons. Reading every user's text (the old path) decodes the
    whole column (then copies it to Python strings); the listed 100 rows' text, batch by batch
    (``serving.scores_text.BATCH_ROWS``), holds a few MiB at most."""
    users, chars = 40_000, 3_000
    home = tmp_path / "ws"
    paths = {}
    for name, length in (("long", chars), ("short", 1)):
        frame = _big_scores(users, length)
        paths[name] = write_scores(tmp_path / name, frame, {"as_of": "2024-01-05"})
    column_mib = users * 5 / 6 * chars / 2**20  # the long table's reasons: 95 MiB of text
    extra = _peak_mib(home, paths["long"]) - _peak_mib(home, paths["short"])
    assert extra < column_mib / 4, f"{extra:.0f} MiB more for {column_mib:.0f} MiB of reasons"
