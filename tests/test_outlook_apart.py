"""``/score``'s ``outlook_apart``: where the LTV model's purchase probability exceeds the
purchase process's ``p_alive`` by more than 0.3 (online_retail's 17850: p_alive 9.1e-30 beside
an LTV of 1,159 and a purchase probability of 0.40), the answer says the two come from
different models and which to act on; elsewhere it is null."""

from __future__ import annotations

from typing import Any

import pandas as pd
from workspaces import TrainedWorkspace

from serving.outlook_apart import APART


def test_two_outlooks_apart_are_said_to_come_from_two_models(
    scorer: Any, trained_workspace: TrainedWorkspace
) -> None:
    table = pd.read_parquet(trained_workspace.scores_path)
    table["user_id"] = table["user_id"].astype(str)
    gap = table["purchase_probability"] - table["p_alive"]
    apart = table[gap > APART]["user_id"].head(5).tolist()
    near = table[gap.abs() < 0.1]["user_id"].head(3).tolist()
    assert apart and near

    by_id = {u.user_id: u for u in scorer.score(apart + near).users}
    for user_id in apart:
        user = by_id[user_id]
        words = user.outlook_apart
        assert words is not None, user_id
        assert f"p_alive {user.p_alive:.2g} is the purchase process's" in words
        assert f"purchase_probability {user.purchase_probability:.2f} are the LTV model's" in words
        assert "act on purchase_probability and ltv" in words
    for user_id in near:
        assert by_id[user_id].outlook_apart is None
    # without the LTV asked there is no purchase probability to set p_alive against
    assert all(u.outlook_apart is None for u in scorer.score(apart, ["churn"]).users)
