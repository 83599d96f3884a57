"""A list says what its ranking puts first and what else ranks it: the default at-risk list
is ranked by value at risk, which is not who is likeliest to leave."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from test_lists import scores_table

from lifecycle.cli import main
from lifecycle.settings import load_settings
from serving.batch import write_scores
from serving.list_top import print_top

BY_VALUE = (
    "first come the most value at stake, not the likeliest to leave (`--rank-by "
    "churn_probability` ranks those; also: conversion_probability, ltv, return_probability)"
)


def test_the_list_says_what_its_ranking_puts_first_and_the_other_rankings(
    tmp_path: Path,
) -> None:
    """On online_retail cut at 2011-09-09 the default list's top 100 (by value at risk) bought
    nothing in the next 91 days 29.0% of the time, the rest of the list 50.0%; ranked by
    churn probability the top 100 lapsed 75.0%. Its title said "by value at risk (churn
    probability x LTV)" and nothing of who comes first nor of the ranking that puts the
    likeliest to leave first; --json gave rank_by alone."""
    home = tmp_path / "ws"
    settings = load_settings(home=home, environ={})
    scores = scores_table().assign(conversion_probability=0.3)
    write_scores(settings.workspace.scores_dir, scores, {"as_of": "2024-01-05"})

    def run(*args: str) -> str:
        done = CliRunner().invoke(main, ["--home", str(home), *args])
        assert done.exit_code == 0, done.output
        return done.stdout

    title = run("at-risk").splitlines()[0]
    assert f"(churn probability x LTV) as of 2024-01-05 ({settings.workspace.scores_dir}" in title
    assert f"); {BY_VALUE}; only churn probability >= 0.2; control group: " in title
    found = json.loads(run("--json", "at-risk"))
    assert found["rank_by"] == "value_at_risk"
    assert found["ranks_first"] == "the most value at stake, not the likeliest to leave"
    assert found["other_rankings"] == [
        "churn_probability",
        "conversion_probability",
        "ltv",
        "return_probability",
    ]
    # one option away: the likeliest to leave first, and the way back to the default said
    by_churn = json.loads(run("--json", "at-risk", "--rank-by", "churn_probability"))
    assert [row["user_id"] for row in by_churn["rows"]] == ["u1", "u3", "u4", "u2"]
    assert by_churn["ranks_first"] == "the likeliest to leave"
    assert by_churn["other_rankings"][0] == "value_at_risk"
    assert (
        "; first come the likeliest to leave (`--rank-by` also ranks by: value_at_risk (the "
        "default), conversion_probability, ltv, return_probability);"
    ) in run("at-risk", "--rank-by", "churn_probability").splitlines()[0]
    winback = run("at-risk", "--rank-by", "return_probability", "--stage", "churned")
    assert (
        "; first come the likeliest to come back (`--rank-by churn_probability` ranks "
        in (winback.splitlines()[0])
    )
    # a table without an LTV ranks by churn probability and offers no value at risk
    write_scores(
        settings.workspace.scores_dir,
        scores.drop(columns=["ltv", "ltv_p10", "ltv_p90", "value_at_risk"]),
        {"as_of": "2024-01-06"},
    )
    fallback = json.loads(run("--json", "at-risk"))
    assert fallback["rank_by"] == "churn_probability"
    assert fallback["other_rankings"] == ["conversion_probability", "return_probability"]
    # `lifecycle run`'s top list says it too, with the command that ranks otherwise
    write_scores(settings.workspace.scores_dir, scores, {"as_of": "2024-01-07"})
    said: list[str] = []
    print_top(settings, 3, echo=said.append)
    assert said[0].endswith(BY_VALUE.replace("`--rank-by", "`lifecycle at-risk --rank-by"))


def test_at_risk_over_http_says_what_its_ranking_puts_first_as_the_cli_does(
    tmp_path: Path,
) -> None:
    """Session 58: `lifecycle at-risk --json` said `ranks_first` and `other_rankings` (the
    default ranks the most value at stake, not the likeliest to leave), while `/at_risk`, the
    same list over HTTP, answered `rank_by` alone. Both now take them from one function
    (serving.list_rankings.ranking_fields), for every ranking and the fallback to churn."""
    from serving.answers import ListAnswers

    home = tmp_path / "ws"
    settings = load_settings(home=home, environ={})
    scores = scores_table().assign(conversion_probability=0.3)
    write_scores(settings.workspace.scores_dir, scores, {"as_of": "2024-01-05"})
    answers = ListAnswers(settings, settings.dataset)

    def cli(*args: str) -> dict:
        done = CliRunner().invoke(main, ["--home", str(home), "--json", "at-risk", *args])
        assert done.exit_code == 0, done.output
        return json.loads(done.stdout)

    for rank_by in ("value_at_risk", "churn_probability", "return_probability", "ltv"):
        listed = cli("--rank-by", rank_by)
        served = answers.at_risk(None, rank_by=rank_by).model_dump(mode="json")
        said = {key: served[key] for key in ("ranks_first", "other_rankings")}
        assert said == {key: listed[key] for key in said}, rank_by
        assert said["ranks_first"] and said["other_rankings"], rank_by
    assert answers.at_risk(None).ranks_first == (
        "the most value at stake, not the likeliest to leave"
    )
    write_scores(  # no LTV: ranked by churn, and no value at risk offered
        settings.workspace.scores_dir,
        scores.drop(columns=["ltv", "ltv_p10", "ltv_p90", "value_at_risk"]),
        {"as_of": "2024-01-06"},
    )
    served = answers.at_risk(None, rank_by="churn_probability")
    assert served.other_rankings == cli()["other_rankings"]
    assert served.other_rankings == ["conversion_probability", "return_probability"]


def test_a_list_not_ranked_by_churn_risk_says_what_its_reasons_explain(tmp_path: Path) -> None:
    """The win-back list (by return probability) printed each user's churn reasons under
    "reasons:": online_retail's first, 13027 at 2011-12-10, 84% likely to come back, read
    "reasons: no activity for 113 days; ...", as if that were why they rank first. A list
    ranked otherwise than by churn risk says whose reasons they are, on the CLI and over
    HTTP alike (serving.list_rankings.reasons_note)."""
    from serving.answers import ListAnswers

    home = tmp_path / "ws"
    settings = load_settings(home=home, environ={})
    write_scores(settings.workspace.scores_dir, scores_table(), {"as_of": "2024-01-05"})
    answers = ListAnswers(settings, settings.dataset)
    note = (
        "reasons are what raised each user's churn risk above the average user's, not why "
        "this ranking puts them first (the likeliest to come back)"
    )

    def notes(*args: str) -> list[str]:
        done = CliRunner().invoke(main, ["--home", str(home), "--json", "at-risk", *args])
        assert done.exit_code == 0, done.output
        return json.loads(done.stdout)["notes"]

    assert note in notes("--rank-by", "return_probability")
    assert note in answers.at_risk(None, rank_by="return_probability").notes
    assert [n for n in notes("--rank-by", "ltv") if n.endswith("(the most value expected)")]
    for rank_by in ("value_at_risk", "churn_probability"):  # the reasons explain the ranking
        assert not [n for n in notes("--rank-by", rank_by) if n.startswith("reasons are")]
        served = answers.at_risk(None, rank_by=rank_by).notes
        assert not [n for n in served if n.startswith("reasons are")]
