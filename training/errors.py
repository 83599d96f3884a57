"""Training's own error."""

from __future__ import annotations

from lifecycle.errors import UserError


class TrainingError(UserError):
    """Training cannot produce an honest model from this data; the message gives the counts."""
