"""The champions' test evaluations the report shows, read from MLflow: metrics, the plots
training logged, and what serves (LightGBM, a baseline rule that beat it, a label-free fit)."""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lifecycle.settings import Settings

logger = logging.getLogger("lifecycle.report")
EVALUATION_PLOTS = {  # MLflow artifact -> caption, in the order shown
    "gain.png": "gain and lift on the test cutoff",
    "calibration.png": "calibration on the test cutoff",
    "deciles.png": "actual vs predicted by decile on the test cutoff",
}


@dataclass
class ModelEvaluation:
    """A champion's test evaluation as logged by training."""

    task: str
    model: str
    version: str
    test_cutoff: str = ""  # the last; ``test_cutoffs``: all its run recorded, when read
    metrics: dict[str, float] = field(default_factory=dict)
    images: dict[str, bytes] = field(default_factory=dict)  # artifact file name -> PNG
    problem: str | None = None
    kind: str = ""  # "lightgbm", "baseline <rule>" or "label-free <kind>", as `models` says
    test_cutoffs: tuple[str, ...] = ()
    unserved: str = ""  # another model answers the task: none of its versions does
    served_where: str = ""  # 1 - churn answers it where churn scores, this version elsewhere

    def tested(self) -> str:
        """Its test window as `lifecycle models` says it (``test 2011-03-25..2011-04-15``);
        '' without a test cutoff (label-free, or unread)."""
        from training.promotion import tested_window

        return tested_window(self.test_cutoff, self.test_cutoffs) if self.test_cutoff else ""


def champion_evaluations(
    settings: Settings,
    dataset: str,
    versions: dict[str, str],
    kinds: dict[str, str] | None = None,
    labels: dict[str, Any] | None = None,
) -> list[ModelEvaluation]:
    """Test metrics and evaluation plots of these model versions, from MLflow: a label-free
    version says it has no outcome to test on, a baseline rule shows its test metrics, a
    version learned at a shorter horizon says which, and one whose scores are not served
    (``kinds``, the scores table's: conversion of one event is 1 - churn) says so, or where
    they are (``labels``, the table's: with churn's lookback, where churn scores no one)."""
    from lifecycle import registry
    from lifecycle.bridge import LEARNED_TAG
    from lifecycle.lineage import DEFINITION_TAG
    from serving.one_event import answers_nothing, none_answers, served_where
    from serving.scoring import answered_by

    answered = answered_by(versions, kinds or {})  # conversion as 1 - churn (one event)
    in_part = served_where(versions, kinds or {}, labels or {})  # and with a churn lookback

    client = registry.client(settings, fluent=False)  # the report may be drawn in a thread
    found = []
    for task, version in versions.items():
        name = registry.model_name(dataset, task)
        evaluation = ModelEvaluation(task, name, str(version))
        if task in answered:  # said even when the registry cannot be read
            evaluation.unserved = none_answers(task, answered[task])
        evaluation.served_where = in_part.get(task, "")
        try:
            model_version = client.get_model_version(name, str(version))
            tags = model_version.tags
            evaluation.test_cutoff = tags.get("test_cutoff", "")
            evaluation.kind = kind_words(tags.get("kind"), registry.is_label_free(model_version))
            if learned := tags.get(LEARNED_TAG):  # its test metrics are of that horizon
                served = json.loads(tags.get(DEFINITION_TAG, "{}")).get("horizon_days")
                evaluation.kind += f", learned at {learned} days, served on {served}"
            evaluation.metrics = {
                k.removeprefix("test."): float(v) for k, v in tags.items() if k.startswith("test.")
            }
            if evaluation.test_cutoff and model_version.run_id:  # first..last, as `models`
                params = client.get_run(model_version.run_id).data.params
                cutoffs = params.get("test_cutoffs") or ""
                evaluation.test_cutoffs = tuple(filter(None, cutoffs.split(",")))
            if registry.is_label_free(model_version):
                kind = tags.get("kind", "label-free")
                evaluation.problem = f"label-free ({kind}): no outcome to test on"
            elif any(a.path == "evaluation" for a in client.list_artifacts(model_version.run_id)):
                _read_plots(client.tracking_uri, model_version.run_id, evaluation)
            elif not evaluation.metrics:  # a baseline rule has its test metrics, no plots
                evaluation.problem = f"{name} v{version} recorded no test evaluation"
            if task in answered:  # its verdict and what serves, as `lifecycle models` says
                verdict = tags.get("promotion") or tags.get(registry.GATE_TAG)
                evaluation.problem = "; ".join(
                    filter(None, (verdict, answers_nothing(task, answered[task])))
                )
        except Exception as error:  # the report still renders, and says what is missing
            logger.warning("evaluation of %s v%s unreadable: %s", name, version, error)
            evaluation.problem = (
                f"evaluation of {name} v{version} unavailable: the registry could not be read "
                "(see the log with --verbose)"
            )
        found.append(evaluation)
    return found


def kind_words(kind: str | None, label_free: bool) -> str:
    """What serves: LightGBM (no kind tag, or ``lightgbm+<rule>`` for a value blended with a
    rule's), a baseline rule that beat it, or a label-free fit."""
    if kind is None or kind.startswith("lightgbm"):
        return kind or "lightgbm"
    return f"{'label-free' if label_free else 'baseline'} {kind}"


def _read_plots(tracking_uri: str, run_id: str, evaluation: ModelEvaluation) -> None:
    """The evaluation plots training logged with the run."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        local = Path(
            mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path="evaluation", dst_path=tmp, tracking_uri=tracking_uri
            )
        )
        for filename in EVALUATION_PLOTS:
            if (local / filename).is_file():
                evaluation.images[filename] = (local / filename).read_bytes()
