"""User ids zero-padded to one width (CDNOW's "00001".."23570"): ids are matched exactly as
stored, so /score of "3" answered an unknown user with the cold start (a "high" risk new
user) and nothing said why; `features show 3` said "not found", and a campaign list saved
through a spreadsheet (which reads "00003" as the number 3) was refused as "not users
scored" naming only "3". Each now says the dataset's ids are zero-padded and how the id is
written, of the ids' form alone: no other user is named or confirmed."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from workspaces import NO_COMPILE

from features import contract as c
from features.id_spellings import (
    padded_width,
    padding_hint,
    record_padded_width,
    recorded_width,
)
from lifecycle.cli import main
from lifecycle.settings import load_settings
from serving.batch import ScoresTable
from serving.campaigns import CampaignError, start_campaign

# CDNOW_master.txt's form, its fields squeezed to one separator: id, yyyymmdd, CDs, dollars
CDNOW = (
    "customer,date,quantity,amount\n"
    "00001,19970101,1,11.77\n"
    "00002,19970112,1,12.00\n"
    "00002,19970112,5,77.00\n"
    "00003,19970102,2,20.76\n"
    "00003,19970330,2,20.76\n"
    "23570,19970325,2,42.96\n"
)
CDNOW_MAP = ["--map", "user_id=customer", "--map", "event_time=date", "--map", "amount=amount"]


def _ingest(home: Path, tmp_path: Path, text: str, dataset: str = "cdnow", *options: str) -> None:
    events = tmp_path / f"{dataset}.csv"
    events.write_text(text)
    result = CliRunner().invoke(
        main,
        ["--home", str(home), "ingest", str(events), "--dataset", dataset, *CDNOW_MAP,
         "--event-type", "purchase", "--time-format", "%Y%m%d", *options],
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def test_the_width_is_of_ids_all_digits_one_length_some_padded(home: Path, tmp_path: Path) -> None:
    settings = load_settings(home=home, environ={})
    _ingest(home, tmp_path, CDNOW)
    assert padded_width(settings.workspace.events("cdnow")) == 5
    # online retail's 12346..18287: five digits, none padded; ids of two lengths; codes
    for dataset, ids in (
        ("retail", "12346 18287"),
        ("mixed", "00001 123"),
        ("codes", "A0001 00002"),
    ):
        rows = "".join(f"{u},19970101,1,1.00\n" for u in ids.split())
        _ingest(home, tmp_path, "customer,date,quantity,amount\n" + rows, dataset)
        assert padded_width(settings.workspace.events(dataset)) is None, dataset
    assert padded_width(settings.workspace.events("none_yet")) is None
    hint = padding_hint("3", 5)
    assert hint is not None and '"00003"' in hint and "zero-padded" in hint
    assert padding_hint("000003", 5) == hint.replace('"3"', '"000003"')
    for asked in ("00003", "123456", "u3", "3.0", "\uff13", ""):  # full-width 3: not ASCII
        assert padding_hint(asked, 5) is None, asked
    assert padding_hint("3", None) is None


def _rows(ids: str) -> str:
    return "customer,date,quantity,amount\n" + "".join(
        f"{u},1997010{day},1,1.00\n" for day, u in enumerate(ids.split(), 1)
    )


def test_the_width_is_recorded_with_each_dataset_version(home: Path, tmp_path: Path) -> None:
    """Each model load (a scorer's, a campaign's, `features show`'s) read every id of a
    dataset whose ids look zero-padded (0.73 s at 16M rows). The width is now found once,
    by the step that writes the events (ingest, append, replace, forget), and kept beside
    them under the file's key; a load reads that. After each step the width kept is the
    one of the ids the dataset now holds."""
    settings = load_settings(home=home, environ={})
    events = settings.workspace.events("cdnow")

    def run(*args: str) -> None:
        result = CliRunner().invoke(main, ["--home", str(home), *args])
        assert result.exit_code == 0, result.output

    def kept(width: int | None) -> None:
        assert recorded_width(events) == (True, width)
        assert padded_width(events) == width

    _ingest(home, tmp_path, CDNOW)
    kept(5)
    appended = tmp_path / "later.csv"
    appended.write_text(_rows("123456"))  # a sixth digit: no one width
    run("ingest", str(appended), "--dataset", "cdnow", "--append", *CDNOW_MAP,
        "--event-type", "purchase", "--time-format", "%Y%m%d")  # fmt: skip
    kept(None)
    _ingest(home, tmp_path, CDNOW, "cdnow", "--replace")
    kept(5)
    _ingest(home, tmp_path, _rows("00001 00002 12345 x1"), "cdnow", "--replace")  # a code too
    kept(None)
    run("forget", "x1")
    kept(5)
    run("forget", "00001", "00002")  # none padded left
    assert sorted(set(pd.read_parquet(events)[c.USER_ID])) == ["12345"]
    kept(None)


def test_a_copy_without_file_times_keeps_its_width_and_other_ids_do_not(
    home: Path, tmp_path: Path
) -> None:
    """The width was kept under the file's size, modification time and footer digest: a
    workspace copied without its file times (`cp -r`, no -p) read every id again at each
    load until its next write. The key is now the file's content (size, footer digest and
    the digest of the id column's bytes): a copy keeps it, and a table of other ids whose
    footer and size are the very same (a footer holds the ids' bounds and byte counts, not
    the ids), given the first one's file time, does not."""
    import os
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    _ingest(home, tmp_path, CDNOW)
    settings = load_settings(home=home, environ={})
    copied = tmp_path / "copied"
    shutil.copytree(home, copied, copy_function=shutil.copyfile)  # `cp -r`: new file times
    events = load_settings(home=copied, environ={}).workspace.events("cdnow")
    assert events.stat().st_mtime_ns != settings.workspace.events("cdnow").stat().st_mtime_ns
    assert recorded_width(events) == (True, 5)

    def table(ids: list[str]) -> bytes:  # plain, uncompressed: sizes of the ids' lengths
        written = tmp_path / "ids.parquet"
        pq.write_table(
            pa.table({c.USER_ID: ids}), written, compression="none", use_dictionary=False
        )
        return written.read_bytes()

    padded, coded = table(["00001", "00002", "99999"]), table(["00001", "0000a", "99999"])
    footer = int.from_bytes(padded[-8:-4], "little") + 8
    assert padded[-footer:] == coded[-footer:] and len(padded) == len(coded)  # one footer
    events.write_bytes(coded)
    assert record_padded_width(events) is None  # '0000a': no one padded width
    kept = events.stat().st_mtime_ns
    events.write_bytes(padded)
    os.utime(events, ns=(kept, kept))  # even the same file time
    assert recorded_width(events) == (False, None)
    assert padded_width(events) == 5


@pytest.mark.slow
def test_score_and_features_show_of_an_unpadded_id_say_the_ids_are_zero_padded(
    trained_copy: Path, tmp_path: Path
) -> None:
    from features.ingest import ingest_events
    from serving.scorer import Scorer

    settings = load_settings(home=trained_copy, environ=NO_COMPILE)
    before = Scorer(settings)
    before.load()
    # the demo's ids ("u0000001") are no digits: an unknown id is answered as before
    assert [u.hint for u in before.score(["3", "nobody"]).users] == [None, None]
    demo = settings.workspace.demo_dir()
    events = pd.read_parquet(demo / "events.parquet")
    padded = {u: f"{i:05d}" for i, u in enumerate(sorted(events[c.USER_ID].unique()), 1)}
    events[c.USER_ID] = events[c.USER_ID].map(padded)
    events.to_parquet(tmp_path / "events.parquet")
    ingest_events(  # the same events under CDNOW's ids
        tmp_path / "events.parquet", settings.workspace.dataset_dir(settings.dataset)
    )
    after = Scorer(settings)
    after.load()
    three, as_held, nobody = after.score(["3", "00003", "nobody"]).users
    assert three.status == "unknown_user"
    assert three.hint == (
        'no user "3": this dataset\'s user ids are 5 digits, zero-padded (this one would be '
        'written "00003"); ids are matched exactly as stored'
    )
    assert three.churn_probability == nobody.churn_probability  # still the cold start
    assert as_held.hint is None and nobody.hint is None  # the stored form, and no digits
    shown = CliRunner().invoke(main, ["--home", str(trained_copy), "features", "show", "3"])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.splitlines()[0] == f"3  (not found in the online store; {three.hint})"
    as_json = CliRunner().invoke(
        main, ["--home", str(trained_copy), "--json", "features", "show", "3"]
    )
    assert json.loads(as_json.stdout)["users"][0]["hint"] == three.hint


def test_a_campaign_list_whose_ids_lost_their_zeros_says_so(home: Path, tmp_path: Path) -> None:
    settings = load_settings(home=home, environ={})
    _ingest(home, tmp_path, CDNOW)
    table = ScoresTable(
        pd.DataFrame(
            {c.USER_ID: ["00001", "00002", "00003"], "churn_probability": [0.9, 0.5, 0.1]}
        ),
        {"as_of": "1997-06-30", "dataset": "cdnow"},
    )
    # as a spreadsheet saves the list: the ids read as numbers
    members = pd.DataFrame({c.USER_ID: ["1", "2", "3"], "control": [False, True, False]})
    with pytest.raises(CampaignError) as refused:
        start_campaign(settings, "winback", members, table, horizon_days=30, source="list.csv")
    assert str(refused.value).endswith(
        "(e.g. '1', '2', '3'); expected the ids of a list from `lifecycle at-risk` (pseudonyms "
        "with the key they were made with) and the scores table it came from; "
        + padding_hint("1", 5)
        + ": a spreadsheet that saved the list read its ids as numbers"
    )
