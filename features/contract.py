"""The data contract: what an events table, a users table and a snapshot table hold.

Everything downstream (features, labels, demo data, adapters) speaks these column names.
Timestamps are timezone-aware UTC; amounts are non-negative, and money going back to
the customer is an event of type ``refund`` with a positive amount.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lifecycle.errors import UserError


class ContractError(UserError):
    """A file that cannot be loaded as the table asked for; the message says where and why.
    ``options``: the ingest options, with their values, it tells to give (--delimiter ';'):
    `refresh`, which has none, names them in the `ingest --append` it sends the file to."""

    def __init__(self, message: str, options: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.options = options


# Events table
USER_ID = "user_id"
EVENT_TIME = "event_time"
EVENT_TYPE = "event_type"
AMOUNT = "amount"
CURRENCY = "currency"
ORDER_ID = "order_id"  # optional: lines of one order share it (frequency counts orders)

MAX_USER_ID_CHARS = 128  # the longest user id ingest loads and the HTTP API accepts
# In no id ingest loads nor the HTTP API takes: the NUL of a damaged export, a line break
CONTROL_CHARACTER = r"[\x00-\x1f\x7f]"
# ... nor one nobody sees: 'bob' + a zero-width space looks like 'bob' and is another user, a
# right-to-left override shows 'u1<RLO>gnp.exe' as 'u1exe.png', a byte order mark left inside
# a value by files joined together hides in front of it; soft hyphen, joiners, bidi marks too
# (the invisible ones as characters: Arrow's RE2 reads no \\u escape)
ID_REFUSED_CHARACTER = (
    CONTROL_CHARACTER[:-1] + "\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
# 18074.0: pandas writes integer ids so in a column with a null; ingest reads them as 18074
WHOLE_FLOAT_ID = r"^(-?[0-9]+)\.0$"


def integer_user_id(user_id: str) -> str | None:
    """The id ingest reads ``user_id`` as when a file writes it ``18074.0`` (``18074``), or
    None for an id not so written."""
    match = re.fullmatch(WHOLE_FLOAT_ID, user_id)
    return match.group(1) if match else None


def lookup_user_ids(user_ids: Iterable[str]) -> list[str]:
    """The distinct requested ids, then the integer ids of those written ``18074.0``: what a
    lookup of requested users reads (:func:`answering_user_id` picks each one's row)."""
    given = list(dict.fromkeys(user_ids))
    return list(dict.fromkeys([*given, *filter(None, map(integer_user_id, given))]))


def user_id_spellings(user_id: str) -> tuple[str, ...]:
    """The id ingest reads ``user_id`` as, then its other spelling for an integer id:
    ``("18074", "18074.0")`` for either. A quarantine file keeps the raw ``18074.0``, and
    a column that also holds ``A1`` keeps it as written: erasure takes both for one id."""
    integer = integer_user_id(user_id) or (user_id if re.fullmatch(r"-?[0-9]+", user_id) else None)
    return (user_id,) if integer is None else (integer, f"{integer}.0")


def answering_user_id(user_id: str, known: Container[str]) -> str:
    """Whose row answers a requested id: the user ingest loaded from its ``18074.0``
    spelling when only that one is known, else the id itself. Known as given comes first:
    ingest keeps ``18074.0`` verbatim in a column that also holds other ids (``A1``)."""
    integer = integer_user_id(user_id)
    if user_id in known or integer is None or integer not in known:
        return user_id
    return integer


# names of an events' currency column but for case and separators, the first found read
CURRENCY_NAMES = ("currency", "currencycode", "ordercurrency")  # WooCommerce: Order Currency


def currency_column(names: Iterable[str]) -> str | None:
    """The column holding the events' currency: the contract's, else one of
    ``CURRENCY_NAMES`` but for case and separators ('Currency', 'currency_code'), left
    unmapped, or a nested field named so (a JSON lines export's ``properties.currency``: a
    dotted name's last part); the first of those, a column before a nested field."""
    names = [str(name) for name in names]
    if CURRENCY in names:
        return CURRENCY
    for part in (lambda name: name, lambda name: name.rsplit(".", 1)[-1]):
        folded = {re.sub(r"[\s_-]", "", part(n)).casefold(): n for n in reversed(names)}
        if found := next(filter(None, map(folded.get, CURRENCY_NAMES)), None):
            return found
    return None


def snake_case(name: str) -> str:
    """A column's name in snake case, the one name of its spellings: ``StockCode`` and
    ``stock_code`` alike, ``stock_code`` (guest rows' keys, an append's columns)."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.strip())
    return re.sub(r"[^0-9a-z]+", "_", spaced.lower()).strip("_")


# words of a column that holds money (an export's amount column renamed: revenue, total)
AMOUNT_WORDS = ("amount", "revenue", "total", "price", "value", "sales", "paid")
# words of a column that counts the units a price is of (a line's Quantity beside UnitPrice)
QUANTITY_WORDS = ("quantity", "qty")
# the columns of online_retail's own file, which `import online-retail` reads (features.adapters)
ONLINE_RETAIL_COLUMNS = (
    "InvoiceNo",
    "StockCode",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)


# the same in the other languages of shops' exports (a German shop's 'Betrag' was "no amount
# column"): a word of the name, never part of another (Importeur, scena); of the languages
# that join words, a word's end too (Gesamtbetrag, Nettoumsatz, Totaalbedrag, Totalbelopp).
# The cells' look cannot tell money from a weight or a rate (2.35), nor the total from the
# tax beside it, so the name says it
AMOUNT_WORDS_JOINED = (
    *("betrag", "umsatz", "summe", "preis", "wert"),  # German (Gesamtbetrag: betrag)
    *("bedrag", "prijs", "totaal", "omzet", "waarde"),  # Dutch
    *("belopp", "beløb", "beløp", "summa", "pris"),  # Swedish, Danish, Norwegian
)
AMOUNT_WORDS_ABROAD = (
    *AMOUNT_WORDS_JOINED,
    *("montant", "prix", "valeur"),  # French
    *("importe", "monto", "precio", "valor"),  # Spanish (valor: Portuguese too)
    *("importo", "prezzo", "totale", "valore"),  # Italian
    *("montante", "preço", "preco"),  # Portuguese
    *("kwota", "wartość", "wartosc", "cena", "částka", "castka"),  # Polish, Czech
    *("hinta", "tutar", "fiyat"),  # Finnish, Turkish
)


def name_words(name: str) -> list[str]:
    """A column's name as its words, case folded, in any script: 'GesamtBetrag (EUR)' is
    gesamt, betrag, eur; 'Preço' is preço (:func:`snake_case` drops the letters beyond ASCII)."""
    spaced = re.sub(r"(?<=[a-zà-ÿ0-9])(?=[A-Z])", "_", name.strip())
    return [w for w in re.split(r"[\W_]+", spaced.casefold()) if w]


def named_as_amount(names: Iterable[str], used: Iterable[str]) -> str | None:
    """The file's first column, not read as another, whose name says it holds money: an
    English word in it (``Total``, ``order_value``), or a word of another language
    (:data:`AMOUNT_WORDS_ABROAD`)."""
    taken = set(used)
    for name in map(str, names):
        if name in taken:
            continue
        words = name_words(name)
        abroad = any(w in AMOUNT_WORDS_ABROAD or w.endswith(AMOUNT_WORDS_JOINED) for w in words)
        if abroad or any(w in name.lower() for w in AMOUNT_WORDS):
            return name
    return None


def quantity_beside_price(names: Iterable[str], named: str) -> str | None:
    """The file's quantity column when ``named`` (a column :func:`named_as_amount` found) is
    a price per unit beside it (``UnitPrice`` and ``Quantity``): then no column holds what a
    line cost, their product, and the price alone is no amount. None otherwise."""
    if "price" not in named.lower():
        return None
    found = (n for n in map(str, names) if set(name_words(n)) & set(QUANTITY_WORDS))
    return next(found, None)


def named_just_as_amount(name: str) -> bool:
    """Whether a column's whole name is one money word (``Total``, ``Betrag``; not
    ``Subtotal``): the amount before other columns named as money."""
    return snake_case(name) in AMOUNT_WORDS or name_words(name) in (
        [w] for w in AMOUNT_WORDS_ABROAD
    )


# A dataset whose user ids ignore case (`ingest --case-insensitive-ids`, emails): recorded
# with its batches (features.batches.case_insensitive_ids) and read by appends and lookups
CASE_INSENSITIVE_IDS = "case_insensitive_ids"


def fold_case(ids: Any) -> Any:
    """User ids (an Arrow string array) as a dataset of case-insensitive ids holds them:
    lower case (``C1@EXAMPLE.COM`` is ``c1@example.com``), whatever file or request names a
    user first, so no map of spellings is kept or consulted. The one definition: ingest,
    appends, lookups, `forget` and the spelling key (``features.id_spellings``) fold so."""
    import pyarrow.compute as pc

    return pc.utf8_lower(ids)


def fold_text(text: str) -> str:
    """One id or text as :func:`fold_case` folds it (``str.lower`` differs beyond ASCII: it
    reads 'İ' as 'i' and a combining dot, a final 'Σ' as 'ς'). Each character folds to one
    (``utf8_lower`` maps code point to code point), so a match in the folded text spans the
    same characters of the text; a lone surrogate (a CSV's undecodable byte) stays as it is."""
    if text.isascii():
        return text.lower()
    return _fold_cell(text) if len(text) <= _CELL else _fold_unicode(text)


_CELL = 1000  # a cell's length: a whole file's text is folded, not kept in the cache
_SURROGATES = re.compile("([\ud800-\udfff]+)")


def _fold_unicode(text: str) -> str:
    import pyarrow as pa

    parts = _SURROGATES.split(text)  # odd parts: surrogate runs, which Arrow cannot hold
    parts[0::2] = fold_case(pa.array(parts[0::2], pa.string())).to_pylist()
    return "".join(parts)


_fold_cell = functools.lru_cache(maxsize=4096)(_fold_unicode)


def held_user_ids(user_ids: Iterable[str], case_insensitive: bool) -> list[str]:
    """``user_ids`` as a dataset holds them: folded (:func:`fold_case`) when its ids are
    case-insensitive, else as given."""
    given = list(user_ids)
    if not case_insensitive or not given:
        return given
    import pyarrow as pa

    return fold_case(pa.array(given, pa.string())).to_pylist()


EVENT_REQUIRED = (USER_ID, EVENT_TIME, EVENT_TYPE)
EVENT_OPTIONAL = (AMOUNT, CURRENCY, ORDER_ID)
EVENT_FIELDS = EVENT_REQUIRED + EVENT_OPTIONAL  # what --map can name

# The event vocabulary. Other types are kept as they are (extra signals), never dropped.
SIGNUP = "signup"
SESSION = "session"
ACTIVATION = "activation"
PURCHASE = "purchase"
REFUND = "refund"
KNOWN_EVENT_TYPES = (SIGNUP, SESSION, ACTIVATION, PURCHASE, REFUND)
MONETARY_EVENT_TYPES = (PURCHASE, REFUND)  # these need an amount


def came_back(tenure_days: Any, recency_days: Any) -> Any:
    """Whether a user's last activity came more than a day after their first (the features
    ``tenure_days`` and ``recency_days``): beyond a sign-up or one day's visit, whatever the
    types of its events. On arrays or one user's floats; a NaN is no evidence (False). The
    stages, the funnel and the label-free models' check of activity share it."""
    return recency_days < tenure_days - 1


# Users table
SIGNUP_TIME = "signup_time"
CHANNEL = "channel"
USER_REQUIRED = (USER_ID,)
USER_OPTIONAL = (SIGNUP_TIME, CHANNEL)
USER_FIELDS = USER_REQUIRED + USER_OPTIONAL  # what --users-map can name
# Columns of codes, not text: a value equal to a user id there (order 7 of user 17) is no
# mention of that user, and `forget` leaves it (features.scrub)
CODE_COLUMNS = (EVENT_TYPE, CURRENCY, ORDER_ID, CHANNEL)

# Snapshot table (one row per user with its own label, no events), e.g. telco churn
LABEL = "label"
SNAPSHOT_REQUIRED = (USER_ID, LABEL)

# Columns a quarantine file adds to the offending row
SOURCE_ROW = "source_row"  # 1-based data row number in the input file (header excluded)
REASON = "reason"
# the file of a folder the row is in (of a file alone, its name); source_row is that file's
SOURCE_FILE = "source_file"
QUARANTINE_OWN = (SOURCE_ROW, REASON, SOURCE_FILE)  # in this order, before the raw values
FILE_START = "file_start"  # attrs of a folder's chunk: its file's first row label


def row_in(row: int, file: str | None) -> str:
    """A row as every message names it: ``row 3`` of a file, ``row 1 of
    dt=2011-02-01/part-0.parquet`` of a folder's (the row in that file)."""
    return f"row {row:,}" + (f" of {file}" if file else "")


def row_named(raw: Any, label: int) -> str:
    """A raw chunk's row (its label counted across a folder's files from 0) as a message
    names it (:func:`row_in`; a folder's chunks' attrs say the file)."""
    file = raw.attrs.get(SOURCE_FILE)
    if file is None or FILE_START not in raw.attrs:
        return row_in(label + 1, None)
    return row_in(label - raw.attrs[FILE_START] + 1, file)


@dataclass(frozen=True)
class ColumnMapping:
    """How a source file's columns map onto the contract.

    ``columns`` maps contract name -> source column name; unmapped contract columns are
    looked up under their own name. ``default_event_type`` makes purchase-only logs
    (user, time, amount) first-class: every row becomes that event type.
    """

    columns: dict[str, str] = field(default_factory=dict)
    default_event_type: str | None = None
    negative_amount_is_refund: bool = False  # purchase logs that book refunds as negatives
    timezone: str = "UTC"  # for timestamps without an offset
    time_format: str | None = None  # strftime format; None parses ISO 8601 and common forms
    date_order: str = "auto"  # 01/02/2023: auto (ambiguous ones quarantined), dayfirst, monthfirst
    decimal_comma: bool = False  # amounts as 1.234,50 (else a comma is only a thousands mark)
    decimal_point: bool = False  # amounts as 1,234.50 throughout: 1.785 and 1,234 never ambiguous
    whole_float_ids: tuple[str, ...] = ()  # id columns (contract names) written 18074.0: 18074
    ids_written_both_ways: tuple[str, ...] = ()  # of those, the ones also writing 18074
    dot_thousands: bool = False  # the amount column groups thousands with '.': 1.785 ambiguous
    # a source's own event type (lower case) -> the contract's: payment_done -> purchase
    event_types: dict[str, str] = field(default_factory=dict)
    case_insensitive_ids: bool = False  # user ids stored folded (fold_case): emails
    # an append to this dataset, which records no currency: amounts' signs are not stored
    dataset_without_currency: str | None = None
    # an append to a dataset whose currency column is named otherwise ('Currency', unmapped):
    # amounts' signs are stored in it, as the currency column the file lacks
    dataset_currency_column: str | None = None
    # an append to a dataset whose currency column holds empty cells (stored before
    # --currency filled them): the file's are left empty too, so a re-sent row matches
    dataset_blank_currency: bool = False
    amount_unit: str | None = None  # minor, cents: amounts divided so (features.amount_units)
    currency: str | None = None  # --currency: the amounts' currency where the file says none
    # an append to this dataset, whose purchases hold amounts: a file without is never
    # counted 1 a purchase there (no --amount-default offered)
    dataset_with_amounts: str | None = None
    # contract names whose map an append took from the dataset's record, not its command
    recorded_columns: tuple[str, ...] = ()
    # options (amount_unit, currency) an append took from the dataset's record, not its command
    recorded_options: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        from features.time_columns import check_time_format, check_timezone
        from features.time_parsing import DATE_ORDERS

        check_timezone(self.timezone)
        if self.time_format is not None:
            check_time_format(self.time_format)
        if self.date_order not in DATE_ORDERS:
            raise ValueError(f"date order {self.date_order!r}: expected one of {DATE_ORDERS}")

    def source(self, contract_column: str) -> str:
        return self.columns.get(contract_column, contract_column)

    @classmethod
    def parse(
        cls,
        pairs: list[str],
        fields: tuple[str, ...] = EVENT_FIELDS + USER_FIELDS,
        option: str = "--map",
        **options: object,
    ) -> ColumnMapping:
        """Build from ``contract=source`` strings, as given on the command line; a name that
        is not one of ``fields`` (extra columns are kept under their own names, never mapped)
        or a field mapped twice is refused."""
        columns: dict[str, str] = {}
        for pair, name, source in _named_pairs(
            pairs, fields, "a contract column", "CONTRACT_COLUMN=SOURCE_COLUMN", "column mapping "
        ):
            if name in columns:
                raise ValueError(
                    f"{pair!r}: {name} is mapped twice ({columns[name]!r} and "
                    f"{source!r}); give one {option} {name}=COLUMN"
                )
            columns[name] = source
        return cls(columns=columns, **options)  # type: ignore[arg-type]


def parse_event_types(pairs: list[str], option: str = "--map-type") -> dict[str, str]:
    """``contract_type=source_type`` strings, as given on the command line, as a map of the
    source's types, as the user wrote them (``Completed``: the summary, `datasets` and the
    report say it so; events match it in any case, :func:`folded_types`), to the contract's;
    a type that is not the contract's, or a source type given twice (in any case), is
    refused."""
    found: dict[str, str] = {}
    written: dict[str, str] = {}  # lower case -> as first written
    for pair, name, source in _named_pairs(
        pairs,
        KNOWN_EVENT_TYPES,
        "an event type of the contract",
        "CONTRACT_TYPE=SOURCE_TYPE",
        f"{option} ",
        f"{option} ",
    ):
        source = written.setdefault(source.lower(), source)
        if found.get(source, name) != name:
            raise ValueError(
                f"{option} {pair!r}: the file's type {source!r} is mapped twice "
                f"({found[source]} and {name}); give it one type"
            )
        if source.lower() != name:
            found[source] = name
    return found


def folded_types(event_types: dict[str, str]) -> dict[str, str]:
    """A ``--map-type`` map keyed as events' types are read (stripped, lower case): a
    dataset recorded before the user's spelling was kept holds it so already."""
    return {source.lower(): name for source, name in event_types.items()}


# the report note of the rows read as a contract's type: map_type:purchase=paid
MAPPED_TYPE = "map_type:"


def mapped_type_note(name: str, source_type: str) -> str:
    """The report note counting the rows of the file's type ``source_type`` read as ``name``."""
    return f"{MAPPED_TYPE}{name}={source_type}"


def _named_pairs(
    pairs: list[str],
    names: tuple[str, ...],
    what: str,
    form: str,
    malformed: str = "",
    unknown: str = "",
) -> Iterator[tuple[str, str, str]]:
    """(pair, name, source) of ``name=source`` strings; one that is not of that form, or
    whose name is not one of ``names`` (the closest one suggested), is refused."""
    import difflib

    for pair in pairs:
        name, sep, source = (part.strip() for part in pair.partition("="))
        if not sep or not name or not source:
            raise ValueError(f"{malformed}{pair!r}: expected {form}")
        if name not in names:
            close = difflib.get_close_matches(name.lower(), names, n=1, cutoff=0.6)
            raise ValueError(
                f"{unknown}{pair!r}: {name!r} is not {what}"
                + (f" (did you mean {close[0]}?)" if close else "")
                + f"; expected one of {', '.join(names)}"
            )
        yield pair, name, source


# Campaign table (randomised treatment vs control with outcomes), e.g. hillstrom
TREATMENT = "treatment"  # True when the user was sent the campaign
ARM = "arm"  # which variant (e.g. "Mens E-Mail", "No E-Mail")
VISIT = "visit"
CONVERSION = "conversion"
SPEND = "spend"
CAMPAIGN_REQUIRED = (USER_ID, TREATMENT, ARM, VISIT, CONVERSION, SPEND)
