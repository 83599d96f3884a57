"""A dataset's scores tables in the order `score-all` wrote them.

A workspace's ``latest.parquet`` holds one dataset's scores at a time, but every table on
disk is stamped with its dataset and named with the moment it was written. ``movers``
compares a dataset's latest table with that dataset's table written before it (or the one
of an as-of date it names), whatever other datasets were scored in between; pruning counts
each dataset's runs apart, so that comparison survives other datasets' runs.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pandas as pd

from features.dates import cutoff_date
from lifecycle.workspace import LATEST_SCORES, PREVIOUS_SCORES
from serving.answers import scores_metadata
from serving.batch import ScoresTable, ScoringError, read_scores

# scores-<as_of>-<UTC moment written>.parquet: the moment orders one dataset's runs
_TABLE_NAME = re.compile(r"scores-(\d{4}-\d{2}-\d{2})-(\d{8}T\d{12}Z)\.parquet")


def table_name(as_of: pd.Timestamp, written: datetime) -> str:
    """The file name of a scores table of ``as_of`` written at ``written`` (UTC)."""
    return f"scores-{as_of:%Y-%m-%d}-{written:%Y%m%dT%H%M%S%fZ}.parquet"


Tables = list[tuple[str, str, str | None, Path]]  # (written, as_of, dataset, path)


def read_history(scores_dir: Path) -> tuple[Tables, list[str]]:
    """(written, as_of, dataset, path) of every scores table on disk, oldest run first, and
    why each other ``scores-*.parquet`` there is no table `score-all` wrote (never pruned):
    each file's metadata read once, for a caller wanting both."""
    found, others = [], []
    for path in sorted(scores_dir.glob("scores-*.parquet")):
        named = _TABLE_NAME.fullmatch(path.name)
        metadata = None if path.is_symlink() or not named else scores_metadata(path)
        if named and metadata:  # written by score-all: its metadata holds at least the as-of
            as_of = str(metadata.get("as_of") or named[1])[:10]
            found.append((named[2], as_of, metadata.get("dataset"), path))
        elif path.exists() or path.is_symlink():  # not one replaced since the listing
            if path.is_symlink():
                why = "a link, not a table"
            elif not named:
                why = "not named scores-<as-of>-<written>.parquet as `score-all` names its tables"
            elif metadata is None:
                why = "not a readable Parquet file"
            else:
                why = "a Parquet file without the metadata `score-all` writes"
            others.append(
                f"{path}: {why}; not read as a scores table nor pruned: move it out of "
                f"{scores_dir} (or delete it) if it is not needed"
            )
    return sorted(found, key=lambda table: (table[0], table[3].name)), others


def tables_on_disk(scores_dir: Path) -> Tables:
    """(written, as_of, dataset, path) of every scores table on disk, oldest run first (each
    table's metadata read once: a caller asking twice passes them on)."""
    return read_history(scores_dir)[0]


def dataset_tables(
    scores_dir: Path, dataset: str | None, tables: Tables | None = None
) -> list[tuple[str, str, Path]]:
    """(written, as_of, path) of ``dataset``'s scores tables (of ``tables``, else those on
    disk), oldest run first; a table from before tables were stamped with their dataset
    counts as any dataset's (None: every table)."""
    return [
        (written, as_of, path)
        for written, as_of, scored, path in (
            tables if tables is not None else tables_on_disk(scores_dir)
        )
        if dataset is None or scored is None or scored == dataset
    ]


def _earlier(
    scores_dir: Path, latest: Path, dataset: str | None, tables: Tables | None = None
) -> list[tuple[str, Path]]:
    """(as_of, path) of ``dataset``'s tables written before ``latest``, oldest run first."""
    named = _TABLE_NAME.fullmatch(latest.name)
    return [
        (as_of, path)
        for written, as_of, path in dataset_tables(scores_dir, dataset, tables)
        if named and written < named[2]
    ]


def table_before(
    scores_dir: Path,
    latest: Path,
    dataset: str | None,
    as_of: pd.Timestamp | None = None,
    tables: Tables | None = None,
) -> Path | None:
    """``dataset``'s newest table written before ``latest`` (of ``as_of`` when given), never
    ``latest`` itself; None when there is none. ``tables``: :func:`tables_on_disk`, read."""
    day = None if as_of is None else f"{as_of:%Y-%m-%d}"
    earlier = _earlier(scores_dir, latest, dataset, tables)
    earlier = [path for of, path in earlier if day in (None, of)]
    return earlier[-1] if earlier else None


def earlier_date(latest: ScoresTable, dataset: str) -> str | None:
    """The newest as-of date before ``latest``'s among ``dataset``'s earlier tables (what
    ``--since`` could compare with when the two latest tables are of one day)."""
    assert latest.path is not None
    dates = [
        of for of, _ in _earlier(latest.path.parent, latest.path, dataset) if of < latest.as_of
    ]
    return max(dates, default=None)


def prune(scores_dir: Path, keep: int, tables: Tables) -> None:
    """Delete each dataset's tables (of :func:`tables_on_disk`) older than its ``keep``
    newest runs, but the ones ``latest``/``previous`` point to: one dataset's runs never
    prune another's tables (its next `movers` compares with them). Other
    ``scores-*.parquet`` files are left (:func:`strays`)."""
    pointed = {
        (scores_dir / name).resolve()
        for name in (LATEST_SCORES, PREVIOUS_SCORES)
        if (scores_dir / name).exists()
    }
    runs: dict[str | None, list[Path]] = {}
    for _, _, scored, path in tables:
        if path.resolve() not in pointed:
            runs.setdefault(scored, []).append(path)
    for paths in runs.values():
        for old in paths[: max(len(paths) - keep, 0)]:
            old.unlink(missing_ok=True)


def strays(scores_dir: Path) -> list[str]:
    """One line for each ``scores-*.parquet`` file in ``scores_dir`` that is no table
    `score-all` wrote: naming it, why, and that it is left in place."""
    return read_history(scores_dir)[1]


def previous_scores(latest: ScoresTable, dataset: str, since: str | None = None) -> ScoresTable:
    """The table ``movers`` compares ``latest`` with: ``dataset``'s table written before it,
    or its newest one of the as-of date ``since``; refused in one line naming what to run."""
    assert latest.path is not None
    scores_dir, day = latest.path.parent, cutoff_date(since, "--since") if since else None
    dates = sorted({as_of for as_of, _ in _earlier(scores_dir, latest.path, dataset)})
    if day is not None and f"{day:%Y-%m-%d}" > str(latest.as_of):
        # a later table would make every rise run back in time
        latest_table = (
            f"dataset {dataset}'s latest scores table ({latest.as_of}, {latest.path.name})"
        )
        way_on = (
            f"; `movers` compares it with an earlier one: e.g. `lifecycle movers --dataset "
            f"{dataset} --since {dates[-1]}` (its earlier tables are of {', '.join(dates)})"
            if dates
            else f", its only one; `movers` compares two: run `lifecycle score-all --dataset "
            f"{dataset}` after the next refresh, then `lifecycle movers --dataset {dataset}`"
        )
        raise ScoringError(f"--since {day:%Y-%m-%d} is after the date of {latest_table}{way_on}")
    found = table_before(scores_dir, latest.path, dataset, day)
    if found is not None:
        return read_scores(found)
    if day is not None and dates:
        raise ScoringError(
            f"--since {day:%Y-%m-%d}: dataset {dataset} has no scores table of that date written "
            f"before the latest ({latest.as_of}, {latest.path.name}); its earlier ones are of "
            f"{', '.join(dates)}: e.g. `lifecycle movers --dataset {dataset} --since {dates[-1]}`"
        )
    raise ScoringError(
        f"`movers` compares two scores tables of dataset {dataset}, and the latest ({latest.as_of}, "
        f"{latest.path.name}) is its only one in {scores_dir}: run `lifecycle score-all --dataset "
        f"{dataset}` after the next refresh, then `lifecycle movers --dataset {dataset}` (or now "
        "`score-all --as-of` an earlier cutoff, then `score-all` without it)"
    )
