"""The tables of experiments/backtests.py: one backtest's results as its docs/quality.md block.

A case's block holds the headline (every known user): each method's metrics and the paired
intervals of lifecycle minus each baseline, ``best_attribute`` among the baselines where the
dataset has a users file; then the same judged on the users still active at the cutoff
(``still_active`` of ``lifecycle backtest --json``), in one table. Results recorded before
the backtest judged those users render as they were.
"""

from __future__ import annotations

from typing import Any

MODEL = "lifecycle"  # lifecycle.backtest_judge.MODEL: what the product serves
STILL_ACTIVE = "still_active"  # lifecycle.backtest_population.STILL_ACTIVE
ATTRIBUTE = "best_attribute"  # lifecycle.backtest_attribute.ATTRIBUTE
# The rows of the methods table, in order, with the words the doc uses.
METHODS = {
    MODEL: "lifecycle",
    "recency": "recency",
    "last_period_value": "spend in the last {horizon} days",
    "rfm_score": "RFM score",
    "bgnbd_gamma_gamma": "BG/NBD + Gamma-Gamma",
    ATTRIBUTE: "best attribute ({attribute})",
}
# Not a method: a model fitted on the judged outcome itself (experiments/hindsight.py).
HINDSIGHT = "hindsight fit (knows the horizon, cross-fitted)"
HIGHER_IS_BETTER = ("spearman", "normalized_gini", "auc")
CLOSER_TO_ZERO_IS_BETTER = ("total_error", "ece")
RANKINGS = ("auc", "spearman", "normalized_gini")  # the paired intervals' metrics, in order
METRICS_HEADER = "| Spearman | Gini | AUC P(active) | total error | ECE |"


def _load(results: dict[str, Any]) -> str:
    """', load average 3.2 at the start' where the run recorded it."""
    meta = results.get("machine")
    return f", load average {meta['load_average_1m']} at the start" if meta else ""


def _best(methods: dict[str, dict[str, float]], key: str) -> str | None:
    values = {m: v[key] for m, v in methods.items() if _finite(v.get(key))}
    if not values:
        return None
    if key in CLOSER_TO_ZERO_IS_BETTER:
        return min(values, key=lambda m: abs(values[m]))
    return max(values, key=lambda m: values[m])


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and value == value and abs(value) != float("inf")


def _cell(metrics: dict[str, float], key: str, fmt: str, bold: bool) -> str:
    value = metrics.get(key)
    if not _finite(value):
        return ""
    text = format(value, fmt)
    return f"**{text}**" if bold else text


def _method_cells(
    m: dict[str, float], method: str, best: dict[str, str | None], total_error: str
) -> list[str]:
    """Spearman, Gini, AUC, total error (in format ``total_error``) and ECE; the best bold."""
    keys = (("spearman", ".3f"), ("normalized_gini", ".3f"), ("auc", ".3f"))
    keys += (("total_error", total_error), ("ece", ".3f"))
    return [_cell(m, key, fmt, best[key] == method) for key, fmt in keys]


def _bests(methods: dict[str, dict[str, float]]) -> dict[str, str | None]:
    return {key: _best(methods, key) for key in HIGHER_IS_BETTER + CLOSER_TO_ZERO_IS_BETTER}


def _ordered(methods: dict[str, Any]) -> list[str]:
    """The methods judged, in the doc's order (a method the doc has no words for, last)."""
    return [m for m in METHODS if m in methods] + [m for m in methods if m not in METHODS]


def _attribute(cutoffs: list[dict[str, Any]]) -> str:
    """The attribute(s) the attribute baseline chose, `Country` (several origins: each once)."""
    chosen = [c["attribute_baseline"]["attribute"] for c in cutoffs if "attribute_baseline" in c]
    return ", ".join(f"`{name}`" for name in dict.fromkeys(chosen)) or "none chosen"


def _label(method: str, horizon: int, attribute: str) -> str:
    return METHODS.get(method, method).format(horizon=horizon, attribute=attribute)


def _interval(d: dict[str, float] | None) -> str:
    return f"{d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]" if d else ""


def _sides(n: dict[str, int] | None) -> str:
    return f"{n['ahead']} / {n['level']} / {n['behind']}" if n else ""


def _mean_size(verdicts: list[dict[str, Any]], method: str, key: str) -> float:
    """The mean of a signed metric's size over the origins that have it (NaN if none)."""
    sizes = [abs(v) for verdict in verdicts if _finite(v := verdict["methods"][method].get(key))]
    return sum(sizes) / len(sizes) if sizes else float("nan")


def _means(over: dict[str, Any], verdicts: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each method's mean metrics over the origins, total error as the mean of its size."""
    return {
        method: metrics | {"total_error": _mean_size(verdicts, method, "total_error")}
        for method, metrics in over["methods"].items()
    }


def _still_active_head(verdict: dict[str, Any]) -> str:
    return (
        f"Users still active at the cutoff, {verdict['definition']}: {verdict['users']:,} "
        f"({verdict['left_out']:,} left out)"
    )


def render_still_active(cutoff: dict[str, Any], horizon: int, attribute: str) -> list[str]:
    """The users still active at one cutoff: each method's metrics and lifecycle minus each
    baseline (95% paired interval) in one table; none for results recorded before."""
    verdict = cutoff.get(STILL_ACTIVE)
    if not verdict:
        return []
    if "error" in verdict:
        return ["", f"{_still_active_head(verdict)}: not judged, {verdict['error']}"]
    methods, bootstrap = verdict["methods"], verdict["bootstrap"]
    rate = methods[MODEL].get("active_rate")
    after = f", {rate:.1%} active after it" if _finite(rate) else ""
    lines = [
        "",
        f"{_still_active_head(verdict)}{after}; lifecycle minus each baseline among them, "
        f"95% paired interval ({cutoff['outcome']['resamples']:,} resamples):",
        "",
        f"| method, still active {METRICS_HEADER} minus: AUC | minus: Spearman | minus: Gini |",
        "|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    best = _bests(methods)
    for method in _ordered(methods):
        cells = _method_cells(methods[method], method, best, total_error="+.1%")
        cells += [_interval(bootstrap.get(method, {}).get(key)) for key in RANKINGS]
        lines.append(f"| {_label(method, horizon, attribute)} | " + " | ".join(cells) + " |")
    return lines


def render_rolling_still_active(results: dict[str, Any], attribute: str) -> list[str]:
    """The users still active at each origin: how many, each method's mean metrics and at how
    many origins lifecycle's paired interval is above / across / below zero, in one table."""
    cutoffs = results["cutoffs"]
    verdicts = [c.get(STILL_ACTIVE) or {} for c in cutoffs]
    if not any(verdicts):
        return []  # results recorded before the backtest judged them
    horizon = results["horizons_days"]["ltv"]
    counts = ", ".join(f"{v['users']:,}" if v else "?" for v in verdicts)
    lines = ["", f"Users still active at each origin, {verdicts[0]['definition']}: {counts}"]
    over = results.get(f"over_cutoffs_{STILL_ACTIVE}")
    if over is None:
        errors = {v["error"] for v in verdicts if "error" in v}
        return [*lines[:-1], lines[-1] + f"; not judged at every origin: {'; '.join(errors)}"]
    means = _means(over, verdicts)
    lines[-1] += (
        f". Their mean over the {len(cutoffs)} origins (total error: the mean of its size), "
        "and origins where lifecycle minus the baseline's 95% paired interval is above zero / "
        "across it / below it:"
    )
    lines += [
        "",
        f"| method, still active {METRICS_HEADER} above / across / below: AUC | Spearman | Gini |",
        "|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    best = _bests(means)
    for method in _ordered(means):
        cells = _method_cells(means[method], method, best, total_error=".1%")
        cells += [_sides(over["versus"].get(method, {}).get(key)) for key in RANKINGS]
        lines.append(f"| {_label(method, horizon, attribute)} | " + " | ".join(cells) + " |")
    return lines


def render_rolling(results: dict[str, Any]) -> str:
    """The doc's block of rolling origins: each origin's outcome and the served model's
    metrics, each method's mean over the origins (total error as the mean of its size), and
    per baseline at how many origins the paired interval lies above / across / below zero."""
    cutoffs, over = results["cutoffs"], results["over_cutoffs"]
    horizon = results["horizons_days"]["ltv"]
    attribute = _attribute(cutoffs)
    seconds = sum(sum(cutoff["seconds"].values()) for cutoff in cutoffs)
    lines = [
        f"{results['dataset']}, {len(cutoffs)} origins, {horizon} days each (`{results['command']}`; "
        f"{seconds:.0f} s on this 2-core machine{_load(results)}):",
        "",
        "| origin | users | active after | served LTV | Spearman | Gini | AUC P(active) | "
        "total error | ECE | coverage <P10 / in / >P90 |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for cutoff in cutoffs:
        m = cutoff["methods"][MODEL]
        ltv = cutoff["models"].get("ltv", {})
        coverage = (
            f"{m['below_p10']:.0%} / {m['inside_p10_p90']:.0%} / {m['above_p90']:.0%}"
            if "inside_p10_p90" in m
            else ""
        )
        cells = [
            cutoff["cutoff"],
            f"{cutoff['users']:,}",
            f"{cutoff['outcome']['active_rate']:.1%}",
            ltv.get("served_kind") or "not trained",
            *(_cell(m, k, f, False) for k, f in (("spearman", ".3f"), ("normalized_gini", ".3f"))),
            *(_cell(m, k, f, False) for k, f in (("auc", ".3f"), ("total_error", "+.1%"))),
            _cell(m, "ece", ".3f", False),
            coverage,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    means = _means(over, cutoffs)
    lines += [
        "",
        f"Mean over the {len(cutoffs)} origins (total error: the mean of its size):",
        "",
        f"| method {METRICS_HEADER}",
        "|---|---:|---:|---:|---:|---:|",
    ]
    best = _bests(means)
    for method in _ordered(means):
        cells = _method_cells(means[method], method, best, total_error=".1%")
        lines.append(f"| {_label(method, horizon, attribute)} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"lifecycle against each baseline: origins where the 95% paired bootstrap interval of "
        f"the difference ({cutoffs[0]['outcome']['resamples']:,} resamples of users) is above "
        "zero / across it / below it:",
        "",
        "| baseline | AUC | Spearman | Gini |",
        "|---|---|---|---|",
    ]
    for baseline, by_metric in over["versus"].items():
        cells = [_sides(by_metric.get(key)) for key in RANKINGS]
        lines.append(f"| {_label(baseline, horizon, attribute)} | " + " | ".join(cells) + " |")
    lines += render_rolling_still_active(results, attribute)
    return "\n".join(lines) + "\n"


def _purchases_lines(verdict: dict[str, Any] | None) -> list[str]:
    """The served expected_purchases against the orders that happened, with the calibration
    table by bin of expected purchases (none in results recorded before they were judged)."""
    if not verdict or "error" in verdict:
        return []
    from lifecycle.backtest_purchases import bin_name

    lines = [
        "",
        f"The served `expected_purchases` of the {verdict['customers']:,} customers against "
        f"the {verdict['counted']} that happened in {verdict['horizon_days']} days: "
        f"{verdict['expected_total']:,.0f} expected, {verdict['happened_total']:,.0f} happened "
        f"(total error {verdict['total_error']:+.1%}), Spearman {verdict['spearman']:.3f}:",
        "",
        "| expected purchases | customers | mean expected | mean happened |",
        "|---|---:|---:|---:|",
    ]
    for row in verdict["calibration"]:
        lines.append(
            f"| {bin_name(row)} | {row['customers']:,} | {row['mean_expected']:.2f} | "
            f"{row['mean_happened']:.2f} |"
        )
    return lines


def render_doc(name: str, results: dict[str, Any]) -> str:
    """The doc's block of one backtest: what happened, the methods table, the intervals, and
    the same of the users still active at the cutoff."""
    if len(results["cutoffs"]) > 1:
        return render_rolling(results)
    (cutoff,) = results["cutoffs"]
    horizons = results["horizons_days"]
    attribute = _attribute([cutoff])
    outcome = cutoff["outcome"]
    methods: dict[str, dict[str, float]] = cutoff["methods"]
    seconds = sum(cutoff["seconds"].values())
    served = ", ".join(
        f"{task} {info['served_kind']}" if info.get("served_version") else f"{task} not trained"
        for task, info in cutoff["models"].items()
        if info.get("served_version") or "error" in info
    )
    lines = [
        f"{results['dataset']}, cutoff {cutoff['cutoff']}, {horizons['ltv']} days "
        f"(`{results['command']}`; {cutoff['users']:,} users known, {seconds:.0f} s on this "
        f"2-core machine{_load(results)}): {outcome['active_rate']:.1%} active and {outcome['bought_rate']:.1%} "
        f"buying after the cutoff; served: {served}.",
        "",
        f"| method {METRICS_HEADER} coverage <P10 / in / >P90 |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    best = _bests(methods)
    for method in _ordered(methods):
        m = methods[method]
        coverage = (
            f"{m['below_p10']:.0%} / {m['inside_p10_p90']:.0%} / {m['above_p90']:.0%}"
            if "inside_p10_p90" in m
            else ""
        )
        cells = [*_method_cells(m, method, best, total_error="+.1%"), coverage]
        label = _label(method, horizons["ltv"], attribute)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    ceiling = results.get("hindsight")
    if ceiling:
        cells = [format(ceiling[key], ".3f") for key in ("spearman", "normalized_gini", "auc")]
        lines.append(f"| *{HINDSIGHT}* | " + " | ".join(cells) + " |  |  |  |")
    lines += _purchases_lines(cutoff.get("expected_purchases"))
    lines += [
        "",
        f"lifecycle minus baseline, 95% paired bootstrap interval "
        f"({outcome['resamples']:,} resamples of users):",
        "",
        "| baseline | AUC | Spearman | Gini |",
        "|---|---|---|---|",
    ]
    for baseline, by_metric in cutoff["bootstrap"].items():
        cells = [_interval(by_metric.get(key)) for key in RANKINGS]
        lines.append(
            f"| {_label(baseline, horizons['ltv'], attribute)} | " + " | ".join(cells) + " |"
        )
    lines += render_still_active(cutoff, horizons["ltv"], attribute)
    return "\n".join(lines) + "\n"
