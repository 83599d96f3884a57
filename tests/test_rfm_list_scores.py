"""Each listed customer's R, F and M scores, the ones their RFM segment was named from, on the
real online_retail log (an operator saw `champions` in a list and could not see why)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from click.testing import CliRunner

from features.asof import compute_features
from lifecycle.cli import main
from lifecycle.list_fields import CONTEXT_COLUMNS, RFM_SCORES
from lifecycle.settings import load_settings
from serving.answers import ListAnswers
from serving.batch import write_scores
from serving.segments import (
    lifecycle_stage,
    money_column,
    rfm_columns,
    rfm_named,
    rfm_segment,
)

CUTOFF = "2011-09-09"


def _scores_of_online_retail(online_retail_loaded: Any) -> pd.DataFrame:
    """A scores table of online_retail at 2011-09-09 with score-all's context, segment and RFM
    columns (serving.batch.score_users writes them so); the churn probability a list ranks by
    stands in for the model's: a user's share of the longest idle spell."""
    events, users = online_retail_loaded
    features = compute_features(events.frame, [CUTOFF], users=users.frame)
    scores = pd.DataFrame({"user_id": features["user_id"].astype(str)})
    for feature, column in CONTEXT_COLUMNS.items():
        if feature in features or feature == "net_revenue_total":
            scores[column] = money_column(features, feature).astype(float)
    for column, values in rfm_columns(features).items():
        scores[column] = values
    idle = scores["days_since_last_activity"].fillna(0.0)
    scores["churn_probability"] = idle / idle.max()
    scores["lifecycle_stage"] = lifecycle_stage(features, scores["churn_probability"])
    assert (scores["segment"].to_numpy() == rfm_segment(features)).all()  # `segments`' own
    return scores


def test_lists_show_the_rfm_scores_that_named_each_segment(
    online_retail_loaded: Any, tmp_path: Path
) -> None:
    """A list row said `champions` or `loyal` with no R, F or M score: the CSV, --json, the
    terminal, the report and /at_risk now carry r_score, f_score and m_score (1-5), from the
    one computation that names the segment. Every one of online_retail's 3,404 users at
    2011-09-09, listed, has the scores that name their segment, and the segments' counts are
    those `segments` gives; the 754 champions score 4 or 5 on each."""
    scores = _scores_of_online_retail(online_retail_loaded)
    home = tmp_path / "ws"
    settings = load_settings(home=home, environ={})
    write_scores(
        settings.workspace.scores_dir, scores, {"as_of": CUTOFF, "dataset": "online_retail"}
    )
    every = ["--min-churn", "0", "--rank-by", "churn_probability", "--top", "5000"]

    def run(*args: str) -> str:
        done = CliRunner().invoke(main, ["--home", str(home), *args])
        assert done.exit_code == 0, done.output
        return done.stdout

    listed = pd.DataFrame(
        json.loads(run("--json", "at-risk", "--dataset", "online_retail", *every))["rows"]
    )
    assert len(listed) == 3404
    assert list(listed.columns[listed.columns.get_loc("segment") :][:4]) == [
        "segment",
        *RFM_SCORES,
    ]
    # and the days each is known (rfm_v5: a new buyer is potential), the scores table's
    tenure = scores.set_index("user_id")["tenure_days"].reindex(listed["user_id"])
    named = rfm_named(
        listed["r_score"], listed["f_score"], listed["m_score"], listed["orders"], tenure
    )
    assert (named == listed["segment"].to_numpy()).all()
    champions = listed[listed["segment"] == "champions"]
    assert len(champions) == 754 and (champions[list(RFM_SCORES)] >= 4).all().all()
    buyers = listed[listed["orders"] > 0]
    assert listed["r_score"].isna().sum() == len(listed) - len(buyers) == 48
    assert set(buyers["r_score"]) == {1, 2, 3, 4, 5} and set(buyers["f_score"]) == {2, 3, 4, 5}
    counted = json.loads(run("--json", "segments", "--dataset", "online_retail"))["segment"]
    assert {row["segment"]: row["users"] for row in counted} == (
        listed["segment"].value_counts().to_dict()
    )
    # a written list's columns, the terminal's code (R F M: 545) and the API's rows
    out = tmp_path / "list.csv"
    run("at-risk", "--dataset", "online_retail", *every[:4], "--top", "20", "--out", str(out))
    written = pd.read_csv(out, dtype={"user_id": str})
    assert list(written[list(RFM_SCORES)].itertuples(index=False)) == list(
        listed[list(RFM_SCORES)].head(20).itertuples(index=False)
    )
    text = run("at-risk", "--dataset", "online_retail", *every[:4], "--top", "3")
    header = next(line for line in text.splitlines() if line.lstrip().startswith("#"))
    assert " segment rfm " in header
    first = listed.iloc[0]
    code = f"{first['r_score']:.0f}{first['f_score']:.0f}{first['m_score']:.0f}"
    assert f" {first['segment']} {code} " in text
    api = ListAnswers(settings, "online_retail").at_risk(
        None, min_churn=0, rank_by="churn_probability", limit=5000
    )
    served = pd.DataFrame([user.model_dump() for user in api.users])
    for column in RFM_SCORES:
        assert served[column].astype("Float64").equals(listed[column].astype("Float64"))
    assert np.array_equal(served["segment"], listed["segment"])
