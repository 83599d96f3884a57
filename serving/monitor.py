"""Drift monitoring: the champions' inputs and scores now, against what they were trained on.

Inputs: for every feature a champion's scores move with
(:func:`lifecycle.champion_inputs.learned_inputs`: not one its trees were kept from learning,
nor one a served rule does not read; those are named as not judged, ``not_judged``), the
feature table's rows at the cutoffs the champion was trained on
(``data_window.trained_on.cutoffs``: the most recent
``monitor.reference_cutoffs`` of them, the union over the champions reading the feature)
against the rows at the feature table's latest cutoff. A table rebuilt from a later end of
the data has other cutoffs than the training ones: its cutoffs from the window's first to
its last date stand for them (noted); none there is a refusal. Not the whole window by
default: on the demo (a product launched 33 months before its latest cutoff) the first
cutoffs hold only new users, so tenure and yearly activity of the pooled 48-cutoff window
differ from any recent month (tenure PSI 0.29) with nothing gone wrong; its last 6 cutoffs
(4 months) do not.

Scores: the latest scores table against the same champion's scores of the rows at its
training window's freshest cutoff (scored with :func:`serving.scoring.score_frame`, the one
scoring code path), task by task, only when the table was made with that champion version.

Each side is a deterministic sample (a hash of user and cutoff) of at most
``monitor.max_rows`` rows: at 100,000 rows a side PSI's expected value between two samples
of one distribution is about ``(bins - 1) * 2 / n`` = 0.0002, far below any threshold, a KS
D of 0.1 has a p-value below 1e-100, and watching a million users costs a fraction of
scoring them (experiments/bench_monitor.py, its table in docs/loop.md). The reference samples
depend only on the champion version and its training window (rows at past cutoffs do not
change): they are read (and scored) once and kept in the workspace
(``Workspace.drift_reference_features`` and ``drift_reference_scores``; no user ids; deleting
them is safe, the next run rebuilds them). The current samples are kept by `score-all`, which
holds them in memory (:mod:`serving.monitor_sample`); without them (before any score-all,
after a `forget`) the latest cutoff's monitored columns are read from the feature table and
only the score columns of the latest scores table (:func:`latest_score_columns`).

Each comparison is also made one gap earlier (:func:`earlier_cutoffs`): customers age and
lapsed users accumulate between any two cutoffs, so only what moved beyond that counts
(:func:`serving.drift.beyond_usual`; verdict ``usual`` for the rest). Statistics and
thresholds: :mod:`serving.drift` (settings ``monitor.*``). `lifecycle monitor`
exits ``EXIT_DRIFT`` (3) when any column's verdict is ``drift``, 1 on an error, else 0.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features import contract as c
from features.asof import AS_OF, feature_cutoffs
from lifecycle import tasks
from lifecycle.champion_inputs import learned_inputs
from lifecycle.dataset_kind import require_dataset, require_events
from lifecycle.errors import UserError
from lifecycle.sql import literal
from lifecycle.words import CUTOFFS, counted
from serving import drift_results
from serving.drift import (
    BINNING,
    ColumnDrift,
    Thresholds,
    beyond_usual,
    column_drift,
    column_kind,
)
from serving.monitor_result import VERDICT_ORDER, MonitorResult, drift_section_html

if TYPE_CHECKING:
    from lifecycle.settings import Settings
    from serving.batch import ScoresTable
    from serving.scoring import Champions

EXIT_DRIFT = 3  # `lifecycle monitor`: some input or score drifted past the thresholds
HASH_BUCKETS = 1_000_003  # sampling resolution (a prime: hash % p spreads evenly)
SCORE_CHUNK_ROWS = 200_000  # reference rows scored at once (memory on millions of users)
KEPT = "kept by score-all"  # MonitorResult.read_from: a sample serving.monitor_sample kept


class MonitorError(UserError):
    """Drift cannot be measured; the message says what to run first."""


def thresholds_of(settings: Settings) -> Thresholds:
    m = settings.monitor
    return Thresholds(m.psi_alert, m.psi_warn, m.p_value, m.min_effect, m.bins, m.epsilon)


def compare_frames(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: Sequence[str],
    *,
    source: str,
    thresholds: Thresholds,
    categorical: Sequence[str] = (),
) -> list[ColumnDrift]:
    """The drift of each of ``columns`` between two frames (categories by dtype or name)."""
    return [
        column_drift(
            name,
            reference[name],
            current[name],
            kind="category" if name in categorical else column_kind(reference[name]),
            source=source,
            thresholds=thresholds,
        )
        for name in columns
    ]


def monitor(
    settings: Settings,
    dataset: str | None = None,
    *,
    champions: Champions | None = None,
    scores: ScoresTable | None = None,
) -> MonitorResult:
    """Drift of every champion's inputs and scores between its training window and the latest
    cutoff (see the module's docstring)."""
    from features.store import store_paths
    from serving.monitor_sample import kept_features, kept_scores
    from serving.scoring import CHURN_COMPLEMENT, load_champions, served_versions

    paths = store_paths(settings, dataset)
    require_events(settings, paths.dataset, "monitor")
    table_path = paths.feature_table
    if not table_path.is_file():
        require_dataset(settings, paths.dataset, "monitor")
        raise MonitorError(
            f"no feature table at {table_path}: run `lifecycle features build` first"
        )
    champions = champions or load_champions(settings, paths.dataset)
    if not champions.bundles:
        problems = "; ".join(champions.unavailable.values()) or "no models"
        raise MonitorError(f"no champion model to monitor: {problems}")
    windows = {task: _trained_cutoffs(task, b.data_window) for task, b in champions.bundles.items()}
    # conversion answered as 1 - churn: its scores are churn's, of churn's window; the inputs
    # of its own champion answer nothing and are not watched
    by_churn = champions.kinds.get(tasks.CONVERSION.name) == CHURN_COMPLEMENT
    if by_churn:
        windows[tasks.CONVERSION.name] = windows[tasks.CHURN.name]
    recent = settings.monitor.reference_cutoffs
    references = {
        task: cutoffs[-recent:] if recent else cutoffs for task, cutoffs in windows.items()
    }
    limits = thresholds_of(settings)
    notes = [f"{task}: {why}" for task, why in champions.unavailable.items()]
    table_cutoffs = feature_cutoffs(table_path)
    readable, unmeasured = {}, []  # a champion with no rows left is noted, the others measured
    for task, window in references.items():
        if fitted_on_latest(task, window, table_cutoffs[-1], notes):
            continue
        try:
            readable[task] = rows_in_window(task, table_cutoffs, window, notes)
        except MonitorError as error:
            unmeasured.append(str(error))
            notes.append(f"{task}: not compared: {error}")
    if not readable and unmeasured:
        raise MonitorError("; ".join(unmeasured))
    if not readable:
        raise MonitorError(
            f"every champion was fitted on the latest cutoff itself ({table_cutoffs[-1]:%Y-%m-%d}): "
            "there are no earlier rows to compare their inputs and scores with until the "
            "data moves past it (`lifecycle refresh` with new events)"
        )

    # -- inputs: each feature against the training cutoffs of the champions that read it
    readers: dict[str, list[str]] = {}
    unread: dict[str, list[str]] = {}  # a feature no judged champion's score moves with: why
    for task, bundle in champions.bundles.items():
        if task not in readable or (by_churn and task == tasks.CONVERSION.name):
            continue
        learned, why = learned_inputs(bundle)
        for name in learned:
            readers.setdefault(name, []).append(task)
        for name, reason in why.items():
            unread.setdefault(name, []).append(f"{task}: {reason}")
    not_judged = {n: "; ".join(why) for n, why in unread.items() if n not in readers}
    categorical = {n for b in champions.bundles.values() for n in b.categories}
    limit = settings.monitor.max_rows
    kept = kept_features(settings, paths.dataset, table_path, champions.versions, list(readers))
    if kept is not None:  # the same rows, kept by score-all: not decoded from the table again
        latest, current = kept
    else:
        latest = table_cutoffs[-1]
        current = read_rows(table_path, [latest], list(readers), limit=limit)
    read_from = {"features": KEPT if kept is not None else str(table_path)}
    columns: list[ColumnDrift] = []
    unmirrored: list[str] = []
    for cutoffs, names in _group_by_window(readers, readable).items():
        compare = functools.partial(
            compare_frames,
            columns=names,
            source="feature",
            thresholds=limits,
            categorical=sorted(categorical),
        )
        now = compare(reference_features(settings, paths.dataset, cutoffs, names), current)
        earlier = earlier_cutoffs(table_cutoffs, cutoffs, latest)
        if not earlier:
            columns += now
            unmirrored += names
            continue
        kept_at = comparison_path(
            settings, paths.dataset, [[f"{t:%Y-%m-%d}" for t in (*earlier, cutoffs[-1])], names]
        )
        before = (
            read_comparison(kept_at)
            or keep_comparison(
                kept_at,
                compare(  # read once: the comparison is what is kept, not its samples
                    reference_features(settings, paths.dataset, earlier, names, keep=False),
                    reference_features(settings, paths.dataset, cutoffs[-1:], names, keep=False),
                ),
            )
        )
        columns += [beyond_usual(a, b, limits) for a, b in zip(now, before, strict=True)]
    if unmirrored:
        notes.append(
            f"{counted(len(unmirrored), ('input', 'inputs'))} judged against the reference "
            "alone: the feature table "
            "has no rows one gap before its first cutoff to tell how far they move as usual"
        )

    # -- scores: the latest table against the same champion on its freshest training cutoff
    scores_as_of = None
    try:
        if scores is None and (scores := kept_scores(settings)) is not None:
            read_from["scores"] = KEPT
        scores = scores or latest_score_columns(settings)
        read_from.setdefault("scores", str(scores.path))
    except UserError as error:
        notes.append(f"scores not compared: {error}")
        scores = None
    scored_dataset = None if scores is None else scores.metadata.get("dataset", paths.dataset)
    if scores is not None and scored_dataset != paths.dataset:
        notes.append(f"scores not compared: the latest scores table is of {scored_dataset}")
        scores = None
    if scores is not None:
        scores_as_of = scores.as_of or None
        if scores_as_of and pd.Timestamp(scores_as_of, tz="UTC") != latest:
            notes.append(
                f"the latest scores table is as of {scores_as_of}, the latest cutoff "
                f"{latest:%Y-%m-%d}: run `lifecycle score-all --dataset {paths.dataset}`"
            )
        # each window's last readable cutoff (the window's own last, or the last within it)
        columns += _score_drift(
            settings, paths.dataset, champions, readable, scores, limits, notes, table_cutoffs
        )

    columns.sort(key=lambda col: (VERDICT_ORDER[col.verdict], col.source, -col.psi))
    return MonitorResult(
        dataset=paths.dataset,
        current_as_of=f"{latest:%Y-%m-%d}",
        # the cutoffs compared with: the table's, where its grid moved since training
        reference_cutoffs={
            t: [f"{x:%Y-%m-%d}" for x in readable.get(t, w)] for t, w in references.items()
        },
        scores_as_of=scores_as_of,
        columns=columns,
        thresholds=limits,
        model_versions=served_versions(champions),  # as /score says them: 1 - churn vN
        notes=notes,
        not_judged=not_judged,
        read_from=read_from,
        purchase_counts=champions.purchase_counts,  # read from the dataset's report as loaded
    )


def _score_drift(
    settings: Settings,
    dataset: str,
    champions: Champions,
    readable: dict[str, list[pd.Timestamp]],
    scores: ScoresTable,
    limits: Thresholds,
    notes: list[str],
    table_cutoffs: list[pd.Timestamp],
) -> list[ColumnDrift]:
    made_with = {str(k): str(v) for k, v in scores.metadata.get("model_versions", {}).items()}
    rows = sample_positions(len(scores.frame), settings.monitor.max_rows)
    columns: list[ColumnDrift] = []
    for task in tasks.all_tasks():
        if task.name not in champions.bundles or task.name not in readable:
            continue
        scoring = champions.subset([task.name])  # with a partner whose answer it shares
        stale = [t for t, v in scoring.versions.items() if made_with.get(t) != v]
        if stale:
            notes.append(
                f"{task.name} scores not compared: the scores table was made with "
                + ", ".join(
                    f"{t} v{made_with.get(t, '-')}, the champion is v{scoring.versions[t]}"
                    for t in stale
                )
                + f": run `lifecycle score-all --dataset {dataset}`"
            )
            continue
        # A reference scored with a partner is kept per version of each.
        key = "-".join(
            [
                scoring.versions.get(task.name, ""),
                *(f"{t}-v{scoring.versions[t]}" for t in sorted(scoring.partners)),
            ]
        )
        freshest = readable[task.name][-1]
        reference = reference_scores_at(settings, dataset, task.name, key, scoring, freshest)
        names = [n for n in task.outputs if n in reference and n in scores.frame]
        current = pd.DataFrame(  # only these columns' sampled rows (not every reason's text)
            {n: scores.frame[n] if rows is None else scores.frame[n].iloc[rows] for n in names}
        )
        now = compare_frames(reference, current, names, source="score", thresholds=limits)
        earlier = earlier_cutoffs(table_cutoffs, [freshest], table_cutoffs[-1])
        if not earlier:
            columns += now
            notes.append(
                f"{task.name} scores judged against the reference alone: no rows one "
                "gap before it to tell how far they move as usual"
            )
            continue
        (before_at,) = earlier  # its champion's scores then: kept per version and date
        kept_at = comparison_path(
            settings, dataset, [task.name, key, f"{before_at:%Y-%m-%d}", f"{freshest:%Y-%m-%d}"]
        )
        before = read_comparison(kept_at) or keep_comparison(
            kept_at,
            compare_frames(
                reference_scores_at(
                    settings, dataset, task.name, key, scoring, before_at, keep=False
                ),
                reference,
                names,
                source="score",
                thresholds=limits,
            ),
        )
        columns += [beyond_usual(a, b, limits) for a, b in zip(now, before, strict=True)]
    return columns


def comparison_path(settings: Settings, dataset: str, key: list[Any]) -> Path:
    """Where the comparison made one gap earlier is kept: it reads past cutoffs' rows only,
    so it is computed once per ``key`` (cutoffs or versions), samples, thresholds and bins."""
    import hashlib

    limits = thresholds_of(settings)
    text = json.dumps([key, settings.monitor.max_rows, list(limits.__dict__.values()), BINNING])
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return settings.workspace.drift_reference_features(dataset, f"usual-{digest}")


def read_comparison(path: Path) -> list[ColumnDrift] | None:
    if not path.is_file():
        return None
    return [ColumnDrift(**row) for row in pd.read_parquet(path).to_dict("records")]


def keep_comparison(path: Path, columns: list[ColumnDrift]) -> list[ColumnDrift]:
    _keep(path, pd.DataFrame([asdict(col) for col in columns]))
    return columns


def earlier_cutoffs(
    table_cutoffs: list[pd.Timestamp], reference: Sequence[pd.Timestamp], latest: pd.Timestamp
) -> list[pd.Timestamp]:
    """The reference cutoffs one gap earlier, the gap being from the reference's last cutoff
    to ``latest``: each the table's last cutoff at or before it. Comparing their rows with
    the rows at the reference's last cutoff is the monitor's comparison made one gap earlier,
    within the training history: how far the columns moved over the same span as usual
    (:func:`serving.drift.beyond_usual`). A reference cutoff the table does not reach one gap
    before has none (a champion trained five months before online_retail's tenth month: its
    first of five a week short of the log's start); empty when none has one."""
    gap = latest - reference[-1]
    if gap <= pd.Timedelta(0):
        return []
    earlier = []
    for cutoff in reference:
        if before := [t for t in table_cutoffs if t <= cutoff - gap]:
            earlier.append(before[-1])
    return sorted(set(earlier))


def latest_score_columns(settings: Settings) -> ScoresTable:
    """The latest scores table with only the columns drift compares (the tasks' outputs) and
    its metadata: Parquet column projection, not every user's reasons and segments."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from serving.batch import LATEST_SCORES, METADATA_KEY, ScoresTable, read_scores

    path = settings.workspace.scores_dir / LATEST_SCORES
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError):  # missing or damaged: read_scores' one clear line
        return read_scores(path)
    present = set(schema.names)
    table = pq.read_table(path, columns=[n for n in tasks.output_columns() if n in present])
    raw = (schema.metadata or {}).get(METADATA_KEY)
    metadata = json.loads(raw) if raw else {}
    return ScoresTable(frame=table.to_pandas(), metadata=metadata, path=path.resolve())


def reference_scores_at(
    settings: Settings,
    dataset: str,
    task: str,
    version: str,
    scoring: Champions,
    cutoff: pd.Timestamp,
    *,
    keep: bool = True,
) -> pd.DataFrame:
    """The champion's scores (its task's outputs) of a sample of the rows at ``cutoff`` (its
    freshest training cutoff): read from the workspace, or computed once and kept there
    (``keep``; the rows one gap earlier are scored once, for a comparison that is kept).
    ``scoring``: the task's champion (``Champions.subset``); ``version`` names it."""
    from serving.scoring import score_frame

    path = settings.workspace.drift_reference_scores(dataset, task, version)
    if keep and path.is_file():
        return pd.read_parquet(path)
    table_path = settings.workspace.feature_table(dataset)
    rows = read_rows(table_path, [cutoff], None, limit=settings.monitor.max_rows)
    outputs = tasks.get(task).outputs
    scored = pd.concat(
        [
            score_frame(scoring, rows.iloc[start : start + SCORE_CHUNK_ROWS], reasons=False)
            for start in range(0, len(rows), SCORE_CHUNK_ROWS)
        ]
    )
    reference = scored[[n for n in outputs if n in scored]].reset_index(drop=True)
    if keep:
        _keep(path, reference)
    return reference


def reference_features(
    settings: Settings,
    dataset: str,
    cutoffs: Sequence[pd.Timestamp],
    names: Sequence[str],
    *,
    keep: bool = True,
) -> pd.DataFrame:
    """The sample of these features at these training cutoffs: read from the workspace, or
    read from the feature table once and kept (past cutoffs' rows do not change; ``keep``
    False: read for a comparison that is kept itself)."""
    import hashlib

    limit = settings.monitor.max_rows
    key = json.dumps([[f"{t:%Y-%m-%d}" for t in cutoffs], sorted(names), limit])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    path = settings.workspace.drift_reference_features(dataset, digest)
    if path.is_file():
        return pd.read_parquet(path)
    reference = read_rows(settings.workspace.feature_table(dataset), cutoffs, names, limit=limit)
    if keep:
        _keep(path, reference)
    return reference


def _keep(path: Path, frame: pd.DataFrame) -> None:
    from lifecycle.storage import atomic_file

    path.parent.mkdir(parents=True, exist_ok=True)
    from serving.monitor_sample import PLAIN

    with atomic_file(path) as staging:  # read back every run: plain is fastest to read
        frame.to_parquet(staging, **PLAIN)


def read_rows(
    table_path: Path,
    cutoffs: Sequence[pd.Timestamp],
    columns: Sequence[str] | None,
    *,
    limit: int | None = None,
) -> pd.DataFrame:
    """The feature table's rows at these cutoffs (every column when ``columns`` is None);
    beyond ``limit`` rows, a sample of about ``limit`` picked by a hash of user and cutoff
    (the same rows every run, read without loading the others)."""
    import duckdb

    selected = "*" if columns is None else ", ".join(f'"{name}"' for name in columns)
    where = f"{AS_OF} IN (SELECT unnest($1::TIMESTAMPTZ[]))"
    source = f"read_parquet({literal(table_path)})"
    stamps = [[t.to_pydatetime() for t in cutoffs]]
    with duckdb.connect() as connection:
        if limit is not None:
            (count,) = connection.execute(
                f"SELECT count(*) FROM {source} WHERE {where}", stamps
            ).fetchone()
            if count > limit:
                share = int(HASH_BUCKETS * limit / count)
                where += f" AND hash({c.USER_ID}, {AS_OF}) % {HASH_BUCKETS} < {share}"
        return connection.execute(f"SELECT {selected} FROM {source} WHERE {where}", stamps).df()


def _trained_cutoffs(task: str, window: dict[str, Any]) -> list[pd.Timestamp]:
    cutoffs = window.get("trained_on", {}).get("cutoffs", [])
    if not cutoffs:
        raise MonitorError(
            f"the {task} champion names no training cutoffs (data_window.trained_on.cutoffs): "
            f"retrain it with `lifecycle train {task}`"
        )
    return sorted(pd.Timestamp(t, tz="UTC") for t in cutoffs)


def cutoffs_in_window(
    table_cutoffs: list[pd.Timestamp], window: list[pd.Timestamp]
) -> list[pd.Timestamp]:
    """The training window's own cutoffs while the feature table has each of them (before
    its latest cutoff, the one compared with them); else, its grid moved with the data's
    end, the table's cutoff nearest each of them within the window's first to last date:
    as many as the window's, not every weekly cutoff between (25 for 6 monthly ones on
    CDNOW, with the weeks customers were acquired in: PSI twice what it was)."""
    latest = table_cutoffs[-1]
    present = set(table_cutoffs)
    if all(t in present and t < latest for t in window):
        return list(window)
    inside = [t for t in table_cutoffs if window[0] <= t <= window[-1] and t < latest]
    if not inside:
        return []
    return sorted({min(inside, key=lambda c, t=t: (abs(c - t), c)) for t in window})


def fitted_on_latest(
    task: str, window: list[pd.Timestamp], latest: pd.Timestamp, notes: list[str]
) -> bool:
    """A champion fitted on the latest cutoff itself (a label-free fit of a log too young for
    the time split) has no earlier rows to be compared with: noted, not compared, until the
    data moves past that cutoff; the other champions are still measured."""
    if window[0] < latest:
        return False
    notes.append(
        f"{task}: not compared: its champion was fitted on the latest cutoff itself "
        f"({window[0]:%Y-%m-%d}), so there are no earlier rows to compare it with yet"
    )
    return True


def rows_in_window(
    task: str, table_cutoffs: list[pd.Timestamp], window: list[pd.Timestamp], notes: list[str]
) -> list[pd.Timestamp]:
    """The reference cutoffs of a champion's window (:func:`cutoffs_in_window`): its own
    cutoffs while the feature table's grid is the one it was trained on; after the data's end
    moved, the rebuilt grid's cutoffs within the same dates (noted). None there: a refusal
    (never the latest rows again); the caller notes it and measures the other champions."""
    span = f"{window[0]:%Y-%m-%d}..{window[-1]:%Y-%m-%d}"
    inside = cutoffs_in_window(table_cutoffs, window)
    if not inside:
        raise MonitorError(
            f"the feature table has no rows in the {task} champion's training window {span} "
            f"(its cutoffs: {table_cutoffs[0]:%Y-%m-%d}..{table_cutoffs[-1]:%Y-%m-%d}), so "
            f"its inputs cannot be compared with it: retrain with `lifecycle train {task}` "
            "(or `lifecycle refresh`) on the current feature table"
        )
    if inside != window:
        notes.append(
            f"{task}: the feature table's cutoffs moved since training (rebuilt from a new "
            f"end of the data): the reference is its {counted(len(inside), CUTOFFS)} nearest the "
            f"training window's {len(window)} within {span}"
        )
    return inside


def _group_by_window(
    readers: dict[str, list[str]], windows: dict[str, list[pd.Timestamp]]
) -> dict[tuple[pd.Timestamp, ...], list[str]]:
    """Features grouped by their reference cutoffs (the union of their readers' windows)."""
    groups: dict[tuple[pd.Timestamp, ...], list[str]] = {}
    for name, tasks_reading in readers.items():
        cutoffs = tuple(sorted({t for task in tasks_reading for t in windows[task]}))
        groups.setdefault(cutoffs, []).append(name)
    return groups


def sample_positions(count: int, limit: int) -> np.ndarray | None:
    """The positions ``DataFrame.sample(limit, random_state=0)`` picks of ``count`` rows
    (None: every row), drawn once for every task's columns."""
    if count <= limit:
        return None
    return np.random.RandomState(0).choice(count, size=limit, replace=False)


def drift_section(settings: Settings, scores: ScoresTable | None = None) -> str:
    """The report section for the current workspace, saved as `lifecycle monitor` saves it
    (``refresh`` ends with the report); a note when drift cannot be measured."""
    dataset = str(scores.metadata.get("dataset", "")) or None if scores is not None else None
    try:
        result = monitor(settings, dataset, scores=scores)
    except UserError as error:
        return drift_section_html(None, str(error))
    drift_results.save_result(settings, result)  # as `lifecycle monitor`: /monitor is current
    return drift_section_html(result)
