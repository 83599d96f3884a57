"""The promotion gate: a version becomes champion only if it beats the best baseline and
the champion on the same evidence (a baseline rule that beats LightGBM is registered and
gated as a model version of its own: :mod:`training.baseline_versions`).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.asof import AS_OF
from features.labels import LABEL
from lifecycle import late_events, lineage, registry, tasks
from lifecycle.bundle import ModelBundle
from lifecycle.settings import Settings
from training.errors import TrainingError

if TYPE_CHECKING:
    pass


def gate_metric_of(settings: Settings, task: str) -> str:
    """The task's gate metric: ``training.gate_metric.<task>`` if set, else its declaration's."""
    return settings.training.gate_metric.get(task) or tasks.get(task).gate_metric


def winning_baseline(
    settings: Settings, task: str, metrics: dict[str, dict[str, float]]
) -> str | None:
    """The baseline at least as good as LightGBM on the gate metric (the best such), if any."""
    metric = gate_metric_of(settings, task)
    ours = metrics["lightgbm"].get(metric, np.nan)
    rivals = {
        k: m[metric]
        for k, m in metrics.items()
        if k != "lightgbm" and np.isfinite(m.get(metric, np.nan))
    }
    if not rivals:
        return None
    best = max(rivals, key=lambda k: rivals[k])
    return best if not ours > rivals[best] else None


class Recorded(float):
    """A champion's metric as recorded on its own test cutoff (``on``), not re-scored; with
    the best of the challenger's baselines as recorded on that test (``baseline``: name,
    metric), where its run logged them."""

    on: str
    baseline: tuple[str, float] | None
    older = False  # learned from data that ends before the challenger's (set by the gate)
    unknown = ""  # why appends since cannot tell whether its test's outcomes changed

    def __new__(cls, value: float, on: str, baseline: tuple[str, float] | None = None) -> Recorded:
        recorded = super().__new__(cls, value)
        recorded.on, recorded.baseline = on, baseline
        return recorded


def recorded_baseline(
    mlflow_client: Any, version: Any, metric: str, names: Any
) -> tuple[str, float] | None:
    """The best of the baselines ``names`` on a version's own test, as its training run
    logged them (``<baseline>.<metric>``); None where it logged none of them."""
    try:
        logged = mlflow_client.get_run(version.run_id).data.metrics if version.run_id else {}
    except Exception:  # a run gone from the tracking store: nothing recorded to compare
        return None
    found = {n: logged[f"{n}.{metric}"] for n in names or () if f"{n}.{metric}" in logged}
    found = {n: v for n, v in found.items() if np.isfinite(v)}
    return max(found.items(), key=lambda item: item[1]) if found else None


class Rescored(float):
    """A champion's metric re-scored on the challenger's test rows, with the 95% paired
    bootstrap interval of the challenger's lead over it (``lead``; None where the metric has
    no bootstrap): a lead whose interval reaches above zero is level within noise."""

    lead: tuple[float, float] | None
    older = False  # learned from data that ends before the challenger's (set by the gate)

    def __new__(cls, value: float, lead: tuple[float, float] | None) -> Rescored:
        rescored = super().__new__(cls, value)
        rescored.lead = lead
        return rescored


# Gate metrics that rank: a served rule's monotone calibration leaves them as they are.
RANK_METRICS = frozenset({"auc", "pr_auc", "normalized_gini", "spearman", "lift_top_decile"})
# Rules whose ranking has nothing fitted (RFM's quintile edges are, on the users of a later
# cutoff): re-scored on any test, like a model that ended before it.
UNFITTED_RULES = frozenset({"recency_rule", "last_period_value"})
LEAD_RESAMPLES = 1000


def leads(
    metric: str, y: np.ndarray, ours: np.ndarray, others: dict[str, np.ndarray]
) -> dict[str, tuple[float, float]]:
    """The 95% paired bootstrap interval of ``metric(ours) - metric(other)`` on the same rows,
    per other; empty where the metric has no bootstrap here."""
    from training import evaluation

    of = evaluation.BOOTSTRAPPED.get(metric)
    if of is None or not others:
        return {}
    found = evaluation.paired_bootstrap(of, y, ours, others, resamples=LEAD_RESAMPLES, seed=0)
    return {name: (d["low"], d["high"]) for name, d in found.items() if np.isfinite(d["high"])}


@dataclass(frozen=True)
class Unscored:
    """Why the champion has no score on the challenger's evidence, and whether to promote anyway."""

    reason: str
    promote: bool


def gate(
    settings: Settings,
    mlflow_client: Any,
    name: str,
    task: str,
    version: str,
    metrics: dict[str, float],
    champion_score: Callable[[Any, str], float | Recorded | Unscored],
    *,
    evidence: str = "",
    kind: str = "",
    baselines: dict[str, dict[str, float]] | None = None,
    lead_over: Callable[[str], tuple[float, float] | None] = lambda baseline: None,
    itself: str | None = None,
    noted: dict[str, str] | None = None,
) -> tuple[bool, str]:
    """Make ``version`` champion if it beats the best of ``baselines`` (their metrics on the
    same evidence) and, when there is a champion, the champion's score
    (``champion_score(champion version, metric)``) by ``training.min_improvement``. A score
    recorded on the champion's own earlier test (:class:`Recorded`) is of another period:
    where its run logged those baselines, the two are compared by how far each beats the
    best baseline on its own test, else by the metric itself.

    Where the two are level within noise (the champion :class:`Rescored` on these rows, or
    its recorded lead over the baseline within ``lead_over(best baseline)``, the interval of
    the challenger's lead on its rows), the challenger, of fresher data, replaces it: a
    months-old champion 0.0003 ahead on AUC served churn 0.9999 to every one-time buyer of
    CDNOW. A rule challenger (``itself``) tied exactly with a champion that leads no baseline
    (a rule) replaces it alike: the same rule refit ties itself. Not with
    ``training.min_improvement`` set, which asks for a lead.

    ``kind`` prefixes the metric in reasons (e.g. "CV "); ``evidence`` ends them (e.g.
    " on test 2025-05-11..2025-06-01"). ``itself``: the baseline the challenger is (a winning rule
    registered to serve), which it need not beat and whose lead over the baselines is 0: a
    rule that won on an easier period replaced a LightGBM champion that had led it on its own.

    A loss says the 95% paired interval of the difference where the rows give one (the lead
    over the best baseline, or over a champion re-scored here or as recorded), and whether
    it is beyond noise; ``noted`` gets it as the run's tags (:func:`noise_tags`). It decides
    nothing a loss did not already.
    """
    metric = gate_metric_of(settings, task)
    if metric not in metrics:
        raise TrainingError(
            f"training.gate_metric.{task} = {metric!r} is not a {kind or task + ' '}metric: "
            f"{sorted(metrics)}"
        )
    ours = metrics[metric]
    rivals = {
        b: m[metric] for b, m in (baselines or {}).items() if np.isfinite(m.get(metric, np.nan))
    }
    mine, beaten = f"{ours:.4f}", ""  # beaten: the best baseline, said in a promotion's reason
    if rivals:
        best = max(rivals, key=lambda b: rivals[b])
        mine, baseline = compared(ours, rivals[best])
        if not ours > rivals[best] and best != itself:
            by = f"{rivals[best] - ours:.{len(mine.partition('.')[2])}f}"
            spread = noise_tags(noted, f"baseline {best}", lead_over(best))
            return False, (
                f"{kind}{metric} {mine} loses to the baseline {best} {baseline} by {by}{evidence}"
                f"{spread}"
            )
        beaten = (
            f" > best baseline {best} {baseline}{evidence}"
            if best != itself
            else f" (the best baseline{evidence})"
        )
    champion = registry.alias_version(mlflow_client, name, registry.CHAMPION)
    if champion is None:
        reason = f"first model: {kind}{metric} {mine}{beaten}"
        registry.set_champion(mlflow_client, name, version, reason)
        return True, reason
    theirs = champion_score(champion, metric)
    if isinstance(theirs, Unscored):
        if theirs.promote:
            reason = f"{theirs.reason}; {kind}{metric} {mine}{beaten}"
            registry.set_champion(mlflow_client, name, version, reason)
            return True, reason
        return False, f"{theirs.reason}; promote by hand"
    margin = settings.training.min_improvement
    required = f" by more than {margin}" if margin else ""  # training.min_improvement
    if isinstance(theirs, Recorded) and theirs.baseline is not None and rivals:
        # Two tests of other periods: each model is judged by how far it beats the best
        # baseline on its own test, so that a harder period holds no challenger back.
        rival, level = theirs.baseline
        weighed = (ours - rivals[best], theirs - level)  # the leads over the baselines
        lead, their_lead = (
            ("+" if v >= 0 else "") + t for v, t in zip(weighed, compared(*weighed), strict=True)
        )
        said = f"{kind}{metric} {mine}{evidence} is " + (
            f"{lead} against the best baseline {best}"
            if best != itself  # the rule itself leads nothing: no "+0.0000 against" itself
            else f"the best baseline {best} itself (no lead over it)"
        )
        against = (
            f"champion v{champion.version} was against {rival} on its test {theirs.on} "
            f"({their_lead}; it recorded {theirs:.4f}{theirs.unknown}){required}"
        )
        better, worse = ", more than ", ", not more than "
        # only where it counts; the rule itself leads its own baseline by exactly 0, unresampled
        exact = best == itself
        noise = ((0.0, 0.0) if exact else lead_over(best)) if theirs.older and not margin else None
        no_lead = exact and weighed[1] <= 0  # a rule champion, or one that led no baseline
        decimals = len(their_lead.partition(".")[2])
        spread = None if exact else (noise if noise is not None else lead_over(best))
        if spread is not None:  # the challenger's lead less the champion's recorded one
            spread = (spread[0] - weighed[1], spread[1] - weighed[1])
    else:
        weighed = (ours, theirs)
        mine, _, their = compared(ours, theirs + margin, theirs)
        # a recorded metric was measured on the champion's own test cutoff, not on this evidence
        own = (
            f" (recorded on its test {theirs.on}{theirs.unknown})"
            if isinstance(theirs, Recorded)
            else ""
        )
        said, better, worse = f"{kind}{metric} {mine}", " > ", " does not beat "
        decimals = len(their.partition(".")[2])
        against = f"champion v{champion.version} {their}{own}{required}{evidence}"
        # re-scored on these rows (the recency rule by a ranking metric): the challenger is the
        # best baseline, and the champion does no better than it here
        no_lead = isinstance(theirs, Rescored) and bool(rivals) and best == itself
        no_lead = no_lead and theirs <= rivals[best]
        noise = spread = theirs.lead if isinstance(theirs, Rescored) else None
        if noise is not None:  # the lead over the champion itself, not a level to reach
            noise = (noise[0] + weighed[1], noise[1] + weighed[1])
    if weighed[0] > weighed[1] + margin:
        reason = f"{said}{better}{against}"
        registry.set_champion(mlflow_client, name, version, reason)
        return True, reason
    if no_lead and not margin and theirs.older and weighed[0] >= weighed[1]:
        # the best rule on the fresher data, tied exactly with a champion that led no
        # baseline (a rule champion, or a hand or forced promotion): the same rule refit ties
        # itself, and a tie kept online_retail's first rfm_score, fitted at 70 days on a short
        # history (CDNOW's first recency rule alike), against every later refit of it; another
        # rule that is best here did at least as well as the champion's rule refit on these rows
        reason = f"{said}{worse}{against}, but level: the rule of the fresher data replaces it"
        registry.set_champion(mlflow_client, name, version, reason)
        return True, reason
    if not margin and noise is not None and weighed[1] < noise[1] and theirs.older:
        low, high = noise[0] - weighed[1], noise[1] - weighed[1]
        reason = (
            f"{said}{worse}{against}, but level within noise (95% interval of the difference "
            f"[{low:+.4f}, {high:+.4f}]): the model of the fresher data replaces it"
        )
        registry.set_champion(mlflow_client, name, version, reason)
        return True, reason
    spread_said = noise_tags(noted, f"champion v{champion.version}", spread)
    return False, f"{said}{worse}{against}, {shortfall(*weighed, decimals)}{spread_said}"


def noise_tags(
    noted: dict[str, str] | None, versus: str, interval: tuple[float, float] | None
) -> str:
    """A loss's 95% paired interval of the difference (challenger minus ``versus``) as its
    verdict says it, '' without one; into ``noted`` as run tags ``gate.*``."""
    if interval is None:
        return ""
    low, high = interval
    beyond = high < 0 or low > 0
    if noted is not None:
        noted |= {
            "gate.versus": versus,
            "gate.difference_low": f"{low:.6f}",
            "gate.difference_high": f"{high:.6f}",
            "gate.beyond_noise": str(beyond).lower(),
        }
    return (
        f"; 95% interval of the difference [{low:+.4f}, {high:+.4f}], "
        f"{'beyond' if beyond else 'not beyond'} noise"
    )


def shortfall(ours: float, theirs: float, decimals: int) -> str:
    """By how much a challenger kept back stands from its champion, as a baseline loss says
    it ("by 0.0080"): a champion loss said only "does not beat champion v1 0.8491"."""
    gap = theirs - ours
    if gap == 0:
        return "level with it"
    while decimals < 8 and f"{abs(gap):.{decimals}f}".strip("0.") == "":
        decimals += 1  # 0.849049 against 0.849051 is not "by 0.0000"
    if gap > 0:
        return f"behind by {gap:.{decimals}f}"
    return f"ahead by only {-gap:.{decimals}f}"  # not by training.min_improvement


def tested_on(cutoffs: Iterable[Any]) -> str:
    """The test cutoffs as a training's line and the gate's verdict name them: first..last
    (a verdict named the last alone, 'on test 2011-09-10', of a test of four cutoffs)."""
    days = sorted({f"{pd.Timestamp(t):%Y-%m-%d}" for t in cutoffs})
    return f"{days[0]}..{days[-1]}" if len(days) > 1 else days[0]


def tested_window(last: str, cutoffs: Iterable[Any] | None) -> str:
    """A version's test window as `lifecycle models` and the report say it: ``test
    first..last`` (:func:`tested_on`); its run's cutoffs unread, the last its tags hold."""
    return f"test {tested_on(cutoffs)}" if cutoffs else f"evaluated on the test cutoffs to {last}"


def compared(*scores: float) -> tuple[str, ...]:
    """Scores printed side by side with 4 decimals, more (up to 8) where two that differ
    would print alike ("0.5596 > 0.5596" says nothing)."""
    for decimals in range(4, 9):
        printed = tuple(f"{score:.{decimals}f}" for score in scores)
        if len(set(printed)) == len(set(scores)):
            break
    return printed


def gate_on_test(
    settings: Settings,
    mlflow_client: Any,
    name: str,
    task: str,
    version: str,
    test: pd.DataFrame,
    model_metrics: dict[str, float],
    *,
    baselines: dict[str, dict[str, float]] | None = None,
    label: dict[str, Any] | None = None,
    accept_definition_change: str | None = None,
    scores: dict[str, np.ndarray] | None = None,
    trained_through: str | None = None,
    itself: str | None = None,
    answered_by: str | None = None,
) -> tuple[bool, str]:
    """Promote the challenger only if it beats the best of ``baselines`` (unless it is that
    baseline, ``itself``: :func:`gate`) and the champion
    on the same test rows; a champion that learned from those rows is judged by its
    recorded out-of-time metric instead, against the baselines recorded with it. With the
    test ``scores`` (``lightgbm``: the challenger's, and each baseline's), a champion level
    with it within noise gives way to it (:func:`gate`) when it learned from data that ends
    before ``trained_through`` (the challenger's latest training cutoff). A served rule with
    nothing fitted to rank by (recency) is re-scored on the test rows by a ranking gate
    metric, wherever it was calibrated.

    A challenger whose ``label`` definition (horizon, target, lookback...) differs from the
    champion's is never promoted by its metric (the two predict different things); only
    with ``accept_definition_change``, a reason recorded on the version. The champion's
    definition is the one on its own version, whatever data it learned from: one of data
    replaced since still serves its window (a rollback to the old demo's 90-day churn was
    replaced by a 60-day one unasked). A champion whose data was replaced since
    (:func:`registry.replaced_data`) is no rival by its metric: its test was of other
    customers, and the challenger is judged as a first model; so is one whose
    task another model answers (``answered_by``: ``1 - churn vN``, conversion on a log of
    purchases, ``serving.scoring.churn_answers``), as its lead protects no answer.
    """
    replaced = registry.replaced_data(settings, mlflow_client, name, version)
    redefined = definition_change(mlflow_client, name, label)  # tag against tag
    refused = (
        definition_refused(redefined, task, version)
        if redefined and not accept_definition_change
        else None
    )
    if refused:  # before the baselines: a different definition is no rival at all
        metric = gate_metric_of(settings, task)
        rivals = {  # a baseline version is not judged against itself
            b: m[metric] for b, m in (baselines or {}).items() if metric in m and b != itself
        }
        best = max(rivals, key=lambda b: rivals[b]) if rivals else None
        if best is not None and not model_metrics.get(metric, np.nan) > rivals[best]:
            ours, theirs = compared(model_metrics[metric], rivals[best])
            by = rivals[best] - model_metrics[metric]
            refused += (
                f"{registry.BESIDES}{metric} {ours} loses to the baseline {best} {theirs} by "
                f"{by:.4f} (promoting it by hand needs --force too)"
            )
        registry.record_gate(mlflow_client, name, version, refused)
        return False, refused

    def late_since_tested(
        champion: Any, evaluated_on: dict, horizon: pd.Timedelta
    ) -> late_events.LateSince:
        """Whether the champion's recorded test still holds: late events appended since
        that fall within the outcomes it was tested on (November appended before October:
        its test read October as silent) make it a first model's ``changed``."""
        cutoffs = evaluated_on.get("test_cutoffs") or [evaluated_on.get("test_cutoff")]
        if not any(cutoffs):
            return late_events.LateSince()
        ours = mlflow_client.get_model_version(name, version).tags or {}
        built = lineage.of_tags(champion.tags or {})
        end = pd.Timestamp(max(t for t in cutoffs if t), tz="UTC") + horizon
        late = late_events.late_since(settings, built, lineage.of_tags(ours), end)
        changed = late.changed and (
            f"champion v{champion.version}'s recorded test is of outcomes since changed: "
            f"{late.changed}; judged as a first model"
        )
        return late._replace(changed=changed or None)

    def champion_score(champion: Any, metric: str) -> float | Recorded | Unscored:
        if replaced is not None:  # its test was of other customers: judged as a first model
            accepted = f"{redefined}, accepted: {accept_definition_change}; " if redefined else ""
            return Unscored(f"{accepted}{replaced}", True)
        if registry.is_label_free(champion):  # nothing to weigh: the challenger was judged
            return Unscored(f"champion v{champion.version} learned from no outcome", True)
        if by := answered_by:  # online_retail's conversion v1 kept its
            # May lead over every later candidate while 1 - churn answered
            return Unscored(
                f"champion v{champion.version} answers nothing served ({task} is served as "
                f"{by}); judged as a first model",
                True,
            )
        with tempfile.TemporaryDirectory() as tmp:
            try:
                current = ModelBundle.load(
                    registry.bundle_path(mlflow_client, name, champion.version, Path(tmp))
                )
            # a corrupt or incompatible champion must not block a good model
            except Exception as error:
                why = registry.unloadable(
                    mlflow_client, name, str(champion.version), error, Path(tmp)
                )
                return Unscored(f"champion {why}", True)
        changes = lineage.definition_changes(_plain(current.label), _plain(label or current.label))
        if changes:
            changed = (
                f"label definition differs from champion v{champion.version} ({', '.join(changes)})"
            )
            if accept_definition_change:
                return Unscored(f"{changed}, accepted: {accept_definition_change}", True)
            return Unscored(definition_refused(changed, task, version), False)
        if set(current.feature_names) - set(test.columns):
            return Unscored(
                f"champion v{champion.version} reads features this test set lacks", False
            )
        # A champion refit on every matured cutoff learned outcomes that fall within this
        # test's horizons whenever its latest cutoff is less than a horizon before the
        # earliest test cutoff (every refresh): on these rows it would be judged in sample.
        trained = current.data_window.get("trained_on", {}).get("cutoffs", [])
        horizon = pd.Timedelta(days=int(current.label.get("horizon_days") or 0))
        # a served rule learned its edges and parameters from the users of its latest cutoff
        fitted = current.data_window.get("rule_fitted_on", {}).get("cutoff")
        earliest = pd.Timestamp(test[AS_OF].min())
        saw_outcomes = (trained and pd.Timestamp(max(trained), tz="UTC") + horizon > earliest) or (
            fitted and pd.Timestamp(fitted, tz="UTC") >= earliest
        )
        rule = getattr(current.booster, "kind", None)  # a served rule (lifecycle.rules)
        if rule in UNFITTED_RULES and metric in RANK_METRICS:
            saw_outcomes = False  # nothing it ranks by was fitted; a ranking ignores calibration
        # learned from data that ends before the challenger's: level within noise, it gives way
        ends = [pd.Timestamp(t, tz="UTC") for t in (*trained, *([fitted] if fitted else []))]
        older = bool(ends and trained_through) and max(ends) < pd.Timestamp(
            trained_through, tz="UTC"
        )
        evaluated_on = current.data_window.get("evaluated_on", {})
        # its test's outcomes end a horizon after its last test cutoff: the one it learned at
        # (a bridged model's shorter one: lifecycle.bridge), not the one it serves
        learned = (current.bridge or {}).get("learned_days") or current.label.get("horizon_days")
        learned_at = pd.Timedelta(days=int(learned or 0))
        late = late_since_tested(champion, evaluated_on, learned_at) if saw_outcomes else None
        if late and late.changed:
            return Unscored(late.changed, True)  # its recorded test was of outcomes since changed
        if saw_outcomes:
            if metric not in current.metrics:
                return Unscored(
                    f"champion v{champion.version} learned from outcomes within the test "
                    f"horizon and recorded no {metric}",
                    False,
                )
            on = evaluated_on.get("test_cutoff", "cutoff")  # a version of before the list
            on = tested_on(evaluated_on["test_cutoffs"]) if "test_cutoffs" in evaluated_on else on
            level = recorded_baseline(mlflow_client, champion, metric, baselines)
            found: Recorded | Rescored = Recorded(float(current.metrics[metric]), on, level)
            found.unknown = f"; {late.unknown}" if late and late.unknown else ""
        else:
            from training.evaluation import metrics_of  # scipy, sklearn: not for `models`

            predicted = current.predict(test)
            value = metrics_of(task, y, {"lightgbm": predicted})["lightgbm"][metric]
            ours = (scores or {}).get("lightgbm")
            # where a level verdict could promote (a champion of older data), and a loss's noise
            lead = leads(metric, y, ours, {"champion": predicted}) if ours is not None else {}
            found = Rescored(value, lead.get("champion"))
        found.older = older
        return found

    y = test[LABEL].to_numpy(dtype=float)

    def lead_over(baseline: str) -> tuple[float, float] | None:
        given = scores or {}
        if "lightgbm" not in given or baseline not in given:
            return None
        metric = gate_metric_of(settings, task)
        found = leads(metric, y, given["lightgbm"], {baseline: given[baseline]})
        return found.get(baseline)

    noted: dict[str, str] = {}
    promoted, verdict = gate(
        settings,
        mlflow_client,
        name,
        task,
        version,
        model_metrics,
        champion_score,
        evidence=f" on test {tested_on(test[AS_OF].unique())}",
        baselines=baselines,
        lead_over=lead_over,
        itself=itself,
        noted=noted,
    )
    registry.record_gate(mlflow_client, name, version, verdict)
    if noted:  # a loss's interval, on the run that trained the version
        run_id = mlflow_client.get_model_version(name, version).run_id
        for key, value in noted.items():
            mlflow_client.set_tag(run_id, key, value)
    return promoted, verdict


def definition_refusal(
    mlflow_client: Any,
    name: str,
    task: str,
    version: str,
    label: dict[str, Any] | None,
    accept: str | None,
) -> str | None:
    """Why a challenger whose label definition differs from the champion's recorded one
    (tag ``label_definition``) is not promoted; None when it is the same, or accepted."""
    changed = None if accept else definition_change(mlflow_client, name, label)
    return definition_refused(changed, task, version) if changed else None


def definition_change(mlflow_client: Any, name: str, label: dict[str, Any] | None) -> str | None:
    """How ``label`` differs from the definition recorded on the champion's own version (tag
    ``label_definition``), whatever data it learned from: ``label definition differs from
    champion v1 (horizon_days 90 -> 60)``; None when it is the same or either is unknown."""
    champion = registry.alias_version(mlflow_client, name, registry.CHAMPION)
    recorded = (champion.tags or {}).get(lineage.DEFINITION_TAG) if champion else None
    if label is None or not recorded:
        return None
    changes = lineage.definition_changes(json.loads(recorded), _plain(label))
    if not changes:
        return None
    return f"{registry.DEFINITION_HELD} v{champion.version} ({', '.join(changes)})"


def definition_refused(changed: str, task: str, version: str) -> str:
    """The gate's verdict on a version held back for its label definition (``changed``)."""
    return (
        f"{changed}: refused, the scores would change meaning under their users; accept it "
        f"with {accept_commands(task, version)}"
    )


def accept_commands(task: str, version: str) -> str:
    """How a verdict holding ``version`` back for its label definition says to accept it
    (`lifecycle refresh` names its own: ``lifecycle.refresh``)."""
    return (
        f"`lifecycle train {task} --accept-definition-change REASON` or `lifecycle promote "
        f"{task} {version} --reason REASON --accept-definition-change`"
    )


def _plain(label: dict[str, Any]) -> dict[str, Any]:
    """A label definition as JSON gives it back (tuples as lists), for comparison."""
    return json.loads(json.dumps(label, default=str))
