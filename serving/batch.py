"""Batch scoring: every known user, the champion models, one Parquet scores table.

Features come from Feast through the models' feature services at an as-of date that is a
cutoff of the feature table (the same retrieval training uses); scores come from
:func:`serving.scoring.score_frame`, the one scoring code path shared with the HTTP
service. The table is written atomically to ``scores_dir/scores-<as_of>-<stamp>.parquet``;
``latest.parquet`` then points to it and ``previous.parquet`` to its dataset's table before
it (:mod:`serving.scores_history`), so a crash leaves the previous table readable and
``lifecycle movers`` can compare the two.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features import contract as c
from features.asof import AS_OF, event_span, feature_cutoffs
from features.dates import cutoff_date
from features.identifiers import not_features_of, withheld_attributes
from lifecycle import lineage, tasks
from lifecycle.dataset_kind import SCORES_STEP, require_dataset, require_events
from lifecycle.errors import UserError
from lifecycle.list_fields import CONTEXT_COLUMNS, model_version_column
from lifecycle.sql import literal
from lifecycle.words import counted
from lifecycle.workspace import LATEST_SCORES, PREVIOUS_SCORES
from serving.batch_result import BatchResult
from serving.learned import learned_until
from serving.ledger import append as append_to_ledger
from serving.lists import reason_rows
from serving.monitor_sample import keep_samples as keep_monitor_samples
from serving.no_scores import no_scores_yet, scores_remedy
from serving.not_scored import not_scored_json
from serving.outlook_apart import outlook_apart_column
from serving.segments import KEPT, SegmentDefinitions, money_column, rfm_columns, super_users
from serving.stored_reasons import stored_reasons

if TYPE_CHECKING:
    from lifecycle.settings import Settings
    from serving.scoring import Champions


METADATA_KEY = b"lifecycle"  # Parquet key-value metadata: as_of, model versions, definitions
KEEP_TABLES = 5  # scores tables kept per dataset besides the ones latest/previous point to
# Users scored at once: bounds memory on millions of users. Each chunk's matrix and model
# inputs live only while it is scored: at 50,000 rows peak memory for 200,000 users fell from
# 3.8x to 2.0x the feature matrix (bench_batch_scoring.py), for no more CPU.
CHUNK_ROWS = 50_000
# Users from which compiling a new model version first pays: experiments/bench_compiled.py
# compiled 2,627 trees in the time LightGBM predicted them for ~195k rows (each compiled
# predict then costing ~1/8 of LightGBM's).
COMPILE_PAYS_ROWS = 200_000
# score_users' default: per ranking, the top users that get churn reasons (TreeSHAP is costly);
# score_all explains every eligible user, for the scoring service to reuse.
REASONS_TOP = 5_000

NOT_PERSONAL = (c.USER_ID, AS_OF, c.CHANNEL)  # channel is the acquisition channel, kept


class ScoringError(UserError):
    """Batch scoring cannot run; the message says what to run first."""


@dataclass
class ScoresTable:
    """A scores table and what it was made with."""

    frame: pd.DataFrame
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    # text columns not read yet (``read_list_scores``): ``serving.scores_text.listed_text``
    later: tuple[str, ...] = ()

    @property
    def as_of(self) -> str:
        return str(self.metadata.get("as_of", ""))


# -- as-of dates and users ----------------------------------------------------------------


def resolve_as_of(
    feature_table: Path,
    as_of: str | pd.Timestamp | None,
    events: Path | None = None,
    dataset: str | None = None,
) -> pd.Timestamp:
    """The as-of if a cutoff of the feature table (None: its latest); any other is refused,
    advising `features build` only for a date the ``events`` allow, with ``--dataset``
    where one is given (a dataset other than the settings'; without it the command built
    the default dataset's table)."""
    cutoffs = feature_cutoffs(feature_table)
    if not cutoffs:
        raise ScoringError(f"the feature table {feature_table} is empty")
    if as_of is None:
        return cutoffs[-1]
    stamp = cutoff_date(as_of)
    if stamp not in cutoffs:
        named = f" --dataset {dataset}" if dataset else ""
        advice = f"run `lifecycle features build{named} --as-of {stamp:%Y-%m-%d}` first"
        span = event_span(events) if events and events.is_file() else None
        if span and not span.earliest_cutoff <= stamp <= span.latest_cutoff:
            advice = (
                f"the data allows cutoffs from {span.earliest_cutoff:%Y-%m-%d} to "
                f"{span.latest_cutoff:%Y-%m-%d} only, e.g. --as-of {cutoffs[-1]:%Y-%m-%d}"
            )
        raise ScoringError(
            f"{stamp:%Y-%m-%d} is not a cutoff of the feature table {feature_table} (latest: "
            f"{', '.join(f'{t:%Y-%m-%d}' for t in cutoffs[-3:])}): {advice}"
        )
    return stamp


def known_users(feature_table: Path, as_of: pd.Timestamp) -> pd.DataFrame:
    """Entity rows (user_id, as_of) of every user the feature table knows at ``as_of``."""
    import duckdb

    ids = duckdb.execute(
        f"SELECT {c.USER_ID} FROM read_parquet({literal(feature_table)}) WHERE {AS_OF} = $1 ORDER BY 1",
        [as_of.to_pydatetime()],
    ).fetchnumpy()[c.USER_ID]
    return entity_rows(ids, as_of)


def entity_rows(ids: Sequence[Any], as_of: pd.Timestamp) -> pd.DataFrame:
    """The users ``ids`` as of one date, as Feast's historical retrieval takes them."""
    return pd.DataFrame(
        {
            c.USER_ID: pd.Series(ids, dtype=object),
            AS_OF: pd.Series([as_of] * len(ids), dtype="datetime64[us, UTC]"),
        }
    )


def retrieve_features(
    store: Any, entity_rows: pd.DataFrame, services: Sequence[str]
) -> pd.DataFrame:
    """Point-in-time features of the entity rows through each feature service, as one frame.

    A service whose features were all returned by an earlier one is not asked again.
    """
    from features.store import historical_features, service_features

    frame = entity_rows.copy()
    for name in sorted(services):
        if set(service_features(store, name)) <= set(frame.columns):
            continue
        retrieved = historical_features(store, entity_rows, name)
        new = [col for col in retrieved.feature_names if col not in frame.columns]
        frame = pd.concat([frame, retrieved.frame[new].set_axis(frame.index)], axis=1)
    return frame


# -- scoring ------------------------------------------------------------------------------


def attribute_columns(features: pd.DataFrame) -> list[str]:
    """User attributes (country, device, plan, ...): text columns other than the id and the
    channel, kept in the scores table (lists filter by them)."""
    return [
        col
        for col in features.columns
        if col not in NOT_PERSONAL
        and not pd.api.types.is_numeric_dtype(features[col])
        and not pd.api.types.is_datetime64_any_dtype(features[col])
    ]


def personal_columns(features: pd.DataFrame, not_features: Collection[str] = ()) -> list[str]:
    """The user attributes lists withhold (:func:`features.identifiers.withheld_attributes`;
    ``not_features``: the feature table's); the others are shown."""
    return withheld_attributes(attribute_columns(features), not_features)


def shown_columns(features: pd.DataFrame, not_features: Collection[str] = ()) -> list[str]:
    """The user attributes lists show (a plan, a contract): not :func:`personal_columns`."""
    personal = set(personal_columns(features, not_features))
    return [col for col in attribute_columns(features) if col not in personal]


def score_users(
    champions: Champions,
    features: pd.DataFrame,
    *,
    definitions: SegmentDefinitions | None = None,
    reasons_top: int | None = REASONS_TOP,
    reasons_by: Sequence[str] | None = None,
    chunk_rows: int = CHUNK_ROWS,
    score_rows: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    not_features: Collection[str] = (),
) -> pd.DataFrame:
    """Scores, segments, context columns and churn reasons for every row of ``features``.

    ``score_rows`` replaces the in-process, chunked ``score_frame`` (e.g. by Dask partitions).

    Reasons (per-row TreeSHAP, ~200x a prediction) go to the top ``reasons_top`` users of
    each ranking, of every lifecycle stage and of each (``serving.lists.reason_rows``; all
    eligible users when None); other rows have ``reasons`` null.
    ``reasons_by`` names the rankings (default: every one a list can be ranked by; a
    caller that only pulls the at-risk list by value at risk names that one). A reason
    about a :func:`personal_columns` attribute (``not_features``: the feature table's)
    withholds its value.
    """
    from serving.scoring import score_frame

    if not champions.bundles:
        problems = "; ".join(champions.unavailable.values()) or "no models"
        raise ScoringError(f"no champion model can score: {problems}")
    definitions = (definitions or SegmentDefinitions()).of_counts(champions.purchase_counts)
    if not features.index.equals(pd.RangeIndex(len(features))):
        features = features.reset_index(drop=True)  # a copy: only when needed (memory)
    if score_rows is not None:
        scores = score_rows(features)
    else:
        parts = [
            score_frame(champions, features.iloc[start : start + chunk_rows], reasons=False)
            for start in range(0, len(features), chunk_rows)
        ]
        scores = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    if not scores.index.equals(pd.RangeIndex(len(scores))):
        scores = scores.reset_index(drop=True)  # a copy of every column: only when needed
    if AS_OF in features:
        scores.insert(1, AS_OF, features[AS_OF].array)  # not to_numpy(): tz-aware -> objects
    scores.insert(min(2, len(scores.columns)), c.CHANNEL, features.get(c.CHANNEL))
    for feature, column in CONTEXT_COLUMNS.items():
        found = feature in features or feature == KEPT
        scores[column] = money_column(features, feature).astype(float) if found else np.nan
    for column, values in rfm_columns(features, definitions.rfm).items():  # segment, R, F, M
        scores[column] = values
    scores["super_user"] = super_users(features, definitions.super_users).flags
    # /score's words of the same user: the two outlooks apart, why a task has no score
    scores["outlook_apart"] = outlook_apart_column(scores)
    scores["not_scored"] = not_scored_json(champions.labels, champions.answered, features)
    explained = next(
        (
            champions.bundles[t.name]
            for t in tasks.all_tasks()
            if t.reasons and t.name in champions.bundles
        ),
        None,
    )
    scores["reasons"] = None
    if explained is not None:
        rows = reason_rows(scores, reasons_top, reasons_by, champions.bands[1])
        personal = personal_columns(features, not_features)
        scores.loc[rows, "reasons"] = stored_reasons(
            champions, explained, features.iloc[rows], personal
        )
    for col in attribute_columns(features):
        scores[col] = features[col].to_numpy()
    for task, version in champions.versions.items():
        scores[model_version_column(task)] = version
    return scores


# -- the scores table on disk -------------------------------------------------------------


def write_scores(
    scores_dir: Path, scores: pd.DataFrame, metadata: dict[str, Any], *, keep: int = KEEP_TABLES
) -> Path:
    """Write one scores table atomically and make it ``latest``; ``previous`` then points to
    its dataset's table before it (none: no ``previous``), whatever others scored between."""
    return write_scores_table(scores_dir, scores, metadata, keep=keep)[0]


def write_scores_table(
    scores_dir: Path, scores: pd.DataFrame, metadata: dict[str, Any], *, keep: int = KEEP_TABLES
) -> tuple[Path, list[str]]:
    """:func:`write_scores`, and the ``scores-*.parquet`` files there no run wrote (their
    lines, ``scores_history.strays``) from the same reading of the folder."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lifecycle.storage import atomic_file
    from serving.scores_history import prune, read_history, table_before, table_name

    scores_dir.mkdir(parents=True, exist_ok=True)
    path = scores_dir / table_name(pd.Timestamp(metadata["as_of"]), datetime.now(UTC))
    table = pa.Table.from_pandas(scores, preserve_index=False)
    existing = table.schema.metadata or {}
    table = table.replace_schema_metadata(
        {**existing, METADATA_KEY: json.dumps(metadata, default=str).encode()}
    )
    with atomic_file(path) as staging:
        pq.write_table(table, staging, compression="zstd")
        staging.chmod(0o644)  # the HTTP service may run as another user
    tables, strays = read_history(scores_dir)  # each file's metadata read once, for all
    before = table_before(scores_dir, path, metadata.get("dataset"), tables=tables)
    if before is not None:
        _point(scores_dir / PREVIOUS_SCORES, before)
    else:  # the dataset's first table: another dataset's is no previous of it
        (scores_dir / PREVIOUS_SCORES).unlink(missing_ok=True)
    _point(scores_dir / LATEST_SCORES, path)
    prune(scores_dir, keep, tables)
    return path, strays


def _point(link: Path, target: Path) -> None:
    """Make ``link`` a symlink to ``target`` in one rename (readers see the old or the new)."""
    from lifecycle.storage import atomic_symlink

    atomic_symlink(link, target)


def read_scores(path: Path) -> ScoresTable:
    """A scores table and its metadata; a clear error when it is missing or is another file
    (a CSV, an events table: no metadata of `score-all`)."""
    return _read_scores(path, ())


def read_list_scores(path: Path) -> ScoresTable:
    """:func:`read_scores` without the text columns, for a list: it reads them for its listed
    rows only (``serving.scores_text.listed_text``; at 1M users 1.4 GB and 3.1 CPU-s with
    them, 0.8 GB and 1.4 without: ``experiments/bench_list_scores.py``)."""
    from serving.scores_text import TEXT_COLUMNS

    return _read_scores(path, TEXT_COLUMNS)


def _read_scores(path: Path, later: tuple[str, ...]) -> ScoresTable:
    """The table without the ``later`` columns (those it has: ``ScoresTable.later``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not path.exists():
        raise ScoringError(f"no scores table at {path}: run `lifecycle score-all` first")
    not_scores = f"{path}: not a scores table written by `lifecycle score-all`"
    try:
        names = pq.read_schema(path).names if later else []
        later = tuple(name for name in later if name in names)
        table = pq.read_table(path, columns=[n for n in names if n not in later] or None)
    except (pa.ArrowException, OSError):
        raise ScoringError(f"{not_scores} (not a Parquet file)") from None
    scores = [t.score for t in tasks.all_tasks()]
    if c.USER_ID not in table.column_names or not set(scores) & set(table.column_names):
        expected = (c.USER_ID, *scores, "value_at_risk")
        missing = [col for col in expected if col not in table.column_names]
        raise ScoringError(f"{not_scores} (it lacks {', '.join(missing)})")
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    metadata = json.loads(raw) if raw else {}
    return ScoresTable(table.to_pandas(), metadata, path.resolve(), later)


def of_dataset(
    table: ScoresTable, dataset: str, settings: Settings | None = None, step: str = SCORES_STEP
) -> ScoresTable:
    """The table, when it holds ``dataset``'s scores: a workspace keeps one latest table, so
    after scoring another dataset its lists refuse rather than list that dataset's users
    (a dataset the workspace lacks is named as such, not given a score-all to run). ``step``:
    what reads the scores, as the operator ran it (``segments``), in a refusal."""
    scored = table.metadata.get("dataset")
    if scored and scored != dataset:
        remedy = f"run `lifecycle score-all --dataset {dataset}`"
        if settings is not None:  # a dataset without features: refresh, not a score-all refused
            require_dataset(settings, dataset, step)
            remedy = scores_remedy(settings, dataset)
        raise ScoringError(
            f"the scores table {table.path} holds dataset {scored}, not {dataset} (one latest "
            f"scores table per workspace): {remedy}; or pass --dataset {scored}"
        )
    return table


def latest_scores(
    settings: Settings,
    dataset: str | None = None,
    step: str = SCORES_STEP,
    *,
    text_later: bool = False,
) -> ScoresTable:
    """The latest scores table, of ``dataset`` (default: the settings') or an error naming
    ``step``, what reads it (``segments``, ``campaign start``); ``text_later``: read as a
    list reads it (:func:`read_list_scores`)."""
    dataset = dataset or settings.dataset
    require_events(settings, dataset, step)
    path = settings.workspace.scores_dir / LATEST_SCORES
    if not path.exists():  # no such dataset, or one score-all cannot score: say so
        require_dataset(settings, dataset, step)
        raise ScoringError(no_scores_yet(settings, dataset, path))
    read = read_list_scores if text_later else read_scores
    return of_dataset(read(path), dataset, settings, step)


def require_same_definitions(latest: ScoresTable, previous: ScoresTable, step: str) -> None:
    """Refuse to compare two scores tables whose models predict different things (a churn
    horizon of 90 days in one, 60 in the other)."""
    theirs, ours = previous.metadata.get("labels", {}), latest.metadata.get("labels", {})
    changes = [
        f"{task}: {', '.join(changed)}"
        for task in sorted(set(theirs) & set(ours))
        if (changed := lineage.definition_changes(theirs[task], ours[task]))
    ]
    if changes:
        raise ScoringError(
            f"{step} refused: the previous scores table ({previous.as_of}, {previous.path}) and "
            f"the latest ({latest.as_of}) follow different label definitions "
            f"({'; '.join(changes)}); their scores are not comparable. Compare again after the "
            "next `lifecycle score-all` (both tables then follow the current definition)"
        )


def find_scores(
    settings: Settings, as_of: pd.Timestamp, dataset: str | None = None, step: str = SCORES_STEP
) -> ScoresTable | None:
    """The newest scores table of ``dataset`` (default: the settings') for this as-of date
    (``step``: what reads it, in a refusal)."""
    from serving.scores_history import dataset_tables

    dataset = dataset or settings.dataset
    require_events(settings, dataset, step)
    day = f"{as_of:%Y-%m-%d}"
    found = [p for _, of, p in dataset_tables(settings.workspace.scores_dir, dataset) if of == day]
    if not found:  # its scores read without its data (trained elsewhere); else say it is not held
        require_dataset(settings, dataset, step)  # not score-all's refusal
    return read_scores(found[-1]) if found else None


# -- the command's function ---------------------------------------------------------------


def score_all(
    settings: Settings,
    as_of: str | pd.Timestamp | None = None,
    *,
    dataset: str | None = None,
    champions: Champions | None = None,
    write: bool = True,
    reasons_top: int | None = None,
    allow_partial: bool = False,
    progress: Callable[[str], None] | None = None,
    ledger: bool = True,
    replace_ledger: bool = False,
) -> BatchResult:
    """Score every user known at ``as_of`` (default: the feature table's latest cutoff).

    A written table is also appended to the prediction ledger (``serving.ledger``), unless
    ``ledger`` is false (a past as-of's entry by other models is kept unless
    ``replace_ledger``), and the monitor's samples are kept (``serving.monitor_sample``).

    Churn reasons go to every eligible user by default (``reasons_top`` None): the scoring
    service serves them from the table instead of computing them per request
    (``serving.known_reasons``); a number limits them to the top of each ranking.

    Refuses when a task has no loadable champion, unless ``allow_partial`` (or the task is
    left out by ``training.tasks``): a table without churn scores must not silently replace a
    complete ``latest``.
    """
    import pyarrow.parquet as pq

    from features.store import open_store, store_paths
    from lifecycle import train_refusals
    from lifecycle.storage import probe_writable
    from serving.scoring import compile_champions, load_champions, refuse_unread

    say = progress or (lambda _message: None)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    paths = store_paths(settings, dataset)
    built = lineage.require_current_features(settings, paths.dataset, "score-all")
    if write:  # a read-only workspace refused before every user is scored, not after
        probe_writable(settings.workspace.scores_dir, "scores.parquet")
    other = paths.dataset if paths.dataset != settings.dataset else None  # named in advice
    stamp = resolve_as_of(
        paths.feature_table, as_of, settings.workspace.events(paths.dataset), other
    )
    if champions is None:
        say("loading the champion models from the registry")
        champions = load_champions(settings, paths.dataset)
    refuse_unread(champions, paths.dataset, paths.feature_table)
    missing = set(champions.unavailable) - set(train_refusals.left_out(settings))
    if not champions.bundles or (missing and not allow_partial):
        problems = "; ".join(champions.unavailable.values())
        raise ScoringError(
            f"cannot score with every champion: {problems}"
            + ("" if not champions.bundles else " (--allow-partial scores with the others)")
        )
    seconds["load_models"] = round(time.perf_counter() - started, 2)
    entity_rows = known_users(paths.feature_table, stamp)
    # Compiling costs about what LightGBM spends on COMPILE_PAYS_ROWS users: below that,
    # only versions already compiled (by the server or an earlier run) are used.
    compile_champions(
        settings, champions, paths.dataset, cached_only=len(entity_rows) < COMPILE_PAYS_ROWS
    )
    say(f"retrieving features of {counted(len(entity_rows))} as of {stamp:%Y-%m-%d} from Feast")
    started = time.perf_counter()
    features = retrieve_features(
        open_store(settings, paths.dataset), entity_rows, champions.services
    )
    seconds["features"] = round(time.perf_counter() - started, 2)
    left_out = list(not_features_of(pq.read_schema(paths.feature_table)))
    say(f"scoring {counted(len(features))}")
    started = time.perf_counter()
    definitions = SegmentDefinitions().of_counts(champions.purchase_counts)
    if settings.serving.batch_engine == "dask":
        from lifecycle.cluster import dask_client
        from lifecycle.compiled import champion_names
        from serving.distributed import same_trees, score_partitioned

        names = champion_names(paths.dataset, champions.versions)
        trees = same_trees(champions, settings.workspace.compiled_dir, names)
        with dask_client(settings) as client:
            scores = score_users(
                champions,
                features,
                definitions=definitions,
                reasons_top=reasons_top,
                score_rows=lambda rows: score_partitioned(
                    champions,
                    rows,
                    client,
                    partition_rows=settings.dask.partition_rows,
                    reasons=False,
                    trees=trees,
                ),
                not_features=left_out,
            )
    else:
        scores = score_users(
            champions,
            features,
            definitions=definitions,
            reasons_top=reasons_top,
            not_features=left_out,
        )
    seconds["scoring"] = round(time.perf_counter() - started, 2)
    path, appended, strays = None, None, []
    learned = learned_until(champions)  # scores as of before it are no forecast: said
    if write:
        from lifecycle.champion_inputs import words_retrain

        started = time.perf_counter()
        metadata = {
            "dataset": paths.dataset,
            "as_of": f"{stamp:%Y-%m-%d}",
            "scored_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "model_versions": champions.versions,
            "model_kinds": champions.kinds,
            "feature_services": {t: b.service for t, b in champions.bundles.items()},
            "unavailable": champions.unavailable,
            "definitions": definitions.versions,
            "personal_columns": personal_columns(features, left_out),
            "shown_columns": shown_columns(features, left_out),
            "reasons_top": reasons_top,
            "users": len(scores),
            # What each score predicts (task, horizon, ...): outcomes label the ledger with it.
            "labels": champions.labels,
            "outlook_days": champions.outlook_days(),  # expected_purchases' (Units.text)
            "learned_until": learned,
            "words_retrain": words_retrain(champions.bundles, champions.versions),  # lists say it
            # What it was built from: `refresh` re-scores when models or features move on.
            "lineage": {
                "dataset_version": built.get("dataset_version", ""),
                "dataset_generation": built.get("dataset_generation", ""),
                "feature_table": built.get("id", ""),
                "settings_hash": lineage.settings_hash(settings),
                "code_version": lineage.code_version(),
            },
        }
        path, strays = write_scores_table(settings.workspace.scores_dir, scores, metadata)
        seconds["write"] = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        latest = as_of is None or stamp == resolve_as_of(paths.feature_table, None)
        keep_monitor_samples(  # the monitor's rows, while they are in memory
            settings,
            champions,
            features,
            scores,
            metadata,
            feature_table=paths.feature_table,
            scores_table=path,
            latest_cutoff=latest,
        )
        seconds["monitor_sample"] = round(time.perf_counter() - started, 2)
        if ledger:
            started = time.perf_counter()
            appended = append_to_ledger(
                settings.workspace,
                paths.dataset,
                scores,
                metadata,
                retention_days=settings.ledger.retention_days,
                # today's scores are what lists send: only a past date's record is kept
                replace=replace_ledger or latest,
            )
            seconds["ledger"] = round(time.perf_counter() - started, 2)
    return BatchResult(
        path,
        stamp,
        len(scores),
        champions.versions,
        champions.unavailable,
        seconds,
        scores,
        champions.kinds,
        appended,
        strays,
        champions.outlook_days(),
        learned,
    )
