"""The summary lines of what an ingest's report notes about how a file was read: forms read
one way (formulas, ids written 18074.0), what was counted apart, and the options that read
the rows quarantined as ambiguous."""

from __future__ import annotations

from typing import Any

from features import contract as c
from features.append_columns import COLUMNS_READ_AS, columns_read_as_line
from features.append_identity import (
    DUPLICATES_NEW,
    HOURS_APART,
    REPEATS_OF_HELD,
    hours_apart_line,
    keep_repeats_loads,
    nothing_to_add,
)
from features.bad_rows import RESENT_ORDERS, SEPARATE_REPEATS, resent_words
from features.currency_words import (
    AMOUNT_CURRENCY,
    CURRENCY_COLUMN,
    NO_CURRENCY,
    UNREAD_CURRENCY,
    amount_currency_line,
    amounts_without_currency_line,
    currency_column_line,
    currency_given_lines,
    unread_currency_line,
)
from features.erasure_log import ERASED_USER_SPELLING
from features.event_types import (
    NO_PURCHASES,
    NOT_ACTIVITY_NOTE,
    OTHER_TYPES,
    mapped_types_line,
    other_types_line,
)
from features.hints import option_hint
from features.read_words import (
    BLANK_ROWS_SKIPPED,
    FREE_PURCHASES,
    HEADER_ONLY,
    IDS_FOLDED,
    INVALID_AMOUNTS,
    ISOLATED_NOTE,
    LINE_ITEMS_NOTE,
    NEGATIVE_AMOUNTS,
    NO_USER_NOTE,
    REPEATED_TOTALS,
    USERS_COLUMNS_ABSENT,
    ZONES_MIXED,
    isolated_line,
    line_items_line,
    read_as_lines,
    repeated_totals_line,
    without_user_words,
    zoneless_lines,
    zones_mixed_lines,
)
from features.refund_columns import UNREAD_REFUNDS, unread_refunds_line
from features.unit_words import (
    MAYBE_COUNTS,
    MAYBE_MINOR,
    UNIT_READ,
    counted_by,
    maybe_counts_line,
    maybe_minor_line,
    unit_read_line,
)
from lifecycle.words import ROWS, counted


def note_lines(notes: dict[str, Any], reasons: dict[str, int]) -> list[str]:
    """Summary lines for what the report notes about how the file was read."""
    out = []
    for name, what, example in (("user_id", "ids", "00123"), ("amount", "amounts", "7.50")):
        if formulas := notes.get(f"{what}_written_as_formulas"):
            out.append(
                f"    {name} '{formulas['column']}': {formulas['rows']:,} {what} written as "
                f'spreadsheet formulas (="{example}"), read as the text inside'
            )
    if blank := notes.get(BLANK_ROWS_SKIPPED):
        out.append(
            f"    {blank:,} blank row{'s' if blank > 1 else ''} under the last row of data "
            "skipped (every cell empty: a sheet's rows once formatted or emptied, the ',,,' "
            "lines of its CSV): not rows, none quarantined"
        )
    both_ways = notes.get("ids_written_both_ways", {})
    for name, column in notes.get("ids_read_as_integers", {}).items():
        named = name if column == name else f"{name} '{column}'"  # the column once
        out.append(
            f"    {named}: ids written both 18074 and 18074.0, each read as the integer (one "
            "id, not two)"
            if name in both_ways
            else f"    {named}: every id written with .0 (18074.0), read as the integer"
        )
    if folded := notes.get(IDS_FOLDED):
        named = c.USER_ID + ("" if folded["column"] == c.USER_ID else f" '{folded['column']}'")
        out.append(
            f"    {named}: case-insensitive (--case-insensitive-ids), {folded['rows']:,} ids "
            "lower-cased"
        )
    if spelt := notes.get("user_ids_spelt_apart"):
        # escaped: 'A123' with a Cyrillic 'A' shows as the Latin one does
        example = "; ".join(
            " and ".join(ascii(user_id) for user_id in group[:5])
            for group in [spelt["example"], *spelt.get("more_examples", [])]
        )
        out.append(
            f"    {spelt['ids']:,} user ids differ from another only by case, spaces, leading "
            "zeros, accent encoding, width, a look-alike letter of another script, '.0' or "
            f"thousands commas (e.g. {example}): each loaded as its own user, as the file "
            "writes it; if they are one customer, write the ids one way in every file"
            + (
                option_hint(
                    f"; {spelt['by_case']:,} differ only by case: if case never tells users "
                    "apart (emails), ingest with --case-insensitive-ids to read them as one "
                    "(lower-cased)"
                )
                if spelt.get("by_case")
                else ""
            )
        )
    if spare := notes.get("users_without_events"):
        out.append(_without_events_line(spare))
    if alike := reasons.get(ERASED_USER_SPELLING):
        out.append(
            f"    {counted(alike, ROWS)} held back ({ERASED_USER_SPELLING}): their user id is spelt like "
            "that of a user `lifecycle forget` erased (case, spaces, leading zeros, width or "
            "script apart), so may be that person again; no value kept. If they are other people, "
            "ingest the file again with LIFECYCLE_PRIVACY__LOAD_ERASED_SPELLINGS=true"
        )
    if mapped := mapped_types_line(notes):
        out.append(mapped)
    if OTHER_TYPES in notes:
        quiet = notes.get(NOT_ACTIVITY_NOTE, ())
        out.append(other_types_line(notes[OTHER_TYPES], not notes.get(NO_PURCHASES), quiet))
    for column in notes.get("empty_unnamed_columns_ignored", []):
        edge = "starting" if column == "Unnamed: 0" else "ending"  # pandas' name of column 0
        out.append(
            f"    column '{column}' ignored: no name in the header and no value in any row "
            f"(a separator {edge} every line)"
        )
    if notes.get("negative_amounts_as_refunds"):
        out.append(
            f"    negative purchase amounts booked as refunds: {notes['negative_amounts_as_refunds']:,}"
        )
    if COLUMNS_READ_AS in notes:
        out.append(columns_read_as_line(notes[COLUMNS_READ_AS]))
    if (free := notes.get(FREE_PURCHASES)) and counted_by(notes):  # counts, no money
        out.append(f"    purchases of 0 items kept (activity): {free:,}")
    elif free:
        out.append(
            f"    purchases at 0.00 kept (a free item of an order: activity, no revenue): {free:,}"
        )
    out.extend(read_as_lines(notes))
    out.extend(zones_mixed_lines(notes.get(ZONES_MIXED, {})))
    out.extend(zoneless_lines(notes, notes.get(ZONES_MIXED, {})))
    if AMOUNT_CURRENCY in notes:
        out.append(amount_currency_line(notes[AMOUNT_CURRENCY]))
    if CURRENCY_COLUMN in notes:
        out.append(currency_column_line(notes[CURRENCY_COLUMN], counted_by(notes)))
    out.extend(currency_given_lines(notes))
    if UNREAD_CURRENCY in notes:
        out.append(unread_currency_line(notes[UNREAD_CURRENCY]))
    if NO_CURRENCY in notes:
        out.append(amounts_without_currency_line(notes[NO_CURRENCY]))
    if UNIT_READ in notes:
        out.append(unit_read_line(notes[UNIT_READ]))
    if MAYBE_MINOR in notes:
        out.append(maybe_minor_line(notes[MAYBE_MINOR]))
    if MAYBE_COUNTS in notes:
        out.append(maybe_counts_line(notes[MAYBE_COUNTS]))
    if UNREAD_REFUNDS in notes:
        out.append(unread_refunds_line(notes[UNREAD_REFUNDS]))
    if LINE_ITEMS_NOTE in notes:
        out.extend(line_items_line(notes[LINE_ITEMS_NOTE]))
    if REPEATED_TOTALS in notes:
        out.append(repeated_totals_line(notes[REPEATED_TOTALS]))
    if unused := notes.get("time_column_unused"):
        out.append(
            f"    '{unused['beside']}' holds dates without a time, so every event was read at "
            f"midnight; column '{unused['column']}' holds times of day: --map "
            f"event_time={unused['beside']}+{unused['column']} reads the two together"
        )
    if absurd := notes.get("absurd_amounts"):
        out.append(
            f"    {reasons.get('absurd_amount', 0):,} absurd_amount rows: '{absurd['column']}' "
            f"above {absurd['limit']:,.2f} ("
            + (
                f"{absurd['ratio']:,g} times the {absurd.get('median_of', 'file')}'s median "
                f"amount, {absurd['median']:,.2f}: "
                "settings ingest.max_amount_ratio"
                if absurd["ratio"]
                else "beyond what a number holds to the cent"
            )
            + ")"
            + (
                f" or not zero but below {tiny['below']:.1e} ({tiny['rows']:,} rows: a "
                "damaged cell, no amount)"
                if (tiny := absurd.get("subnormal"))
                else ""
            )
        )
    if isolated := notes.get(ISOLATED_NOTE):
        out.append(isolated_line(isolated))
    if reasons.get("ambiguous_amount"):  # quarantined, with the option that reads them
        out.append(
            f"    {reasons['ambiguous_amount']:,} ambiguous_amount rows (12,5 or 1,234: a decimal "
            "comma or a thousands separator"
            + (
                f"; '{notes['amounts_grouped_by_points']}' groups thousands with a point, "
                "as in 1.785 for 1785"
                if "amounts_grouped_by_points" in notes
                else ""
            )
            + ")"
            + option_hint(": if the file writes decimals with a comma, --decimal-comma reads them")
            + (
                option_hint("; if with a point (1.785 is one and a bit), --decimal-point")
                if "amounts_grouped_by_points" in notes
                else ""
            )
        )
    if (invalid := notes.get(INVALID_AMOUNTS)) and reasons.get("invalid_amount"):
        out.append(
            f"    {reasons['invalid_amount']:,} invalid_amount rows: '{invalid['column']}' should "
            f"hold {invalid['expected']}, not e.g. {invalid['example']!r}; the quarantine file "
            "gives each row and its value: fix them and append those rows again"
        )
    if (negative := notes.get(NEGATIVE_AMOUNTS)) and reasons.get("negative_amount"):
        # a shop's cancellations written -£31.80: every refund quarantined, LTV and revenue
        # counted as if none was ever given back, and the way to read them unsaid
        out.append(
            f"    {reasons['negative_amount']:,} negative_amount rows (e.g. {negative['example']})"
            + option_hint(
                ": if they are money going back (cancellations, returns), --negative-is-refund "
                "books each as a refund of its size (--allow-negative keeps them as negative "
                "amounts); ingest the file again with it",
                ": amounts are at least 0, money going back a refund",
            )
        )
    if repeats := reasons.get("duplicate_row"):  # quarantined below the refusal, which says it too
        out.append(f"    {repeats:,} duplicate_row rows: " + _repeats_text(repeats, notes))
    if notes.get(HEADER_ONLY):
        out.append("    the file holds a header and no rows: no events (a day without any)")
    if derived := notes.get("derived_from"):  # an adapter's users table, from no file of users
        # an append derives it again from every event: "users: 3,657 rows loaded of 3,657"
        # was printed of a two-line file
        whole = "users_added" in notes
        out.append(
            f"    derived from the {'dataset' if whole else 'file'}'s {derived}"
            + (": the whole users table, not this file's customers" if whole else "")
        )
    if "users_added" in notes:  # an append's users file (a day without events too)
        out.append(
            f"    the users table updated: {counted(notes['users_added'])} added, "
            f"{notes['users_updated']:,} changed (users the file lacks stay)"
        )
    if absent := notes.get(USERS_COLUMNS_ABSENT):
        maps = ", ".join(f"{name}={source!r}" for name, source in absent.items())
        out.append(
            f"    the users file lacks the column{'s' * (len(absent) > 1)} of the recorded "
            f"--users-map {maps}: the users it adds have none, those held keep theirs"
        )
    if shifted := notes.get(HOURS_APART):
        out.append(hours_apart_line(shifted))
    if guests := notes.get(NO_USER_NOTE):  # quarantined, yet the shop's sales: never unsaid
        out.append(f"    {without_user_words(guests)}")
    if gone := notes.get("users_only_quarantined"):
        some = f"{gone['users']:,} user{'s' * (gone['users'] != 1)}"
        out.append(
            f"    {some} with no row loaded (e.g. {gone['example']!r}): every row of theirs is in "
            "the quarantine file, so they are not in the dataset"
        )
    return out


def _without_events_line(spare: dict[str, Any]) -> str:
    """Users of the users file with no event: those who signed up after the last event (their
    first order may be in a later file), and the others, who never bought or whose ids are
    written another way (trial 114: all were said so, though they signed up later)."""
    one = spare["users"] == 1
    said = f"    {counted(spare['users'])} of the users file {'has' if one else 'have'} no event"
    later, never = (
        spare.get("signed_up_later", 0),
        "known users who never bought, or ids written another way",
    )
    if not later:
        return f"{said} (e.g. {spare['example']!r}): {never}"
    after = f"signed up after the last event ({spare['last_event']}): a later file may bring their orders"
    if later == spare["users"]:
        return f"{said} (e.g. {spare['example']!r}): {'' if one else 'all '}{after}"
    return (
        f"{said}: {later:,} {after}; the other {spare['users'] - later:,} (e.g. "
        f"{spare['example_not_later']!r}): {never}"
    )


def _repeats_text(repeats: int, notes: dict[str, Any]) -> str:
    """What the duplicate_row rows are, and what --keep-repeats would load of them: every
    copy, or (an append) only the copies the dataset lacks (:data:`DUPLICATES_NEW`)."""
    separate = f"; if they are separate events ({SEPARATE_REPEATS}), --keep-repeats loads "
    resent = notes.get(RESENT_ORDERS)  # orders sent twice: no --keep-repeats offered
    if totals := notes.get(REPEATED_TOTALS):  # kept, each copy would count the order again
        return (
            "the same in every column as a row loaded, kept once: lines of an order whose "
            f"'{totals['column']}' is written on every line, so the order counts once (each "
            "copy kept would count its total again)"
        )
    if DUPLICATES_NEW not in notes:
        if resent:
            return resent_words(repeats, resent)
        return "the same in every column as a row loaded, kept once" + option_hint(
            f"{separate}every copy"
        )
    lacks = notes[DUPLICATES_NEW]
    said = "the same in every column as another row of this file"
    of_held = notes.get(REPEATS_OF_HELD, {})
    if not lacks:
        return f"{said}; {nothing_to_add(repeats, of_held)}: nothing more to load"
    if resent:
        return resent_words(repeats, resent)
    return said + option_hint(separate + keep_repeats_loads(repeats, lacks, of_held))
