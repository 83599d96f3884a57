"""Churn reasons that batch scoring already computed, served instead of TreeSHAP per request.

``lifecycle score-all`` explains every churn-eligible user (``serving.batch``) and writes the
reasons into the scores table with the churn model version and the as-of date. A request
reuses a user's entry only while it is what a fresh computation would give: the same
churn model version and features of the table's as-of date. The table withholds the
value of a personal attribute; the request has it, and quotes it as a fresh answer does.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features import contract as c
from lifecycle import tasks
from serving.answers import as_reason
from serving.feature_matrix import FeatureMatrix
from serving.withheld_reasons import said_again

if TYPE_CHECKING:
    from serving.schemas import Reason
    from serving.scoring import Champions, KnownReasons

REASONS = "reasons"
# Users whose parsed reasons are kept: parsing them again per request cost more than the rest.
PARSED_KEPT = 65_536
logger = logging.getLogger("lifecycle.serving")


@dataclass(frozen=True)
class PrecomputedReasons:
    """One scores table's reasons by user, with what they were computed from."""

    task: str  # the explained task (the one whose ``reasons`` is declared)
    model_version: str
    as_of_us: int  # the table's as-of date, µs since the epoch (the online store's unit)
    positions: dict[str, int]  # user id -> row
    reasons: np.ndarray  # JSON text per row, None where not computed
    withheld: frozenset[str]  # personal columns: their values are not in the table

    @classmethod
    def read(cls, path: Path, dataset: str | None = None) -> PrecomputedReasons | None:
        """The reasons of a scores table; None when it has none, no explained model, or
        holds another dataset than ``dataset`` (whose users may share ids)."""
        import pyarrow.parquet as pq

        from serving.batch import METADATA_KEY

        explained = next((t.name for t in tasks.all_tasks() if t.reasons), None)
        schema = pq.read_schema(path)
        raw = (schema.metadata or {}).get(METADATA_KEY)
        metadata: dict[str, Any] = json.loads(raw) if raw else {}
        version = metadata.get("model_versions", {}).get(explained)
        if explained is None or version is None or REASONS not in schema.names:
            return None
        if dataset is not None and metadata.get("dataset", dataset) != dataset:
            return None
        table = pq.read_table(path, columns=[c.USER_ID, REASONS])
        ids = table.column(c.USER_ID).to_pylist()
        as_of = pd.Timestamp(metadata["as_of"])
        as_of = as_of.tz_localize("UTC") if as_of.tzinfo is None else as_of.tz_convert("UTC")
        return cls(
            task=explained,
            model_version=str(version),
            as_of_us=as_of.value // 1_000,
            positions={str(user): row for row, user in enumerate(ids)},
            reasons=np.array(table.column(REASONS).to_pylist(), dtype=object),
            withheld=frozenset(metadata.get("personal_columns", [])),
        )

    def lookup(self, features: FeatureMatrix, eligible: np.ndarray) -> dict[int, list[Reason]]:
        """Row -> reasons (the answer's models) for the eligible rows whose entry is still
        fresh; rows without one (absent, not computed, features of another date) are left
        out for the caller to compute. A personal attribute's withheld value is the request's
        own."""
        if features.as_of_us is None:  # supplied features: their date is unknown
            return {}
        found: dict[int, list[Reason]] = {}
        user_ids, as_of = features.user_ids.tolist(), features.as_of_us.tolist()
        cache: dict[int, Any] = self.__dict__.setdefault("_parsed_rows", {})
        for row in np.flatnonzero(eligible).tolist():
            position = self.positions.get(user_ids[row])
            if position is None or as_of[row] != self.as_of_us:
                continue
            entry = cache.get(position)
            parsed, personal = self._parsed(cache, position) if entry is None else entry
            if parsed is None:
                continue
            reasons = list(parsed)  # the withheld ones are replaced in this copy only
            for i, stored in personal:  # the request has the user's value
                reason = reasons[i]
                value = features.raw_value(reason.feature, row)
                reasons[i] = as_reason(
                    {
                        "feature": reason.feature,
                        "value": value,
                        "contribution": reason.contribution,
                        "text": said_again(stored, value),
                    }
                )
            found[row] = reasons
        return found

    def _parsed(
        self, cache: dict[int, Any], position: int
    ) -> tuple[tuple[Reason, ...] | None, tuple[tuple[int, dict[str, Any]], ...]]:
        """The reasons of a row, parsed and built as the answer's models once (kept for up to
        ``PARSED_KEPT`` users: building them per request cost more than scoring 100 users),
        and which of them quote a withheld value (each with its stored reason, as said again)."""
        text = self.reasons[position]
        stored = [] if text is None else json.loads(text)
        parsed = None if text is None else tuple(as_reason(r) for r in stored)
        personal = tuple(
            (i, reason) for i, reason in enumerate(stored) if reason["feature"] in self.withheld
        )
        if len(cache) >= PARSED_KEPT:
            cache.clear()
        cache[position] = (parsed, personal)
        return parsed, personal


class ReasonsCache:
    """The latest scores table's reasons, re-read only when the table changes."""

    def __init__(self, path: Path, dataset: str | None = None) -> None:
        self.path = path
        self.dataset = dataset
        self._read: tuple[float, PrecomputedReasons | None] | None = None

    def get(self) -> PrecomputedReasons | None:
        try:
            mtime = self.path.stat().st_mtime
        except OSError:  # no batch scores yet
            return None
        read = self._read
        if read is None or read[0] != mtime:
            try:
                read = (mtime, PrecomputedReasons.read(self.path, self.dataset))
            except Exception as error:  # an unreadable table: the reasons are computed instead
                logger.warning("precomputed reasons unavailable (%s): computing them", error)
                read = (mtime, None)
            self._read = read
        return read[1]

    def lookup(self, champions: Champions) -> KnownReasons | None:
        """The precomputed reasons' lookup when the loaded model of the explained task made
        them; None (compute every user's) otherwise."""
        known = self.get()
        if known is None or champions.versions.get(known.task) != known.model_version:
            return None
        return known.lookup
