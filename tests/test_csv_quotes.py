"""A quote never closed in a CSV that fits in the reader's block: the rest of the file is one
cell, refused naming the line it opens on, never loaded as a shorter file."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest
from click.testing import CliRunner

from features.quarantine import RAGGED_ROWS
from features.reading import read_chunks, read_table
from features.validation import ContractError
from lifecycle.cli import main

HEADER = "user_id,event_time,event_type,note\n"


def rows(start: int, stop: int) -> str:
    return "".join(f"u{i},2024-01-02,session,n{i}\n" for i in range(start, stop))


def test_a_quote_never_closed_is_refused_not_half_the_file_loaded(
    home: Path, tmp_path: Path
) -> None:
    """`ingest` of a .csv.gz whose free-text cell on line 6 opens a quote loaded 4 rows of 10
    ('4 rows loaded of 4, 0 quarantined'): Arrow took the other 6 as that cell."""
    path = tmp_path / "events.csv.gz"
    stray = 'u4,2024-01-02,session,"n4\n'
    path.write_bytes(gzip.compress((HEADER + rows(0, 4) + stray + rows(5, 10)).encode()))
    result = CliRunner().invoke(main, ["ingest", str(path), "--dataset", "cut"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: {path}: the quote opened on line 6 ('u4,2024-01-02,session,\"n4') never "
        "closes, making the rest of the file one cell: close it, or remove the stray quote (a "
        'quote inside a cell is written "")'
    )
    assert not (home / "datasets" / "cut").exists()


def test_a_last_cell_of_several_lines_whose_quote_closes_loads(tmp_path: Path) -> None:
    """A quoted cell may hold line breaks, also in the last row: only an open quote refuses."""
    path = tmp_path / "events.csv"
    path.write_text(HEADER + rows(0, 3) + 'u3,2024-01-02,session,"two\nlines"\n')
    assert read_table(path)["note"].tolist() == ["n0", "n1", "n2", "two\nlines"]
    path.write_text(HEADER + rows(0, 3) + 'u3,2024-01-02,session,"two\nlines\n')
    with pytest.raises(ContractError, match=r"quote opened on line 5 .* never closes"):
        read_table(path)


def test_a_stray_quote_closed_by_a_later_one_is_refused_naming_its_lines(
    home: Path, tmp_path: Path
) -> None:
    """A stray quote on line 3 closed by the quoted cell of line 4 (two quotes: every line
    after it even, so parity saw nothing) made lines 3 and 4 one row: '1 row loaded of 2,
    1 quarantined (1 invalid_event_type)' of 3 rows, u2 gone without a word."""
    path = tmp_path / "events.csv"
    stray = 'u1,2024-01-02,"session,n1\nu2,2024-01-02,session,"n2"\n'
    path.write_text(HEADER + rows(0, 1) + stray + rows(3, 5))
    result = CliRunner().invoke(main, ["ingest", str(path), "--dataset", "cut"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: {path}: the quote opened on line 3 ('u1,2024-01-02,\"session,n1') closes only "
        "on line 4, making lines 3 to 4 one cell (a row each, by their separators): remove the "
        'stray quote (a quote inside a cell is written "")'
    )
    assert not (home / "datasets" / "cut").exists()
    # a cell of several lines that read as no row of their own loads as before
    path.write_text(HEADER + rows(0, 2) + 'u2,2024-01-02,session,"one, two\nthree"\n' + rows(3, 5))
    assert read_table(path)["note"].tolist() == ["n0", "n1", "one, two\nthree", "n3", "n4"]


def test_a_stray_quote_in_a_column_not_read_is_refused_as_in_a_full_read(tmp_path: Path) -> None:
    """A read of some columns (the ids' pass of ingest) looked for swallowed rows only in
    those: a stray quote in `note` took lines 4 and 5 into its cell and the read gave 3 rows
    of 5, u2 and u3 gone without a word."""
    path = tmp_path / "events.csv"
    stray = 'u1,2024-01-02,session,"n1\nu2,2024-01-02,session,n2\nu3,2024-01-02,session,n3"\n'
    path.write_text(HEADER + rows(0, 1) + stray + rows(4, 5))
    with pytest.raises(ContractError, match=r"quote opened on line 3 .* closes only on line 5"):
        list(read_chunks(path, columns=["user_id", "event_time"]))
    path.write_text(HEADER + rows(0, 1) + 'u1,2024-01-02,session,"n1\n' + rows(2, 4))
    with pytest.raises(ContractError, match=r"quote opened on line 3 .* never closes"):
        list(read_chunks(path, columns=["user_id"]))
    # a read of some columns still gives those only, with ragged rows in their place
    path.write_text(HEADER + rows(0, 2) + "u2,2024-01-02,session,a,b\n" + rows(3, 4))
    (chunk,) = read_chunks(path, columns=["user_id", "note"])
    assert chunk.columns.tolist() == ["user_id", "note"]
    assert chunk["note"].tolist() == ["n0", "n1", "a,b", "n3"]
    assert chunk.attrs[RAGGED_ROWS] == {2: "extra_fields"}


def test_arrows_source_closes_only_once_its_read_ahead_is_done() -> None:
    """A refusal raised mid-file closed the file under a read of Arrow's read-ahead thread
    and the process could exit beneath it: it aborted ('terminate called without an active
    exception'; test_hostile_inputs' one-line .gz bomb about one run in ten). The source
    Arrow reads now closes only once no read is under way."""
    import threading
    import time

    from features.csv_lines import SettledReads

    events: list[str] = []

    class SlowFile(io.BytesIO):
        def read(self, size: int = -1) -> bytes:
            events.append("read starts")
            time.sleep(0.3)
            events.append("read ends")
            return super().read(size)

        def close(self) -> None:
            events.append("closed")
            super().close()

    source = SettledReads(SlowFile(b"user_id\nu1\n"))  # what arrow_source wraps
    reader = threading.Thread(target=source.read, args=(4,))
    reader.start()
    time.sleep(0.05)  # the read is under way
    source.close()
    reader.join()
    assert events == ["read starts", "read ends", "closed"]


def test_arrows_source_closes_at_once_after_the_end_and_a_later_read_finds_the_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every close waited for 50 ms without a read, though a read that found the end of the
    file is the last: ~35 ms a file, 24 s of test_ingest_append's 144 s asleep. A source read
    to its end closes without waiting, and a read Arrow's thread makes after that finds the
    end instead of a closed file."""
    from features import csv_lines

    slept: list[float] = []
    sleep = csv_lines.time.sleep
    monkeypatch.setattr(csv_lines.time, "sleep", lambda s: (slept.append(s), sleep(s)))
    source = csv_lines.SettledReads(io.BytesIO(b"user_id\nu1\n"))
    assert source.read(64) == b"user_id\nu1\n"
    assert source.read(64) == b""  # the end
    source.close()
    assert source.closed and slept == []
    assert source.read(64) == b""
    unfinished = csv_lines.SettledReads(io.BytesIO(b"user_id\nu1\n"))
    assert unfinished.read(4) == b"user"
    unfinished.close()  # mid-file (a refusal): it still waits for a quiet moment
    assert unfinished.closed and slept
