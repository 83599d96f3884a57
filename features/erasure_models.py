"""What ``lifecycle forget`` cannot change: the trained models. The serving champions of the
datasets whose rows held an erased user learned from them (another dataset's never saw the
users); they are named with the way to replace them for their kind of model: ``train`` for
an events dataset, ``train-snapshot`` for a snapshot, then a promotion by hand, since the
gate keeps a champion that the retrained model does not beat."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lifecycle.settings import Settings

UNCHANGED = "trained models and MLflow run artifacts are not changed"


def champions(settings: Settings, datasets: list[str]) -> dict[str, list[str]]:
    """The datasets' champions now (``demo-churn v3``), of each dataset that has any."""
    from lifecycle.registry import champion_versions, model_name, reader

    source = reader(settings, mirrored=True)
    named = {
        name: [f"{model_name(name, t)} v{v}" for t, v in champion_versions(source, name).items()]
        for name in datasets
    }
    return {name: models for name, models in named.items() if models}


def retrain(settings: Settings, datasets: list[str]) -> str:
    """How the champions of ``datasets`` are trained again and replaced, by kind of model."""
    from lifecycle.dataset_kind import dataset_kind

    snapshots = [name for name in datasets if dataset_kind(settings, name) == "snapshot"]
    events = [name for name in datasets if name not in snapshots]
    ways = []
    if events:
        name = events[0] if len(events) == 1 else "NAME"
        ways.append(
            f"retrain with `lifecycle train TASK --dataset {name}`, then `lifecycle promote "
            f"TASK VERSION --dataset {name} --force --reason erasure`"
        )
    if snapshots:
        name = snapshots[0] if len(snapshots) == 1 else "NAME"
        ways.append(
            f"{'for a snapshot dataset, ' if events else ''}retrain with `lifecycle "
            f"train-snapshot --dataset {name}`, then `lifecycle promote churn VERSION --dataset "
            f"{name} --force --reason erasure`"
        )
    return "; ".join(ways) + ": the gate keeps a champion that the retrained model does not beat"


def not_changed(
    settings: Settings,
    held: list[str],
    certain: bool,
    earlier: tuple[Sequence[str], Collection[str]] = ((), ()),
) -> tuple[list[str], str]:
    """The champions that learned from the users (of the datasets that ``held`` them) and the
    line saying what replaces them; ``certain``: False when some user's rows were gone before
    this erasure (a killed one), so which dataset held them cannot be told. ``earlier``: the
    datasets searched and the champions an earlier erasure of the users named (``demo-churn
    v1``): those still serving are named too, since nothing of the users is left to find."""
    datasets, named_before = earlier
    others = [name for name in datasets if name not in held] if named_before else []
    try:
        learned = champions(settings, [*held, *others]) if held or others else {}
    except Exception as error:  # the erasure is done: naming the models must not stop its log
        named = [f"(the registry could not be read: {str(error).splitlines()[0]})"]
        return named, f"{UNCHANGED}; serving champions that learned from the users: {named[0]}"
    learned = {
        name: [m for m in models if name in held or m in named_before]
        for name, models in learned.items()
    }
    learned = {name: models for name, models in learned.items() if models}
    named = [model for models in learned.values() for model in models]
    if not named:
        return [], f"{UNCHANGED} (retrain to drop the users)"
    which = (
        "serving champions that learned from the users"
        if certain
        else "serving champions that may have learned from the users (rows of theirs were gone "
        "before this erasure, so which dataset held them cannot be told)"
    )
    return named, f"{UNCHANGED}; {which}: {', '.join(named)} ({retrain(settings, list(learned))})"
