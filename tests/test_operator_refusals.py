"""Refusals of operators' commands on hostile input, each one line saying what helps:
`lifecycle refresh FILE` of files its ingest step refuses names `lifecycle ingest` only when
one of its options would; `segments --as-of` of no date."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from lifecycle.cli import main


def _error(args: list[str]) -> str:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_a_refusal_no_ingest_option_helps_is_not_sent_to_ingest(home: Path, tmp_path: Path) -> None:
    """`refresh nope.csv` said 'file not found. `refresh` ... takes no ingest options: append
    this one with `lifecycle ingest nope.csv ... --map CONTRACT=SOURCE`': no option finds a file."""
    events = tmp_path / "events.csv"
    events.write_text("user_id,event_time,event_type\nu1,2024-01-01,signup\n")
    assert CliRunner().invoke(main, ["ingest", str(events), "--dataset", "demo"]).exit_code == 0
    missing = tmp_path / "nope.csv"
    assert _error(["refresh", str(missing)]) == f"Error: {missing}: file not found"
    empty = tmp_path / "empty.csv"
    empty.write_text("user_id,event_time,event_type\n")
    assert _error(["refresh", str(empty)]).endswith(
        "no data rows (columns: user_id, event_time, event_type)"
    )
    raw = tmp_path / "raw.csv"  # its own column names: ingest's --map reads it
    raw.write_text("CustomerID,event_time,event_type\nu1,2024-01-02,session\n")
    assert f"`lifecycle ingest {raw} --dataset demo --append --map" in _error(["refresh", str(raw)])


def test_segments_of_a_date_that_is_no_date_is_one_line(home: Path) -> None:
    """`lifecycle segments --as-of 99999-01-01` (or 'nope') was a DateParseError traceback;
    score-all and features build said it in one line."""
    for value in ("99999-01-01", "nope"):
        assert _error(["segments", "--as-of", value]) == (
            f"Error: --as-of '{value}': expected a date such as 2025-06-01"
        )
