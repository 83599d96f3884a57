"""Value types of settings that need more than a bound: checked when settings load, so a
bad value is refused there, naming the setting, and never fails later in a pipeline."""

from __future__ import annotations

import re
from typing import Annotated, Any, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

MAX_DAYS = 3650  # ten years: the longest horizon, window or retention a setting may name
MIN_MEMORY_BYTES = 16 * 2**20  # DuckDB cannot run its whole-table checks in less
_UNITS = {"K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT])(i?)B")


def memory_bytes(size: str) -> int:
    """``256MB`` / ``1GiB`` as bytes (KB = 1000, KiB = 1024 bytes)."""
    found = _SIZE.fullmatch(size.strip())
    if found is None:
        raise ValueError(f"{size!r} is not a memory size; expected e.g. 256MB or 1GiB")
    number, unit, binary = found.groups()
    scale = 1024 ** ("KMGT".index(unit) + 1) if binary else _UNITS[unit]
    return int(float(number) * scale)


def _memory_size(size: str) -> str:
    if (given := memory_bytes(size)) < MIN_MEMORY_BYTES:  # 16MB is 16,000,000 bytes: too few
        raise ValueError(
            f"{size!r} ({given:,} bytes) is too little memory; expected at least 16MiB "
            f"({MIN_MEMORY_BYTES:,} bytes, e.g. 17MB)"
        )
    return size


def _frequency(value: str) -> str:
    """A pandas frequency of at least a day and at most a year (cutoffs are dates)."""
    import warnings

    import pandas as pd

    try:
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore", FutureWarning
            )  # a deprecated spelling: still refused below
            offset = pd.tseries.frequencies.to_offset(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a pandas frequency (e.g. 7D, 14D, MS)") from None
    start = pd.Timestamp("2024-01-01")
    if offset is None or start + offset <= start:
        raise ValueError(f"{value!r} is not a positive frequency")
    step = (start + offset) - start
    if step < pd.Timedelta(days=1) or step > pd.Timedelta(days=366):
        raise ValueError(f"{value!r} is {step}; expected a step of one day to one year (7D, MS)")
    return value


def _date(value: str) -> str:
    import datetime as dt

    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date; expected YYYY-MM-DD") from None
    return value


def _dataset_name(value: str) -> str:
    from lifecycle.workspace import check_dataset_name

    return check_dataset_name(value)


Days = Annotated[int, Field(ge=1, le=MAX_DAYS)]
# the feature windows as the feature table has them: [30, 7, 7] is [7, 30] (it was another
# setting to the lineage, so every feature table and model looked stale)
Windows = Annotated[list[Days], AfterValidator(lambda days: sorted(set(days)))]
MemorySize = Annotated[str, AfterValidator(_memory_size)]
Frequency = Annotated[str, AfterValidator(_frequency)]
IsoDate = Annotated[str, AfterValidator(_date)]
DatasetName = Annotated[str, AfterValidator(_dataset_name)]


class Section(BaseModel):
    """A settings section: unknown fields refused, assignments validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_flag_for_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        """true/false where a number is due: pydantic reads true as 1, so
        ``churn_horizon_days = true`` was a horizon of one day, not a refusal."""
        types = _types(cls.model_fields[info.field_name].annotation) if info.field_name else set()
        flags = value if isinstance(value, list | tuple) else [value]
        if types & {int, float} and bool not in types and any(isinstance(v, bool) for v in flags):
            raise ValueError("expected a number, not true or false")
        return value


def _types(annotation: Any) -> set[Any]:
    """Every type an annotation names (``list[Days] | None``: list, int, NoneType)."""
    return {annotation, *(t for arg in get_args(annotation) for t in _types(arg))}
