"""The float path of a few users (serving.rowpath) answers what the array definition
(serving.scoring.score_matrix) answers, to the bit, on every field of every user of the
shared workspace; its float functions equal numpy's; what it cannot reproduce goes back to
the array path."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from workspaces import TrainedWorkspace

from lifecycle.bundle import QUANTILES, Calibrator
from lifecycle.maths import FLOATS
from lifecycle.mixture import mixture_quantiles as array_mixture_quantiles
from lifecycle.mixture import mixture_quantiles_of
from serving import rowpath
from serving.batch import read_scores


def exact(columns: dict[str, list[Any]]) -> str:
    """Every name, order and value, floats to the last bit (repr), NaN inside reasons too."""

    def default(value: Any) -> Any:
        return value.model_dump() if hasattr(value, "model_dump") else repr(value)

    return json.dumps(columns, default=default, allow_nan=True)


def array_answer(champions: Any, matrix: Any, **options: Any) -> dict[str, list[Any]]:
    from serving.scorer import _python_values
    from serving.scoring import score_matrix

    return {k: _python_values(v) for k, v in score_matrix(champions, matrix, **options).items()}


@pytest.fixture(scope="module")
def everyone(scorer: Any, trained_workspace: TrainedWorkspace) -> Any:
    """Every user of the shared workspace's scores table, as the online store has them."""
    from serving.hotpath import online_matrix

    state = scorer.state
    ids = read_scores(trained_workspace.scores_path).frame["user_id"].astype(str).tolist()
    matrix = online_matrix(state.store, state.layout, state.fetch, state.champions, ids)
    assert len(matrix) == len(ids) > 1000
    return matrix


def test_every_user_alone_answers_as_the_array_path(scorer: Any, everyone: Any) -> None:
    """Each user alone through the float path, against the array path of everyone at once
    (a user's answer depends on no other row)."""
    champions = scorer.state.champions
    together = array_answer(champions, everyone, reasons=False)
    kinds = {"eligible": 0, "outlook": 0}
    for row in range(len(everyone)):
        one = everyone.take(np.array([row]))
        want = {name: [values[row]] for name, values in together.items()}
        got = rowpath.score_rows(champions, scorer.state.row_models, one, reasons=False)
        assert exact(got) == exact(want), everyone.user_ids[row]
        kinds["eligible"] += got["conversion_probability"][0] is not None
        kinds["outlook"] += got["p_alive"][0] is not None
    # users in and out of each population, buyers and not, were all compared
    assert 0 < kinds["eligible"] < len(everyone)
    assert 0 < kinds["outlook"] < len(everyone)


def test_a_few_users_with_reasons_answer_as_the_array_path(scorer: Any, everyone: Any) -> None:
    """Groups of up to ``MAX_ROWS`` users, reasons computed and served from ``score-all``."""
    champions = scorer.state.champions
    known = scorer._reasons.lookup(champions)
    assert known is not None
    explained = 0
    for start in range(0, 400, rowpath.MAX_ROWS):
        some = everyone.take(np.arange(start, start + rowpath.MAX_ROWS))
        for options in ({"reasons": True}, {"reasons": True, "known_reasons": known}):
            want = array_answer(champions, some, **options)
            got = rowpath.score_rows(champions, scorer.state.row_models, some, **options)
            assert exact(got) == exact(want), list(some.user_ids)
            explained += sum(map(len, got["reasons"]))
    assert explained > 0


def test_the_scorer_answers_alike_through_either_path(scorer: Any, everyone: Any) -> None:
    """A request of a few users (float path) and the same users inside a large one (arrays)."""
    users = [str(u) for u in everyone.user_ids[:40]]
    together = {u.user_id: u.model_dump() for u in scorer.score(users, reasons="fresh").users}
    for user_id in users[:12]:
        (alone,) = scorer.score([user_id], reasons="fresh").users
        assert json.dumps(alone.model_dump()) == json.dumps(together[user_id])


def test_churn_and_conversion_of_one_event_answer_one_probability(
    scorer: Any, everyone: Any
) -> None:
    """On a log of purchases only, a one-time buyer's churn (no purchase in the horizon) and
    conversion to a repeat buyer (a purchase in it) are one event: conversion is served as
    1 - churn, alike on either path and whatever tasks are asked."""
    from dataclasses import replace

    from features.labels import ACTIVITY, BEYOND_PURCHASES, PURCHASES
    from serving.scoring import CHURN_COMPLEMENT

    served = scorer.state.champions
    churn, conversion = served.bundles["churn"], served.bundles["conversion"]
    # the demo has sessions and sign-ups: its churn is more than the absence of purchases
    assert churn.data_window[ACTIVITY] == BEYOND_PURCHASES and not served.one_event
    # The same models as a purchase log's: churn's users bought only, and conversion's are
    # the one-time buyers (its population follows the target).
    window = {**churn.data_window, ACTIVITY: PURCHASES}
    target = {**conversion.label, "target": "repeat_purchase"}
    one = replace(
        served,
        bundles={
            **served.bundles,
            "churn": replace(churn, data_window=window),
            "conversion": replace(conversion, label=target),
        },
    )
    assert one.one_event
    some = everyone.take(np.arange(12 * rowpath.MAX_ROWS))
    own = array_answer(replace(one, bundles={**one.bundles, "churn": churn}), some, reasons=False)
    agreed = array_answer(one, some, reasons=False)
    p_churn, p_conversion = own["churn_probability"], own["conversion_probability"]
    both = [i for i, p in enumerate(p_conversion) if p is not None and p_churn[i] is not None]
    assert 0 < len(both) < len(p_churn)  # one-time buyers, and users of churn only
    assert agreed["churn_probability"] == p_churn  # churn as its model gives it
    for i in range(len(p_churn)):
        if i in both:
            assert agreed["conversion_probability"][i] == 1.0 - p_churn[i] != p_conversion[i]
        else:
            assert agreed["conversion_probability"][i] is None
    models = rowpath.row_models(one)
    for start in range(0, len(some), rowpath.MAX_ROWS):
        few = some.take(np.arange(start, start + rowpath.MAX_ROWS))
        got = rowpath.score_rows(one, models, few, reasons=False)
        assert exact(got) == exact(array_answer(one, few, reasons=False))
    # Asking for conversion scores churn too, and answers only what was asked.
    state = scorer.state
    scorer.state = replace(state, champions=one, row_models=models)
    try:
        users = [str(u) for u in some.user_ids]
        together = {u.user_id: u for u in scorer.score(users, ["churn", "conversion"]).users}
        for asked in (["conversion"], ["conversion", "ltv"], ["churn"]):
            answer = scorer.score(users, asked)
            # churn made conversion; LTV's purchase process p_alive (a partner unless asked)
            assert set(answer.model_versions) == set(asked) | {"churn", "ltv"}
            # each model named has its kind and definition, and why it is there
            assert set(answer.model_kinds) == set(answer.definitions) == set(answer.model_versions)
            assert answer.model_kinds.get("conversion", CHURN_COMPLEMENT) == CHURN_COMPLEMENT
            assert answer.model_kinds["churn"] == churn.kind
            made = ["lifecycle_stage", "conversion_probability"]
            outlook = {} if "ltv" in asked else {"ltv": ["p_alive", "expected_purchases"]}
            assert answer.partners == ({} if "churn" in asked else {"churn": made}) | outlook
            for user in answer.users:
                for task in {"churn", "conversion"} & set(asked):
                    field = f"{task}_probability"
                    assert getattr(user, field) == getattr(together[user.user_id], field)
            if "churn" not in asked:  # churn's own fields and reasons are not answered
                assert all(u.churn_probability is None and not u.reasons for u in answer.users)
                assert all(u.value_at_risk is None for u in answer.users)
        # /models says what serves conversion as /score does
        kinds = {m.task: m.kind for m in scorer.models().models}
        assert kinds["conversion"] == CHURN_COMPLEMENT
        assert kinds["churn"] == churn.kind
    finally:
        scorer.state = state


def test_what_the_float_path_cannot_reproduce_goes_to_the_array_path(
    scorer: Any, everyone: Any
) -> None:
    """A purchase history the outlook refuses: the row path steps aside, the array path
    raises its own error as it always has."""
    from lifecycle.btyd import BTYDError
    from serving.scoring import score_matrix

    champions = scorer.state.champions
    buyers = np.flatnonzero(everyone.column("orders_total") >= 1)
    one = everyone.take(buyers[:1])
    one.values[0, one.layout.position["orders_total"]] = 2.5  # not a whole number of orders
    with pytest.raises(rowpath.OffThePath):
        rowpath.score_rows(champions, scorer.state.row_models, one, reasons=False)
    with pytest.raises(BTYDError, match="whole numbers"):
        score_matrix(champions, one, reasons=False)


def test_interpolation_is_numpys() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        count = int(rng.integers(1, 30))
        xp = np.sort(np.round(rng.uniform(0, 1, count), int(rng.integers(1, 4))))  # ties too
        fp = np.sort(rng.uniform(0, 1, count))
        xs = np.concatenate([rng.uniform(-0.2, 1.2, 200), xp, [np.nan, -np.inf, np.inf]])
        want = np.interp(xs, xp.tolist(), fp.tolist())
        got = [FLOATS.interp(x, xp.tolist(), fp.tolist()) for x in xs.tolist()]
        assert exact({"v": got}) == exact({"v": want.tolist()})


def test_calibration_and_mixture_quantiles_are_the_arrays(scorer: Any) -> None:
    rng = np.random.default_rng(4)
    raws = np.concatenate([rng.uniform(0, 1, 5000), [0.0, 1.0, 1e-9, 1 - 1e-9]])
    calibrators = [b.calibrator for b in scorer.state.champions.bundles.values() if b.calibrator]
    x = np.sort(rng.uniform(0, 1, 40))
    calibrators.append(Calibrator(list(x), list(np.sort(rng.uniform(0, 1, 40))), 1.3, -0.2))
    for calibrator in calibrators:
        want = calibrator(raws).tolist()
        got = [calibrator(raw, FLOATS) for raw in raws.tolist()]
        assert exact({"v": got}) == exact({"v": want})
    levels = [0.1, 0.25, 0.5, 0.75, 0.9]
    purchase = np.concatenate([rng.uniform(0, 1, 3000), [0.0, 1.0, 0.1, 0.9]])
    conditional = np.sort(rng.lognormal(3, 2, (len(purchase), len(levels))), axis=1)
    want = array_mixture_quantiles(purchase, np.asarray(levels), conditional, QUANTILES)
    positions = [float(k) for k in range(len(levels))]
    got = [
        mixture_quantiles_of(p, levels, positions, row.__getitem__, QUANTILES, FLOATS)
        for p, row in zip(purchase.tolist(), conditional.tolist(), strict=True)
    ]
    assert exact({"v": got}) == exact({"v": want.tolist()})


def test_the_math_functions_are_numpys() -> None:
    """The float path's exp, log, expm1 and powers are the arrays' to the bit (on AVX-512,
    math's differ from numpy's SIMD loops for a few % of inputs)."""
    rng = np.random.default_rng(5)
    values = np.concatenate([rng.normal(0, 3, 20000), rng.uniform(-700, 700, 20000)])
    positive = np.abs(values) + 1e-300
    for name, function, inputs in (
        ("exp", FLOATS.exp, values),
        ("expm1", FLOATS.expm1, values),
        ("log", FLOATS.log, positive),
    ):
        with np.errstate(over="ignore"):
            want = getattr(np, name)(inputs).tolist()
            got = [function(v) for v in inputs.tolist()]
        assert exact({"v": got}) == exact({"v": want}), name
    bases = rng.uniform(0, 1, 20000)
    for exponent in (-2.7, -0.37, 0.9, 1.7, 3.1):  # a - 1 of a purchase process
        want = (bases**exponent).tolist()
        got = [FLOATS.power(v, exponent) for v in bases.tolist()]
        assert exact({"v": got}) == exact({"v": want}), exponent


def test_a_reload_leaves_nothing_of_the_previous_models_behind(
    trained_workspace: TrainedWorkspace, everyone: Any
) -> None:
    """What the float path reads of each champion is built with its model set (``Loaded``):
    once a reload replaced the set and a request of a few users was scored, the previous
    bundles are freed (a cache outside the set kept them, and keyed them by ``id``)."""
    import gc
    import weakref

    from workspaces import NO_COMPILE

    from lifecycle.settings import load_settings
    from serving.scorer import Scorer

    scorer = Scorer(load_settings(home=trained_workspace.home, environ=NO_COMPILE))
    scorer.load()
    scorer.reload()  # the set of a reload: the first load's is held by one of its frames
    user = str(everyone.user_ids[0])
    scorer.score([user], reasons="none")  # the float path
    state = scorer.state
    assert state is not None and state.row_models.keys() == state.champions.bundles.keys()
    assert all(m.bundle is state.champions.bundles[t] for t, m in state.row_models.items())
    previous = [weakref.ref(b) for b in state.champions.bundles.values()]
    del state
    scorer.reload()
    scorer.score([user], reasons="none")
    gc.collect()
    assert [ref() for ref in previous] == [None] * len(previous)


@pytest.mark.parametrize("a", [3.0, 1.5, 2.0, 1.0, 0.7])
def test_the_purchase_outlook_is_the_arrays_for_any_dropout_prior(
    scorer: Any, everyone: Any, a: float
) -> None:
    """Every user's float outlook equals the array one, or steps aside where numpy computes
    the power with another function (a - 1 of 2, 0.5, 1, 0); a = 1 is the closed form's
    own case."""
    from dataclasses import replace

    from lifecycle.btyd import purchase_model
    from lifecycle.btyd_features import PURCHASE_HISTORY, outlook_of_columns

    [model] = [m for m in scorer.state.row_models.values() if m.process is not None][:1]
    params = {**model.bundle.purchase_process, "a": a}
    moved = replace(model, process=purchase_model(params))
    alive, expected = outlook_of_columns(params, everyone.column, model.horizon_weeks * 7.0)
    histories = list(
        zip(
            *(everyone.column(name).tolist() for name in PURCHASE_HISTORY),
            strict=True,
        )
    )
    if a - 1 in rowpath._NUMPY_SPECIAL_POWERS:
        with pytest.raises(rowpath.OffThePath):
            [rowpath.purchase_outlook(moved, *history) for history in histories]
        return
    got = [rowpath.purchase_outlook(moved, *h) or (math.nan, math.nan) for h in histories]
    assert sum(not math.isnan(g[0]) for g in got) > 100
    want = list(zip(alive.tolist(), expected.tolist(), strict=True))
    assert exact({"v": got}) == exact({"v": want})
