"""Realized quality: how the ledger's predictions did once their horizon passed.

For every ledger entry (``serving.ledger``: one as-of date of a dataset) and every task
it scored, the task is labelled at the entry's as-of with the entry's own label definition
(``features.labels.compute_labels``) on the data ingested now, and compared with what was
predicted, per task and model version:

- probability tasks: AUC, ECE (10 equal-frequency bins), mean predicted vs actual rate;
- value tasks (LTV): Spearman, normalized Gini, total error (predicted minus actual, and
  as a share of actual), the shares below the P10, inside the P10-P90 (coverage, about 0.8
  when the intervals are right) and above the P90, a realized 0 on a P10 of 0 counted by its
  randomized PIT as training and the backtest count it;
- every task: lift in the top decile by score, and a grade from it.

The grade reads lift on one scale for every task: the top decile's lift above a random
ranking's as a share of what a perfect ranking would reach above it on the same outcomes
(``attainment``, (lift - 1) / (perfect lift - 1)). A churn rate of 60% caps lift at 1.67 while a 5% conversion rate
allows 10; the share makes both comparable. GRADES: excellent >= 0.6, good >= 0.4,
fair >= 0.2, poor below (or no lift at all).

An entry whose horizon ends after the last ingested event is pending, with the date it
matures. An entry scored on data since replaced (another ingest, import or demo data under
the same ids, not an append: ``lifecycle.lineage.replaced``) is not gradable, with that
reason: its users' outcomes are not in these events. Nothing is retrained. The result is
stored in ``Workspace.outcomes(dataset)`` (JSON), which the report and the HTTP service
read without recomputing.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features import contract as c
from lifecycle import lineage, tasks
from lifecycle.errors import UserError
from lifecycle.grades import GRADE_HELP, GRADES, grade

if TYPE_CHECKING:
    from lifecycle.settings import Settings
    from serving.ledger import LedgerEntry

# Lowest attainment (share of a perfect ranking's top-decile lift) for each grade, best first.
# The columns a reader sees first for each kind of task (JSON keeps every metric).
HEADLINE = {
    "probability": ("auc", "ece", "mean_predicted", "actual_rate", "lift_top_decile"),
    "value": (
        "spearman",
        "normalized_gini",
        "total_error_pct",
        "coverage_p10_p90",
        "lift_top_decile",
    ),
}


PURCHASE = "purchase_probability"  # the LTV's P(any value) in the ledger (tasks.LTV.outputs)
IN_SAMPLE = "in sample"  # the grade of predictions whose outcomes the model learned


class OutcomesError(UserError):
    """Outcomes cannot be computed or read; the message names the file or what to run."""


def _safely(metric: Callable[[], float]) -> float:
    """A metric, or NaN where it is undefined (one class only, all values zero)."""
    try:
        return float(metric())
    except (ValueError, ZeroDivisionError):
        return float("nan")


def _interval_shares(
    y: np.ndarray, predicted: pd.DataFrame, low: str, high: str
) -> dict[str, float]:
    """The realized values' shares below the P10, inside the P10-P90 (``coverage_p10_p90``)
    and above the P90, counted as training and the backtest count them: where the ledger
    holds the model's P(any value), a 0 on a P10 of 0 by its randomized PIT
    (``evaluation.interval_shares``); a row without one (NaN) counts a 0 inside."""
    from training import evaluation as ev

    zero = None
    if PURCHASE in predicted:
        zero = 1.0 - predicted[PURCHASE].astype(float).fillna(1.0)  # P(value = 0), F0
    try:
        shares = ev.interval_shares(y, predicted[low], predicted[high], zero_probability=zero)
    except ValueError:  # no rows, or an interval not finite or inverted
        shares = dict.fromkeys(("below", "inside", "above"), float("nan"))
    return {
        "below_p10": shares["below"],
        "coverage_p10_p90": shares["inside"],
        "above_p90": shares["above"],
    }


def realized_metrics(
    task: tasks.Task, predicted: pd.DataFrame, actual: np.ndarray
) -> dict[str, float]:
    """Metrics of one task's predictions (its output columns) against realized labels."""
    from training import evaluation as ev

    score = predicted[task.score].to_numpy(dtype=float)
    y = np.asarray(actual, dtype=float)
    lift = _safely(lambda: ev.lift_at(y, score))
    perfect = _safely(lambda: ev.lift_at(y, y))
    # positives: users whose label is positive, as training counts them (a churned user; a
    # conversion; any value), the count behind actual_rate as the backtest's `positives`
    metrics: dict[str, float] = {"n": float(y.size), "positives": int((y > 0).sum())}
    if task.is_probability:
        metrics |= {
            "auc": _safely(lambda: ev.roc_auc(y, score)),
            "ece": _safely(lambda: ev.expected_calibration_error(y, score)),
            "mean_predicted": float(score.mean()),
            "actual_rate": float(y.mean()),
        }
    else:
        total_error = float(score.sum() - y.sum())
        metrics |= {
            "spearman": _safely(lambda: ev.spearman(y, score)),
            "normalized_gini": _safely(lambda: ev.normalized_gini(y, score)),
            "total_error": total_error,
            "total_error_pct": total_error / y.sum() if y.sum() else float("nan"),
            "mean_predicted": float(score.mean()),
            "mean_actual": float(y.mean()),
        }
        low, high = (f"{task.score}_p10", f"{task.score}_p90")
        if low in predicted and high in predicted:
            metrics |= _interval_shares(y, predicted, low, high)
    metrics |= {"lift_top_decile": lift, "perfect_lift_top_decile": perfect}
    return metrics


@dataclass
class Outcomes:
    """Realized quality of a dataset's ledger: matured rows (one per as-of and task) and
    pending ones."""

    dataset: str
    data_ends: str
    computed_at: str
    matured: list[dict[str, Any]] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    not_gradable: list[dict[str, Any]] = field(default_factory=list)  # of replaced data

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "data_ends": self.data_ends,
            "computed_at": self.computed_at,
            "grades": {name: low for name, low in GRADES},
            "matured": self.matured,
            "pending": self.pending,
            "not_gradable": self.not_gradable,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outcomes:
        return cls(
            data["dataset"],
            data["data_ends"],
            data["computed_at"],
            list(data.get("matured", [])),
            list(data.get("pending", [])),
            list(data.get("not_gradable", [])),
        )

    def lines(self) -> list[str]:
        out = [
            f"outcomes of dataset {self.dataset} (data ends {self.data_ends}): "
            f"{len(self.matured)} matured, {len(self.pending)} pending"
            + (f", {len(self.not_gradable)} not gradable" if self.not_gradable else "")
        ]
        for row in self.matured:
            kind = "probability" if "auc" in row else "value"
            shown = ", ".join(
                f"{name} {_number(row.get(name))}" for name in HEADLINE[kind] if name in row
            )
            # the days the outcomes were read from, (as_of, matured_on], as pending rows say theirs
            days = (
                f" over the {row['horizon_days']} days to {row['matured_on']}:"
                if "matured_on" in row
                else ""
            )
            out.append(
                f"  {row['as_of']} {row['task']:<11} {_model(row):<5} "
                f"{row['grade']:<9} n={int(row['n']):,}{days} {shown}"
                + (f" ({row['in_sample']}: not a forecast)" if row.get("in_sample") else "")
            )
            if against := _against_test(row, HEADLINE[kind]):
                out.append(f"    {against}")
        for row in self.pending:
            out.append(
                f"  {row['as_of']} {row['task']:<11} {_model(row):<5} "
                f"pending until {row['matures_on']}"
            )
        for row in self.not_gradable:
            out.append(
                f"  {row['as_of']} {row['task']:<11} {_model(row):<5} not gradable: {row['reason']}"
            )
        return out


def _number(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.3f}"


def _json_safe(value: Any) -> Any:
    """NaN and infinity are not JSON: they are stored as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _entry_outcome(
    entry: LedgerEntry,
    task_name: str,
    events: Path,
    users: Path | None,
    con: Any,
) -> dict[str, Any]:
    """One matured (entry, task): label it as the entry defines, compare, grade."""
    from features.asof import AS_OF
    from features.labels import LABEL, LabelSpec, compute_labels
    from serving.learned import task_learned_until

    task = tasks.get(task_name)
    spec = LabelSpec.from_dict(entry.labels[task_name])
    predictions = entry.predictions()
    if task.score not in predictions:
        raise OutcomesError(
            f"ledger file {entry.path} has no column {task.score} for task {task_name}"
        )
    scored = predictions[predictions[task.score].notna()]  # the task's population then
    labels = compute_labels(events, [entry.as_of], spec, users=users, con=con)
    labels = labels[labels[AS_OF] == entry.as_of]
    joined = scored.merge(labels[[c.USER_ID, LABEL]], on=c.USER_ID, how="inner")
    metrics = realized_metrics(task, joined, joined[LABEL].to_numpy())
    row = {
        **_identity(entry, task_name),
        "status": "matured",
        # the days the outcomes were read from: (window_start, matured_on], midnights UTC
        "window_start": f"{entry.as_of:%Y-%m-%d}",
        "matured_on": f"{entry.matures_on(task_name):%Y-%m-%d}",
        "scored": len(scored),
        **{k: _json_safe(v) for k, v in metrics.items()},
        "grade": grade(metrics["lift_top_decile"], metrics["perfect_lift_top_decile"]),
    }
    # A model that learned from these outcomes' events (scores of an earlier date, score-all
    # --as-of) is measured in sample: no grade of how it forecasts.
    learned = task_learned_until(entry.metadata, task_name)
    if learned and entry.as_of < pd.Timestamp(learned, tz="UTC"):
        row["grade"] = IN_SAMPLE
        row["in_sample"] = f"{_model(row)} learned from the events up to {learned}"
    return row


def _identity(entry: LedgerEntry, task_name: str) -> dict[str, Any]:
    from serving.scoring import CHURN_COMPLEMENT, answered_in_part

    label = entry.labels[task_name]
    kind = str(entry.metadata.get("model_kinds", {}).get(task_name, ""))
    row = {
        "as_of": f"{entry.as_of:%Y-%m-%d}",
        "task": task_name,
        "model_version": str(entry.model_versions.get(task_name, "")),
        "model_kind": kind,
        "horizon_days": int(label["horizon_days"]),
    }
    if kind == CHURN_COMPLEMENT:  # conversion as 1 - churn: churn's version made the answers
        row["answered_by"] = f"1 - churn v{entry.model_versions.get('churn', '?')}"
    elif both := answered_in_part(entry.model_versions, {task_name: kind}).get(task_name):
        row["answered_by"] = both  # and its own where churn scores no one (a churn lookback)
    return row


def _model(row: dict[str, Any]) -> str:
    """What made an outcome row's predictions, as the lines and the report name it."""
    return row.get("answered_by") or f"v{row['model_version']}"


def compute_outcomes(
    settings: Settings,
    dataset: str | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> Outcomes:
    """Label every matured ledger entry of ``dataset``, compute its metrics and grade, list
    the pending ones, and store the result (``Workspace.outcomes``)."""
    from features.asof import connect
    from serving.ledger import entries

    say = progress or (lambda _message: None)
    dataset = dataset or settings.dataset
    workspace = settings.workspace
    found = entries(workspace, dataset)
    if not found:
        from lifecycle.dataset_kind import require_dataset, require_events
        from serving.no_scores import scores_remedy

        # a snapshot or campaign table, or no such dataset: "run score-all" would be refused too
        require_events(settings, dataset, "outcomes")
        require_dataset(settings, dataset, "outcomes")
        raise OutcomesError(  # what makes scores, and so the ledger, of this dataset
            f"no prediction ledger for dataset {dataset} at {workspace.ledger(dataset)}: "
            + scores_remedy(settings, dataset)
        )
    events = workspace.events(dataset)
    if not events.is_file():
        raise OutcomesError(
            f"no events for dataset {dataset} at {events}: ingest it again to measure outcomes"
        )
    con = connect()
    last_event = con.execute(
        f"SELECT max({c.EVENT_TIME}) FROM read_parquet(?)", [str(events)]
    ).fetchone()[0]
    if last_event is None:
        raise OutcomesError(f"the events table {events} is empty: nothing to measure against")
    data_ends = pd.Timestamp(last_event)
    data_ends = data_ends.tz_localize("UTC") if data_ends.tzinfo is None else data_ends
    users = workspace.users_if_any(dataset)
    now = lineage.dataset_lineage(workspace.dataset_dir(dataset))
    result = Outcomes(
        dataset=dataset,
        data_ends=f"{data_ends:%Y-%m-%d}",
        computed_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    judged: dict[tuple[str, ...], str | None] = {}  # entries of one data share a verdict
    for entry in found:
        built = entry.metadata.get("lineage") or {}
        data = tuple(str(built.get(key) or "") for key in lineage.DATA_KEYS)
        if data not in judged:
            judged[data] = lineage.replaced(settings, built, now)
        replaced = judged[data]
        for task_name in entry.labels:
            if task_name not in tasks.names():
                continue  # a task no longer declared: nothing knows how to label it
            if replaced:  # other customers under the same ids: their outcomes would grade it
                reason = f"{replaced}: its users' outcomes are not in these events"
                result.not_gradable.append(
                    {**_identity(entry, task_name), "status": "not_gradable", "reason": reason}
                )
                continue
            if entry.matures_on(task_name) > data_ends:
                result.pending.append(
                    {
                        **_identity(entry, task_name),
                        "status": "pending",
                        "matures_on": f"{entry.matures_on(task_name):%Y-%m-%d}",
                    }
                )
                continue
            say(f"labelling {task_name} as of {entry.as_of:%Y-%m-%d}")
            result.matured.append(_entry_outcome(entry, task_name, events, users, con))
    _beside_their_tests(settings, dataset, result.matured)
    store_outcomes(workspace.outcomes(dataset), result)
    return result


def _beside_their_tests(settings: Settings, dataset: str, matured: list[dict[str, Any]]) -> None:
    """Each forecast row gets its version's test metrics (``tested``) and window (``tested_on``),
    as `lifecycle models` lists them: what the test promised beside what happened. Not for
    conversion answered by churn (churn's test measured churn) nor an in-sample row."""
    forecasts = [r for r in matured if not r.get("answered_by") and not r.get("in_sample")]
    if not forecasts:
        return
    from training.promotion import tested_window
    from training.tracking import list_models

    versions = {(v["task"], str(v["version"])): v for v in list_models(settings, dataset)}
    for row in forecasts:
        version = versions.get((row["task"], row["model_version"]))
        if version is None or not version["metrics"] or not version["test_cutoff"]:
            continue  # a label-free model, or a version the registry no longer holds
        row["tested"] = dict(version["metrics"])
        row["tested_on"] = tested_window(version["test_cutoff"], version["test_cutoffs"])


def _against_test(row: dict[str, Any], names: tuple[str, ...]) -> str | None:
    """`against its test 2011-05-12..2011-06-02 (tested -> realized): auc 0.727 -> 0.739
    (+0.012), ...`."""
    tested = row.get("tested") or {}
    pairs = [
        f"{name} {tested[name]:.3f} -> {row[name]:.3f} ({row[name] - tested[name]:+.3f})"
        for name in names
        if name in tested and isinstance(row.get(name), float) and math.isfinite(row[name])
    ]
    return (
        f"against its {row['tested_on']} (tested -> realized): {', '.join(pairs)}"
        if pairs
        else None
    )


def store_outcomes(path: Path, outcomes: Outcomes) -> None:
    from lifecycle.storage import atomic_file

    with atomic_file(path) as staging:
        staging.write_text(json.dumps(outcomes.to_dict(), indent=1), encoding="utf-8")
        staging.chmod(0o644)  # the HTTP service may run as another user


def stored_outcomes(settings: Settings, dataset: str | None = None) -> Outcomes | None:
    """The outcomes ``lifecycle outcomes`` last stored for the dataset, if any."""
    path = settings.workspace.outcomes(dataset or settings.dataset)
    if not path.is_file():
        return None
    try:
        return Outcomes.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError) as error:
        raise OutcomesError(
            f"stored outcomes {path} cannot be read ({error}): run `lifecycle outcomes` again"
        ) from None


def latest_outcomes(
    settings: Settings, dataset: str | None = None
) -> dict[str, dict[str, dict[str, Any]]]:
    """Task -> model version -> its newest matured outcome (metrics, grade, as_of), from the
    stored outcomes; empty when none are stored. For the HTTP ``/models`` and gauges. A
    task answered by churn is keyed by what answered (``1 - churn v2``), not by its own
    version: /models gave conversion v1 the realized quality of 1 - churn v2 while
    1 - churn v8 answered."""
    stored = stored_outcomes(settings, dataset)
    latest: dict[str, dict[str, dict[str, Any]]] = {}
    for row in stored.matured if stored else []:
        if row.get("in_sample"):
            continue  # what it learned, not how it forecasts
        by_version = latest.setdefault(row["task"], {})
        made_by = row.get("answered_by") or row["model_version"]
        current = by_version.get(made_by)
        if current is None or row["as_of"] > current["as_of"]:
            by_version[made_by] = row
    return latest


# -- the report's section -----------------------------------------------------------------


def outcomes_section(settings: Settings, dataset: str | None = None) -> tuple[str, str] | None:
    """The report's "Realized quality" section (title, HTML) from the stored outcomes."""
    stored = stored_outcomes(settings, dataset)
    if stored is None:
        return None
    rows = []
    for row in stored.matured:
        kind = "probability" if "auc" in row else "value"
        metrics = ", ".join(
            f"{name.replace('_', ' ')} {_number(row.get(name))}"
            for name in HEADLINE[kind]
            if name in row
        )
        version, users = _model(row), f"{int(row['n']):,}"
        rows.append((row["as_of"], row["task"], version, users, metrics, row["grade"]))
    rows += [
        (
            r["as_of"],
            r["task"],
            _model(r),
            "",
            f"matures {r['matures_on']}",
            "pending",
        )
        for r in stored.pending
    ]
    rows += [
        (r["as_of"], r["task"], _model(r), "", r["reason"], "not gradable")
        for r in stored.not_gradable
    ]
    head = "".join(
        f"<th>{h}</th>" for h in ("as of", "task", "model", "users", "realized", "grade")
    )
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r) + "</tr>" for r in rows
    )
    note = (
        f'<p class="note">Predictions from the ledger, labelled once their horizon passed '
        f"(data ends {html.escape(stored.data_ends)}; computed {html.escape(stored.computed_at)}). "
        f"{html.escape(GRADE_HELP)}</p>"
    )
    return "Realized quality (predictions vs what happened)", (
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"
    )
