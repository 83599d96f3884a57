"""A user's lifecycle stage and RFM segment agree on the real online_retail log: 16000 (3
invoices within 3 minutes, first seen 2 days before the log's end) was stage `new` and
segment `loyal` ("steady buyers") at once, as were 40 of the 250 new users at 2011-12-10
(38 loyal, 2 champions). The quintile scores are among the buyers of the day, so a new buyer
of a large first basket split into invoices scores like a habit; a new buyer is now
`potential` whatever the scores (rfm_v5)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from features.asof import compute_features
from serving.segments import NEW_DAYS, RfmDefinition, lifecycle_stage, rfm_columns, rfm_segment

END = "2011-12-10"  # the log's last cutoff, as `score-all` scores it
# segments that say a buying habit or a lapse: none fits a user known fewer than NEW_DAYS
OF_TIME = {"champions", "loyal", "cannot_lose", "hibernating", "lost"}


def test_a_new_buyer_is_no_habit_nor_lapse_on_online_retail(online_retail_loaded: Any) -> None:
    events, users = online_retail_loaded
    features = compute_features(events.frame, [END], users=users.frame)
    stage = lifecycle_stage(features)
    segment = rfm_columns(features)["segment"]
    assert (segment == rfm_segment(features)).all()  # the scores table's, `segments`' own
    new = stage == "new"
    assert new.sum() == 250
    assert (features["tenure_days"][new] < NEW_DAYS).all()
    assert set(segment[new]) == {"potential", "no_purchase"}
    assert not (new & np.isin(segment, list(OF_TIME))).any()
    at = {str(u): i for i, u in enumerate(features["user_id"])}["16000"]
    assert (stage[at], segment[at]) == ("new", "potential")
    assert features["orders_total"][at] == 3 and features["tenure_days"][at] < 3
    # the rules of scores alone (rfm_v4's) named 40 new users by a habit: 38 loyal, 2 champions
    scores_alone = RfmDefinition()
    scores_alone = replace(
        scores_alone, rules=tuple(r for r in scores_alone.rules if not getattr(r, "new", False))
    )
    before = pd.Series(rfm_segment(features, scores_alone)[new]).value_counts()
    assert before[before.index.isin(OF_TIME)].to_dict() == {"loyal": 38, "champions": 2}
    # only new users moved, and only to potential
    moved = rfm_segment(features, scores_alone) != segment
    assert moved.sum() == 40 and (new[moved]).all() and set(segment[moved]) == {"potential"}
