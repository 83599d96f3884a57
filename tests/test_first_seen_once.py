"""A pace said "since first seen N days ago" says how long the user is known: on the real
online_retail log at 2011-12-10, 13297 (27th of the at-risk list) read "spent 774 in the last
30 days, down from 930 per 30 days since first seen 67 days ago; first seen 67 days ago", the
tenure twice in one line (5 of the 3,679 listed users; 53 of the 2,939 listed at 2011-09-09).
The two are one reason, said by the pace, with both contributions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from features.asof import compute_features
from serving.churn_reasons import worded_reasons

KINDS = ("revenue", "orders", "active_days")


def test_a_pace_since_first_seen_says_the_tenure_once(online_retail_loaded: Any) -> None:
    events, users = online_retail_loaded
    table = compute_features(events.frame, ["2011-12-10"], users=users.frame)
    table = table.set_index("user_id")
    names = ["revenue_30d", "revenue_365d", "tenure_days"]
    shares = np.array([0.3, -0.1, 0.2])
    [said] = worded_reasons(names, shares, np.argsort(-shares), table.loc["13297"].get)
    assert said["text"] == (
        "spent 774 in the last 30 days, down from 930 per 30 days since first seen 67 days ago"
    )
    assert said["contribution"] == pytest.approx(0.5)
    # every user and paced window: the tenure beside a pace since first seen is said once;
    # beside one over the whole longest window, or no pace, it stays a reason of its own
    once = apart = 0
    for kind in KINDS:
        names = [f"{kind}_30d", f"{kind}_365d", "tenure_days"]
        for user, row in table.iterrows():
            texts = [
                r["text"] for r in worded_reasons(names, shares, np.arange(3)[[0, 2]], row.get)
            ]
            since = " since first seen " in texts[0]
            assert len(texts) == (1 if since else 2), (user, texts)
            once += since
            apart += not since
    assert (once, apart) == (252, 12864)
