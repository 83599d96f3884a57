"""``/score``'s ``not_scored``: a task asked whose population leaves the user out (a repeat
customer's conversion) is said why, and its model is not named as having scored the user;
the batch scores table and a list leave the same users out, in the same words."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
from workspaces import TrainedWorkspace

from features.labels import LabelSpec
from serving.not_scored import UNSCORED_WHY


def test_a_user_conversion_does_not_score_is_said_why_and_its_model_not_named(
    scorer: Any, trained_workspace: TrainedWorkspace
) -> None:
    table = pd.read_parquet(trained_workspace.scores_path)
    table["user_id"] = table["user_id"].astype(str)
    label = scorer.state.champions.labels["conversion"]
    spec = LabelSpec.from_dict(label)
    past = table[table["conversion_probability"].isna()]["user_id"].head(5).tolist()
    eligible = table[table["conversion_probability"].notna()]["user_id"].head(3).tolist()
    assert past and eligible

    answer = scorer.score(past + eligible, ["churn", "conversion"])
    assert "conversion" in answer.model_versions  # the answer's: what serves the task
    by_id = {u.user_id: u for u in answer.users}
    for user_id in past:  # as the batch table: no conversion score
        user = by_id[user_id]
        assert user.conversion_probability is None
        assert user.not_scored is not None, user_id
        why = user.not_scored["conversion"]
        # the list's words for the users a conversion ranking leaves out, with the user's own
        assert why.startswith(UNSCORED_WHY[spec_population(spec)].format(task="conversion"))
        assert "conversion" not in user.model_versions  # no model named that did not score
        assert user.model_versions["churn"] == answer.model_versions["churn"]
    for user_id in eligible:
        user = by_id[user_id]
        assert user.conversion_probability is not None and user.not_scored is None
        assert user.model_versions == answer.model_versions

    # asked without conversion: nothing to say of it
    only_churn = scorer.score(past[:1], ["churn"]).users[0]
    assert only_churn.not_scored is None


def test_supplied_features_past_the_target_are_said_so_with_their_orders(scorer: Any) -> None:
    from serving.schemas import FeatureRow

    spec = LabelSpec.from_dict(scorer.state.champions.labels["conversion"])
    beyond = spec.orders_before_target + 4
    rows = [
        FeatureRow(user_id="repeat", features={"orders_total": beyond, "recency_days": 5}),
        FeatureRow(user_id="eligible", features={"orders_total": spec.orders_before_target}),
    ]
    repeat, fine = scorer.score_features(rows, ["conversion"]).users
    assert repeat.conversion_probability is None
    assert f"this user has {beyond} orders" in repeat.not_scored["conversion"]
    assert "conversion" not in repeat.model_versions
    assert fine.conversion_probability is not None and fine.not_scored is None


def spec_population(spec: LabelSpec) -> str:
    from lifecycle.tasks import get

    return get(spec.task).population


# churn with a lookback and conversion to a second purchase, then to a first: every wording
LABEL_SETS = [
    {
        "churn": {"task": "churn", "horizon_days": 90, "lookback_days": 90},
        "conversion": {"task": "conversion", "horizon_days": 90, "target": "repeat_purchase"},
        "ltv": {"task": "ltv", "horizon_days": 365},
    },
    {
        "conversion": {"task": "conversion", "horizon_days": 90, "target": "first_purchase"},
        "churn": {"task": "churn", "horizon_days": 90, "lookback_days": 30},
    },
]


def test_the_scores_table_words_each_real_user_as_score_does(online_retail_loaded: Any) -> None:
    """The scores table's ``not_scored`` (``not_scored_json``) is put together task by task
    over the users a population leaves out (a dict and a ``json.dumps`` per user took 1.6
    CPU-s of 1M users drawn from online_retail, 0.4 now, and 5.7 against 0.9 with churn's
    lookback: ``experiments/bench_not_scored.py``, docs/benchmarks.md). On online_retail at two
    cutoffs (6,121 rows: users not active yet, with none or 1 order, repeat buyers) it is, for
    every row, ``json.dumps`` of /score's dict of the same user with sorted keys, and each
    task's words of all those users at once (``task_whys``) are each user's own
    (``user_why``)."""
    from features.asof import compute_features
    from serving.not_scored import not_scored, not_scored_json, task_whys, user_why

    events, users = online_retail_loaded
    table = compute_features(events.frame, ["2011-03-01", "2011-12-10"], users=users.frame)
    orders = table["orders_total"].to_numpy(dtype=float)
    recency = table["recency_days"].to_numpy(dtype=float)
    assert len(table) == 6121 and np.isnan(recency).sum() == 100  # 100 not active yet

    def column(name: str) -> np.ndarray:
        return table[name].to_numpy(dtype=float)

    for labels in LABEL_SETS:
        per_user = not_scored(labels, list(labels), column, len(table))
        expected = [None if why is None else json.dumps(why, sort_keys=True) for why in per_user]
        assert not_scored_json(labels, list(labels), table) == expected
        assert not_scored_json(labels, list(labels)[::-1], table) == expected
        for task in ("churn", "conversion"):
            spec = LabelSpec.from_dict(labels[task])
            out = np.flatnonzero([task in (why or {}) for why in per_user])
            assert out.size > 100
            whys = task_whys(spec, orders[out], recency[out])
            assert whys == [user_why(spec, orders[row], recency[row]) for row in out]
            assert whys == [per_user[row][task] for row in out]
    at = table.set_index(["user_id", table["as_of"].dt.strftime("%Y-%m-%d")])
    said = pd.Series(not_scored_json(LABEL_SETS[0], list(LABEL_SETS[0]), at), index=at.index)
    assert said["12434", "2011-03-01"] == (
        '{"churn": "churn scores only users active in its lookback (90 days up to as_of; no '
        'activity yet)", "conversion": "conversion scores only users with 1 order before its '
        'target (a second purchase); this user has none yet"}'
    )
    assert said["12791", "2011-12-10"] == (
        '{"churn": "churn scores only users active in its lookback (90 days up to as_of; last '
        'active 373.523 days before)"}'
    )
