"""Trained demo workspaces for tests: built once through the stages' own functions, copied
for tests that change them.

A workspace holds absolute paths in the MLflow SQLite store (experiment, run and model
artifact locations; ``lifecycle.relocation`` re-points them on first use) and in notes
nothing reads back (``MLmodel``, ingest reports, the list file a campaign's Parquet metadata
names); Feast's files name relative paths (tests/test_portability.py copies with plain
``cp -r``). :func:`copy_workspace` re-points every one of them up front, and every absolute
symlink, at the copy, and checks that no file names the original, so a test that trains,
promotes, scores or deletes in its copy never reads or writes the original.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lifecycle.settings import Settings, load_settings

TASKS = ("churn", "conversion", "ltv")
# The demo product used by every shared trained workspace: small enough to train the three
# models in well under a minute, big enough for the quality thresholds the tests assert.
DEMO_USERS = 2000
DEMO_SEED = 5


@dataclass(frozen=True)
class TrainedWorkspace:
    """A demo workspace with features in Feast (applied and materialized), the three models
    trained and registered as champions, and one batch scores table."""

    home: Path
    results: dict[str, Any]  # task -> training.pipeline.TrainResult of the first training
    scores_path: Path  # the scores table `latest.parquet` points to
    files: dict[str, tuple[int, int]]  # fingerprint() at the last check: shared means unchanged

    def settings(self, environ: dict[str, str] | None = None) -> Settings:
        return load_settings(home=self.home, environ=environ or {})


# In-process scorers in tests: no background compile of the champions (minutes of CPU, and
# it writes compiled trees into the workspace); tests/test_compiled.py compiles on purpose.
NO_COMPILE = {"LIFECYCLE_SERVING__COMPILE_TREES": "false"}
# Trainings whose plots no test reads draw none (training.plots): ~15% of a small
# training's CPU. The shared workspace keeps them (the report's tests show them).
NO_PLOTS = {"LIFECYCLE_TRAINING__PLOTS": "false"}


# How a shop's log of :func:`demo_purchase_log` is ingested: its columns named to the contract.
PURCHASE_LOG_MAPS = (
    "--map",
    "user_id=Customer",
    "--map",
    "event_time=Time",
    "--map",
    "amount=Total",
)


def demo_purchase_log(out_dir: Path, *, users: int, seed: int, days: int) -> Any:
    """The demo product's purchases (``Customer``, ``Time``, ``Total``) as a shop's export
    writes them, its demo generated into ``out_dir``: a log of purchases only."""
    import pandas as pd

    from features import contract as c
    from features.demo import generate_demo

    generate_demo(users=users, seed=seed, out_dir=out_dir, days=days, future_days=0)
    events = pd.read_parquet(out_dir / "events.parquet")
    bought = events[events[c.EVENT_TYPE] == c.PURCHASE]
    return pd.DataFrame(
        {
            "Customer": bought[c.USER_ID],
            "Time": bought[c.EVENT_TIME].dt.strftime("%Y-%m-%d %H:%M:%S"),
            "Total": bought[c.AMOUNT].round(2),
        }
    )


def clear_lifecycle_environ(patch: Any, keep: tuple[str, ...] = ()) -> None:
    """Unset every LIFECYCLE_* variable but LIFECYCLE_DATA_ROOT and ``keep`` (``patch``: a
    pytest MonkeyPatch), so a workspace sees only the settings its test gives it."""
    for name in list(os.environ):
        if name.startswith("LIFECYCLE_") and name not in ("LIFECYCLE_DATA_ROOT", *keep):
            patch.delenv(name)


def build_trained_workspace(
    home: Path, *, users: int = DEMO_USERS, seed: int = DEMO_SEED
) -> TrainedWorkspace:
    """Demo data -> ingest -> as-of features -> Feast apply and materialize -> train the
    three tasks -> batch scores, as ``lifecycle run`` does, with default settings."""
    from features.asof import build_feature_table
    from features.contract import ColumnMapping
    from features.demo import generate_demo
    from features.ingest import ingest_events
    from features.store import apply, materialize, store_paths
    from serving.batch import score_all
    from serving.scoring import compile_champions, load_champions
    from training.pipeline import train_task

    # Not compiled when training promotes the champions: minutes of CPU once per session,
    # which only tests/test_compiled.py needs (on its own copy).
    settings = load_settings(home=home, environ=NO_COMPILE)
    demo_dir = settings.workspace.demo_dir()
    demo = settings.demo
    generate_demo(
        users=users,
        seed=seed,
        out_dir=demo_dir,
        start=demo.start,
        days=demo.days,
        future_days=demo.future_days,
    )
    data_dir = settings.workspace.dataset_dir(settings.dataset)
    ingest_events(
        demo_dir / "events.parquet",
        data_dir,
        mapping=ColumnMapping(),
        users_path=demo_dir / "users.parquet",
        max_bad_fraction=settings.ingest.max_bad_fraction,
        chunk_rows=settings.ingest.chunk_rows,
        memory_limit=settings.ingest.memory_limit,
    )
    build_feature_table(
        data_dir / "events.parquet",
        data_dir / "users.parquet",
        store_paths(settings).feature_table,
        windows=settings.features.windows_days,
        frequency=settings.features.cutoff_frequency,
        memory_limit=settings.features.memory_limit,
    )
    apply(settings)
    materialize(settings)
    results = {task: train_task(settings, task) for task in TASKS}
    scored = score_all(settings)
    # what the first list explaining with trees compiled (the default) saves: the churn
    # model's TreeSHAP (lifecycle.treeshap.TreeShap.cached), read by every such list after
    compile_champions(load_settings(home=home, environ={}), load_champions(settings), trees=False)
    checkpoint_sqlite(home)
    return TrainedWorkspace(home, results, scored.path.resolve(), fingerprint(home))


def replace_demo(settings: Settings, folder: Path, *, users: int = 300, seed: int = 11) -> None:
    """The demo dataset replaced by another population under the same ids (u0000001...), as
    `lifecycle run --users N` does in a workspace that holds the default demo: a new ingest,
    not an append (``lifecycle.lineage.replaced``)."""
    from features.demo import generate_demo
    from features.ingest import ingest_events

    demo = settings.demo
    generate_demo(users, seed, folder, demo.start, demo.days, demo.future_days)
    ingest_events(
        folder / "events.parquet",
        settings.workspace.dataset_dir("demo"),
        users_path=folder / "users.parquet",
        mode="replace",
    )


def snapshot_champion_list(settings: Settings, dataset: str, rows: str, source: Path) -> Path:
    """A churn champion v1 of snapshot ``dataset`` registered with no training, and its
    at-risk list of ``rows`` (``user_id,churn_probability,reasons,rank`` lines) written
    where train-snapshot writes it: what `at-risk --dataset` reads of a snapshot."""
    from lifecycle import registry

    client, model = registry.client(settings), registry.model_name(dataset, "churn")
    client.create_registered_model(model)
    client.create_model_version(model, source=str(source), run_id=None)
    registry.set_champion(client, model, "1", "first model")
    listed = settings.workspace.snapshot_at_risk(model, "1")
    listed.parent.mkdir(parents=True, exist_ok=True)
    listed.write_text("user_id,churn_probability,reasons,rank\n" + rows)
    return listed


def shared_trained_workspace(root: Path, home: Path) -> TrainedWorkspace:
    """The trained demo workspace of :func:`build_trained_workspace`, built once under
    ``root`` (a folder every pytest-xdist worker of the run shares: the first to ask builds
    it while the others wait) and copied to ``home`` for this worker. No test reads the
    build itself: a reader's SQLite files could change it under a copy in progress."""
    build = root / "trained-demo"
    with (root / "trained-demo.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (build / "results.pickle").is_file():
            built = build_trained_workspace(build / "workspace")
            relative = built.scores_path.relative_to(built.home.resolve())
            # Written last: its presence means a whole build (a failed one is redone).
            (build / "results.pickle").write_bytes(pickle.dumps((built.results, relative)))
    results, relative = pickle.loads((build / "results.pickle").read_bytes())
    copy_workspace(build / "workspace", home)
    return TrainedWorkspace(home, results, (home / relative).resolve(), fingerprint(home))


def checkpoint_sqlite(home: Path) -> None:
    """Move every SQLite write-ahead log into its database: otherwise the last reader to close
    (a server at a module's teardown) checkpoints it, and the database file changes under a
    later test that only read."""
    for database in home.rglob("*.db"):
        if database.with_name(database.name + "-wal").exists():
            with sqlite3.connect(database) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.close()


def copy_workspace(source: Path, destination: Path, *, skip: tuple[str, ...] = ()) -> Path:
    """Copy the workspace ``source`` to ``destination`` (which must not exist) so that the
    copy refers only to itself; ``skip`` names top-level entries left out (e.g. ``mlflow``)."""
    source, destination = source.resolve(), destination.resolve()
    shutil.copytree(
        source,
        destination,
        symlinks=True,
        ignore=lambda folder, names: [n for n in names if Path(folder) == source and n in skip],
    )
    _repoint_symlinks(source, destination)
    # With the separator: "/tmp/ws" must not match inside "/tmp/ws-copy".
    old, new = f"{source}{os.sep}", f"{destination}{os.sep}"
    for path in destination.rglob("*"):
        if path.is_symlink() or not path.is_file() or old.encode() not in path.read_bytes():
            continue
        if path.suffix == ".db" and path.parent.name == "mlflow":
            _repoint_sqlite(path, old, new)
        elif path.name == "registry.db":
            _repoint_feast_registry(path, old, new)
        elif path.suffix == ".parquet":  # a campaign names the list file it started from
            _repoint_parquet_metadata(path, old, new)
        else:  # feature_store.yaml, MLmodel, ingest reports: text naming a path
            path.write_text(path.read_text().replace(old, new))
        if old.encode() in path.read_bytes():  # a copy naming the original would share state
            raise AssertionError(f"{path} still refers to the original workspace {source}")
    return destination


def _repoint_symlinks(source: Path, destination: Path) -> None:
    for folder, dirs, files in os.walk(destination):
        for name in dirs + files:
            link = Path(folder) / name
            if link.is_symlink():
                target = Path(os.readlink(link))
                if target.is_absolute() and target.is_relative_to(source):
                    link.unlink()
                    link.symlink_to(destination / target.relative_to(source))


def _repoint_sqlite(database: Path, old: str, new: str) -> None:
    """Replace the ``old`` path prefix in every text value of every table (MLflow keeps
    artifact locations as absolute ``file://`` URIs in several tables)."""
    with sqlite3.connect(database) as connection:
        tables = [
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        for table in tables:
            for column in connection.execute(f'PRAGMA table_info("{table}")'):
                name, declared = column[1], (column[2] or "").upper()
                if "CHAR" in declared or "TEXT" in declared or "CLOB" in declared:
                    connection.execute(
                        f'UPDATE "{table}" SET "{name}" = replace("{name}", ?, ?) '
                        f'WHERE instr("{name}", ?) > 0',
                        (old, new, old),
                    )
    connection.execute("VACUUM")  # drop the old text from freed pages too
    connection.close()


def _repoint_parquet_metadata(table_file: Path, old: str, new: str) -> None:
    """Replace the ``old`` path prefix in a Parquet file's key-value metadata."""
    import pyarrow.parquet as pq

    table = pq.read_table(table_file)
    metadata = {
        key: value.replace(old.encode(), new.encode())
        for key, value in (table.schema.metadata or {}).items()
    }
    pq.write_table(table.replace_schema_metadata(metadata), table_file)


def _repoint_feast_registry(registry: Path, old: str, new: str) -> None:
    """Replace the ``old`` path prefix in every string of the Feast registry protobuf."""
    from features.feast_loader import load_feast

    load_feast()  # before any Feast module: imported without its slow import-time checks
    from feast.infra.registry.registry import Registry as FileRegistry
    from feast.protos.feast.core.Registry_pb2 import Registry

    proto = Registry()
    proto.ParseFromString(registry.read_bytes())
    _replace_strings(proto, old, new)
    # Version history keeps each earlier feature view serialized: re-point inside it too.
    for record in proto.feature_view_version_history.records:
        view_class, _ = FileRegistry._proto_class_for_type(None, record.feature_view_type)
        view = view_class.FromString(record.feature_view_proto)
        _replace_strings(view, old, new)
        record.feature_view_proto = view.SerializeToString()
    registry.write_bytes(proto.SerializeToString())


def _replace_strings(message: Any, old: str, new: str) -> None:
    from google.protobuf.descriptor import FieldDescriptor

    for field, value in message.ListFields():
        is_message = field.type == FieldDescriptor.TYPE_MESSAGE
        is_map = is_message and field.message_type.GetOptions().map_entry
        if is_map:
            value_field = field.message_type.fields_by_name["value"]
            for key in list(value):
                if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                    _replace_strings(value[key], old, new)
                elif isinstance(value[key], str):
                    value[key] = value[key].replace(old, new)
        elif field.is_repeated:
            if is_message:
                for item in value:
                    _replace_strings(item, old, new)
            elif field.type == FieldDescriptor.TYPE_STRING:
                value[:] = [item.replace(old, new) for item in value]
        elif is_message:
            _replace_strings(value, old, new)
        elif field.type == FieldDescriptor.TYPE_STRING and old in value:
            setattr(message, field.name, value.replace(old, new))


def fingerprint(home: Path) -> dict[str, tuple[int, int]]:
    """Every file's (and symlink's) size and modification time.

    SQLite's ``-shm`` files and empty ``-wal`` files are left out: a reader of a WAL
    database creates and touches them without changing any data.
    """
    found = {}
    for path in sorted(home.rglob("*")):
        if (path.is_dir() and not path.is_symlink()) or path.name.endswith("-shm"):
            continue
        try:
            stat = path.lstat()
        except FileNotFoundError:
            if path.name.endswith("-wal"):  # a reader's connection closed since the listing
                continue
            raise
        if path.name.endswith("-wal") and stat.st_size == 0:
            continue
        found[str(path.relative_to(home))] = (stat.st_size, stat.st_mtime_ns)
    return found


def changed_files(workspace: TrainedWorkspace) -> list[str]:
    """The files of a shared workspace that are new, gone or different since the last
    check; the fingerprint then moves on, so only the test that wrote is blamed."""
    now = fingerprint(workspace.home)
    changed = sorted(
        name
        for name in now.keys() | workspace.files.keys()
        if now.get(name) != workspace.files.get(name)
    )
    workspace.files.clear()
    workspace.files.update(now)
    return changed


def names_id(record: object, user_id: str) -> bool:
    """Whether a record (an erasure log entry, as JSON) names ``user_id`` as a token: its
    keyed hashes are hex, and a digit id such as 18074 can occur inside one by chance
    ('0d8918074e2047a0': 1 of 1,550 tests failed once so), which names no one."""
    import json
    import re

    text = json.dumps(record)
    return re.search(rf"(?<![0-9A-Za-z]){re.escape(user_id)}(?![0-9A-Za-z])", text) is not None


def cli_report(*args: str) -> dict:
    """``lifecycle --json --quiet ARGS`` run in process (ingest, forget, ...): it must
    succeed; its JSON report."""
    import json

    from click.testing import CliRunner

    from lifecycle.cli import main

    result = CliRunner().invoke(main, ["--json", "--quiet", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)
