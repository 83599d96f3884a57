"""The words of refusals that suggest an option. Those an adapter's file can meet name only
options the command running has (:func:`lifecycle.errors.offered`: `import` has no
--time-format, --encoding, --delimiter), and otherwise say what to change in the file; the
others are of contract-column files, read by `ingest` (whose options they name) and by
`refresh`, which says to append such a file with `ingest`."""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING

from features import contract as c
from features.currency_words import ISO_CODES
from features.read_words import SPREADSHEET_SERIAL
from lifecycle.errors import offered

if TYPE_CHECKING:
    from collections.abc import Iterable

    import pandas as pd

DECIMAL_COMMA = "for a decimal comma, as in 12,50, use --decimal-comma"
NUMBERS = f"numbers ({DECIMAL_COMMA})"
DOT_THOUSANDS = (
    "a point groups thousands in this column, as in 1.785 for 1785 beside amounts under 1000 "
    "written without one: use --decimal-comma; if its point is a decimal mark (1.785 is one "
    "and a bit), --decimal-point"
)
MONEY = (
    "numbers, bare or with one currency sign or ISO code (£12.50, 12.50 EUR; or the currency "
    "in a 'currency' column, e.g. --map currency=COLUMN)"
)


def amounts(signed: bool, comma: bool, dot_thousands: bool = False) -> str:
    """What an amount column should hold, by what its bad cells show: a currency sign, a
    comma (12,5), both (each hint alone misled about the other cells), or neither (words,
    true/false: no hint of a decimal comma); ``dot_thousands``: the column groups thousands
    with a point (1.785), which --decimal-comma reads too."""
    if dot_thousands and comma and not signed:
        return f"numbers ({DOT_THOUSANDS})"
    if signed and comma:
        return f"{MONEY.removesuffix(')')}; {DECIMAL_COMMA})"
    return MONEY if signed else NUMBERS if comma else "numbers"


def currency_agrees(said_by: str) -> str:
    """What an amount column should hold whose currency signs disagree with what states its
    currency (``said_by``: "column 'Currency'", "--currency GBP")."""
    return f"amounts whose currency sign or code agrees with {said_by} (£ with GBP)"


def timestamps() -> str:
    """What a time column should hold, and the options that name other forms of it."""
    options = offered("--time-format", "--date-order")
    if options:
        return f"timestamps (name their form with {' or '.join(options)})"
    return "timestamps (as 2024-01-31 13:45:00, or a common form of a date and time)"


def epoch_timestamps(unit: str) -> str:
    """What a time column should hold whose every value is of ``unit`` (``%s``, ``%ms``, or
    :data:`SPREADSHEET_SERIAL`), and what reads them."""
    if unit == SPREADSHEET_SERIAL:
        return (
            "timestamps (these look like a spreadsheet's serial dates, days since "
            "1899-12-30: format the column as dates in the sheet before saving it as CSV)"
        )
    word = {"%s": "seconds", "%ms": "milliseconds"}[unit]
    fix = f"use --time-format {unit}" if offered("--time-format") else "write them as dates"
    return f"timestamps (these look like {word} since 1970: {fix})"


def option_hint(hint: str, otherwise: str = "") -> str:
    """``hint`` when the command running has the option it names (its first --word), else
    ``otherwise``."""
    option = re.search(r"--[a-z-]+", hint)
    return hint if option is None or offered(option.group()) else otherwise


# a column of event types holds a few words (paid, refunded, failed), often so named
TYPE_VALUES_AT_MOST = 50
TYPE_NAMES = r"status|type|kind|event|action|state"
# an amount as exports write it (£1,234.50, 1.234,56 €, (3.10)); no time (08:26) nor date
AMOUNT_TEXT = r"[^\d:]*\d[\d.,'\s]*[^\d:]*"


def purchase_log(
    wanted: dict[str, str],
    raw: pd.DataFrame,
    amount: str,
    order: str = c.ORDER_ID,
    counts: bool = True,
) -> tuple[str, tuple[str, ...]]:
    """:func:`_purchase_log`, and then a column of order ids repeated over rows (one row per
    line item: WooCommerce's ``order_number``, Shopify's ``Name``), not read as ``order``
    already, named for --map order_id. ``counts``: a file without amounts may count its rows
    (not an append to a dataset of money)."""
    said, options = _purchase_log(wanted, raw, amount, counts)
    if said and order not in raw.columns and (lines := _order_column(raw, [*wanted.values()])):
        option = f"--map order_id={shlex.quote(lines)}"
        said += (
            f"; '{lines}' repeats an order's id on its lines (one row per line item): "
            f"{option} reads them as one order"
        )
    return said, options


NO_AMOUNT = "user and time, no amount column"  # a log of purchases without amounts
COUNTED = "--amount-default 1"  # what such a log takes beside --event-type purchase


def _purchase_log(
    wanted: dict[str, str], raw: pd.DataFrame, amount: str, counts: bool = True
) -> tuple[str, tuple[str, ...]]:
    """The end of a refusal of an events file without event types: a log of purchases only
    names its one type, and the option it names. With amounts (column ``amount``: user,
    time, amount, as shops export them) always. A column holding a contract event type name
    (a 'kind' of 'session', orders.xlsx's Type of Refund) is named as the file's types, to
    be mapped. A loyalty log's user, time and store is told too, the other columns named as
    the other way (a column of types of the file's own naming reads like a store's)."""
    columns = raw.columns
    if c.EVENT_TYPE not in wanted or wanted[c.EVENT_TYPE] in columns:
        return "", ()
    money = None if amount in columns else money_column(raw, [*wanted.values()])
    others = [str(n) for n in columns if n not in wanted.values() and n not in (amount, money)]
    if typed := [n for n in others if _holds_type_names(raw[n])]:
        # the file's own types, a contract name among them (orders.xlsx's Type of Sale and
        # Refund): --event-type purchase would read its refunds as purchases
        return _types_column(raw, typed[0], money)
    what = "user, time, amount" if amount in columns else NO_AMOUNT
    if money is not None:  # Shopify's Total: the amount, under another name
        what = f"user, time, amount: --map amount={shlex.quote(money)}"
    elif amount not in columns and (numbers := number_columns(raw, [*wanted.values()])):
        # no name says money ('金額', 'Сумма'): a column of numbers may be it, not chosen
        column = shlex.quote(numbers[0][0]) if len(numbers) == 1 else "COLUMN"
        said = number_columns_said(numbers)
        what = f"user, time, amount: if {said} holds the amounts, --map amount={column}"
    if not offered("--event-type"):
        return f"; a log of purchases only ({what}) needs an event_type column", ()
    option = f"--event-type {c.PURCHASE}"
    options: tuple[str, ...] = (option,)
    if (
        what == NO_AMOUNT and counts and offered("--amount-default")
    ):  # its next refusal, said at once
        options = (option, COUNTED)
        option = f"{option} {COUNTED} (each row counts 1)"
    # a column that may hold types is the other way, said, not given: the options a refusal
    # returns are given together (`refresh` printed `--event-type purchase --map
    # event_type=Email`), and a date or an e-mail column holds no types
    # a column of currency codes (a German shop's 'Waehrung' of EUR) holds no types: it was
    # offered as them, and one not named as the currency went unread, unsaid (no currency)
    codes = _currency_codes(raw, others)
    said = ""
    if codes and c.currency_column(columns) is None:
        named = " or ".join(f"'{code}'" for code in codes)  # each: none chosen for the user
        maps = " or ".join(f"--map currency={shlex.quote(code)}" for code in codes)
        said = f"; if {named} holds the amounts' currency, {maps}"
    candidates = _type_columns(raw, [n for n in others if n not in codes])
    if candidates and any(kind == c.REFUND for kind, _ in _read_types(raw[candidates[0]])):
        # refunds among its words (Stripe's Status of Paid and Refunded): --event-type
        # purchase, offered first, loaded the refunds as purchases
        return _types_column(raw, candidates[0], money)
    typed = [] if amount in columns else candidates
    if not typed:
        return f"; a log of purchases only ({what}) takes {option}{said}", options
    named = " or ".join(f"'{n}'" for n in typed[:3])
    first = " ".join([f"--map event_type={shlex.quote(typed[0])}", *type_maps(raw[typed[0]])])
    return (
        f"; a log of purchases only ({what}) takes {option}; if {named} holds each row's "
        f"event type, {first} reads it{said}",
        options,
    )


# a file's own type words that name a purchase, a refund (Sale, 'Order Completed', Return)
PURCHASE_WORDS = ("sale", "sales", "sold", "order", "ordered", "purchase", "purchased", "paid")
PURCHASE_WORDS += ("payment", "charge", "charged", "completed", "invoice", "invoiced", "checkout")
PURCHASE_WORDS += ("succeeded", "captured", "settled")
REFUND_WORDS = ("return", "returned", "refunded", "chargeback", "credit", "credited", "reversal")


def type_maps(column: pd.Series) -> list[str]:
    """The --map-type options that read a column's own type words as the contract's purchase
    and refund (``Sale`` -> ``--map-type purchase=Sale``, ``Order Refunded`` -> refund), as
    written (a type matches in any case); a contract name (``Refund``) needs none, and a word
    of neither (``Cancelled``) is left to the user (kept as activity)."""
    return [f"--map-type {shlex.quote(f'{kind}={value}')}" for kind, value in _read_types(column)]


def _read_types(column: pd.Series) -> list[tuple[str, str]]:
    """:func:`type_maps`' pairs: (contract type, the column's own word)."""
    pairs = []
    for value in _type_values(column):
        words = set(c.name_words(value))
        if value.lower() in c.KNOWN_EVENT_TYPES:
            continue
        kind = c.REFUND if words & {c.REFUND, *REFUND_WORDS} else None
        kind = kind or (c.PURCHASE if words & {c.PURCHASE, *PURCHASE_WORDS} else None)
        if kind:
            pairs.append((kind, value))
    return sorted(pairs, key=lambda pair: pair[0] != c.PURCHASE)  # purchases first


def _type_values(column: pd.Series) -> list[str]:
    """A column's distinct values, stripped, most rows first (as first met among equals)."""
    values = column.dropna().astype(str).str.strip()
    return [str(v) for v in values[values != ""].value_counts(sort=True).index]


def _types_column(raw: pd.DataFrame, name: str, money: str | None) -> tuple[str, tuple[str, ...]]:
    """The end of a refusal of a file whose column ``name`` holds a contract type name beside
    its own (orders.xlsx's ``Type``: Sale, Refund): the maps that read it, its own words
    read as purchases or refunds where they say so, and ``money``'s map (``Total``)."""
    if not offered("--map-type"):
        return f"; '{name}' may hold each row's event type: map it as event_type", ()
    maps = type_maps(raw[name])
    options = (f"--map event_type={shlex.quote(name)}", *maps)
    options += (f"--map amount={shlex.quote(money)}",) if money else ()
    values = _type_values(raw[name])
    shown = ", ".join(values[:SHOWN_TYPES]) + (", ..." if len(values) > SHOWN_TYPES else "")
    read = {value for _, value in _read_types(raw[name])}
    left = [v for v in values if v not in read and v.lower() not in c.KNOWN_EVENT_TYPES]
    said = f"; '{name}' holds each row's event type ({shown}): {' '.join(options)} reads it" + (
        f" and '{money}' as the amounts" if money else ""
    )
    if left:
        said += (
            f" ({', '.join(left[:SHOWN_TYPES])} kept as activity, not purchases or refunds: "
            f"--map-type {c.PURCHASE}=TYPE or {c.REFUND}=TYPE names one)"
        )
    return said, options


SHOWN_TYPES = 5


def _currency_codes(raw: pd.DataFrame, names: list[str]) -> list[str]:
    """Of ``names``, the columns whose every filled cell is an ISO 4217 code ('eur' too)."""
    found = []
    for name in names:
        values = raw[name].dropna().astype(str).str.strip().str.upper()
        values = values[values != ""]
        if len(values) and values.isin(ISO_CODES).all():
            found.append(name)
    return found


def _type_columns(raw: pd.DataFrame, names: list[str]) -> list[str]:
    """Of ``names``, the columns that may hold event types: words repeated over rows (a
    'Financial Status' of paid and refunded), not dates, amounts or ids; one named as a
    status or type first, then those of the fewest values (one value last)."""
    ranks = {}
    for name in names:
        values = raw[name].dropna().astype(str).str.strip()
        values = values[values != ""]
        distinct = values.nunique()
        worded = values.str.contains(r"[^\W\d_]{2}").mean() if len(values) else 0.0
        if len(values) and values.str.contains("@", regex=False).mean() >= 0.5:
            continue  # e-mails (WooCommerce's customer_email of a few buyers) hold no types
        repeated = distinct < max(2, len(values) // 2) or len(values) < 4
        if worded >= 0.5 and repeated and distinct <= TYPE_VALUES_AT_MOST:
            named = re.search(TYPE_NAMES, name, re.IGNORECASE) is not None
            ranks[name] = (not named, distinct == 1, distinct)
    return sorted(ranks, key=ranks.__getitem__)


# parts of an order's amount, never its total: a first refusal offered WooCommerce's
# shipping_total (the first column named as money) for order_total
COMPONENT_WORDS = ("shipping", "tax", "taxes", "vat", "refund", "refunded", "refunds")
COMPONENT_WORDS += ("discount", "discounts", "fee", "fees", "coupon", "tip", "tips")
LINE_WORDS = ("item", "items", "lineitem", "line", "product", "unit")  # a line's, not an order's


def money_column(raw: pd.DataFrame, used: list[str]) -> str | None:
    """The column named as money (``Total``, ``Order Total Amount``; not ``Paid at``) whose
    values are amounts: one named just so (``Total`` before ``Subtotal``) first, then an
    order's total (``order_total``), then others, a line's (``item_total``) last; never a
    part of the amount (``shipping_total``, ``tax_total``, ``Discount Amount``)."""
    named = [
        n
        for n in map(str, raw.columns)
        if c.named_as_amount([n], used) and not set(c.name_words(n)) & set(COMPONENT_WORDS)
    ]
    filled = {n: raw[n].dropna().astype(str).str.strip() for n in named}
    # of the filled cells: an order's Total is blank on its other lines in a line-item export
    looks = {n: cells[cells != ""].str.fullmatch(AMOUNT_TEXT).mean() for n, cells in filled.items()}
    amounts = [n for n in named if looks[n] >= 0.5]

    def rank(name: str) -> int:
        words = set(c.name_words(name))
        if c.named_just_as_amount(name):
            return 0
        if words & set(LINE_WORDS):
            return 3
        return 1 if words & {"order", "grand"} else 2

    return min(amounts, key=rank, default=None)  # the first of the best rank


ORDER_WORDS = ("id", "number", "no", "nr", "name", "key", "ref", "reference")


def _order_column(raw: pd.DataFrame, used: list[str]) -> str | None:
    """A column of order ids (named so: ``order_number``, ``Order ID``; or Shopify's ``Name``
    of ``#1001``) whose ids repeat over rows: an export of one row per line item."""
    for name in map(str, raw.columns):
        if name in used:
            continue
        words = c.name_words(name)
        ids = raw[name].dropna().astype(str).str.strip()
        ids = ids[ids != ""]
        named = "order" in words and (len(words) == 1 or set(words) & set(ORDER_WORDS))
        if not len(ids) or not (named or ids.str.fullmatch(r"#\d+").all()):
            continue
        if ids.duplicated().any() and ids.nunique() > 1:
            return name
    return None


def _holds_type_names(column: pd.Series) -> bool:
    """Whether a column holds a contract event type name (' Session' is one)."""
    values = column.dropna().astype(str).str.strip().str.lower()
    return bool(values.isin(c.KNOWN_EVENT_TYPES).any())


# a column named as a number of a thing, not an amount of money (store_id, Postcode, SKU)
NOT_MONEY_WORDS = ("id", "code", "no", "nr", "number", "zip", "postcode", "phone", "sku", "ean")
NUMBERED = ("nummer", "number", "numero", "número")  # Bestellnummer, ordernumber
# 14.85, 1 234,50, 1.234,50, (3.10), 12.50-; no date (2024.01.05) nor time (08:26)
NUMBER = r"[-+(]?(?:\d{1,3}(?:[.,\s']\d{3})+|\d+)(?:[.,]\d+)?\)?-?"


def number_columns(raw: pd.DataFrame, used: Iterable[str]) -> list[tuple[str, str]]:
    """The file's columns, not read as another, whose every filled cell is a number (up to
    four, with one cell each, those with decimals first): where no amount column is known by
    its name (a Japanese shop's '金額', a Russian 'Сумма', an Arabic 'المبلغ'), the refusal
    names them for --map amount, never choosing one (a quantity, a weight or a rate reads
    alike)."""
    taken, found = set(used), []
    for name in map(str, raw.columns):
        words = c.name_words(name)
        if name in taken or any(w in NOT_MONEY_WORDS or w.endswith(NUMBERED) for w in words):
            continue
        values = raw[name].dropna().astype(str).str.strip()
        values = values[values != ""]
        if len(values) and values.str.fullmatch(NUMBER).all():
            found.append((not values.str.contains(r"[.,]\d").any(), name, values.iloc[0]))
    return [(name, cell) for _, name, cell in sorted(found, key=lambda f: f[0])[:4]]


def number_columns_said(columns: list[tuple[str, str]]) -> str:
    """:func:`number_columns` as a refusal names them: `'金額' (14.85) or 'Menge' (6)`."""
    return " or ".join(f"'{name}' ({cell})" for name, cell in columns)


MAP_AMOUNT = "--map amount=COLUMN"


def unit_price_said(raw: pd.DataFrame, price: str, quantity: str) -> str:
    """Why a price per unit beside a quantity (``UnitPrice``, ``Quantity``) is not offered for
    --map amount: mapped, each line counted one unit (online_retail read so: every order's
    revenue the sum of its unit prices, and its cancellations' negative quantities purchases).
    Its own file goes in through its adapter."""
    said = (
        f"'{price}' is a price per unit beside '{quantity}': a purchase's amount is what the "
        f"line cost, {quantity} x {price}, which no column holds; write it as a column and "
        f"name that with {MAP_AMOUNT}"
    )
    if set(c.ONLINE_RETAIL_COLUMNS) <= set(map(str, raw.columns)):
        said += (
            " (this file has online_retail's own columns: `lifecycle import online-retail "
            "FILE` reads it so, its cancellations as refunds)"
        )
    return said


# words of a column's name that say it holds who did it, or when (a name word starts with one:
# 'Customer No.', 'Kundennr', 'Purchased At')
USER_STEMS = ("user", "customer", "client", "account", "buyer", "member", "shopper", "kunde")
USER_STEMS += ("cliente", "klant", "email", "mail", "contact", "person", "subscriber")
TIME_STEMS = ("date", "time", "created", "placed", "ordered", "purchased", "sold", "paid")
TIME_STEMS += ("datum", "zeit", "fecha", "data", "when", "timestamp", "at", "day")
_WHAT = {c.USER_ID: "the user id", c.EVENT_TIME: "the event time", c.SIGNUP_TIME: "the signup time"}
_NUMBER_ONLY = r"[-+]?[0-9]+(?:[.,][0-9]+)?"


def mapping_candidates(
    raw: pd.DataFrame, missing: list[str], used: Iterable[str], option: str
) -> str:
    """The end of a refusal of a file without its user or time column (``missing`` of
    user_id, event_time, signup_time; ``used``: the columns other maps read): for each, the
    file's columns that may hold it, the likeliest first, with an example value and the
    ``option`` that reads the first (a shop's 'Customer No.' and 'Order Date' were plain to
    see, and the refusal said only `--map CONTRACT=SOURCE`). A user column is one named so
    (customer, client, account, ...) holding no dates; a time column one whose values read
    as dates, one named so first. None chosen: each is offered."""
    taken, parts = set(map(str, used)), []
    for name in missing:
        found = (_user_columns(raw, taken) if name == c.USER_ID else _time_columns(raw, taken))[:3]
        if not found:
            parts.append(f"no column looks like {_WHAT[name]} ({option} {name}=COLUMN names it)")
            continue
        named = " or ".join(
            f"'{col}'" + (f" (e.g. {value})" if value else "") for col, value in found
        )
        parts.append(f"{named} may hold {_WHAT[name]}: {option} {name}={shlex.quote(found[0][0])}")
    return f". Of its columns, {'; '.join(parts)}" if parts else ""


def _filled(values: pd.Series) -> pd.Series:
    text = values.dropna().astype(str).str.strip()
    return text[text != ""].head(200)


def _user_columns(raw: pd.DataFrame, taken: set[str]) -> list[tuple[str, str]]:
    """Columns named as a user's (an id word first: 'Customer No.' before 'Customer Name'),
    whose values are no dates."""
    found = []
    for name in map(str, raw.columns):
        words = c.name_words(name)
        values = _filled(raw[name])
        if name in taken or not any(w.startswith(USER_STEMS) for w in words) or _as_dates(values):
            continue
        first = values.iloc[0] if len(values) else ""  # a header alone: its name says it
        found.append((not set(words) & {*ORDER_WORDS, "email", "mail"}, name, first))
    return [(name, value) for _, name, value in sorted(found, key=lambda f: f[0])]


def _time_columns(raw: pd.DataFrame, taken: set[str]) -> list[tuple[str, str]]:
    """Columns whose values read as dates (not numbers nor times of day alone), one named
    as a time first; of a header alone, those named so."""
    found = []
    for name in map(str, raw.columns):
        values = _filled(raw[name])
        named = any(w.startswith(TIME_STEMS) for w in c.name_words(name))
        if name in taken or not (_as_dates(values) or (values.empty and named)):
            continue
        found.append((not named, name, values.iloc[0] if len(values) else ""))
    return [(name, value) for _, name, value in sorted(found, key=lambda f: f[0])]


def _as_dates(values: pd.Series) -> bool:
    """Whether nine in ten of ``values`` read as dates: not numbers (ids, amounts, serials) nor
    times of day alone."""
    import warnings

    import pandas as pd

    from features.time_columns import TIME_OF_DAY  # pandas: hints are light to import

    if values.empty:
        return False
    if values.str.fullmatch(_NUMBER_ONLY).mean() > 0.5 or values.str.fullmatch(TIME_OF_DAY).all():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        read = pd.to_datetime(values, errors="coerce", format="mixed", dayfirst=False)
    return bool(read.notna().mean() >= 0.9)
