"""One typed settings object, read from a TOML file and ``LIFECYCLE_*`` environment variables.

Precedence (last wins): defaults, the settings file, environment variables. The file is
``$LIFECYCLE_CONFIG`` if set, else ``$LIFECYCLE_HOME/lifecycle.toml`` when it exists.
An environment variable ``LIFECYCLE_<SECTION>__<FIELD>`` sets one field, e.g.
``LIFECYCLE_LABELS__CHURN_HORIZON_DAYS=60``. Nothing here runs at import time.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from lifecycle.errors import UserError
from lifecycle.workspace import Workspace

ENV_PREFIX = "LIFECYCLE_"
RETIRED_KEY_ENV = "LISTS_PSEUDONYM_KEY"  # the pseudonym key before privacy.pseudonym_key


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DemoSettings(_Section):
    users: int = Field(20_000, ge=10, description="users the demo generator creates")
    seed: int = 7
    start: str = "2023-01-01"
    days: int = Field(
        1095,
        ge=60,
        description="days of observed history (3 years: a 365-day LTV horizon matures twice)",
    )
    future_days: int = Field(365, ge=0, description="days simulated past the end for ground truth")


class IngestSettings(_Section):
    max_bad_fraction: float = Field(
        0.5, gt=0, le=1, description="above this share of bad rows a file is refused as wrong"
    )
    allow_negative_amounts: bool = False
    keep_repeats: bool = Field(
        False,
        description="keep exact repeat event rows as separate events (genuine same-moment "
        "purchases), counted as repeats_kept, instead of quarantining them as duplicate_row",
    )
    chunk_rows: int = Field(
        100_000,
        ge=1,
        description="rows read and checked at a time: memory follows this, not the file size",
    )
    memory_limit: str = Field(
        "256MB",
        pattern=r"^\d+(\.\d+)?\s*[KMGT]i?B$",
        description="DuckDB memory for the whole-table checks (repeats, ordering); beyond it "
        "they spill to disk",
    )


class LabelSettings(_Section):
    churn_lookback_days: int | None = Field(
        None,
        ge=1,
        description="churn is defined for users active in this many days up to the cutoff; "
        "unset (the default): for every known user, lapsed ones included (win-back)",
    )
    churn_horizon_days: int = Field(90, ge=1)
    conversion_horizon_days: int = Field(90, ge=1)
    conversion_target: str = Field(
        "auto",
        pattern="^(auto|first_purchase|repeat_purchase)$",
        description="auto: first_purchase for sign-up data (sign-up events or times), "
        "repeat_purchase (one-time to repeat buyer) for a purchase-only log",
    )
    ltv_horizon_days: int = Field(365, ge=1)


class FeatureSettings(_Section):
    windows_days: list[int] = Field(default_factory=lambda: [7, 30, 90, 365])
    cutoff_frequency: str = Field(
        "7D",
        description="spacing of the feature table's cutoffs: a fixed length (pandas alias such "
        "as 7D) counts back from the scoring date, so the freshest matured cutoff is at most one "
        "step older than the horizon; a calendar alias (MS) uses calendar dates",
    )

    @field_validator("cutoff_frequency")
    @classmethod
    def _known_frequency(cls, value: str) -> str:
        import pandas as pd

        try:
            offset = pd.tseries.frequencies.to_offset(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a pandas frequency (e.g. 7D, 14D, MS)") from None
        if offset is None or pd.Timestamp("2024-01-01") + offset <= pd.Timestamp("2024-01-01"):
            raise ValueError(f"{value!r} is not a positive frequency")
        return value


class FeastSettings(_Section):
    online_store: str = Field("sqlite", pattern="^(sqlite|sqlite-feast|redis)$")
    offline_store: str = Field(
        "duckdb-asof",
        pattern="^(duckdb-asof|duckdb)$",
        description="duckdb-asof: point-in-time joins as DuckDB ASOF joins; duckdb: Feast's own",
    )
    redis_connection: str = "127.0.0.1:6379"
    ttl_days: int = Field(45, ge=1, description="how old a feature row may be at a point in time")
    typechecks: bool = (
        False  # Feast's runtime type checks (slow import); read by features.store.load_feast
    )


class TrainingSettings(_Section):
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


class ServingSettings(_Section):
    max_users_per_request: int = Field(
        1000, ge=1, description="user ids one score call may ask for"
    )
    max_request_bytes: int = Field(2_000_000, ge=1024, description="larger request bodies get 413")
    poll_aliases_seconds: float = Field(
        0,
        ge=0,
        description="re-read champion aliases this often and reload on a change (0: only on /reload)",
    )
    batch_engine: str = Field(
        "local", pattern="^(local|dask)$", description="dask: score batches as partitioned work"
    )
    auth: str = Field(
        "auto",
        pattern="^(auto|on|off)$",
        description="API token auth: on, off, or auto (on unless `lifecycle serve` binds to a "
        "loopback address)",
    )
    bind_host: str | None = Field(
        None,
        description="an address the server is reachable on, for auth = auto besides the "
        "listening socket it finds itself (e.g. set by a launcher or behind a port forward)",
    )
    api_tokens_file: Path | None = Field(
        None,
        description="file with one API token per line; an `admin:` prefix makes it an admin "
        "token (allowed /reload); blank lines and # comments are skipped",
    )
    # Secrets: set them only through LIFECYCLE_SERVING__API_TOKEN / __ADMIN_TOKEN (or the
    # tokens file); SecretStr keeps them out of `lifecycle settings`, reprs and logs.
    api_token: SecretStr | None = Field(None, description="an API token (from the environment)")
    admin_token: SecretStr | None = Field(
        None, description="an admin API token (from the environment)"
    )

    @field_validator("api_token", "admin_token", mode="before")
    @classmethod
    def _token_as_text(cls, value: Any) -> Any:
        # environment values are parsed as TOML scalars: a numeric-looking token is text here
        return str(value) if isinstance(value, int | float) else value


class PrivacySettings(_Section):
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


class DaskSettings(_Section):
    """The Dask cluster of ``training.engine = "dask"`` and ``serving.batch_engine = "dask"``."""

    scheduler: str = Field(
        "local:2", description="scheduler address (tcp://host:8786) or local:N for a LocalCluster"
    )
    threads_per_worker: int = Field(1, ge=1, description="threads of each local:N worker")
    partition_rows: int = Field(100_000, ge=1, description="largest partition batch scoring makes")
    rounds_per_chunk: int = Field(
        50, ge=1, description="boosting rounds per Dask fit between early-stopping checks"
    )
    connect_timeout_seconds: float = Field(30, gt=0)


class TrackingSettings(_Section):
    uri: str | None = None  # None: a local SQLite store under the workspace


class Settings(_Section):
    home: Path = Path("workspace")
    dataset: str = "demo"  # the ingested dataset the pipeline works on
    data_root: Path = Path("../shared/data")  # where `lifecycle import` finds the public data sets
    demo: DemoSettings = Field(default_factory=DemoSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    labels: LabelSettings = Field(default_factory=LabelSettings)
    features: FeatureSettings = Field(default_factory=FeatureSettings)
    feast: FeastSettings = Field(default_factory=FeastSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)
    dask: DaskSettings = Field(default_factory=DaskSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)

    @property
    def workspace(self) -> Workspace:
        return Workspace(self.home)


class SettingsError(UserError):
    """A settings file or variable that does not fit; the message says which and why."""


def load_settings(
    config: Path | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Read settings: defaults < file < environment < explicit ``overrides``."""
    env = os.environ if environ is None else environ
    home = Path(overrides.get("home") or env.get(f"{ENV_PREFIX}HOME") or "workspace")
    path = config or (Path(env[f"{ENV_PREFIX}CONFIG"]) if env.get(f"{ENV_PREFIX}CONFIG") else None)
    if path is None and (home / "lifecycle.toml").is_file():
        path = home / "lifecycle.toml"

    values: dict[str, Any] = {}
    if path is not None:
        if not path.is_file():
            raise SettingsError(f"settings file {path} does not exist")
        try:
            values = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as error:
            raise SettingsError(f"settings file {path}: {error}") from error

    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name in (f"{ENV_PREFIX}CONFIG",):
            continue
        key = name[len(ENV_PREFIX) :].lower()
        section, _, field_name = key.partition("__")
        if field_name:
            values.setdefault(section, {})[field_name] = _parse_env_value(value)
        else:
            values[section] = value

    for key, value in overrides.items():
        if value is not None:
            values[key] = value
    values.setdefault("home", home)
    if env.get(RETIRED_KEY_ENV) and not values.get("privacy"):
        # Silently ignoring it would change every pseudonym and erasure-log hash.
        raise SettingsError(
            f"${RETIRED_KEY_ENV} is no longer read: set {ENV_PREFIX}PRIVACY__PSEUDONYM_KEY "
            "(or privacy.pseudonym_key_file) to the same key, and unset the old variable"
        )

    try:
        return Settings.model_validate(values)
    except ValidationError as error:
        source = f"settings file {path} or " if path else ""
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise SettingsError(
            f"invalid settings (from {source}LIFECYCLE_* variables): {problems}"
        ) from None


def _parse_env_value(raw: str) -> Any:
    """Environment values are TOML scalars or arrays when they parse as such, else strings."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw
