"""``/score``'s ``not_scored``: a task asked whose population leaves the user out (a repeat
customer's conversion) is said why, and its model is not named as having scored the user;
the batch scores table and a list leave the same users out, in the same words."""

from __future__ import annotations

from typing import Any

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
