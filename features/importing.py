"""Import: the known public data sets (online-retail, telco-churn, hillstrom) loaded through
their adapters into a dataset, as ``lifecycle import`` and ``refresh`` do."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from features import adapters, appending
from features.column_checks import refuse_from_first_lines
from features.dataset_summary import DatasetSummary
from features.erasure_log import ErasedUsers
from features.guest_orders import GUEST_ROWS, write_guest_rows
from features.id_spellings import record_padded_width
from features.ingest import (
    DATASET_VERSIONS_KEPT,
    erasure_columns,
    ingest_into,
    write_report,
)
from features.reading import CSV_SUFFIXES, DEFAULT_CHUNK_ROWS, PARQUET_SUFFIXES
from features.spreadsheet_cells import spreadsheet_safe
from features.validation import (
    DEFAULT_MAX_AMOUNT_RATIO,
    DEFAULT_MAX_AMOUNT_SHIFT,
    DEFAULT_MEMORY_LIMIT,
    ContractError,
    Loaded,
)
from lifecycle.dataset_kind import read_report
from lifecycle.storage import atomic_dir, missing_file
from lifecycle.workspace import EVENTS_FILE

SOURCE_KINDS = {"online-retail": "events", "telco-churn": "snapshot", "hillstrom": "campaign"}
SOURCES = tuple(SOURCE_KINDS)
# online-retail books a cancellation's negative line total as a refund of its magnitude:
# recorded, so that `ingest --append` of the shop's export (--map amount=Total) reads its
# negative amounts as the import did, refunds, not negative_amount rows
RETAIL_READ_AS = {"negative_is_refund": True}
DATA_SUFFIXES = tuple(suffix for suffix in CSV_SUFFIXES + PARQUET_SUFFIXES if suffix != ".txt")


def import_source(
    source: str,
    path: Path,
    dataset_dir: Path,
    *,
    max_bad_fraction: float = 0.5,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    erased: ErasedUsers | None = None,
    guard_history: bool = False,
    append: bool = False,
    date_order: str = "auto",
    keep_repeats: bool = False,
    max_amount_shift: float = DEFAULT_MAX_AMOUNT_SHIFT,
    max_amount_ratio: float = DEFAULT_MAX_AMOUNT_RATIO,
) -> DatasetSummary:
    """Load one of the known public data sets through its adapter into a dataset folder;
    ``erased`` users' rows are quarantined as ``erased_user``, as an ingest does.

    With ``guard_history``, an events file that would drop the dataset's history (it starts
    later or ends earlier, e.g. one month of a longer log) is refused, as ``ingest`` does.
    ``path`` may be a folder holding the file (:func:`source_file`).
    With ``append``, the file's events are added to the dataset's as ``ingest --append``
    adds them (a later month of the same log); only an events source has any to add.
    ``date_order``: how online-retail's numeric dates read (12/1/2010), as ingest's option;
    ``keep_repeats``: its identical invoice lines are separate events, as ingest's option
    (recorded, so an append reads its file so too); ``max_amount_shift``: an append's median
    amount beside the dataset's (:func:`features.money_checks.refuse_amount_shift`);
    ``max_amount_ratio``: online-retail's absurd amounts (:func:`~features.money_checks.absurd_amounts`).
    """
    path = source_file(source, path)
    options = {"max_bad_fraction": max_bad_fraction, "chunk_rows": chunk_rows, "erased": erased}
    options["scratch"] = dataset_dir.parent.parent  # validated rows staged in the workspace
    held = read_report(dataset_dir) if append or guard_history else None  # read once
    if (append or guard_history) and source in SOURCE_KINDS:
        command = f"lifecycle import {source}"
        appending.refuse_other_kind(dataset_dir, SOURCE_KINDS[source], path, held, command)
    if date_order != "auto" and source != "online-retail":
        raise ContractError(f"--date-order: {source} has no dates; only online-retail reads them")
    if keep_repeats and source != "online-retail":
        raise ContractError(f"--keep-repeats: {source} is no log of events; only online-retail")
    if append and source != "online-retail":
        raise ContractError(
            f"{path}: {source} is one table of customers, not a log of events: it has no "
            f"later months to append; import the whole file (`lifecycle import {source} {path}`)"
        )
    if source == "online-retail" and append and (dataset_dir / EVENTS_FILE).is_file():
        refuse_other_zone(path, dataset_dir.name, held)
        rules, adapter = adapters.online_retail_rules(path, erased, date_order, keep_repeats)
        rules = replace(rules, max_amount_shift=max_amount_shift, max_amount_ratio=max_amount_ratio)
        refuse_from_first_lines(path, None, rules.check, str(path))  # as ingest_events does
        # the path of `ingest --append`, with the adapter's rules, notes and users table
        return ingest_into(
            dataset_dir,
            {"events": (path, rules)},
            path,
            None,
            dataset_dir,
            "append",
            chunk_rows,
            max_bad_fraction,
            DEFAULT_MEMORY_LIMIT,
            adapter=adapter,
            read_as={"timezone": adapters.RETAIL_TIMEZONE, "keep_repeats": keep_repeats}
            | RETAIL_READ_AS,
            held=held,
        )
    if source == "online-retail":
        events, users = adapters.online_retail(
            path,
            **options,
            date_order=date_order,
            keep_repeats=keep_repeats,
            max_amount_ratio=max_amount_ratio,
        )
        guard = (path, f"lifecycle import {source}") if guard_history else None
        return write_online_retail(dataset_dir, events, users, guard, keep_repeats)
    if source == "telco-churn":
        snapshot = adapters.telco_churn(path, **options)
        return write_dataset(dataset_dir, SOURCE_KINDS[source], {"snapshot": snapshot})
    if source == "hillstrom":
        return write_dataset(
            dataset_dir, SOURCE_KINDS[source], {"campaign": adapters.hillstrom(path, **options)}
        )
    raise ContractError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")


def default_source_path(source: str, data_root: Path) -> Path:
    files = {
        "online-retail": adapters.ONLINE_RETAIL_FILE,
        "telco-churn": adapters.TELCO_CHURN_FILE,
        "hillstrom": adapters.HILLSTROM_FILE,
    }
    if source not in files:
        raise ContractError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    return data_root / files[source]


def source_file(source: str, path: Path) -> Path:
    """The data file of ``source`` that ``path`` names: the path of a file as given; in a
    folder, the file under its usual name (also as the data root holds it, e.g.
    online_retail/...), else the one CSV or Parquet file there; several are listed. A path
    to nothing is refused here, before the import says what it will do."""
    path = Path(path)
    if why := missing_file(path):  # said before the import's step lines, alone
        raise ContractError(f"{path}: {why}")
    if not path.is_dir():
        return path
    usual = default_source_path(source, path)
    for known in (usual, path / usual.name):
        if known.is_file():
            return known
    found = sorted(
        p for p in path.iterdir() if p.is_file() and p.name.lower().endswith(DATA_SUFFIXES)
    )
    if len(found) == 1:
        return found[0]
    if not found:
        raise ContractError(
            f"{path}: is a folder with no CSV or Parquet file; give the {source} file as PATH"
        )
    raise ContractError(
        f"{path}: is a folder of {len(found)} data files ({', '.join(p.name for p in found)}); "
        f"give the {source} file as PATH"
    )


def write_online_retail(
    dataset_dir: Path,
    events: Loaded,
    users: Loaded,
    guard: tuple[Path, str] | None = None,
    keep_repeats: bool = False,
) -> DatasetSummary:
    """online_retail's events and users (the adapter's load) written as the import writes
    them, with the read options recorded for appends (:data:`RETAIL_READ_AS`)."""
    tables = {"events": events, "users": users}
    return write_dataset(
        dataset_dir,
        SOURCE_KINDS["online-retail"],
        tables,
        guard=guard,
        timezone=adapters.RETAIL_TIMEZONE,
        keep_repeats=keep_repeats,
        **RETAIL_READ_AS,
    )


def write_dataset(
    dataset_dir: Path,
    kind: str,
    tables: dict[str, Loaded],
    *,
    guard: tuple[Path, str] | None = None,
    timezone: str | None = None,
    keep_repeats: bool = False,
    negative_is_refund: bool = False,
) -> DatasetSummary:
    """Write tables, quarantines and the report; the old dataset stays until all is written.
    ``keep_repeats`` and ``negative_is_refund`` are recorded for appends
    (``batches.dataset_read_options``).

    ``guard`` (the source file, the command that wrote it): refuse, leaving the dataset as
    it was, when the new events would drop history (:func:`appending.refuse_lost_history`).
    """
    with atomic_dir(dataset_dir, keep=DATASET_VERSIONS_KEPT) as staging:
        (staging / "quarantine").mkdir()
        for table, loaded in tables.items():
            loaded.frame.to_parquet(staging / f"{table}.parquet", index=False)
            if loaded.guest_rows is not None:  # each once, as an ingest keeps them for appends
                write_guest_rows(loaded.guest_rows, staging / GUEST_ROWS, frozenset(), True)
            if not loaded.quarantine.empty:
                quarantined = spreadsheet_safe(loaded.quarantine)  # an operator opens it
                quarantined.to_csv(staging / "quarantine" / f"{table}.csv", index=False)
        if guard is not None:
            source, command = guard
            appending.refuse_lost_history(
                dataset_dir, staging, source, "users" in tables, dataset_dir.name, command
            )
        report = write_report(
            staging,
            kind,
            {table: loaded.report.to_dict() for table, loaded in tables.items()},
            **erasure_columns({table: loaded.report for table, loaded in tables.items()}),
            timezone=timezone,  # of its times without an offset, for appends (dataset_timezone)
            keep_repeats=keep_repeats,
            negative_is_refund=negative_is_refund,
        )
        record_padded_width(staging / EVENTS_FILE)  # read once, not at each model load
    return DatasetSummary(dataset_dir.name, dataset_dir, kind, report["tables"])


def refuse_other_zone(path: Path, dataset: str, held: dict | None) -> None:
    """An online-retail append reads InvoiceDate in the shop's zone (``RETAIL_TIMEZONE``): onto
    a dataset whose times without an offset were read in another (an `ingest`, UTC by default)
    its rows would be hours away from the dataset's, a row sent again a new event; refused,
    as `ingest --append --timezone` of another zone is."""
    from features.batches import dataset_timezone

    zone, retail = dataset_timezone(held), adapters.RETAIL_TIMEZONE
    if zone and zone.casefold() != retail.casefold():
        raise ContractError(
            f"{path}: import online-retail reads InvoiceDate in {retail}, but dataset "
            f"'{dataset}' reads times without an offset in {zone} (its last ingest): appended, "
            f"its rows would be hours away from the dataset's; append it with `lifecycle "
            f"ingest {path} --dataset {dataset} --append` (read in {zone}), or ingest the "
            f"whole history again with --timezone {retail} --replace"
        )
