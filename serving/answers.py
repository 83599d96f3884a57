"""One answer: what every response says it was computed from, and whether the batch scores
``/at_risk`` serves are the served champions' own.

``/score`` scores with the loaded champions on the online store's features; ``/at_risk``
ranks the latest batch scores table. The two agree only when that table was written by the
same model versions, under the same label definitions, from the feature table the online
store holds. :func:`staleness` compares them (from the table's metadata and the online
store's lineage, both written by the steps themselves) and names the command that fixes a
difference; :func:`dataset_currency` and :func:`features_as_of` give the context every
response carries.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from lifecycle import lineage
from serving.errors import ApiError, field_errors
from serving.schemas import AtRiskResponse, AtRiskUser, RankBy, Reason, StaleScores, trusted
from serving.units import dataset_currencies, label_windows

if TYPE_CHECKING:
    from pydantic import ValidationError

    from lifecycle.settings import Settings
    from serving.batch import ScoresTable
    from serving.lists import ListError
    from serving.scorer import Loaded


def score_all_command(dataset: str) -> str:
    """The command that rewrites the dataset's scores table with the current champions. It
    names the dataset: the caller's default is not the one the service was started with."""
    return f"lifecycle score-all --dataset {dataset}"


def dataset_currency(events: Path) -> str | None:
    """The ISO code of the events' ``currency`` column when it holds exactly one
    (``serving.units.dataset_currencies``, as lists and the report read it); None when the
    events record none (amounts as in the data, e.g. purchase counts) or several."""
    try:
        found = dataset_currencies(events)
    except (OSError, ValueError):  # being replaced: no currency rather than a failed load
        return None
    return found[0] if len(found) == 1 else None


class OnlineLineage:
    """The online store's lineage (``lifecycle.lineage``: the feature table it holds and its
    latest as-of), re-read only when ``materialize`` rewrites it: one ``stat`` a request."""

    def __init__(self, settings: Settings, dataset: str) -> None:
        self.dataset = dataset
        self.path = lineage.lineage_path(lineage.online_store_lineage(settings, dataset))
        self._cached: tuple[float, dict[str, Any]] | None = None

    def read(self) -> dict[str, Any]:
        try:
            mtime = self.path.stat().st_mtime
        except OSError:
            return {}
        cached = self._cached
        if cached is None or cached[0] != mtime:
            try:
                cached = (mtime, json.loads(self.path.read_text()))
            except (OSError, ValueError):
                return {}
            self._cached = cached
        return cached[1]

    def as_of(self) -> str | None:
        """The date of the newest features the online store holds (``YYYY-MM-DD``)."""
        latest = self.read().get("latest_as_of")
        return str(latest)[:10] if latest else None


@dataclass(frozen=True)
class Served:
    """What the service scores with now: the champions' versions and label definitions, the
    feature table in the online store, and their dataset."""

    versions: dict[str, str]
    labels: dict[str, dict[str, Any]]
    feature_table: str | None
    as_of: str | None
    dataset: str | None = None
    kinds: dict[str, str] = field(default_factory=dict)  # what serves each task (model_kinds)


def scores_metadata(path: Path) -> dict[str, Any] | None:
    """A scores table's metadata (``score-all``'s as-of date, model versions, definitions)
    without reading its rows; None when there is no readable table."""
    import pyarrow.parquet as pq

    from serving.batch import METADATA_KEY

    try:
        raw = (pq.read_schema(path).metadata or {}).get(METADATA_KEY)
    except (OSError, ValueError):  # none, being replaced, or not Parquet (ArrowInvalid)
        return None
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return None


def _table_versions(metadata: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """A scores table's task -> registry version, and task -> what serves it (model_kinds)."""
    versions = {str(k): str(v) for k, v in (metadata.get("model_versions") or {}).items()}
    return versions, dict(metadata.get("model_kinds") or {})


def table_answerers(metadata: dict[str, Any]) -> dict[str, str]:
    """Task -> what made a scores table's numbers (``serving.scoring.answering_versions``),
    from its metadata: conversion of a log of purchases is ``1 - churn vN``."""
    from serving.scoring import answering_versions

    return answering_versions(*_table_versions(metadata))


def table_versions_text(metadata: dict[str, Any]) -> str:
    """``churn v2, conversion 1 - churn v2, ltv v1``: what made a scores table's numbers, as
    `score-all` said it (``serving.scoring.versions_text``)."""
    from serving.scoring import versions_text

    return versions_text(*_table_versions(metadata))


def made_by(answerer: str | None) -> str:
    """``version 3``, or ``1 - churn v3`` (``answering_versions``) as it is."""
    return answerer if answerer and " " in answerer else f"version {answerer or 'none'}"


def moved_answerers(
    table_versions: dict[str, str], served_versions: dict[str, str], tasks: Iterable[str]
) -> list[tuple[str, str | None, str | None]]:
    """(task, what made the table's numbers, what makes them now) of each of ``tasks`` whose
    answerer moved (:func:`table_answerers` against ``answering_versions``)."""
    pairs = ((t, table_versions.get(t), served_versions.get(t)) for t in tasks)
    return [(task, theirs, ours) for task, theirs, ours in pairs if theirs != ours]


def staleness(metadata: dict[str, Any], served: Served) -> list[str]:
    """Why a scores table (its ``metadata``) is not what the served champions would answer
    now, one sentence each; empty when it is: the same answerers (versions, or 1 - churn vN
    for conversion on a log of purchases, whatever its own model: promoting that model
    changes no number), label definitions, feature table and as-of date. Another dataset's
    table is said as such: its models are not earlier versions of the served ones."""
    from serving.scoring import answered_by, answering_versions

    scored = metadata.get("dataset")
    if served.dataset and scored and scored != served.dataset:
        return [f"the latest scores table holds dataset {scored}, not {served.dataset} (served)"]
    problems: list[str] = []
    table_versions = table_answerers(metadata)
    served_versions = answering_versions(served.versions, served.kinds)
    # answered by churn on both sides: churn's own version and definition are compared
    by_churn = set(answered_by(*_table_versions(metadata))) & set(
        answered_by(served.versions, served.kinds)
    )
    if not table_versions:
        problems.append("the scores table does not record the model versions that wrote it")
    if table_versions:
        every = sorted(set(table_versions) | set(served_versions))
        for task, theirs, ours in moved_answerers(table_versions, served_versions, every):
            problems.append(
                f"{task}: the table was scored by {made_by(theirs)}, "
                f"the service serves {made_by(ours)}"
            )
    table_labels = metadata.get("labels", {})
    for task, label in sorted(served.labels.items()):
        if task in by_churn:
            continue
        changes = lineage.definition_changes(table_labels.get(task, {}), label)
        if task in table_labels and changes:
            problems.append(f"{task}: label definition changed ({', '.join(changes)})")
    table_features = metadata.get("lineage", {}).get("feature_table")
    if served.feature_table and table_features != served.feature_table:
        problems.append(
            f"the table was scored from feature table {table_features or 'unknown'} as of "
            f"{metadata.get('as_of') or 'unknown'}, the online store holds "
            f"{served.feature_table} as of {served.as_of or 'unknown'}"
        )
    elif served.as_of and str(metadata.get("as_of") or "")[:10] != served.as_of:
        # the same feature table at an earlier cutoff (`score-all --as-of`)
        problems.append(
            f"the table was scored as of {metadata.get('as_of') or 'unknown'}, the online "
            f"store's features (what /score answers from) are as of {served.as_of}"
        )
    return problems


class RankedAtRiskResponse(AtRiskResponse):
    """``/at_risk``'s answer with what its ranking puts first and the others the table ranks
    by, as ``lifecycle at-risk --json`` says them (``serving.list_rankings.ranking_fields``):
    the API gave ``rank_by`` alone, where the CLI's list said its default ranks the most
    value at stake, not the likeliest to leave (session 58)."""

    ranks_first: str | None = Field(
        None,
        description="who comes first in this ranking, in words (value_at_risk: the most value "
        "at stake, not the likeliest to leave)",
    )
    other_rankings: list[RankBy] = Field(
        default_factory=list, description="the other rank_by values this scores table ranks by"
    )


class ListAnswers:
    """``/at_risk``: pages of the latest batch scores table, as the CLI lists them, marked
    stale (or refused, ``serving.stale_scores``) when they are not what ``/score`` answers."""

    def __init__(self, settings: Settings, dataset: str) -> None:
        self.settings = settings
        self.dataset = dataset
        self.online = OnlineLineage(settings, dataset)
        self._scores: tuple[float, ScoresTable] | None = None  # (mtime, table)
        self._metadata: tuple[float, dict[str, Any]] | None = None  # (mtime, metadata)

    def table(self) -> tuple[float, ScoresTable]:
        """The latest batch scores table, re-read only when the file changes."""
        from serving.batch import read_scores
        from serving.no_scores import no_scores_yet, scores_remedy

        path = self.settings.workspace.latest_scores
        if not path.is_file():
            raise ApiError(404, no_scores_yet(self.settings, self.dataset, path))
        mtime = path.stat().st_mtime
        cached = self._scores
        if cached is None or cached[0] != mtime:
            cached = (mtime, read_scores(path))
            self._scores = cached
        scored = cached[1].metadata.get("dataset")
        if scored and scored != self.dataset:  # never another dataset's users
            raise ApiError(
                404,
                f"no batch scores of dataset {self.dataset}: the latest scores table holds "
                f"dataset {scored}; {scores_remedy(self.settings, self.dataset)}",
            )
        return cached

    def metadata(self) -> dict[str, Any] | None:
        """The latest table's metadata (no rows read), re-read on a change; None without one."""
        path = self.settings.workspace.latest_scores
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return None
        cached = self._metadata
        if cached is None or cached[0] != mtime:
            metadata = scores_metadata(path)
            if metadata is None:  # none, or being replaced right now
                return None
            cached = self._metadata = (mtime, metadata)
        return cached[1]

    def stale(
        self, state: Loaded | None, metadata: dict[str, Any] | None = None
    ) -> StaleScores | None:
        """Why the batch scores (``metadata``, default the latest table's) are not what the
        loaded champions answer now, with the fix; None when they are, or when it cannot be
        judged (no table, or no models loaded yet)."""
        metadata = self.metadata() if metadata is None else metadata
        if state is None or metadata is None:
            return None
        served = Served(
            versions=dict(state.champions.versions),
            labels={t: b.label for t, b in state.champions.bundles.items()},
            feature_table=self.online.read().get("feature_table"),
            as_of=self.online.as_of(),
            dataset=self.dataset,
            kinds=state.champions.kinds,
        )
        reasons = staleness(metadata, served)
        if not reasons:
            return None
        from serving.scoring import answering_versions

        return StaleScores(
            reasons=reasons,
            table_versions=table_answerers(metadata),
            served_versions=answering_versions(served.versions, served.kinds),
            table_as_of=metadata.get("as_of") or None,
            served_as_of=served.as_of,
            fix=score_all_command(self.dataset),
        )

    def at_risk(
        self,
        state: Loaded | None,
        *,
        segment: str | None = None,
        lifecycle_stage: str | None = None,
        channel: str | None = None,
        min_ltv: float | None = None,
        min_churn: float | None = None,
        rank_by: RankBy = "value_at_risk",
        control_share: float | None = None,
        seed: int | None = None,
        limit: int = 100,
        offset: int = 0,
        where: dict[str, str | list[str]] | None = None,
    ) -> RankedAtRiskResponse:
        """One page of the list ``lifecycle at-risk`` prints, made by the same functions
        (``serving.lists.at_risk_page`` and ``list_rows``) from the latest batch scores."""
        from serving.list_rankings import ranking_fields, reasons_note
        from serving.list_reasons import explain_page
        from serving.list_seeds import list_drawn_from, seed_of
        from serving.lists import (
            CONTROL_SHARE,
            Filters,
            ListError,
            Privacy,
            at_risk_filters,
            at_risk_page,
            below_floor_note,
            list_rows,
            unscored_note,
            usable_rankings,
        )
        from serving.uplift import frame_to_rank, outside_note

        empty = [
            (("where", column), "an empty list: give one value or more")
            for column, wanted in (where or {}).items()
            if wanted == []
        ]
        if empty:
            raise field_errors("at_risk", empty)
        control_share = CONTROL_SHARE if control_share is None else control_share
        mtime, table = self.table()
        stale = self.stale(state, table.metadata)
        if stale is not None and self.settings.serving.stale_scores == "refuse":
            raise ApiError(503, stale_text(stale))
        frame = frame_to_rank(self.settings, table, rank_by, state and state.uplift)
        # user attributes, e.g. {"country": "FR"}; a list: any of its values
        pairs = tuple(
            (column, value)
            for column, wanted in (where or {}).items()
            for value in ([wanted] if isinstance(wanted, str) else wanted)
        )
        asked = Filters(segment, lifecycle_stage, channel, min_ltv, min_churn, pairs)
        # the CLI's list: the low risk band left out unless min_churn says
        filters = at_risk_filters(asked, frame, self.settings.serving.medium_risk, rank_by)
        drawn_from = None  # a seed given is kept; else drawn from the list, as the CLI draws it
        if seed is None:  # not of limit nor offset: every page of one list agrees
            dataset = table.metadata.get("dataset") or self.dataset
            drawn_from = list_drawn_from(
                "at-risk",
                dataset,
                table.as_of,
                filters,
                rank_by=rank_by,
            )
            seed = seed_of(drawn_from)
        try:
            page = at_risk_page(
                frame,
                filters,
                rank_by=rank_by,
                limit=limit,
                offset=offset,
                control_share=control_share,
                seed=seed,
            )
        except ListError as error:
            raise list_error(error) from None
        # the page's users below score-all --reasons-top N: explained here, or said
        ranked, unexplained = explain_page(state, self.online, table, page.ranked)
        # user ids as given and no personal column: the CLI's default privacy; the rows'
        # fields are fixed (AtRiskUser): the attributes shown are in the reasons only
        rows = list_rows(ranked, Privacy(), table.metadata.get("personal_columns", []), (rank_by,))
        reasons = ranked["reasons"] if "reasons" in ranked else [None] * len(rows)
        users = [
            _at_risk_user(row, raw)
            for row, raw in zip(rows.to_dict(orient="records"), reasons, strict=True)
        ]
        labels = table.metadata.get("labels", {})
        return RankedAtRiskResponse(
            **ranking_fields(rank_by, usable_rankings(frame.columns)),
            total=page.total,
            offset=offset,
            limit=limit,
            rank_by=rank_by,
            control_share=control_share,
            seed=seed,
            seed_drawn_from=drawn_from,
            as_of=table.as_of or None,
            scored_at=datetime.fromtimestamp(mtime, UTC).isoformat(timespec="seconds"),
            definitions=labels,
            model_versions=table_answerers(table.metadata),
            horizon_days=label_windows(labels),
            currency=state.currency if state is not None else None,
            amounts=state.amounts if state is not None else "money",
            stale=stale,
            # the page's filters were checked above: the same rows, counted
            notes=[
                note
                for note in (
                    below_floor_note(frame, filters, asked, '"min_churn": 0'),
                    unscored_note(
                        page.matching,  # the rows the filters kept: no filter again
                        Filters(),
                        rank_by,
                        '"rank_by": "return_probability"',
                        labels=table.metadata.get("labels"),
                    ),
                    outside_note(page.matching, Filters()),
                    reasons_note(rank_by, reasons),
                    table.metadata.get("words_retrain"),  # champions trained before the words
                    *unexplained,
                )
                if note
            ],
            users=users,
        )


def stale_text(stale: StaleScores) -> str:
    """A stale scores table in one line, with the command that fixes it."""
    return f"the batch scores are stale: {'; '.join(stale.reasons)}; run `{stale.fix}`"


# serving.lists names a parameter as its Filters field or keyword; the request field of
# /at_risk where the two differ.
AT_RISK_FIELDS = {"stage": "lifecycle_stage"}


def list_error(error: ListError) -> ValidationError | ApiError:
    """A list error as the 400 of the request field it names (``ListError.field``), the field
    said once (by the error's ``loc``), then the value refused and what was expected:
    ``lifecycle_stage: "at-risk" is unknown; this scores table has active, at_risk, ...``."""
    if error.field is None:
        return ApiError(400, str(error))
    field_name = AT_RISK_FIELDS.get(error.field, error.field)
    loc = (field_name,) if error.attribute is None else (field_name, error.attribute)
    message, value = error.problem(), error.in_json()
    if value is not None and message.startswith("unknown"):
        message = f"{value} is {message}"
    elif value is not None and message.startswith("expected"):
        message = f"{message}, got {value}"
    if error.suggested is not None:  # the request field to send, not the CLI's option
        name, suggested, why = error.suggested
        message += f' ({why}: "{AT_RISK_FIELDS.get(name, name)}": "{suggested}")'
    return field_errors("at_risk", [(loc, message)])


def _at_risk_user(row: dict[str, Any], raw_reasons: Any) -> AtRiskUser:
    """A list row (``list_rows``) as the API's model, with the reasons as structured items."""
    values = {name: clean(value) for name, value in row.items()}
    for name in ("user_id", "risk_band", "lifecycle_stage", "segment", "channel"):
        if values.get(name) is not None:
            values[name] = str(values[name])
    return AtRiskUser(**values, reasons=_reasons_of(raw_reasons))


def clean(value: Any) -> Any:
    """numpy scalars to Python, NaN to None (JSON has no NaN)."""
    if hasattr(value, "item") and not isinstance(value, list | dict):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def as_reason(raw: dict[str, Any]) -> Reason:
    """A reason as scoring makes it, as the API's model: built without validation, with
    validation's coercions (a number value a float, as ``float | bool | str | None`` makes
    it); an answer holds hundreds of them."""
    value = clean(raw.get("value"))
    if isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    return trusted(
        Reason,
        {
            "feature": str(raw["feature"]),
            "value": value,
            "contribution": float(raw["contribution"]),
            "text": str(raw.get("text", "")),
        },
    )


def _reasons_of(raw: Any) -> list[Reason] | None:
    """Reasons as batch scoring stores them: JSON text, null when not computed."""
    if raw is None or (isinstance(raw, float) and math.isnan(raw)) or not str(raw).strip():
        return None
    return [as_reason(r) for r in json.loads(raw)]
