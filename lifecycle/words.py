"""How a count reads in what a person sees: '1 user', '2,000 users', never '1 user(s)'."""

from __future__ import annotations

CUTOFFS = ("cutoff", "cutoffs")
BATCHES = ("batch", "batches")
LATE_EVENTS = ("late event", "late events")
APPENDS = ("append", "appends")
DAYS = ("day", "days")
ROWS = ("row", "rows")
POSITIVES = ("positive", "positives")
NEGATIVES = ("negative", "negatives")


def word_for(n: int, noun: tuple[str, str]) -> str:
    """``noun``'s singular for 1, its plural otherwise ('column' of one missing, 'columns')."""
    return noun[0] if n == 1 else noun[1]


def counted(n: int, noun: tuple[str, str] = ("user", "users")) -> str:
    """'1 user', '2,000 users': ``noun`` singular and plural."""
    return f"{n:,} {word_for(n, noun)}"


EVENTS = ("event", "events")
