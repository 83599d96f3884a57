"""One typed settings object: defaults < file < environment < explicit options."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lifecycle.settings import SettingsError, load_settings


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings(environ={}, home=tmp_path)
    assert settings.home == tmp_path
    assert settings.labels.churn_horizon_days == 90
    assert settings.labels.ltv_horizon_days == 365
    assert settings.workspace.dataset_dir("demo") == tmp_path / "datasets" / "demo"


def test_file_then_environment_then_options(tmp_path: Path) -> None:
    config = tmp_path / "lifecycle.toml"
    config.write_text(
        'dataset = "shop"\n[labels]\nchurn_horizon_days = 60\nchurn_lookback_days = 30\n'
    )
    env = {
        "LIFECYCLE_HOME": str(tmp_path),
        "LIFECYCLE_LABELS__CHURN_HORIZON_DAYS": "45",
        "LIFECYCLE_FEATURES__WINDOWS_DAYS": "[14, 28]",
    }
    settings = load_settings(environ=env)  # finds $LIFECYCLE_HOME/lifecycle.toml
    assert settings.dataset == "shop"
    assert settings.labels.churn_lookback_days == 30  # from the file
    assert settings.labels.churn_horizon_days == 45  # the environment wins over the file
    assert settings.features.windows_days == [14, 28]
    assert load_settings(environ=env, dataset="other").dataset == "other"


def test_invalid_values_name_the_field(tmp_path: Path) -> None:
    env = {"LIFECYCLE_LABELS__CHURN_HORIZON_DAYS": "-3"}
    with pytest.raises(SettingsError, match=r"labels\.churn_horizon_days"):
        load_settings(environ=env, home=tmp_path)
    with pytest.raises(SettingsError, match=r"labels\.no_such_window"):
        load_settings(environ={"LIFECYCLE_LABELS__NO_SUCH_WINDOW": "3"}, home=tmp_path)


def test_broken_or_missing_file_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[labels\n")
    with pytest.raises(SettingsError, match=r"broken\.toml"):
        load_settings(config=broken, environ={})
    with pytest.raises(SettingsError, match=r"absent\.toml does not exist"):
        load_settings(config=tmp_path / "absent.toml", environ={})


def test_importing_the_cli_does_nothing_and_loads_no_heavy_library(tmp_path: Path) -> None:
    code = (
        "import sys, lifecycle.cli;"
        "heavy = [m for m in ('pandas', 'feast', 'mlflow', 'lightgbm', 'bentoml') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
    assert list(tmp_path.iterdir()) == []  # no workspace or file created at import
