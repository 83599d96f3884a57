"""What is said of a task the churn champion answers (``serving.scoring.answered_by``:
conversion served as 1 - churn on a log of purchases, one event): by `lifecycle models` and
/models, by training, by a promotion of either task (CLI and ``POST /promote``) and by a
list's units line; and of one it answers in part, where churn scores (a churn lookback:
:func:`served_in_part`). ``by`` is what answers, as ``answered_by`` names it: ``1 - churn vN``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

WHY = "one event on a log of purchases"


def served_as(task: str, by: str) -> str:
    """``conversion is served as 1 - churn v3 (one event on a log of purchases)``."""
    return f"{task} is served as {by} ({WHY})"


def in_window(served: str) -> str:
    """What a list's units line says after such a task's window (``served``:
    :func:`served_as` or :func:`served_in_part`): "conversion 51%" of a churned one-order
    customer did not say it meant any purchase (trial W)."""
    return f"on this log any purchase: {served}"


def served_in_part(task: str, by: str, own: str, lookback_days: int | None = None) -> str:
    """Said of a task 1 - churn answers where churn scores and its own champion elsewhere
    (``serving.scoring.in_part``: a churn lookback): where each answers, as `lifecycle
    models` says it above the task's versions, the report and /models in the champion's
    place and a list's units line. ``by``: ``1 - churn vN``; ``own``: ``vM``."""
    who = f"the users active in the {lookback_days} days up to the as-of; " if lookback_days else ""
    return (
        f"{task} is served as {by} where churn scores ({who}{WHY}), else by {task} {own} "
        "(the users churn's lookback leaves out)"
    )


def served_where(
    versions: Mapping[str, str], kinds: Mapping[str, str], labels: Mapping[str, Any]
) -> dict[str, str]:
    """Task -> :func:`served_in_part` of each task answered so (``kinds``, as the champions
    or a scores table name them; ``labels``: task -> label definition, churn's lookback)."""
    from serving.scoring import in_part

    churn = versions.get("churn")
    lookback = (labels.get("churn") or {}).get("lookback_days")
    return {
        task: served_in_part(task, f"1 - churn v{churn}", f"v{versions[task]}", lookback)
        for task, kind in kinds.items()
        if in_part(kind) and churn and task in versions
    }


def answers_nothing(task: str, by: str) -> str:
    """What is said of the champion of a task another model answers."""
    return f"answers nothing served: {served_as(task, by)}"


def none_answers(task: str, by: str, where: str = "") -> str:
    """Said of such a task by `lifecycle models` (above its versions, ``where`` " below"), the
    report and /models: its challengers, LightGBM's among them, were read as what would serve
    once promoted (the report and /models said only that the champion answers nothing)."""
    return f"{served_as(task, by)}: none of the {task} versions{where} answers"


def trained_for_nothing(task: str, by: str, version: str, made_champion: bool = True) -> str:
    """`train`'s line for such a task, after :func:`own_verdicts`, in place of its model's
    verdict and baseline lines: "promoted to champion" read as what is served. Not
    ``made_champion``: the version the gate kept back, said so (its champion stays)."""
    kept = "is kept" if made_champion else "is kept as challenger (its champion stays)"
    return (
        f"{task}: served as {by} on this log of purchases (one event: a {task} is a purchase "
        f"in the horizon, churn none); its model v{version} {kept} and answers nothing"
    )


def own_verdicts(result: Any) -> list[str]:
    """The gate's verdicts on such a task's new version and on the baseline registered in its
    place (a ``training.pipeline.TrainResult``), each as `lifecycle models` lists it under the
    version: why its own champion is the kind it is, which training otherwise kept to
    `models`; never "promoted to champion", read as what is served."""
    baseline = result.baseline
    # as churn's lines say a verdict the gate kept back (conversion's said the verdict alone)
    kept = "kept as challenger"
    if baseline is not None and not baseline.promoted:  # the rule took the alias
        kept = f"kept back (challenger is v{baseline.version}, the baseline below)"
    lines = [f"  v{result.version}: {_said(result.promoted, result.gate, kept)}"]
    if baseline is not None:
        said = _said(baseline.promoted, baseline.gate, "kept as challenger")
        lines.append(f"  baseline {baseline.kind} v{baseline.version}: {said}")
    return lines


def _said(promoted: bool, verdict: str, kept: str) -> str:
    """A promotion's verdict says itself; one kept back starts with how it was kept."""
    return verdict if promoted else f"{kept}: {verdict}"


def no_served_change(task: str, by: str) -> str:
    """Why promoting a version of such a task is moot, said before the gate's refusal."""
    return f"promoting it changes no served answer: {served_as(task, by)}"


def changes_with(task: str, by: str) -> str:
    """Said when churn's champion moves: the task's served answers follow it."""
    return f"{task}'s served answers change with it: {served_as(task, by)}"
