"""One scoring definition, two shapes (issue 17): a request's online rows become one numpy
matrix shared by every model, a batch frame the same matrix, and both answer exactly what
the pre-change DataFrame scoring (``reference_scoring``, frozen) answered; churn reasons
precomputed by ``score-all`` are served only while they equal a fresh computation."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import reference_scoring
from workspaces import NO_COMPILE, TrainedWorkspace

from lifecycle.settings import load_settings
from serving.batch import METADATA_KEY, read_scores

FIELDS = (
    "churn_probability",
    "risk_band",
    "conversion_probability",
    "ltv",
    "ltv_p10",
    "ltv_p50",
    "ltv_p90",
    "purchase_probability",
    "value_at_risk",
    "p_alive",
    "expected_purchases",
    "lifecycle_stage",
)


@pytest.fixture(scope="module")
def users(trained_workspace: TrainedWorkspace) -> list[str]:
    """Users of every kind: churn-eligible or not, conversion-eligible, buyers and not."""
    table = read_scores(trained_workspace.scores_path).frame
    picks = [
        table[table["churn_probability"].notna()]["user_id"].head(30),
        table[table["churn_probability"].isna()]["user_id"].head(10),
        table[table["conversion_probability"].notna()]["user_id"].head(10),
        table[table["p_alive"].isna()]["user_id"].head(5),
    ]
    return list(dict.fromkeys(pd.concat(picks).astype(str)))


def online_frame(scorer: Any, users: list[str]) -> pd.DataFrame:
    """The users' online features as the pre-change path read them (Feast's frame)."""
    from serving.hotpath import online_frame

    state = scorer.state
    services = sorted({state.fetch[s] for s in state.champions.services})
    return online_frame(state.store, users, services)


def same(got: Any, want: Any) -> bool:
    """Equal, with NaN and None alike (the API answers null for both)."""

    def blank(value: Any) -> bool:
        return value is None or (isinstance(value, float) and math.isnan(value))

    return blank(want) if blank(got) else got == want


def reasons_of(raw: list[dict]) -> list[dict]:
    """Reasons as the API answers them (NaN values as null)."""
    return [
        {
            **r,
            "value": None
            if isinstance(r["value"], float) and math.isnan(r["value"])
            else r["value"],
        }
        for r in raw
    ]


def test_online_hot_path_answers_as_the_pre_change_scoring(scorer: Any, users: list[str]) -> None:
    frame = online_frame(scorer, users)
    assert len(frame) == len(users)
    reference = reference_scoring.score_frame(scorer.state.champions, frame).set_index("user_id")
    response = scorer.score(users, reasons="fresh")
    assert [u.user_id for u in response.users] == users
    explained = 0
    for user in response.users:
        want = reference.loc[user.user_id]
        for name in FIELDS:
            assert same(getattr(user, name), want[name]), (user.user_id, name)
        got_reasons = [r.model_dump() for r in user.reasons]
        assert got_reasons == reasons_of(want["reasons"]), user.user_id
        explained += bool(got_reasons)
    assert explained >= 20  # the churn-eligible users were explained


def test_batch_frames_score_as_the_pre_change_scoring(
    scorer: Any, trained_workspace: TrainedWorkspace
) -> None:
    """The frame shape of the one definition: every column, dtype and value, on features as
    batch scoring retrieves them (Feast's point-in-time frame: nullable ints, text)."""
    from features.store import open_store
    from serving.batch import known_users, resolve_as_of, retrieve_features
    from serving.scoring import score_frame

    settings = load_settings(home=trained_workspace.home, environ={})
    champions = scorer.state.champions
    table = settings.workspace.features_dir / settings.dataset / "user_features.parquet"
    entity_rows = known_users(table, resolve_as_of(table, None)).head(300)
    features = retrieve_features(
        open_store(settings, settings.dataset), entity_rows, champions.services
    )
    got = score_frame(champions, features)
    want = reference_scoring.score_frame(champions, features)
    # reasons quoting a missing value hold NaN, which is never equal to itself: compare the
    # reasons with NaN as null, every other column as it is
    explained = [reasons_of(r) for r in got.pop("reasons")]
    assert explained == [reasons_of(r) for r in want.pop("reasons")]
    assert sum(map(len, explained)) > 0
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_one_user_and_many_score_alike(scorer: Any, users: list[str]) -> None:
    """A user's answer does not depend on who else is in the request (single-thread predict
    for small requests, the same matrix columns either way)."""
    together = {u.user_id: u for u in scorer.score(users, reasons="fresh").users}
    for user_id in users[:8]:
        (alone,) = scorer.score([user_id], reasons="fresh").users
        assert alone.model_dump() == together[user_id].model_dump()


def test_without_reasons_the_scores_stay(scorer: Any, users: list[str]) -> None:
    plain = scorer.score(users[:10], reasons="none").users
    full = scorer.score(users[:10], reasons="fresh").users
    assert all(u.reasons is None for u in plain)  # not computed: null, not "none raised"
    assert any(u.reasons for u in full)
    for a, b in zip(plain, full, strict=True):
        assert a.model_dump(exclude={"reasons"}) == b.model_dump(exclude={"reasons"})


def test_precomputed_reasons_are_served_and_equal_fresh_ones(scorer: Any, users: list[str]) -> None:
    from serving.feature_matrix import FeatureMatrix
    from serving.hotpath import online_matrix

    state = scorer.state
    lookup = scorer._reasons.lookup(state.champions)
    assert lookup is not None, "the shared workspace's scores table holds every user's reasons"
    matrix = online_matrix(state.store, state.layout, state.fetch, state.champions, users)
    assert isinstance(matrix, FeatureMatrix)
    churn_eligible = np.array(
        [u.churn_probability is not None for u in scorer.score(users, reasons="none").users]
    )
    served = lookup(matrix, churn_eligible)
    assert set(served) == {int(r) for r in np.flatnonzero(churn_eligible)}  # all found
    auto = scorer.score(users, reasons="auto").users
    fresh = scorer.score(users, reasons="fresh").users
    for a, f in zip(auto, fresh, strict=True):
        assert [r.model_dump() for r in a.reasons] == [r.model_dump() for r in f.reasons]


def rewritten_table(source: Path, target: Path, **metadata_changes: Any) -> Path:
    """A copy of a scores table whose reasons say ``precomputed`` (so a served one shows)
    and whose metadata has the given changes."""
    table = pq.read_table(source)
    metadata = json.loads(table.schema.metadata[METADATA_KEY])
    metadata.update(metadata_changes)
    frame = table.to_pandas()
    frame["reasons"] = [
        None if raw is None else json.dumps([{**r, "text": "precomputed"} for r in json.loads(raw)])
        for raw in frame["reasons"]
    ]
    import pyarrow as pa

    out = pa.Table.from_pandas(frame, preserve_index=False)
    out = out.replace_schema_metadata({METADATA_KEY: json.dumps(metadata).encode()})
    pq.write_table(out, target)
    return target


@pytest.mark.parametrize(
    ("change", "served"),
    [
        ({}, True),  # the control: a matching entry is what the API answers
        ({"model_versions": {"churn": "99", "conversion": "1", "ltv": "1"}}, False),
        ({"as_of": "2000-01-01"}, False),
    ],
    ids=["fresh", "other-model-version", "older-as-of"],
)
def test_a_stale_precomputed_entry_is_not_served(
    scorer: Any,
    users: list[str],
    trained_workspace: TrainedWorkspace,
    tmp_path: Path,
    change: dict[str, Any],
    served: bool,
) -> None:
    from serving.known_reasons import ReasonsCache

    path = rewritten_table(trained_workspace.scores_path, tmp_path / "latest.parquet", **change)
    shared = scorer._reasons
    scorer._reasons = ReasonsCache(path)
    try:
        answered = scorer.score(users[:10], reasons="auto").users
    finally:
        scorer._reasons = shared
    personal = set(read_scores(path).metadata["personal_columns"])  # quoted from the request
    texts = {r.text for u in answered for r in u.reasons if r.feature not in personal}
    assert texts, "the sample has explained users"
    assert (texts == {"precomputed"}) is served, texts


def test_personal_values_withheld_in_the_table_are_quoted_from_the_request(
    scorer: Any, users: list[str], trained_workspace: TrainedWorkspace, tmp_path: Path
) -> None:
    """The table withholds a personal attribute's value; the served reason quotes the
    request's own value, as a fresh computation does, and the rest comes from the table.
    The demo's attributes are no person's (shown since trial 115): the table says country is."""
    from serving.known_reasons import ReasonsCache

    table = read_scores(trained_workspace.scores_path)
    personal = {"country"}
    features = [r["feature"] for raw in table.frame["reasons"].dropna() for r in json.loads(raw)]
    assert personal & set(features), "some stored reasons are about a personal attribute"
    path = rewritten_table(
        trained_workspace.scores_path, tmp_path / "latest.parquet", personal_columns=["country"]
    )
    shared = scorer._reasons
    scorer._reasons = ReasonsCache(path)
    try:
        served = scorer.score(users, reasons="auto").users
    finally:
        scorer._reasons = shared
    fresh = scorer.score(users, reasons="fresh").users
    quoted = 0
    for s_user, f_user in zip(served, fresh, strict=True):
        assert [r.feature for r in s_user.reasons] == [r.feature for r in f_user.reasons]
        for s_reason, f_reason in zip(s_user.reasons, f_user.reasons, strict=True):
            if s_reason.feature in personal:
                assert s_reason == f_reason
                quoted += 1
            else:
                assert s_reason.text == "precomputed"  # from the table, not recomputed
    assert quoted > 0


def test_score_all_explains_every_eligible_user(trained_workspace: TrainedWorkspace) -> None:
    table = read_scores(trained_workspace.scores_path).frame
    eligible = table["churn_probability"].notna()
    assert table.loc[eligible, "reasons"].notna().all()
    assert table.loc[~eligible, "reasons"].isna().all()


def test_supplied_features_score_through_the_same_matrix(scorer: Any, users: list[str]) -> None:
    from serving.schemas import FeatureRow

    frame = online_frame(scorer, users[:5])
    rows = [
        FeatureRow(
            user_id=str(record.pop("user_id")),
            features={
                k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in record.items()
            },
        )
        for record in frame.to_dict(orient="records")
    ]
    supplied = scorer.score_features(rows).users
    scored = scorer.score(users[:5], reasons="fresh").users
    for a, b in zip(supplied, scored, strict=True):
        assert a.status == "supplied" and a.features_missing == []  # every input given
        assert a.model_dump(exclude={"status", "features_missing"}) == b.model_dump(
            exclude={"status", "features_missing"}
        )
        assert b.features_missing is None  # said of supplied rows only


def test_uplift_in_the_hot_path_equals_the_frame_path(scorer: Any, users: list[str]) -> None:
    """An uplift champion reads its own columns of the one matrix (its categories encoded
    with its own list) and answers what ``uplift_per_user`` answers on Feast's frame."""
    import dataclasses

    import lightgbm as lgb

    from lifecycle.uplift_model import UpliftBundle, encode_features
    from serving.feature_matrix import layout_of
    from serving.uplift import UpliftChampion, uplift_per_user

    frame = online_frame(scorer, users)
    churn = scorer.state.champions.bundles["churn"]
    numeric = [n for n in churn.feature_names if n not in churn.categories][:6]
    categories = {n: list(reversed(v)) for n, v in churn.categories.items()}  # other codes
    names = [*numeric, *categories]
    inputs = encode_features(frame, names, categories)
    rng = np.random.default_rng(0)
    boosters = {
        arm: lgb.train(
            {"objective": "regression", "num_leaves": 4, "min_data_in_leaf": 5, "verbose": -1},
            lgb.Dataset(inputs, rng.normal(size=len(inputs))),
            num_boost_round=5,
        )
        for arm in ("mu0", "mu1")
    }
    bundle = UpliftBundle(
        learner="t_learner",
        boosters=boosters,
        feature_names=names,
        categories=categories,
        outcome="visit",
        outcome_kind="probability",
        treated_share=0.5,
        treatment={},
        data_window={},
    )
    champion = UpliftChampion(bundle, "demo_uplift", "1")
    loaded = scorer.state
    scorer.state = dataclasses.replace(
        loaded, uplift=champion, layout=layout_of(loaded.champions.bundles, bundle)
    )
    try:
        answered = scorer.score(users, reasons="none").users
    finally:
        scorer.state = loaded
    want = uplift_per_user(champion, frame)["uplift"].to_numpy()
    got = np.array([u.uplift for u in answered], dtype=float)
    assert np.ptp(want) > 0  # the boosters tell users apart
    np.testing.assert_array_equal(got, want)


@pytest.mark.slow
def test_redis_online_store_scores_through_the_frame_fallback_alike(
    scorer: Any, users: list[str], trained_copy: Path, tmp_path: Path
) -> None:
    """On Feast's Redis online store (a real redis-server) the hot path has no raw rows to
    read and falls back to Feast's frame: every field and reason equals the SQLite row path."""
    from services import redis_server

    from features.store import apply, materialize
    from serving.scorer import Scorer

    with redis_server(tmp_path / "redis") as connection:
        (trained_copy / "lifecycle.toml").write_text(
            f'[feast]\nonline_store = "redis"\nredis_connection = "{connection}"\n'
        )
        settings = load_settings(home=trained_copy, environ=NO_COMPILE)
        apply(settings)
        materialize(settings)
        on_redis = Scorer(settings)
        on_redis.load()
        state = on_redis.state
        assert state is not None and state.store.feast.config.online_store.type == "redis"
        service = next(iter(state.champions.services))
        assert state.store.rows(users[:1], service) is None  # the fallback
        asked = [*users, "no-such-user"]
        got = on_redis.score(asked, reasons="fresh")
    want = scorer.score(asked, reasons="fresh")
    assert [u.status for u in got.users] == [u.status for u in want.users]
    assert got.users[-1].status == "unknown_user"
    for mine, theirs in zip(got.users, want.users, strict=True):
        for name in FIELDS:
            assert same(getattr(mine, name), getattr(theirs, name)), (mine.user_id, name)
        assert mine.reasons == theirs.reasons, mine.user_id
    assert sum(bool(u.reasons) for u in got.users) >= 20


@pytest.mark.parametrize("user_id", ["u1", "", "ünï-ç😀", "x" * 300, "42"])
def test_entity_keys_are_feasts_own(user_id: str) -> None:
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    from features.online_store import entity_keys

    for version in (2, 3):
        want = serialize_entity_key(
            EntityKey(join_keys=["user_id"], entity_values=[Value(string_val=user_id)]),
            entity_key_serialization_version=version,
        )
        assert entity_keys("user_id", [user_id, user_id], version) == [want, want]


def test_answers_built_without_validation_equal_validated_ones(
    scorer: Any, users: list[str]
) -> None:
    """The answer's models are constructed directly: the same values, types, JSON and
    OpenAPI document as validating them would give."""
    from serving.schemas import ScoreResponse

    for reasons in ("fresh", "auto", "none"):
        response = scorer.score([*users[:12], "<nobody>"], reasons=reasons)
        validated = ScoreResponse.model_validate(response.model_dump())
        assert response.model_dump_json() == validated.model_dump_json()
        assert response == validated
        for user in response.users:
            assert all(type(r.contribution) is float for r in user.reasons or [])
            assert all(
                r.value is None or type(r.value) in (float, bool, str) for r in user.reasons or []
            )
