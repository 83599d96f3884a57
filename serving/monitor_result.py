"""What `lifecycle monitor` found: every monitored column's drift and what was compared with
what (:class:`MonitorResult`), as terminal lines, JSON and the report's HTML section."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from serving.drift import ColumnDrift, Thresholds
from serving.reason_words import counted_name
from serving.units import Counted

VERDICT_ORDER = {"drift": 0, "watch": 1, "usual": 2, "stable": 3}
# At most this many features named for one reason on the not-judged line (a served rule
# leaves 40 unread); ``--json``'s ``not_judged`` names every one
MOST_NAMED = 8


def _first_named(names: list[str]) -> str:
    if len(names) <= MOST_NAMED:
        return ", ".join(names)
    shown = MOST_NAMED - 1  # "and 1 more" names no fewer than naming it would
    return f"{', '.join(names[:shown])} and {len(names) - shown} more (--json names each)"


@dataclass
class MonitorResult:
    """Every monitored column's drift, and what was compared with what."""

    dataset: str
    current_as_of: str
    reference_cutoffs: dict[str, list[str]]  # task -> the training cutoffs of its champion
    scores_as_of: str | None
    columns: list[ColumnDrift]
    thresholds: Thresholds
    model_versions: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # Each feature of a champion that no judged champion's score moves with -> why
    # (lifecycle.champion_inputs.learned_inputs): named, not compared.
    not_judged: dict[str, str] = field(default_factory=dict)
    # Where each current sample was read ("features"/"scores" -> "kept by score-all" or the
    # table): not part of the answer, which is the same either way.
    read_from: dict[str, str] = field(default_factory=dict, compare=False)
    # A log without money (serving.units.purchase_counts): its amount features are named as
    # their reasons word them (counted_name); the saved result keeps the features' names.
    purchase_counts: Counted | None = field(default=None, compare=False)

    def named(self, col: ColumnDrift) -> str:
        """A column as the table names it: a feature of amounts as counts in a log without money."""
        return self.named_feature(col.name) if col.source == "feature" else col.name

    @property
    def drifting(self) -> list[str]:
        return [col.name for col in self.columns if col.verdict == "drift"]

    @property
    def drifting_named(self) -> list[str]:
        """The drifting columns as the table names them (:meth:`named`)."""
        return [self.named(col) for col in self.columns if col.verdict == "drift"]

    @property
    def alerting(self) -> bool:
        return bool(self.drifting)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "current_as_of": self.current_as_of,
            "reference_cutoffs": self.reference_cutoffs,
            "scores_as_of": self.scores_as_of,
            "model_versions": self.model_versions,
            "thresholds": self.thresholds.__dict__,
            "drifting": self.drifting,
            "columns": [col.to_dict() for col in self.columns],
            "notes": self.notes,
            "not_judged": self.not_judged,
        }

    def not_judged_line(self) -> str | None:
        """The features not compared and why, grouped by why (None when every one is)."""
        if not self.not_judged:
            return None
        grouped: dict[str, list[str]] = {}
        for name, why in self.not_judged.items():
            grouped.setdefault(why, []).append(self.named_feature(name))
        said = "; ".join(f"{_first_named(names)} ({why})" for why, names in grouped.items())
        return f"not judged ({len(self.not_judged)}), no champion's score moves with them: {said}"

    def named_feature(self, name: str) -> str:
        return counted_name(name, self.purchase_counts)

    def lines(self) -> list[str]:
        windows = "; ".join(
            f"{task} {_span(cutoffs)}" for task, cutoffs in self.reference_cutoffs.items()
        )
        # as wide as the longest name ("N purchases refunded in the last 180 days": 41)
        wide = max([32, *(len(self.named(col)) for col in self.columns)])
        lines = [
            f"drift of {self.dataset} as of {self.current_as_of} against the training windows "
            f"({windows}); scores as of {self.scores_as_of or '-'}",
            f"{'column':<{wide}} {'source':<8} {'PSI':>7} {'before':>7} {'test':<5} "
            f"{'statistic':>10} {'p-value':>9} verdict",
        ]
        for col in self.columns:
            lines.append(
                f"{self.named(col):<{wide}} {col.source:<8} {col.psi:>7.3f} {_before(col):>7} {col.test:<5} "
                f"{col.statistic:>10.3f} {col.p_value:>9.2g} {col.verdict}"
            )
        lines += [f"note: {note}" for note in self.notes]
        if unjudged := self.not_judged_line():
            lines.append(unjudged)
        if any(col.usual_psi is not None for col in self.columns):
            lines.append(f"before: {USUAL}")
        limits = self.thresholds
        lines.append(
            f"drifting ({len(self.drifting)}): {', '.join(self.drifting_named)}"
            if self.drifting
            else "no drift"
        )
        lines.append(
            f"thresholds: drift at PSI >= {limits.psi_alert}, or p < {limits.p_value} with KS D "
            f"or Cramér's V >= {limits.min_effect}; watch at PSI >= {limits.psi_warn}, or "
            f"p < {limits.p_value} with a smaller effect"
        )
        return lines


USUAL = (
    "the PSI of the same comparison one gap earlier (the reference's cutoffs then, against "
    "its last): how far the column moves over that span as usual, as customers age and "
    "lapsed users accumulate. Drift and watch count only what moved beyond it (PSI and "
    "effect); a column past the thresholds that moved no further is 'usual'"
)


def _before(col: ColumnDrift) -> str:
    return "-" if col.usual_psi is None else f"{col.usual_psi:.3f}"


def _span(cutoffs: list[str]) -> str:
    return (
        cutoffs[0] if len(cutoffs) == 1 else f"{cutoffs[0]}..{cutoffs[-1]} ({len(cutoffs)} cutoffs)"
    )


def drift_section_html(result: MonitorResult | None, problem: str | None = None) -> str:
    """The report's drift section: the drifting columns named, then the table."""
    if result is None:
        return f'<p class="note warn">{html.escape(problem or "drift not measured")}</p>'
    named = ", ".join(result.drifting_named)
    head = (
        f'<p class="warn"><b>Drifting ({len(result.drifting)}):</b> {html.escape(named)}</p>'
        if result.drifting
        else '<p class="note">No input or score drifts past the thresholds.</p>'
    )
    cells = []
    for col in result.columns:
        p_value = "" if np.isnan(col.p_value) else f"{col.p_value:.2g}"
        cells.append(
            "<tr>"
            + "".join(
                f"<td{' class=num' if numeric else ''}>{html.escape(text)}</td>"
                for text, numeric in (
                    (result.named(col), False),
                    (col.source, False),
                    (f"{col.psi:.3f}", True),
                    (_before(col), True),
                    (f"{col.test} {col.statistic:.3f}", True),
                    (p_value, True),
                    (col.verdict, False),
                )
            )
            + "</tr>"
        )
    windows = "; ".join(f"{t} {_span(w)}" for t, w in result.reference_cutoffs.items())
    limits = result.thresholds
    return (
        head
        + "<table><thead><tr><th>column</th><th>source</th><th>PSI</th><th>PSI before</th>"
        + "<th>test statistic</th>"
        + f"<th>p-value</th><th>verdict</th></tr></thead><tbody>{''.join(cells)}</tbody></table>"
        + f'<p class="note">As of {html.escape(result.current_as_of)} against the training '
        + f"windows ({html.escape(windows)}). Drift: PSI ≥ {limits.psi_alert}, or p &lt; "
        + f"{limits.p_value} with KS D / Cramér's V ≥ {limits.min_effect}. Watch: PSI ≥ "
        + f"{limits.psi_warn}, or p &lt; {limits.p_value} with a smaller effect. "
        + (
            f"PSI before: {html.escape(USUAL)}. "
            if any(col.usual_psi is not None for col in result.columns)
            else ""
        )
        + "".join(html.escape(note) + " " for note in result.notes)
        + (
            html.escape(unjudged[:1].upper() + unjudged[1:]) + "."
            if (unjudged := result.not_judged_line())
            else ""
        )
        + "</p>"
    )
