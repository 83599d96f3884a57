"""The HTML report's campaigns section: each recorded campaign's report in a row, or why it
has none yet (running, or its data gone)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from lifecycle.errors import UserError
from serving.campaigns import PROPORTIONS, report_campaign
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
        saved, low, high = report.users_saved
        value, v_low, v_high = report.value_saved
        cells = [
            info["name"],
            f"{info['as_of']} + {info['horizon_days']} d",
            f"{info['targeted']:,} / {info['control']:,}",
            *(
                f"{e[m].difference:+.1%} ({e[m].low:+.1%} to {e[m].high:+.1%}); "
                f"detectable {e[m].minimum_detectable:.1%}"
                for m in PROPORTIONS
            ),
            f"{e['revenue'].difference:+,.2f} ({e['revenue'].low:+,.2f} to {e['revenue'].high:+,.2f})",
            f"{saved:+,.1f} ({low:+,.1f} to {high:+,.1f})",
            f"{value:+,.0f} ({v_low:+,.0f} to {v_high:+,.0f})",
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
        '<p class="note">Outcomes in the horizon after the as-of date only; intervals: normal '
        f"approximation for proportions, Welch for {spent}; detectable = the smallest effect this "
        "sample finds 80% of the time at 5% significance. "
        "<code>lifecycle campaign report NAME</code> for one campaign.</p>"
    )
    return "Campaigns: targeted vs control", f"<table><tr>{head}</tr>{''.join(rows)}</table>{note}"
