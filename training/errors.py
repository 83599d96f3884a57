"""Training's own error."""

from __future__ import annotations

from lifecycle.errors import UserError


class TrainingError(UserError):
    """Training cannot produce an honest model from this data; the message gives the counts."""


class ShortHistory(TrainingError):
    """Too few matured cutoffs to learn from outcomes and test on later ones."""
