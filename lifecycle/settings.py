"""One typed settings object, read from a TOML file, ``LIFECYCLE_*`` environment variables and
command options by pydantic-settings.

Precedence (last wins): defaults, the settings file, environment variables, options. The file
is ``$LIFECYCLE_CONFIG`` if set, else ``$LIFECYCLE_HOME/lifecycle.toml`` when it exists. An
environment variable ``LIFECYCLE_<SECTION>__<FIELD>`` sets one field, e.g.
``LIFECYCLE_LABELS__CHURN_HORIZON_DAYS=60`` or, a level deeper,
``LIFECYCLE_TRAINING__MODELS__CHURN__LEARNING_RATE=0.03``. Nothing here runs at import time.
"""

from __future__ import annotations

import codecs
import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from lifecycle.setting_types import (
    DatasetName,
    Days,
    Frequency,
    MemorySize,
    Section,
    Windows,
)
from lifecycle.settings_sections import (
    DaskSettings,
    DemoSettings,
    FeastSettings,
    HyperParameters,
    LedgerSettings,
    MonitorSettings,
    PrivacySettings,
    SettingsError,
    TrackingSettings,
    TrainingSettings,
)
from lifecycle.workspace import Workspace

ENV_PREFIX = "LIFECYCLE_"
CONFIG_ENV = f"{ENV_PREFIX}CONFIG"  # the settings file, read before the others
RELOAD_URL_ENV = f"{ENV_PREFIX}RELOAD_URL"  # `lifecycle refresh --reload-url`
# variables of command options, not settings: set for one command (a systemd unit's
# Environment=), they must not make every other command refuse the settings
OPTION_VARIABLES = {name.removeprefix(ENV_PREFIX).lower() for name in (CONFIG_ENV, RELOAD_URL_ENV)}
RETIRED_KEY_ENV = "LISTS_PSEUDONYM_KEY"  # the pseudonym key before privacy.pseudonym_key


class IngestSettings(Section):
    max_bad_fraction: float = Field(
        0.5, gt=0, le=1, description="above this share of bad rows a file is refused as wrong"
    )
    allow_negative_amounts: bool = False
    keep_repeats: bool = Field(
        False,
        description="keep exact repeat event rows as separate events (genuine same-moment "
        "purchases), counted as repeats_kept, instead of quarantining them as duplicate_row",
    )
    max_amount_ratio: float = Field(
        100_000,
        ge=0,
        description="a purchase or refund amount more than this many times the file's median "
        "amount (an append's: the dataset's with the file's) is quarantined as absurd_amount "
        "(0: only amounts no number holds to the cent)",
    )
    max_amount_shift: float = Field(
        10,
        ge=0,
        description="an append whose median amount is more than this many times the dataset's, "
        "or less than its share (cents, another currency), is refused (0: not compared)",
    )
    chunk_rows: int = Field(
        100_000,
        ge=1,
        le=10_000_000,
        description="rows read and checked at a time: memory follows this, not the file size",
    )
    memory_limit: MemorySize = Field(
        "256MB",
        description="DuckDB memory for the whole-table checks (repeats, ordering); beyond it "
        "they spill to disk",
    )


class LabelSettings(Section):
    churn_lookback_days: Days | None = Field(
        None,
        description="churn is defined for users active in this many days up to the cutoff; "
        "unset (the default): for every known user, lapsed ones included (win-back)",
    )
    churn_horizon_days: Days = 90
    conversion_horizon_days: Days = 90
    conversion_target: str = Field(
        "auto",
        pattern="^(auto|first_purchase|repeat_purchase)$",
        description="auto: first_purchase for sign-up data (sign-up events or times), "
        "repeat_purchase (one-time to repeat buyer) for a purchase-only log",
    )
    ltv_horizon_days: Days = 365
    not_activity_types: list[str] = Field(
        default_factory=list,
        description="event types kept but not activity (besides refunds), e.g. "
        '["invoice.payment_failed"]: no recency, last activity, stage, churn label or activity '
        "feature counts them (features.event_types.not_activity)",
    )

    @field_validator("not_activity_types")
    @classmethod
    def _not_the_contracts(cls, names: list[str]) -> list[str]:
        from features import contract as c

        if taken := [name for name in names if name in c.KNOWN_EVENT_TYPES and name != c.REFUND]:
            raise ValueError(
                f"{', '.join(taken)} is a type the contract counts (a purchase, a session...); "
                "name the file's own types that are no activity, e.g. invoice.payment_failed"
            )
        return sorted(set(names))


# The windows the lifecycle stages read (serving.segments: reactivated is active in the last
# 30 days and in none of the 60 before): every feature table builds them.
STAGE_WINDOWS = (30, 90)


class FeatureSettings(Section):
    windows_days: Windows = Field(default_factory=lambda: [7, 30, 90, 365], min_length=1)
    cutoff_frequency: Frequency = Field(
        "7D",
        description="spacing of the feature table's cutoffs: a fixed length (pandas alias such "
        "as 7D) counts back from the scoring date, so the freshest matured cutoff is at most one "
        "step older than the horizon; a calendar alias (MS) uses calendar dates",
    )
    memory_limit: MemorySize = Field(
        "4GB",
        description="DuckDB memory for building the as-of feature table; beyond it its joins, "
        "aggregates and sort spill to a folder beside the table (without a limit DuckDB holds "
        "up to 80% of the machine's memory: 8.8 GB for 306,410 customers)",
    )
    allow_attributes: list[str] = Field(
        default_factory=list,
        description="users attributes to learn from although their name says they name, "
        "contact, locate or identify a person or are a protected characteristic (e.g. "
        '["gender"]); every model leaves those out by default (docs/privacy.md)',
    )
    exclude_attributes: list[str] = Field(
        default_factory=list,
        description="users attributes no model learns from, besides those left out by default",
    )

    @field_validator("windows_days")
    @classmethod
    def _stage_windows(cls, days: list[int]) -> list[int]:
        if missing := [d for d in STAGE_WINDOWS if d not in days]:
            raise ValueError(
                f"lacks {' and '.join(map(str, missing))}: the lifecycle stages read the active "
                f"days in the last {STAGE_WINDOWS[0]} and {STAGE_WINDOWS[1]} days (reactivated "
                f"users), so the windows must include both, e.g. {sorted({*days, *STAGE_WINDOWS})}"
            )
        return days


class ServingSettings(Section):
    max_users_per_request: int = Field(
        1000, ge=1, description="user ids one score call may ask for"
    )
    max_request_bytes: int = Field(2_000_000, ge=1024, description="larger request bodies get 413")
    poll_aliases_seconds: float | None = Field(
        None,
        ge=0,
        description="re-read champion aliases this often and reload on a change (0: only on "
        "/reload; unset: 5 with a tracking server, 0 with the local registry, whose aliases "
        "mirror every worker follows)",
    )
    compile_trees: bool = Field(
        True,
        description="compile the champions' trees to native code (lleaves), once per model "
        "version, cached in the workspace; false: LightGBM predicts",
    )
    compiled_versions_kept: int = Field(
        2,
        ge=0,
        description="compiled model versions kept per model besides its champion and "
        "challenger (the newest; older ones are deleted when training registers a model)",
    )
    batch_engine: str = Field(
        "local", pattern="^(local|dask)$", description="dask: score batches as partitioned work"
    )
    stale_scores: str = Field(
        "mark",
        pattern="^(mark|refuse)$",
        description="when the batch scores were not written by the served champions (other "
        "versions, label definitions or features): mark (/at_risk answers with `stale`, "
        "/readyz 200 with a warning) or refuse (/at_risk and /readyz 503 until score-all)",
    )
    high_risk: float = Field(
        0.5, gt=0, le=1, description="churn probability from which a user's risk band is high"
    )
    medium_risk: float = Field(
        0.2, ge=0, le=1, description="churn probability from which a user's risk band is medium"
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

    @model_validator(mode="after")
    def _bands_in_order(self) -> ServingSettings:
        if self.medium_risk >= self.high_risk:
            raise ValueError(
                f"serving.medium_risk ({self.medium_risk}) must be below serving.high_risk "
                f"({self.high_risk})"
            )
        return self

    @field_validator("api_token", "admin_token", mode="before")
    @classmethod
    def _token_as_text(cls, value: Any) -> Any:
        # environment values are parsed as TOML scalars: a numeric-looking token is text here
        return str(value) if isinstance(value, int | float) else value


class Settings(BaseSettings):
    """Every setting. ``Settings()`` reads the process environment and the settings file the
    same way :func:`load_settings` does (which also takes a given environment)."""

    model_config = SettingsConfigDict(
        extra="forbid",
        validate_assignment=True,
        validate_default=False,  # as for the sections: defaults are right by construction
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
    )

    home: Path = Path("workspace")
    dataset: DatasetName = "demo"  # the ingested dataset the pipeline works on
    task_modules: str = Field(
        "",
        description="comma-separated modules that declare tasks beyond churn, conversion and LTV "
        "(lifecycle.tasks.register); imported when settings load. The variable "
        "LIFECYCLE_TASK_MODULES=a,b is also read by the task registry itself, so a server or "
        "worker process knows the tasks before it reads its settings",
    )
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
    ledger: LedgerSettings = Field(default_factory=LedgerSettings)
    monitor: MonitorSettings = Field(default_factory=MonitorSettings)

    @property
    def workspace(self) -> Workspace:
        return Workspace(self.home)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """First wins: options, then ``LIFECYCLE_*`` variables, then the settings file (no
        dotenv or secrets directory)."""
        assert isinstance(init_settings, InitSettingsSource)
        return _sources(settings_cls, init_settings, os.environ, config=None)


def load_settings(
    config: Path | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Read settings: defaults < file < environment < explicit ``overrides`` (None: not given)."""
    env = os.environ if environ is None else environ
    options = {key: value for key, value in overrides.items() if value is not None}
    sources = _sources(Settings, InitSettingsSource(Settings, options), env, config)
    try:
        settings = Settings(_build_sources=(sources, options))
    except ValidationError as error:
        raise SettingsError(_invalid(error, sources, env)) from None
    key = settings.privacy
    if env.get(RETIRED_KEY_ENV) and key.pseudonym_key is None and key.pseudonym_key_file is None:
        # Silently ignoring it would change every pseudonym and erasure-log hash.
        raise SettingsError(
            f"${RETIRED_KEY_ENV} is no longer read: set {ENV_PREFIX}PRIVACY__PSEUDONYM_KEY "
            "(or privacy.pseudonym_key_file) to the same key, and unset the old variable"
        )
    from lifecycle import tasks

    tasks.load_modules(m.strip() for m in settings.task_modules.split(","))
    for key, named in (
        ("gate_metric", settings.training.gate_metric),
        ("tasks", settings.training.tasks or ()),
    ):
        if unknown := sorted(set(named) - set(tasks.names())):  # task modules may add tasks
            raise SettingsError(
                f"invalid settings: training.{key}: {', '.join(unknown)} is not a task; "
                f"expected one of {', '.join(tasks.names())}"
            )
    for task, metric in settings.training.gate_metric.items():
        allowed = tasks.GATE_METRICS[tasks.get(task).kind]
        if metric not in allowed:
            raise SettingsError(
                f"invalid settings: training.gate_metric.{task}: {metric!r} is not a metric the "
                f"{task} gate can compare (higher is better); expected one of {', '.join(allowed)}"
            )
    return settings


def settings_file(
    environ: Mapping[str, str], home: Path | str | None, config: Path | None = None
) -> Path | None:
    """The settings file: ``config``, else ``$LIFECYCLE_CONFIG``, else ``<home>/lifecycle.toml``
    when it exists (home: the option, else ``$LIFECYCLE_HOME``, else ./workspace)."""
    named = config or (Path(environ[CONFIG_ENV]) if environ.get(CONFIG_ENV) else None)
    if named is not None:
        if not named.is_file():
            from lifecycle.storage import not_a_file

            raise SettingsError(f"settings file {named}: {not_a_file(named)}")
        return named
    found = Path(home or environ.get(f"{ENV_PREFIX}HOME") or "workspace") / "lifecycle.toml"
    return found if found.is_file() else None


class _SettingsFile(TomlConfigSettingsSource):
    """The TOML settings file, or nothing; a file that does not parse is named in the error."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        self.path = path
        try:
            super().__init__(settings_cls, toml_file=path)
        except tomllib.TOMLDecodeError as error:
            raise SettingsError(f"settings file {path}: {error}") from None
        except UnicodeDecodeError as error:  # TOML is UTF-8: a file saved as UTF-16 or latin-1
            raise SettingsError(
                f"settings file {path}: not UTF-8 text (byte {error.start + 1:,}); TOML files "
                "are UTF-8: save it as UTF-8"
            ) from None
        except OSError as error:  # unreadable (permissions, a folder named so)
            raise SettingsError(f"settings file {path}: cannot be read: {error.strerror}") from None

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        # Notepad saves UTF-8 with a byte order mark, which TOML does not take: the error
        # was 'Invalid statement (at line 1, column 1)' on a line that looks right.
        text = file_path.read_bytes().removeprefix(codecs.BOM_UTF8).decode("utf-8")
        return tomllib.loads(text)


class _Environment(EnvSettingsSource):
    """``LIFECYCLE_*`` variables of ``environ``. Values are TOML values where they parse as one
    (``[14, 28]``, ``{churn = "auc"}``), else JSON or text, as before pydantic-settings. A
    variable that names no setting is kept, so that validation refuses it by name."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self.environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name.lower(): value for name, value in self.environ.items()}

    def decode_complex_value(self, field_name: str, field: FieldInfo | None, value: Any) -> Any:
        try:
            return tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            pass
        try:
            return super().decode_complex_value(field_name, field, value)
        except ValueError:  # neither TOML nor JSON: validation names the variable and the type
            return value

    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        prefix = self.env_prefix.lower()
        fields = self.settings_cls.model_fields
        for name, value in self.env_vars.items():
            key = name[len(prefix) :]
            if (
                name.startswith(prefix)
                and key not in OPTION_VARIABLES
                and key.split("__")[0] not in fields
            ):
                data[key] = value
        return data


def _sources(
    settings_cls: type[BaseSettings],
    options: InitSettingsSource,
    environ: Mapping[str, str],
    config: Path | None,
) -> tuple[PydanticBaseSettingsSource, ...]:
    path = settings_file(environ, options.init_kwargs.get("home"), config)
    return options, _Environment(settings_cls, environ), _SettingsFile(settings_cls, path)


def _invalid(
    error: ValidationError,
    sources: tuple[PydanticBaseSettingsSource, ...],
    environ: Mapping[str, str],
) -> str:
    """One line per problem: the setting, where its value came from, what was expected."""
    problems = []
    for problem in error.errors():
        loc = tuple(str(part) for part in problem["loc"])
        name = ".".join(loc)
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = "not a setting" + _hint(loc)
        problems.append(f"{name}{_origin(loc, sources, environ)}: {message}")
    return "invalid settings: " + "; ".join(problems)


def _origin(
    loc: tuple[str, ...],
    sources: tuple[PydanticBaseSettingsSource, ...],
    environ: Mapping[str, str],
) -> str:
    """`` (from <where>)`` for the source, highest precedence first, that set ``loc``."""
    for source in sources:
        value: Any = source()
        named = loc  # what a variable names: a list is one value, its items have no names
        for depth, part in enumerate(loc):
            if isinstance(value, list) and part.isdigit():  # an item of a list it set
                named = loc[:depth]
                value = value[int(part)] if int(part) < len(value) else _MISSING
            else:
                value = value.get(part, _MISSING) if isinstance(value, Mapping) else _MISSING
        if value is _MISSING:
            continue
        if isinstance(source, _SettingsFile):
            return f" (from settings file {source.path})"
        if isinstance(source, _Environment):
            variable = (ENV_PREFIX + "__".join(named)).upper()
            named = [name for name in environ if name.upper() == variable]
            return f" (from {named[0] if named else ENV_PREFIX + '* variables'})"
        return " (from the options)"
    return ""


_MISSING = object()


def _hint(loc: tuple[str, ...]) -> str:
    """Close names for an unknown key, and where hyperparameters go."""
    *parent, key = loc
    if parent == ["training"] and key in HyperParameters.model_fields:
        return (
            f"; hyperparameters are set per model: training.models.<model>.{key} "
            f"({ENV_PREFIX}TRAINING__MODELS__<MODEL>__{key.upper()})"
        )
    model: Any = Settings
    for part in parent:  # down the sections; a dict's key leads to its value type
        if get_origin(model) is dict:
            model = get_args(model)[1]
        elif (
            isinstance(model, type) and issubclass(model, BaseModel) and part in model.model_fields
        ):
            model = model.model_fields[part].annotation
        else:
            return ""
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return ""
    close = difflib.get_close_matches(key, list(model.model_fields), n=3)
    return f"; did you mean {' or '.join(close)}?" if close else ""
