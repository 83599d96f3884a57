"""The answer of ``/models``: each task's serving champion, the uplift model, and what the
worker still does after loading (the request and scoring shapes are in
:mod:`serving.schemas`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from serving.schemas import AMOUNTS_DOC, AS_OF_DOC, CURRENCY_DOC, _Model


class ModelInfo(_Model):
    task: str = Field(description="the task the model predicts")
    model: str = Field(description="the registered model, <dataset>-<task>")
    version: str = Field(description="its registry version now serving")
    aliases: list[str] = Field(description="registry aliases on this version (champion, ...)")
    kind: str = Field(description="what serves the task, as model_kinds of /score says")
    answered_by: str | None = Field(
        None,
        description="what answers the task when not this version: '1 - churn vN' for "
        "conversion on a log of purchases (one event); this version answers nothing served "
        "meanwhile. null: this version answers",
    )
    unserved: str | None = Field(
        None,
        description="with answered_by, that none of the task's versions answers, in the words "
        "`lifecycle models` prints above them ('conversion is served as 1 - churn v3 (one "
        "event on a log of purchases): none of the conversion versions answers'): promoting "
        "another changes no served answer. null: this version answers",
    )
    served_where: str | None = Field(
        None,
        description="with labels.churn_lookback_days on a log of purchases, where 1 - churn "
        "answers the task and where this version does, in the words `lifecycle models` prints "
        "above its versions ('conversion is served as 1 - churn v1 where churn scores (...), "
        "else by conversion v4 (...)'). null: one model answers every user",
    )
    feature_service: str = Field(description="the Feast feature service it reads")
    features: int = Field(description="number of model inputs")
    label: dict[str, Any] = Field(description="its label definition (horizon_days, ...)")
    horizon_days: int | None = Field(
        None, description="the window its score looks ahead, in days (from label)"
    )
    training_window: dict[str, Any] = Field(description="the cutoff dates it learned from")
    learned_from: str | None = Field(
        None,
        description="what it learned from, in words: a served rule's or label-free model's "
        "users it was fitted on (training_window.trained_on is then the LightGBM refit's it "
        "was judged beside), else its training cutoffs and rows",
    )
    metrics: dict[str, float] = Field(
        description="headline test metrics (AUC, Brier, ... : probabilities 0-1; money errors "
        "in the dataset's currency); empty when answered_by names another model (they would "
        "not be of the answers)"
    )
    realized: dict[str, Any] = Field(
        default_factory=dict,
        description="the newest matured realized quality of this version (lifecycle outcomes; "
        "of a task answered by churn, that of the answers of the churn version answering "
        "now): metrics on what really happened, n, as_of and a grade (excellent, good, fair, "
        "poor); "
        "empty until one of its predictions has matured and `lifecycle outcomes` has run",
    )


class UpliftInfo(_Model):
    model: str = Field(description="the registered uplift model, <dataset>-uplift")
    version: str = Field(description="its registry version")
    learner: str = Field(description="t_learner, x_learner or transformed_outcome")
    outcome: str = Field(description="the campaign outcome whose change it predicts")
    treatment: dict[str, Any] = Field(description="the campaign treatment it learned from")
    training_window: dict[str, Any] = Field(description="the dates it learned from")
    metrics: dict[str, float] = Field(description="test Qini and AUUC with their intervals")
    population: str = Field(
        description="whom it answers for: users within the ranges of inputs the campaign's "
        "users had (others get a null uplift), or every user for a model trained before "
        "the population was recorded"
    )


class ModelsResponse(_Model):
    dataset: str = Field(description="the dataset the models serve")
    models: list[ModelInfo] = Field(description="one per task with a loaded champion")
    unavailable: dict[str, str] = Field(description="task (or uplift) -> why it cannot serve")
    loaded_at: str = Field(description="when the service loaded these models (UTC, ISO 8601)")
    as_of: str | None = Field(
        None, description=AS_OF_DOC + ": the newest the online store holds (materialized)"
    )
    currency: str | None = Field(None, description=CURRENCY_DOC)
    amounts: Literal["money", "purchases", "items"] = Field("money", description=AMOUNTS_DOC)
    uplift: UpliftInfo | None = Field(
        None, description="the dataset's uplift champion (lifecycle train-uplift), if any"
    )
    settling: list[str] = Field(
        default_factory=list,
        description="what the worker that answered still does in the background after loading "
        "(compiling trees, checking the champions' aliases against the registry); answers are "
        "the same meanwhile, some slower; empty once settled. Each worker answers for itself",
    )
    campaigns: list[dict[str, Any]] = Field(
        default_factory=list,
        description="every reported campaign of the dataset as `lifecycle campaign report` "
        "last measured it: targeted vs control per measure (retention, conversion, revenue) "
        "with a 95% interval, users and value saved; empty until a report has run",
    )
