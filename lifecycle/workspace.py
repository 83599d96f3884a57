"""Where every artefact lives: one directory, ``$LIFECYCLE_HOME``, and the names below it.

Code asks a :class:`Workspace` for a path; no other module spells a workspace file name.
"""

from __future__ import annotations

from pathlib import Path

EVENTS_FILE = "events.parquet"  # a dataset's validated events
USERS_FILE = "users.parquet"  # ... and its users table, when it has one
FEATURE_TABLE = "user_features.parquet"  # a dataset's as-of feature table
LATEST_SCORES = "latest.parquet"  # the scores table lists and the service read
PREVIOUS_SCORES = "previous.parquet"  # the one before it (movers)
CAMPAIGN_FILE = "campaign.parquet"  # a randomized campaign table (``lifecycle import hillstrom``)


class Workspace:
    """Every path of a workspace, all below ``home``."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)

    # -- datasets ----------------------------------------------------------------------------

    def dataset_dir(self, dataset: str) -> Path:
        return self.home / "datasets" / dataset

    def events(self, dataset: str) -> Path:
        return self.dataset_dir(dataset) / EVENTS_FILE

    def users(self, dataset: str) -> Path:
        """The dataset's users table (it may have none: check ``is_file()``)."""
        return self.dataset_dir(dataset) / USERS_FILE

    def users_if_any(self, dataset: str) -> Path | None:
        path = self.users(dataset)
        return path if path.is_file() else None

    def campaign_table(self, dataset: str) -> Path:
        """The dataset's randomized campaign table (treatment, arm, outcomes, features)."""
        return self.dataset_dir(dataset) / CAMPAIGN_FILE

    def demo_dir(self) -> Path:
        return self.home / "demo"

    # -- features ----------------------------------------------------------------------------

    @property
    def features_dir(self) -> Path:
        return self.home / "features"

    def feature_table(self, dataset: str) -> Path:
        return self.features_dir / dataset / FEATURE_TABLE

    @property
    def feast_dir(self) -> Path:
        return self.home / "feast"

    def feast_repo(self, dataset: str) -> Path:
        return self.feast_dir / dataset

    # -- models, scores, reports -------------------------------------------------------------

    @property
    def mlflow_dir(self) -> Path:
        return self.home / "mlflow"

    @property
    def scores_dir(self) -> Path:
        return self.home / "scores"

    @property
    def latest_scores(self) -> Path:
        return self.scores_dir / LATEST_SCORES

    @property
    def previous_scores(self) -> Path:
        return self.scores_dir / PREVIOUS_SCORES

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"
