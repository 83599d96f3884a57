"""Churn reasons at list time for the listed users a scores table did not explain.

``score-all --reasons-top N`` explains the top N of each ranking only; a list filtered
otherwise (``--segment``, ``--where``) reaches users below them. Their reasons are computed
for the listed users alone, as ``score-all`` computes them
(``serving.stored_reasons.stored_reasons``), by the churn model version and from the
features of the as-of date that made the table: a reason then explains the score beside it. When that version cannot be loaded or those
features are gone, one note says how many listed users lack reasons and why. Another says
how many have reasons computed and none to give (:func:`nothing_raised_note`).

``/at_risk`` does the same for its page with what the service has loaded
(:func:`explain_page`): the churn champion, when it is the version that made the table, and
the online store's features, when they are of the table's as-of date.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import pandas as pd

from features import contract as c
from lifecycle import tasks
from serving.reason_words import reasons_text

if TYPE_CHECKING:
    from lifecycle.settings import Settings
    from serving.answers import OnlineLineage
    from serving.batch import ScoresTable
    from serving.scorer import Loaded

REASONS = "reasons"
NO_REASON = "[]"  # reasons computed, none to give (``serving.stored_reasons.reasons_json`` of none)


def explain_listed(
    settings: Settings, table: ScoresTable, ranked: pd.DataFrame
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The list's rows (``ranked``, rows of ``table``) with the churn reasons of every
    eligible user, and the notes on those left without (none: all have theirs)."""
    return fill_reasons(
        table,
        ranked,
        lambda model, user_ids: _computed(settings, table, model, user_ids),
        ("listed user", "listed users"),
    )


# (task, version) and the user ids lacking reasons -> their reasons (the table's JSON, None
# for a user it could not explain; None for all) and why those could not be
Explainer = Callable[[tuple[str, str], pd.Series], tuple["Sequence[str | None] | None", str]]


def fill_reasons(
    table: ScoresTable, ranked: pd.DataFrame, explain: Explainer, who: tuple[str, str]
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """``ranked`` with the reasons ``explain`` gives its eligible rows that have none, and
    the notes naming how many ``who`` (one, several) still lack them and why, and how many
    have none to give (:func:`nothing_raised_note`); none when every one has reasons."""
    explained = next((t for t in tasks.all_tasks() if t.reasons), None)
    if explained is None or explained.score not in ranked:
        return ranked, ()
    ranked, unexplained = _filled(table, ranked, explain, who, explained.name, explained.score)
    notes = (unexplained, nothing_raised_note(ranked, explained.score, who))
    return ranked, tuple(note for note in notes if note)


def nothing_raised_note(ranked: pd.DataFrame, score: str, who: tuple[str, str]) -> str | None:
    """How many ``who`` have churn reasons computed and none to give: a reason is a feature
    that raised the user's risk above the average user's, and none of theirs did (a risk
    below the average; or, of a model bridged to a longer horizon, ``lifecycle.bridge``,
    raised by the part no feature explains). Unlike reasons never computed (None: no note)."""
    if REASONS not in ranked:
        return None
    count = int((ranked[REASONS].eq(NO_REASON) & ranked[score].notna()).sum())
    if count == 0:
        return None
    return (
        f"{count} {who[count != 1]} with no churn reason to give: no feature raised their "
        "churn risk above the average user's"
    )


def _filled(
    table: ScoresTable,
    ranked: pd.DataFrame,
    explain: Explainer,
    who: tuple[str, str],
    task: str,
    score: str,
) -> tuple[pd.DataFrame, str | None]:
    """``ranked`` with the reasons ``explain`` gives its eligible rows that have none (the
    ``task``'s, of its ``score``), and a note on those still lacking them (None: none)."""
    version = table.metadata.get("model_versions", {}).get(task)
    if version is None:  # a table `score-all` did not write: no model to explain with
        return ranked, None
    stored = ranked[REASONS] if REASONS in ranked else pd.Series(None, index=ranked.index)
    lacking = stored.isna() & ranked[score].notna()
    if not lacking.any():
        return ranked, None
    found, why = explain((task, str(version)), ranked.loc[lacking, c.USER_ID])
    rows = ranked.index[lacking]
    computed = [
        (row, raw) for row, raw in zip(rows, found or [None] * len(rows), strict=True) if raw
    ]
    if computed:
        ranked = ranked.copy()
        at = [row for row, _ in computed]
        ranked.loc[at, REASONS] = [raw for _, raw in computed]
        ranked.loc[at, "top_reasons"] = [reasons_text(raw) for _, raw in computed]
    count = len(rows) - len(computed)
    if count == 0:
        return ranked, None
    return ranked, f"{count} {who[count != 1]} without churn reasons: {why}"


def _computed(
    settings: Settings, table: ScoresTable, model: tuple[str, str], user_ids: pd.Series
) -> tuple[Sequence[str | None] | None, str]:
    """The users' reasons (the table's JSON) by the ``model`` (task, version) and as-of
    that made ``table``, or None and why they cannot be."""
    from features.asof import feature_cutoffs
    from features.store import open_store
    from lifecycle import lineage
    from serving.batch import entity_rows, retrieve_features
    from serving.scoring import compile_champions, load_champions
    from serving.stored_reasons import stored_reasons

    task, version = model
    metadata = table.metadata
    dataset = str(metadata.get("dataset") or settings.dataset)
    stamp = pd.Timestamp(table.as_of, tz="UTC")
    feature_table = settings.workspace.feature_table(dataset)
    made_from = (metadata.get("lineage") or {}).get("feature_table")
    now = (lineage.read(feature_table) or {}).get("id")
    if not feature_table.is_file() or stamp not in feature_cutoffs(feature_table):
        return None, f"the features as of {table.as_of} are no longer in {feature_table}"
    if made_from and now and made_from != now:
        return None, (
            f"the feature table was rebuilt since these scores of {table.as_of}; "
            "`lifecycle score-all` scores and explains them again"
        )
    made = f"{task} model v{version}, which made these scores,"
    try:
        models = load_champions(
            settings, dataset, mirrored=True, only=(task,), pinned={task: version}
        )
    except _unanswered() as error:  # the registry cannot answer: the list stands, said
        return None, f"{made} cannot be loaded: {error}"
    if task in models.unserviced:  # loaded, but it reads a feature service changed since
        return None, (
            f"{made} reads {models.unserviced[task]}; `lifecycle score-all` scores and "
            "explains them again"
        )
    if task not in models.bundles:  # deleted, or the registry away: load_champions says
        return None, f"{made} cannot be loaded: {models.unavailable[task]}"
    services = set(metadata.get("feature_services", {}).values()) or models.services
    try:
        features = retrieve_features(
            open_store(settings, dataset), entity_rows(user_ids.tolist(), stamp), services
        )
    except _unanswered() as error:  # a feature service gone, a store not applied
        return None, f"their features as of {table.as_of} cannot be read: {error}"
    # explained as score-all explains them: by the precomputed TreeSHAP (a quarter of the CPU)
    compile_champions(settings, models, dataset, trees=False)
    personal = metadata.get("personal_columns", [])
    return stored_reasons(models, models.bundles[task], features, personal), ""


def _unanswered() -> tuple[type[Exception], ...]:
    """The failures a note says instead of the reasons, not a defect's: the project's own
    (a feature store not applied or that cannot answer, a feature service gone), a file
    missing or unreadable, a SQLite store damaged or locked, and MLflow's and SQLAlchemy's
    (a registry away, its database unreadable; only once they are imported, as only they
    raise theirs: importing MLflow for this would cost a list 1.5 s)."""
    from lifecycle.errors import UserError

    mlflow = sys.modules.get("mlflow.exceptions")
    sqlalchemy = sys.modules.get("sqlalchemy.exc")
    return (
        UserError,
        OSError,
        sqlite3.DatabaseError,
        *((mlflow.MlflowException,) if mlflow else ()),
        *((sqlalchemy.DatabaseError,) if sqlalchemy else ()),
    )


def explain_page(
    state: Loaded | None, online: OnlineLineage, table: ScoresTable, ranked: pd.DataFrame
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """An ``/at_risk`` page (``ranked``) with the churn reasons of its users the table did
    not explain, by the service's loaded churn champion and online features when they are
    the ones that made the table (as ``/score`` computes them); else a note saying why not."""
    return fill_reasons(
        table,
        ranked,
        lambda model, user_ids: _served(state, online, table, model, user_ids.tolist()),
        ("user of this page", "users of this page"),
    )


def _served(
    state: Loaded | None,
    online: OnlineLineage,
    table: ScoresTable,
    model: tuple[str, str],
    user_ids: list[str],
) -> tuple[Sequence[str | None] | None, str]:
    """The users' reasons (the table's JSON; None for one whose online features are not of
    the table's as-of) by the loaded ``model`` (task, version), or None and why not."""
    from features.labels import LabelSpec
    from serving.answers import score_all_command
    from serving.churn_reasons import champion_reasons
    from serving.hotpath import online_matrix
    from serving.stored_reasons import reasons_json

    task, version = model
    fix = f"`{score_all_command(online.dataset)}` explains every user"
    if state is None:
        return None, "the service is still loading its models"
    champions = state.champions
    bundle = champions.bundles.get(task)
    if bundle is None:
        return None, f"the service has no {task} model: {champions.unavailable.get(task)}"
    served = champions.versions.get(task)
    if served != version:
        return (
            None,
            f"the table was scored by {task} v{version}, the service serves v{served}; {fix}",
        )
    made_from = (table.metadata.get("lineage") or {}).get("feature_table")
    held = online.read().get("feature_table")
    if made_from and held and made_from != held:
        return None, (
            f"the table was scored from feature table {made_from}, the online store holds "
            f"{held}; {fix}"
        )
    as_of = table.as_of[:10]
    if online.as_of() != as_of:
        return None, (
            f"the table was scored as of {as_of}, the online store's features are as of "
            f"{online.as_of() or 'unknown'}; {fix}"
        )
    try:  # every champion's features, as score-all explains from (the words read them)
        matrix = online_matrix(state.store, state.layout, state.fetch, champions, user_ids)
    except _unanswered() as error:  # a store being replaced: the page stands, said
        return None, f"their online features cannot be read: {error}"
    eligible = LabelSpec.from_dict(bundle.label).eligible_columns(matrix.column, len(matrix))
    if matrix.as_of_us is not None:  # a user's row of another date explains another score
        stamp = pd.Timestamp(table.as_of)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        eligible &= matrix.as_of_us == stamp.value // 1_000
    found = champion_reasons(champions, bundle, matrix, eligible, None)
    personal = table.metadata.get("personal_columns", [])
    by_user = {
        str(user): reasons_json(reasons, personal, bundle.categories)
        for user, reasons, explained in zip(matrix.user_ids, found, eligible, strict=True)
        if explained
    }
    return [by_user.get(user) for user in user_ids], (
        f"their features as of {as_of} are not in the online store; {fix}"
    )
