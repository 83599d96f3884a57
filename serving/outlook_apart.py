"""When one answer's two purchase outlooks read a user apart: ``p_alive`` (the purchase
process, MBG/NBD) against ``purchase_probability`` (the LTV champion). The process's own
chance of a purchase in the horizon is at most ``p_alive``, so a ``purchase_probability``
more than ``APART`` above ``p_alive`` is two models differing by more than that for sure
(docs/training.md, "Two models in one answer": where they differed by more than 0.3 the LTV
model's was as near or nearer to what happened). online_retail's 17850 at 2011-12-10: 34
orders within 2 days, then 372 days without one, ``p_alive`` 9.1e-30 beside an LTV of 1,159
(of its 50% LightGBM half; the BG/NBD half is ~0) and ``purchase_probability`` 0.40."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

APART = 0.3  # the difference docs/training.md measured the two chances by
# The field's one description: /score's users, /at_risk's rows and the scores table's column.
OUTLOOK_APART_DOC = (
    f"when purchase_probability (the LTV model) exceeds p_alive (MBG/NBD) by more than {APART:g}: "
    "the two models read this user apart, said in words; null otherwise"
)


def outlook_apart(values: dict[str, Any]) -> str | None:
    """The words of one answer's ``outlook_apart``: None unless its ``purchase_probability``
    exceeds its ``p_alive`` by more than :data:`APART`."""
    p_alive, buys = values.get("p_alive"), values.get("purchase_probability")
    if p_alive is None or buys is None or buys - p_alive <= APART:
        return None
    return (
        f"p_alive {p_alive:.2g} is the purchase process's (MBG/NBD, from orders, first-purchase "
        f"age and recency: it reads this customer as {'gone' if p_alive < 0.5 else 'alive'}); "
        f"ltv and purchase_probability {buys:.2f} are the LTV model's, learned from what "
        f"customers like this one did: two models, apart by more than {APART:g} here; act on "
        "purchase_probability and ltv (docs/training.md, two models in one answer)"
    )


def outlook_apart_column(scores: pd.DataFrame) -> list[str | None]:
    """:func:`outlook_apart` of each row of a scores table (the batch table, a list's rows):
    the words /score gives the same user, null where the columns are absent."""
    if "p_alive" not in scores or "purchase_probability" not in scores:
        return [None] * len(scores)
    p_alive = scores["p_alive"].to_numpy(dtype=float)
    buys = scores["purchase_probability"].to_numpy(dtype=float)
    out: list[str | None] = [None] * len(scores)
    for row in np.flatnonzero(buys - p_alive > APART).tolist():  # NaN compares False
        out[row] = outlook_apart(
            {"p_alive": float(p_alive[row]), "purchase_probability": float(buys[row])}
        )
    return out
