"""``/readyz``'s warning of a served champion trained on data the dataset no longer holds (a
new ingest replaced it, or ``datasets restore`` took its batches away): where the new data
cannot train its task, the old champion serves on. The words are those of ``refresh`` and
``score-all`` (``lifecycle.lineage.champions_of_replaced_data``); the champions' lineage is
the aliases mirror's, so a worker never imports the MLflow client for it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lifecycle.aliases_mirror import aliases_file
from lifecycle.registry import tracking_uri
from serving.follow import Stamp, stamp

if TYPE_CHECKING:
    from collections.abc import Collection

    from lifecycle.settings import Settings

logger = logging.getLogger("lifecycle.serving")
Judged = tuple[tuple[tuple[str, str], ...], str, Stamp | None]  # versions, dataset, mirror


class ReplacedData:
    """The warnings of one served dataset's champions, judged again only when the versions
    served, the dataset's version or the mirror changed: ``/readyz`` is polled."""

    def __init__(self, settings: Settings, dataset: str) -> None:
        self.settings, self.dataset = settings, dataset
        self.mirror = aliases_file(tracking_uri(settings))
        self._judged: tuple[Judged, list[str]] | None = None

    def warnings(self, versions: dict[str, str], answered: Collection[str] = ()) -> list[str]:
        """One per served champion (task -> version) of data the dataset no longer holds;
        none without a mirror (a tracking server: ``refresh`` and ``score-all`` say it), for
        a champion the mirror records no lineage of (written before it did; the check after
        the start rewrites it), or for a task ``answered`` by another's champion (conversion
        as 1 - churn: its own serves nothing)."""
        from lifecycle.aliases_mirror import mirrored_lineages, mirrored_versions, read_mirror
        from lifecycle.lineage import champions_of_replaced_data, dataset_version

        if self.mirror is None:
            return []
        versions = {task: v for task, v in versions.items() if task not in answered}
        folder = self.settings.workspace.dataset_dir(self.dataset)
        key = (tuple(sorted(versions.items())), dataset_version(folder), stamp(self.mirror))
        judged = self._judged
        if judged is not None and judged[0] == key:
            return judged[1]
        try:
            models = read_mirror(self.mirror) or {}
            built = mirrored_lineages(models, self.dataset, versions)
            known = {task: mirrored_versions(models, self.dataset, task) for task in versions}
            found = champions_of_replaced_data(self.settings, self.dataset, versions, built, known)
        except Exception as error:  # a warning never takes readiness down
            logger.warning(
                "could not judge whether dataset %s's champions learned from replaced data "
                "(aliases mirror %s): %s",
                self.dataset,
                self.mirror,
                error,
            )
            found = {}
        self._judged = (key, list(found.values()))
        return self._judged[1]
