"""What a dataset is, as its ingest recorded it (``report.json``: events, snapshot or
campaign), and the one check of every command that needs events (features, training of the
declared tasks, scoring, lists, backtests, drift): on a snapshot or a campaign table it says
so, and what works on it, instead of asking for a step that cannot apply."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from lifecycle.errors import UserError

if TYPE_CHECKING:
    from lifecycle.settings import Settings

EVENTS = "events"
# what reads scores, named when the dataset has none to read
SCORES_STEP = "scores (at-risk, movers, segments, report, campaigns)"
# kind -> what the dataset is, and the command that learns from it
NOT_EVENTS = {
    "snapshot": ("a snapshot table (one row a customer)", "train-snapshot"),
    "campaign": ("a campaign table (treatment and outcomes)", "train-uplift"),
}


class NotEventsDataset(UserError):
    """A command that needs an events dataset was given a snapshot or a campaign table."""


def dataset_kind(settings: Settings, dataset: str) -> str | None:
    """The dataset's kind as its ingest recorded it; a folder written without a report is
    known by its table (``<kind>.parquet``, as imports write it); None: no such dataset."""
    from features.ingest import REPORT
    from lifecycle.workspace import EVENTS_FILE

    folder = settings.workspace.dataset_dir(dataset)
    if (folder / REPORT).is_file():
        return str(json.loads((folder / REPORT).read_text()).get("kind", EVENTS))
    if (folder / EVENTS_FILE).is_file():
        return EVENTS
    return next((kind for kind in NOT_EVENTS if (folder / f"{kind}.parquet").is_file()), None)


def require_events(settings: Settings, dataset: str, step: str) -> None:
    """Refuse ``step`` on a snapshot or campaign dataset, naming what works on it."""
    kind = dataset_kind(settings, dataset)
    if kind in NOT_EVENTS:
        what, command = NOT_EVENTS[kind]
        raise NotEventsDataset(
            f"{step}: needs an events dataset, and '{dataset}' is {what}; on it run "
            f"`lifecycle {command} --dataset {dataset}`"
        )


def require_dataset(settings: Settings, dataset: str, step: str) -> None:
    """Refuse ``step`` on a dataset the workspace does not hold (a misspelt ``--dataset``),
    naming the ones it does."""
    if dataset_kind(settings, dataset) is not None:
        return
    root = settings.workspace.dataset_dir(dataset).parent
    held = sorted(
        p.name
        for p in root.glob("*")
        if not p.name.startswith(".") and dataset_kind(settings, p.name)
    )
    raise UserError(
        f"{step}: no dataset '{dataset}' in {root} (it has: {', '.join(held) or 'none'}); "
        "import or ingest it, or name one of those with --dataset"
    )
