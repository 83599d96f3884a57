"""A campaign report says how its groups compared before it started, by the recorded scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features import contract as c
from lifecycle.settings import load_settings
from serving.batch import ScoresTable
from serving.campaigns import Campaign, CampaignReport, measure
from serving.units import Units

AS_OF = "2011-09-09"


def _report(
    churn: np.ndarray, control: np.ndarray, returned: np.ndarray, churn_days: int
) -> CampaignReport:
    ids = [f"u{i}" for i in range(len(churn))]
    members = pd.DataFrame({c.USER_ID: ids, "control": control, "churn_probability": churn})
    outcomes = pd.DataFrame(
        {c.USER_ID: ids, "retention": returned, "conversion": returned, "revenue": returned * 10.0}
    )
    metadata = {"name": "aa", "dataset": "shop", "as_of": AS_OF, "horizon_days": 90}
    campaign = Campaign("aa", members, metadata)
    units = Units(horizon_days={"churn": churn_days})
    end = pd.Timestamp(AS_OF, tz="UTC") + pd.Timedelta(days=120)
    return CampaignReport(campaign, measure(campaign, outcomes), len(ids), end, units=units)


def test_the_report_says_the_retention_the_groups_scores_expected_before_it_started() -> None:
    """online_retail at 2011-09-09: a retention campaign of the top 2,000 at risk, never sent,
    read retention -6.6% (95% CI -11.9% to -1.1%) and "users saved -107", with no word that its
    380 held-out users' churn scores had expected them to return more (51.6% against the
    targeted 1,620's 50.0%) before anything was sent. Here 200 members, 40 held out, whose
    scores expect 60% and 80%; both groups return as expected."""
    control = np.arange(200) < 40
    churn = np.where(control, 0.2, 0.4)
    returned = np.where(control, np.arange(200) % 5 != 0, np.arange(200) % 5 < 3).astype(float)
    report = _report(churn, control, returned, churn_days=90)
    lines = report.lines()
    assert (
        "  before it started, the members' churn scores expected retention targeted 60.0%, "
        "control 80.0% (-20.0%: the draw's own difference, before anything was sent; a measured "
        "difference near it is no effect of the campaign)"
    ) in lines
    assert "  retention  targeted 60.0%  control 80.0%  difference -20.0% " in "\n".join(lines)
    expected = report.to_dict()["expected_retention"]
    assert expected["targeted"] == pytest.approx(0.6) and expected["control"] == pytest.approx(0.8)
    assert expected["scored"] == 200
    # churn scored over another window than the campaign's horizon: said
    other = _report(churn, control, returned, churn_days=30).lines()
    assert any("control 80.0% in churn's 30-day window (-20.0%" in line for line in other)


def test_no_churn_scores_no_expectation() -> None:
    control = np.arange(60) < 30
    report = _report(np.full(60, np.nan), control, np.ones(60), churn_days=90)
    assert report.to_dict()["expected_retention"] is None
    assert not any("before it started" in line for line in report.lines())


def test_the_html_report_row_says_what_the_scores_expected(tmp_path: Path) -> None:
    """The report's campaigns table gave the measured retention difference alone."""
    from serving.campaign_section import campaigns_section
    from serving.campaigns import start_campaign

    settings = load_settings(home=tmp_path / "ws", environ={})
    ids = [f"u{i}" for i in range(80)]
    control = [i % 2 == 1 for i in range(80)]
    churn = [0.3 if held else 0.5 for held in control]  # expected 70% and 50%
    scores = pd.DataFrame({c.USER_ID: ids, "churn_probability": churn, "ltv": 10.0})
    table = ScoresTable(frame=scores, metadata={"dataset": "demo", "as_of": "2024-03-01"})
    members = pd.DataFrame({c.USER_ID: ids, "control": control})
    start_campaign(settings, "drawn", members, table, horizon_days=30, source="x.csv")
    events = pd.DataFrame(
        [(u, "2024-02-10") for u in (*ids, "z")]
        + [(u, "2024-03-10") for u in ids[::3]]
        + [("z", "2024-04-10")],
        columns=[c.USER_ID, c.EVENT_TIME],
    ).assign(**{c.EVENT_TYPE: c.SESSION, c.AMOUNT: np.nan, c.ORDER_ID: None})
    events[c.EVENT_TIME] = pd.to_datetime(events[c.EVENT_TIME], utc=True).astype(
        "datetime64[us, UTC]"
    )
    path = settings.workspace.events("demo")
    path.parent.mkdir(parents=True)
    events.to_parquet(path)
    _, section = campaigns_section(settings)
    assert "; the scores expected -20.0% before it started</td>" in section
