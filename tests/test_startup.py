"""The scoring service starts without what it never runs: scikit-learn (pulled in by
``lightgbm.compat``), Feast (what it reads of the Feast registry comes from the registry's
mirror, the online rows from SQLite), the MLflow client (the champions come from the
registry's aliases mirror), DuckDB (feature builds) and SciPy's optimizers and integrators
(BG/NBD fitting). Checked in a fresh process, where ``sys.modules`` tells
what was imported; and the mirror is checked against the registry once the server is ready."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from workspaces import TrainedWorkspace

REPO = Path(__file__).resolve().parents[1]
NOT_LOADED = (
    "sklearn",
    "feast",
    "ibis",
    "feast.infra.offline_stores.duckdb",
    "mlflow",
    "duckdb",
    "scipy.optimize",
    "scipy.integrate",
)

STARTUP = """
import json, sys
from lifecycle.bundle import import_lightgbm_without_sklearn
from lifecycle.settings import load_settings
from serving.scorer import Scorer

import_lightgbm_without_sklearn()  # what the service does in a server process
scorer = Scorer(load_settings())
state = scorer.load(mirrored=True)  # what the service does at start
answer = scorer.score(sys.argv[1:], reasons="fresh")  # and a first request
print(json.dumps({
    "loaded": sorted(name for name in %r if name in sys.modules),
    "versions": state.champions.versions,
    "aliases": state.aliases,
    "answer": [user.model_dump(mode="json") for user in answer.users],
}))
"""


def test_a_loaded_scorer_has_imported_nothing_it_does_not_run(
    trained_workspace: TrainedWorkspace, scorer: Any
) -> None:
    from services import known_user_ids

    from lifecycle import registry
    from serving.stores import registry_aliases

    users = [*known_user_ids(trained_workspace.home, 20), "no-such-user"]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")},
        "LIFECYCLE_HOME": str(trained_workspace.home),
        "LIFECYCLE_SERVING__COMPILE_TREES": "false",  # the shared workspace is not written
    }
    done = subprocess.run(
        [sys.executable, "-c", STARTUP % (NOT_LOADED,), *users],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    settings = trained_workspace.settings()
    client = registry.client(settings)
    assert report["versions"] == {  # it did load the champions, the registry's
        task: str(
            registry.alias_version(client, registry.model_name("demo", task), "champion").version
        )
        for task in ("churn", "conversion", "ltv")
    }
    assert report["aliases"] == registry_aliases(settings, "demo")
    assert report["loaded"] == []
    # answered as a scorer in this process answers (Feast imported here by other tests)
    want = scorer.score(users, reasons="fresh").users
    assert report["answer"] == [user.model_dump(mode="json") for user in want]
    assert {user["status"] for user in report["answer"]} == {"scored", "unknown_user"}


def test_lightgbm_without_sklearn_leaves_sklearn_importable() -> None:
    script = (
        "import sys; from lifecycle.bundle import import_lightgbm_without_sklearn\n"
        "import_lightgbm_without_sklearn(); import lightgbm\n"
        "assert 'sklearn' not in sys.modules and hasattr(lightgbm, 'Booster')\n"
        "import sklearn.isotonic; print('ok')"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.strip() == "ok", done.stderr[-2000:]


def test_a_scoring_command_of_the_lifecycle_script_loads_lightgbm_without_sklearn(
    trained_copy: Path,
) -> None:
    """`lifecycle monitor` re-predicts the champions' training windows: LightGBM is loaded,
    scikit-learn (only LightGBM's estimator classes need it) is not."""
    probe = (
        "import atexit, sys\n"
        "from lifecycle.cli import run\n"
        "atexit.register(lambda: print('lightgbm' in sys.modules, 'sklearn' in sys.modules,"
        " file=sys.stderr))\n"
        "sys.argv = ['lifecycle', *sys.argv[1:]]\n"
        "run()"
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}
    done = subprocess.run(
        [sys.executable, "-c", probe, "--home", str(trained_copy), "-q", "monitor"],
        capture_output=True,
        text=True,
        timeout=300,
        env=environ,
    )
    assert done.returncode in (0, 3), done.stderr[-2000:]  # 3: drift, as cron sees it
    assert done.stderr.strip().splitlines()[-1] == "True False", done.stderr[-2000:]


def test_the_mirror_holds_every_alias_and_bundle_of_the_registry(
    trained_workspace: TrainedWorkspace, tmp_path: Path
) -> None:
    from lifecycle import registry

    settings = trained_workspace.settings()
    client = registry.client(settings)
    mirror = registry.reader(settings, mirrored=True)
    assert isinstance(mirror, registry.MirroredRegistry)
    for task in ("churn", "conversion", "ltv"):
        name = registry.model_name("demo", task)
        assert registry.aliases(mirror, name) == registry.aliases(client, name) != {}
        version = registry.alias_version(mirror, name, registry.CHAMPION).version
        assert version == str(registry.alias_version(client, name, registry.CHAMPION).version)
        mirrored = registry.bundle_path(mirror, name, version, tmp_path / f"{task}-mirror")
        downloaded = registry.bundle_path(client, name, version, tmp_path / f"{task}-mlflow")
        files = sorted(p.relative_to(downloaded) for p in downloaded.rglob("*") if p.is_file())
        assert files and files == sorted(
            p.relative_to(mirrored) for p in mirrored.rglob("*") if p.is_file()
        )
        assert all((mirrored / f).read_bytes() == (downloaded / f).read_bytes() for f in files)
    assert registry.alias_version(mirror, "demo-uplift", registry.CHAMPION) is None


def test_a_champion_moved_outside_lifecycle_is_served_once_the_server_has_checked(
    trained_copy: Path,
) -> None:
    """The mirror says churn v1; the registry was moved to v2 by hand (as the MLflow UI
    would): the server is ready on the mirror, then serves v2 after its registry check."""
    import httpx
    from services import bentoml_server, every_worker_settled

    from lifecycle import registry
    from lifecycle.settings import load_settings

    client = registry.client(load_settings(home=trained_copy, environ={}))
    name = registry.model_name("demo", "churn")
    champion = registry.alias_version(client, name, registry.CHAMPION)
    moved = client.create_model_version(name, source=champion.source, run_id=champion.run_id)
    client.set_registered_model_alias(name, registry.CHAMPION, moved.version)  # not mirrored
    mirror = registry.reader(load_settings(home=trained_copy, environ={}), mirrored=True)
    assert registry.alias_version(mirror, name, registry.CHAMPION).version == str(champion.version)
    with bentoml_server(trained_copy, {}, ready_path="/readyz") as base:
        # /models says when the check is over (settling): from then on, v2.
        every_worker_settled(base)
        answer = httpx.post(f"{base}/models", json={}, timeout=30).json()
        assert answer["settling"] == []
        assert {m["task"]: m["version"] for m in answer["models"]}["churn"] == str(moved.version)


def test_the_cli_help_imports_no_settings_models_nor_libraries() -> None:
    """`lifecycle --help` builds the command tree only: pydantic, the settings, pandas,
    Feast, MLflow and LightGBM are imported when a command runs (issue 17: help < 0.2 s)."""
    probe = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from lifecycle.cli import main\n"
        "result = CliRunner().invoke(main, ['--help'])\n"
        "assert result.exit_code == 0 and 'Usage' in result.output, result.output\n"
        "heavy = ('pydantic', 'pydantic_settings', 'lifecycle.settings', 'pandas', 'feast',"
        " 'mlflow', 'lightgbm')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"`lifecycle --help` imported {out}"


FEAST_CHECKED = """
import importlib, sys
if sys.argv[1] == "open_store":  # as a command: $LIFECYCLE_HOME/lifecycle.toml decides
    from features.store import open_store
    from lifecycle.settings import load_settings
    open_store(load_settings(), "demo", must_be_applied=False)
elif sys.argv[1] == "apply":  # `features apply`, `run`, `refresh`: Feast first imported here
    from features.store import apply
    from lifecycle.errors import UserError
    from lifecycle.settings import load_settings
    try:
        apply(load_settings())
    except UserError:  # an empty workspace: no events to apply features of
        pass
else:
    importlib.import_module(sys.argv[1])
init = sys.modules["feast.feature_view"].FeatureView.__init__  # typeguard recompiles it
print("typeguard" in init.__code__.co_names)
"""


def test_a_module_that_imports_feast_at_its_top_turns_feasts_type_checks_off(
    tmp_path: Path,
) -> None:
    """Feast's typeguard checks re-parse ~260 functions at import (~5 s of every command,
    server start and test worker): each module that imports Feast at its top calls
    ``load_feast`` first, whoever imports it first; ``LIFECYCLE_FEAST__TYPECHECKS=1`` keeps
    the checks (and shows that the probe sees them), and so does the setting
    ``feast.typechecks`` in the settings file of a command, which opens the store; so does
    ``apply``, Feast's first import in `features apply`, `run` and `refresh`."""
    at_top = sorted(
        f"features.{path.stem}"
        for path in (REPO / "features").glob("*.py")
        if any(
            line.startswith(("from feast", "import feast"))
            for line in path.read_text().splitlines()
        )
    )
    assert {"features.online_store", "features.offline_store"} <= set(at_top), at_top
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}
    cases = [([module], environ, "False") for module in at_top]
    cases.append(([at_top[0]], environ | {"LIFECYCLE_FEAST__TYPECHECKS": "1"}, "True"))
    # The workspace's settings file; its default (off) is the modules' cases above.
    (tmp_path / "lifecycle.toml").write_text("[feast]\ntypechecks = true\n")
    cases.append((["open_store"], environ | {"LIFECYCLE_HOME": str(tmp_path)}, "True"))
    # apply imported Feast before any load_feast: the checks stayed on in every command,
    # backtest and test worker whose first Feast import it was
    cases.append((["apply"], environ | {"LIFECYCLE_HOME": str(tmp_path / "plain")}, "False"))
    for argv, env, checked in cases:
        done = subprocess.run(
            [sys.executable, "-c", FEAST_CHECKED, *argv],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip() == checked, (argv, env.get("LIFECYCLE_FEAST__TYPECHECKS"))
