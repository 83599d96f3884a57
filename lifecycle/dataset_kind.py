"""What a dataset is, as its ingest recorded it (``report.json``: events, snapshot or
campaign), and the one check of every command that needs events (features, training of the
declared tasks, scoring, lists, backtests, drift): on a snapshot or a campaign table it says
so, and what works on it, instead of asking for a step that cannot apply."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifecycle.errors import UserError

if TYPE_CHECKING:
    from lifecycle.settings import Settings

EVENTS = "events"
REPORT = "report.json"  # what an ingest or import recorded in a dataset folder
# report keys: quarantine file name -> its raw column of user ids (what `forget` matches),
# and the names of the dataset's columns of codes (what it leaves: features.scrub)
QUARANTINE_USER_COLUMNS = "quarantine_user_columns"
DATASET_CODE_COLUMNS = "code_columns"
NOT_ID_COLUMNS = "not_id_columns"  # declared by the operator never to hold ids (features.not_ids)
PARQUET_MAGIC = b"PAR1"  # the first and last four bytes of every Parquet file
# what reads scores, named when the dataset has none to read
SCORES_STEP = "scores (at-risk, movers, segments, report, campaigns)"
# kind -> what the dataset is, and the command that learns from it
NOT_EVENTS = {
    "snapshot": ("a snapshot table (one row a customer)", "train-snapshot"),
    "campaign": ("a campaign table (treatment and outcomes)", "train-uplift"),
}


class NotEventsDataset(UserError):
    """A command that needs an events dataset was given a snapshot or a campaign table."""


def read_report(folder: Path) -> dict[str, Any] | None:
    """A dataset folder's ``report.json`` (None without one). A damaged one is refused in
    one line naming it and the way back, a :class:`UserError` like the commands' other
    refusals (a bare JSONDecodeError reached the user as a traceback)."""
    from lifecycle.storage import read_json

    path = folder / REPORT
    if not path.is_file():
        return None
    try:
        report = read_json(path)
        if not isinstance(report, dict):
            raise ValueError(f"{path.name} is not a JSON object ({path})")
    except ValueError as error:
        raise damaged(folder, str(error)) from None
    return report


def damaged(folder: Path, problem: str) -> UserError:
    """A dataset whose files are damaged: the problem, and the way back, in one line."""
    from lifecycle.storage import staging_target

    # a kept version's folder is NAME@STAMP; a staging copy (forget rewrites a dataset
    # in one) is named for the dataset it is written for, never its hidden name
    name = staging_target(folder).name.split("@", 1)[0]
    return UserError(
        f"dataset '{name}': {problem}; point it at a kept version (`lifecycle datasets "
        f"history {name}`, then `lifecycle datasets restore VERSION`) or ingest it again"
    )


def dataset_kind(settings: Settings, dataset: str) -> str | None:
    """The dataset's kind as its ingest recorded it; a folder written without a report is
    known by its table (``<kind>.parquet``, as imports write it); None: no such dataset."""
    return folder_kind(settings.workspace.dataset_dir(dataset))


def folder_kind(folder: Path) -> str | None:
    """:func:`dataset_kind` of a dataset folder."""
    return kind_of(folder, read_report(folder))


def kind_of(folder: Path, report: dict[str, Any] | None) -> str | None:
    """:func:`folder_kind` of a folder whose ``report`` is read (None: it has none)."""
    from lifecycle.workspace import EVENTS_FILE

    if report is not None:
        return str(report.get("kind", EVENTS))
    if (folder / EVENTS_FILE).is_file():
        return EVENTS
    return next((kind for kind in NOT_EVENTS if (folder / f"{kind}.parquet").is_file()), None)


def what_it_is(kind: str) -> str:
    """A dataset kind in words: "a snapshot table (one row a customer)", "an events log"."""
    return NOT_EVENTS[kind][0] if kind in NOT_EVENTS else f"an {kind} log"


def uplift_training(settings: Settings, dataset: str) -> str:
    """How ``dataset``'s uplift model is trained, in words: a campaign table from its
    randomized arms; an events dataset, which has none, from its recorded campaigns or a
    randomized list (`train-uplift` and an at-risk list ranked by uplift both say it)."""
    if dataset_kind(settings, dataset) == EVENTS:
        return (
            f"'{dataset}' is an events dataset, which has no campaign table: learn from its "
            f"recorded campaigns (`lifecycle campaign start`, then `lifecycle train-uplift "
            f"--dataset {dataset} --campaigns all`) or from a randomized list (--from-list FILE)"
        )
    return (
        f"run `lifecycle train-uplift --dataset {dataset}` on a randomized campaign table of "
        "this dataset"
    )


def first_steps(settings: Settings, dataset: str) -> str:
    """What follows a first ingest of an events dataset, in words: the one command that builds
    its features, models and scores (a new user found it only deep in docs/refresh.md), and
    the lists and server that read them, each with ``--dataset`` when not the settings'."""
    named = "" if dataset == settings.dataset else f" --dataset {dataset}"
    return (
        f"next: `lifecycle refresh{named}` builds its features and online store, trains its "
        f"models and scores its users; then `lifecycle at-risk{named}` lists them and "
        f"`lifecycle serve{named}` answers over HTTP (docs/refresh.md)"
    )


def require_events(settings: Settings, dataset: str, step: str, *, held: bool = False) -> None:
    """Refuse ``step`` on a snapshot or campaign dataset, naming what works on it; ``held``:
    on a dataset the workspace does not hold too (:func:`require_dataset`)."""
    kind = dataset_kind(settings, dataset)
    if kind is None and held:
        require_dataset(settings, dataset, step)
    if kind in NOT_EVENTS:
        what, command = NOT_EVENTS[kind]
        listed = ""
        if kind == "snapshot":  # what an operator of a snapshot reads instead of the lists
            from serving.snapshot_list import champion_list

            found, _ = champion_list(settings, dataset)
            listed = (
                "; its customers still with you, most likely to leave first by its champion: "
                f"`lifecycle at-risk --dataset {dataset}` (the file: {found})"
                if found
                else ", whose champion ranks its customers still with you for `lifecycle "
                f"at-risk --dataset {dataset}`"
            )
        raise NotEventsDataset(
            f"{step}: needs an events dataset, and '{dataset}' is {what}; on it run "
            f"`lifecycle {command} --dataset {dataset}`{listed}"
        )
    if kind == EVENTS:
        require_whole_tables(settings.workspace.dataset_dir(dataset))


def require_kind(settings: Settings, dataset: str, kind: str, step: str) -> None:
    """Refuse ``step``, which reads a ``kind`` dataset (a snapshot or a campaign table), on a
    dataset the workspace does not hold or of another kind, naming what works on it."""
    found = dataset_kind(settings, dataset)
    if found is None:
        require_dataset(settings, dataset, step)
    if found not in (None, kind):
        # an events log's: `train` alone is a usage error (its TASK|all is required)
        command = NOT_EVENTS[found][1] if found in NOT_EVENTS else "train all"
        raise UserError(
            f"{step}: needs {what_it_is(kind)}, and '{dataset}' is {what_it_is(found)}; on it "
            f"run `lifecycle {command} --dataset {dataset}`"
        )


def require_whole_tables(folder: Path) -> None:
    """Refuse an events or users table that is not a whole Parquet file (cut short by a full
    disk or a copy, overwritten): every reader of it failed with its own library's traceback.
    A Parquet file starts and ends with its magic bytes; only its ends are read."""
    from lifecycle.workspace import EVENTS_FILE, USERS_FILE

    for name, path in (("events", folder / EVENTS_FILE), ("users", folder / USERS_FILE)):
        if not path.is_file():
            continue
        with path.open("rb") as table:
            head = table.read(4)
            table.seek(max(0, path.stat().st_size - 4))
            whole = head == PARQUET_MAGIC and table.read(4) == PARQUET_MAGIC
        if not whole:
            raise damaged(
                folder, f"its {name} table {path} is not a whole Parquet file (cut short?)"
            )


def require_dataset(settings: Settings, dataset: str, step: str) -> None:
    """Refuse ``step`` on a dataset the workspace does not hold (a misspelt ``--dataset``, or
    the settings' `demo` after `lifecycle import online-retail`), naming the ones it holds."""
    if dataset_kind(settings, dataset) is not None:
        return
    kinds = held_kinds(settings)
    events = [name for name, kind in kinds.items() if kind == EVENTS]
    others = [name for name, kind in kinds.items() if kind is not None and kind != EVENTS]
    if events:
        hint = (
            f"; its events datasets: {', '.join(events)}: pass --dataset {events[0]} (or set "
            "LIFECYCLE_DATASET)"
        )
    elif others:  # what works on them, since nothing that needs events does
        works = ", ".join(
            f"`lifecycle {NOT_EVENTS[kinds[name]][1]} --dataset {name}`"
            for name in others
            if kinds[name] in NOT_EVENTS
        )
        hint = (
            f"; it holds {', '.join(others)}, none of them events: ingest or import events first"
            + (f"; on what it holds run {works}" if works else "")
        )
    elif settings.tracking.uri:  # the models are on a tracking server; the data is not
        hint = (
            ": ingest or import it first; a machine serving models trained elsewhere needs "
            f"that workspace's datasets/{dataset} and feast/{dataset} folders here too "
            "(docs/scale.md)"
        )
    else:
        hint = ": ingest or import it first"
    raise UserError(f"{step}: no dataset '{dataset}' in {settings.workspace.home}{hint}")


def held_kinds(settings: Settings) -> dict[str, str | None]:
    """Each dataset folder of the workspace -> its kind (None: no data in it, or damaged)."""
    root = settings.workspace.home / "datasets"
    folders = (
        sorted(p.name for p in root.iterdir() if not p.name.startswith("."))
        if root.is_dir()
        else []
    )
    return {name: _kind_or_none(settings, name) for name in folders}


def _kind_or_none(settings: Settings, dataset: str) -> str | None:
    """A held dataset's kind for a hint; a damaged report of another dataset does not hide
    the refusal the user needs (the missing dataset), its own commands name it."""
    try:
        return dataset_kind(settings, dataset)
    except UserError:
        return None
