"""A feature read for the reasons' words only (``features.asof.WORDS_ONLY``:
``cancelled_orders_total``) is no model input to ``/score_features``: a row leaving it out is
not told it left an input out, and a row giving it has its words."""

from __future__ import annotations

from typing import Any

from features.asof import WORDS_ONLY, words_only


def test_a_words_only_feature_is_never_missing_and_words_the_reasons_when_given(
    scorer: Any,
) -> None:
    from serving.schemas import FeatureRow

    read = {n for b in scorer.state.champions.bundles.values() for n in b.feature_names}
    assert set(WORDS_ONLY) <= read  # every model reads it (for the words), none learns it
    # an active user whose one order was refunded in full: the demo's churn model puts a
    # purchase feature among such a user's reasons
    active = {"active_days_7d": 5, "active_days_30d": 20, "active_days_90d": 60}
    active |= {"active_days_365d": 200, "sessions_7d": 10, "sessions_30d": 40}
    active |= {"sessions_90d": 120, "sessions_365d": 400, "sessions_total": 500}
    active |= {"recency_days": 1, "tenure_days": 500, "activated": 1, "days_to_activation": 1}
    refunded = {**active, "orders_total": 0, "revenue_total": 0, "refund_amount_total": 0}
    without, given = scorer.score_features(
        [
            FeatureRow(user_id="without", features=refunded),
            FeatureRow(user_id="given", features={**refunded, "cancelled_orders_total": 1}),
        ],
        ["churn"],
    ).users
    assert not set(WORDS_ONLY) & set(without.features_missing)  # listed before: not an input
    # nor each window's count of orders refunded in full (listed as missing when first added)
    assert "cancelled_orders_30d" in read
    assert not [n for n in without.features_missing if words_only(n)], without.features_missing
    assert "orders_total" not in without.features_missing
    assert without.features_missing == given.features_missing
    # the scores are the same (no tree splits on it); the words are its
    assert given.churn_probability == without.churn_probability
    words = [r.text for r in given.reasons]
    assert "1 order so far, refunded in full" in words, words
    assert "1 order so far, refunded in full" not in [r.text for r in without.reasons]


def test_champions_trained_before_a_words_only_feature_are_said_once_to_need_a_retrain(
    trained_workspace: Any,
) -> None:
    """A workspace trained before ``cancelled_orders_total`` existed scores and lists as
    before (its champions never read it); one line says its words need a retrain: the
    server's log at load, score-all's table for the lists (checked by hand on online_retail
    trained at 81ed6e13^: at-risk's notes, /score_features given the count)."""
    import dataclasses

    from lifecycle.champion_inputs import words_retrain
    from serving.scoring import load_champions

    champions = load_champions(trained_workspace.settings(), "demo")
    assert words_retrain(champions.bundles, champions.versions) is None  # trained with it
    churn = champions.bundles["churn"]
    before = [n for n in churn.feature_names if n not in WORDS_ONLY]
    old = {**champions.bundles, "churn": dataclasses.replace(churn, feature_names=before)}
    said = words_retrain(old, champions.versions)
    version = champions.versions["churn"]
    assert said == (
        f"churn v{version} was trained before cancelled_orders_total (read for the reasons' "
        "words only): its reasons still say 'no purchase yet' of a user whose orders were all "
        "refunded in full; retrain it (`lifecycle train churn`, after `lifecycle features "
        "build`) for the new words"
    )
    # the other tasks give no words: an LTV champion without it says nothing
    ltv = champions.bundles["ltv"]
    unread = [n for n in ltv.feature_names if n not in WORDS_ONLY]
    quiet = {**champions.bundles, "ltv": dataclasses.replace(ltv, feature_names=unread)}
    assert words_retrain(quiet, champions.versions) is None


def test_a_windows_words_only_count_is_documented_optional_and_its_retrain_said(
    scorer: Any,
) -> None:
    """Each window's ``cancelled_orders_<w>d`` (``features.asof.WORDS_ONLY_WINDOWS``, added
    after ``cancelled_orders_total``) is documented as optional like the total, and a champion
    trained before it is told its window refund words need a retrain."""
    import dataclasses

    from lifecycle.champion_inputs import WORDS_ONLY_WHY, words_retrain
    from serving.openapi import document_feature_inputs

    spec = {"components": {"schemas": {"FeatureRow": {"properties": {"features": {}}}}}}
    document_feature_inputs(spec)
    documented = spec["components"]["schemas"]["FeatureRow"]["properties"]["features"]
    optional = {
        n
        for n, v in documented["properties"].items()
        if v["description"] == f"{WORDS_ONLY_WHY}; optional, never required"
    }
    assert {"cancelled_orders_total", "cancelled_orders_30d", "cancelled_orders_365d"} <= optional
    assert optional == {n for n in documented["properties"] if words_only(n)}
    champions = scorer.state.champions
    churn = champions.bundles["churn"]
    before = [
        n for n in churn.feature_names if not n.startswith("cancelled_orders_") or n in WORDS_ONLY
    ]
    old = {**champions.bundles, "churn": dataclasses.replace(churn, feature_names=before)}
    said = words_retrain(old, champions.versions)
    assert said is not None and said.startswith(f"churn v{champions.versions['churn']} was "
        "trained before cancelled_orders_7d, cancelled_orders_30d, cancelled_orders_90d, "
        "cancelled_orders_365d (read for the reasons' words only): its refund words of a window "
        "leave out the orders refunded in full in it; retrain it")  # fmt: skip
