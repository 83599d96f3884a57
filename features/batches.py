"""A dataset's batches as its ``report.json`` records them, and how their files were read.

Each ingest, import or append records its batch; an append that is not told otherwise
reads its file as the dataset's were (the zone of times without an offset, the map of
event types, ``READ_OPTIONS``). These read a report already read (``read_report``), so a
command reads it once for all it asks of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from features import contract as c
from lifecycle.dataset_kind import read_report
from lifecycle.errors import UserError

Report = dict[str, Any] | None  # a dataset folder's report.json as read_report gives it

# How a dataset's files were read, recorded with each batch (``ingest_events``' read_as)
# and read by an append that is not told otherwise, so that a month appended by `refresh`
# is read as the first file was: repeats kept, a count-only log's amount, negative amounts.
READ_OPTIONS = ("keep_repeats", "amount_default", "negative_is_refund")

# An append's late events (older than the dataset's newest), recorded with its batch: how
# many and the earliest ({"rows": n, "first": ISO time}); a model judged on outcomes they
# reach was judged on others (lifecycle.late_events.late_since)
LATE_SPAN = "late_events_span"


def late_span_between(before: Path, after: Path) -> dict[str, Any]:
    """The late events an append added (``LATE_SPAN``; {} for none), derived from the events
    file ``before`` it and the one it made (``after``) where its batch recorded none
    (appended before it was): per time older than ``before``'s newest, the rows ``after``
    holds more. One column of each read."""
    import duckdb

    from lifecycle.sql import identifier, literal

    time = identifier(c.EVENT_TIME)
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        ((latest,),) = con.execute(
            f"SELECT max({time}) FROM read_parquet({literal(before)})"
        ).fetchall()
        if latest is None:
            return {}

        def per_time(events: Path) -> str:  # rows per moment before ``before``'s newest
            return (
                f"SELECT {time} AS moment, count(*) AS n FROM read_parquet({literal(events)}) "
                f"WHERE {time} < ? GROUP BY 1"
            )

        ((rows, first),) = con.execute(
            f"WITH a AS ({per_time(after)}), b AS ({per_time(before)}) "
            "SELECT coalesce(sum(a.n - coalesce(b.n, 0)), 0), min(a.moment) "
            "FROM a LEFT JOIN b USING (moment) WHERE a.n > coalesce(b.n, 0)",
            [latest, latest],
        ).fetchall()
    return {"rows": int(rows), "first": first.isoformat()} if rows else {}


def batches(report: Report) -> list[dict[str, Any]]:
    """The batches ``report`` records; one ingest, for a report from before batches were or
    of a first `lifecycle import`, with its events' rows without a user id (guest orders)."""
    from features.read_words import NO_USER_NOTE

    if report is None:
        return []
    if recorded := report.get("batches"):
        return recorded
    notes = report.get("tables", {}).get("events", {}).get("notes", {})
    guests = {NO_USER_NOTE: notes[NO_USER_NOTE]} if NO_USER_NOTE in notes else {}
    return [{"mode": "ingest", "created_at": report.get("created_at"), **guests}]


def previous_batches(old_dir: Path) -> list[dict[str, Any]]:
    """:func:`batches` of a dataset folder."""
    return batches(read_report(old_dir))


def dataset_timezone(report: Report) -> str | None:
    """The zone the dataset's last ingest or append read times without an offset in (an
    append reads its file in it unless told otherwise: read in another, a re-sent row is a
    new event hours away from itself). None when not recorded."""
    for batch in reversed(batches(report)):
        if batch.get("timezone"):
            return str(batch["timezone"])
    zone = (report or {}).get("timezone")  # an import's (an adapter's)
    return str(zone) if zone else None


def dataset_event_types(report: Report) -> dict[str, str]:
    """The map of the file's event types to the contract's that the dataset's files were read
    with (``ingest --map-type``): an append reads its file with it too. Empty when none."""
    for batch in reversed(batches(report)):
        if batch.get("event_types"):
            return {str(k): str(v) for k, v in batch["event_types"].items()}
    return {}


def read_as(
    mapping: Any,
    keep_repeats: bool,
    amount_default: float | None,
    shape: Any = None,
    not_activity_types: Any = (),
) -> dict[str, Any]:
    """How an events file was read, recorded with its batch (``mapping``: its
    ``ColumnMapping``): the zone of times without an offset, the map of the file's event
    types, ``READ_OPTIONS``, how the file is written (``shape``, a
    :class:`features.file_shape.FileShape`) and the types that were no activity then
    (``labels.not_activity_types``, which the summary says)."""
    from features.event_types import NOT_ACTIVITY_NOTE
    from features.file_shape import SHAPE

    return {
        SHAPE: shape.to_dict() if shape is not None else None,
        "timezone": mapping.timezone,
        "event_types": mapping.event_types,
        "keep_repeats": keep_repeats,
        "amount_default": amount_default,
        "negative_is_refund": mapping.negative_amount_is_refund,
        # recorded only when chosen: a dataset without it reports as before
        c.CASE_INSENSITIVE_IDS: mapping.case_insensitive_ids or None,
        NOT_ACTIVITY_NOTE: sorted(not_activity_types) or None,
    }


def case_insensitive_ids(report: Report) -> bool:
    """Whether the dataset holds its user ids folded (``ingest --case-insensitive-ids``,
    recorded with that ingest and each append since): appends fold their files' ids, and
    /score, `features show` and `forget` fold the id asked for."""
    held = batches(report)
    return bool(held and held[-1].get(c.CASE_INSENSITIVE_IDS))


def dataset_case_insensitive_ids(dataset_dir: Path) -> bool:
    """:func:`case_insensitive_ids` of a dataset folder (a lookup's: /score, `forget`); a
    damaged report is named as its version's file."""
    return case_insensitive_ids(read_report(dataset_dir.resolve()))


def appended_ids_case(report: Report, asked: bool, dataset: str) -> bool:
    """Whether an append folds its files' user ids: as the dataset's ingest chose. Asked
    (``asked``) of a dataset holding its ids as written, refused: the ids it holds change
    only by ingesting it again."""
    folded = case_insensitive_ids(report)
    if asked and not folded:
        raise UserError(
            f"--case-insensitive-ids: dataset '{dataset}' holds its user ids as its files wrote "
            "them (ingested without it), and an append cannot change the ids it holds: ingest "
            f"its events again with `lifecycle ingest FILE --dataset {dataset} "
            "--case-insensitive-ids --replace`, or append without the option"
        )
    return folded


def dataset_read_options(report: Report) -> dict[str, Any]:
    """The last recorded value of each of ``READ_OPTIONS`` (absent: never recorded); an
    import records its own beside its tables (``features.importing.write_dataset``)."""
    found: dict[str, Any] = {key: report[key] for key in READ_OPTIONS if key in (report or {})}
    for batch in batches(report):
        found.update({key: batch[key] for key in READ_OPTIONS if key in batch})
    return found


@dataclass(frozen=True)
class FileReading:
    """How an ingest reads its file: ``FileShape.mappings``' four and the event rules' options;
    ``note``: the line saying the shape options given other than those the dataset recorded."""

    mapping: Any
    users_mapping: Any
    csv: Any
    users_csv: Any
    keep_repeats: bool
    amount_default: float | None
    allow_negative_amounts: bool
    note: str | None = None


def file_reading(
    held: Report,
    dataset: str,
    defaults: Any,
    given: Any = None,
    *,
    timezone: str | None = None,
    event_types: dict[str, str] | None = None,
    negative_is_refund: bool = False,
    keep_repeats: bool | None = None,
    amount_default: float | None = None,
    allow_negative: bool = False,
) -> FileReading:
    """How an ingest into ``dataset`` reads its file, the one rule of `ingest` and of
    `refresh FILE`: the options given (``given``: a ``FileShape``), and for an append
    (``held``: the dataset's report; None: not one) as the dataset's files were read where
    not given: the zone (another refused: a row sent again would be a new event hours
    away), the map of event types (another refused), the shape (``FileShape.over``),
    ``READ_OPTIONS`` (negative amounts as refunds: given or recorded); else the settings'
    ingest section (``defaults``)."""
    from features.file_shape import FileShape, dataset_shape, differences_line

    zone = dataset_timezone(held)
    if timezone is None:
        timezone = zone or "UTC"
    elif zone and timezone.casefold() != zone.casefold():  # the same, said outright
        raise UserError(
            f"--timezone {timezone}: dataset '{dataset}' reads times without an offset in "
            f"{zone} (its last ingest); appended in another zone, a row sent again would be a "
            f"new event hours away from itself: drop --timezone (or give {zone})"
        )
    read_before = dataset_event_types(held)
    if (  # one meaning a type, in any case
        event_types
        and held is not None
        and c.folded_types(event_types) != c.folded_types(read_before)
    ):
        raise UserError(
            f"--map-type: dataset '{dataset}' reads the file's event types as "
            f"{type_map_words(read_before)}; an append reads its file so: drop --map-type"
        )
    read = dataset_read_options(held)
    recorded, given = dataset_shape(held), given or FileShape()
    held_unit = (recorded.amount_unit if recorded else None) or "major"
    if held is not None and given.amount_unit and given.amount_unit != held_unit:
        raise UserError(  # one unit per dataset's sums
            f"--amount-unit {given.amount_unit}: dataset '{dataset}' reads amounts as "
            f"{held_unit}; an append reads its file so: drop --amount-unit, or ingest every file "
            "again with it (--replace)"
        )
    held_currency = recorded.currency if recorded else None
    if held is not None and given.currency and held_currency not in (None, given.currency):
        raise UserError(  # one currency per dataset's sums
            f"--currency {given.currency}: dataset '{dataset}' holds amounts in {held_currency} "
            f"(its --currency); an append reads its file so: drop --currency, or ingest the "
            f"{given.currency} files as a dataset of their own"
        )
    mappings = (given.over(recorded) if recorded is not None else given).mappings(
        timezone=timezone,
        event_types=event_types or read_before,
        negative_amount_is_refund=negative_is_refund or bool(read.get("negative_is_refund")),
        # the maps an append took from the dataset's record, not its command
        recorded_columns=tuple(set(recorded.columns) - set(given.columns)) if recorded else (),
        recorded_options=tuple(
            name for name in ("amount_unit", "currency") if not getattr(given, name)
        )
        if recorded
        else (),
        users_recorded=tuple(set(recorded.users_columns) - set(given.users_columns))
        if recorded
        else (),
    )
    return FileReading(
        *mappings,
        keep_repeats=read.get("keep_repeats", defaults.keep_repeats)
        if keep_repeats is None
        else keep_repeats,
        amount_default=read.get("amount_default") if amount_default is None else amount_default,
        allow_negative_amounts=allow_negative or defaults.allow_negative_amounts,
        note=differences_line(given, recorded, dataset) if recorded is not None else None,
    )


def type_map_words(event_types: dict[str, str]) -> str:
    """A map of the file's event types in the words of --map-type, or that there is none."""
    if not event_types:
        return "they are (no --map-type)"
    return ", ".join(f"{name}={source}" for source, name in event_types.items())
