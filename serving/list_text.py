"""Lists in words: the terminal table of list rows with each row's reasons, the amounts and
intervals as a list shows them, and a personal column's reason said again where a list
allows that column."""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Collection
from typing import Any

import numpy as np
import pandas as pd

from features import contract as c
from lifecycle import tasks
from lifecycle.list_fields import RETURN_PROBABILITY, RFM_SCORES, non_personal
from serving.not_scored import shared_why
from serving.segments import whole_days
from serving.units import amount_text
from serving.withheld_reasons import said_again, withheld_text


def rfm_text(rows: pd.DataFrame) -> list[str]:
    """Each row's R, F and M scores as one code, ``545`` (a missing score ``-``: ``54-`` on a
    log scored on R and F alone; ``-`` without an order)."""
    scores = [rows.get(column, pd.Series(pd.NA, index=rows.index)) for column in RFM_SCORES]
    codes = [
        "".join("-" if pd.isna(v) else str(int(v)) for v in each)
        for each in zip(*scores, strict=True)
    ]
    return ["-" if set(code) == {"-"} else code for code in codes]


def format_rows(
    rows: pd.DataFrame, width: int | None = None, attributes: Collection[str] | None = None
) -> list[str]:
    """A text table of list rows for a terminal: the tasks' listed scores present, then value
    at risk and context; each row's reasons follow it in full, wrapped to ``width``
    (default: the terminal's). Of the user attributes in ``rows``, ``attributes`` (default:
    all): a table's dozen plan columns would push the scores off the screen, and the reasons
    say the ones that matter (``Contract: Month-to-month``)."""
    if rows.empty:
        return ["(no users match)"]
    width = width or shutil.get_terminal_size((100, 24)).columns
    shown = pd.DataFrame({"#": rows["rank"], "user": rows[c.USER_ID]})
    for task in tasks.all_tasks():
        if task.score not in rows:  # listed, or the score the list is ranked by
            continue
        if task.is_probability:
            shown[task.name] = rows[task.score].map(lambda v: f"{v:.0%}" if pd.notna(v) else "-")
        else:
            shown[f"{task.name} (p10-p90)"] = [
                value_text(rows, i, task.score) for i in range(len(rows))
            ]
    if "value_at_risk" in rows:
        shown["at risk"] = rows["value_at_risk"].map(
            lambda v: amount_text(v) if pd.notna(v) else "-"
        )
    if RETURN_PROBABILITY in rows:  # ranked by it: the chance of coming back, as ranked
        shown["return"] = rows[RETURN_PROBABILITY].map(lambda v: f"{v:.0%}" if pd.notna(v) else "-")
    if "expected_saved_value" in rows:
        shown["saved"] = rows["expected_saved_value"].map(
            lambda v: f"{v:,.1f}" if pd.notna(v) else "-"
        )
    shown["stage"] = rows.get("lifecycle_stage", "")
    shown["segment"] = rows.get("segment", "")
    if RFM_SCORES[0] in rows:  # the scores the segment was named from, R F M: 545
        shown["rfm"] = rfm_text(rows)
    always = non_personal()
    named = [n for n in rows.columns if n not in always]
    for col in (n for n in named if attributes is None or n in attributes):
        shown[col] = rows[col].fillna("-")
    idle = rows.get("days_since_last_activity", pd.Series(np.nan, index=rows.index))
    shown["idle d"] = idle.map(lambda v: f"{whole_days(v):.0f}" if pd.notna(v) else "-")
    shown["ctl"] = rows.get("control", pd.Series(False, index=rows.index)).map(
        lambda v: "C" if v else ""
    )
    at = list(shown.columns).index("stage")
    # a probability's change in points: "+25%" read as a relative rise, and -0.003 as "-0%"
    for change, label, word in (
        ("churn_probability_change", "churn chg", points_text),
        ("value_at_risk_change", "at risk +", "{:+,.1f}".format),
    ):
        if change in rows:
            shown.insert(
                at, label, rows[change].map(lambda v, w=word: w(v) if pd.notna(v) else "-")
            )
            at += 1
    context = {
        "stage": "lifecycle_stage",
        "segment": "segment",
        "idle d": "days_since_last_activity",
    }
    shown = shown.drop(columns=[k for k, v in context.items() if v not in rows])  # a snapshot's
    header, *lines = shown.to_string(index=False).splitlines()
    out = [header]
    whys = rows["not_scored"].tolist() if "not_scored" in rows else [None] * len(rows)
    shared = _shared_whys(whys)
    for i, line in enumerate(lines):
        out.append(line)
        for label, text in _said_below(rows, i, whys[i], shared):  # as /score words them
            out += textwrap.wrap(
                text,
                max(width, 40),
                initial_indent=f"      {label}: ",
                subsequent_indent=" " * 15,
                break_on_hyphens=False,
            )
    for (task, why), count in shared.items():  # once for the list, not under each of its rows
        out += textwrap.wrap(
            f"no score: {task}, for "
            + (
                "every listed user"
                if count == len(rows)
                else f"{count:,} of the {len(rows):,} listed users"
            )
            + f": {why}",
            max(width, 40),
            subsequent_indent="  ",
            break_on_hyphens=False,
        )
    return out + above_p90_note(rows)


def _shared_whys(whys: list[Any]) -> dict[tuple[str, str], int]:
    """(task, why without the user's own count) -> how many listed rows it holds, of those
    holding more than one: a three-month shop's at-risk list said the same repeat customer's
    conversion paragraph under each of its rows."""
    counts: dict[tuple[str, str], int] = {}
    for why in whys:
        for task, text in (why or {}).items() if isinstance(why, dict) else ():
            key = (task, shared_why(text))
            counts[key] = counts.get(key, 0) + 1
    return {key: count for key, count in counts.items() if count > 1}


def _said_below(
    rows: pd.DataFrame, i: int, why: Any, shared: Collection[tuple[str, str]]
) -> list[tuple[str, str]]:
    """What the row at position ``i`` says below its line: its reasons, its two outlooks
    apart (``outlook_apart``) and why a task has no score of it (``not_scored``, ``why``)
    unless the list says that once (``shared``)."""
    said = []
    for label, column in (("reasons", "top_reasons"), ("outlook", "outlook_apart")):
        text = rows[column].iloc[i] if column in rows else None
        if isinstance(text, str) and text:
            said.append((label, text))
    if isinstance(why, dict):
        said += [
            ("no score", f"{task}: {text}")
            for task, text in why.items()
            if (task, shared_why(text)) not in shared
        ]
    return said


def points_text(change: float) -> str:
    """A probability's change in whole points, or to a tenth under one point: a riser of
    0.16 points read "+0 pts", flat, in a movers list that leaves the flat ones out
    (online_retail 14286, session 48)."""
    points = change * 100
    if round(points) == 0 and round(points, 1) != 0:
        return f"{points:+.1f} pts"
    return f"{round(points):+d} pts"


def above_p90_note(rows: pd.DataFrame) -> list[str]:
    """A line for a list where a value is above its own P90 ("140 (0-0)", which reads as a
    fault): the value is the mean, and a small chance of a large spend makes it so."""
    for task in tasks.all_tasks():
        high = f"{task.score}_p90"
        if task.is_probability or task.score not in rows or high not in rows:
            continue
        above = int((rows[task.score] > rows[high]).sum())
        if above:
            return [
                f"({above:,} {task.name} value{'s' * (above != 1)} above the P90: the value is "
                "the mean, which a small chance of a large spend lifts above what 9 in 10 such "
                "users bring)"
            ]
    return []


def value_text(rows: pd.DataFrame, position: int, score: str) -> str:
    """A value with its P10-P90 interval when the list has one (``ltv``, ``ltv_p10``, ...)."""
    value = rows[score].iloc[position]
    if pd.isna(value):
        return "-"
    low = rows[f"{score}_p10"].iloc[position] if f"{score}_p10" in rows else None
    high = rows[f"{score}_p90"].iloc[position] if f"{score}_p90" in rows else None
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return amount_text(value)
    return f"{amount_text(value)} ({amount_text(low)}-{amount_text(high)})"


def unwithheld(text: Any, raw: Any, values: dict[str, Any]) -> Any:
    """A list's reasons with each allowed column's withheld reason (of the stored reasons
    ``raw``) said as ``/score`` says it."""
    if not isinstance(text, str) or not isinstance(raw, str):
        return text
    for reason in json.loads(raw):
        value = values.get(reason["feature"])
        if reason["feature"] in values and pd.notna(value):
            text = text.replace(withheld_text(reason["feature"]), said_again(reason, value))
    return text


def unmatched_note(filters: Any) -> str | None:
    """Why a list whose filters kept nobody is empty (None without filters)."""
    text = filters.text()
    return f"no scored user matches all of: {text}" if text else None


def listed_words(count: int, noun: str, why: str | None) -> str:
    """How many a list's title says it holds: "top 100 users", or, empty, "no users" and
    why (a filter that matched nobody, nobody who rose): "top 0 users" read as a failure."""
    if count:
        return f"top {count} {noun}{'s' * (count != 1)}"
    return f"no {noun}s" + (f" ({why})" if why else "")
