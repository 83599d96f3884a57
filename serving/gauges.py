"""Prometheus gauges the service exports beside BentoML's request metrics: the serving
champions' realized quality (``lifecycle outcomes``), drift (``lifecycle monitor``) and the
reported campaigns' effects (``lifecycle campaign report``)."""

from __future__ import annotations

import math
from typing import Any

# Each worker publishes the same numbers (what the workspace's files say): one series per
# label set, the newest a live worker set, not one per worker under a `pid` label (114
# series for the 1,500-user demo's 57 drift columns under 2 workers)
ONE_SERIES = "livemostrecent"
_REALIZED_GAUGE: Any = None


def publish_realized(
    realized: dict[str, dict[str, dict[str, Any]]], versions: dict[str, str]
) -> None:
    """Prometheus gauge ``lifecycle_realized_quality{task,version,metric}``: each serving
    champion's newest matured realized metrics (``lifecycle outcomes``), grade as 0-3."""
    global _REALIZED_GAUGE
    import bentoml

    if _REALIZED_GAUGE is None:
        _REALIZED_GAUGE = bentoml.metrics.Gauge(
            name="lifecycle_realized_quality",
            documentation="realized quality of the serving champion on matured predictions "
            "(lifecycle outcomes); grade: 3 excellent, 2 good, 1 fair, 0 poor",
            labelnames=["task", "version", "metric"],
            multiprocess_mode=ONE_SERIES,
        )
    grades = {"excellent": 3, "good": 2, "fair": 1, "poor": 0}
    for task, version in versions.items():
        row = realized.get(task, {}).get(version)
        for metric, value in (row or {}).items():
            number = grades.get(value) if metric == "grade" else value
            if (
                isinstance(number, int | float)
                and not isinstance(number, bool)
                and math.isfinite(number)
            ):
                _REALIZED_GAUGE.labels(task=task, version=version, metric=metric).set(number)


_DRIFT_GAUGE: Any = None


def publish_drift(result: dict[str, Any] | None, stale: bool = False) -> None:
    """Prometheus gauge ``lifecycle_drift_psi{source,column}`` from the last saved monitor
    result, ``{source="alert",column="drifting"}`` the number of drifting columns, and
    ``{source="alert",column="stale"}`` 1 where that result is not of what is served."""
    global _DRIFT_GAUGE
    import bentoml

    from serving.drift_results import drift_gauges

    if result is None:
        return
    if _DRIFT_GAUGE is None:
        _DRIFT_GAUGE = bentoml.metrics.Gauge(
            name="lifecycle_drift_psi",
            documentation="population stability of each model input and score (lifecycle "
            'monitor); source="alert",column="drifting": how many columns drift, '
            'column="stale": 1 where the result is not of the served models and features',
            labelnames=["source", "column"],
            multiprocess_mode=ONE_SERIES,
        )
    for (source, column), value in drift_gauges(result, stale).items():
        _DRIFT_GAUGE.labels(source=source, column=column).set(value)


_CAMPAIGN_GAUGE: Any = None


def publish_campaigns(reports: list[dict[str, Any]]) -> None:
    """Prometheus gauge ``lifecycle_campaign_effect{campaign,metric,bound}``: each reported
    campaign's effect (retention, conversion, revenue; users and value saved) with its 95%
    interval, bound ``estimate``, ``low`` or ``high`` (``lifecycle campaign report``)."""
    global _CAMPAIGN_GAUGE
    import bentoml

    from serving.campaign_reports import effect_gauges

    if _CAMPAIGN_GAUGE is None:
        _CAMPAIGN_GAUGE = bentoml.metrics.Gauge(
            name="lifecycle_campaign_effect",
            documentation="reported campaigns: targeted - control per measure, users and value "
            "saved (lifecycle campaign report); bound: estimate, low, high (95% interval)",
            labelnames=["campaign", "metric", "bound"],
            multiprocess_mode=ONE_SERIES,
        )
    for (campaign, metric, bound), value in effect_gauges(reports).items():
        if math.isfinite(value):
            _CAMPAIGN_GAUGE.labels(campaign=campaign, metric=metric, bound=bound).set(value)
