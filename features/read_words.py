"""What a dataset's report notes of how its file was read says in words (dates' order,
serial dates, guest orders, line items, zones, isolated times), and the notes' and reasons'
keys: light, so that listing datasets reads no pandas; the modules that read the file
import them from here."""

from __future__ import annotations

from typing import Any

from features import contract as c
from lifecycle.words import counted

EXTRA_FIELDS = "extra_fields"  # a row of more fields than the header has

MISSING_FIELDS = "missing_fields"  # a row of fewer fields than the header has
SPREADSHEET_SERIAL = "serial"  # epoch_format of days since 1899-12-30 (no --time-format)

DAY_FIRST, MONTH_FIRST, EITHER_ORDER = "day first", "month first", "either order"

DATES_READ_AS = "dates_read_as"  # report note: column -> the order found and its evidence

WORDS = {"dayfirst": DAY_FIRST, "monthfirst": MONTH_FIRST}


def read_as_lines(notes: dict[str, Any]) -> list[str]:
    """Summary lines of the columns read in the order their dates showed, or as serial
    dates (:mod:`features.serial_dates`)."""
    lines = []
    for column, note in notes.get(DATES_READ_AS, {}).items():
        if note["order"] == SERIAL:
            lines.append(serial_line(column, note))
            lines += filter(None, [each_once_line(column, note)])  # 40512..41000: order numbers?
            continue
        words = WORDS[note["order"]]
        either = note.get("either_example", "01/02/2011")  # a report of before it was kept
        lines.append(
            f"    '{column}' read {words}: all {note['showing']:,} of its dates whose order shows "
            f"are {words} ({note['example']}), so the {note['either_way']:,} that read either "
            f"way ({either}) are read {words} too (--date-order {note['order']} says so)"
        )
    return lines


SERIAL = SPREADSHEET_SERIAL  # a DATES_READ_AS note's order: the column read as serial dates

EACH_ONCE = "each_once"  # its DATES_READ_AS note's key: {"first", "last", "consecutive"}


def serial_line(column: str, note: dict[str, Any]) -> str:
    """The summary line of a column read as serial dates, with its example and the time it
    reads as (:data:`SHOWN`, kept at ingest: the listing imports no pandas)."""
    value = serial_example(note)
    if SHOWN in note:
        shown = note[SHOWN]
    else:  # a report written before 2026-12-07: read the example as the column was (pandas)
        from features.serial_dates import serial_shown

        shown = serial_shown(note)
    example = f": {value} is {shown}" if shown else ""
    if note.get("system", 1900) == 1904:
        return (
            f"    '{column}' read as a spreadsheet's serial dates, all {note['rows']:,} of its "
            f"values (days since 1904-01-01: the workbook is of the 1904 date system{example})"
        )
    return (
        f"    '{column}' read as a spreadsheet's serial dates, all {note['rows']:,} of its "
        f"values (days since 1899-12-30, Excel's 1900 date system{example}); a sheet of the "
        "1904 system (old Mac Excel) would read 4 years and a day early, which a CSV cannot "
        "show: format the column as dates before saving it to be sure"
    )


SHOWN = "shown"  # a serial DATES_READ_AS note's key: its example as a time (text), or None


def serial_example(note: dict[str, Any]) -> str:
    """The serial value of a ``DATES_READ_AS`` note's example (``row 2: '40544.5'``)."""
    return (note["example"] or "").rsplit("=", 1)[-1].strip("'\"")


def each_once_line(column: str, note: dict[str, Any]) -> str | None:
    """The summary line of a serial column whose values read as ids
    (:func:`features.serial_dates.note_each_once`), or None."""
    once = note.get(EACH_ONCE)
    if once is None:
        return None
    run = ", every day between" if once["consecutive"] else ""
    return (
        f"    '{column}': its {note['rows']:,} values are whole numbers, each on its own row, "
        f"read as {note['rows']:,} days from {once['first']} to {once['last']}{run}, as an "
        "order number or id reads, where a sheet's dates repeat a day across rows: if it is "
        "not the time, ingest again with --map event_time=<the column of dates>"
    )


NO_USER_NOTE = "rows_without_user"  # report note and batch key: {rows, repeats, orders, ...}


def money_text(value: float) -> str:
    """An amount as the summaries write it: whole without decimals (a count of purchases),
    else to the cent."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def without_user_words(said: dict[str, Any]) -> str:
    """A note's rows in words: '3,710 orders (4,062 rows, 352 of them exact repeats) had no
    user id (guest orders): 1,447,682.12 after refunds, in no customer's numbers'."""
    rows = counted(said["rows"], ("row", "rows"))
    if said.get("repeats"):
        rows += f", {said['repeats']:,} of them exact repeats counted once"
    what = f"{counted(said['orders'], ('order', 'orders'))} ({rows})" if "orders" in said else rows
    kept = said["purchases"] - said["refunds"]
    money = f"{money_text(said['purchases'])} of purchases"
    if said["refunds"]:
        money += f" less {money_text(said['refunds'])} refunded, {money_text(kept)} kept"
    return f"{what} had no user id (guest orders): {money}, in no customer's numbers"


LINE_ITEM = "line_item_of_order"  # quarantine reason: not the file's quality (TableRules.not_bad)

LINE_ITEMS_NOTE = "line_items_of_orders"  # report note: {"column", "set_aside", "filled", ...}


def _first_row_only(note: dict[str, Any]) -> str:
    """What the set-aside lines left to their order's first row (a note of an older ingest
    says nothing of it: Shopify's layout)."""
    fields = [
        field
        for field, key in (("customer", "without_user"), ("time", "without_time"))
        if note.get(key, 1)
    ]
    if len(fields) == 2:
        return (
            "customer, time and amount on the order's first row only, as Shopify's orders "
            "export writes them"
        )
    return " and ".join([*fields, "amount"]) + " on the order's first row only"


def line_items_line(note: dict[str, Any]) -> list[str]:
    """The summary's lines of :data:`LINE_ITEMS_NOTE`."""
    column, out = note["column"], []
    orders = counted(note["orders"], ("order", "orders"))
    set_aside = counted(note["set_aside"], (f"{LINE_ITEM} row", f"{LINE_ITEM} rows"))
    if note["set_aside"]:
        out.append(
            f"    {set_aside}: line items of {orders} read on an "
            f"earlier row of the same '{column}' ({_first_row_only(note)}): each order counted "
            "once, "
            + (f"with its '{note['amount']}'" if note["amount"] else "on its first row")
            + "; not counted as bad rows"
        )
    if note["filled"]:
        out.append(
            f"    {note['filled']:,} line items with their own '{note['amount']}' but no "
            f"customer or time were given those of their order ('{column}', first row) and "
            f"summed into it; if '{note['amount']}' is a line's unit price, not its amount, "
            "map the order's total as the amount (--map amount=Total)"
        )
    return out


REPEATED_TOTALS = "order_totals_on_lines"  # report note: {"column", "orders", "of", "rows", "by"}


def repeated_totals_line(note: dict[str, Any]) -> str:
    """The summary line of :data:`REPEATED_TOTALS`."""
    by = f"'{note['by']}'" if note["by"] else "customer and time"
    rows = counted(note["rows"], (f"{LINE_ITEM} row", f"{LINE_ITEM} rows"))
    return (
        f"    {rows}: '{note['column']}' repeats one amount on every "
        f"line of {note['orders']:,} of the {note['of']:,} orders of several lines (by {by}): "
        "an order's total written on each of its lines (as WooCommerce's one row per item "
        "export writes them), counted once, on the order's first line; if each line holds "
        "its own amount, map that column as the amount"
        + (
            f" ({note['guest_rows']:,} of them lines of guest orders, counted so too)"
            if note.get("guest_rows")
            else ""
        )
    )


ZONELESS = "times_without_zone"  # report note: {"column", "read_in"}


def zoneless_lines(notes: dict, mixed: dict[str, dict]) -> list[str]:
    """The summary line of the zone times without one were read in (a column mixing them
    with zoned times says it in its own line)."""
    from features.hints import option_hint

    read = notes.get(ZONELESS)
    if not read or read["column"] in mixed:
        return []
    return [
        f"    times without a zone ('{read['column']}') read as {read['read_in']}"
        + (
            " (the dataset's zone)"
            if read.get("dataset_zone")
            else option_hint(" (--timezone ZONE reads them in another)")
        )
    ]


def zones_mixed_lines(mixed: dict[str, dict]) -> list[str]:
    """Summary lines of time columns holding values with an offset or zone and values
    without one (``times_with_and_without_zone``): the latter were read in --timezone."""
    from features.hints import option_hint

    out = []
    for column, seen in mixed.items():
        (zoned, zoned_example), (zoneless, zoneless_example) = (
            seen["with_zone"],
            seen["without_zone"],
        )
        zone = seen["read_in"]
        out.append(
            f"    '{column}' mixes times with an offset or zone ({zoned:,}, e.g. {zoned_example}) "
            f"and times without ({zoneless:,}, e.g. {zoneless_example}): those without were "
            f"read in {zone}"
            + (
                option_hint(
                    ", so may be hours off the others: if they are a local clock, --timezone "
                    "ZONE (e.g. Europe/London) reads them in it",
                    ", so may be hours off the others: write every time with its offset",
                )
                if zone == "UTC"
                else " (--timezone)"
            )
        )
    return out


ISOLATED_NOTE = "isolated_event_times"  # report note: {"rows", "gap_days", "rest"}


def isolated_line(note: dict[str, Any]) -> str:
    """The summary line of the note."""
    return (
        f"    {note['rows']:,} isolated_event_time rows (the first is "
        f"{c.row_in(note['first_row'], note.get('first_file'))}): "
        f"'{note['column']}' at least {note['gap_days']:,} days away from every other event "
        f"({note['rest']}), a year typed wrong? They would make the dataset end (or start) "
        "there; fix the date at the source and ingest again"
    )


# attrs key of the last frame, and report note: the blank rows under the last row of data
BLANK_ROWS_SKIPPED = "blank_rows_skipped"

IDS_FOLDED = "ids_lower_cased"  # report note: {"column", "rows"} (--case-insensitive-ids)

HEADER_ONLY = "header_only"  # report note: an appended file of a header and no rows

# report note: the optional fields whose recorded --users-map names a column an appended file lacks
USERS_COLUMNS_ABSENT = "users_columns_absent"

FREE_PURCHASES = "free_purchases"  # report note: purchases at 0.00 (a free item), kept

INVALID_AMOUNTS = "invalid_amounts"  # report note: {"column", "expected", "example"}

NEGATIVE_AMOUNTS = "negative_amounts"  # report note: {"column", "example"} of those quarantined

ZONES_MIXED = "times_with_and_without_zone"  # report note: column -> counts, an example of each
