"""Adapters that turn the real public data sets into contract tables.

- ``online_retail``: invoice lines -> purchase events (one per line, ``order_id`` = invoice);
  cancellation lines (invoice ``C...``) -> refund events; lines without a customer id,
  non-positive quantities or prices are quarantined with their reason.
- ``telco_churn``: a snapshot table (one row per customer, ``label`` = churned).
- ``hillstrom``: a randomised campaign table (treatment vs control, visit, conversion, spend).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features import contract as c
from features.validation import (
    ContractError,
    Loaded,
    LoadReport,
    Quarantine,
    is_blank,
    parse_amounts,
    read_table,
    require_columns,
    split_quarantine,
    validate_events,
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


def online_retail(path: Path | str, *, max_bad_fraction: float = 0.5) -> tuple[Loaded, Loaded]:
    """UCI Online Retail invoice lines -> (events, users). Users carry their main country."""
    path = Path(path)
    raw = read_table(path)
    source = str(path)
    require_columns(
        raw,
        {
            n: n
            for n in (
                "InvoiceNo",
                "StockCode",
                "Quantity",
                "InvoiceDate",
                "UnitPrice",
                "CustomerID",
                "Country",
            )
        },
        source,
    )
    bad = Quarantine(raw)
    quantity = parse_amounts(raw["Quantity"])
    unit_price = parse_amounts(raw["UnitPrice"])
    bad.flag(is_blank(raw["CustomerID"]), "missing_user_id")
    bad.flag(quantity.isna(), "invalid_quantity")
    bad.flag(unit_price.isna(), "invalid_unit_price")
    cancellation = raw["InvoiceNo"].str.upper().str.startswith("C")
    # A cancellation reverses earlier lines: negative quantity, booked as a refund.
    bad.flag(cancellation & (quantity >= 0), "cancellation_with_positive_quantity")
    bad.flag(~cancellation & (quantity <= 0), "non_positive_quantity")
    bad.flag(unit_price <= 0, "non_positive_unit_price")

    customer = raw["CustomerID"].str.strip().str.replace(r"\.0$", "", regex=True)
    events_raw = pd.DataFrame(
        {
            c.USER_ID: customer,
            c.EVENT_TIME: raw["InvoiceDate"],
            c.EVENT_TYPE: np.where(cancellation, c.REFUND, c.PURCHASE),
            c.AMOUNT: (quantity * unit_price).abs().round(6),
            c.CURRENCY: "GBP",
            c.ORDER_ID: raw["InvoiceNo"].str.strip(),
            "stock_code": raw["StockCode"].str.strip(),
            "description": raw.get("Description", pd.Series("", index=raw.index)).str.strip(),
            "quantity": quantity.abs(),
            "unit_price": unit_price,
            "country": raw["Country"].str.strip(),
        }
    )
    loaded = validate_events(
        events_raw,
        c.ColumnMapping(timezone="Europe/London"),
        source,
        max_bad_fraction=max_bad_fraction,
        quarantine=bad,
    )
    valid_purchase = (
        ~cancellation & quantity.gt(0) & unit_price.gt(0) & ~is_blank(raw["CustomerID"])
    )
    events = loaded.frame
    loaded.report.notes = {
        "invoice_lines": len(raw),
        "customers": int(customer[~is_blank(raw["CustomerID"])].nunique()),
        "lines_without_customer": int(is_blank(raw["CustomerID"]).sum()),
        "cancellation_lines": int(cancellation.sum()),
        "valid_purchase_lines": int(valid_purchase.sum()),
        "valid_purchase_customers": int(customer[valid_purchase].nunique()),
        "purchase_events": int((events[c.EVENT_TYPE] == c.PURCHASE).sum()),
        "refund_events": int((events[c.EVENT_TYPE] == c.REFUND).sum()),
        "non_product_lines": int(events["stock_code"].str.upper().isin(NON_PRODUCT_CODES).sum()),
        "revenue_gbp": round(
            float(events.loc[events[c.EVENT_TYPE] == c.PURCHASE, c.AMOUNT].sum()), 2
        ),
        "timezone": "naive times read as Europe/London",
    }

    # One users row per customer: the country they bought from most (no sign-up time: left-censored).
    country = (
        events.groupby([c.USER_ID, "country"], observed=True)
        .size()
        .rename("lines")
        .reset_index()
        .sort_values([c.USER_ID, "lines", "country"], ascending=[True, False, True], kind="stable")
        .drop_duplicates(c.USER_ID)
    )
    users = country[[c.USER_ID, "country"]].reset_index(drop=True)
    users_report = LoadReport(
        source=source, table="users", rows_read=len(users), rows_loaded=len(users)
    )
    users_report.notes = {"derived_from": "events (main country per customer)"}
    empty = pd.DataFrame(columns=[c.SOURCE_ROW, c.REASON])
    return loaded, Loaded(frame=users, quarantine=empty, report=users_report)


TELCO_NUMERIC = ("SeniorCitizen", "tenure", "MonthlyCharges", "TotalCharges")


def telco_churn(path: Path | str, *, max_bad_fraction: float = 0.5) -> Loaded:
    """IBM Telco churn snapshot -> one row per customer with ``label`` (1 = churned)."""
    path = Path(path)
    raw = read_table(path)
    source = str(path)
    require_columns(raw, {n: n for n in ("customerID", "Churn", *TELCO_NUMERIC)}, source)
    bad = Quarantine(raw)
    snapshot = pd.DataFrame({c.USER_ID: raw["customerID"].astype("string").str.strip()})
    bad.flag(is_blank(snapshot[c.USER_ID]), "missing_user_id")
    churn = raw["Churn"].astype("string").str.strip().str.lower()
    label = churn.map({"yes": 1, "no": 0, "1": 1, "0": 0, "true": 1, "false": 0})
    bad.flag(label.isna(), "invalid_label")
    snapshot[c.LABEL] = label.astype("Int8")
    blank_total = int(is_blank(raw["TotalCharges"]).sum())
    for name in raw.columns:
        if name in ("customerID", "Churn"):
            continue
        if name in TELCO_NUMERIC:
            values = parse_amounts(raw[name])
            # New customers (tenure 0) have no charges yet: blank is "none so far", kept as null.
            invalid = values.isna() & ~is_blank(raw[name])
            bad.flag(invalid, f"invalid_{name}")
            snapshot[name] = values
        else:
            snapshot[name] = raw[name].astype("string").str.strip()
    bad.flag(
        snapshot[c.USER_ID].duplicated(keep="first") & ~is_blank(snapshot[c.USER_ID]),
        "duplicate_user_id",
    )
    loaded = _finish_table(snapshot, bad, source, "snapshot", max_bad_fraction)
    loaded.report.notes = {
        "churn_rate": round(float(loaded.frame[c.LABEL].mean()), 4),
        "total_charges_blank_kept_as_null": blank_total,
    }
    return loaded


def hillstrom(path: Path | str, *, max_bad_fraction: float = 0.5) -> Loaded:
    """Hillstrom e-mail campaign -> one row per customer; ``treatment`` = got an e-mail."""
    path = Path(path)
    raw = read_table(path)
    source = str(path)
    outcome_columns = ("visit", "conversion", "spend")
    require_columns(
        raw, {n: n for n in ("segment", *outcome_columns, "recency", "history")}, source
    )
    bad = Quarantine(raw)
    arm = raw["segment"].astype("string").str.strip()
    bad.flag(is_blank(arm), "missing_segment")
    campaign = pd.DataFrame(
        {
            # The file has no customer ids: the row number is the id, stable for this file.
            c.USER_ID: [f"h{i + 1:05d}" for i in range(len(raw))],
            c.TREATMENT: arm.ne("No E-Mail") & arm.notna(),
            c.ARM: arm,
        }
    )
    for name in outcome_columns:
        values = parse_amounts(raw[name])
        bad.flag(values.isna() | (values < 0), f"invalid_{name}")
        campaign[name] = values if name == "spend" else values.round().astype("Int8")
    for name in raw.columns:
        if name in (*outcome_columns, "segment"):
            continue
        numeric = name in ("recency", "history", "mens", "womens", "newbie")
        campaign[name] = (
            parse_amounts(raw[name]) if numeric else raw[name].astype("string").str.strip()
        )
    loaded = _finish_table(campaign, bad, source, "campaign", max_bad_fraction)
    frame = loaded.frame
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
    frame: pd.DataFrame, bad: Quarantine, source: str, table: str, max_bad_fraction: float
) -> Loaded:
    loaded = split_quarantine(frame, bad, source, table, max_bad_fraction)
    if loaded.frame.empty:
        raise ContractError(f"{source}: no valid rows ({loaded.report.summary()})")
    return loaded
