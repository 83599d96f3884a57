"""Where every artefact lives: one directory, ``$LIFECYCLE_HOME``, and the names below it.

Code asks a :class:`Workspace` for a path; no other module spells a workspace file name.
"""

from __future__ import annotations

import re
from pathlib import Path

from lifecycle.errors import UserError

EVENTS_FILE = "events.parquet"  # a dataset's validated events
USERS_FILE = "users.parquet"  # ... and its users table, when it has one
DATASET_VERSIONS_KEPT = 5  # versions of a dataset kept (`lifecycle datasets restore`)
FEATURE_TABLE = "user_features.parquet"  # a dataset's as-of feature table
LATEST_SCORES = "latest.parquet"  # the scores table lists and the service read
PREVIOUS_SCORES = "previous.parquet"  # its dataset's table before it (serving.scores_history)
CAMPAIGN_SUFFIX = ".parquet"  # a campaign's members, scores and definition, one file each
LEDGER_PART = "part-0.parquet"  # one file per ledger partition: replaced whole on a re-run
OUTCOMES_FILE = "outcomes.json"  # a dataset's realized quality, as `lifecycle outcomes` stored it
CAMPAIGN_FILE = "campaign.parquet"  # a randomized campaign table (``lifecycle import hillstrom``)
# What `score-all` keeps for `lifecycle monitor` (serving.monitor_sample): user rows, no ids.
MONITOR_FEATURES_SAMPLE = "monitor-sample-features.parquet"
MONITOR_SCORES_SAMPLE = "monitor-sample-scores.parquet"
DEMO_DATASET = "demo"  # the dataset `demo-data` ingests the tables of ``Workspace.demo_dir`` as
AT_RISK_LIST = re.compile(r"(?P<model>.+)-at-risk-v(?P<version>\d+)\.csv")  # snapshot_at_risk


DATASET_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")  # one safe folder name


def check_dataset_name(name: str) -> str:
    """A dataset name is one folder name in the workspace: letters, digits, '_', '-' and
    '.', not starting with '.' or '-' (so never '..', a path, or a hidden name)."""
    if not isinstance(name, str) or not DATASET_NAME.fullmatch(name):
        raise UserError(
            f"dataset name {name!r}: expected one folder name of letters, digits, '_', '-' "
            "or '.' (not starting with '.' or '-', at most 100 characters), e.g. orders"
        )
    return name


class Workspace:
    """Every path of a workspace, all below ``home``."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)

    # -- datasets ----------------------------------------------------------------------------

    def dataset_dir(self, dataset: str) -> Path:
        check_dataset_name(dataset)
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
        check_dataset_name(dataset)
        return self.features_dir / dataset / FEATURE_TABLE

    @property
    def feast_dir(self) -> Path:
        return self.home / "feast"

    def feast_repo(self, dataset: str) -> Path:
        check_dataset_name(dataset)
        return self.feast_dir / dataset

    # -- models, scores, reports -------------------------------------------------------------

    @property
    def mlflow_dir(self) -> Path:
        return self.home / "mlflow"

    def pending_reload(self, dataset: str) -> Path:
        """Why the last refresh's reload of a running service failed (none: it did not)."""
        check_dataset_name(dataset)
        return self.home / "serving" / dataset / "reload-pending.txt"

    def training_refusals(self, dataset: str) -> Path:
        """Why tasks could not be trained on the dataset's feature table (lifecycle.train_refusals)."""
        check_dataset_name(dataset)
        return self.home / "training" / dataset / "refusals.json"

    @property
    def compiled_dir(self) -> Path:
        """Compiled trees of model versions (``lifecycle.compiled``), reused across starts."""
        return self.home / "compiled"

    @property
    def scores_dir(self) -> Path:
        return self.home / "scores"

    @property
    def latest_scores(self) -> Path:
        return self.scores_dir / LATEST_SCORES

    @property
    def previous_scores(self) -> Path:
        return self.scores_dir / PREVIOUS_SCORES

    def snapshot_at_risk(self, model: str, version: str) -> Path:
        """A snapshot model version's list to call (``training.snapshot_outputs.write_at_risk``);
        the champion's is its version's (``serving.snapshot_list.champion_list``)."""
        return self.scores_dir / f"{model}-at-risk-v{version}.csv"

    def at_risk_lists(self, model: str | None = None) -> list[tuple[Path, str, str]]:
        """The snapshot models' lists in scores/ (``model``'s alone when given), each with its
        model and version: the files :meth:`snapshot_at_risk` names (``AT_RISK_LIST``)."""
        found = sorted(self.scores_dir.glob("*.csv")) if self.scores_dir.is_dir() else []
        shapes = ((path, AT_RISK_LIST.fullmatch(path.name)) for path in found)
        return [
            (path, shape["model"], shape["version"])
            for path, shape in shapes
            if shape and model in (None, shape["model"])
        ]

    @property
    def monitor_samples(self) -> tuple[Path, Path]:
        """The monitor's samples of the latest cutoff's features and of the latest scores,
        kept by `score-all` beside the scores (``serving.monitor_sample``)."""
        return self.scores_dir / MONITOR_FEATURES_SAMPLE, self.scores_dir / MONITOR_SCORES_SAMPLE

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    # -- campaigns ---------------------------------------------------------------------------

    @property
    def campaigns_dir(self) -> Path:
        return self.home / "campaigns"

    def campaign(self, name: str) -> Path:
        """A campaign's record: who was targeted or held out, their scores, as-of and horizon."""
        return self.campaigns_dir / f"{name}{CAMPAIGN_SUFFIX}"

    def campaigns(self) -> list[Path]:
        """Every recorded campaign, by name."""
        if not self.campaigns_dir.is_dir():
            return []
        return sorted(
            p for p in self.campaigns_dir.glob(f"*{CAMPAIGN_SUFFIX}") if not p.name.startswith(".")
        )

    def campaign_report(self, name: str) -> Path:
        """A campaign's last report (effects with intervals, no user), as ``report`` saved it."""
        return self.campaigns_dir / "reports" / f"{name}.json"

    def campaign_name(self, path: Path) -> str:
        return path.name.removesuffix(CAMPAIGN_SUFFIX)

    # -- the outcome loop --------------------------------------------------------------------

    @property
    def ledger_dir(self) -> Path:
        return self.home / "ledger"

    def ledger(self, dataset: str) -> Path:
        """A dataset's prediction ledger: one Hive-style partition per as-of date."""
        check_dataset_name(dataset)
        return self.ledger_dir / f"dataset={dataset}"

    def ledger_partition(self, dataset: str, as_of: str) -> Path:
        """The ledger file of one as-of date (``YYYY-MM-DD``)."""
        return self.ledger(dataset) / f"as_of={as_of}" / LEDGER_PART

    @property
    def outcomes_dir(self) -> Path:
        return self.home / "outcomes"

    def outcomes(self, dataset: str) -> Path:
        check_dataset_name(dataset)
        return self.outcomes_dir / dataset / OUTCOMES_FILE

    # -- monitoring --------------------------------------------------------------------------

    @property
    def monitor_dir(self) -> Path:
        return self.home / "monitor"

    def drift_result(self, dataset: str) -> Path:
        """The last `lifecycle monitor` result of a dataset (JSON)."""
        check_dataset_name(dataset)
        return self.monitor_dir / f"drift-{dataset}.json"

    def drift_reference_scores(self, dataset: str, task: str, version: str) -> Path:
        """A champion's scores on its training window, kept for `lifecycle monitor`."""
        check_dataset_name(dataset)
        return self.monitor_dir / f"reference-scores-{dataset}-{task}-v{version}.parquet"

    def drift_reference_features(self, dataset: str, digest: str) -> Path:
        """A sample of a training window's features (``digest``: its cutoffs, columns, size)."""
        check_dataset_name(dataset)
        return self.monitor_dir / f"reference-features-{dataset}-{digest}.parquet"
