"""Ranked lists operators pull: today's at-risk users and the morning's movers.

Lists read a scores table (``scores_dir/latest.parquet`` by default, written by
``lifecycle score-all``); the HTTP service's at-risk endpoint can call :func:`at_risk`
on the same table. Every row carries the user id as given, or a keyed pseudonym, and no
other personal column unless the caller allows it by name (a plan, a contract, a
country are no person's: shown, :func:`features.identifiers.withheld_attributes`).

The control group: a user is in it when ``sha256("<seed>:<user_id>")`` read as a number in
[0, 1) is below the control share. So the same user stays in the same group across runs
and lists, a new seed draws a new group, and the flag is a function of the user alone,
never of the filters or the top-N cut (the group is a random sample of the population,
not of the list).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features import contract as c
from features.labels import of_everyone
from lifecycle import tasks
from lifecycle.list_fields import (
    RETURN_PROBABILITY,
    list_fields,
    non_personal,
    rank_by_choices,
    user_attributes,
)
from lifecycle.pseudonyms import pseudonym
from serving.list_errors import ListError, option_of
from serving.list_rankings import ranking_words  # noqa: F401  (imported from here too)
from serving.list_text import unwithheld
from serving.not_scored import UNSCORED_WHY, not_scored_values
from serving.reason_words import reasons_text
from serving.segments import MEDIUM_RISK, STAGES

if TYPE_CHECKING:
    from lifecycle.settings import Settings

CONTROL_SHARE = 0.1
CONTROL_SEED = 0  # of at_risk() called without one; lists drawn: serving.list_seeds


def drawn_seed(identity: str) -> int:
    """A control-group seed drawn from ``identity`` (a campaign's name, a written list's file
    name, dataset and date): a stable hash, so each holds out other users."""
    return int.from_bytes(hashlib.sha256(identity.encode()).digest()[:4], "big")


# -- control group and privacy ------------------------------------------------------------


def control_flags(user_ids: Sequence[str] | pd.Series, seed: int, share: float) -> np.ndarray:
    """True for users in the control group: a stable hash of (seed, user id) below ``share``."""
    if not 0 <= share < 1:
        raise ListError(f"--control-share must be in [0, 1), got {share}", "control_share")
    prefix = f"{seed}:".encode()
    draws = np.fromiter(
        (
            int.from_bytes(hashlib.sha256(prefix + str(u).encode()).digest()[:8], "big")
            for u in user_ids
        ),
        dtype=np.uint64,
        count=len(user_ids),
    )
    return (draws / 2.0**64) < share


def pseudonyms(user_ids: Sequence[str] | pd.Series, key: bytes) -> list[str]:
    """Keyed pseudonyms: HMAC-SHA256(key, user id), first 16 hex characters."""
    if not key:
        raise ListError("a pseudonym key must not be empty")
    return [pseudonym(key, u) for u in user_ids]


@dataclass(frozen=True)
class Privacy:
    """What a list may carry: pseudonymised ids when a key is given; personal columns allowed by name."""

    pseudonym_key: bytes | None = field(default=None, repr=False)  # a secret: never shown
    allowed_columns: tuple[str, ...] = ()

    @classmethod
    def from_settings(
        cls, settings: Settings, pseudonymize: bool = False, allowed_columns: Sequence[str] = ()
    ) -> Privacy:
        """``pseudonymize`` takes the key from ``privacy.pseudonym_key`` or its key file (an
        error when neither is set)."""
        key = None
        if pseudonymize:
            found = settings.privacy.key()
            if found is None:
                raise ListError(
                    "--pseudonymize needs a secret key: set LIFECYCLE_PRIVACY__PSEUDONYM_KEY "
                    "or privacy.pseudonym_key_file",
                    "pseudonymize",
                )
            key = found[0]
        return cls(pseudonym_key=key, allowed_columns=tuple(allowed_columns))


def listed_attributes(metadata: Mapping[str, Any]) -> dict[str, list[str]]:
    """A scores table's user attributes as :func:`list_rows` takes them: the ``personal`` ones
    it withholds and the ones ``shown`` (a table written before names every one personal)."""
    return {
        "personal": list(metadata.get("personal_columns", [])),
        "shown": list(metadata.get("shown_columns", [])),
    }


def apply_privacy(
    rows: pd.DataFrame,
    privacy: Privacy,
    personal: Sequence[str] = (),
    shown: Sequence[str] = (),
    reasons: Sequence[Any] | None = None,
) -> pd.DataFrame:
    """Keep the list's own fields, the ``shown`` user attributes and the allowed personal
    ones (their reasons said again from the rows' stored ``reasons``); pseudonymise ids if
    configured."""
    unknown = [col for col in privacy.allowed_columns if col not in (*personal, *shown)]
    if unknown:
        # shown in written lists and reasons; the terminal's table has those named (trial T)
        listed = (
            f"; shown in written lists and reasons without it, on the terminal when named: "
            f"{', '.join(shown)}"
            if shown
            else ""
        )
        raise ListError(
            f"--allow-column {', '.join(unknown)}: not a column this scores table withholds "
            f"(it withholds: {', '.join(personal) or 'none'}{listed}); a person's attribute "
            "that is no feature (an email, a name) is in no scores table",
            "allowed_columns",
        )
    always = non_personal()
    keep = [
        col
        for col in rows.columns
        if col in always or col in privacy.allowed_columns or col in shown
    ]
    out = rows[keep].copy()
    allowed = [col for col in privacy.allowed_columns if col in out]
    if allowed and "top_reasons" in out:  # an allowed column's reason says its value again
        out["top_reasons"] = [
            unwithheld(text, raw, {col: out[col].iloc[i] for col in allowed})
            for i, (text, raw) in enumerate(
                zip(out["top_reasons"], reasons or [None] * len(out), strict=True)
            )
        ]
    if privacy.pseudonym_key is not None:
        out[c.USER_ID] = pseudonyms(out[c.USER_ID], privacy.pseudonym_key)
    return out


# -- the at-risk list ---------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    segment: str | None = None
    stage: str | None = None
    channel: str | None = None
    min_ltv: float | None = None
    min_churn: float | None = None
    where: tuple[tuple[str, str], ...] = ()  # (column, value): a user attribute, e.g. country

    def text(self) -> str:
        """The filters in words ("" without any): a written list says whom it holds."""
        named = (("segment", self.segment), ("stage", self.stage), ("channel", self.channel))
        bounds = (("ltv", self.min_ltv), ("churn probability", self.min_churn))
        return ", ".join(
            [f"{name} {value}" for name, value in named if value is not None]
            + [f"{name} >= {value:g}" for name, value in bounds if value is not None]
            + [f"{column} {' or '.join(values)}" for column, values in self.where_values().items()]
        )

    def where_values(self) -> dict[str, list[str]]:
        """``where`` by column: a column named twice (country=Spain, country=France) keeps
        the users of either value, as no user has both (each column's values, in order)."""
        values: dict[str, list[str]] = {}
        for column, value in self.where:
            values.setdefault(column, []).append(value)
        return values


FLOORED_RANKINGS = ("value_at_risk", "churn_probability")  # risk lists: floored by default


def at_risk_filters(
    filters: Filters, scores: pd.DataFrame, medium_risk: float, rank_by: str = "value_at_risk"
) -> Filters:
    """The at-risk list's filters: unless a churn floor is asked (``--min-churn``; 0 lists
    everyone), users below the medium risk band (``serving.medium_risk``) are left out.
    Ranked by value at risk alone, the list was led by customers who had just bought, at a
    churn probability of 4-13%, as a large LTV outweighs a small risk (trial 114); the CLI,
    /at_risk and the report take the same floor. Ranked by expected saved value, the uplift
    model judges whom a campaign moves, and a list ranked by conversion or LTV asks no churn
    risk (users outside churn's population have none): no floor."""
    unfloored = filters.min_churn is not None or rank_by not in FLOORED_RANKINGS
    if unfloored or "churn_probability" not in scores:
        return filters
    return replace(filters, min_churn=medium_risk)


def below_floor_note(
    scores: pd.DataFrame, filters: Filters, asked: Filters, option: str = "--min-churn 0"
) -> str | None:
    """The line that counts the users :func:`at_risk_filters` left out (None when the floor
    was asked, or none was set); ``option``: what lists them (the API's field)."""
    floor = filters.min_churn
    if asked.min_churn is not None or floor is None or "churn_probability" not in scores:
        return None
    # of the users the other filters keep, the scored ones the floor took out
    churn = filter_scores(scores, replace(filters, min_churn=None))["churn_probability"]
    low = int((churn.astype(float) < floor).sum())
    return (
        f"left out: {low:,} scored user{'s' * (low != 1)} below the medium risk band (churn "
        f"probability under {floor:g}, serving.medium_risk); `{option}` lists them too"
    )


def with_ranking(scores: pd.DataFrame, rank_by: str) -> pd.DataFrame:
    """``scores`` with the return probability when ranked by it (1 - churn probability,
    made here, as no scores table holds it); otherwise ``scores`` as they are."""
    if rank_by != RETURN_PROBABILITY or rank_by in scores or "churn_probability" not in scores:
        return scores
    return scores.assign(**{rank_by: 1.0 - scores["churn_probability"].astype(float)})


def unscored_note(
    scores: pd.DataFrame,
    filters: Filters,
    rank_by: str,
    option: str = f"--rank-by {RETURN_PROBABILITY}",
    *,
    labels: Mapping[str, Any] | None = None,
) -> str | None:
    """The line that counts the users the filters keep that a ranking leaves out, as they
    have no such score (None when there are none): ranked by conversion probability, every
    repeat customer, whom conversion does not score (trial W: 290 of 1,122 churned customers,
    the likeliest to come back, left out unsaid). ``option``: what ranks them too (the API's
    field); said when the churn model scored some of them. ``labels``: the scores table's
    label definitions (its metadata's), whose population says why: churn's lookback only
    where its label had one (without, churn scores every known user). The expected saved
    value's are said by ``serving.uplift.outside_note``."""
    if rank_by == "expected_saved_value":
        return None
    matching = with_ranking(filter_scores(scores, filters), rank_by)
    if rank_by not in matching:
        return None  # the ranking itself is refused, naming the missing model
    lacking = matching[rank_by].isna().to_numpy()
    count = int(lacking.sum())
    if not count:
        return None
    scored = _scored_from(rank_by)  # the return probability is churn's
    task = next((t for t in tasks.all_tasks() if (t.score,) == scored), None)
    lookback = ((labels or {}).get(task.name) or {}).get("lookback_days") if task else None
    if (
        task is not None
        and task.population in UNSCORED_WHY
        and not of_everyone(task.name, lookback)
    ):
        why = UNSCORED_WHY[task.population].format(task=task.name)
    else:
        why = f"no {' or '.join(scored)} for them"
    by_churn = "churn_probability" in matching and rank_by not in FLOORED_RANKINGS
    if by_churn and rank_by != RETURN_PROBABILITY:
        ranked = int(matching["churn_probability"][lacking].notna().sum())
        why += f"; `{option}` ranks {ranked:,} of them too" if ranked else ""
    return (
        f"left out: {count:,} user{'s' * (count != 1)} the filters keep without a "
        f"{rank_by.replace('_', ' ')} ({why})"
    )


def _scored_from(rank_by: str) -> tuple[str, ...]:
    """The score columns a ranking is made of (value at risk: churn and LTV)."""
    if rank_by == "value_at_risk":
        return ("churn_probability", "ltv")
    return ("churn_probability",) if rank_by == RETURN_PROBABILITY else (rank_by,)


def _where_matches(column_values: pd.Series, column: str, wanted: str) -> np.ndarray:
    """Which users' attribute ``column`` is ``wanted``; a value nobody has is an error naming
    the known ones."""
    values = column_values.astype("string")
    if pd.api.types.is_numeric_dtype(column_values):  # age=30 is 30.0 as text
        number = pd.to_numeric(pd.Series([wanted]), errors="coerce").iloc[0]
        values = values.where(column_values != number, wanted)
    matched = (values == wanted).fillna(False).to_numpy()
    if not matched.any():
        known = sorted(values.dropna().unique())
        shown = ", ".join(known[:20]) + (f" and {len(known) - 20} more" if len(known) > 20 else "")
        alike = [k for k in known if k.casefold() == wanted.casefold()]  # Spain for spain
        hint = f" (matched as written: did you mean {alike[0]}?)" if alike else ""
        raise ListError(
            f"--where {column}={wanted}: unknown{hint}; this scores table has {shown}",
            "where",
            given=wanted,
            attribute=column,
        )
    return matched


def _name_key(name: str) -> str:
    """A segment's, stage's or channel's name without case, and '-' or ' ' read as '_'."""
    return name.casefold().replace("-", "_").replace(" ", "_")


def filter_scores(scores: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    """Rows matching every filter; an unknown segment, stage or channel is an error naming the known ones."""
    keep = pd.Series(True, index=scores.index)
    for name, column, wanted in (
        ("segment", "segment", filters.segment),
        ("stage", "lifecycle_stage", filters.stage),
        ("channel", c.CHANNEL, filters.channel),
    ):
        if wanted is None:
            continue
        option = option_of(name)
        values = scores[column].astype("string") if column in scores else pd.Series(dtype="string")
        known = sorted(values.dropna().unique())
        if not known:
            raise ListError(
                f"{option} {wanted}: this scores table has no {column} values", name, given=wanted
            )
        if wanted not in known:
            stage = name == "segment" and wanted in STAGES  # rfm_v2's at_risk, not the stage
            alike = [k for k in known if _name_key(k) == _name_key(wanted)]  # at-risk: at_risk
            suggested = (name, alike[0], "matched as written") if len(alike) == 1 else None
            raise ListError(
                f"{option} {wanted}: unknown; this scores table has {', '.join(known)}",
                name,
                ("stage", wanted, f"{wanted} is a lifecycle stage") if stage else suggested,
                given=wanted,
            )
        keep &= (values == wanted).fillna(False).to_numpy()
    attributes = user_attributes(scores.columns) if filters.where else []
    for column, wanted_values in filters.where_values().items():  # listed unless personal
        if column not in attributes:
            raise ListError(
                f"--where {column}={wanted_values[0]}: the scores table has no user attribute "
                f"{column!r} (it has: {', '.join(attributes) or 'none'}; scores have their own "
                "options)",
                "where",
                given=wanted_values[0],
                attribute=column,
            )
        either = np.zeros(len(scores), dtype=bool)  # Spain or France: no user is in both
        for wanted in wanted_values:
            either |= _where_matches(scores[column], column, wanted)
        keep &= either
    for name, column, bound, most in (
        ("min_ltv", "ltv", filters.min_ltv, np.inf),
        ("min_churn", "churn_probability", filters.min_churn, 1.0),
    ):
        if bound is None:
            continue
        if not np.isfinite(bound):  # nan matched nobody: 'no users match', or no control group
            raise ListError(
                f"{option_of(name)} {bound:g}: expected a number, e.g. 0.5", name, given=bound
            )
        if not 0 <= bound <= most:  # scores are never below 0: a bound of -5 filtered nothing
            expected = "0 or more" if most == np.inf else f"0 to {most:g}"
            raise ListError(f"{option_of(name)} {bound:g}: expected {expected}", name, given=bound)
        if column not in scores:
            raise ListError(f"{option_of(name)}: this scores table has no {column} column", name)
        keep &= scores[column].astype(float).fillna(-np.inf) >= bound
    return scores if keep.all() else scores[keep]  # no copy of millions of rows for nothing


def reason_rows(
    scores: pd.DataFrame,
    top: int | None,
    rankings: Sequence[str] | None = None,
    medium_risk: float = MEDIUM_RISK,
) -> np.ndarray:
    """Row positions that get reasons: users with an explained score (churn) in the top
    ``top`` of any of ``rankings`` (default: value at risk, each task's score and the return
    probability), both of the whole ranking (``--min-churn 0``) and of the at-risk list it
    serves by default, which leaves out users below ``medium_risk`` (:func:`at_risk_filters`),
    and, with the default rankings, of each lifecycle stage's list (``--stage``): the
    win-back list (``--stage churned --rank-by return_probability``) of 7 months of
    online_retail had reasons for 12 of its top 50 with 50 asked, when only value at risk and
    the tasks' scores of every stage at once were explained."""
    explained = [t.score for t in tasks.all_tasks() if t.reasons and t.score in scores]
    if not explained:
        return np.array([], dtype=int)
    eligible = scores[explained[0]].notna().to_numpy()
    if top is None:
        return np.flatnonzero(eligible)
    picked = np.zeros(len(scores), dtype=bool)
    if not scores.index.equals(pd.RangeIndex(len(scores))):
        scores = scores.reset_index(drop=True)  # filter_scores' rows keep their index
    stages = [np.ones(len(scores), dtype=bool)]  # every stage, then each one (--stage)
    if rankings is None:  # a caller naming its rankings names the lists it pulls, no other
        rankings = ("value_at_risk", *(t.score for t in tasks.all_tasks()), RETURN_PROBABILITY)
        if "lifecycle_stage" in scores:
            stage = scores["lifecycle_stage"].astype("string").fillna("").to_numpy()
            stages += [stage == name for name in np.unique(stage)]
    for column in rankings:
        ranked = with_ranking(scores, column)  # the return probability made as lists make it
        if column not in ranked:
            continue
        served = [eligible]
        floored = at_risk_filters(Filters(), scores, medium_risk, column)
        if floored.min_churn is not None:  # the list a user gets unless asking --min-churn
            listed = np.zeros(len(scores), dtype=bool)
            listed[filter_scores(scores, floored).index.to_numpy()] = True
            served.append(eligible & listed)
        ranking = ranked[column].astype(float).fillna(-np.inf).to_numpy()
        for rows in (kept & of_stage for kept in served for of_stage in stages):
            values = np.where(rows, ranking, -np.inf)
            count = min(top, int(rows.sum()))
            if count:
                picked[np.argpartition(-values, count - 1)[:count]] = True
    return np.flatnonzero(picked & eligible)


def _ranked_positions(
    scores: pd.DataFrame, rank_by: str, top: int | None
) -> tuple[np.ndarray, int]:
    """Row positions highest first (users without the score left out; ties to the smaller
    user id), and how many rows have the score at all. With ``top``, only rows that can be
    in the first ``top`` are sorted (a partition first)."""
    if rank_by not in rank_by_choices():
        raise ListError(
            f"--rank-by {rank_by}: expected one of {', '.join(rank_by_choices())}",
            "rank_by",
            given=rank_by,
        )
    if rank_by not in scores:
        missing = missing_score(scores, rank_by)
        raise ListError(f"--rank-by {rank_by}: {missing}", "rank_by", given=rank_by)
    values = scores[rank_by].to_numpy(dtype=float)
    candidates = np.flatnonzero(~np.isnan(values))
    ranked = len(candidates)
    if top is not None and 0 < top < len(candidates):
        # Keep every row tied with the top-th value so the user-id tie-break stays exact.
        threshold = -np.partition(-values[candidates], top - 1)[top - 1]
        candidates = candidates[values[candidates] >= threshold]
    ids = scores[c.USER_ID].to_numpy()[candidates].astype(str)
    order = candidates[np.lexsort((ids, -values[candidates]))]
    return (order if top is None else order[:top]), ranked


def missing_score(scores: pd.DataFrame, rank_by: str) -> str:
    """Why the table cannot be ranked by ``rank_by``: the champion that did not score it,
    and the rankings it can give."""
    needs = {t.score: t.name for t in tasks.all_tasks()}
    wanted = _scored_from(rank_by)
    models = [needs[col] for col in wanted if col in needs and col not in scores]
    why = f"no {' or '.join(models)} model scored it" if models else "no model scored it"
    usable = usable_rankings(scores.columns)
    return f"the scores table has no {rank_by} ({why}); rank by " + (
        ", ".join(usable) if usable else "nothing: run `lifecycle score-all`"
    )


def usable_rankings(columns: Iterable[str]) -> list[str]:
    """The rankings a table of these columns gives (return probability: made from churn's)."""
    empty = pd.DataFrame(columns=list(columns))
    return [choice for choice in rank_by_choices() if choice in with_ranking(empty, choice)]


def default_rank_by(scores: pd.DataFrame) -> tuple[str, str | None]:
    """Value at risk; when the table lacks it (no LTV champion, ``score-all --allow-partial``)
    the churn probability, with the line that says so."""
    if "value_at_risk" in scores or "churn_probability" not in scores:
        return "value_at_risk", None
    why = missing_score(scores, "value_at_risk").split(";")[0]
    return "churn_probability", f"ranked by churn probability: {why}"


@dataclass(frozen=True)
class AtRiskPage:
    """One page of the at-risk list and the size of the whole list."""

    ranked: pd.DataFrame  # the page's scores rows, with rank, control and top_reasons
    total: int  # users matching the filters that have the ranking score
    # every user the filters keep, with the ranking score: what the list's notes count
    # (as ``unscored_note(matching, Filters(), ...)``: filtering 1M users again took 0.55 s)
    matching: pd.DataFrame


def at_risk(
    scores: pd.DataFrame,
    filters: Filters | None = None,
    *,
    rank_by: str = "value_at_risk",
    limit: int | None = 100,
    offset: int = 0,
    control_share: float = CONTROL_SHARE,
    seed: int = CONTROL_SEED,
) -> pd.DataFrame:
    """Ranked, filtered scores with ``rank``, ``control`` and ``top_reasons`` columns (all columns kept).

    The control flag depends on (seed, user id) only, so flagging the page's rows gives each
    user the flag it has in the whole scored population: it is not biased by filters or top-N.
    Pass the result to :func:`list_rows` for what an operator sees.
    """
    return at_risk_page(
        scores,
        filters,
        rank_by=rank_by,
        limit=limit,
        offset=offset,
        control_share=control_share,
        seed=seed,
    ).ranked


def at_risk_page(
    scores: pd.DataFrame,
    filters: Filters | None = None,
    *,
    rank_by: str = "value_at_risk",
    limit: int | None = 100,
    offset: int = 0,
    control_share: float = CONTROL_SHARE,
    seed: int = CONTROL_SEED,
    rows_text: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> AtRiskPage:
    """:func:`at_risk` with the length of the whole list, for a caller that pages (the API).
    ``rows_text``: the page's rows with the text columns the scores were read without
    (``serving.scores_text.listed_text``)."""
    control_flags([], seed, control_share)  # validate the share before any work
    end = None if limit is None else offset + limit
    matching = with_ranking(filter_scores(scores, filters or Filters()), rank_by)
    positions, total = _ranked_positions(matching, rank_by, end)
    page = matching.iloc[positions[offset:end]].copy()
    page = rows_text(page) if rows_text is not None else page
    page.insert(0, "rank", np.arange(offset + 1, offset + 1 + len(page)))
    page["control"] = control_flags(page[c.USER_ID], seed, control_share)
    page["top_reasons"] = [reasons_text(raw) for raw in page.get("reasons", [None] * len(page))]
    return AtRiskPage(page, total, matching)


def list_rows(
    ranked: pd.DataFrame,
    privacy: Privacy | None = None,
    personal: Sequence[str] = (),
    extra: Sequence[str] = (),
    shown: Sequence[str] = (),
) -> pd.DataFrame:
    """The operator's row fields, in order, then the ``shown`` user attributes (a plan, a
    contract) and the allowed ``personal`` ones, with the privacy rules applied."""
    privacy = privacy or Privacy()
    fields = [f for f in dict.fromkeys((*list_fields(), *extra)) if f in ranked.columns]
    attributes = dict.fromkeys((*shown, *privacy.allowed_columns))
    attributes = [col for col in attributes if col in ranked.columns and col not in fields]
    rows = ranked[[*fields, *attributes]].reset_index(drop=True)
    if "not_scored" in rows:  # the table's JSON text as /score's task -> why
        rows["not_scored"] = not_scored_values(rows["not_scored"])
    reasons = list(ranked["reasons"]) if "reasons" in ranked else None
    return apply_privacy(rows, privacy, personal, shown, reasons)
