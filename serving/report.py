"""The operators' report: one self-contained HTML file (plots as base64 PNG, no network).

Built from the latest scores table (score distributions, LTV deciles, segments, channel
funnel, the top of the at-risk list) and from the champion models' test evaluation in
MLflow (gain/lift, calibration and decile plots logged by training, and test metrics),
for the exact model versions the scores table was made with.
"""

from __future__ import annotations

import base64
import html
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.guest_orders import (
    dataset_guest_orders,
    dataset_without_user_words,
    guest_rows_uncounted,
    uncounted_words,
)
from lifecycle.errors import UserError
from lifecycle.workspace import EVENTS_FILE
from serving.answers import table_versions_text
from serving.batch import ScoresTable
from serving.funnel import STEPS, active_against_stages, channel_funnel, funnel_headers
from serving.list_rankings import ranking_clause
from serving.list_seeds import at_risk_seed
from serving.list_text import rfm_text, value_text
from serving.lists import (
    Filters,
    Privacy,
    at_risk,
    at_risk_filters,
    list_rows,
    listed_attributes,
    ranking_words,
    usable_rankings,
)
from serving.report_figures import (
    deciles_figure,
    deciles_note,
    distributions_figure,
    funnel_figure,
    ltv_deciles,
    png,
    segments_figure,
)
from serving.report_models import EVALUATION_PLOTS, ModelEvaluation, champion_evaluations
from serving.revenue import before_refunds_words, revenue_totals, revenue_words
from serving.rfm_quintiles import quintiles_words, rfm_quintiles
from serving.segment_text import (
    segment_summary,
    share_label,
    super_users_by_channel,
    super_users_words,
)
from serving.segments import (
    HIGH_RISK,
    MEDIUM_RISK,
    SuperUserDefinition,
    listed_super_users,
    rf_only_words,
    whole_days,
)
from serving.units import Units, amount_text, units_for

GONE_STAGES = ("silent", "churned", "never_active")  # a high churn risk of users long gone

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from lifecycle.settings import Settings

TOP_ROWS = 20
HEADLINE_METRICS = (
    "auc",
    "pr_auc",
    "ece",
    "brier",
    "lift_at_10",
    "capture_at_10",
    "normalized_gini",
    "spearman",
    "p10_p90_coverage",
)


def _shares_named(summary: pd.DataFrame, revenue: str) -> pd.DataFrame:
    """A segment summary with its share columns named for a reader (``revenue_share`` before
    refunds, ``refunds_share``; ``purchases_share`` in a count-only log)."""
    named = {
        k: f"{share_label(k, revenue)}_share".replace(" ", "_")
        for k in summary.columns
        if k.endswith("_share") and k != "user_share"
    }
    return summary.rename(columns=named)


# -- HTML -----------------------------------------------------------------------------------


def churn_population(meta: dict[str, Any]) -> str:
    """Who has a churn score, by the table's churn label (trial T: the note said the default,
    every known user, beside 5,001 of 6,800 scored with a 35-day lookback)."""
    from features.labels import LabelSpec

    found = meta.get("labels", {}).get("churn")
    if not found:  # a table written before scores recorded their labels
        return "every known user, unless the churn label sets a lookback"
    spec = LabelSpec.from_dict(found)
    if spec.everyone:
        return spec.who()
    return f"the users {spec.who()}, labels.churn_lookback_days; the others have none"


def _img(data: bytes, alt: str) -> str:
    encoded = base64.b64encode(data).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def _table(frame: pd.DataFrame, formats: dict[str, str] | None = None) -> str:
    formats = formats or {}
    head = "".join(f"<th>{html.escape(str(col))}</th>" for col in frame.columns)
    body = []
    for record in frame.to_dict("records"):
        cells = []
        for col, value in record.items():
            if value is None or (isinstance(value, float) and np.isnan(value)):
                text = ""
            elif col in formats:
                text = formats[col].format(value)
            elif isinstance(value, float):
                text = f"{value:,.2f}"
            else:
                text = str(value)
            numeric = isinstance(value, int | float | np.number) and not isinstance(value, bool)
            cells.append(f"<td{' class=num' if numeric else ''}>{html.escape(text)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f5f6f8;color:#1f2630}
header{background:#1d3f6e;color:#fff;padding:20px 32px}
header h1{margin:0 0 4px;font-size:24px}header p{margin:0;opacity:.85;font-size:14px}
main{max-width:1280px;margin:0 auto;padding:16px 32px 40px}
section{background:#fff;border-radius:8px;padding:16px 20px;margin:16px 0;box-shadow:0 1px 3px rgba(0,0,0,.08)}
h2{font-size:18px;margin:0 0 10px;color:#1d3f6e}h3{font-size:15px;margin:14px 0 6px}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{flex:1;min-width:160px;background:#fff;border-radius:8px;padding:12px 16px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.card b{display:block;font-size:22px;color:#1d3f6e}.card span{font-size:12px;color:#5b6573}
img{max-width:100%;height:auto;display:block;margin:6px 0}
.models img{max-height:420px;width:auto}
.models{display:grid;grid-template-columns:repeat(auto-fit,minmax(380px,1fr));gap:12px}
table{border-collapse:collapse;font-size:12.5px;width:100%}
th{background:#eef1f5;text-align:left;padding:5px 8px;position:sticky;top:0}
td{border-top:1px solid #e6e9ee;padding:4px 8px;vertical-align:top}td.num{text-align:right;font-variant-numeric:tabular-nums}
.list{overflow-x:auto}.list td:last-child{min-width:340px}.list td{white-space:nowrap}
.list td:last-child{white-space:normal}
.note{font-size:12.5px;color:#5b6573}.warn{color:#a33}
"""


@dataclass
class Report:
    path: Path
    images: int
    sections: list[str]


def render_report(
    table: ScoresTable,
    evaluations: list[ModelEvaluation],
    *,
    top: int = TOP_ROWS,
    privacy: Privacy | None = None,
    extra_sections: Sequence[tuple[str, str]] = (),
    units: Units | None = None,
    high_risk: float = HIGH_RISK,
    dataset_dir: Path | None = None,
    medium_risk: float = MEDIUM_RISK,
    notes: Sequence[str] = (),
    explain: Callable[[pd.DataFrame], tuple[pd.DataFrame, tuple[str, ...]]] | None = None,
) -> tuple[str, int, list[str]]:
    """The report's HTML, how many images it embeds, and its section titles
    (``extra_sections``: (title, HTML) pairs other modules add at the end; ``units``: the
    currency and windows the header and money columns state; ``dataset_dir``: the dataset's
    folder, whose events give the shop's refund rate and whose report its guest orders;
    ``notes``: what the reader must know of the scores, under the header; ``explain``: the
    at-risk rows with the reasons the table lacks, and why any are still missing)."""
    scores = table.frame
    meta = table.metadata
    units = units or Units()
    money = f" ({units.unit_name})" if units.unit_name else ""
    images = 0
    sections: list[tuple[str, str]] = []

    def figure_html(fig: Figure, alt: str) -> str:
        nonlocal images
        images += 1
        return _img(png(fig), alt)

    # Headline numbers.
    eligible = scores["churn_probability"].notna() if "churn_probability" in scores else None
    # The lists' super users (their super_user flag): the top share of customers by what they
    # kept to date, the scores table's revenue (lifecycle.list_fields.CONTEXT_COLUMNS).
    value = SuperUserDefinition(value_column="revenue")
    kept = f"{units.nouns} to date" if units.counted else "revenue to date after refunds"
    flagged_by = meta.get("definitions", {}).get("super_user")  # a table of older flags
    supers = listed_super_users(scores, value, flagged_by) if value.value_column in scores else None
    share = supers.value_share if supers is not None else float("nan")
    customers = f"the {supers.with_any:,} customers" if supers is not None else "customers"
    # most of a high band can be users long gone (88% on the demo): said beside the count
    high = scores["risk_band"] == "high" if "risk_band" in scores else None
    gone = scores.get("lifecycle_stage", pd.Series(index=scores.index)).isin(GONE_STAGES)
    cards = [
        (f"{len(scores):,}", "users scored"),
        (
            f"{int(high.sum()):,}" if high is not None else "-",
            f"high churn risk (p ≥ {high_risk:g})"
            + (
                f", {int((high & gone).sum()):,} of them silent, churned or never active"
                if high is not None
                else ""
            ),
        ),
        (
            f"{scores['value_at_risk'].sum():,.0f}" if "value_at_risk" in scores else "-",
            f"predicted value at risk{money}",
        ),
        (
            f"{share:.0%}" if np.isfinite(share) else "-",
            f"of {kept} from the top {value.top_share:.0%} of {customers} (super users)",
        ),
        (
            f"{scores['ltv'].mean():,.1f}" if "ltv" in scores else "-",
            f"mean predicted LTV per user{money}",
        ),
    ]
    card_html = "".join(
        f'<div class="card"><b>{html.escape(v)}</b><span>{html.escape(k)}</span></div>'
        for v, k in cards
    )

    sections.append(
        (
            "Score distributions",
            figure_html(distributions_figure(scores), "score distributions")
            + (
                f'<p class="note">{int(eligible.sum()):,} of {len(scores):,} users have a churn '
                f"score ({html.escape(churn_population(meta))}).</p>"
                if eligible is not None
                else ""
            ),
        )
    )

    blocks = []
    for ev in evaluations:
        metrics = {k: v for k, v in ev.metrics.items() if k in HEADLINE_METRICS}
        parts = [f"<h3>{html.escape(ev.task)}: {html.escape(ev.model)} v{html.escape(ev.version)}"]
        note = ", ".join(filter(None, (ev.kind, ev.tested())))
        parts[0] += f" <span class=note>{html.escape(note)}</span></h3>"
        if ev.unserved:  # first: its metrics below are of no served answer
            parts.append(f'<p class="note warn">{html.escape(ev.unserved)}</p>')
        if ev.served_where:  # first too: which of its answers are served
            parts.append(f'<p class="note">{html.escape(ev.served_where)}</p>')
        if metrics:
            parts.append(_table(pd.DataFrame([metrics]), {k: "{:.3f}" for k in metrics}))
        for filename, caption in EVALUATION_PLOTS.items():
            if filename in ev.images:
                images += 1
                parts.append(_img(ev.images[filename], f"{ev.task} {caption}"))
        if ev.problem:
            parts.append(f'<p class="note warn">{html.escape(ev.problem)}</p>')
        blocks.append(f"<div>{''.join(parts)}</div>")
    sections.append(
        (
            "Model quality (champions, on their test cutoffs)",
            f'<div class="models">{"".join(blocks)}</div>'
            if blocks
            else '<p class="note warn">no model evaluations</p>',
        )
    )

    if "ltv" in scores and scores["ltv"].notna().any():
        deciles = ltv_deciles(scores)
        sections.append(
            (
                "Predicted LTV by decile",
                figure_html(deciles_figure(deciles), "LTV deciles")
                + _table(
                    deciles,
                    {"ltv_share": "{:.1%}", "cumulative_share": "{:.1%}", "users": "{:,}"},
                )
                + f'<p class="note">{html.escape(deciles_note(deciles))}</p>',
            )
        )

    revenue = units.value_name("revenue")
    rfm_version = meta.get("definitions", {}).get("segment")  # R and F alone: said
    rfm, stages = (
        _shares_named(segment_summary(scores, column, ("revenue", "ltv")), revenue)
        if column in scores
        else None
        for column in ("segment", "lifecycle_stage")
    )
    shares = {
        c: "{:.1%}"
        for table in (rfm, stages)
        if table is not None
        for c in table.columns
        if c.endswith("_share")
    } | {"users": "{:,}"}  # 1,152 as the cards and the super users' table write counts
    guest_orders = dataset_guest_orders(dataset_dir) if dataset_dir else None
    uncounted = guest_rows_uncounted(dataset_dir) if dataset_dir else 0
    totals = revenue_totals(
        scores, dataset_dir and dataset_dir / EVENTS_FILE, table.as_of, guest_orders
    )
    by_channel = super_users_by_channel(scores, supers) if supers is not None else None
    split = {"value_share": f"share of its {revenue}", "share_of_all": f"share of all {revenue}"}
    counts = dict.fromkeys(("users", "customers", "super users"), "{:,}")
    sections.append(
        (
            "Segments: sizes and value shares",
            figure_html(segments_figure(rfm, stages), "segments")
            + '<p class="note">'
            + (f"{html.escape(rf_only)}. " if (rf_only := rf_only_words(rfm_version)) else "")
            + (  # a sales report's head: refunds on their own, shares before them
                html.escape(revenue_words(totals, revenue)).capitalize()
                + (
                    f"{html.escape(said)}, refunds a share of their own. "
                    if (said := before_refunds_words(totals, revenue))
                    else ". "
                )
                if totals is not None
                else ""
            )
            + (  # in no user's numbers, yet the shop's sales: never unsaid
                "Not in these: "
                + html.escape(
                    dataset_without_user_words(
                        guest_orders, totals["kept"] if totals else None, table.as_of
                    )
                )
                + ". "
                if guest_orders
                else ""
            )
            + (
                f"Not in these: {html.escape(uncounted_words(uncounted, dataset_dir.name))}. "
                if uncounted and dataset_dir
                else ""
            )
            + f"Super users (by {kept}, the lists' "
            + (
                f"super_user flag): {super_users_words(supers)}. "
                if supers is not None
                else "super_user flag): none, the scores table has no revenue column. "
            )
            + f"Definitions: {html.escape(', '.join(f'{k} {v}' for k, v in meta.get('definitions', {}).items()))}."
            + (  # what R 4 or M 5 is on this table, as `segments` says it
                f" RFM {html.escape(quintiles_words(quintiles, revenue).strip())}."
                if (quintiles := rfm_quintiles(scores, rfm_version))
                else ""
            )
            + "</p>"
            + '<div class="models"><div>'
            + (_table(rfm, shares) if rfm is not None else "")
            + "</div><div>"
            + (_table(stages, shares) if stages is not None else "")
            + "</div></div>"
            + (  # the same flags by acquisition channel
                "<p>Super users by channel</p>"
                + _table(
                    by_channel.rename(columns={**split, "super_users": "super users"}),
                    {**counts, **dict.fromkeys(split.values(), "{:.1%}")},
                )
                if by_channel is not None
                else ""
            ),
        )
    )

    funnel, funnel_note = channel_funnel(scores), active_against_stages(scores)
    headers = funnel_headers(units, money)
    step_rates = ("active_rate", "conversion_rate", "repeat_rate")
    rates = dict.fromkeys((*step_rates, "ltv_share"), "{:.1%}")
    sections.append(
        (
            "Funnel and value by acquisition channel",
            figure_html(funnel_figure(funnel), "channel funnel")
            + _table(
                funnel[["channel", *STEPS, *step_rates, "mean_ltv", "ltv_share"]].rename(
                    columns=headers
                ),
                {headers.get(c, c): f for c, f in rates.items()} | dict.fromkeys(STEPS, "{:,}"),
            )
            + "".join(f'<p class="note">{html.escape(t)}</p>' for t in [funnel_note] if t),
        )
    )

    if "value_at_risk" in scores:
        floored = at_risk_filters(Filters(), scores, medium_risk)  # as `lifecycle at-risk`
        # its control flags too: the seed `at-risk` draws for this list, not seed 0
        listed = str(meta.get("dataset") or (dataset_dir.name if dataset_dir else ""))
        seed = at_risk_seed(listed, table.as_of, floored)
        page = at_risk(scores, floored, limit=top, seed=seed)
        ranked, unexplained = (explain or (lambda r: (r, ())))(page)
        rows = list_rows(ranked, privacy, **listed_attributes(meta))
        shown = pd.DataFrame(
            {
                "#": rows["rank"],
                "user": rows["user_id"],
                "churn": rows["churn_probability"].map("{:.0%}".format),
                f"predicted LTV (P10-P90){money}": [
                    value_text(rows, i, "ltv") for i in range(len(rows))
                ],
                f"value at risk{money}": rows["value_at_risk"].map(amount_text),
                "risk": rows.get("risk_band"),
                "stage": rows.get("lifecycle_stage"),
                "segment": rows.get("segment"),
                "RFM": rfm_text(rows),  # the scores the segment was named from
                "days idle": whole_days(rows.get("days_since_last_activity", np.nan)),
                "channel": rows.get("channel"),
                "control": rows["control"].map({True: "control", False: ""}),
                "why (top reasons)": rows["top_reasons"],
            }
        )
        usable = usable_rankings(
            scores.columns
        )  # first come...: and what ranks the likeliest to leave
        ranked_so = ranking_clause("value_at_risk", usable, "lifecycle at-risk --rank-by")
        ranked_so = html.escape(ranked_so.replace("`", ""))
        sections.append(
            (
                f"Top {len(rows)} at-risk user{'s' * (len(rows) != 1)} by "
                f"{ranking_words('value_at_risk')}"
                + (f", churn probability ≥ {floored.min_churn:g}" if floored.min_churn else ""),
                '<div class="list">'
                + _table(shown, {"days idle": "{:.0f}", "#": "{}"})
                + "</div>"
                + '<p class="note">control = would be held out if a campaign took this list '
                f"as it stands (a seeded 10% of all scored users, seed {seed}, as "
                "<code>lifecycle at-risk</code> draws it for this list); who a campaign really "
                "held out is in its record. Full list: "
                "<code>lifecycle at-risk --top N --out list.csv</code>.</p>"
                + f'<p class="note">Ranked by value at risk: {ranked_so}.</p>'
                + "".join(f'<p class="note warn">{html.escape(n)}</p>' for n in unexplained),
            )
        )

    sections += extra_sections
    # what made each task's numbers, as score-all said it: "conversion 1 - churn v2", not v1
    versions = table_versions_text(meta)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = "".join(
        f"<section><h2>{html.escape(title)}</h2>{content}</section>" for title, content in sections
    )
    units_html = (
        '<p class="units">'
        + " · ".join(html.escape(part) for part in units.text().split("; "))
        + "</p>"
        if units is not None
        else ""
    )
    notes_html = "".join(f'<p class="note warn">{html.escape(note)}</p>' for note in notes)
    document = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Lifecycle report: {html.escape(str(meta.get("dataset", "")))} as of {html.escape(table.as_of)}</title>
<style>{CSS}</style></head>
<body><header><h1>Lifecycle report: churn, conversion and value</h1>
<p>dataset {html.escape(str(meta.get("dataset", "")))} · as of {html.escape(table.as_of)} ·
models {html.escape(versions)} · scored {html.escape(str(meta.get("scored_at", "")))} · generated {generated}</p>
{units_html}{notes_html}</header>
<main><div class="cards">{card_html}</div>{body}</main></body></html>
"""
    return document, images, [title for title, _ in sections]


REPORT_SUFFIXES = (".html", ".htm")


def check_report_out(out: Path) -> None:
    """Refuse an --out the report cannot be (it is one HTML file: a .pdf of HTML opens in no
    PDF reader), naming the whole path given."""
    if out.suffix.lower() not in REPORT_SUFFIXES:
        raise UserError(
            f"--out {shlex.quote(str(out))}: the report is one HTML file; name it "
            f"{' or '.join(REPORT_SUFFIXES)}, e.g. {shlex.quote(str(out.with_suffix('.html')))}"
        )


def build_report(
    settings: Settings,
    out: Path | None = None,
    *,
    top: int = TOP_ROWS,
    privacy: Privacy | None = None,
    table: ScoresTable | None = None,
    notes: Sequence[str] = (),
) -> Report:
    """Write the report for the latest scores table (``notes`` under its header); returns
    where and what it holds."""
    from lifecycle.storage import atomic_file
    from serving.batch import latest_scores

    table = table or latest_scores(settings)
    dataset = str(table.metadata.get("dataset", settings.dataset))
    evaluations = champion_evaluations(
        settings,
        dataset,
        table.metadata.get("model_versions", {}),
        table.metadata.get("model_kinds", {}),
        table.metadata.get("labels", {}),
    )
    from lifecycle.outcomes import outcomes_section
    from serving.campaign_section import campaigns_section
    from serving.list_reasons import explain_listed
    from serving.monitor import drift_section

    extra = [
        found
        for found in (outcomes_section(settings, dataset), campaigns_section(settings))
        if found is not None
    ]
    extra.append(
        ("Drift: inputs and scores against the training window", drift_section(settings, table))
    )
    document, images, sections = render_report(
        table,
        evaluations,
        top=top,
        privacy=privacy,
        extra_sections=extra,
        units=units_for(settings, table.metadata),
        high_risk=settings.serving.high_risk,
        medium_risk=settings.serving.medium_risk,
        dataset_dir=settings.workspace.dataset_dir(dataset),
        notes=notes,
        explain=lambda ranked: explain_listed(settings, table, ranked),
    )
    out = out or settings.workspace.reports_dir / f"report-{dataset}-{table.as_of}.html"
    with atomic_file(out) as staging:
        staging.write_text(document, encoding="utf-8")
        staging.chmod(0o644)  # a report is meant to be shared
    return Report(path=out, images=images, sections=sections)


def score_and_report(
    settings: Settings,
    *,
    top: int = 10,
    echo: Callable[[str], None] = print,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The end of the main job: score everyone, write the report, print the list's top and the report's path."""
    from serving.batch import score_all
    from serving.list_top import print_top

    scored = score_all(settings, progress=progress)
    if progress:
        progress("writing the report")
    built = build_report(settings)
    rows = print_top(settings, top, echo=echo)
    echo(f"report: {built.path}")
    return {
        "scores": scored.to_dict(),
        "report": str(built.path),
        "top": rows.astype(object).where(rows.notna(), None).to_dict(orient="records"),
    }
