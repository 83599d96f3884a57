"""A churn score's reasons: the features that pushed each user's score up most, in words.

The churn champion's TreeSHAP contributions, ranked, each worded (:mod:`serving.reason_words`)
and merged with another that says the same fact (:mod:`serving.reason_facts`); one code path
for batch scoring and lists (a frame or matrix of users) and the row path (/score).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lifecycle.bundle import ModelBundle
from lifecycle.rules import NET_VALUES
from serving.feature_matrix import FeatureMatrix, layout_of
from serving.reason_direction import RAISES, raises_unsaid
from serving.reason_facts import Picked, fact_of, fact_values, merged, said_as
from serving.reason_pace import pace_of, pace_text
from serving.reason_words import (
    AVERAGES,
    ORDER_VALUES,
    USUAL_GAP,
    Trends,
    reason_text,
)
from serving.segments import KEPT, first_day_only_columns
from serving.unkept_words import says_no_order, unkept_of, unkept_text, window_refund_text
from serving.withheld_reasons import unseen, unseen_text

if TYPE_CHECKING:
    from serving.scoring import Champions, KnownReasons
    from serving.units import Counted

TOP_REASONS = 3


def top_reasons(
    bundle: ModelBundle,
    features: pd.DataFrame,
    eligible: np.ndarray,
    purchase_counts: Counted | None = None,
    trends: Trends | None = None,
) -> list[list[dict[str, Any]]]:
    """The features that pushed each user's churn score up most, in words (a frame's rows)."""
    matrix = FeatureMatrix.from_frame(layout_of({bundle.task: bundle}), features)
    # the frame holds what every champion reads, as the stage's matrix does; the churn
    # model's own layout may lack the sign-up columns the stage reads
    first_day = _first_day_only(lambda name: features[name].astype(float).to_numpy(), len(features))
    return top_reasons_matrix(
        bundle,
        matrix,
        eligible,
        purchase_counts=purchase_counts,
        first_day_only=first_day,
        trends=trends,
    )


def _first_day_only(column: Callable[[str], np.ndarray], rows: int) -> np.ndarray:
    """The users the stage calls never active though seen, on their first day
    (:func:`serving.segments.first_day_only_columns`); none where the columns lack tenure or
    recency, and so the stage too."""
    try:
        return first_day_only_columns(column)
    except KeyError:
        return np.zeros(rows, dtype=bool)


def champion_reasons(
    champions: Champions,
    bundle: ModelBundle,
    features: FeatureMatrix,
    eligible: np.ndarray,
    known_reasons: KnownReasons | None,
) -> list[list[dict[str, Any]]]:
    """:func:`top_reasons_matrix` of a champion, in the words its champions take (purchase
    counts, trend windows); rows ``known_reasons`` gives keep theirs. For the array path and
    the row path alike."""
    known = {} if known_reasons is None else known_reasons(features, eligible)
    return top_reasons_matrix(
        bundle,
        features,
        eligible,
        known,
        purchase_counts=champions.purchase_counts,
        trends=champions.trends,
    )


def top_reasons_matrix(
    bundle: ModelBundle,
    features: FeatureMatrix,
    eligible: np.ndarray,
    known: dict[int, list[dict[str, Any]]] | None = None,
    *,
    purchase_counts: Counted | None = None,
    first_day_only: np.ndarray | None = None,
    trends: Trends | None = None,
) -> list[list[dict[str, Any]]]:
    """The features that pushed each user's churn score up most, in words (amounts as
    purchases when ``purchase_counts``, see :func:`reason_text`); ``known`` rows keep the
    reasons given. ``first_day_only``: per row, whether the stage counts the user never
    active past their first day (default: from ``features``, as the stage reads them).

    Contributions (TreeSHAP, ~200x the cost of a prediction) are computed for eligible rows only.
    """
    known = known or {}
    result: list[list[dict[str, Any]]] = [[] for _ in range(len(features))]
    for row, reasons in known.items():
        result[row] = reasons
    wanted = np.asarray(eligible, dtype=bool)
    if known:
        wanted = wanted.copy()
        wanted[list(known)] = False
    rows = np.flatnonzero(wanted)
    if len(rows) == 0:
        return result
    # every row wanted (a request of one user): the model's matrix as it is, not re-indexed
    every = len(rows) == len(features)
    values = bundle.contributions_matrix(features.model(bundle.task, None if every else rows))
    names = tuple(bundle.feature_names)  # as the words' lookups take them (reason_words)
    order = np.argsort(-values, axis=1)
    first_day = (
        _first_day_only(features.column, len(features))
        if first_day_only is None
        else first_day_only
    )
    for position, (row, ranked) in enumerate(zip(rows, order, strict=True)):
        picked = worded_reasons(
            names,
            values[position],
            ranked,
            features.row_values(int(row)),
            purchase_counts,
            first_day_only=bool(first_day[row]),
            trends=trends,
            categories=bundle.categories,
        )
        result[row] = picked
    return result


def worded_reasons(
    names: Sequence[str],
    contributions: np.ndarray,
    ranked: np.ndarray,
    value_of: Callable[[str], Any],
    purchase_counts: Counted | None = None,
    *,
    first_day_only: bool = False,
    trends: Trends | None = None,
    categories: Mapping[str, Sequence[str]] | None = None,
) -> list[dict[str, Any]]:
    """One user's top reasons: the features in ``ranked`` order (largest contribution first)
    that pushed the score up, each in words; a text an earlier reason already says (two
    missing purchase features both read "no purchase yet"), an empty window with an emptier
    one, or any reason with one that says the same fact, is one reason carrying both
    contributions (:func:`serving.reason_facts.merged`). A value after
    refunds equal to the one before (nothing refunded) is said as that one: "average order
    145" once, not again as "average order 145 net of refunds". A category not among the model's
    ``categories`` (the ones it learned) says so: the model read it as unknown."""
    picked: Picked = []
    facts_value_of = fact_values(value_of, names)
    shares = np.asarray(contributions).tolist()  # Python numbers: no NumPy scalar a candidate
    unkept = unkept_of(value_of)  # what no order so far was: refunded in full, refunds only
    for j in np.asarray(ranked).tolist():
        if shares[j] <= 0:
            break
        # With the reasons all picked, a later one still joins the one whose fact it says:
        # "no activity for 280 days" said after three others is what "spent nothing in the
        # last 90 days" among them says, and the stronger one is said with both contributions.
        full = len(picked) == TOP_REASONS
        value = value_of(names[j])
        # how overdue is said against the usual gap itself where that gap is under a day
        gap = value_of(USUAL_GAP) if names[j] == "overdue_ratio" and USUAL_GAP in names else None
        # and with the orders it was made of: "3 orders within 2 days", not only its mean;
        # an order's value with the orders (one: that order) and all they spent (a share)
        said = said_as(names[j], value, value_of, names)  # net_order_value as the gross one
        of_orders = said in ("overdue_ratio", USUAL_GAP, *ORDER_VALUES, *AVERAGES)
        orders = value_of("orders_total") if of_orders and "orders_total" in names else None
        # before refunds: all spent, or the average order beside the one after them
        gross = "avg_order_value" if said == "net_order_value" else "revenue_total"
        of_spent = said in ("max_order_value", KEPT, "net_order_value") and gross in names
        spent = value_of(gross) if of_spent else None
        # all spent, or the average order, beside what was kept after refunds (the lists'
        # revenue): "spent 642 in all, 635 net of refunds", "average order 229, 228 net of ..."
        net = NET_VALUES.get(said)
        kept = value_of(net) if net is not None and net in names else None
        # a high count that raised the risk says the pace it fell from: its words and its fact
        pace = pace_of(names[j], value, value_of, names, purchase_counts)
        unkept_said = unkept_text(said, value, unkept)
        text = unkept_said or pace_text(names[j], pace)
        plain = text is None
        if text is None:
            text = reason_text(
                said,
                value,
                purchase_counts,
                usual_gap_days=gap,
                first_day_only=first_day_only,
                orders=orders,
                spent=spent,
                kept=kept,
                trends=trends,
            )
        worded = window_refund_text(names[j], value, text, unkept)  # and refunded in full
        # plain words that read as good news (a spend, many orders, no refunds): say the risk
        bought = value_of("orders_total") if "orders_total" in names else None
        raises = raises_unsaid(said, value, kept, purchase_counts, bought, spent)
        if plain and worded == text and raises:
            worded = f"{text} {RAISES}"
        text = worded
        if unseen(names[j], value, categories):
            text = unseen_text(text)
        reason = {
            "feature": names[j],
            "value": value,
            "contribution": float(shares[j]),
            "text": text,
        }
        # no order kept, whichever feature said it: no order ever, as orders_total 0 says
        fact_name, fact_value = (
            ("orders_total", 0.0) if says_no_order(unkept_said, unkept) else (names[j], value)
        )
        fact = fact_of(
            fact_name,
            fact_value,
            facts_value_of,
            names,
            purchase_counts,
            first_day_only,
            trends=trends,
            pace=pace,
        )
        if not merged(picked, reason, fact) and not full:
            picked.append((reason, fact))
    return [reason for reason, _ in picked]
