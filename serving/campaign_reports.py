"""Reported campaigns as the service shows them: ``/models`` and Prometheus gauges.

``lifecycle campaign report NAME`` saves what it measured (``Workspace.campaign_report``:
effects with intervals, users and value saved; no user). The service reads the saved
reports when it loads and never measures anything itself: measuring reads every event of
the horizon, which has no place in a request.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lifecycle.settings import Settings
    from serving.campaigns import CampaignReport


def save_report(settings: Settings, report: CampaignReport) -> None:
    """Keep the report's numbers for the service (replaced by the next report)."""
    from lifecycle.storage import atomic_file

    path = settings.workspace.campaign_report(report.campaign.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as staging:
        staging.write_text(json.dumps(report.to_dict(), indent=1, default=str), encoding="utf-8")


def saved_reports(settings: Settings, dataset: str) -> list[dict[str, Any]]:
    """The saved report of every recorded campaign of ``dataset`` that has one, by name."""
    ws = settings.workspace
    found = []
    for path in ws.campaigns():
        saved = ws.campaign_report(ws.campaign_name(path))
        if not saved.is_file():
            continue  # not reported yet (or its horizon has not passed)
        report = json.loads(saved.read_text(encoding="utf-8"))
        if (report.get("dataset") or settings.dataset) == dataset:
            found.append(report)
    return found


def effect_gauges(reports: list[dict[str, Any]]) -> dict[tuple[str, str, str], float]:
    """(campaign, metric, bound) -> value: each measure's difference with its 95% interval
    (bound estimate, low, high), and users and value saved with theirs; a bound the report
    has as null (no interval) has no gauge, not a 0."""
    values: dict[tuple[str, str, str], float] = {}
    for report in reports:
        name = report["name"]
        for metric, effect in report.get("effects", {}).items():
            for bound, key in (("estimate", "difference"), ("low", "low"), ("high", "high")):
                if effect[key] is not None:  # no interval (one value for every member): none
                    values[(name, metric, bound)] = float(effect[key])
        for metric in ("users_saved", "value_saved"):
            saved = report.get(metric, {})
            for bound in ("estimate", "low", "high"):
                if saved.get(bound) is not None:
                    values[(name, metric, bound)] = float(saved[bound])
    return values
