"""Late events: an append's events older than the dataset's newest. A model tested on
outcomes they fall within was tested on other outcomes than the data now holds (November
appended before October: its test read October as silent); the promotion gate judges its
challenger as a first model (``training.promotion``). Each append records them with its
batch (``features.batches.LATE_SPAN``); for one made before it did, they are derived from
the dataset versions kept before and after it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from lifecycle.lineage import (
    BATCHES_TAG,
    TAG_PREFIX,
    batches_of,
    digest,
    kept_version,
    of_data,
    version_batches,
)
from lifecycle.words import APPENDS, LATE_EVENTS, counted

if TYPE_CHECKING:
    from lifecycle.settings import Settings


class LateSince(NamedTuple):
    """What appends since an artefact was built say of the outcomes it was tested on:
    ``changed``, how late events changed them (None: none did, as far as is known);
    ``unknown``, why some appends cannot tell (None: all can)."""

    changed: str | None = None
    unknown: str | None = None


def late_since(
    settings: Settings, built: dict[str, Any], now: dict[str, Any], before: Any
) -> LateSince:
    """How appends since an artefact was ``built`` brought late events dated before
    ``before`` (a UTC time: the end of the outcomes it was tested on): a test recorded then
    was of other outcomes. Nothing where ``now`` is no append of ``built``'s data or where no
    such event came. ``built``'s version pruned since, its place among ``now``'s batches is
    found by their digest (``lineage.BATCHES_TAG``), else said ``unknown``. An append made
    before its batch recorded them (``features.batches.LATE_SPAN``) has them derived from the
    dataset versions before and after it, or is said ``unknown`` where those are not kept."""
    import pandas as pd

    from features.batches import LATE_SPAN

    ours = version_batches(settings, now)
    if ours is None:
        return LateSince()
    theirs = version_batches(settings, built)
    if theirs is not None:
        at = len(theirs) if ours[: len(theirs)] == theirs else None
    else:  # pruned since (five versions are kept): found among ours by its batches' digest
        at = next((i for i in range(len(ours)) if digest(ours[:i]) == built.get(BATCHES_TAG)), None)
        if at is None and _descends(settings, built, now):
            return LateSince(None, _unknown_since(built))
    if at is None or len(ours) <= at:
        return LateSince()
    end = pd.Timestamp(before)
    since = range(at, len(ours))
    unrecorded = [i for i in since if LATE_SPAN not in ours[i] and ours[i].get("mode") == "append"]
    kept = _kept_versions(settings, now) if unrecorded else {}
    spans, unknown = [], 0  # spans: (span, derived)
    for i in since:
        if LATE_SPAN in ours[i]:
            spans.append((ours[i][LATE_SPAN], False))
        elif i in unrecorded:
            span = _derived_span(kept, ours, i)
            unknown += span is None
            spans.append((span or {}, True))
    late = [(s, derived) for s, derived in spans if s and pd.Timestamp(s["first"]) < end]
    unsaid = (
        f"whether {counted(unknown, APPENDS)} since, made before late events were recorded "
        "with their batch, brought any dated within the outcomes it was tested on is unknown: "
        "the dataset versions that would tell are no longer kept"
        if unknown
        else None
    )
    if not late:
        return LateSince(None, unsaid)
    first = min(pd.Timestamp(s["first"]) for s, _ in late)
    derived = (
        " (derived from the dataset versions kept: appended before late events were recorded "
        "with their batch)"
        if any(derived for _, derived in late)
        else ""
    )
    return LateSince(
        f"{counted(sum(int(s['rows']) for s, _ in late), LATE_EVENTS)} appended since "
        f"(from {first:%Y-%m-%d}) fall before {end:%Y-%m-%d}, the end of the outcomes it was "
        f"tested on{derived}",
        unsaid,
    )


def _descends(settings: Settings, built: dict[str, Any], now: dict[str, Any]) -> bool:
    """Whether ``now`` is another version of the data ``built`` names (appends or erasures
    since, not a new ingest), as far as their recorded generations tell."""
    theirs = str(built.get("dataset_version") or "")
    return bool(theirs) and theirs != now.get("dataset_version") and of_data(settings, built, now)


def _unknown_since(built: dict[str, Any]) -> str:
    """Why late events since a pruned version cannot be told: the model predates the record of
    its batches, or they are not among today's (an erasure since rewrote their record)."""
    why = (
        f"its batches ({TAG_PREFIX}{BATCHES_TAG}) are not among today's version's"
        if built.get(BATCHES_TAG)
        else f"the model predates the record of its batches ({TAG_PREFIX}{BATCHES_TAG})"
    )
    return (
        f"whether appends since its dataset version {built.get('dataset_version')} brought "
        "late events dated within the outcomes it was tested on is unknown: that version is no "
        f"longer kept and {why}"
    )


def _derived_span(
    kept: dict[str, Path], ours: list[dict[str, Any]], i: int
) -> dict[str, Any] | None:
    """The late events of ``ours[i]``, an append that recorded none (``LATE_SPAN``), from the
    dataset versions before and after it among those ``kept`` (:func:`_kept_versions`): none
    where the one after counted none, None where they cannot be known."""
    from lifecycle.dataset_kind import read_report
    from lifecycle.workspace import EVENTS_FILE

    after, before = kept.get(digest(ours[: i + 1])), kept.get(digest(ours[:i]))
    if after is not None:  # the append's own report counted them
        notes = (read_report(after) or {}).get("tables", {}).get("events", {}).get("notes", {})
        if notes.get("late_events") == 0:
            return {}
    if after is None or before is None:
        return None
    return _late_span_between(before / EVENTS_FILE, after / EVENTS_FILE)


@functools.cache  # once a process: `train all` judges each task's champion against them
def _late_span_between(before: Path, after: Path) -> dict[str, Any]:
    from features.batches import late_span_between

    return late_span_between(before, after)


def _kept_versions(settings: Settings, lineage: dict[str, Any]) -> dict[str, Path]:
    """The kept versions of the dataset a lineage names, by the digest of their batches."""
    folder = kept_version(settings, lineage)
    if folder is None:
        return {}
    name = folder.name.split("@", 1)[0]
    found = {}
    for version in folder.parent.glob(f"{name}@*"):
        if (held := batches_of(version)) is not None:
            found[digest(held)] = version
    return found
