"""What a person sees of the CLI: no library chatter unless --verbose, lists that say their
currency and windows, real xlsx, whole reasons, and a JSON answer for schedulers."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from lifecycle.cli import main

MLFLOW_NOTICES = ("Successfully registered", "Created version", "already exists")


def test_train_prints_mlflow_notices_only_with_verbose(trained_copy: Path) -> None:
    quiet = CliRunner().invoke(main, ["--home", str(trained_copy), "train", "churn"])
    assert quiet.exit_code == 0, quiet.output
    assert "churn" in quiet.stdout  # the command's own result is still there
    for notice in MLFLOW_NOTICES:
        assert notice not in quiet.stdout + quiet.stderr, quiet.stderr

    loud = CliRunner().invoke(main, ["--home", str(trained_copy), "--verbose", "train", "churn"])
    assert loud.exit_code == 0, loud.output
    assert "Created version" in loud.stderr, loud.stderr
    assert "Created version" not in loud.stdout  # chatter never mixes into the result
