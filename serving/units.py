"""What the numbers of a list or report are in: the currency of money columns and the window
each score looks ahead, read from the dataset and the scores table, never assumed.

The currency comes from the ``currency`` column of the dataset's events (the contract's
optional column, or one named so and left unmapped, 'Currency': the column ingest's
mixed-currency refusal reads, ``features.contract.currency_column``); the windows from the label each champion was trained on (the scores
table's ``labels``), else from the settings' horizons, worded by the task's ``meaning``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from features import contract as c
from features.basket_rows import counts_items
from lifecycle import tasks
from lifecycle.dataset_kind import read_report, require_whole_tables

if TYPE_CHECKING:
    from lifecycle.settings import Settings

# Score columns holding money (the tasks' value outputs are added to these).
MONEY_COLUMNS = ("value_at_risk", "expected_saved_value", "revenue", "monetary")
# What p_alive and expected_purchases hold: p_alive is no chance of buying soon (a customer
# who buys once a year is alive and still unlikely to buy in the next 90 days)
OUTLOOK = (
    "p_alive: probability the customer has not left for good (MBG/NBD), not of buying soon; "
    "expected_purchases: in the next {days} days"
)
# Columns of money spent to date: purchases counted in a log without amounts (Units.value_name).
REVENUE_COLUMNS = ("revenue", "revenue_total", "monetary")


@dataclass(frozen=True)
class Counted:
    """What a log without money counts (:func:`purchase_counts`): each purchase ``each``
    (``--amount-default N``: one row, one purchase), or, ``noun`` items, each item one
    (``--amount-unit count``, a basket's items). A value of its own, not a number: no
    conversion or arithmetic can drop the noun and word items as purchases unsaid."""

    each: float
    noun: Literal["purchases", "items"] = "purchases"

    def __post_init__(self) -> None:
        if self.noun not in ("purchases", "items"):
            raise ValueError(f"Counted.noun: 'purchases' or 'items', not {self.noun!r}")


def amount_text(value: float) -> str:
    """An amount as lists and the report show it: whole from 100 up, else with the digits a
    small value needs (a count-only log's value at risk of 0.06 purchases is not 0)."""
    digits = 0 if abs(value) >= 100 or value == 0 else 1 if abs(value) >= 1 else 2
    return f"{value:,.{digits}f}"


def counted_noun(purchase_counts: Counted | None) -> tuple[str, str]:
    """What a log without money counts, (plural, singular): its :class:`Counted` noun; a log
    with money (None) words no count, so purchases."""
    noun = purchase_counts.noun if purchase_counts is not None else "purchases"
    return noun, noun.removesuffix("s")


@dataclass(frozen=True)
class Units:
    currencies: tuple[str, ...] = ()  # ISO codes in the dataset's events; () when none recorded
    windows: dict[str, str] = field(default_factory=dict)  # task -> what its score predicts
    horizon_days: dict[str, int] = field(default_factory=dict)  # task -> window in days
    # A log without amounts (ingested with --amount-default N): what each purchase counts
    purchase_counts: Counted | None = None
    money: bool = True  # False: no column holds money (a snapshot's list)
    # the days the served expected_purchases are for (Champions.outlook_days, recorded with
    # the scores table); None: no purchase process served, or a table written before
    outlook_days: float | None = None
    # --amount-unit count: the file's column whose amounts count what was bought (items)
    counted_column: str | None = None

    @property
    def currency(self) -> str:
        """The money columns' currency as a reader needs it."""
        if not self.currencies and self.purchase_counts is not None:
            return f"none: amounts are {self.nouns} counted"
        if not self.currencies:
            return "no currency recorded (amounts as in the data)"
        if len(self.currencies) == 1:
            return self.currencies[0]
        return "mixed: " + ", ".join(self.currencies)

    @property
    def amounts(self) -> str:
        """What the money columns hold: a currency, or purchases counted."""
        if self.purchase_counts is None:
            return f"money in {self.currency}"
        if self.counted_column:
            return (
                f"amounts are items counted (the file's '{self.counted_column}', "
                "--amount-unit count), no money"
            )
        if self.nouns == "items":  # a log without amounts of several rows an order
            return (
                f"amounts are items counted (a log without amounts, one row per item: each row "
                f"{self.purchase_counts.each:g}, the rows of one user at one moment one order), "
                "no money"
            )
        return (
            f"amounts are purchases counted (a log without amounts: each purchase "
            f"{self.purchase_counts.each:g}), no money"
        )

    @property
    def counted(self) -> bool:
        """Whether amounts are purchases counted (a log without amounts), not money."""
        return self.purchase_counts is not None

    @property
    def nouns(self) -> str:
        """What a log without money counts: ``items`` (--amount-unit count) or ``purchases``."""
        return counted_noun(self.purchase_counts)[0]

    @property
    def amounts_are(self) -> str:
        """The API's word for what amount fields hold: ``money``, or ``purchases`` or
        ``items`` counted (:attr:`nouns`)."""
        return self.nouns if self.counted else "money"

    @property
    def unit_name(self) -> str:
        """What a money figure is in, for a header: the currency, ``purchases`` (or ``items``)
        in a log without amounts, empty when the data says neither."""
        if self.currencies:
            return self.currency
        return self.nouns if self.counted else ""

    def value_name(self, column: str) -> str:
        """A value column's name for a reader: revenue is ``purchases`` (or ``items``) in a
        log without amounts (``ltv`` and the others keep theirs: :attr:`amounts` says what
        they hold)."""
        return self.nouns if self.counted and column in REVENUE_COLUMNS else column

    def text(self) -> str:
        """One line: ``money in GBP; churn: probability of no activity in the next 90 days; ...``
        and what the purchase process's columns hold (over :attr:`outlook_days`)."""
        days = self.outlook_days
        outlook = [OUTLOOK.format(days=f"{days:g}")] if days else []
        amounts = [self.amounts] if self.money else []
        return "; ".join([*amounts, *self.windows.values(), *outlook])

    def to_dict(self) -> dict[str, Any]:
        return {
            "currency": self.currency if self.money else None,
            "amounts": self.amounts if self.money else None,
            "windows": self.windows,
            "horizon_days": self.horizon_days,
        }


def money_columns() -> tuple[str, ...]:
    """Every scores column that holds an amount of money."""
    value_outputs = (o for t in tasks.all_tasks() if not t.is_probability for o in t.outputs)
    return (*MONEY_COLUMNS, *(o for o in value_outputs if o != "purchase_probability"))


def dataset_currencies(events: Path) -> tuple[str, ...]:
    """The currencies (upper case) in an events file's currency column
    (:func:`features.contract.currency_column`): from the Parquet statistics when every row
    group has one value, else from the column itself. A dataset whose amounts are counted
    (:func:`purchase_counts`) has none: its amounts are no money, whatever a 'Currency'
    column of the file said (ingest says it ignored it)."""
    if not events.is_file():
        return ()
    return _currencies(events, purchase_counts(events.parent))


def _currencies(events: Path, counts: Counted | None) -> tuple[str, ...]:
    """:func:`dataset_currencies` of a dataset whose :func:`purchase_counts` are read."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if not events.is_file() or counts is not None:
        return ()
    require_whole_tables(events.parent)
    parquet = pq.ParquetFile(events)
    column_name = c.currency_column(parquet.schema_arrow.names)
    if column_name is None:
        return ()
    index = parquet.schema_arrow.get_field_index(column_name)
    found: set[str] = set()
    for group in range(parquet.metadata.num_row_groups):
        stats = parquet.metadata.row_group(group).column(index).statistics
        if stats is None or not stats.has_min_max:
            if stats is not None and stats.null_count == parquet.metadata.row_group(group).num_rows:
                continue  # a group of events without money
            found = set()
            break
        if stats.min != stats.max:
            found = set()
            break
        found.add(str(stats.min))
    else:
        return _codes(found)
    column = parquet.read(columns=[column_name]).column(0)
    return _codes(str(v) for v in pc.unique(column.drop_null()).to_pylist())


def _codes(values: Iterable[str]) -> tuple[str, ...]:
    """Currency codes as the mixed-currency refusal compares them: ' gbp' is GBP."""
    return tuple(sorted({v.strip().upper() for v in values} - {""}))


def purchase_counts(dataset_dir: Path) -> Counted | None:
    """What each purchase counts when the dataset's events file had no amount column
    (``lifecycle ingest --amount-default N``, recorded in its report), 1 when its amounts
    count what was bought (``--amount-unit count``: :func:`counted_column`); None otherwise.
    Read here rather than through ``features.dataset_summary.read_dataset_summary``, which
    counts the events table in DuckDB, that a scoring worker's start does not need.
    Items counted are a :class:`Counted` of items, so the words say items."""
    return _counts_in(read_report(dataset_dir))


def _counts_in(report: dict[str, Any] | None) -> Counted | None:
    """:func:`purchase_counts` of a dataset's read ``report.json``."""
    report = report or {}
    notes = report.get("tables", {}).get("events", {}).get("notes", {})
    if notes.get("amount_in_file") is False and notes.get("amount_default") is not None:
        # several rows an order: its rows are items of baskets (features.basket_rows)
        return Counted(
            float(notes["amount_default"]), "items" if counts_items(notes) else "purchases"
        )
    return Counted(1.0, "items") if counted_column(report) else None


def counted_column(report: dict[str, Any] | None) -> str | None:
    """The file's amount column of a dataset ingested with ``--amount-unit count`` (its
    amounts count what was bought, no money), as its last recorded file shape says; None
    otherwise."""
    from features.file_shape import dataset_shape
    from features.unit_words import COUNT

    shape = dataset_shape(report)
    if shape is None or shape.amount_unit != COUNT:
        return None
    return shape.columns.get(c.AMOUNT, c.AMOUNT)


def label_windows(labels: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Task -> the window its score looks ahead, in whole days, from its label definition
    (tasks whose label names none are left out)."""
    return {
        task: round(float(label["horizon_days"]))
        for task, label in labels.items()
        if label.get("horizon_days") is not None
    }


def score_windows(labels: dict[str, dict[str, Any]], settings: Settings) -> dict[str, int]:
    """Each task's window in whole days: the champion's label, else the settings' horizon."""
    known = label_windows(labels)
    return {
        task.name: known.get(task.name)
        or round(float(getattr(settings.labels, f"{task.name}_horizon_days", task.horizon_days)))
        for task in tasks.all_tasks()
    }


def window_text(task: tasks.Task, days: int) -> str:
    """``churn: probability of no activity in the next 90 days`` from the task's meaning."""
    unit = "day" if days == 1 else "days"
    return f"{task.name}: " + task.meaning.replace("in the horizon", f"in the next {days} {unit}")


def units_for(
    settings: Settings, metadata: dict[str, Any], scored: tuple[str, ...] | None = None
) -> Units:
    """The units of a scores table (its ``metadata``), for the tasks in ``scored`` (default:
    those its columns have, as given by the metadata's labels, else all)."""
    dataset = metadata.get("dataset") or settings.dataset
    report = read_report(settings.workspace.dataset_dir(dataset))  # read once for all three
    counts = _counts_in(report)
    currencies = _currencies(settings.workspace.events(dataset), counts)
    days = score_windows(metadata.get("labels", {}), settings)
    names = scored if scored is not None else tuple(metadata.get("labels") or days)
    known = {t.name: t for t in tasks.all_tasks()}
    chosen = [n for n in days if n in names and n in known]
    windows = {n: window_text(known[n], days[n]) for n in chosen}
    if kinds := metadata.get("model_kinds"):  # conversion as 1 - churn: says so (one_event)
        from serving.one_event import in_window, served_as, served_where
        from serving.scoring import answered_by

        versions = metadata.get("model_versions") or {}
        served = {t: served_as(t, by) for t, by in answered_by(versions, kinds).items()}
        served |= served_where(versions, kinds, metadata.get("labels") or {})  # in part
        for task, said in served.items():
            if task in windows:
                windows[task] += f", {in_window(said)}"
    return Units(
        currencies=currencies,
        windows=windows,
        horizon_days={n: days[n] for n in chosen},
        purchase_counts=counts,
        outlook_days=metadata.get("outlook_days"),
        counted_column=counted_column(report),
    )
