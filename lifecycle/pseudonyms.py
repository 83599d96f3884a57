"""Keyed pseudonyms of user ids: lists show them, erasure searches for them (one definition)."""

from __future__ import annotations

import hashlib
import hmac

PSEUDONYM_LENGTH = 16  # hex characters of the HMAC a list shows (64 bits)


def keyed_hash(key: bytes, user_id: str) -> str:
    """HMAC-SHA256 of the user id under ``key``, in hex."""
    return hmac.new(key, str(user_id).encode(), hashlib.sha256).hexdigest()


def pseudonym(key: bytes, user_id: str) -> str:
    """The pseudonym a list carries for ``user_id``: the keyed hash's first characters."""
    return keyed_hash(key, user_id)[:PSEUDONYM_LENGTH]
