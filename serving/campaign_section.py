"""The HTML report's campaigns section: each recorded campaign's report in a row, or why it
has none yet (running, or its data gone)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from lifecycle.errors import UserError
from serving.campaign_balance import expected_retention
from serving.campaigns import CONTROL, PROPORTIONS, report_campaign
from serving.units import units_for

if TYPE_CHECKING:
    from lifecycle.settings import Settings


def campaigns_section(settings: Settings) -> tuple[str, str] | None:
    """The HTML report's campaigns section (title, HTML), or None without campaigns."""
    found = settings.workspace.campaigns()
    if not found:
        return None
    units = units_for(settings, {})
    spent = units.value_name("revenue")
    unit = f" ({spent})" if units.counted else ""  # a log with amounts: as before
    rows = []
    for path in found:
        name = settings.workspace.campaign_name(path)
        try:
            report = report_campaign(settings, name)
        except UserError as error:  # running, or its data is gone: say so in the row
            rows.append(
                f"<tr><td>{html.escape(name)}</td><td colspan='7'>{html.escape(str(error))}</td></tr>"
            )
            continue
        info, e = report.campaign.summary(), report.effects
        expected = expected_retention(report.campaign.members, CONTROL)  # the draw's own
        cells = [
            info["name"],
            f"{info['as_of']} + {info['horizon_days']} d",
            f"{info['targeted']:,} / {info['control']:,}",
            *(
                f"{e[m].difference:+.1%} ({e[m].low:+.1%} to {e[m].high:+.1%}); "
                f"detectable {e[m].minimum_detectable:.1%}"
                + (
                    f"; the scores expected {expected['difference']:+.1%} before it started"
                    if m == "retention" and expected
                    else ""
                )
                for m in PROPORTIONS
            ),
            _with_interval(e["revenue"].difference, e["revenue"].low, e["revenue"].high, ",.2f"),
            _with_interval(*_bounds(report.users_saved), ",.1f"),
            _with_interval(*_bounds(report.value_saved), ",.0f"),
        ]
        rows.append("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells) + "</tr>")
    head = "".join(
        f"<th>{html.escape(h)}</th>"
        for h in (
            "campaign",
            "as of + horizon",
            "targeted / control",
            "retention: targeted - control (95% CI)",
            "conversion (95% CI)",
            f"{spent} per user (95% CI)",
            "users saved",
            f"value saved{unit}",
        )
    )
    note = (
        '<p class="note">Outcomes in the horizon after the as-of date only; intervals: '
        f"Newcombe's hybrid score for proportions, Welch for {spent} (none where every member "
        "of each group has one value); detectable = the smallest effect this "
        "sample finds 80% of the time at 5% significance; the scores expected: the "
        "retention difference the members' churn scores gave the two groups at the start, "
        "before anything was sent. "
        "<code>lifecycle campaign report NAME</code> for one campaign.</p>"
    )
    return "Campaigns: targeted vs control", f"<table><tr>{head}</tr>{''.join(rows)}</table>{note}"


def _bounds(saved: dict) -> tuple[float | None, float | None, float | None]:
    return saved["estimate"], saved["low"], saved["high"]


def _with_interval(value: float | None, low: float | None, high: float | None, form: str) -> str:
    """``+v (low to high)``; ``no interval`` (and no number) where there is none."""
    if value is None:
        return "no interval: one value for every member of each group"
    if low is None or high is None:
        return f"{value:+{form}} (no interval: one value for every member of each group)"
    return f"{value:+{form}} ({low:+{form}} to {high:+{form}})"
