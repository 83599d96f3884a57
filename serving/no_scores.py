"""What a list command says when the dataset has no scores table yet: run `score-all`, or,
where `score-all` cannot score it (no feature table, or no model that any training could
make on it, as a dataset of too few users or too short a history), what stops it and what
would help, rather than advising a `score-all` that is refused in turn."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lifecycle.settings import Settings


def no_scores_yet(settings: Settings, dataset: str, path: Path) -> str:
    """The one line for a missing scores table of ``dataset`` (``path``)."""
    from lifecycle import registry, tasks, train_refusals

    missing = f"no scores table at {path}"
    if not settings.workspace.feature_table(dataset).is_file():
        return (
            f"{missing}: dataset '{dataset}' has no features yet; `lifecycle refresh --dataset "
            f"{dataset}` builds them, trains the models and scores every user"
        )
    reader = registry.reader(settings, mirrored=True)  # no MLflow database made by a reader
    if any(
        registry.alias_version(reader, registry.model_name(dataset, task), registry.CHAMPION)
        for task in tasks.names()
    ):
        return f"{missing}: run `lifecycle score-all` first"
    # the refusals training (or score-all's foresight) recorded for this feature table
    why = {task: train_refusals.refused(settings, dataset, task) for task in tasks.names()}
    if not all(why.values()):
        return (
            f"{missing}: dataset '{dataset}' has no trained model yet; run `lifecycle train "
            f"all --dataset {dataset}`, then `lifecycle score-all --dataset {dataset}`"
        )
    reasons = "; ".join(f"{task}: {reason}" for task, reason in why.items())
    return (  # each reason names what would help (more users, a longer history, a horizon)
        f"{missing}, and `lifecycle score-all` cannot make one: no model can be trained on "
        f"dataset '{dataset}' as it is ({reasons})"
    )
