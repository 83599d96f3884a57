"""What a file's quarantined rows are, when they are most of it or repeats: the option (or
setting) that reads them, or why none should. Repeats that carry an order id in a file of
one row per order are that order sent again (monthly exports that overlap), not two events:
no --keep-repeats is offered for them."""

from __future__ import annotations

from typing import Any

from features import contract as c
from features.append_identity import keep_repeats_loads, nothing_to_add
from features.read_words import EXTRA_FIELDS, MISSING_FIELDS
from lifecycle.errors import offered
from lifecycle.sql import identifier

# what exact repeats may be, each its own event: what --keep-repeats loads (a grocery log of
# one row per item writes an item bought twice in one basket as two identical rows, its
# product column and all)
SEPARATE_REPEATS = (
    "two purchases at one moment, an item bought twice in one basket, invoice lines exported "
    "without their product"
)

# report note: the duplicate_row rows that are orders sent again (:func:`resent_orders`)
RESENT_ORDERS = "resent_orders"
RESENT = "re-sent orders (each the same order id as a row loaded)"
# note: the file's distinct good rows when each is in it at least twice (:func:`doubled_rows`),
# said with a refusal of mostly repeats, then dropped
DOUBLED = "every_row_repeated"
DOUBLED_MIN_ROWS = 20  # fewer distinct rows, each repeated, may be one purchase made often


def doubled_rows(con: Any, staged: str, repeat_of: str) -> int:
    """The file's distinct good rows when every one of them, at least ``DOUBLED_MIN_ROWS``,
    is in it at least twice (one export saved twice into a file: ``repeat_of`` pairs each
    repeat's ``source_row`` with its ``first``), else 0."""
    ((copied, distinct),) = con.execute(
        f"SELECT (SELECT count(DISTINCT first) FROM {repeat_of}), "
        f"(SELECT count(*) FROM {staged}) - (SELECT count(*) FROM {repeat_of})"
    ).fetchall()
    return int(distinct) if distinct >= DOUBLED_MIN_ROWS and copied == distinct else 0


def resent_orders(con: Any, staged: str, row: str, repeats: str) -> int:
    """How many of the rows of ``repeats`` (a table of ``source_row``) carry an order id, when
    the file's other rows write each order (of each event type) once: those are one order sent
    twice. 0 in a file of order lines, where two equal lines of one order may be two items."""
    order, kind = identifier(c.ORDER_ID), identifier(c.EVENT_TYPE)
    others = f"{order} IS NOT NULL AND {row} NOT IN (SELECT source_row FROM {repeats})"
    ((rows, orders),) = con.execute(
        f"SELECT count(*), count(DISTINCT ({order}, {kind})) FROM {staged} WHERE {others}"
    ).fetchall()
    if rows != orders:  # lines of one order: equal ones may be separate items
        return 0
    ((resent,),) = con.execute(
        f"SELECT count(*) FROM {staged} WHERE {order} IS NOT NULL "
        f"AND {row} IN (SELECT source_row FROM {repeats})"
    ).fetchall()
    return int(resent)


def resent_words(repeats: int, resent: int) -> str:
    """What ``repeats`` duplicate_row rows are of which ``resent`` are orders sent again: they
    are kept once, and --keep-repeats, which would count them twice, is not offered."""
    if resent == repeats:
        return f"{RESENT}, kept once; --keep-repeats would count them twice"
    return (
        f"the same in every column as a row loaded, kept once; {resent:,} of them are {RESENT}, "
        "which --keep-repeats would count twice"
    )


def bad_rows_hint(
    reasons: dict[str, int],
    repeats_new: int | None = None,
    of_held: dict[str, int] | None = None,
    resent: int = 0,
    doubled: int = 0,
) -> str:
    """When exact repeats are the most common bad rows, the option that keeps them: a log
    without a product column repeats a row for two items of one price in one order (an
    append: ``repeats_new`` of them are copies the dataset lacks; ``of_held``: repeats of rows
    held back for another reason, by it; ``resent``: of them, orders sent again; ``doubled``:
    the file's distinct rows when each is in it twice or more, :func:`doubled_rows`). When
    rows out of line with the header are, what makes them so; when rows without a user id
    are, the setting that loads the rest; when ambiguous amounts or dates are, the option
    that reads them."""
    if reasons and next(iter(reasons)) == "duplicate_row":
        if repeats_new == 0:
            return " Most are exact repeats, and " + nothing_to_add(
                reasons["duplicate_row"], of_held or {}
            )
        if resent:
            return f" Most are exact repeats: {resent_words(reasons['duplicate_row'], resent)}"
        if doubled:  # no option to name: keeping every copy would count each order twice
            return (
                f" Most are exact repeats, and each of the file's {doubled:,} distinct rows is in "
                "it at least twice: the same export saved twice into one file? Ingest the export "
                "once; a larger ingest.max_bad_fraction (LIFECYCLE_INGEST__MAX_BAD_FRACTION=0.9) "
                "loads each row of this file once, the copies quarantined as duplicate_row"
            )
        loads = keep_repeats_loads(reasons["duplicate_row"], repeats_new, of_held)
        return " Most are exact repeats" + (
            f": if those are separate events ({SEPARATE_REPEATS}), --keep-repeats loads {loads}"
            if offered("--keep-repeats")
            else ""
        )
    if reasons and next(iter(reasons)) == f"missing_{c.USER_ID}":
        return (
            " Most have no user id (guest or anonymous orders, which no user's scores can use): "
            "if the file is right, a larger ingest.max_bad_fraction "
            "(LIFECYCLE_INGEST__MAX_BAD_FRACTION=0.9) loads the rest, those rows quarantined"
        )
    ambiguous = {  # the option that reads them, and what they look like
        "ambiguous_amount": (
            "--decimal-comma",
            "12,5, 1,234, 1.785: a decimal comma or a thousands mark",
        ),
        "ambiguous_date_order": ("--date-order", "01/02/2023: day or month first"),
    }
    if reasons and next(iter(reasons)) in ambiguous:
        option, what = ambiguous[next(iter(reasons))]
        reads = "--date-order dayfirst (or monthfirst)" if option == "--date-order" else option
        return f" Most are {next(iter(reasons))} ({what})" + (
            f": {reads} reads them" if offered(option) else ""
        )
    if reasons and next(iter(reasons)) in (EXTRA_FIELDS, MISSING_FIELDS):
        separator = " (--delimiter)" if offered("--delimiter") else ""
        return (
            " Most have another number of fields than the header: is the header this "
            f"file's, the separator right{separator}, and do the header and the rows both "
            "end with one, or neither?"
        )
    return ""


def bad_rows_options(reasons: dict[str, int], hint: str) -> tuple[str, ...]:
    """The option :func:`bad_rows_hint`'s ``hint`` tells to give (``ContractError.options``),
    if any: --keep-repeats, or the one that reads ambiguous amounts or dates."""
    first = next(iter(reasons), None)
    named = {
        "duplicate_row": "--keep-repeats",
        "ambiguous_amount": "--decimal-comma",
        "ambiguous_date_order": "--date-order dayfirst",
    }.get(first or "")
    return (named,) if named and named.split()[0] in hint else ()
