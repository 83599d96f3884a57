"""Which rows of an appended file the dataset holds already.

A new row is held when it equals a held event in every column the file has; an extra text
column is compared by the number it writes (``8.0`` is ``8``, ``15.30`` is ``15.3``: a CSV
writes so what a Parquet file gives as a float, and what pandas writes of an integer column
with a null); a quantity by its magnitude (:func:`unsigned_columns`). A row that equals a
held event of the same order in every column but its time, a whole number of hours away or
a real zone offset of quarter hours (+05:30, +05:45, -03:30), is that event read in another
zone (a UTC export read in the dataset's local zone): held back too, under a reason of its
own.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from features import contract as c
from lifecycle.sql import identifier, literal

ALREADY_INGESTED = "already_ingested"  # quarantine reason of an appended row the dataset holds
# ... and of one it holds at a time a zone's offset away (times read in another zone)
HOURS_APART = "already_ingested_hours_apart"
# report note of an append: its duplicate_row rows that --keep-repeats would add
DUPLICATES_NEW = "duplicate_rows_new"
# report note of an append: its duplicate_row rows repeating a row held back for another
# reason, by that reason (absurd_amount, isolated_event_time, already_ingested_hours_apart)
REPEATS_OF_HELD = "duplicate_rows_of_held_back"
# report note, never written: an append's refusal of a file of mostly repeats, made after the
# merge, whose hint counts what --keep-repeats would add (features.ingest)
MOSTLY_REPEATS = "mostly_repeats_refused"
MAX_ZONE_HOURS = 14  # the widest offset between two zones' clocks (Kiribati's +14:00)
# The offsets from UTC that are not whole hours, in minutes (tzdata 2025: -02:30 and -03:30
# Newfoundland, +04:30 Kabul, +05:30 India, +05:45 Kathmandu, +12:45 Chatham, ...)
PART_HOUR_OFFSETS = (150, 210, 270, 330, 345, 390, 525, 570, 630, 765, 825)
_MINUTE_US = 60_000_000
_HOUR_US = 60 * _MINUTE_US


@dataclass(frozen=True)
class Held:
    already: int = 0  # rows equal to held events
    hours_apart: Counter[int] = field(default_factory=Counter)  # rows by minutes (file - held)
    keys: RowKeys | None = None  # how rows were compared (:func:`duplicates_new` reuses them)

    def counts(self) -> dict[str, int]:
        """Rows held back by reason."""
        shifted = sum(self.hours_apart.values())
        return {r: n for r, n in ((ALREADY_INGESTED, self.already), (HOURS_APART, shifted)) if n}


@functools.cache
def _marked_number() -> str:
    """A DuckDB (RE2) pattern of a number written with a currency sign or ISO code, or with
    its thousands grouped by commas (£2.10, -£1,234.50, EUR 12.5, 12.50 €, 1,234.50): a
    workbook's number cell formatted as pounds reads £2.1 where Excel's CSV of it writes
    £2.10, and the same orders sent again as that CSV were 363 new events of 4,146."""
    from features.currency import SIGNS
    from features.currency_words import ISO_CODES

    signs = "|".join(re.escape(s) for s in sorted(SIGNS, key=len, reverse=True))
    mark = f"(?:{signs}|{'|'.join(sorted(ISO_CODES))})"
    grouped = r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?"
    number = rf"(?:{grouped}|[0-9]+(?:\.[0-9]+)?)"
    return literal(rf"-?(?:{mark} ?{number}|{number} ?{mark}|{grouped})")


def _identity(column: str, number_text: bool, alias: str = "", unsigned: bool = False) -> str:
    """The value a column is compared by: an extra text column's number as its shortest text,
    without a currency mark or thousands commas (:func:`_marked_number`); an ``unsigned``
    one's (:func:`unsigned_columns`) without its sign."""
    value = f"{alias}{identifier(column)}"
    if not number_text:
        return f"abs({value})" if unsigned else value
    number = r"'-?[0-9]+\.[0-9]*'"
    value = (
        f"(CASE WHEN regexp_full_match({value}, {_marked_number()}) "
        f"THEN regexp_replace({value}, '[^0-9.-]', '', 'g') ELSE {value} END)"
    )
    shortest = (
        f"(CASE WHEN regexp_full_match({value}, {number}) "
        f"THEN rtrim(rtrim({value}, '0'), '.') ELSE {value} END)"
    )
    return f"ltrim({shortest}, '-')" if unsigned else shortest


def held_kinds(con: Any) -> dict[str, str]:
    """Each column of view ``old`` (the dataset's events) -> its DuckDB type."""
    return {name: kind for name, kind, *_ in con.execute("DESCRIBE old").fetchall()}


def number_text_columns(kinds: dict[str, str], shared: list[str]) -> set[str]:
    """The extra columns held as text (``kinds``: :func:`held_kinds`; a number may be written
    8 or 8.0)."""
    return {n for n in shared if n not in c.EVENT_FIELDS and kinds.get(n) == "VARCHAR"}


def unsigned_columns(kinds: dict[str, str], shared: list[str]) -> set[str]:
    """The ``shared`` columns (``kinds``: :func:`held_kinds`) compared by their magnitude, as
    a guest row's key reads them (:data:`features.guest_orders.UNSIGNED`: the quantity
    `import online-retail` stores positive, a refund's 6 where a file of the same line writes
    -6), numbers or text."""
    from features.guest_orders import unsigned

    numeric = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE")
    return {
        n
        for n in shared
        if n not in c.EVENT_FIELDS
        and unsigned(n)
        and (kinds.get(n) == "VARCHAR" or str(kinds.get(n)).startswith((*numeric, "DECIMAL")))
    }


@dataclass(frozen=True)
class RowKeys:
    """How a row is compared in the ``shared`` columns: each column's value as ``k<i>``
    (an extra text column's number as its shortest text, ``loose``)."""

    shared: list[str]
    loose: set[str]
    unsigned: set[str] = field(default_factory=set)  # by magnitude (:func:`unsigned_columns`)

    def identity(self, name: str, alias: str = "") -> str:
        return _identity(name, name in self.loose, alias, name in self.unsigned)

    @property
    def named(self) -> str:
        return ", ".join(f"{self.identity(n)} AS k{i}" for i, n in enumerate(self.shared))

    @property
    def grouped(self) -> str:
        return ", ".join(f"k{i}" for i in range(len(self.shared)))

    def same(self, a: str, b: str) -> str:
        """Rows ``a`` and ``b`` (of ``k<i>`` columns) equal in every key."""
        return " AND ".join(
            f"{a}.k{i} IS NOT DISTINCT FROM {b}.k{i}" for i in range(len(self.shared))
        )


def hold(con: Any, shared: list[str]) -> Held:
    """Fill table ``held`` (new_row, reason) with the rows of table ``new`` the view ``old``
    holds, compared in the ``shared`` columns. A row is held as often as the dataset holds
    it: the n-th copy of a row in the file is already_ingested when the dataset has n
    copies, else a new event (a repeat purchase --keep-repeats kept). Then the rows left that
    are a held event of the same order a whole number of hours away (:data:`HOURS_APART`)."""
    kinds = held_kinds(con)
    keys = RowKeys(shared, number_text_columns(kinds, shared), unsigned_columns(kinds, shared))
    named, grouped, same = keys.named, keys.grouped, keys.same("o", "n")
    con.execute(f"CREATE TEMP TABLE new_keys AS SELECT new_row, {named} FROM new")
    con.execute(
        f"CREATE TEMP TABLE copies AS SELECT {grouped}, count(*) AS copies "
        f"FROM (SELECT {named} FROM old) o "
        f"WHERE EXISTS (SELECT 1 FROM new_keys n WHERE {same}) GROUP BY ALL"
    )
    con.execute(
        f"CREATE TEMP TABLE held AS SELECT n.new_row, '{ALREADY_INGESTED}' AS reason "
        f"FROM (SELECT *, row_number() OVER (PARTITION BY {grouped} ORDER BY new_row) AS copy "
        f"FROM new_keys) n JOIN copies o ON {same} WHERE n.copy <= o.copies"
    )
    ((already,),) = con.execute("SELECT count(*) FROM held").fetchall()
    return Held(int(already), _hold_hours_apart(con, shared, keys), keys)


def duplicates_new(con: Any, held: Held) -> tuple[int, int]:
    """Of table ``duplicates`` (further copies of rows of ``new`` that its file repeats, held
    back as duplicate_row), how many --keep-repeats would add after :func:`hold` (``held``,
    whose keys and tables ``new_keys`` and ``copies`` it joins): a row the file has f + r
    times (f in ``new``) and the dataset n times adds max(0, f + r - n) of them with it,
    max(0, f - n) without. A row whose first copy was held back for another reason (f = 0:
    an absurd amount or an isolated time, before the merge; or held as
    :data:`HOURS_APART`) adds none: every copy of it is held back so. With the rows of
    ``duplicates`` whose first copy is held as :data:`HOURS_APART`."""
    assert held.keys is not None, "duplicates_new follows hold"
    named, grouped, same = held.keys.named, held.keys.grouped, held.keys.same
    shifted = f"SELECT new_row FROM held WHERE reason = '{HOURS_APART}'"
    ((added, of_shifted),) = con.execute(
        "SELECT coalesce(sum(CASE WHEN f = 0 THEN 0 "
        "ELSE greatest(0, f + r - n) - greatest(0, f - n) END), 0), "
        "coalesce(sum(CASE WHEN f = 0 AND h > 0 THEN r ELSE 0 END), 0) FROM ("
        "SELECT d.r, coalesce(f.f, 0) AS f, coalesce(h.h, 0) AS h, "
        "coalesce(o.copies, 0) AS n FROM "
        f"(SELECT {grouped}, count(*) AS r FROM (SELECT {named} FROM duplicates) GROUP BY ALL) d "
        f"LEFT JOIN (SELECT {grouped}, count(*) AS f FROM new_keys "
        f"WHERE new_row NOT IN ({shifted}) GROUP BY ALL) f ON {same('f', 'd')} "
        f"LEFT JOIN (SELECT {grouped}, count(*) AS h FROM new_keys "
        f"WHERE new_row IN ({shifted}) GROUP BY ALL) h ON {same('h', 'd')} "
        f"LEFT JOIN copies o ON {same('o', 'd')})"
    ).fetchall()
    return int(added), int(of_shifted)


def keep_repeats_loads(
    repeats: int, lacks: int | None, of_held: dict[str, int] | None = None
) -> str:
    """What --keep-repeats loads of ``repeats`` duplicate_row rows: every copy, or (an append:
    ``lacks`` of :func:`duplicates_new`, above 0) only the copies the dataset lacks, the
    others being held (or repeating rows held back for another reason: ``of_held``)."""
    if lacks is None or lacks == repeats:
        return "every copy"
    copies = "copies" if lacks != 1 else "copy"
    rest = repeats - lacks
    if not (of_held := of_held or {}):
        return f"the {lacks:,} {copies} the dataset lacks (it holds the other {rest:,} already)"
    return f"the {lacks:,} {copies} the dataset lacks (of the other {rest:,}, {_why_held(rest, of_held)})"


def nothing_to_add(repeats: int, of_held: dict[str, int]) -> str:
    """Why --keep-repeats would add none of an append's ``repeats`` duplicate_row rows: the
    dataset holds every copy, or they repeat rows held back for another reason (``of_held``:
    how many, by that reason), every copy of which is held back so."""
    if not of_held:
        return "the dataset holds every copy of them already"
    if sum(of_held.values()) >= repeats:
        return f"they repeat rows held back as {_reasons(of_held)}, and every copy is held back so"
    return _why_held(repeats, of_held)


def _reasons(of_held: dict[str, int]) -> str:
    return " and ".join(f"{reason} ({n:,})" for reason, n in of_held.items())


def _why_held(repeats: int, of_held: dict[str, int]) -> str:
    """``repeats`` that --keep-repeats adds none of, some repeating rows held back for another
    reason (``of_held``), the rest held by the dataset."""
    held = sum(of_held.values())
    return (
        f"{held:,} repeat rows held back as {_reasons(of_held)}, every copy of which is held "
        f"back so, and the dataset holds every copy of the other {repeats - held:,} already"
    )


def _hold_hours_apart(con: Any, shared: list[str], keys: RowKeys) -> Counter[int]:
    """Add to ``held`` the rows of ``new`` not held that equal an event of ``old`` with an
    order id in every shared column but the time, which is 1 to 14 whole hours from theirs or
    one of :data:`PART_HOUR_OFFSETS`; counted by those minutes (the file's time minus the
    held one's)."""
    if c.ORDER_ID not in shared or c.EVENT_TIME not in shared:
        return Counter()
    same = " AND ".join(
        f"{keys.identity(n, 'o.')} IS NOT DISTINCT FROM {keys.identity(n, 'n.')}"
        for n in shared
        if n not in (c.EVENT_TIME, c.USER_ID, c.ORDER_ID)
    )
    apart = f"(epoch_us(n.{c.EVENT_TIME}) - epoch_us(o.{c.EVENT_TIME}))"
    offsets = ", ".join(str(m * _MINUTE_US) for m in PART_HOUR_OFFSETS)
    con.execute(
        f"CREATE TEMP TABLE shifted AS SELECT n.new_row, min({apart} // {_MINUTE_US}) AS minutes "
        f"FROM new n JOIN old o ON o.{c.USER_ID} = n.{c.USER_ID} "
        f"AND o.{c.ORDER_ID} = n.{c.ORDER_ID} "
        f"WHERE n.new_row NOT IN (SELECT new_row FROM held) AND {same or 'true'} "
        f"AND ({apart} % {_HOUR_US} = 0 "
        f"AND abs({apart}) BETWEEN {_HOUR_US} AND {MAX_ZONE_HOURS * _HOUR_US} "
        f"OR abs({apart}) IN ({offsets})) "
        "GROUP BY n.new_row"
    )
    con.execute(f"INSERT INTO held SELECT new_row, '{HOURS_APART}' FROM shifted")
    rows = con.execute("SELECT minutes, count(*) FROM shifted GROUP BY minutes").fetchall()
    return Counter({int(minutes): int(count) for minutes, count in rows})


def hours_text(minutes: int) -> str:
    """A shift's hours as a note keys them: ``-1``, ``5.5`` (+05:30), ``5.75`` (+05:45)."""
    return f"{minutes / 60:g}"


def _shift_text(hours: float) -> str:
    """``5 h 30 min`` of 5.5 hours (``1 h`` of 1)."""
    whole, minutes = divmod(round(abs(hours) * 60), 60)
    return f"{whole} h" + (f" {minutes} min" if minutes else "")


def hours_apart_line(note: dict[str, Any]) -> str:
    """The summary line of the rows held back as :data:`HOURS_APART` (``note``: their count
    by hours, and the zone the file's times were read in)."""
    hours = {float(h): n for h, n in note["hours"].items()}
    shifts = ", ".join(
        f"{_shift_text(h)} {'before' if h < 0 else 'after'}"
        + (f" ({n:,})" if len(hours) > 1 else "")
        for h, n in hours.items()
    )
    zone = note.get("timezone") or "the dataset's zone"
    return (
        f"    {sum(hours.values()):,} {HOURS_APART} rows: each is an event the dataset holds (same "
        f"user, type, amount, order_id and other columns) at a time {shifts} the held one's: "
        f"the same events with their times read in another zone. This file's times without "
        f"an offset were read in {zone}; if they are in another zone (UTC), append it with "
        "`lifecycle ingest FILE --append --timezone ZONE`"
    )
