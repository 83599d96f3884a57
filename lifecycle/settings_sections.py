"""Settings sections of the feature store (Feast), the demo generator, the Dask engine, the prediction ledger, the
drift monitor, privacy, tracking and training (the rest are in :mod:`lifecycle.settings`, which
assembles them all), and the error a setting that does not fit raises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import (
    Field,
    SecretStr,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from lifecycle.errors import UserError
from lifecycle.setting_types import MAX_DAYS, Days, IsoDate, Section


class SettingsError(UserError):
    """A settings file or variable that does not fit; the message says which and why."""


class FeastSettings(Section):
    online_store: str = Field("sqlite", pattern="^(sqlite|sqlite-feast|redis)$")
    offline_store: str = Field(
        "duckdb-asof",
        pattern="^(duckdb-asof|duckdb)$",
        description="duckdb-asof: point-in-time joins as DuckDB ASOF joins; duckdb: Feast's own",
    )
    redis_connection: str = "127.0.0.1:6379"
    redis_timeout_seconds: float = Field(
        2.0,
        gt=0,
        description="how long a Redis connect or reply may take before the store is said to be "
        "unreachable (a 503, a one-line error); a command is tried twice, so at most twice this. "
        "Options of feast.redis_connection (socket_timeout=...) win",
    )
    ttl_days: Days = Field(45, description="how old a feature row may be at a point in time")
    typechecks: bool = Field(
        False,
        description="Feast's runtime type checks (typeguard; about 5 s more per process that "
        "imports Feast): on for debugging Feast itself. Read when a command first opens the store",
    )


class DemoSettings(Section):
    users: int = Field(20_000, ge=10, le=50_000_000, description="users the demo generator creates")
    seed: int = 7
    start: IsoDate = "2023-01-01"
    days: int = Field(
        1095,
        ge=60,
        le=MAX_DAYS,
        description="days of observed history (3 years: a 365-day LTV horizon matures twice)",
    )
    future_days: int = Field(
        365, ge=0, le=MAX_DAYS, description="days simulated past the end for ground truth"
    )
    campaigns: bool = Field(
        False,
        description="add randomized win-back campaigns with a known effect per user type "
        "(features.demo_campaigns); off by default: they change the demo's bytes",
    )


class DaskSettings(Section):
    """The Dask cluster of ``training.engine = "dask"`` and ``serving.batch_engine = "dask"``."""

    scheduler: str = Field(
        "local:2",
        pattern=r"^(local:[1-9]\d*|[a-z]+://\S+|[^\s:/]+:[1-9]\d*)$",
        description="scheduler address (tcp://host:8786) or local:N for a LocalCluster",
    )
    threads_per_worker: int = Field(1, ge=1, description="threads of each local:N worker")
    partition_rows: int = Field(100_000, ge=1, description="largest partition batch scoring makes")
    rounds_per_chunk: int = Field(
        50, ge=1, description="boosting rounds per Dask fit between early-stopping checks"
    )
    connect_timeout_seconds: float = Field(30, gt=0)
    network_timeout_minutes: int = Field(
        10,
        ge=1,
        description="how long a LightGBM worker waits on the others (its time_out): after one "
        "fails, the rest hold their cluster threads this long (LightGBM's default: 120)",
    )


class LedgerSettings(Section):
    """The prediction ledger every ``score-all`` appends to (``serving.ledger``)."""

    retention_days: Days = Field(
        730,
        description="as-of dates more than this many days older than the newest one in the "
        "ledger are dropped on append; keep it above the longest label horizon (LTV: 365) "
        "or their outcomes are never measured",
    )


class MonitorSettings(Section):
    """When `lifecycle monitor` reports drift and exits 3 (formulas in ``serving.drift``)."""

    psi_alert: float = Field(0.25, gt=0, description="PSI at or above this: drift")
    psi_warn: float = Field(0.1, gt=0, description="PSI at or above this: watch")
    p_value: float = Field(
        0.001, gt=0, lt=1, description="a two-sample test below this p-value is significant"
    )
    min_effect: float = Field(
        0.1,
        ge=0,
        le=1,
        description="a significant test flags drift only with KS D or Cramér's V at least this",
    )
    bins: int = Field(10, ge=2, le=100, description="PSI bins: the reference's quantiles")
    epsilon: float = Field(1e-4, gt=0, lt=0.01, description="the smallest share a PSI bin counts")
    reference_cutoffs: int = Field(
        6,
        ge=0,
        description="the champion's most recent training cutoffs its inputs are compared with "
        "(0: all of them; a growing product's first cutoffs, when every user was new, are "
        "unlike any later month)",
    )
    max_rows: int = Field(
        100_000,
        ge=1000,
        description="rows sampled (by a hash of user and cutoff) on each side of a comparison",
    )


class PrivacySettings(Section):
    """The key of keyed pseudonyms (HMAC-SHA256): ids in lists and reports exported with
    ``--pseudonymize``, and the hashed ids in the erasure log. Set one of the two: the key
    itself (``LIFECYCLE_PRIVACY__PSEUDONYM_KEY``) or a file holding it. It is a secret:
    ``SecretStr`` keeps it out of ``lifecycle settings``, reprs and logs."""

    pseudonym_key: SecretStr | None = Field(
        None, description="the pseudonym key (from the environment)"
    )
    pseudonym_key_file: Path | None = Field(
        None, description="a file whose first line is the pseudonym key (keep it mode 0600)"
    )
    # An id spelt like an erased user's (017850 after `forget 17850`) may be that person
    # again or another: held back as erased_user_spelling unless the operator lets them in
    load_erased_spellings: bool = Field(
        False,
        description="load rows whose user id is spelt like an erased user's (not the same id): "
        "set it for the ingest of a file whose such ids are other people",
    )

    @field_validator("pseudonym_key", mode="before")
    @classmethod
    def _key_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value

    @model_validator(mode="after")
    def _one_source(self) -> PrivacySettings:
        if self.pseudonym_key is not None and self.pseudonym_key_file is not None:
            raise ValueError("set pseudonym_key or pseudonym_key_file, not both")
        return self

    def key(self) -> tuple[bytes, str] | None:
        """The pseudonym key and the setting it came from; None when none is configured."""
        if self.pseudonym_key is not None:
            secret = self.pseudonym_key.get_secret_value()
            if not secret:
                raise SettingsError("privacy.pseudonym_key is set but empty")
            return secret.encode(), "privacy.pseudonym_key"
        if self.pseudonym_key_file is None:
            return None
        path = self.pseudonym_key_file
        try:
            lines = path.read_text().splitlines()
        except OSError as error:
            raise SettingsError(
                f"privacy.pseudonym_key_file {path} cannot be read: {error.strerror}"
            ) from None
        secret = lines[0].strip() if lines else ""
        if not secret:
            raise SettingsError(f"privacy.pseudonym_key_file {path}: the first line is empty")
        return secret.encode(), "privacy.pseudonym_key_file"


class TrackingSettings(Section):
    uri: str | None = None  # None: a local SQLite store under the workspace
    # MLflow's own defaults (7 retries, 120 s) waited minutes a call on a tracking server
    # that was down, while a refresh or /reload said nothing; trainings' writes get
    # ``write_retries`` (an outage of ~12 s mid-upload is carried through: 3 retries back off
    # 0, 4 and 8 s, MLflow's factor 2; 5 waited 62 s a request, and a train whose server
    # stopped mid-fit 3 min 5 s, as MLflow's own clean-up of a failed upload retried too).
    request_retries: int = Field(
        1, ge=0, le=10, description="retries of a registry read on a tracking server"
    )
    write_retries: int = Field(
        3, ge=0, le=10, description="retries of a training's writes to a tracking server"
    )
    request_timeout_seconds: int = Field(
        20, ge=1, description="seconds a tracking server may take to answer one request"
    )
    # A server that takes connections and never answers cost a training 92 s (4 tries of
    # 20 s and the backoff); asked first, it fails in these seconds, naming tracking.uri.
    answer_timeout_seconds: int = Field(
        5, ge=1, description="seconds a tracking server may take to answer GET /health first"
    )


class HyperParameters(Section):
    """LightGBM tuning values of one model, over its spec in ``training.model_specs.SPECS``.

    Names are LightGBM 4.7 parameters (``num_boost_round`` and ``early_stopping_rounds``: the
    boosting rounds and the early-stopping patience); unset ones keep the spec's value. The
    objective, metric, seed and thread count are not here: they belong to the task or follow
    from ``training.seed`` and the data size.
    """

    learning_rate: float | None = Field(None, gt=0)
    num_leaves: int | None = Field(None, ge=2, le=131_072)
    max_depth: int | None = Field(None, description="<= 0: no limit")
    min_data_in_leaf: int | None = Field(None, ge=0)
    min_sum_hessian_in_leaf: float | None = Field(None, ge=0)
    min_gain_to_split: float | None = Field(None, ge=0)
    feature_fraction: float | None = Field(None, gt=0, le=1)
    bagging_fraction: float | None = Field(None, gt=0, le=1)
    bagging_freq: int | None = Field(None, ge=0)
    lambda_l1: float | None = Field(None, ge=0)
    lambda_l2: float | None = Field(None, ge=0)
    path_smooth: float | None = Field(None, ge=0)
    max_bin: int | None = Field(None, ge=2)
    extra_trees: bool | None = None
    cat_smooth: float | None = Field(None, ge=0)
    cat_l2: float | None = Field(None, ge=0)
    max_cat_threshold: int | None = Field(None, ge=1)
    num_boost_round: int | None = Field(None, ge=1, description="most boosting rounds")
    early_stopping_rounds: int | None = Field(
        None, ge=1, description="rounds without improvement on validation before stopping"
    )

    @model_serializer(mode="wrap")
    def _only_set(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # `lifecycle settings` shows what was set, not a column of nulls
        return {name: value for name, value in handler(self).items() if value is not None}

    def values(self) -> dict[str, Any]:
        """The values that were set."""
        return self.model_dump()


class TrainingSettings(Section):
    seed: int = 7
    gate_metric: dict[str, str] = Field(
        default_factory=dict,
        description="per task, the test metric a challenger must beat the champion on (higher "
        "is better); unset: the task's own (lifecycle.tasks: auc, normalized_gini for LTV)",
    )
    min_improvement: float = Field(0.0, ge=0, description="how much better the challenger must be")
    min_rows: int = Field(200, ge=10, description="fewest training rows a model is fitted on")
    min_positives: int = Field(
        20, ge=1, description="fewest positives in each of train, valid and test"
    )
    engine: str = Field(
        "local", pattern="^(local|dask)$", description="local: in process; dask: lightgbm.dask"
    )
    max_cutoffs: int = Field(
        52,
        ge=3,
        description="most matured cutoffs a model learns from: beyond it older cutoffs are "
        "thinned (every k-th kept, counted from the freshest), which bounds rows and time",
    )
    max_rows: int = Field(
        120_000,
        ge=1000,
        description="most labelled rows a model learns from (the refit on every matured "
        "cutoff): past it the cutoffs are thinned further the same way",
    )
    tasks: list[str] | None = Field(
        None,
        min_length=1,
        description='the tasks `train all` and `refresh` train, e.g. ["churn", "ltv"] for a '
        "subscription where every customer pays (conversion left out: skipped in one line, no "
        "exit status 3 for it, served as not trained); unset: every task",
    )
    label_free_fallback: bool = Field(
        True,
        description="too few outcomes to learn from (no time split, or too few rows or "
        "positives in it) serves a model that needs none, fitted on the users of the latest "
        "cutoff: MBG/NBD P(no purchase in the horizon) for churn on a purchase log (of active "
        "days on a young log with sessions) and its P(a purchase) for one-time buyers' "
        "conversion, BG/NBD + Gamma-Gamma for LTV; false: refuse",
    )
    bridge_horizon: bool = Field(
        True,
        description="before that: churn and LTV learned at the longest horizon that splits "
        "(at least a third of the asked), put on the asked one by MBG/NBD (lifecycle.bridge)",
    )
    plots: bool = Field(
        True,
        description="draw the evaluation plots (PNG) of every training run and backtest "
        "cutoff; false: the same run, metrics and tables without them (their drawing is a "
        "good part of a small training's CPU)",
    )
    models: dict[str, HyperParameters] = Field(
        default_factory=dict,
        description="per model (churn, conversion, ltv, ltv_purchase, ltv_quantile): LightGBM "
        "values over its spec, e.g. [training.models.churn] learning_rate = 0.03",
    )
