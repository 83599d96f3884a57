"""`lifecycle datasets history|check|restore`: a dataset's kept versions, the cells an
erasure damaged, and pointing a dataset at a kept version again. The listing itself is the
`datasets` group's own callback (:mod:`lifecycle.cli`)."""

from __future__ import annotations

import click

from lifecycle.cli import Context, changes_workspace, datasets, pass_context


@datasets.command("history")
@click.argument("dataset", required=False)
@pass_context
def datasets_history(obj: Context, dataset: str | None) -> None:
    """The kept versions of a dataset, newest first (* the current one)."""
    from features.dataset_versions import versions
    from lifecycle.dataset_kind import require_dataset

    name = dataset or obj.settings.dataset
    require_dataset(obj.settings, name, "datasets history")  # a misspelt name: exit 1, not 0
    found = list(versions(obj.settings.workspace.dataset_dir(name)))
    lines = [f"dataset '{name}': {len(found)} version{'s' * (len(found) != 1)} kept"] + [
        v.line() for v in found
    ]
    if not found:
        lines = [f"dataset '{name}' has no versions: ingest or import it first"]
    obj.console.result({"dataset": name, "versions": [v.to_dict() for v in found]}, lines)


DATASETS_CHECK_EXIT_HELP = (
    "Exit status: 0 no cell of a dataset's current version damaged (damage kept only in older "
    "versions is said), 3 cells of a current version, of its quarantine or of a scores table "
    "or ledger file of it damaged by an erasure, 1 a dataset or a place of it (an online store "
    "that cannot be reached) could not be read: not checked, the others still are."
)


@datasets.command("check", epilog=DATASETS_CHECK_EXIT_HELP)
@click.argument("dataset", required=False)
@pass_context
@click.pass_context
def datasets_check(ctx: click.Context, obj: Context, dataset: str | None) -> None:
    """Cells an erasure damaged: `[forgotten]` in place of a number or code (a `forget`
    before 2026-12-07 of an id that was no user redacted those too), in each dataset (or
    DATASET), its kept versions, quarantine, scores tables and ledger, with the source
    files to ingest again. Reads every table; changes nothing but the record of the Redis
    stores a dataset was written into, when it reaches one not yet recorded."""
    from features.redacted_cells import check_workspace
    from lifecycle.dataset_kind import require_dataset

    root = obj.settings.workspace.home / "datasets"
    if dataset is not None:
        require_dataset(obj.settings, dataset, "datasets check")
    found, lines = check_workspace(obj.settings, dataset)
    obj.console.result({"datasets": found}, lines or [f"no datasets in {root}"])
    if any("error" in each or each.get("not_checked") for each in found):
        ctx.exit(1)
    if any(each.get("damaged") or each.get("damaged_outside") for each in found):
        ctx.exit(3)


@datasets.command("restore")
@click.argument("version")
@changes_workspace
@pass_context
def datasets_restore(obj: Context, version: str) -> None:
    """Point a dataset at one of its kept versions again (VERSION from `datasets history`,
    e.g. demo@20260101T120000-ab12cd34). Features, models and scores then refuse as stale
    until rebuilt (`lifecycle refresh`)."""
    from features.dataset_versions import restore

    name = version.split("@", 1)[0]
    done = restore(obj.settings.workspace.dataset_dir(name), version)
    obj.console.result(
        {"dataset": name, "version": done.to_dict()},
        [f"dataset '{name}' now points to {done.version}", done.line()],
    )
