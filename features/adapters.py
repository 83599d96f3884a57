"""Adapters that turn the real public data sets into contract tables.

- ``online_retail``: invoice lines -> purchase events (one per line, ``order_id`` = invoice);
  cancellation lines (invoice ``C...``) -> refund events; lines without a customer id,
  non-positive quantities or negative prices are quarantined with their reason. A line at a
  unit price of 0 is a free item of a real order: a 0.00 purchase, as ``ingest`` keeps it.
- ``telco_churn``: a snapshot table (one row per customer, ``label`` = churned).
- ``hillstrom``: a randomised campaign table (treatment vs control, visit, conversion, spend).

Each reads its file in chunks and checks it with the same machinery as ``lifecycle ingest``
(:func:`features.loading.load_table`); the results are small enough to return in memory.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features import contract as c
from features.column_checks import require_columns
from features.erasure_log import ErasedUsers
from features.id_checks import check_user_ids
from features.loading import load_table
from features.parsing import as_text, parse_amounts
from features.raw_ids import stripped_ids
from features.reading import DEFAULT_CHUNK_ROWS, read_chunks
from features.table_checks import TableChecks, is_blank
from features.validation import (
    DEFAULT_MAX_AMOUNT_RATIO,
    ContractError,
    Loaded,
    LoadReport,
    Quarantine,
    TableRules,
    event_rules,
    text_column,
)

ONLINE_RETAIL_FILE = "online_retail/online_retail_transactions.csv.gz"
TELCO_CHURN_FILE = "telco_churn/WA_Fn-UseC_-Telco-Customer-Churn.csv"
HILLSTROM_FILE = "hillstrom/hillstrom.csv"
NON_PRODUCT_CODES = (
    "POST",
    "DOT",
    "M",
    "D",
    "C2",
    "BANK CHARGES",
    "AMAZONFEE",
    "CRUK",
    "PADS",
    "S",
    "B",
)
RETAIL_TIMEZONE = "Europe/London"  # of the shop's invoice times (they have no offset)
ONLINE_RETAIL_COLUMNS = c.ONLINE_RETAIL_COLUMNS  # the adapter reads these


def source_shaped_like(path: Path | str) -> str | None:
    """The public data set whose own file ``path`` looks like (its adapter's columns), or
    None (also when the file cannot be read: its reader says why elsewhere)."""
    from features.reading import read_chunks

    try:
        columns = set(next(iter(read_chunks(Path(path), 1))).columns)
    except (OSError, ValueError, StopIteration):
        return None
    return "online-retail" if set(ONLINE_RETAIL_COLUMNS) <= columns else None


def not_its_file(source: str) -> str:
    """What to do with a file that lacks an adapter's columns (adapters take no --map): an
    events file of another shape goes in with `ingest --map`; a snapshot or a campaign table
    has no other way in (``ingest`` reads events), so its columns are renamed."""
    if source != "online-retail":
        return (
            f"`lifecycle import {source}` reads that data set's own columns, and only it reads "
            "such a table (`lifecycle ingest` reads events): rename the file's columns to them"
        )
    return (
        f"`lifecycle import {source}` reads that data set's own file; a file of another shape "
        "goes in with `lifecycle ingest FILE --map CONTRACT=SOURCE`"
    )


def refuse_own_columns(raw: pd.DataFrame, made: dict[str, str], source: str) -> None:
    """A file column named as a column the adapter makes (``made``: name -> what it is made
    from) took its place: a ``user_id`` column replaced every customer id (7,042 of 7,043
    rows then refused as duplicates), a ``visit`` of text... Refused in one line."""
    for name, origin in made.items():
        if name in raw.columns:
            raise ContractError(
                f"{source}: column '{name}' has the name of the column this adapter makes "
                f"from {origin}; rename it in the file (the file has: {', '.join(raw.columns)})"
            )


def online_retail(
    path: Path | str,
    *,
    max_bad_fraction: float = 0.5,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    erased: ErasedUsers | None = None,
    date_order: str = "auto",
    keep_repeats: bool = False,
    max_amount_ratio: float = DEFAULT_MAX_AMOUNT_RATIO,
    scratch: Path | None = None,
) -> tuple[Loaded, Loaded]:
    """UCI Online Retail invoice lines -> (events, users). Users carry their first country;
    ``keep_repeats``: identical lines are separate events, as ingest's option;
    ``max_amount_ratio``: settings ingest.max_amount_ratio."""
    source = str(path)
    rules, adapter = online_retail_rules(path, erased, date_order, keep_repeats)
    rules = replace(rules, max_amount_ratio=max_amount_ratio)
    loaded = load_table(
        lambda: read_chunks(path, chunk_rows),
        rules,
        source,
        max_bad_fraction=max_bad_fraction,
        scratch=scratch,  # the workspace's staging (features.loading.load_table)
    )
    adapter.notes(loaded.report, loaded.frame)
    users = online_retail_users(loaded.frame)
    return loaded, Loaded(
        frame=users, quarantine=EMPTY_QUARANTINE, report=users_report(users, source)
    )


@dataclass(frozen=True)
class Adapter:
    """What an adapter's events file adds to the path every events file takes: the notes
    of its report, written from the events it gives (columns ``notes_of``), and the users
    table, derived from the dataset's events (columns ``users_of``)."""

    notes: Callable[[LoadReport, pd.DataFrame], None]
    notes_of: list[str]
    users: Callable[[pd.DataFrame], pd.DataFrame]
    users_of: list[str]


# online_retail's invoice, product and country codes as the file names them and as loaded,
# and the product's description: a catalogue name ("... BAUBLES 17080"), no one's mention
# (a code since 2026-12-07: :func:`description_as_text` tells a dataset imported before)
RETAIL_DESCRIPTION = ("Description", "description")
RETAIL_CODES = ("InvoiceNo", "StockCode", *RETAIL_DESCRIPTION, "Country", "stock_code", "country")


def description_as_text(report: dict[str, Any]) -> bool:
    """Whether a dataset version's report is of an online_retail import from before its
    product description was a code column: its codes are the adapter's but the description
    (``forget`` then redacts a customer id in it, ``SET 10 CARDS HANGING BAUBLES 17080``)."""
    codes = set(report.get("code_columns") or ())
    return {"InvoiceNo", "StockCode"} <= codes and not codes & set(RETAIL_DESCRIPTION)


def online_retail_rules(
    path: Path | str,
    erased: ErasedUsers | None = None,
    date_order: str = "auto",
    keep_repeats: bool = False,
) -> tuple[TableRules, Adapter]:
    """The events rules of Online Retail's invoice lines (an import and an append of a later
    month read them alike), and its adapter's notes (the lines' counts, gathered as the
    chunks are checked, and those of the loaded events) and users table."""
    source = str(path)
    counts: Counter[str] = Counter()
    customers: set[str] = set()
    valid_customers: set[str] = set()

    def prepare(raw: pd.DataFrame) -> tuple[pd.DataFrame, Quarantine]:
        require_columns(
            raw, {n: n for n in ONLINE_RETAIL_COLUMNS}, source, not_its_file("online-retail")
        )
        bad = Quarantine(raw, "CustomerID", RETAIL_CODES)
        quantity = parse_amounts(raw["Quantity"])
        unit_price = parse_amounts(raw["UnitPrice"])
        no_customer = is_blank(raw["CustomerID"])
        bad.flag_last(no_customer, "missing_user_id")  # unless another rule holds it back
        bad.flag(quantity.isna(), "invalid_quantity")
        bad.flag(unit_price.isna(), "invalid_unit_price")
        # as text whatever the file's types (a Parquet copy: CustomerID floats, 17850.0)
        columns = ("InvoiceNo", "StockCode", "Country", "CustomerID")
        text = {name: as_text(raw[name]) for name in columns}
        invoice = text["InvoiceNo"].str.strip()
        cancellation = invoice.str.upper().str.startswith("C").fillna(False).astype(bool)
        # A cancellation reverses earlier lines: negative quantity, booked as a refund.
        bad.flag(cancellation & (quantity >= 0), "cancellation_with_positive_quantity")
        bad.flag(~cancellation & (quantity <= 0), "non_positive_quantity")
        bad.flag(unit_price < 0, "negative_unit_price")
        if len(raw) and raw.index[0] == 0:  # a pass over the file begins: count it alone
            counts.clear(), customers.clear(), valid_customers.clear()

        customer = stripped_ids(text["CustomerID"])  # forget reads its quarantine so too
        # SOURCE.txt's cleaned figure (price > 0); the free lines load too (free_purchases)
        valid_purchase = ~cancellation & quantity.gt(0) & unit_price.gt(0) & ~no_customer
        counts["invoice_lines"] += len(raw)
        counts["lines_without_customer"] += int(no_customer.sum())
        counts["cancellation_lines"] += int(cancellation.sum())
        counts["valid_purchase_lines"] += int(valid_purchase.sum())
        # as a list: iterating a string Series reads its cells one call each
        customers.update(customer[~no_customer].tolist())
        valid_customers.update(customer[valid_purchase].tolist())
        events_raw = pd.DataFrame(
            {
                c.USER_ID: customer,
                "InvoiceDate": raw["InvoiceDate"],  # by its name: refusals name the file's
                c.EVENT_TYPE: np.where(cancellation, c.REFUND, c.PURCHASE),
                c.AMOUNT: (quantity * unit_price).abs().round(6),
                c.CURRENCY: "GBP",
                c.ORDER_ID: invoice,
                "stock_code": text["StockCode"].str.strip(),
                "description": as_text(
                    raw.get("Description", pd.Series("", index=raw.index))
                ).str.strip(),
                "quantity": quantity.abs(),
                "unit_price": unit_price,
                "country": text["Country"].str.strip(),
            }
        )
        return events_raw, bad

    def add_notes(report: LoadReport, events: pd.DataFrame) -> None:
        report.notes |= {
            "invoice_lines": counts["invoice_lines"],
            "customers": len(customers),
            "lines_without_customer": counts["lines_without_customer"],
            "cancellation_lines": counts["cancellation_lines"],
            "valid_purchase_lines": counts["valid_purchase_lines"],
            "valid_purchase_customers": len(valid_customers),
            "purchase_events": int((events[c.EVENT_TYPE] == c.PURCHASE).sum()),
            "refund_events": int((events[c.EVENT_TYPE] == c.REFUND).sum()),
            "non_product_lines": int(
                events["stock_code"].str.upper().isin(NON_PRODUCT_CODES).sum()
            ),
            "revenue_gbp": round(
                float(events.loc[events[c.EVENT_TYPE] == c.PURCHASE, c.AMOUNT].sum()), 2
            ),
            "timezone": f"naive times read as {RETAIL_TIMEZONE}",
        }

    mapping = c.ColumnMapping(
        {c.EVENT_TIME: "InvoiceDate"}, timezone=RETAIL_TIMEZONE, date_order=date_order
    )
    rules = event_rules(mapping, source, prepare=prepare, keep_repeats=keep_repeats)
    rules = dataclasses.replace(rules, order_lines=True)  # invoice lines, never orders re-sent
    rules = (erased or ErasedUsers()).rules(rules)  # `forget` keeps them out, as in ingest
    notes_of = [c.EVENT_TYPE, c.AMOUNT, "stock_code"]
    return rules, Adapter(add_notes, notes_of, online_retail_users, RETAIL_USERS_OF)


EMPTY_QUARANTINE = pd.DataFrame(columns=[c.SOURCE_ROW, c.REASON])


# online_retail's users table: what it is derived from (its report's note), and the columns read
RETAIL_USERS_DERIVED = "events (country of each customer's first invoice)"
# the note of a users table derived before: each customer's main country over every event, a
# later invoice's country read at earlier cutoffs (derived again as above where it is read)
MAIN_COUNTRY_DERIVED = "events (main country per customer)"
RETAIL_USERS_OF = [c.USER_ID, c.EVENT_TIME, "country"]


def users_report(users: pd.DataFrame, source: str) -> LoadReport:
    """The report of a users table derived from the events (every row loads)."""
    report = LoadReport(source=source, table="users", rows_read=len(users), rows_loaded=len(users))
    report.notes = {"derived_from": RETAIL_USERS_DERIVED}
    return report


def derived_users(report: dict[str, Any] | None, events: Path) -> pd.DataFrame | None:
    """The users table an adapter derives from ``events`` (a dataset's events file), where the
    dataset's ``report`` says its users table was so derived; None for one read from a file."""
    users = ((report or {}).get("tables") or {}).get("users") or {}
    if (users.get("notes") or {}).get("derived_from") not in (
        RETAIL_USERS_DERIVED,
        MAIN_COUNTRY_DERIVED,
    ):
        return None
    return online_retail_users(pd.read_parquet(events, columns=RETAIL_USERS_OF))


def online_retail_users(events: pd.DataFrame) -> pd.DataFrame:
    """One users row per customer: the country of their first invoice (of their lines at
    their first moment, the country most name, then by name; no sign-up time: left-censored).
    Known from their first event on, so no cutoff reads a country of a later invoice (the
    country they bought from most did: 12455, Cyprus until 2011-09-08, read Spain at every
    cutoff). An append derives it again from all the events: a known customer's stays."""
    first = events.groupby(c.USER_ID, observed=True)[c.EVENT_TIME].transform("min")
    country = (
        events[events[c.EVENT_TIME] == first]
        .groupby([c.USER_ID, "country"], observed=True)
        .size()
        .rename("lines")
        .reset_index()
        .sort_values([c.USER_ID, "lines", "country"], ascending=[True, False, True], kind="stable")
        .drop_duplicates(c.USER_ID)
    )
    return country[[c.USER_ID, "country"]].reset_index(drop=True)


TELCO_NUMERIC = ("SeniorCitizen", "tenure", "MonthlyCharges", "TotalCharges")
# How a table writes "no value" in a number column (pandas' NaN, R's NA, a spreadsheet's -):
# kept as null like a blank, never a customer quarantined for it.
NO_VALUE = frozenset({"na", "n/a", "nan", "null", "none", "-"})
YES_NO = {"yes": 1.0, "no": 0.0, "true": 1.0, "false": 0.0}  # a flag spelt in words


def telco_churn(
    path: Path | str,
    *,
    max_bad_fraction: float = 0.5,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    erased: ErasedUsers | None = None,
    scratch: Path | None = None,
) -> Loaded:
    """IBM Telco churn snapshot -> one row per customer with ``label`` (1 = churned)."""
    path = Path(path)
    source = str(path)
    blank_total = 0

    def check(raw: pd.DataFrame, checks: TableChecks) -> tuple[pd.DataFrame, Quarantine]:
        nonlocal blank_total
        wanted = {n: n for n in ("customerID", "Churn", *TELCO_NUMERIC)}
        require_columns(raw, wanted, source, not_its_file("telco-churn"))
        own = {c.USER_ID: "'customerID'", c.LABEL: "'Churn'"}
        refuse_own_columns(raw, own, source)
        bad = Quarantine(raw, "customerID")
        # as ingest reads ids: control characters, spreadsheet-rounded ids (7.59E+3) are bad
        snapshot = pd.DataFrame({c.USER_ID: check_user_ids(raw, "customerID", bad, checks)})
        churn = raw["Churn"].astype("string").str.strip().str.lower()
        label = churn.map({"yes": 1, "no": 0, "1": 1, "0": 0, "true": 1, "false": 0})
        number = pd.to_numeric(churn, errors="coerce")  # 1.0 / 0.0, as pandas writes a label
        label = label.fillna(number.where(number.isin((0, 1))))
        bad.flag(label.isna(), "invalid_label")
        snapshot[c.LABEL] = label.astype("Int8")
        for name in raw.columns:
            if name in ("customerID", "Churn"):
                continue
            if name in TELCO_NUMERIC:
                words = raw[name].astype("string").str.strip().str.lower()
                empty = is_blank(raw[name]) | words.isin(NO_VALUE).fillna(False)
                values = parse_amounts(raw[name].mask(empty))
                blank_total += int(empty.sum()) if name == "TotalCharges" else 0
                if name == "SeniorCitizen":  # 0/1, or Yes/No as the other flags are written
                    values = values.fillna(words.map(YES_NO).astype(float))
                    bad.flag(values.notna() & ~values.isin((0.0, 1.0)), f"invalid_{name}")
                # New customers (tenure 0) have no charges yet: blank is "none so far", kept as null.
                bad.flag((values.isna() & ~empty) | (values < 0), f"invalid_{name}")
                snapshot[name] = values
            else:  # a blank cell is no value, not a category of its own
                text = text_column(raw, name, name, bad).str.strip()
                snapshot[name] = text.mask(text == "")
        return snapshot, bad

    rules = TableRules(
        "snapshot", check, unique_by=(c.USER_ID,), duplicate_reason="duplicate_user_id"
    )
    rules = (erased or ErasedUsers()).rules(rules)
    loaded = _finish_table(path, rules, source, max_bad_fraction, chunk_rows, scratch)
    loaded.report.notes = {
        "churn_rate": round(float(loaded.frame[c.LABEL].mean()), 4),
        "total_charges_blank_kept_as_null": blank_total,
    }
    return loaded


HILLSTROM_CONTROL = "No E-Mail"  # the arm that got no e-mail, however a copy writes its case
# the three arms as the publisher writes them; a copy's 'mens email' or 'Womens_E-Mail' is
# one of them (it was an arm of its own: 5 rows typed 'Mens Email' made a third e-mail)
HILLSTROM_ARMS = ("Mens E-Mail", "Womens E-Mail", HILLSTROM_CONTROL)
# recency: whole months since the last purchase, within the past year (1 to 12 in the file)
HILLSTROM_RECENCY_MONTHS = (1, 12)


def _arm_letters(arm: pd.Series) -> pd.Series:
    """An arm's letters alone, in lower case: how two spellings of one arm compare."""
    return arm.str.casefold().str.replace(r"[^a-z]", "", regex=True)


def hillstrom(
    path: Path | str,
    *,
    max_bad_fraction: float = 0.5,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    erased: ErasedUsers | None = None,
    scratch: Path | None = None,
) -> Loaded:
    """Hillstrom e-mail campaign -> one row per customer; ``treatment`` = got an e-mail."""
    path = Path(path)
    source = str(path)
    outcome_columns = ("visit", "conversion", "spend")

    def check(raw: pd.DataFrame, checks: TableChecks) -> tuple[pd.DataFrame, Quarantine]:
        wanted = {n: n for n in ("segment", *outcome_columns, "recency", "history")}
        require_columns(raw, wanted, source, not_its_file("hillstrom"))
        own = {c.USER_ID: "the row number", c.TREATMENT: "'segment'", c.ARM: "'segment'"}
        refuse_own_columns(raw, own, source)
        bad = Quarantine(raw)
        written = raw["segment"].astype("string").str.strip()
        bad.flag(is_blank(written), "missing_segment")
        spelt = _arm_letters(pd.Series(HILLSTROM_ARMS, dtype="string"))
        arm = _arm_letters(written).map(dict(zip(spelt, HILLSTROM_ARMS, strict=True)))
        arm = arm.astype("string").fillna(written)
        control = arm.eq(HILLSTROM_CONTROL)  # 'no e-mail' too
        campaign = pd.DataFrame(
            {
                # The file has no customer ids: the row number is the id, stable for this file.
                c.USER_ID: [f"h{i + 1:05d}" for i in raw.index],
                c.TREATMENT: ~control.fillna(False) & arm.notna(),
                c.ARM: arm.mask(control.fillna(False), HILLSTROM_CONTROL),
            },
            index=raw.index,
        )
        for name in outcome_columns:
            values = parse_amounts(raw[name])
            # visit and conversion happened or not: 2, 0.5 or 300 (which broke the load) are bad
            wrong = values.isna() | (values < 0) if name == "spend" else ~values.isin((0, 1))
            bad.flag(wrong, f"invalid_{name}")
            campaign[name] = values if name == "spend" else values.where(~wrong).astype("Int8")
        for name in raw.columns:
            if name in (*outcome_columns, "segment"):
                continue
            if name in ("recency", "history", "mens", "womens", "newbie"):
                campaign[name] = parse_amounts(raw[name])  # a word is no number: not null
                # months since the last purchase, dollars, flags: none is below 0 (a
                # recency of -1 was loaded as a customer who bought next month)
                wrong = campaign[name].isna() & ~is_blank(raw[name]) | (campaign[name] < 0)
                bad.flag(wrong, f"invalid_{name}")
            else:  # a control character is no category (as ingest reads attributes)
                campaign[name] = text_column(raw, name, name, bad).str.strip()
        # whole months within the past year: a recency of 0, 13 or 2.5 loaded as a customer
        first, last = HILLSTROM_RECENCY_MONTHS
        months = campaign["recency"]
        bad.flag((months < first) | (months > last), "recency_out_of_range")
        bad.flag(months.notna() & (months % 1 != 0), "fractional_recency")
        return campaign, bad

    rules = (erased or ErasedUsers()).rules(TableRules("campaign", check, unique_by=(c.USER_ID,)))
    loaded = _finish_table(path, rules, source, max_bad_fraction, chunk_rows, scratch)
    frame = loaded.frame
    treated = frame[c.TREATMENT].astype(bool)
    if treated.all() or not treated.any():  # train-uplift refused it later, the effect too
        held = ", ".join(f"{arm!r} ({n:,})" for arm, n in frame[c.ARM].value_counts().items())
        raise ContractError(
            f"{source}: column 'segment' holds only {held} in its {len(frame):,} loaded rows: "
            f"expected both an e-mail arm (e.g. 'Mens E-Mail') and the control "
            f"{HILLSTROM_CONTROL!r}, which a campaign's effect compares"
        )
    loaded.report.notes = {
        "visit_rate": round(float(frame[c.VISIT].mean()), 5),
        "conversion_rate": round(float(frame[c.CONVERSION].mean()), 5),
        "mean_spend": round(float(frame[c.SPEND].mean()), 5),
        "conversion_by_arm": {
            str(k): round(float(v), 5) for k, v in frame.groupby(c.ARM)[c.CONVERSION].mean().items()
        },
    }
    return loaded


def _finish_table(
    path: Path,
    rules: TableRules,
    source: str,
    max_bad_fraction: float,
    chunk_rows: int,
    scratch: Path | None = None,
) -> Loaded:
    loaded = load_table(
        lambda: read_chunks(path, chunk_rows),
        rules,
        source,
        max_bad_fraction=max_bad_fraction,
        scratch=scratch,
    )
    if loaded.frame.empty:
        raise ContractError(f"{source}: no valid rows ({loaded.report.summary()})")
    return loaded
