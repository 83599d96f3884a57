"""A list file read back (`campaign start --from-list`), as `lifecycle at-risk --out` wrote
it or as an operator saved it again from a spreadsheet."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features import contract as c
from features.spreadsheet_cells import spreadsheet_text
from lifecycle.errors import UserError
from lifecycle.words import word_for
from serving.campaigns import score_columns
from serving.list_export import CONTROL_SEED_COLUMN, LIST_FORMATS

# a spreadsheet saves CSV with ';' where the decimal mark is a comma (Excel in de, fr, ...)
OTHER_SEPARATORS = (";", "\t", "|")
JSON_SHAPE = (
    'expected {"rows": [{"user_id": ..., "control": ...}, ...]} as `lifecycle at-risk --out '
    "FILE.json` writes it, or an array of such rows"
)

# how a list's control column says held out, or targeted
TRUE_VALUES = {"true", "1", "yes", "y", "t", "c", "control"}
FALSE_VALUES = {"false", "0", "no", "n", "f", ""}


# d/m/y or m/d/y: how a spreadsheet in its locale writes back the ISO date a list was saved with
_NUMERIC_DATE = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{2}|\d{4})\b")


def _readings(written: str) -> tuple[str, str] | None:
    """The two ISO dates a numeric date that reads both ways stands for (01/09/2011: day
    first, then month first); None when it reads one way only."""
    numeric = _NUMERIC_DATE.match(written)
    if numeric is None or numeric[1] == numeric[2] or max(map(int, numeric.group(1, 2))) > 12:
        return None
    year = f"{'20' if len(numeric[3]) == 2 else ''}{numeric[3]}"
    first, second = (int(part) for part in numeric.group(1, 2))
    return f"{year}-{second:02d}-{first:02d}", f"{year}-{first:02d}-{second:02d}"


def list_date(written: str, path: Path) -> str:
    """The list's ``as_of`` as written; one that reads as two dates (01/09/2011: the 1st of
    September day first, the 9th of January month first, as Excel in the UK saves
    2011-09-01) is refused, naming both: it was read month first, a campaign's wrong date."""
    readings = _readings(written)
    if readings is None:
        return written
    raise UserError(
        f"{path}: column as_of: {written!r} reads as {readings[0]} day first "
        f"or {readings[1]} month first (a spreadsheet saved the list's date in "
        "its own format): give the list's date as --as-of YYYY-MM-DD"
    )


def campaign_dates(
    written: pd.Series | None, given: str | None, path: Path
) -> tuple[str | None, str | None]:
    """The campaign's as-of date and the date the list was scored at (its ``as_of`` column;
    None without one, or when it has several dates or one that reads two ways). ``--as-of``
    may be later than the list's date (a list sent days after it was scored is measured from
    the sending day); an earlier date is refused: its report would count as outcomes the
    events the list's scores had already seen. Of several dates the latest counts; of a date
    that reads two ways the later reading, unless ``--as-of`` is one of the readings."""
    dates = sorted(set(written.astype(str))) if written is not None else []
    if len(dates) > 1 and given is None:
        raise UserError(f"{path}: column as_of has {len(dates)} dates; expected one")
    if not dates:
        return given, None
    if given is None:
        return list_date(dates[0], path), None
    from features.dates import cutoff_date

    chosen = cutoff_date(given)
    today = pd.Timestamp.now(tz="UTC").normalize()
    if chosen > today + pd.Timedelta(days=1):  # a day's grace for the time zones
        raise UserError(
            f"--as-of {given} is after today ({today:%Y-%m-%d}): a campaign is recorded on or "
            "after the day it is sent; give the sending day"
        )
    latest, shown = None, ""
    for date in dates:
        readings = _readings(date)
        if readings is not None and chosen in {cutoff_date(day) for day in readings}:
            continue  # --as-of is the reading the operator gives
        day = cutoff_date(max(readings) if readings else date, f"{path}: column as_of")
        if latest is None or day > latest:
            latest, shown = day, date
    if latest is not None and chosen < latest:
        which = "the date" if len(dates) == 1 else "the latest date"
        read = f" ({shown!r} read the later way)" if _readings(shown) else ""
        raise UserError(
            f"--as-of {given} is before {latest:%Y-%m-%d}, {which} {path} was scored at "
            f"(column as_of{read}): its report would count as outcomes the events its scores "
            f"had already seen; give --as-of {latest:%Y-%m-%d} or the later day the list was "
            "sent, or leave it out"
        )
    if len(dates) > 1 or _readings(dates[0]):
        return given, None
    return given, f"{latest:%Y-%m-%d}"


def read_list_file(path: Path) -> pd.DataFrame:
    """A list by its suffix (any other suffix is read as CSV); user ids stay text."""
    fmt = LIST_FORMATS.get(path.suffix.lower(), "csv")
    if fmt == "parquet":
        return pd.read_parquet(path)
    if fmt == "json":
        return pd.DataFrame(_json_rows(path))
    if fmt == "xlsx":
        return pd.read_excel(
            path,
            sheet_name="list",
            dtype={c.USER_ID: str},
            keep_default_na=False,
            engine="openpyxl",
        )
    rows = pd.read_csv(path, sep=_separator(path), dtype={c.USER_ID: str}, keep_default_na=False)
    return spreadsheet_text(rows)  # a written CSV list quotes formula-like cells


def _separator(path: Path) -> str:
    """',' unless the header line holds none and one of :data:`OTHER_SEPARATORS`."""
    with path.open(encoding="utf-8", errors="replace") as text:
        header = text.readline()
    if "," in header:
        return ","
    return next((sep for sep in OTHER_SEPARATORS if sep in header), ",")


def _json_rows(path: Path) -> list[dict[str, Any]]:
    document = json.loads(path.read_text(encoding="utf-8-sig"))
    rows = document.get("rows") if isinstance(document, dict) else document
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ValueError(JSON_SHAPE)
    return rows


def _control_flags(values: pd.Series, source: str) -> np.ndarray:
    from serving.campaigns import CONTROL, CampaignError

    if pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=bool)
    text = values.astype("string").str.strip().str.lower().fillna("")
    bad = ~text.isin(TRUE_VALUES | FALSE_VALUES)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise CampaignError(
            f"{source}: column {CONTROL!r}, row {row + 1}: {values.iloc[row]!r} is not a flag "
            "(expected true/false, 1/0 or C/empty as `lifecycle at-risk` writes)"
        )
    return text.isin(TRUE_VALUES).to_numpy()


def read_list(path: Path) -> pd.DataFrame:
    """A campaign list (CSV, Parquet, JSON or Excel, as `lifecycle at-risk --out` writes
    them) as (user_id, control); clear errors for bad files."""
    from serving.campaigns import CONTROL, CampaignError

    if not path.is_file():
        from lifecycle.storage import not_a_file

        raise CampaignError(f"--from-list {path}: {not_a_file(path)}")
    try:
        frame = read_list_file(path)
    except Exception as error:  # any reader failure means a bad file to the user
        raise CampaignError(
            f"--from-list {path}: cannot be read as a list (CSV, Parquet, JSON or xlsx): {error}"
        ) from None
    missing = [col for col in (c.USER_ID, CONTROL) if col not in frame.columns]
    if missing:
        raise CampaignError(
            f"{path}: missing {word_for(len(missing), ('column', 'columns'))} "
            f"{', '.join(missing)}; expected a list exported by "
            "`lifecycle at-risk --out FILE` (user_id and control columns)"
        )
    if frame.empty:
        raise CampaignError(f"{path}: the list has no rows")
    ids = frame[c.USER_ID].astype("string")
    if ids.isna().any() or (ids.str.strip() == "").any():
        row = int(np.flatnonzero((ids.isna() | (ids.str.strip() == "")).to_numpy())[0])
        raise CampaignError(f"{path}: column user_id, row {row + 1}: empty user id")
    duplicated = ids.duplicated()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated.to_numpy())[0])
        raise CampaignError(
            f"{path}: column user_id, row {row + 1}: {ids.iloc[row]} is listed twice "
            "(expected each user once)"
        )
    out = pd.DataFrame(
        {c.USER_ID: ids.astype(str).to_numpy(), CONTROL: _control_flags(frame[CONTROL], str(path))}
    )
    if "as_of" in frame.columns:
        out["as_of"] = frame["as_of"].astype(str).to_numpy()
    if CONTROL_SEED_COLUMN in frame.columns:
        out[CONTROL_SEED_COLUMN] = frame[CONTROL_SEED_COLUMN].to_numpy()
    for column in score_columns(frame):  # the scores it was chosen by (list_own_scores)
        out[column] = pd.to_numeric(frame[column], errors="coerce").to_numpy()
    return out


def list_own_scores(settings: Any, table: Any, members: pd.DataFrame) -> tuple[Any, str | None]:
    """The scores table of ``table``'s date whose scores the list holds (its score columns:
    the scores it was chosen by), the newest such; a date scored again since (after a
    promotion) otherwise recorded the newest table's. None of them: ``table``, and a note of
    the difference. A list of pseudonyms is compared under the ids they stand for (with the
    key); one without score columns cannot tell its table: ``table``, and a note saying so
    when another table of that date was scored by other models."""
    from serving.batch import read_scores
    from serving.campaigns import under_real_ids
    from serving.scores_history import dataset_tables

    if table.path is None:  # scored in memory: no table of that date was kept
        return table, None
    dataset = table.metadata.get("dataset") or settings.dataset
    paths = [  # of that date by their metadata alone: each table is read only if compared
        p
        for _, of, p in dataset_tables(settings.workspace.scores_dir, dataset)
        if p != table.path and of == table.as_of[:10]
    ]
    if not score_columns(members):
        return table, _untold(table, paths)
    key = settings.privacy.key()
    known = pd.Index(table.frame[c.USER_ID].astype(str))
    members = under_real_ids(members, known, key[0] if key else None)
    differing = _differing(members, table)
    for path in reversed(paths):  # newest first; ``table`` is the newest of its date
        if differing is None:
            break
        other = read_scores(path)
        if _differing(members, other) is None:
            return other, None
    if differing is None:
        return table, None
    column, count, compared, gap = differing
    return table, (
        f"the list's {column} differs from the scores recorded (table {table.path.name}, "
        f"scored as of {table.as_of} by {_versions(table)}) for {count:,} of its {compared:,} "
        f"members (by up to {gap:.3f}): no scores table of {table.as_of} kept holds the "
        "scores the list was chosen by (that date was scored again since, e.g. after a "
        "promotion); the campaign records the table's"
    )


def _versions(table: Any) -> str:
    versions = table.metadata.get("model_versions") or {}
    return ", ".join(f"{task} v{version}" for task, version in versions.items()) or "unknown"


def _untold(table: Any, others: list[Path]) -> str | None:
    """A note for a list without score columns when another kept table of its date was
    scored by other models: which of them the list was drawn from cannot be told."""
    from serving.answers import scores_metadata

    versions = table.metadata.get("model_versions") or {}
    other = [p for p in others if (scores_metadata(p) or {}).get("model_versions") != versions]
    if not other:
        return None
    return (
        f"the list has no score columns (churn_probability, ltv, ...), so which of the "
        f"{len(other) + 1} scores tables of {table.as_of} scored by different models it was "
        f"drawn from cannot be told from the file; the campaign records the newest (table "
        f"{table.path.name}, by {_versions(table)}); if the list came from another, start it "
        "from the file `lifecycle at-risk --out` wrote, whose score columns tell its table"
    )


def _differing(members: pd.DataFrame, table: Any) -> tuple[str, int, int, float] | None:
    """The first score column in which the list's members differ from ``table``'s: (column,
    members differing, members compared, largest difference); None when none differs."""
    scores = table.frame.assign(**{c.USER_ID: table.frame[c.USER_ID].astype(str)})
    both = members.merge(scores, on=c.USER_ID, suffixes=("", "_table"))
    for column in score_columns(members):
        if f"{column}_table" not in both:
            continue
        listed, held = both[column].to_numpy(float), both[f"{column}_table"].to_numpy(float)
        same = np.isclose(listed, held, rtol=1e-6, atol=1e-9) | (np.isnan(listed) & np.isnan(held))
        if not same.all():
            gap = float(np.nanmax(np.abs(listed - held), initial=0.0))
            return column, int((~same).sum()), len(both), gap
    return None


def list_seed(members: pd.DataFrame) -> int | None:
    """The seed a list's control flags were drawn with (its ``control_seed`` column, one
    whole number); None for a list without one (written before it was, or by hand) or with
    several (lists joined)."""
    if CONTROL_SEED_COLUMN not in members:
        return None
    seeds = pd.to_numeric(members[CONTROL_SEED_COLUMN], errors="coerce")
    if seeds.isna().any() or seeds.nunique() != 1 or not float(seeds.iloc[0]).is_integer():
        return None
    return int(seeds.iloc[0])
