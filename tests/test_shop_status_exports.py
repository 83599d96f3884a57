"""Shops' order exports of online_retail's orders, as session 59's new-user walk-through
wrote them: typed by their own status column (`Completed`, `Cancelled`), cancellations
written as negative money (`-£31.80`), dates day first (`01/12/2010`, `01.12.2010`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from lifecycle.cli import main

MAPS = (
    "--map", "user_id=Customer No.", "--map", "event_time=Order Date",
    "--map", "amount=Order Value", "--map", "order_id=Order Ref", "--map", "event_type=Status",
    "--map-type", "purchase=Completed", "--map-type", "refund=Cancelled",
)  # fmt: skip


def _export(path: Path) -> Path:
    lines = ["Order Ref,Customer No.,Order Date,Status,Order Value"]
    for n in range(30):
        lines.append(
            f'#{536365 + n},{17850 + n % 7},0{1 + n % 9}/12/2010 08:26,Completed,"£1,{n:03d}.50"'
        )
    for n in range(4):
        lines.append(f"C{536400 + n},{17850 + n},13/12/2010 09:0{n},Cancelled,-£31.80")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_mapped_type_whose_rows_are_all_quarantined_is_said_so_not_missing(
    tmp_path: Path,
) -> None:
    """`--map-type refund=Cancelled` on a file whose every Cancelled row has a negative amount
    said `no row of the file has the type 'cancelled'` (the file held 2,554 of them in the
    walk-through): its rows were there, all quarantined as negative_amount. The refusal now
    counts them, names the reason and --negative-is-refund, which loads them as refunds."""
    export = _export(tmp_path / "orders.csv")
    home = ["--home", str(tmp_path / "ws"), "ingest", "--dataset", "shop", *MAPS]
    refused = CliRunner().invoke(main, [*home, str(export)])
    assert refused.exit_code != 0
    assert "no row of the file has the type" not in refused.output
    assert (
        "--map-type refund=Cancelled: every one of the file's 4 rows of type 'Cancelled' is "
        "quarantined (4 negative_amount), so none would load as a refund; "
        "a purchase's or refund's amount is written positive: --negative-is-refund reads a "
        "negative amount as that much refunded"
    ) in " ".join(refused.output.split())
    assert not (tmp_path / "ws" / "datasets" / "shop").exists()
    loaded = CliRunner().invoke(main, [*home, "--negative-is-refund", str(export)])
    assert loaded.exit_code == 0, loaded.output
    events = pd.read_parquet(tmp_path / "ws" / "datasets" / "shop" / "events.parquet")
    refunds = events[events["event_type"] == "refund"]
    assert len(refunds) == 4 and (refunds["amount"] == 31.80).all()
    # a type no row has (a typo) is still said so
    typo = [a if a != "refund=Cancelled" else "refund=Canceled" for a in home]
    missing = CliRunner().invoke(main, [*typo, "--replace", "--negative-is-refund", str(export)])
    assert missing.exit_code != 0
    assert "no row of the file has the type 'Canceled'" in missing.output


def test_the_dates_read_either_way_are_shown_as_the_file_writes_them(tmp_path: Path) -> None:
    """A German export's `01.12.2010 08:26` read day first: the summary said `the 6,363 that
    read either way (01/02/2011) are read day first too`, a date of another form that the file
    (and an append of September and October, which has no 1st of February) never held, read
    as one of its rows. It now shows the file's own first such row, as for the dates that
    show the order."""
    export = tmp_path / "bestellungen.csv"
    rows = [f"{536365 + n};{17850 + n};0{1 + n % 9}.12.2010 08:26;139,12 €" for n in range(9)]
    rows.append("536400;17850;13.12.2010 09:02;22,20 €")
    export.write_text("Bestellnummer;Kundennr;Bestelldatum;Betrag\n" + "\n".join(rows) + "\n")
    maps = ["--map", "user_id=Kundennr", "--map", "event_time=Bestelldatum"]
    done = CliRunner().invoke(
        main,
        [
            *("--home", str(tmp_path / "ws"), "ingest", str(export), "--delimiter", ";"),
            *(*maps, "--map", "amount=Betrag", "--event-type", "purchase", "--decimal-comma"),
        ],
    )
    assert done.exit_code == 0, done.output
    assert (
        "    'Bestelldatum' read day first: all 1 of its dates whose order shows are day first "
        "(row 10 has Bestelldatum='13.12.2010 09:02'), so the 9 that read either way "
        "(row 1 has Bestelldatum='01.12.2010 08:26') are read day first too (--date-order "
        "dayfirst says so)"
    ) in done.stdout.splitlines()


def test_a_windows_western_export_is_told_cp1252_not_latin1_first(tmp_path: Path) -> None:
    """A German export saved by Excel in cp1252 (`139,12 €`, the € byte 0x80) was told
    `--encoding latin-1 or cp1252`; latin-1, the first named, was then refused in turn (0x80
    is a control character there). A byte 0x80-0x9F now names cp1252 alone, which reads it;
    other bytes keep both."""
    export = tmp_path / "bestellungen.csv"
    rows = [f"{536365 + n};{17850 + n};2010-12-0{1 + n % 9} 08:26;139,12 €" for n in range(9)]
    text = "Bestellnummer;Kundennr;Bestelldatum;Betrag\n" + "\n".join(rows) + "\n"
    export.write_bytes(text.encode("cp1252"))
    maps = ["--map", "user_id=Kundennr", "--map", "event_time=Bestelldatum"]
    cli = [
        *("--home", str(tmp_path / "ws"), "ingest", str(export), "--delimiter", ";"),
        *(*maps, "--map", "amount=Betrag", "--event-type", "purchase", "--decimal-comma"),
    ]
    refused = CliRunner().invoke(main, cli)
    assert refused.exit_code != 0
    said = " ".join(refused.output.split())
    assert (
        "its byte 0x80 is '€' in Windows' Western text (as Excel saves a CSV): give --encoding "
        "cp1252 (latin-1 reads it as a control character)"
    ) in said
    assert "latin-1 or cp1252" not in said
    done = CliRunner().invoke(main, [*cli, "--encoding", "cp1252"])
    assert done.exit_code == 0, done.output
    assert "read as EUR" in done.output
    # a byte latin-1 reads as a letter (Ö, 0xd6) keeps both encodings named
    lines = text.replace("€", "").splitlines()
    lines = [lines[0] + ";Land", *(line + ";Österreich" for line in lines[1:])]
    export.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    other = CliRunner().invoke(main, cli)
    assert other.exit_code != 0
    assert "(e.g. --encoding latin-1 or cp1252)" in " ".join(other.output.split())


def test_a_first_ingest_names_the_command_that_builds_scores_from_it(tmp_path: Path) -> None:
    """After ingesting their own export, a new user was told nothing of what follows: the one
    command that builds the features, trains and scores a dataset (`lifecycle refresh
    --dataset shop`) is said only deep in docs/refresh.md. A first ingest now names it, with
    the lists and the server, on stderr after the summary; an append does not repeat it."""
    export = _export(tmp_path / "orders.csv")
    home = ["--home", str(tmp_path / "ws"), "ingest", "--dataset", "shop", *MAPS]
    done = CliRunner().invoke(main, [*home, "--negative-is-refund", str(export)])
    assert done.exit_code == 0, done.output
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .endswith(
            "next: `lifecycle refresh --dataset shop` builds its features and online store, trains "
            "its models and scores its users; then `lifecycle at-risk --dataset shop` lists them "
            "and `lifecycle serve --dataset shop` answers over HTTP (docs/refresh.md)"
        )
    )
    later = tmp_path / "later.csv"
    later.write_text(
        "Order Ref,Customer No.,Order Date,Status,Order Value\n"
        "#536500,17850,14/12/2010 10:00,Completed,£5.00\n",
        encoding="utf-8",
    )
    appended = CliRunner().invoke(
        main,
        ["--home", str(tmp_path / "ws"), "ingest", "--dataset", "shop", "--append", str(later)],
    )
    assert appended.exit_code == 0, appended.output
    assert "next: `lifecycle refresh" not in appended.stderr
    # the settings' own dataset is named without --dataset
    demo = CliRunner().invoke(
        main, [*home[:3], "--dataset", "demo", *MAPS, "--negative-is-refund", str(export)]
    )
    assert demo.exit_code == 0, demo.output
    assert "next: `lifecycle refresh` builds" in demo.stderr


def test_negative_amounts_quarantined_name_the_option_that_books_them_as_refunds(
    tmp_path: Path,
) -> None:
    """A shop export's cancellations written `-£31.80`, ingested with `--event-type purchase`
    and no more: all 2,556 went to the quarantine as negative_amount (every refund of the
    file), revenue and LTV counted as if nothing was ever given back, and the summary said
    only the count. It now shows one and names --negative-is-refund, which loads them."""
    export = _export(tmp_path / "orders.csv")
    maps = MAPS[:8]  # user, time, amount, order; not the Status types
    cli = ["--home", str(tmp_path / "ws"), "ingest", "--dataset", "shop", *maps]
    cli += ["--event-type", "purchase", str(export)]
    done = CliRunner().invoke(main, cli)
    assert done.exit_code == 0, done.output
    assert (
        "    4 negative_amount rows (e.g. row 31 has Order Value='-£31.80'): if they are money "
        "going back (cancellations, returns), --negative-is-refund books each as a refund of its "
        "size (--allow-negative keeps them as negative amounts); ingest the file again with it"
    ) in done.stdout.splitlines()
    again = CliRunner().invoke(main, [*cli[:-1], "--negative-is-refund", str(export)])
    assert again.exit_code == 0, again.output
    assert "negative_amount rows" not in again.stdout
    assert "negative purchase amounts booked as refunds: 4" in again.stdout
