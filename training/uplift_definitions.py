"""Whether an uplift model predicts what the champion does: one outcome, one treated arm.
Another is a new meaning for the lists, taken only with a reason."""

from __future__ import annotations

from typing import Any


def uplift_definition_change(
    champion: Any, outcome: str, treatment: dict[str, Any], accept: str | None
) -> tuple[bool, str]:
    """Whether an uplift model may replace the champion (an ``UpliftBundle``) as far as
    what it predicts goes, and the note: another outcome or treated arm only with a reason."""
    if champion is None or same_uplift_definition(champion, outcome, treatment):
        return True, ""
    change = (
        f"outcome {outcome}, treated {treatment.get('treated')} differs from champion's "
        f"(outcome {champion.outcome}, treated {champion.treatment.get('treated')})"
    )
    if accept:
        return True, f"{change}: accepted: {accept}"
    return False, (
        f"{change}: refused, its uplift would change meaning under the lists; accept it with "
        "`lifecycle train-uplift ... --accept-definition-change REASON`"
    )


def same_uplift_definition(champion: Any, outcome: str, treatment: dict[str, Any]) -> bool:
    """Whether two uplift models predict the same thing: one outcome, one treated arm."""
    return (champion.outcome, champion.treatment) == (outcome, treatment)
