"""Settings sections of the Dask engine, the prediction ledger and the drift monitor (the
rest are in :mod:`lifecycle.settings`, which assembles them all)."""

from __future__ import annotations

from pydantic import Field

from lifecycle.setting_types import Days, Section


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
