"""How a dataset's files are written: the column maps, the event type of rows without one,
the form of times and amounts, their currency, the CSV separator and encoding (ingest's --map,
--event-type, --time-format, --date-order, --decimal-comma/--decimal-point, --currency,
--delimiter, --encoding and the users file's, --sheet, --users-sheet). Recorded with each batch `ingest` reads; an append (`ingest --append`,
`refresh FILE`) reads its file so, the options given on its command line over them.
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from features import contract as c

SHAPE = "file_shape"  # a batch's record of it (features.batches)


@dataclass(frozen=True)
class FileShape:
    """The options that describe how an events file (and its users file) is written; None,
    False or empty: not given (the default)."""

    columns: dict[str, str] = field(default_factory=dict)  # --map
    event_type: str | None = None  # --event-type
    time_format: str | None = None
    date_order: str | None = None  # None: auto
    decimal_comma: bool = False
    decimal_point: bool = False
    delimiter: str | None = None
    encoding: str | None = None  # None: utf-8
    users_columns: dict[str, str] = field(default_factory=dict)  # --users-map
    amount_unit: str | None = None  # --amount-unit (features.amount_units)
    users_delimiter: str | None = None
    users_encoding: str | None = None
    currency: str | None = None  # --currency (ISO 4217)
    sheet: str | None = None  # --sheet: of an Excel workbook of several
    users_sheet: str | None = None  # --users-sheet: of a users workbook of several

    @classmethod
    def of(
        cls,
        mapping: c.ColumnMapping,
        users_mapping: c.ColumnMapping | None,
        csv: Any,
        users_csv: Any,
    ) -> FileShape:
        """The shape an events file (and users file) was read with: what a batch records."""
        users_sheet = getattr(users_csv, "sheet", None)  # another workbook's: never --sheet
        users_csv = users_csv or csv
        return cls(
            columns=dict(mapping.columns),
            event_type=mapping.default_event_type,
            time_format=mapping.time_format,
            date_order=None if mapping.date_order == "auto" else mapping.date_order,
            decimal_comma=mapping.decimal_comma,
            decimal_point=mapping.decimal_point,
            delimiter=csv.delimiter if csv else None,
            encoding=_encoding(csv),
            users_columns=dict(users_mapping.columns) if users_mapping else {},
            users_delimiter=users_csv.delimiter if users_csv else None,
            users_encoding=_encoding(users_csv),
            amount_unit=mapping.amount_unit,
            currency=mapping.currency,
            sheet=getattr(csv, "sheet", None),
            users_sheet=users_sheet,
        )

    @classmethod
    def from_dict(cls, recorded: dict[str, Any]) -> FileShape:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in recorded.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def over(self, recorded: FileShape) -> FileShape:
        """This shape (the options given) over the one ``recorded``: a map of a column given
        replaces that column's, a decimal mark given both flags, any other option given its."""
        marks = ("decimal_comma", "decimal_point")
        given = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if getattr(self, f.name) and f.name not in marks
        }
        if self.decimal_comma or self.decimal_point:  # one decimal mark: the other goes
            given |= {name: getattr(self, name) for name in marks}
        given["columns"] = recorded.columns | self.columns
        given["users_columns"] = recorded.users_columns | self.users_columns
        return replace(recorded, **given)

    def options(self) -> list[str]:
        """This shape in the words of ingest's options (a value with spaces quoted)."""
        said = [_option("--map", f"{k}={v}") for k, v in self.columns.items()]
        said += [_option("--users-map", f"{k}={v}") for k, v in self.users_columns.items()]
        for name, value in asdict(self).items():
            if name in ("columns", "users_columns") or not value:
                continue
            option = "--" + name.replace("_", "-")
            said.append(option if value is True else _option(option, _named(value)))
        return said

    def differences(self, recorded: FileShape) -> list[str]:
        """The options of this shape (given) that differ from those ``recorded``."""
        held = set(recorded.options())
        return [option for option in self.options() if option not in held]

    def mappings(
        self, users_recorded: tuple[str, ...] = (), **options: Any
    ) -> tuple[c.ColumnMapping, c.ColumnMapping, Any, Any]:
        """The events and users ``ColumnMapping`` and ``CsvFormat`` this shape reads with;
        ``options``: the events mapping's others (timezone, event_types, ...), the zone the
        users file's too; ``users_recorded``: the users maps taken from the dataset's record."""
        from features.csv_format import CsvFormat

        times = {"time_format": self.time_format, "date_order": self.date_order or "auto"}
        zone = {"timezone": options["timezone"]} if "timezone" in options else {}
        events = c.ColumnMapping(
            columns=dict(self.columns),
            default_event_type=self.event_type,
            decimal_comma=self.decimal_comma,
            decimal_point=self.decimal_point,
            amount_unit=self.amount_unit,
            currency=self.currency,
            **times,
            **options,
        )
        users = c.ColumnMapping(
            columns=dict(self.users_columns), recorded_columns=users_recorded, **times, **zone
        )
        csv = CsvFormat.given(self.delimiter, self.encoding, sheet=self.sheet)
        users_csv = CsvFormat.given(
            self.users_delimiter or self.delimiter,
            self.users_encoding or self.encoding,
            "users-",
            self.users_sheet,
        )
        return events, users, csv, users_csv


def dataset_shape(report: dict[str, Any] | None) -> FileShape | None:
    """The shape the dataset's last file read by `ingest` was written in (None: none recorded,
    e.g. an imported dataset or one ingested before shapes were recorded)."""
    from features.batches import batches

    for batch in reversed(batches(report)):
        if SHAPE in batch:
            return FileShape.from_dict(batch[SHAPE])
    return None


def differences_line(given: FileShape, recorded: FileShape, dataset: str) -> str | None:
    """The one line that says an append reads its file with options other than those the
    dataset recorded (None: it reads as recorded)."""
    other = given.differences(recorded)
    if not other:
        return None
    held = " ".join(recorded.options()) or "no such options"
    return (
        f"this file is read with {' '.join(other)}; dataset '{dataset}' recorded {held} "
        "(the options not given are read as recorded)"
    )


def _encoding(csv: Any) -> str | None:
    encoding = getattr(csv, "encoding", None)
    return None if encoding in (None, "utf-8") else encoding


def _named(value: Any) -> str:
    return "tab" if value == "\t" else str(value)


def _option(option: str, value: str) -> str:
    return f"{option} {shlex.quote(value)}"
