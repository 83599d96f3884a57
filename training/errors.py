"""Training's own error."""

from __future__ import annotations

from lifecycle.errors import UserError


class TrainingError(UserError):
    """Training cannot produce an honest model from this data; the message gives the counts."""


class TooFewOutcomes(TrainingError):
    """Too few matured outcomes to learn from and test on later ones: too few matured
    cutoffs for the time split, or too few rows or positives in its parts. ``counts``: the
    message without its cause, where one says it again at another horizon."""

    def __init__(self, message: str, counts: str | None = None) -> None:
        super().__init__(message)
        self.counts = counts


class NothingTrained(TrainingError):
    """No task of those asked for could be trained; ``refused``: task -> why."""

    def __init__(self, refused: dict[str, str], message: str) -> None:
        super().__init__(message)
        self.refused = refused
