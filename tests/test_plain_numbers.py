"""A column whose every filled cell is a plain number (online_retail's Quantity and
UnitPrice) is read by ``features.parsing._plain_numbers``, without the forms a number may
take besides (commas, spaces, words, the ambiguous): 16 of its 56 ms per 100,000 cells. It
must read every such column as the whole parse did. The whole parse is taken here by one
cell more that is no plain number ("x"), which changes no other cell's reading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.parsing import _plain_numbers, number_text, parse_numbers


def _both_ways(cells: list[object], **form: bool) -> None:
    column = pd.Series(cells, dtype=object)
    numbers, reasons = parse_numbers(column, **form)
    whole, whole_reasons = parse_numbers(pd.Series([*cells, "x"], dtype=object), **form)
    assert whole_reasons.iloc[-1] == "invalid_amount"  # the whole parse was taken
    np.testing.assert_array_equal(numbers.to_numpy(), whole.iloc[:-1].to_numpy())
    assert not np.signbit(numbers[numbers == 0]).any()  # -0 is 0, as the whole parse gives
    assert reasons.isna().all() and whole_reasons.iloc[:-1].isna().all()


# an accounting minus ("(5)", "12.50-") is made "-" first, as the whole parse reads it
PLAIN = ["6", " 2.55 ", "", None, np.nan, "-1", "+.5", "1e3", "-0", "0.00", "007", "3.", "(5)"]
PLAIN += ["12.50-", "\u22123"]


@pytest.mark.parametrize("form", [{}, {"decimal_point": True}])
def test_plain_numbers_read_as_the_whole_parse_reads_them(form: dict[str, bool]) -> None:
    text = number_text(pd.Series(PLAIN, dtype=object))
    assert _plain_numbers(text, ~(text.isna() | (text == ""))) is not None  # the quick way
    _both_ways(PLAIN, **form)


def test_a_column_with_one_other_form_takes_the_whole_parse() -> None:
    """A comma, a space, a word or a point that groups thousands: not the quick way."""
    for cell in ("1,234.50", "1 234", "nan", "inf", "12,5", "1.234,50", "five"):
        text = number_text(pd.Series(["1", cell], dtype=object))
        assert _plain_numbers(text, ~(text.isna() | (text == ""))) is None, cell
    numbers, reasons = parse_numbers(pd.Series(["1.785", "2"]), dot_thousands=True)
    assert reasons.tolist() == ["ambiguous_amount", pd.NA] and numbers.iloc[1] == 2


@pytest.mark.real_data
def test_online_retail_amounts_read_as_the_whole_parse_reads_them(shared_data: Path) -> None:
    path = shared_data / "online_retail" / "online_retail_transactions.csv.gz"
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, usecols=["Quantity", "UnitPrice"])
    for name in raw.columns:
        _both_ways(raw[name].tolist())
