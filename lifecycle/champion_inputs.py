"""The features each champion reads, and the refusal of a feature table or Feast repository
that would no longer hold them: every champion stopped serving at once after
``features.windows_days`` changed, and the server's 503 asked to materialize, which could
not help."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from lifecycle.errors import UserError

if TYPE_CHECKING:
    from lifecycle.bundle import ModelBundle
    from lifecycle.settings import Settings

# The data window's record of the features LightGBM was kept from learning
# (training.datasets.unlearned): {"features", "longest_history_days", "now_days"}.
LEFT_OUT = "left_out"
WORDS_ONLY_WHY = "not learned from: read for the reasons' words only (features.asof.WORDS_ONLY)"


def learned_inputs(bundle: ModelBundle) -> tuple[list[str], dict[str, str]]:
    """The features a champion's scores move with, and why each other one of its
    ``feature_names`` does not: what drift judges (`lifecycle monitor`, /metrics, the
    report). It still reads them all (``encode``), but trees kept from a feature never split
    on it and a served rule reads its own few, so their drift cannot move a score."""
    from features.asof import words_only
    from lifecycle.btyd_features import PURCHASE_HISTORY
    from lifecycle.rules import RuleModel

    names = bundle.feature_names
    rule = bundle.booster if isinstance(bundle.booster, RuleModel) else None
    if rule is not None:  # the rule's inputs, and the purchase process's for p_alive
        process = PURCHASE_HISTORY if bundle.purchase_process else ()
        read = {*rule.inputs(), *process}
        why = f"the served {rule.kind} reads {', '.join(n for n in names if n in read)} only"
        return [n for n in names if n in read], {n: why for n in names if n not in read}
    left_out = bundle.data_window.get(LEFT_OUT) or {}
    blended = set(bundle.blend.inputs()) if bundle.blend is not None else set()
    unlearned = set(left_out.get("features", ())) - blended
    why = (
        "not learned from: no user had outlived its window at the training cutoffs "
        f"({left_out.get('longest_history_days', float('nan')):.0f} days at most), "
        "so it repeated the lifetime total there"
    )
    whys = {n: why for n in names if n in unlearned}
    whys |= {n: WORDS_ONLY_WHY for n in names if words_only(n)}  # features.asof.words_only
    return [n for n in names if n not in whys], whys


def champion_inputs(settings: Settings, dataset: str) -> dict[str, list[str]]:
    """``<model> vN`` -> the features each champion of ``dataset`` reads, from the aliases
    mirror and the bundles it names (empty without a mirror: nothing is loaded for it)."""
    from lifecycle import registry, tasks
    from lifecycle.bundle import BUNDLE_FILE

    source = registry.reader(settings, mirrored=True)
    if not isinstance(source, registry.MirroredRegistry):
        return {}
    found = {}
    for task in tasks.names():
        name = registry.model_name(dataset, task)
        version = registry.aliases(source, name).get(registry.CHAMPION)
        folder = source.bundle(name, version) if version else None
        if folder is None or not (folder / BUNDLE_FILE).is_file():
            continue
        meta = json.loads((folder / BUNDLE_FILE).read_text())
        found[f"{name} v{version}"] = list(meta.get("feature_names", []))
    return found


def few(names: list[str], shown: int = 4) -> str:
    """The first ``shown`` of a champion's missing features, and how many more."""
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


def require_champion_inputs(
    settings: Settings, dataset: str, columns: Iterable[str], held: Iterable[str], step: str
) -> None:
    """Refuse ``step`` (``features build``, ``features apply``), whose new ``columns`` lack
    a feature a champion of ``dataset`` reads that the current ones (``held``) have, naming
    the champions, the features and the way on (``--drop-champion-inputs``); once dropped,
    a later step is not refused again (``features materialize`` applies too)."""
    have, had = set(columns), set(held)
    lost = {
        model: missing
        for model, inputs in champion_inputs(settings, dataset).items()
        if (missing := [name for name in inputs if name in had and name not in have])
    }
    if not lost:
        return
    said = "; ".join(f"{model} reads {few(missing)}" for model, missing in lost.items())
    made = "feature table" if step == "features build" else "Feast repository"
    raise UserError(
        f"{step}: the new {made} of '{dataset}' lacks what champions read ({said}), so "
        "serving them would stop; nothing is changed. A changed setting (features.windows_days "
        f"is {settings.features.windows_days}) or users table drops them: put it back, or run "
        "`lifecycle features build --drop-champion-inputs` and `lifecycle features apply "
        "--drop-champion-inputs`, then `lifecycle train all` and, for a task whose gate keeps "
        "the old champion, `lifecycle promote TASK challenger --force --reason ...` before "
        "serving again"
    )


def words_retrain(bundles: Mapping[str, ModelBundle], versions: Mapping[str, str]) -> str | None:
    """One line for champions trained before a words-only feature existed
    (``features.asof.WORDS_ONLY`` and, per window the champion reads, ``WORDS_ONLY_WINDOWS``):
    the task whose reasons are in words reads none of it, so its words stay those before it
    until a retrain; None when every such champion reads them. Their scores are unchanged: no
    model learns from them."""
    from features.asof import WORDS_ONLY, WORDS_ONLY_WINDOWS, window_of
    from lifecycle import tasks

    said = []
    for task, bundle in bundles.items():
        if not tasks.get(task).reasons:
            continue
        read = set(bundle.feature_names)
        days = sorted({w[1] for n in read if (w := window_of(n))})
        total = [n for n in WORDS_ONLY if n not in read]
        windows = [f"{k}_{d}d" for k in WORDS_ONLY_WINDOWS for d in days]
        windows = [n for n in windows if n not in read]
        if not total and not windows:
            continue
        what = []
        if total:
            what.append(
                "its reasons still say 'no purchase yet' of a user whose orders were all "
                "refunded in full"
            )
        if windows:
            what.append("its refund words of a window leave out the orders refunded in full in it")
        said.append(
            f"{task} v{versions.get(task, '?')} was trained before {', '.join(total + windows)} "
            f"(read for the reasons' words only): {'; '.join(what)}; retrain it (`lifecycle "
            f"train {task}`, after `lifecycle features build`) for the new words"
        )
    return "; ".join(said) or None
