"""A dataset's batches as its ``report.json`` records them, and how their files were read.

Each ingest, import or append records its batch; an append that is not told otherwise
reads its file as the dataset's were (the zone of times without an offset, the map of
event types, ``READ_OPTIONS``). These read a report already read (``read_report``), so a
command reads it once for all it asks of it.
"""

from __future__ import annotations

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


def batches(report: Report) -> list[dict[str, Any]]:
    """The batches ``report`` records (one ingest, for a report from before batches were)."""
    if report is None:
        return []
    return report.get("batches") or [{"mode": "ingest", "created_at": report.get("created_at")}]


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
    mapping: Any, keep_repeats: bool, amount_default: float | None, shape: Any = None
) -> dict[str, Any]:
    """How an events file was read, recorded with its batch (``mapping``: its
    ``ColumnMapping``): the zone of times without an offset, the map of the file's event
    types, ``READ_OPTIONS`` and how the file is written (``shape``, a
    :class:`features.file_shape.FileShape`)."""
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
    import records its own beside its tables (``features.ingest.write_dataset``)."""
    found: dict[str, Any] = {key: report[key] for key in READ_OPTIONS if key in (report or {})}
    for batch in batches(report):
        found.update({key: batch[key] for key in READ_OPTIONS if key in batch})
    return found
