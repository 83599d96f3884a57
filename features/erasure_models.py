"""What ``lifecycle forget`` cannot change: the trained models. The serving champions of the
datasets whose rows held an erased user learned from them (another dataset's never saw the
users); they are named with the way to replace them for their kind of model: ``train`` for
an events dataset, ``train-snapshot`` for a snapshot, then a promotion by hand, since the
gate keeps a champion that the retrained model does not beat.

A re-run of ``forget`` (nothing of the users left to find) names the champions an earlier
erasure of them named, and any champion since registered before that erasure removed its
dataset's rows: a version trained before it and promoted after learned from the users too."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lifecycle.settings import Settings

UNCHANGED = "trained models and MLflow run artifacts are not changed"


# the locations of a logged erasure's counts that are a dataset's rows (features.erasure)
_DATASET_ROWS = re.compile(r"(?:datasets|features)/([^ ]+)")


def champions(
    settings: Settings,
    datasets: list[str],
    erased_at: dict[str, str] | None = None,
    named: Collection[str] = (),
) -> dict[str, list[str]]:
    """The datasets' champions now (``demo-churn v3``), of each dataset that has any; of a
    dataset in ``erased_at`` (-> an erasure's time), only those registered before it, or
    ``named`` (by that erasure: its log's times are to the second)."""
    from lifecycle.registry import MirroredRegistry, champion_versions, model_name, reader

    source = reader(settings, mirrored=True)
    client = source.registry() if isinstance(source, MirroredRegistry) else source
    found: dict[str, list[str]] = {}
    for name in datasets:
        for task, version in champion_versions(source, name).items():
            model = f"{model_name(name, task)} v{version}"
            if name in (erased_at or {}) and model not in named:
                when = datetime.fromisoformat(erased_at[name]).timestamp() * 1000
                created = client.get_model_version(model_name(name, task), version)
                if created.creation_timestamp >= when:
                    continue  # trained on the data without the users
            found.setdefault(name, []).append(model)
    return found


def _erased_at(entries: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Dataset -> the time of the latest of the logged erasures ``entries`` that removed
    rows of it (its counts by location: ``datasets/shop``, ``features/shop``)."""
    found: dict[str, str] = {}
    for entry in entries:
        for location, rows in entry.get("removed", {}).items():
            if rows and (held := _DATASET_ROWS.match(location)):
                found[held[1]] = max(found.get(held[1], ""), entry["timestamp"])
    return found


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
    unsure: str,
    earlier: tuple[Sequence[str], Sequence[dict[str, Any]]] = ((), ()),
) -> tuple[list[str], str]:
    """The champions that learned from the users (of the datasets that ``held`` them) and the
    line saying what replaces them; ``unsure``: why which dataset held the users cannot be
    told ("" when it can: a killed erasure removed rows of theirs already, a list of no known
    dataset held one; ``held`` is every dataset then). ``earlier``: the
    datasets searched and the logged erasures of users nothing is left of: the champions
    they named (``demo-churn v1``), while still serving, and those registered before one
    of them removed their dataset's rows are named too."""
    datasets, entries = earlier
    named_before = {m for e in entries for m in e.get("champions_trained_with_users", [])}
    erased_at = {name: at for name, at in _erased_at(entries).items() if name not in held}
    others = [n for n in datasets if n not in held and (named_before or n in erased_at)]
    try:
        searched = [*held, *others]
        learned = champions(settings, searched, erased_at, named_before) if searched else {}
    except Exception as error:  # the erasure is done: naming the models must not stop its log
        named = [f"(the registry could not be read: {str(error).splitlines()[0]})"]
        return named, f"{UNCHANGED}; serving champions that learned from the users: {named[0]}"
    learned = {
        name: [m for m in models if name in held or name in erased_at or m in named_before]
        for name, models in learned.items()
    }
    learned = {name: models for name, models in learned.items() if models}
    named = [model for models in learned.values() for model in models]
    if not named:
        return [], f"{UNCHANGED} (retrain to drop the users)"
    which = (
        f"serving champions that may have learned from the users ({unsure}, so which "
        "dataset held them cannot be told)"
        if unsure
        else "serving champions that learned from the users"
    )
    return named, f"{UNCHANGED}; {which}: {', '.join(named)} ({retrain(settings, list(learned))})"


def predates_erasure(settings: Settings, dataset: str, task: str, version: str) -> str | None:
    """One line when ``version`` of the dataset's ``task`` model was registered before a
    logged erasure removed rows of the dataset (it learned from the erased users), naming
    the erasure and the way on; None otherwise, or when the registry cannot be read. Never
    refuses: a rollback may be meant."""
    from features.erasure_log import log_entries
    from lifecycle.registry import client, model_name

    erased = sorted(
        entry["timestamp"]
        for entry in log_entries(settings.workspace.home)
        if dataset in _erased_at([entry])
    )
    if not erased:
        return None
    model = model_name(dataset, task)
    try:
        created = client(settings).get_model_version(model, version).creation_timestamp
    except Exception:  # the promotion is done: the warning is said only when it can be read
        return None
    after = [at for at in erased if created < datetime.fromisoformat(at).timestamp() * 1000]
    if not after:
        return None
    more = f" (and {len(after) - 1} later)" if len(after) > 1 else ""
    return (
        f"{model} v{version} was trained before the erasure of {after[0]}{more} (`lifecycle "
        f"forget`), so it learned from the erased users: {retrain(settings, [dataset])}"
    )
