"""What a list command says when the dataset has no scores table yet (or the workspace's one
latest table holds another dataset's): run `score-all`, or, where `score-all` cannot score it
(no feature table, or no model that any training could make on it, as a dataset of too few
users or too short a history), what stops it and what would help, rather than advising a
`score-all` that is refused in turn."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lifecycle.settings import Settings


def no_scores_yet(settings: Settings, dataset: str, path: Path) -> str:
    """The one line for a missing scores table of ``dataset`` (``path``)."""
    return f"no scores table at {path}: {scores_remedy(settings, dataset)}"


def scores_remedy(settings: Settings, dataset: str) -> str:
    """How ``dataset`` gets a scores table, as the end of a line after a colon: the command
    that makes one, or why no command can yet."""
    from lifecycle import registry, tasks, train_refusals

    if not settings.workspace.feature_table(dataset).is_file():
        return (
            f"dataset '{dataset}' has no features yet; `lifecycle refresh --dataset {dataset}` "
            "builds them, trains the models and scores every user"
        )
    reader = registry.reader(settings, mirrored=True)  # no MLflow database made by a reader
    if any(
        registry.alias_version(reader, registry.model_name(dataset, task), registry.CHAMPION)
        for task in tasks.names()
    ):
        return f"run `lifecycle score-all --dataset {dataset}` first"
    # the refusals training (or score-all's foresight) recorded for this feature table
    why = {task: train_refusals.refused(settings, dataset, task) for task in tasks.names()}
    if not all(why.values()):
        return (
            f"dataset '{dataset}' has no trained model yet; run `lifecycle train all --dataset "
            f"{dataset}`, then `lifecycle score-all --dataset {dataset}`"
        )
    reasons = "; ".join(f"{task}: {reason}" for task, reason in why.items())
    return (  # each reason names what would help (more users, a longer history, a horizon)
        f"`lifecycle score-all` cannot make one: no model can be trained on dataset "
        f"'{dataset}' as it is ({reasons})"
    )
