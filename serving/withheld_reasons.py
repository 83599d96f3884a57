"""A churn reason about a personal attribute or a category the model never learned: withheld
(the feature named, never the user's value) and said again where the value may be shown;
marked "not seen in training" (the model read the value as missing)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from serving.reason_words import is_missing, reason_text

# A withheld reason's mark that the value it withholds is one the model never learned.
UNSEEN = "unseen"


def withheld_text(feature: str) -> str:
    """A reason about a personal attribute as a list says it: the feature, never the value."""
    return f"{feature.replace('_', ' ')} (withheld)"


def unseen(feature: str, value: Any, categories: Mapping[str, Sequence[str]] | None) -> bool:
    """A categorical feature's value the model did not learn (it reads it as missing)."""
    if not categories or feature not in categories or is_missing(value):
        return False
    return str(value) not in categories[feature]


def unseen_text(text: str) -> str:
    """A reason about a category the model never learned: "country: RSA" is not what RSA
    raised; the model read it as an unknown country."""
    return f"{text} (not seen in training)"


def redacted(
    reason: dict[str, Any],
    personal: Collection[str],
    categories: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """A reason about a personal attribute keeps its feature name, never the user's value;
    one the model never learned (``categories``) is marked so, for :func:`said_again`."""
    if reason["feature"] not in personal:
        return reason
    withheld = {**reason, "value": None, "text": withheld_text(reason["feature"])}
    if unseen(reason["feature"], reason["value"], categories):
        withheld[UNSEEN] = True
    return withheld


def said_again(reason: Mapping[str, Any], value: Any) -> str:
    """A withheld reason (:func:`redacted`) said with the user's ``value`` where it may be
    (an allowed list column, the request's own): as a fresh reason says it."""
    text = reason_text(reason["feature"], value)
    return unseen_text(text) if reason.get(UNSEEN) else text
