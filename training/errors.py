"""Training's own error."""

from __future__ import annotations

from lifecycle.errors import UserError


class TrainingError(UserError):
    """Training cannot produce an honest model from this data; the message gives the counts."""


class ShortHistory(TrainingError):
    """Too few matured cutoffs to learn from outcomes and test on later ones."""


class NothingTrained(TrainingError):
    """No task of those asked for could be trained; ``refused``: task -> why."""

    def __init__(self, refused: dict[str, str], message: str) -> None:
        super().__init__(message)
        self.refused = refused
