"""At-risk lists and movers on hand-made scores tables: ranking, filters, control group, privacy."""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from serving.batch import ScoresTable
from serving.list_export import export, list_format
from serving.list_files import read_list_file
from serving.list_text import format_rows, points_text
from serving.lists import (
    Filters,
    ListError,
    Privacy,
    at_risk,
    at_risk_page,
    control_flags,
    list_fields,
    list_rows,
    listed_attributes,
    pseudonyms,
)
from serving.movers import MOVER_FIELDS, mover_notes, movers
from serving.units import Units

PERSONAL = ["country", "device"]


def scores_table() -> pd.DataFrame:
    """Six users; u6 is not churn-eligible (no churn score, so no value at risk)."""
    reasons = json.dumps(
        [
            {
                "feature": "recency_days",
                "value": 40.0,
                "contribution": 0.9,
                "text": "no activity for 40 days",
            },
            {
                "feature": "sessions_30d",
                "value": 0.0,
                "contribution": 0.2,
                "text": "no sessions in the last 30 days",
            },
        ]
    )
    return pd.DataFrame(
        {
            "user_id": ["u1", "u2", "u3", "u4", "u5", "u6"],
            "churn_probability": [0.9, 0.2, 0.6, 0.6, 0.05, np.nan],
            "ltv": [10.0, 400.0, 100.0, 100.0, 1000.0, 50.0],
            "ltv_p10": [1.0, 100, 20, 20, 300, 5],
            "ltv_p90": [30.0, 800, 300, 300, 2000, 90],
            "risk_band": ["high", "medium", "high", "high", "low", None],
            "lifecycle_stage": ["silent", "active", "at_risk", "at_risk", "active", "churned"],
            "segment": ["lost", "champions", "cannot_lose", "loyal", "champions", "no_purchase"],
            "super_user": [False, True, False, False, True, False],
            "channel": ["email", "social", "email", "organic", "social", None],
            "days_since_last_activity": [40.0, 3, 25, 26, 1, 300],
            "orders": [1.0, 8, 3, 3, 20, 0],
            "revenue": [5.0, 300, 90, 80, 900, 0],
            "reasons": [reasons, reasons, reasons, None, "[]", None],
            "country": ["GB", "US", "DE", "FR", "IE", "GB"],
            "device": ["ios", "web", "web", "android", "ios", "web"],
        }
    ).assign(value_at_risk=lambda f: f["churn_probability"] * f["ltv"])


# -- ranking ------------------------------------------------------------------------------


def test_ranked_by_value_at_risk_ties_by_user_id_and_unscored_left_out() -> None:
    ranked = at_risk(scores_table(), limit=None)
    # value at risk: u2 80, u3 60, u4 60, u5 50, u1 9; u6 has none.
    assert ranked["user_id"].tolist() == ["u2", "u3", "u4", "u5", "u1"]
    assert ranked["rank"].tolist() == [1, 2, 3, 4, 5]
    assert (
        ranked.iloc[1]["top_reasons"] == "no activity for 40 days; no sessions in the last 30 days"
    )
    assert ranked.iloc[2]["top_reasons"] == ""  # no reasons computed for this user


def test_other_rankings_limit_and_offset() -> None:
    frame = scores_table()
    assert at_risk(frame, rank_by="churn_probability", limit=2)["user_id"].tolist() == ["u1", "u3"]
    assert at_risk(frame, rank_by="ltv", limit=2)["user_id"].tolist() == ["u5", "u2"]
    assert at_risk(frame, limit=2)["user_id"].tolist() == ["u2", "u3"]  # u3 and u4 tie: id decides
    assert at_risk(frame.iloc[::-1], limit=3)["user_id"].tolist() == ["u2", "u3", "u4"]
    page = at_risk(frame, limit=2, offset=2)
    assert page["user_id"].tolist() == ["u4", "u5"] and page["rank"].tolist() == [3, 4]
    with pytest.raises(ListError, match="--rank-by"):
        at_risk(frame, rank_by="revenue")


# -- filters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (Filters(segment="champions"), ["u2", "u5"]),
        (Filters(stage="at_risk"), ["u3", "u4"]),
        (Filters(channel="email"), ["u3", "u1"]),
        (Filters(min_ltv=100), ["u2", "u3", "u4", "u5"]),
        (Filters(min_churn=0.6), ["u3", "u4", "u1"]),
        (Filters(segment="champions", min_churn=0.1), ["u2"]),
        # a user attribute, a personal column: filtered by, not listed (a list for one country)
        (Filters(where=(("country", "GB"),)), ["u1"]),
        (Filters(where=(("country", "DE"), ("device", "ios"))), []),
        # one column twice is either value: "top 0 users" for country=Spain, country=France
        (Filters(where=(("country", "GB"), ("country", "FR"))), ["u4", "u1"]),
        (Filters(where=(("country", "GB"), ("country", "FR"), ("device", "ios"))), ["u1"]),
    ],
)
def test_each_filter(filters: Filters, expected: list[str]) -> None:
    assert at_risk(scores_table(), filters, limit=None)["user_id"].tolist() == expected


def test_unknown_filter_values_name_the_known_ones() -> None:
    frame = scores_table()
    with pytest.raises(
        ListError, match=r"--where country=XX: unknown; this scores table has DE, FR"
    ):
        at_risk(frame, Filters(where=(("country", "XX"),)))
    # a value written in another case: online_retail's 37 countries listed 20, not Spain
    with pytest.raises(
        ListError,
        match=r"--where country=de: unknown \(matched as written: did you mean DE\?\); this "
        r"scores table has DE, FR",
    ):
        at_risk(frame, Filters(where=(("country", "de"),)))
    with pytest.raises(
        ListError,
        match=r"--where ltv=1: the scores table has no user attribute 'ltv' \(it has: country, device",
    ):
        at_risk(frame, Filters(where=(("ltv", "1"),)))
    assert Filters(where=(("country", "GB"),)).text() == "country GB"
    either = Filters(where=(("country", "GB"), ("device", "ios"), ("country", "FR")))
    assert either.text() == "country GB or FR, device ios"
    with pytest.raises(ListError, match=r"--where country=XX: unknown"):  # each value checked
        at_risk(frame, Filters(where=(("country", "GB"), ("country", "XX"))))
    aged = frame.assign(age=[30.0, 41.0, 30.0, 52.0, 30.0, 30.0])  # a number: 30 is 30.0
    thirty = at_risk(aged, Filters(where=(("age", "30"),)), limit=None)["user_id"].tolist()
    assert thirty == ["u3", "u5", "u1"]  # u6 has no churn score to rank by
    with pytest.raises(
        ListError, match="--segment vip: unknown; this scores table has cannot_lose, champions"
    ):
        at_risk(frame, Filters(segment="vip"))
    # a name written in another case or with a hyphen names the one it matches
    for filters, meant in (
        (Filters(segment="Champions"), "--segment champions"),
        (Filters(stage="at-risk"), "--stage at_risk"),
    ):
        with pytest.raises(ListError, match=rf"\(matched as written: {meant}\)$"):
            at_risk(frame, filters)
    # rfm_v2 called cannot_lose at_risk, a stage's name: the option of the stage is named
    with pytest.raises(
        ListError, match=r"no_purchase \(at_risk is a lifecycle stage: --stage at_risk\)"
    ):
        at_risk(frame, Filters(segment="at_risk"))
    with pytest.raises(ListError, match="--channel email: this scores table has no channel values"):
        at_risk(frame.assign(channel=None), Filters(channel="email"))
    with pytest.raises(ListError, match="--min-ltv"):
        at_risk(frame.drop(columns="ltv"), Filters(min_ltv=1), rank_by="churn_probability")
    # `at-risk --min-churn nan` said 'no users match', `campaign start --min-ltv nan` 'no
    # control users': a bound that is no number is refused naming it
    for bounds in ({"min_churn": float("nan")}, {"min_ltv": float("inf")}):
        with pytest.raises(ListError, match=r"--min-(churn nan|ltv inf): expected a number"):
            at_risk(frame, Filters(**bounds))
    # `at-risk --min-ltv -5` was taken and filtered nobody out: no score is below 0
    with pytest.raises(ListError, match=r"^--min-ltv -5: expected 0 or more$"):
        at_risk(frame, Filters(min_ltv=-5))
    with pytest.raises(ListError, match=r"^--min-churn 1.5: expected 0 to 1$"):
        at_risk(frame, Filters(min_churn=1.5))


def test_error_names_the_parameter_at_fault_structurally() -> None:
    """Every list error carries the parameter it is about, by its name in serving.lists, so
    the CLI and the API map it to an option or a request field without reading the text."""
    frame = scores_table()
    parameters = {f.name for f in dataclasses.fields(Filters)} | set(
        inspect.signature(at_risk_page).parameters
    )
    cases = [
        (lambda: at_risk(frame, Filters(segment="vip")), "segment"),
        (lambda: at_risk(frame, Filters(stage="asleep")), "stage"),
        (lambda: at_risk(frame.assign(channel=None), Filters(channel="email")), "channel"),
        (lambda: at_risk(frame.drop(columns="ltv"), Filters(min_ltv=1)), "min_ltv"),
        (
            lambda: at_risk(frame.drop(columns="churn_probability"), Filters(min_churn=0.5)),
            "min_churn",
        ),
        (lambda: at_risk(frame, rank_by="revenue"), "rank_by"),
        (lambda: at_risk(frame.drop(columns="ltv"), rank_by="ltv"), "rank_by"),
        (lambda: at_risk(frame, control_share=1.5), "control_share"),
    ]
    for make, field in cases:
        with pytest.raises(ListError) as error:
            make()
        assert error.value.field == field, str(error.value)
        assert field in parameters
    with pytest.raises(ListError) as by:
        movers(frame, frame, by="ltv")
    assert by.value.field == "by" and "by" in inspect.signature(movers).parameters


def test_a_stage_asked_as_a_segment_is_pointed_to_the_option_or_field_of_the_surface() -> None:
    """/at_risk's refusal of segment at_risk said "--stage at_risk", a CLI option: a request
    with "stage" is refused in turn (its field is lifecycle_stage)."""
    from serving.answers import list_error

    with pytest.raises(ListError) as refused:
        at_risk(scores_table(), Filters(segment="at_risk"))
    assert str(refused.value).endswith("(at_risk is a lifecycle stage: --stage at_risk)")
    (error,) = list_error(refused.value).errors()
    assert error["loc"] == ("segment",)
    assert error["msg"] == (
        '"at_risk" is unknown; this scores table has cannot_lose, champions, lost, loyal, '
        'no_purchase (at_risk is a lifecycle stage: "lifecycle_stage": "at_risk")'
    )


def test_an_at_risk_request_error_names_its_field_once() -> None:
    """/at_risk's 400 said the field twice (helper B, session 46): "lifecycle_stage:
    lifecycle_stage at-risk: unknown; ...", "where: where countryy=Spain: ...". Its error
    names the field once, then the value refused and what the table has, as the CLI's
    "--stage at-risk: unknown; ..." does with its option."""
    from serving.answers import list_error
    from serving.field_errors import sentence

    frame = scores_table().assign(country="FR")
    for filters, said in (
        (
            Filters(stage="at-risk"),
            'lifecycle_stage: "at-risk" is unknown; this scores table has active, at_risk, '
            'churned, silent (matched as written: "lifecycle_stage": "at_risk")',
        ),
        (
            Filters(where=(("countryy", "Spain"),)),
            "where.countryy: the scores table has no user attribute 'countryy' (it has: "
            "country, device; scores have their own options)",
        ),
        (
            Filters(where=(("country", "fr"),)),
            'where.country: "fr" is unknown (matched as written: did you mean FR?); this '
            "scores table has FR",
        ),
        (Filters(min_ltv=-5.0), "min_ltv: expected 0 or more, got -5"),
        (
            Filters(channel="pigeon"),
            'channel: "pigeon" is unknown; this scores table has email, organic, social',
        ),
    ):
        with pytest.raises(ListError) as refused:
            at_risk(frame, filters)
        detail = [
            {"loc": list(e["loc"]), "msg": e["msg"]} for e in list_error(refused.value).errors()
        ]
        assert sentence(detail) == said


def test_a_page_knows_the_size_of_the_whole_list() -> None:
    frame = scores_table()
    whole = at_risk(frame, Filters(min_ltv=10), limit=None, control_share=0.5, seed=4)
    pages = [
        at_risk_page(frame, Filters(min_ltv=10), limit=2, offset=offset, control_share=0.5, seed=4)
        for offset in (0, 2, 4)
    ]
    assert [p.total for p in pages] == [len(whole)] * 3 == [5] * 3  # u6 has no value at risk
    stitched = pd.concat([p.ranked for p in pages])
    assert stitched["user_id"].tolist() == whole["user_id"].tolist()
    assert stitched["rank"].tolist() == whole["rank"].tolist() == [1, 2, 3, 4, 5]
    assert stitched["control"].tolist() == whole["control"].tolist()
    assert pages[2].ranked["user_id"].tolist() == ["u1"]  # the last page is short


# -- control group ------------------------------------------------------------------------


def test_control_group_size_and_determinism() -> None:
    ids = [f"user-{i}" for i in range(10_000)]
    flags = control_flags(ids, seed=1, share=0.1)
    assert abs(flags.mean() - 0.1) < 0.015  # binomial sd 0.003: 5 sd
    assert np.array_equal(flags, control_flags(list(reversed(ids)), seed=1, share=0.1)[::-1])
    other = control_flags(ids, seed=2, share=0.1)
    assert abs(other.mean() - 0.1) < 0.015
    assert (flags & other).sum() < 0.03 * len(ids)  # independent draws overlap ~1%
    bigger = control_flags(ids, seed=1, share=0.3)
    assert abs(bigger.mean() - 0.3) < 0.03 and not (flags & ~bigger).any()  # nested shares
    assert not control_flags(ids, seed=1, share=0.0).any()
    with pytest.raises(ListError, match="control-share"):
        control_flags(ids, seed=1, share=1.0)


def test_a_lists_seed_is_drawn_from_what_the_list_is() -> None:
    """The seed of a list asked for without one: of its kind, dataset, scores date, ranking
    and filters (written or printed, CLI or /at_risk), each one counting; not of its top or
    control share (a preview of a list's first rows, a page of /at_risk, flag them alike);
    the same filters in another order (the CLI's repeated --where, the API's list) are the same
    list; a stable hash (Python's hash() is salted per process)."""
    from serving.list_seeds import list_drawn_from, seed_of

    def seed(kind: str = "at-risk", filters: Filters | None = None, **changed: object) -> int:
        asked: dict = {"dataset": "demo", "as_of": "2025-12-31", "rank_by": "value_at_risk"}
        asked |= changed
        dataset, as_of = asked.pop("dataset"), asked.pop("as_of")
        return seed_of(list_drawn_from(kind, dataset, as_of, filters or Filters(), **asked))

    spain_first = Filters(min_ltv=100, where=(("country", "Spain"), ("country", "France")))
    france_first = Filters(min_ltv=100.0, where=(("country", "France"), ("country", "Spain")))
    assert seed(filters=spain_first) == seed(filters=france_first)
    assert list_drawn_from("at-risk", "demo", "2025-12-31", france_first)["filters"] == {
        "min_ltv": 100.0,
        "where": {"country": ["France", "Spain"]},
    }
    base = seed()
    assert base == 4215314351  # the same in every process and release
    others = [
        seed("movers"),
        seed(dataset="other"),
        seed(as_of="2025-12-24"),
        seed(rank_by="return_probability"),
        seed(filters=Filters(segment="champions")),
        seed(filters=Filters(stage="churned")),
        seed(filters=Filters(channel="email")),
        seed(filters=Filters(min_churn=0.2)),
        seed(filters=Filters(min_ltv=100)),
        seed(filters=Filters(where=(("country", "Spain"),))),
    ]
    assert len({base, *others}) == 1 + len(others)
    # movers: the date compared with counts too
    assert seed("movers", since="2025-12-24") != seed("movers", since="2025-12-17")


def test_control_flag_is_assigned_before_filtering() -> None:
    frame = scores_table()
    full = at_risk(frame, limit=None, control_share=0.5, seed=3).set_index("user_id")["control"]
    filtered = at_risk(frame, Filters(channel="email"), limit=1, control_share=0.5, seed=3)
    for user, flag in zip(filtered["user_id"], filtered["control"], strict=True):
        assert flag == full[user]
    expected = dict(zip(frame["user_id"], control_flags(frame["user_id"], 3, 0.5), strict=True))
    assert full.to_dict() == {user: expected[user] for user in full.index}


# -- privacy ------------------------------------------------------------------------------


def test_lists_carry_no_personal_column_unless_allowed() -> None:
    ranked = at_risk(scores_table(), limit=None)
    rows = list_rows(ranked, Privacy(), PERSONAL)
    assert list(rows.columns) == [f for f in list_fields() if f in rows.columns]
    assert not set(PERSONAL) & set(rows.columns)
    assert "reasons" not in rows.columns  # the raw JSON stays in the scores table
    allowed = list_rows(ranked, Privacy(allowed_columns=("country",)), PERSONAL)
    assert "country" in allowed.columns and "device" not in allowed.columns
    # Allowed, the column is on the terminal too, and its reason says the value again (the
    # terminal had no country column, and every reason read "country (withheld)").
    said = json.dumps([{"feature": "country", "value": None, "text": "country (withheld)"}])
    withheld = scores_table().assign(reasons=said)
    shown = list_rows(at_risk(withheld, limit=2), Privacy(), PERSONAL)
    assert set(shown["top_reasons"]) == {"country (withheld)"}
    allowed = list_rows(at_risk(withheld, limit=2), Privacy(allowed_columns=("country",)), PERSONAL)
    assert [f"country: {c}" for c in allowed["country"]] == allowed["top_reasons"].tolist()
    header, first = format_rows(allowed, width=200)[:2]
    assert "country" in header.split() and "country" not in format_rows(shown, width=200)[0]
    assert allowed["country"].iloc[0] in first.split()
    with pytest.raises(ListError, match="--allow-column email_address: not a column this"):
        list_rows(ranked, Privacy(allowed_columns=("email_address",)), PERSONAL)


def test_lists_show_the_attributes_that_are_no_persons() -> None:
    """A plan's contract is no person's: a list shows it, as a column and in its reasons,
    and withholds only personal ones; an email (in no scores table) is refused without
    calling the plan columns personal (trial 115: `Contract (withheld)`)."""
    said = json.dumps([{"feature": "Contract", "value": "Month-to-month", "text": "x"}])
    table = scores_table().assign(Contract="Month-to-month", gender="f", reasons=said)
    metadata = {"personal_columns": ["gender"], "shown_columns": ["Contract"]}
    ranked = at_risk(table, limit=2)
    rows = list_rows(ranked, Privacy(), **listed_attributes(metadata))
    assert "Contract" in rows and "gender" not in rows and set(rows["top_reasons"]) == {"x"}
    # the terminal's table: the attributes named (--allow-column), the reasons say the rest
    assert "Contract" not in format_rows(rows, width=200, attributes=())[0].split()
    assert "Contract" in format_rows(rows, width=200, attributes=("Contract",))[0].split()
    allowed = list_rows(
        ranked, Privacy(allowed_columns=("gender", "Contract")), **listed_attributes(metadata)
    )
    assert list(allowed.columns[-2:]) == ["Contract", "gender"]
    with pytest.raises(ListError) as refused:
        list_rows(ranked, Privacy(allowed_columns=("email",)), **listed_attributes(metadata))
    assert str(refused.value).startswith(
        "--allow-column email: not a column this scores table withholds (it withholds: gender; "
        "shown in written lists and reasons without it, on the terminal when named: Contract)"
    )
    # a table written before names every attribute personal: all withheld, as then
    before = list_rows(ranked, Privacy(), **listed_attributes({"personal_columns": ["Contract"]}))
    assert "Contract" not in before


def test_pseudonyms_are_stable_keyed_and_replace_the_id() -> None:
    ids = ["u1", "u2", "u1"]
    first = pseudonyms(ids, b"secret")
    assert first[0] == first[2] and first[0] != first[1]
    assert first == pseudonyms(ids, b"secret")
    assert pseudonyms(ids, b"another")[0] != first[0]
    assert all(len(p) == 16 and p not in ids for p in first)
    rows = list_rows(
        at_risk(scores_table(), limit=None), Privacy(pseudonym_key=b"secret"), PERSONAL
    )
    assert set(rows["user_id"]) == set(pseudonyms(["u1", "u2", "u3", "u4", "u5"], b"secret"))
    # The control flag follows the real id, so pseudonymising does not change the group.
    plain = list_rows(at_risk(scores_table(), limit=None, control_share=0.5), Privacy(), PERSONAL)
    hidden = list_rows(
        at_risk(scores_table(), limit=None, control_share=0.5),
        Privacy(pseudonym_key=b"k"),
        PERSONAL,
    )
    assert plain["control"].tolist() == hidden["control"].tolist()


def test_pseudonym_key_comes_from_the_settings(tmp_path: Path) -> None:
    from lifecycle.settings import SettingsError, load_settings

    def settings(**env: str):  # type: ignore[no-untyped-def]
        return load_settings(environ={"LIFECYCLE_HOME": str(tmp_path), **env})

    with pytest.raises(ListError, match="LIFECYCLE_PRIVACY__PSEUDONYM_KEY"):
        Privacy.from_settings(settings(), pseudonymize=True)
    keyed = settings(LIFECYCLE_PRIVACY__PSEUDONYM_KEY="k1-secret")
    privacy = Privacy.from_settings(keyed, pseudonymize=True)
    assert privacy.pseudonym_key == b"k1-secret"
    assert "k1-secret" not in repr(privacy) and "k1-secret" not in repr(keyed)
    assert Privacy.from_settings(keyed).pseudonym_key is None  # only when asked for
    key_file = tmp_path / "pseudonym.key"
    key_file.write_text("k2-secret\n")
    from_file = settings(LIFECYCLE_PRIVACY__PSEUDONYM_KEY_FILE=str(key_file))
    assert Privacy.from_settings(from_file, pseudonymize=True).pseudonym_key == b"k2-secret"
    assert from_file.privacy.key() == (b"k2-secret", "privacy.pseudonym_key_file")
    with pytest.raises(SettingsError, match=r"pseudonym_key_file .*absent\.key cannot be read"):
        settings(LIFECYCLE_PRIVACY__PSEUDONYM_KEY_FILE=str(tmp_path / "absent.key")).privacy.key()
    with pytest.raises(SettingsError, match="not both"):
        settings(LIFECYCLE_PRIVACY__PSEUDONYM_KEY="k1", LIFECYCLE_PRIVACY__PSEUDONYM_KEY_FILE="f")
    # The retired variable is refused with the way forward, never silently ignored.
    with pytest.raises(SettingsError, match=r"LISTS_PSEUDONYM_KEY is no longer read.*PRIVACY"):
        settings(LISTS_PSEUDONYM_KEY="k1")


def test_settings_command_never_shows_the_pseudonym_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from lifecycle.cli import main

    for name in list(os.environ):
        if name.startswith("LIFECYCLE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LIFECYCLE_HOME", str(tmp_path))
    monkeypatch.setenv("LIFECYCLE_PRIVACY__PSEUDONYM_KEY", "k3-secret-value")
    for args in (["settings"], ["--json", "settings"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        assert "pseudonym_key" in result.output and "**********" in result.output
        assert "k3-secret-value" not in result.output


# -- movers -------------------------------------------------------------------------------


def test_movers_rank_the_biggest_rises_of_users_in_both_tables() -> None:
    latest = scores_table()
    previous = latest[latest["user_id"] != "u2"].assign(  # u2 is new: nothing to compare
        churn_probability=[0.1, 0.6, 0.1, 0.5, 0.5],
    )
    previous = previous.assign(value_at_risk=previous["churn_probability"] * previous["ltv"])
    found = movers(latest, previous, by="value_at_risk", limit=None)
    # value at risk rose for u4 (10 -> 60) and u1 (1 -> 9); u3 unchanged, u5 fell.
    assert found["user_id"].tolist() == ["u4", "u1"]
    assert found["value_at_risk_change"].tolist() == pytest.approx([50.0, 8.0])
    by_churn = movers(latest, previous, by="churn_probability", limit=1)
    assert by_churn["user_id"].tolist() == ["u1"]
    assert by_churn.iloc[0]["churn_probability_before"] == pytest.approx(0.1)
    rows = list_rows(found, Privacy(), PERSONAL, extra=MOVER_FIELDS)
    assert {"value_at_risk_change", "top_reasons", "control"} <= set(rows.columns)
    assert not set(PERSONAL) & set(rows.columns)
    printed = "\n".join(format_rows(rows, width=200))  # churn's change in points
    assert "churn chg" in printed and "+50 pts" in printed and "+80 pts" in printed
    moved = found.assign(churn_probability_change=[-0.003, 0.25])
    nearly = list_rows(moved, Privacy(), [], extra=MOVER_FIELDS)
    shown = "\n".join(format_rows(nearly, width=200))
    # not "-0%", nor "+0 pts" for a change the list ranks (a fall here, a rise in a movers
    # list that leaves flat ones out: online_retail 14286's +0.16 points, session 48)
    assert "-0.3 pts" in shown and "+25 pts" in shown and "-0%" not in shown
    assert [points_text(v) for v in (0.0016, -0.0004, 0.0, 0.004, 0.006)] == [
        "+0.2 pts",
        "+0 pts",
        "+0 pts",
        "+0.4 pts",
        "+1 pts",
    ]
    assert movers(latest, previous, filters=Filters(channel="email"))["user_id"].tolist() == ["u1"]
    # A purchase raises LTV: value at risk that rose while churn fell is not a rise of risk.
    bought = latest.assign(
        ltv=latest["ltv"].where(latest["user_id"] != "u1", latest["ltv"] * 40),
        churn_probability=latest["churn_probability"].where(latest["user_id"] != "u1", 0.05),
    )
    bought = bought.assign(value_at_risk=bought["churn_probability"] * bought["ltv"])
    before = previous.set_index("user_id")
    assert bought.set_index("user_id").at["u1", "value_at_risk"] > before.at["u1", "value_at_risk"]
    kept = movers(bought, previous, by="value_at_risk", limit=None)
    assert kept["user_id"].tolist() == ["u4"] and kept.attrs["value_only"] == 1
    earlier, later = (
        ScoresTable(previous, {"as_of": "2024-01-01"}),
        ScoresTable(bought, {"as_of": "2024-02-01"}),
    )
    (note,) = mover_notes({}, earlier, later, "value_at_risk", nobody=False, value_only=1)
    assert note.startswith("left out: 1 user whose value at risk rose with their churn probability")
    assert movers(bought, previous, by="churn_probability", limit=None).attrs["value_only"] == 0
    with pytest.raises(ListError, match="--by"):
        movers(latest, previous, by="ltv")


# -- output -------------------------------------------------------------------------------


UNITS = Units(
    currencies=("GBP",),
    windows={"churn": "churn: no activity in the next 91 days", "ltv": "ltv: in the next 365 days"},
    horizon_days={"churn": 91, "ltv": 365},
    outlook_days=365,
)


def _read_back(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".json":
        document = json.loads(path.read_text())
        assert document["currency"] == "GBP" and document["horizon_days"]["churn"] == 91
        return pd.DataFrame(document["rows"])
    about = pd.read_excel(path, sheet_name="about", engine="openpyxl")
    assert "churn: no activity in the next 91 days" in about["value"].tolist()
    return pd.read_excel(path, sheet_name="list", engine="openpyxl")


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json", ".xlsx"])
def test_export_round_trips_with_units_and_prints(tmp_path: Path, suffix: str) -> None:
    table = scores_table()
    table.loc[1, "days_since_last_activity"] = 21.8583
    table.loc[1, "revenue"] = 57120.91  # online_retail's 14096: a CSV at 6 digits said 57120.9
    rows = list_rows(at_risk(table, limit=3), Privacy(), PERSONAL)
    out = export(rows, tmp_path / f"list{suffix}", units=UNITS, title="top 3", as_of="2025-06-30")
    if suffix == ".xlsx":
        assert out.read_bytes()[:2] == b"PK"  # a real workbook (a zip), not CSV text
    back = _read_back(out)
    assert back["user_id"].tolist() == ["u2", "u3", "u4"]
    assert back["value_at_risk"].tolist() == pytest.approx(rows["value_at_risk"].tolist(), rel=1e-5)
    assert back["days_since_last_activity"].tolist() == [21, 25, 26]  # whole days gone by
    assert back["revenue"].tolist() == [57120.91, 90, 80]  # money to the penny in every format
    assert back["currency"].tolist() == ["GBP"] * 3
    assert back["churn_window_days"].tolist() == [91] * 3
    assert back["ltv_window_days"].tolist() == [365] * 3
    assert list(tmp_path.iterdir()) == [out]  # no staging file left behind
    again = read_list_file(out)  # as `campaign start --from-list` reads it
    assert again["user_id"].tolist() == ["u2", "u3", "u4"]
    assert again["control"].astype(str).str.lower().tolist() == ["false", "true", "false"]
    # its scores' date, which the campaign started from it takes (not the latest scores')
    assert again["as_of"].astype(str).tolist() == ["2025-06-30"] * 3
    text = "\n".join(format_rows(rows))
    assert "u2" in text and "20%" in text and "no activity for 40 days" in text


def test_the_units_line_says_what_p_alive_is_and_the_window_of_expected_purchases() -> None:
    """A list showed p_alive 0.99 beside a churn probability of 0.67 with no word on either
    column (a customer who buys once a year is alive and unlikely to buy in 91 days)."""
    text = UNITS.text()
    assert "p_alive: probability the customer has not left for good" in text
    assert "expected_purchases: in the next 365 days" in text  # the served process's horizon
    churn_only = Units(windows={"churn": "churn"}, horizon_days={"churn": 91}, outlook_days=91)
    assert churn_only.text().endswith("expected_purchases: in the next 91 days")
    # review R2 #7: an LTV champion without a purchase process serves churn's process over
    # churn's horizon; the line said the LTV's (a third copy of which horizon it is)
    assert (
        Units(horizon_days={"churn": 91, "ltv": 365}, outlook_days=91)
        .text()
        .endswith("expected_purchases: in the next 91 days")
    )
    assert "expected_purchases" not in Units(horizon_days={"churn": 91, "ltv": 365}).text()
    assert "p_alive" not in Units().text()
    # "ltv: expected purchases minus refunds" read as a count on a log of money (CDNOW)
    from lifecycle import tasks
    from serving.units import window_text

    assert window_text(tasks.get("ltv"), 365) == (
        "ltv: expected value of purchases minus refunds in the next 365 days, at least 0 per user"
    )  # trial 114: floored per user, as the label is, which pandas' net sum is not


@pytest.mark.parametrize(
    ("name", "fmt"), [("list.xls", None), ("list.txt", None), ("l.csv", "xls")]
)
def test_unknown_list_formats_are_refused_naming_the_supported_ones(
    tmp_path: Path, name: str, fmt: str | None
) -> None:
    rows = list_rows(at_risk(scores_table(), limit=3), Privacy(), PERSONAL)
    with pytest.raises(ListError, match=r"supported: \.csv, \.parquet, \.json, \.xlsx"):
        export(rows, tmp_path / name, fmt)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_an_unknown_out_suffix_is_refused_naming_the_whole_path(tmp_path: Path) -> None:
    """It named only the file name: which of several `a b.unknown` was meant was a guess."""
    out = tmp_path / "sub dir" / "a b.unknown"
    with pytest.raises(ListError) as refused:
        list_format(out)
    assert str(refused.value) == (
        f"--out '{out}': cannot write a .unknown file; supported: .csv, .parquet, .json, "
        ".xlsx (or --format csv/parquet/json/xlsx)"
    )
    with pytest.raises(ListError, match=r"^--out list: cannot write a file without a suffix;"):
        list_format(Path("list"))


def test_a_format_that_the_out_suffix_contradicts_is_refused(tmp_path: Path) -> None:
    """`--format csv --out list.parquet` wrote CSV text into a file named .parquet."""
    rows = list_rows(at_risk(scores_table(), limit=3), Privacy(), PERSONAL)
    with pytest.raises(ListError) as refused:
        export(rows, tmp_path / "list.parquet", "csv")
    assert str(refused.value) == (
        f"--format csv contradicts --out {tmp_path / 'list.parquet'} (a .parquet file holds "
        "parquet): name the file list.csv or drop --format"
    )
    assert list(tmp_path.iterdir()) == []
    # a suffix that names no format still takes --format
    export(rows, tmp_path / "list.txt", "csv")
    assert read_list_file(tmp_path / "list.txt")["user_id"].tolist() == rows["user_id"].tolist()


def test_an_xlsx_list_holds_text_that_starts_with_equals_as_text_never_a_formula(
    tmp_path: Path,
) -> None:
    """A user id '=1+1' or a channel '=HYPERLINK(...)' (ingest loads them as given) was
    written as a live formula: Excel showed 2 and followed the link, and the list read back
    (`campaign start --from-list`) had no id in that row."""
    import openpyxl

    rows = list_rows(at_risk(scores_table(), limit=2), Privacy(), PERSONAL)
    rows["user_id"] = ["=1+1", '=HYPERLINK("http://example.com","x")']
    out = export(rows, tmp_path / "list.xlsx")
    sheet = openpyxl.load_workbook(out)["list"]
    column = [cell.value for cell in sheet[1]].index("user_id")
    cells = [row[column] for row in sheet.iter_rows(min_row=2)]
    assert [(cell.value, cell.data_type) for cell in cells] == [
        ("=1+1", "s"),
        ('=HYPERLINK("http://example.com","x")', "s"),
    ]
    assert read_list_file(out)["user_id"].tolist() == rows["user_id"].tolist()


def test_a_csv_list_quotes_text_a_spreadsheet_would_run_and_reads_it_back_as_it_was(
    tmp_path: Path,
) -> None:
    """A user id or channel '=HYPERLINK(...)', '@SUM(A1)' or '-2+3' (ingest loads them as
    given) was written into a CSV list as it was: a spreadsheet opening the list ran it as a
    formula. Such text cells are quoted with one "'"; `campaign start --from-list` reads
    every id back as it was, an id that starts with "'" too; numbers are not quoted."""
    rows = list_rows(at_risk(scores_table(), limit=5), Privacy(), PERSONAL)
    ids = ['=HYPERLINK("http://example.com","x")', "@SUM(A1)", "-2+3", "'=1", "'a"]
    rows["user_id"] = ids
    out = export(rows, tmp_path / "list.csv")
    written = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert written["user_id"].tolist() == [
        '\'=HYPERLINK("http://example.com","x")',
        "'@SUM(A1)",
        "'-2+3",
        "''=1",
        "'a",
    ]
    assert not any(v.startswith(("=", "+", "-", "@")) for v in written.to_numpy().ravel())
    assert read_list_file(out)["user_id"].tolist() == ids
    numbers = pd.read_csv(out)
    assert numbers["churn_probability"].tolist() == pytest.approx(
        rows["churn_probability"].tolist()
    )


def test_terminal_rows_carry_whole_reasons_wrapped() -> None:
    long = "; ".join(f"reason number {i} that an operator must read in full" for i in range(6))
    table = scores_table().assign(reasons=None)
    rows = list_rows(at_risk(table, limit=2), Privacy(), PERSONAL).assign(top_reasons=long)
    lines = format_rows(rows, width=80)
    assert all(len(line) <= 80 for line in lines if "reason" in line)
    assert "…" not in "\n".join(lines) and "..." not in "\n".join(lines)
    reasons = [line.strip().removeprefix("reasons: ") for line in lines if line.startswith("   ")]
    assert " ".join(reasons) == long + " " + long  # both rows, every word, in order


def test_terminal_values_below_100_keep_the_digits_they_need() -> None:
    """A count-only log's values are a few purchases: 0.06 at risk is not printed as 0."""
    small = scores_table().assign(
        ltv=[1.3, 0.4, 2.0, 2.0, 250.0, 1.0],
        ltv_p10=[0.0, 0.05, 0.0, 0.0, 120.4, 0.0],
        ltv_p90=[4.0, 1.0, 5.5, 5.5, 610.0, 3.0],
    )
    small = small.assign(value_at_risk=small["churn_probability"] * small["ltv"])
    rows = list_rows(at_risk(small, limit=None), Privacy(), PERSONAL)
    lines = {line.split()[1]: line for line in format_rows(rows, width=200)[1:] if line[:2] != "  "}
    assert "1.3 (0-4.0)" in lines["u1"] and lines["u1"].split()[-4] == "1.2"  # 0.9 x 1.3
    assert "0.40 (0.05-1.0)" in lines["u2"] and " 0.08 " in lines["u2"]
    assert "250 (120-610)" in lines["u5"] and " 12.5 " in lines["u5"]
    assert not format_rows(rows, width=200)[-1].startswith("(")  # every value within its P90
    # "140 (0-0)" read as a fault: the list says what such a value is
    above = small.assign(ltv=[140.0, 0.4, 2.0, 2.0, 250.0, 1.0], ltv_p90=[0.0, 1, 5.5, 5.5, 610, 3])
    rows = list_rows(at_risk(above, limit=None), Privacy(), PERSONAL)
    printed = format_rows(rows, width=200)
    assert any("140 (0-0)" in line for line in printed)
    assert printed[-1] == (
        "(1 ltv value above the P90: the value is the mean, which a small chance of a large "
        "spend lifts above what 9 in 10 such users bring)"
    )


def test_shown_idle_days_agree_with_the_stage_thresholds(tmp_path: Path) -> None:
    """Rounding showed u0014085, 90.02 days idle, as "90" beside ``churned`` (then over 90):
    the days shown cross a threshold with the stage, in the terminal, written lists and
    reasons. stages_v4 counts days as the windows do (90 days or more is ``churned``), and the
    days shown are whole days gone by: 90.0 reads 90 beside churned, 89.9 reads 89 beside
    silent, 30.0 reads 30 beside silent (v3 called it active, "no active days in the last 30
    days"), 29.9 reads 29 beside active."""
    from serving.reason_words import reason_text
    from serving.segments import CHURNED_DAYS, SILENT_DAYS, stage_of_columns

    idle = [90.02, 30.4, 90.0, 30.0, 25.0, 3.0, 89.9, 29.9]
    table = scores_table().assign(days_since_last_activity=idle[:6], tenure_days=400.0)
    rows = list_rows(at_risk(table, limit=None), Privacy(), PERSONAL)
    back = _read_back(export(rows, tmp_path / "list.csv", units=UNITS))
    shown = dict(zip(back["user_id"], back["days_since_last_activity"], strict=True))
    assert shown == {"u1": 90, "u2": 30, "u3": 90, "u4": 30, "u5": 25}
    lines = {line.split()[1]: line for line in format_rows(rows, width=200)[1:] if line[:2] != "  "}
    assert lines["u1"].split()[-1] == "90" and lines["u2"].split()[-1] == "30"
    stages = {}
    for days in idle:
        # an active day in the last 30, two in the 90 (not reactivated)
        features = {"recency_days": days, "tenure_days": 400.0, "active_days_90d": 2.0}
        stage = stage_of_columns(lambda n, f=features: np.array([f.get(n, 1.0)]))[0]
        words = reason_text("recency_days", days)
        whole = int(words.split()[3])  # "no activity for N days"
        assert (stage == "churned") == (whole >= CHURNED_DAYS), (days, stage, words)
        assert (stage in ("churned", "silent")) == (whole >= SILENT_DAYS), (days, stage, words)
        stages[days] = (stage, whole)
    assert stages[90.0] == ("churned", 90) and stages[89.9] == ("silent", 89)
    assert stages[30.0] == ("silent", 30) and stages[29.9] == ("active", 29)


def test_the_at_risk_list_leaves_out_the_low_risk_band_unless_asked(tmp_path: Path) -> None:
    """Trial 114: ranked by value at risk alone, "the at-risk list" was led by customers who
    had just bought (churn 4-13%): a large LTV outweighs a small risk. `at-risk` (and
    /at_risk, the report) now leave out users below the medium risk band unless --min-churn
    says, count them in a note, and the title says what value at risk is."""
    from click.testing import CliRunner

    from lifecycle.cli import main
    from lifecycle.settings import load_settings
    from serving.batch import write_scores
    from serving.lists import at_risk_filters, below_floor_note, ranking_words

    scores = scores_table()
    # u5: churn 5%, LTV 1,000: value at risk 50, second by value at risk alone
    assert at_risk(scores, limit=None)["user_id"].tolist()[:4] == ["u2", "u3", "u4", "u5"]
    floored = at_risk_filters(Filters(), scores, 0.2)
    assert floored == Filters(min_churn=0.2)
    assert at_risk(scores, floored)["user_id"].tolist() == ["u2", "u3", "u4", "u1"]
    assert at_risk_filters(Filters(min_churn=0.0), scores, 0.2) == Filters(min_churn=0.0)
    assert at_risk_filters(Filters(), scores, 0.2, "expected_saved_value") == Filters()
    assert at_risk_filters(Filters(), scores.drop(columns="churn_probability"), 0.2) == Filters()
    assert below_floor_note(scores, floored, Filters(min_churn=0.2)) is None
    # a list ranked by conversion or LTV asks no churn risk: no floor (review 143: the never
    # buyers, who have no churn score, were all cut from a conversion list)
    for rank_by in ("ltv", "conversion_probability"):
        assert at_risk_filters(Filters(), scores, 0.2, rank_by) == Filters()
    assert at_risk_filters(Filters(), scores, 0.2, "churn_probability") == floored
    # the note counts only the users the other filters keep (u5 is active; u1 silent is not low)
    stage = Filters(stage="silent")
    note = below_floor_note(scores, at_risk_filters(stage, scores, 0.2), stage)
    assert note is not None and note.startswith("left out: 0 scored users below")
    assert ranking_words("value_at_risk") == "value at risk (churn probability x LTV)"
    home = tmp_path / "ws"
    settings = load_settings(home=home, environ={})
    write_scores(settings.workspace.scores_dir, scores, {"as_of": "2024-01-05"})

    def listed(*options: str) -> dict:
        done = CliRunner().invoke(main, ["--home", str(home), "--json", "at-risk", *options])
        assert done.exit_code == 0, done.output
        return json.loads(done.stdout)

    found = listed()
    assert [row["user_id"] for row in found["rows"]] == ["u2", "u3", "u4", "u1"]
    assert found["filters"] == {"min_churn": 0.2}
    assert found["notes"][0] == (
        "left out: 1 scored user below the medium risk band (churn probability under 0.2, "
        "serving.medium_risk); `--min-churn 0` lists them too"
    )
    text = CliRunner().invoke(main, ["--home", str(home), "at-risk"]).stdout
    assert "users by value at risk (churn probability x LTV) as of 2024-01-05" in text
    assert "; only churn probability >= 0.2;" in text
    everyone = listed("--min-churn", "0")
    assert [row["user_id"] for row in everyone["rows"]] == ["u2", "u3", "u4", "u5", "u1"]
    assert not any(note.startswith("left out") for note in everyone["notes"])


def _notes_of(path: Path) -> list[str]:
    """The notes a written list carries: JSON's ``notes``, the xlsx about sheet's, the
    Parquet metadata's (a CSV is its rows)."""
    if path.suffix == ".json":
        return json.loads(path.read_text())["notes"]
    if path.suffix == ".xlsx":
        about = pd.read_excel(path, sheet_name="about", engine="openpyxl")
        return about.loc[about["what"] == "note", "value"].tolist()
    import pyarrow.parquet as pq

    return json.loads(pq.read_schema(path).metadata[b"lifecycle.list"])["notes"]


def test_a_list_ranked_by_a_score_some_users_lack_counts_them(tmp_path: Path) -> None:
    """Trial W: `at-risk --stage churned --rank-by conversion_probability` left out every
    repeat customer (conversion scores only users before its target), 290 of 1,122 churned
    customers and the likeliest to come back, with `notes: []`. The list now counts them in
    a note (terminal, --json, API, the written file) and names the ranking that has them;
    `--rank-by return_probability` (1 - churn) ranks every churn-scored user."""
    from click.testing import CliRunner

    from lifecycle.cli import main
    from lifecycle.settings import load_settings
    from serving.batch import write_scores
    from serving.lists import ranking_words, unscored_note

    scores = scores_table()  # u1 one order, u6 none: before the target; u2-u5 repeat buyers
    scores["conversion_probability"] = [0.3, np.nan, np.nan, np.nan, np.nan, 0.1]
    home = tmp_path / "ws"
    write_scores(
        load_settings(home=home, environ={}).workspace.scores_dir, scores, {"as_of": "2024-01-05"}
    )

    def listed(*options: str) -> dict:
        done = CliRunner().invoke(main, ["--home", str(home), "--json", "at-risk", *options])
        assert done.exit_code == 0, done.output
        return json.loads(done.stdout)

    said = (
        "left out: 4 users the filters keep without a conversion probability (conversion "
        "scores only users before its target: one who reached it has none; "
        "`--rank-by return_probability` ranks 4 of them too)"
    )
    by_conversion = listed("--rank-by", "conversion_probability")
    assert [row["user_id"] for row in by_conversion["rows"]] == ["u1", "u6"]
    assert said in by_conversion["notes"]
    text = CliRunner().invoke(
        main, ["--home", str(home), "at-risk", "--rank-by", "conversion_probability"]
    )
    assert said in text.stdout
    # of the users the filters keep only: stage churned holds u6 alone, who has one
    churned = Filters(stage="churned")
    assert unscored_note(scores, churned, "conversion_probability") is None
    assert unscored_note(scores, Filters(stage="active"), "conversion_probability") == (
        "left out: 2 users the filters keep without a conversion probability (conversion "
        "scores only users before its target: one who reached it has none; "
        "`--rank-by return_probability` ranks 2 of them too)"
    )
    for suffix in (".json", ".xlsx", ".parquet"):
        out = tmp_path / f"list{suffix}"
        written = listed("--rank-by", "conversion_probability", "--out", str(out))
        assert said in written["notes"] and said in _notes_of(out), suffix
    # every churn-scored user, by 1 - churn probability, highest first (no churn floor)
    back = listed("--rank-by", "return_probability")
    assert [row["user_id"] for row in back["rows"]] == ["u5", "u2", "u3", "u4", "u1"]
    assert [row["return_probability"] for row in back["rows"]] == pytest.approx(
        [0.95, 0.8, 0.4, 0.4, 0.1]
    )
    table = format_rows(list_rows(at_risk(scores, rank_by="return_probability", limit=1)))
    assert table[0].split()[:4] == ["#", "user", "churn", "ltv"] and "return" in table[0]
    assert table[1].split()[:3] == ["1", "u5", "5%"] and "95%" in table[1].split()
    # churn's label had no lookback (it scores every known user): not said to be the reason;
    # u5's reasons are computed and none (serving.list_reasons.nothing_raised_note)
    assert back["notes"] == [
        "1 listed user with no churn reason to give: no feature raised their churn risk above "
        "the average user's",
        "left out: 1 user the filters keep without a return probability (no churn_probability "
        "for them)",
        "reasons are what raised each user's churn risk above the average user's, not why this "
        "ranking puts them first (the likeliest to come back)",
    ]
    looked_back = {"churn": {"task": "churn", "horizon_days": 90, "lookback_days": 180}}
    assert unscored_note(scores, Filters(), "return_probability", labels=looked_back) == (
        "left out: 1 user the filters keep without a return probability (churn scores only "
        "users active in its lookback)"
    )
    assert ranking_words("return_probability") == (
        "return probability (1 - churn probability: any activity in churn's window)"
    )
    assert at_risk(scores, rank_by="return_probability", limit=1)["user_id"].tolist() == ["u5"]
    # a table without churn scores names the model it lacks
    with pytest.raises(ListError, match="no churn model scored it"):
        at_risk(scores.drop(columns="churn_probability"), rank_by="return_probability")


def test_a_list_written_to_a_new_folder_says_it_created_it(tmp_path: Path) -> None:
    """`at-risk --out lists/june/list.csv` (and movers, campaign start) made the folders
    without a word: a typo in the folder's name wrote the list where nobody looked. The line
    (and --json's ``created_folder``) names the folder it created."""
    from click.testing import CliRunner

    from lifecycle.cli import main
    from lifecycle.settings import load_settings
    from serving.batch import write_scores

    home = tmp_path / "ws"
    write_scores(
        load_settings(home=home, environ={}).workspace.scores_dir,
        scores_table(),
        {"as_of": "2024-01-05"},
    )
    out = tmp_path / "lists" / "june" / "list.csv"
    args = ["--home", str(home), "--quiet", "at-risk", "--out", str(out)]
    said = CliRunner().invoke(main, args).stdout.splitlines()[0]
    assert said.endswith(f" -> {out} (created folder {tmp_path / 'lists'})"), said
    assert out.is_file()
    again = CliRunner().invoke(main, ["--json", *args])
    assert json.loads(again.stdout)["created_folder"] is None
    said = CliRunner().invoke(main, args).stdout.splitlines()[0]
    assert said.endswith(f" -> {out}"), said


def test_the_units_line_says_conversion_is_any_purchase_when_served_as_1_minus_churn(
    tmp_path: Path,
) -> None:
    """Trial W: a purchase log's list said `conversion: probability of reaching the
    conversion target in the next 90 days`, its value 1 - churn unsaid, so "conversion 51%"
    of a churned one-order customer did not read as any purchase. The line says it, in the
    words `lifecycle models` uses (serving.one_event)."""
    from lifecycle.settings import load_settings
    from serving.one_event import served_as
    from serving.units import units_for

    settings = load_settings(home=tmp_path / "ws", environ={})
    labels = {"churn": {"horizon_days": 90}, "conversion": {"horizon_days": 90}}
    metadata = {
        "labels": labels,
        "model_versions": {"churn": "1", "conversion": "1"},
        "model_kinds": {"churn": "lightgbm", "conversion": "churn_complement"},
    }
    windows = units_for(settings, metadata).windows
    assert windows["conversion"] == (
        "conversion: probability of reaching the conversion target in the next 90 days, "
        f"on this log any purchase: {served_as('conversion', '1 - churn v1')}"
    )
    assert served_as("conversion", "1 - churn v1") in units_for(settings, metadata).text()
    assert windows["churn"] == "churn: probability of no activity in the next 90 days"
    # conversion's own model: its own words
    own = metadata | {"model_kinds": {"churn": "lightgbm", "conversion": "lightgbm"}}
    assert units_for(settings, own).windows["conversion"].endswith("in the next 90 days")


def test_movers_leave_out_a_churn_change_the_list_prints_as_flat() -> None:
    """online_retail 2011-09-10 -> 10-10: 16684's churn probability rose 0.0008 points (its
    LTV up by a purchase) and it ranked 2nd of the value-at-risk risers, printed "+0 pts", in
    a list said to keep only users whose churn rose too (76 of its 532 rose under 0.01
    points). A change the list prints as +0 is flat now: left out and counted by value, not
    ranked by churn."""
    latest = scores_table().iloc[:5]
    previous = latest.assign(churn_probability=[0.9 - 8e-6, 0.2, 0.6, 0.5, 0.05 - 3e-4])
    previous = previous.assign(value_at_risk=previous["churn_probability"] * 0.5)
    latest = latest.assign(value_at_risk=latest["churn_probability"] * latest["ltv"])
    # u1 +0.0008 points, u4 +10 points, u5 +0.03 points; every value at risk rose
    by_value = movers(latest, previous, by="value_at_risk", limit=None)
    assert by_value["user_id"].tolist() == ["u4"]
    assert by_value.attrs["value_only"] == 4  # u2, u3 flat; u1, u5 up by less than the list shows
    by_churn = movers(latest, previous, by="churn_probability", limit=None)
    assert by_churn["user_id"].tolist() == ["u4"]
    assert [points_text(v) for v in (8e-6, 3e-4)] == ["+0 pts", "+0 pts"]  # what they read


def test_movers_count_the_users_the_filters_keep_that_only_the_latest_table_scored() -> None:
    """Users new since the previous table have no change to rank by: counted (a note says
    them), after the filters, and no note without them."""
    latest = scores_table()
    previous = latest[~latest["user_id"].isin(["u2", "u5"])]  # both social
    found = movers(latest, previous, by="churn_probability", limit=None)
    assert found.attrs["not_before"] == 2 and not {"u2", "u5"} & set(found["user_id"])
    assert movers(latest, previous, filters=Filters(channel="email")).attrs["not_before"] == 0
    assert movers(latest, previous, filters=Filters(channel="social")).attrs["not_before"] == 2
    earlier = ScoresTable(previous, {"as_of": "2024-01-01"})
    later = ScoresTable(latest, {"as_of": "2024-02-01"})
    assert mover_notes({}, earlier, later, "churn_probability", nobody=False) == ()
    (note,) = mover_notes({}, earlier, later, "churn_probability", nobody=False, not_before=2)
    assert note.startswith("not compared: 2 users scored on 2024-02-01 whom the table of ")
    assert "2024-01-01 did not score (new since)" in note


def test_a_written_list_holds_not_scored_as_json_and_the_terminal_says_it(tmp_path: Path) -> None:
    """A list row's ``not_scored`` (task -> why, /score's dict) was written to a CSV as
    Python's repr (``{'churn': 'why'}``), which no reader parses; a cell holds it as the
    scores table does, JSON text, and the terminal list says it and ``outlook_apart``
    below the row."""
    why = {"conversion": "conversion scores only users before its target"}
    rows = pd.DataFrame(
        {
            "rank": [1, 2],
            "user_id": ["a", "b"],
            "outlook_apart": [None, "p_alive 0.01 is the purchase process's"],
            "not_scored": [None, why],
            "control": [False, False],
        }
    )
    for fmt in ("csv", "parquet", "xlsx"):
        written = read_list_file(export(rows, tmp_path / f"list.{fmt}"))
        cells = written["not_scored"].tolist()
        assert cells[0] is None or cells[0] == "" or pd.isna(cells[0]), fmt
        assert json.loads(cells[1]) == why, fmt
    said = format_rows(rows, width=120)
    assert "      outlook: p_alive 0.01 is the purchase process's" in said
    assert f"      no score: conversion: {why['conversion']}" in said
