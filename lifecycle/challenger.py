"""The model version behind ``challenger`` for a promotion (`lifecycle promote TASK
challenger`, ``POST /promote`` without a version), and why there is none when there is not."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lifecycle.registry import (
    CHALLENGER,
    CHAMPION,
    PROMOTION_TAG,
    PromotionError,
    alias_version,
    client,
    model_name,
)

if TYPE_CHECKING:
    from lifecycle.settings import Settings


def challenger_version(settings: Settings, task: str, dataset: str | None = None) -> str:
    """The version behind ``challenger`` when it is not already the champion."""
    name = model_name(dataset or settings.dataset, task)
    mlflow_client = client(settings)
    challenger = alias_version(mlflow_client, name, CHALLENGER)
    champion = alias_version(mlflow_client, name, CHAMPION)
    if challenger is None:
        raise PromotionError(_no_challenger(mlflow_client, name, task, champion))
    if champion is not None and str(champion.version) == str(challenger.version):
        raise PromotionError(
            f"model {name}: challenger v{challenger.version} is already the champion"
        )
    return str(challenger.version)


def _no_challenger(mlflow_client: Any, name: str, task: str, champion: Any) -> str:
    """Why ``name`` has no challenger: none trained, the last promoted (the champion), or the
    newest version promoted and replaced since (a rollback), to be promoted by its number."""
    versions = mlflow_client.search_model_versions(f"name = '{name}'") if champion else []
    newest = max(versions, key=lambda v: int(v.version), default=None)
    if newest is None or int(newest.version) <= int(champion.version):
        promoted = "" if champion is None else f" (v{champion.version} is already the champion)"
        return f"model {name} has no challenger{promoted}: train {task} first"
    was = (  # a rollback: the newest was champion, and an older version is again
        f"was champion until v{champion.version} was promoted over it"
        if (newest.tags or {}).get(PROMOTION_TAG)
        else "was registered without the challenger alias"
    )
    return (
        f"model {name} has no challenger: its newest version, v{newest.version}, {was}; "
        f"promote v{newest.version} by its number to make it champion, or train {task} for "
        "a new challenger"
    )
