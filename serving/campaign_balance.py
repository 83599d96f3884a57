"""How the two groups of a campaign compared before it started, by the scores recorded then.

The control flag is a hash of (seed, user id), so the groups differ only by chance; but one
draw can differ: on online_retail at 2011-09-09 a retention campaign of the top 2,000 at risk,
never sent, held out 380 users whose churn probability averaged 0.484 against the targeted
1,620's 0.500, and its report read retention -6.6% (95% CI -11.9% to -1.1%), "users saved
-107". The churn scores recorded at the start expect a retention difference of their own
(mean of 1 - churn probability, targeted minus control: -1.6% there): a measured difference
near it is no effect of the campaign, and the report says it beside the measures.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from serving.units import Units

CHURN = "churn_probability"  # a campaign member's recorded churn score (tasks' churn.score)


def expected_retention(members: pd.DataFrame, control_column: str) -> dict[str, Any] | None:
    """Each group's retention as its members' recorded churn scores expected it (1 - churn
    probability, over the members with one) and the difference, targeted minus control;
    None without churn scores in either group."""
    if CHURN not in members:
        return None
    control = members[control_column].to_numpy(dtype=bool)
    returns = 1.0 - members[CHURN].astype(float).to_numpy()
    scored = ~np.isnan(returns)
    sent, held = returns[scored & ~control], returns[scored & control]
    if not len(sent) or not len(held):
        return None
    targeted, controlled = float(sent.mean()), float(held.mean())
    return {
        "targeted": targeted,
        "control": controlled,
        "difference": targeted - controlled,
        "scored": int(scored.sum()),
    }


def expected_line(expected: dict[str, Any], units: Units, horizon_days: int) -> str:
    """The report's line: what the scores at the start expected, in churn's window when it is
    not the campaign's horizon."""
    window_days = units.horizon_days.get("churn")
    window = (
        f" in churn's {window_days}-day window"
        if window_days is not None and window_days != horizon_days
        else ""
    )
    return (
        f"  before it started, the members' churn scores expected retention targeted "
        f"{expected['targeted']:.1%}, control {expected['control']:.1%}{window} "
        f"({expected['difference']:+.1%}: the draw's own difference, before anything was sent; "
        "a measured difference near it is no effect of the campaign)"
    )
