"""A file whose user and time columns are named as the shop names them: the refusal names
the columns that may hold them and the --map that reads each (session 60's walk-through)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from lifecycle.cli import main


def _refusal(tmp_path: Path, text: str, *args: str) -> str:
    export = tmp_path / "export.csv"
    export.write_text(text, encoding="utf-8")
    done = CliRunner().invoke(main, ["--home", str(tmp_path / "ws"), "ingest", *args, str(export)])
    assert done.exit_code != 0
    return " ".join(done.output.split())


def test_a_missing_user_or_time_column_names_the_columns_that_may_hold_them(
    tmp_path: Path,
) -> None:
    """A shop's `Customer No.` and `Order Date` were plain to see, yet the refusal of a file
    without user_id and event_time said only `Map other names with --map CONTRACT=SOURCE`, so
    the user guessed `--map user_id=...`. It now names, for each, the columns that may hold
    it with a value, and the --map that reads the first; a column of dates named as such
    before another; a time of day alone, an id or an amount is no time."""
    shop = (
        "Order Ref,Customer No.,Order Date,Shipped,Opened,Order Value\n"
        "#536365,17850,01/12/2010 08:26,2010-12-03,08:26,£139.12\n"
        "#536366,17851,01/12/2010 08:28,2010-12-04,08:28,£22.20\n"
    )
    said = _refusal(tmp_path, shop, "--event-type", "purchase", "--map", "amount=Order Value")
    assert said.endswith(
        "Of its columns, 'Customer No.' (e.g. 17850) may hold the user id: --map "
        "user_id='Customer No.'; 'Order Date' (e.g. 01/12/2010 08:26) or 'Shipped' (e.g. "
        "2010-12-03) may hold the event time: --map event_time='Order Date'"
    ), said
    assert "the file has: Order Ref, Customer No., Order Date, Shipped, Opened, Order Value" in said
    # a column named as the user's that holds dates is none; nothing that looks like a user
    plain = "Ref,Customer Since,When\nA1,2010-01-01,2011-02-03 10:00\n"
    said = _refusal(tmp_path, plain, "--event-type", "purchase")
    assert said.endswith(
        "Of its columns, no column looks like the user id (--map user_id=COLUMN names it); "
        "'When' (e.g. 2011-02-03 10:00) or 'Customer Since' (e.g. 2010-01-01) may hold the "
        "event time: --map event_time=When"
    ), said
    # one mapped: only the other is offered
    said = _refusal(tmp_path, shop, "--event-type", "purchase", "--map", "user_id=Customer No.")
    assert "may hold the user id" not in said
    assert "may hold the event time: --map event_time='Order Date'" in said
    # a users file: its own option
    users = tmp_path / "users.csv"
    users.write_text("Client,Joined\nu1,2010-01-01\n", encoding="utf-8")
    events = "user_id,event_time,event_type\nu1,2011-01-01,session\n"
    said = _refusal(tmp_path, events, "--users", str(users))
    assert "'Client' (e.g. u1) may hold the user id: --users-map user_id=Client" in said, said
