"""One typed settings object: defaults < file < environment < explicit options."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

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
        "LIFECYCLE_FEATURES__WINDOWS_DAYS": "[14, 30, 90]",
    }
    settings = load_settings(environ=env)  # finds $LIFECYCLE_HOME/lifecycle.toml
    assert settings.dataset == "shop"
    assert settings.labels.churn_lookback_days == 30  # from the file
    assert settings.labels.churn_horizon_days == 45  # the environment wins over the file
    assert settings.features.windows_days == [14, 30, 90]
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
    with pytest.raises(SettingsError, match=r"absent\.toml: file not found"):
        load_settings(config=tmp_path / "absent.toml", environ={})
    # saved as UTF-16 (Windows' Notepad) or latin-1: was a UnicodeDecodeError traceback
    for text, encoding, byte in (("[labels]\n", "utf-16", 1), ('x = "café"\n', "latin-1", 9)):
        broken.write_bytes(text.encode(encoding))
        with pytest.raises(SettingsError) as refused:
            load_settings(config=broken, environ={})
        assert str(refused.value) == (
            f"settings file {broken}: not UTF-8 text (byte {byte}); TOML files are UTF-8: "
            "save it as UTF-8"
        )


def test_a_file_saved_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    """Notepad's "UTF-8" starts with a BOM: it was 'Invalid statement (at line 1, column 1)'."""
    config = tmp_path / "lifecycle.toml"
    config.write_bytes(b"\xef\xbb\xbf" + b'dataset = "shop"\n[labels]\nchurn_horizon_days = 60\n')
    settings = load_settings(config=config, environ={})
    assert settings.dataset == "shop" and settings.labels.churn_horizon_days == 60


def test_a_bad_item_of_a_list_names_where_the_list_came_from(tmp_path: Path) -> None:
    """An item of a list (features.windows_days.1) said no source, or 'LIFECYCLE_* variables'."""
    config = tmp_path / "lifecycle.toml"
    config.write_text("[features]\nwindows_days = [7, -1]\n")
    with pytest.raises(SettingsError) as refused:
        load_settings(config=config, environ={})
    assert str(refused.value) == (
        f"invalid settings: features.windows_days.1 (from settings file {config}): "
        "Input should be greater than or equal to 1"
    )
    with pytest.raises(SettingsError) as refused:
        load_settings(environ={"LIFECYCLE_FEATURES__WINDOWS_DAYS": "[-7, 30]"}, home=tmp_path)
    assert "features.windows_days.0 (from LIFECYCLE_FEATURES__WINDOWS_DAYS): " in str(refused.value)


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


def test_options_win_field_by_field_over_environment_and_file(tmp_path: Path) -> None:
    (tmp_path / "lifecycle.toml").write_text("[training]\nmin_rows = 300\nseed = 11\n")
    env = {"LIFECYCLE_TRAINING__SEED": "12", "LIFECYCLE_TRAINING__GATE_METRIC__CHURN": "pr_auc"}
    settings = load_settings(environ=env, home=tmp_path, training={"min_improvement": 0.01})
    assert settings.training.min_rows == 300  # the file
    assert settings.training.seed == 12  # the environment over the file
    assert settings.training.min_improvement == 0.01  # the option, without dropping the rest
    # one task's gate metric changed, the others keep their declarations'
    from training.promotion import gate_metric_of

    assert settings.training.gate_metric == {"churn": "pr_auc"}
    assert [gate_metric_of(settings, t) for t in ("churn", "conversion", "ltv")] == [
        "pr_auc",
        "auc",
        "normalized_gini",
    ]


@pytest.mark.parametrize(
    ("task", "metric", "expected"),
    [
        ("churn", "brier", "auc, pr_auc"),  # lower is better: a gate would promote the worse
        ("ltv", "auc", "normalized_gini, spearman"),  # a probability metric for a value
        ("conversion", "acu", "auc, pr_auc"),  # a typo
    ],
)
def test_a_gate_metric_the_gate_cannot_compare_is_refused_at_load(
    tmp_path: Path, task: str, metric: str, expected: str
) -> None:
    name = f"LIFECYCLE_TRAINING__GATE_METRIC__{task.upper()}"
    with pytest.raises(
        SettingsError, match=rf"training.gate_metric.{task}: '{metric}' .* {expected}"
    ):
        load_settings(home=tmp_path, environ={name: metric})


def test_settings_class_reads_the_process_environment_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Settings()`` goes through the same sources as load_settings (settings_customise_sources)."""
    from lifecycle.settings import Settings

    for name in list(os.environ):
        if name.startswith("LIFECYCLE_"):
            monkeypatch.delenv(name)
    (tmp_path / "lifecycle.toml").write_text("[demo]\nusers = 500\nseed = 3\n")
    monkeypatch.setenv("LIFECYCLE_HOME", str(tmp_path))
    monkeypatch.setenv("LIFECYCLE_DEMO__SEED", "4")
    settings = Settings()
    assert (settings.home, settings.demo.users, settings.demo.seed) == (tmp_path, 500, 4)
    assert Settings(demo={"seed": 5}).demo.seed == 5


def test_secrets_stay_secret_and_text(tmp_path: Path) -> None:
    env = {"LIFECYCLE_SERVING__API_TOKEN": "12345", "LIFECYCLE_PRIVACY__PSEUDONYM_KEY": "k-1"}
    settings = load_settings(environ=env, home=tmp_path)
    assert isinstance(settings.serving.api_token, SecretStr)
    assert settings.serving.api_token.get_secret_value() == "12345"  # text, not the number
    assert settings.privacy.key() == (b"k-1", "privacy.pseudonym_key")
    assert "12345" not in repr(settings) and "k-1" not in settings.model_dump_json()


def test_unknown_variables_and_keys_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"no_such_thing \(from LIFECYCLE_NO_SUCH_THING\)"):
        load_settings(environ={"LIFECYCLE_NO_SUCH_THING": "1"}, home=tmp_path)
    config = tmp_path / "typo.toml"
    config.write_text("[labels]\nchurn_horizon_dayz = 30\n")
    with pytest.raises(
        SettingsError,
        match=r"labels\.churn_horizon_dayz \(from settings file .*typo\.toml\): not a setting; "
        r"did you mean churn_horizon_days",
    ):
        load_settings(config=config, environ={})


def test_the_variables_of_command_options_are_no_unknown_settings(tmp_path: Path) -> None:
    """docs/refresh.md's systemd unit sets LIFECYCLE_RELOAD_URL (refresh --reload-url): every
    command refused it as 'reload_url (from LIFECYCLE_RELOAD_URL): not a setting'."""
    import click

    from lifecycle.cli import main
    from lifecycle.settings import CONFIG_ENV, RELOAD_URL_ENV

    def variables(command: click.Command) -> set[str]:
        found = {p.envvar for p in command.params if isinstance(p.envvar, str)}
        for sub in getattr(command, "commands", {}).values():
            found |= variables(sub)
        return found

    options = variables(main)
    assert {RELOAD_URL_ENV, CONFIG_ENV, "LIFECYCLE_HOME"} <= options
    config = tmp_path / "lifecycle.toml"
    config.write_text('dataset = "shop"\n')
    environ = {name: "http://127.0.0.1:3000" for name in options}
    environ |= {CONFIG_ENV: str(config), "LIFECYCLE_HOME": str(tmp_path)}
    assert load_settings(environ=environ).dataset == "shop"
    result = CliRunner().invoke(
        main, ["--home", str(tmp_path), "datasets"], env={RELOAD_URL_ENV: "http://127.0.0.1:3000"}
    )
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[labels]\nchurn_horizon_days = true\n", "labels.churn_horizon_days"),
        ("[ingest]\nmax_bad_fraction = true\n", "ingest.max_bad_fraction"),
        ("[features]\nwindows_days = [7, true]\n", "features.windows_days"),
        ("[training.models.churn]\nnum_leaves = true\n", "training.models.churn.num_leaves"),
    ],
)
def test_true_or_false_where_a_number_is_due_is_refused(
    tmp_path: Path, text: str, field: str
) -> None:
    """pydantic reads true as 1: a one-day churn horizon, or every row of a file allowed bad."""
    config = tmp_path / "lifecycle.toml"
    config.write_text(text)
    with pytest.raises(
        SettingsError, match=rf"{field} \(from settings file .*\): .*not true or false"
    ):
        load_settings(config=config, environ={})
    flags = tmp_path / "flags.toml"
    flags.write_text("[training]\nplots = false\n[training.models.churn]\nextra_trees = true\n")
    assert load_settings(config=flags, environ={}).training.models["churn"].extra_trees is True


def test_feature_windows_without_the_stages_windows_are_refused_at_load(tmp_path: Path) -> None:
    """Windows without 30 or 90 days trained, then `score-all` failed with KeyError
    'active_days_30d': the lifecycle stages read those two windows."""
    with pytest.raises(SettingsError) as refused:
        load_settings(environ={"LIFECYCLE_FEATURES__WINDOWS_DAYS": "[14, 60, 180]"}, home=tmp_path)
    said = str(refused.value)
    assert "features.windows_days (from LIFECYCLE_FEATURES__WINDOWS_DAYS)" in said, said
    assert "lacks 30 and 90" in said and "[14, 30, 60, 90, 180]" in said, said
    assert load_settings(environ={"LIFECYCLE_FEATURES__WINDOWS_DAYS": "[30, 90]"}, home=tmp_path)


def test_feature_windows_in_another_order_or_twice_are_the_same_setting(tmp_path: Path) -> None:
    """[90, 30, 7, 7] builds the table [7, 30, 90] builds, but its lineage digest differed: every
    feature table and model looked stale, and `refresh` rebuilt and retrained them all."""
    from lifecycle import lineage

    shuffled = load_settings(
        environ={"LIFECYCLE_FEATURES__WINDOWS_DAYS": "[90, 30, 7, 7]"}, home=tmp_path
    )
    ordered = load_settings(
        environ={"LIFECYCLE_FEATURES__WINDOWS_DAYS": "[7, 30, 90]"}, home=tmp_path
    )
    assert shuffled.features.windows_days == [7, 30, 90]
    assert lineage.features_digest(
        shuffled.features.windows_days, shuffled.features.cutoff_frequency
    ) == lineage.features_digest(ordered.features.windows_days, ordered.features.cutoff_frequency)


def test_hyperparameters_per_model_from_file_and_environment(tmp_path: Path) -> None:
    (tmp_path / "lifecycle.toml").write_text(
        "[training.models.churn]\nlearning_rate = 0.03\nnum_leaves = 7\n"
        "[training.models.ltv_quantile]\nnum_boost_round = 200\n"
    )
    env = {
        "LIFECYCLE_TRAINING__MODELS__CHURN__LEARNING_RATE": "0.02",
        "LIFECYCLE_TRAINING__MODELS__LTV__EXTRA_TREES": "true",
    }
    models = load_settings(environ=env, home=tmp_path).training.models
    assert models["churn"].values() == {"learning_rate": 0.02, "num_leaves": 7}  # env wins
    assert models["ltv"].values() == {"extra_trees": True}
    assert models["ltv_quantile"].values() == {"num_boost_round": 200}
    assert load_settings(environ={}, home=tmp_path / "none").training.models == {}


def test_unknown_or_invalid_hyperparameters_are_refused_at_load(tmp_path: Path) -> None:
    def load(**env: str) -> object:
        return load_settings(environ=env, home=tmp_path)

    with pytest.raises(
        SettingsError,
        match=r"training\.models\.churn\.learning_rat \(from "
        r"LIFECYCLE_TRAINING__MODELS__CHURN__LEARNING_RAT\): not a setting; did you mean "
        r"learning_rate\?",
    ):
        load(LIFECYCLE_TRAINING__MODELS__CHURN__LEARNING_RAT="0.03")
    with pytest.raises(
        SettingsError, match=r"training\.models\.churn\.num_leaves .*greater than or equal to 2"
    ):
        load(LIFECYCLE_TRAINING__MODELS__CHURN__NUM_LEAVES="1")
    with pytest.raises(SettingsError, match=r"training\.models\.ltv\.learning_rate .*number"):
        load(LIFECYCLE_TRAINING__MODELS__LTV__LEARNING_RATE="fast")
    # The variable the issue reported as refused: now it says where hyperparameters go.
    with pytest.raises(
        SettingsError,
        match=r"training\.learning_rate .*hyperparameters are set per model: "
        r"training\.models\.<model>\.learning_rate "
        r"\(LIFECYCLE_TRAINING__MODELS__<MODEL>__LEARNING_RATE\)",
    ):
        load(LIFECYCLE_TRAINING__LEARNING_RATE="0.03")


def test_hyperparameter_names_are_lightgbm_parameters() -> None:
    """Every name settings accept is a LightGBM 4.7 parameter (or, for the two rounds
    settings, the alias lightgbm.train and its early-stopping callback use)."""
    from lightgbm.basic import _ConfigAliases

    from lifecycle.settings import HyperParameters

    aliases = _ConfigAliases._get_all_param_aliases()  # canonical name -> its aliases
    canonical = {name for name in HyperParameters.model_fields if name in aliases}
    assert set(HyperParameters.model_fields) - canonical == {
        "num_boost_round",
        "early_stopping_rounds",
    }
    assert "num_boost_round" in aliases["num_iterations"]
    assert "early_stopping_rounds" in aliases["early_stopping_round"]


def test_a_variable_that_is_neither_toml_nor_json_is_one_clear_line(tmp_path: Path) -> None:
    for name, value, expected in (
        ("LIFECYCLE_FEATURES__WINDOWS_DAYS", "garbage[", "features.windows_days"),
        ("LIFECYCLE_TRAINING__GATE_METRIC", "{x", "training.gate_metric"),
    ):
        with pytest.raises(SettingsError, match=rf"{expected} \(from {name}\): Input should be"):
            load_settings(home=tmp_path, environ={name: value})


def test_task_modules_are_imported_when_settings_load(tmp_path: Path) -> None:
    from lifecycle.tasks import UnknownTaskError

    with pytest.raises(
        UnknownTaskError, match=r"task_modules .*'no_such_tasks', which cannot be imported"
    ):
        load_settings(home=tmp_path, environ={"LIFECYCLE_TASK_MODULES": "no_such_tasks"})


def test_the_least_memory_is_said_in_the_unit_it_is_counted_in(tmp_path: Path) -> None:
    """DuckDB needs 16MiB; "16MB" (16,000,000 bytes) was refused with "expected at least
    16MB", which reads as enough. The refusal now gives the bytes and a size that is enough."""
    (tmp_path / "lifecycle.toml").write_text('[features]\nmemory_limit = "16MB"\n')
    with pytest.raises(SettingsError) as refused:
        load_settings(home=tmp_path)
    said = str(refused.value)
    assert "features.memory_limit" in said and "16,000,000 bytes" in said, said
    assert "at least 16MiB (16,777,216 bytes, e.g. 17MB)" in said, said
    (tmp_path / "lifecycle.toml").write_text('[features]\nmemory_limit = "17MB"\n')
    assert load_settings(home=tmp_path).features.memory_limit == "17MB"


def test_settings_print_as_a_file_that_sets_them(tmp_path: Path) -> None:
    """`lifecycle settings` printed Python dicts (`labels: {'churn_lookback_days': None,
    ...}`) that could not be pasted into lifecycle.toml (trial 95): it prints TOML, which,
    read back as the settings file, gives the same settings; unset values, secrets and the
    home are comments."""
    import json
    import tomllib

    from lifecycle.cli import main

    environ = {"LIFECYCLE_HOME": str(tmp_path), "LIFECYCLE_SERVING__API_TOKEN": "s3cret"}
    environ["LIFECYCLE_FEATURES__WINDOWS_DAYS"] = "[90, 30, 7]"
    runner = CliRunner()
    printed = runner.invoke(main, ["settings"], env=environ)
    assert printed.exit_code == 0, printed.output
    assert "s3cret" not in printed.output
    assert '# api_token = "**********" (a secret: set in the environment)' in printed.stdout
    assert "# churn_lookback_days = (unset)" in printed.stdout
    pasted = tmp_path / "pasted.toml"
    pasted.write_text(printed.stdout)
    tomllib.loads(printed.stdout)  # a TOML file
    again = runner.invoke(main, ["--config", str(pasted), "--json", "settings"],
                          env={"LIFECYCLE_HOME": str(tmp_path)})  # fmt: skip
    shown = json.loads(runner.invoke(main, ["--json", "settings"], env=environ).stdout)
    assert again.exit_code == 0, again.output
    read = json.loads(again.stdout)
    read["serving"]["api_token"] = shown["serving"]["api_token"]  # a secret stays in the env
    assert read == shown
    assert read["features"]["windows_days"] == [7, 30, 90]


def test_settings_say_where_the_runs_are_when_no_tracking_server_is_set(tmp_path: Path) -> None:
    """`lifecycle settings` ("the effective settings") printed `# uri = (unset)` under
    [tracking], and nothing `train` prints names the store: an engineer looking for the MLflow
    runs had to find `mlflow/mlflow.db` in docs/training.md. It names the workspace's store."""
    import tomllib

    from lifecycle.cli import main

    printed = CliRunner().invoke(main, ["settings"], env={"LIFECYCLE_HOME": str(tmp_path)})
    assert printed.exit_code == 0, printed.output
    db = (tmp_path / "mlflow" / "mlflow.db").resolve()
    assert (
        f"# uri = (unset: the workspace's own store: MLFLOW_TRACKING_URI=sqlite:///{db})"
    ) in printed.stdout.splitlines()
    assert "uri" not in tomllib.loads(printed.stdout)["tracking"]  # still a comment
    served = {"LIFECYCLE_HOME": str(tmp_path), "LIFECYCLE_TRACKING__URI": "http://mlflow:5000"}
    printed = CliRunner().invoke(main, ["settings"], env=served)
    assert 'uri = "http://mlflow:5000"' in printed.stdout.splitlines()
