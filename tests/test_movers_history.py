"""Movers compare a dataset's own two latest scores tables, whatever other datasets were scored
between them (trial 107: scoring the demo lost online_retail's Oct -> Nov comparison, and the
`score-all` the refusal named then compared two tables of one day). Real scores tables."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from features import contract as c
from lifecycle.cli import main
from lifecycle.workspace import LATEST_SCORES, PREVIOUS_SCORES
from serving.batch import write_scores

LABEL = {"task": "churn", "horizon_days": 90, "lookback_days": None, "target": None}


def _score(home: Path, dataset: str, as_of: str, churn: list[float]) -> Path:
    """A scores table of ``dataset`` as `score-all` writes it: u1 and u2's churn."""
    scores = pd.DataFrame({c.USER_ID: ["u1", "u2"], "churn_probability": churn})
    metadata = {"as_of": as_of, "dataset": dataset, "labels": {"churn": LABEL}}
    return write_scores(home / "scores", scores, metadata)


def _movers(*args: str) -> dict:
    result = CliRunner().invoke(
        main, ["--json", "movers", "--dataset", "shop", "--by", "churn_probability", *args]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _refused(*args: str) -> str:
    result = CliRunner().invoke(main, ["movers", "--dataset", "shop", *args])
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 1 and len(errors) == 1, result.output
    assert "Traceback" not in result.output
    return errors[0]


def test_movers_compare_a_datasets_tables_across_other_datasets_runs(home: Path) -> None:
    october = _score(home, "shop", "2025-10-01", [0.2, 0.5])
    for day in range(2, 9):  # more runs of the demo than pruning keeps besides the pointed
        _score(home, "demo", f"2025-10-0{day}", [0.1, 0.1])
    november = _score(home, "shop", "2025-11-01", [0.6, 0.4])
    assert october.exists()  # shop's newest table outlived the demo's runs
    assert (home / "scores" / PREVIOUS_SCORES).resolve() == october
    moved = _movers()
    assert (moved["previous"], moved["latest"]) == (str(october), str(november))
    assert [(r["user_id"], round(r["churn_probability_change"], 2)) for r in moved["rows"]] == [
        ("u1", 0.4)
    ]
    # Scored again with nothing new (what the refusal used to ask): the two tables of one day
    # say nothing rose, and name the earlier date --since compares with.
    again = _score(home, "shop", "2025-11-01", [0.6, 0.4])
    rerun = _movers()
    assert (rerun["previous"], rerun["latest"]) == (str(november), str(again))
    assert rerun["rows"] == [] and rerun["notes"] == [
        "both tables are of 2025-11-01: each change comes from the models or the data; "
        "`--since 2025-10-01` compares with the table of 2025-10-01",
        "nobody's churn probability rose between the two tables of 2025-11-01",
    ]
    since = _movers("--since", "2025-10-01")
    assert since["previous"] == str(october) and [r["user_id"] for r in since["rows"]] == ["u1"]
    # the latest's own date: the table of that date before it, never the latest itself
    assert _movers("--since", "2025-11-01")["previous"] == str(november)
    assert _refused("--since", "2025-09-01") == (
        "Error: --since 2025-09-01: dataset shop has no scores table of that date written "
        f"before the latest (2025-11-01, {again.name}); its earlier ones are of 2025-10-01, "
        "2025-11-01: e.g. `lifecycle movers --dataset shop --since 2025-11-01`"
    )
    assert _refused("--since", "October").startswith("Error: --since 'October': expected a date")


def test_movers_of_a_datasets_only_table_name_what_to_run(home: Path) -> None:
    _score(home, "demo", "2025-10-01", [0.1, 0.1])
    only = _score(home, "shop", "2025-11-01", [0.6, 0.4])
    assert not (home / "scores" / PREVIOUS_SCORES).exists()  # the demo's is no previous of shop
    assert (home / "scores" / LATEST_SCORES).resolve() == only
    for args in ((), ("--since", "2025-10-01")):
        assert _refused(*args) == (
            "Error: `movers` compares two scores tables of dataset shop, and the latest "
            f"(2025-11-01, {only.name}) is its only one in {home / 'scores'}: run `lifecycle "
            "score-all --dataset shop` after the next refresh, then `lifecycle movers --dataset "
            "shop` (or now `score-all --as-of` an earlier cutoff, then `score-all` without it)"
        )


def test_movers_since_a_date_after_the_latest_tables_names_the_option_and_both_dates(
    home: Path,
) -> None:
    only = _score(home, "shop", "2025-10-01", [0.2, 0.5])
    assert _refused("--since", "2025-12-01") == (
        f"Error: --since 2025-12-01 is after the date of dataset shop's latest scores table "
        f"(2025-10-01, {only.name}), its only one; `movers` compares two: run `lifecycle "
        "score-all --dataset shop` after the next refresh, then `lifecycle movers --dataset shop`"
    )
    november = _score(home, "shop", "2025-11-01", [0.6, 0.4])
    assert _refused("--since", "2025-12-01") == (
        f"Error: --since 2025-12-01 is after the date of dataset shop's latest scores table "
        f"(2025-11-01, {november.name}); `movers` compares it with an earlier one: e.g. "
        "`lifecycle movers --dataset shop --since 2025-10-01` (its earlier tables are of "
        "2025-10-01)"
    )


def test_files_score_all_did_not_write_are_named_never_pruned_nor_compared(home: Path) -> None:
    scores_dir = home / "scores"
    first = _score(home, "shop", "2025-09-01", [0.2, 0.5])
    # a damaged table, someone's Parquet under a table's name, an export of one's own
    garbled = scores_dir / "scores-2025-10-01-20000101T000000000000Z.parquet"
    garbled.write_bytes(b"PAR1 not a table")
    foreign = scores_dir / "scores-2025-10-01-20000102T000000000000Z.parquet"
    pd.DataFrame({c.USER_ID: ["u1"], "churn_probability": [0.9]}).to_parquet(foreign)
    export = scores_dir / "scores-for-finance.parquet"
    first.with_name(export.name).write_bytes(first.read_bytes())
    kept = [
        write_scores(
            scores_dir,
            pd.DataFrame({c.USER_ID: ["u1", "u2"], "churn_probability": [0.3, 0.3]}),
            {"as_of": f"2025-11-0{day}", "dataset": "shop", "labels": {"churn": LABEL}},
            keep=1,
        )
        for day in range(1, 5)
    ]
    # the shop's good tables were pruned to latest, previous and one more; the rest is left
    assert sorted(scores_dir.glob("scores-*.parquet")) == sorted(
        [garbled, foreign, export, *kept[-3:]]
    )
    # never the table movers compares with: the foreign file's date is no date of the shop's
    assert _refused("--since", "2025-10-01").startswith(
        "Error: --since 2025-10-01: dataset shop has no scores table of that date written "
        "before the latest"
    )
    from serving.scores_history import strays  # what `score-all` reports

    where = f"not read as a scores table nor pruned: move it out of {scores_dir} (or delete it) "
    assert strays(scores_dir) == [
        f"{garbled}: not a readable Parquet file; {where}if it is not needed",
        f"{foreign}: a Parquet file without the metadata `score-all` writes; {where}if it is "
        "not needed",
        f"{export}: not named scores-<as-of>-<written>.parquet as `score-all` names its "
        f"tables; {where}if it is not needed",
    ]


def test_movers_say_how_many_users_only_the_latest_table_scored(home: Path) -> None:
    """online_retail's movers from 2011-11-01 to 2011-12-10 ranked the 4,010 customers of both
    tables and said nothing of the 362 new since (16000, first of the at-risk list, among
    them): a reader took the list for every riser. A note now counts them."""
    _score(home, "shop", "2025-10-01", [0.2, 0.5])
    scores = pd.DataFrame({c.USER_ID: ["u1", "u2", "u3"], "churn_probability": [0.6, 0.4, 0.9]})
    metadata = {"as_of": "2025-11-01", "dataset": "shop", "labels": {"churn": LABEL}}
    write_scores(home / "scores", scores, metadata)
    moved = _movers()
    assert [r["user_id"] for r in moved["rows"]] == ["u1"]  # u3 has no change to rank by
    assert moved["notes"] == [
        "not compared: 1 user scored on 2025-11-01 whom the table of 2025-10-01 did not "
        "score (new since): no change to rank them by; `lifecycle at-risk` ranks them with "
        "everyone"
    ]


def test_a_filtered_movers_list_where_nobody_rose_says_so_not_that_nobody_matches(
    home: Path,
) -> None:
    """`movers --stage new` on online_retail (250 new customers, none in the earlier table)
    said 'no scored user matches all of: stage new': the filters kept users, none of whom
    rose. That note is now for filters that keep nobody."""
    _score(home, "shop", "2025-10-01", [0.7, 0.5])
    _score(home, "shop", "2025-11-01", [0.6, 0.4])
    kept = _movers("--min-churn", "0.5")
    assert kept["rows"] == [] and kept["notes"] == [
        "nobody's churn probability rose from 2025-10-01 to 2025-11-01"
    ]
    assert _movers("--min-churn", "0.9")["notes"] == [
        "no scored user matches all of: churn probability >= 0.9"
    ]
