"""`lifecycle forget`: erase users from the workspace (:mod:`features.erasure` does it)."""

from __future__ import annotations

from typing import Any

import click

from lifecycle.cli import Context, changes_workspace, datasets, main, pass_context


@main.command()
@click.argument("user_ids", nargs=-1)
@click.option(
    "--ids-file",
    type=click.File("rb"),  # "UTF-8 with BOM", UTF-16 (features.erasure.ids_file_lines)
    help="Also the ids in this file, one a line, exactly as held ('-': standard input).",
)
@click.option(
    "--dataset", help="Only this dataset's data, features and online store [default: all]."
)
@click.option(
    "--scrub-exports",
    is_flag=True,
    help="Also rewrite registered lists outside the workspace (--out of at-risk, movers) "
    "without the users, and delete reports (report --out) and backtest scratch workspaces "
    "(backtest --out) that hold them [default: only name those files].",
)
@changes_workspace
@pass_context
def forget(
    obj: Context, user_ids: tuple[str, ...], ids_file: Any, dataset: str | None, scrub_exports: bool
) -> None:
    """Erase users from raw data copies, features, the online store, scores, lists and reports.

    Their ids in other rows' text columns become [forgotten]. Records the erasure in
    $LIFECYCLE_HOME/erasure_log.jsonl with keyed hashes of the ids (key: settings
    privacy.pseudonym_key or privacy.pseudonym_key_file, else a random
    $LIFECYCLE_HOME/.erasure_key), never the ids. Staging files left by killed writers
    are removed first. Lists written outside the workspace are checked (see --scrub-exports).
    Trained models and MLflow runs are not changed: the serving champions that learned from
    the users are named (retrain, then `lifecycle promote`); see docs/privacy.md.
    """
    from features.erasure import forget as forget_users
    from features.erasure import ids_file_lines, requested_ids

    name = getattr(ids_file, "name", "-")  # standard input: a buffer of no name
    listed = ids_file_lines(ids_file.read(), name) if ids_file else []
    _refuse_a_table_of_ids(listed, ids_file)
    ids, blank = requested_ids([*user_ids, *listed])  # 20,000 ids need no command line
    ignored = f" ({blank:,} empty id{'s' * (blank != 1)} ignored)" if blank else ""
    # ids, not users: which of them a table holds is known only once read (the summary says)
    obj.console.step(f"forgetting {len(ids):,} id{'s' * (len(ids) != 1)}{ignored}")
    record = forget_users(obj.settings, ids, dataset=dataset, scrub_exports=scrub_exports)
    obj.console.result(record.to_dict(), record.lines())
    if record.not_reached:  # an online store of earlier settings not erased: not done
        raise SystemExit(1)


def _refuse_a_table_of_ids(lines: list[str], ids_file: Any) -> None:
    """An at-risk list given as --ids-file (a spreadsheet's rows of users to erase) was read
    as one id a line, whole rows, and erased nobody: a first line of several columns, one of
    them ``user_id``, is refused in one line."""
    import re

    from features import contract as c
    from features.erasure import ErasureError

    first = next((line for line in lines if line.strip()), "")
    columns = [cell.strip().strip('"').lower() for cell in re.split(r"[,;\t]", first)]
    # a tab is in no id (ingest refuses it) but between a table's cells (CustomerID<TAB>Name)
    if len(columns) > 1 and (c.USER_ID in columns or "\t" in first):
        raise ErasureError(
            f"--ids-file {getattr(ids_file, 'name', '-')}: a table (its first line: {first[:60]}"
            f"{'...' if len(first) > 60 else ''}), not one id a line: write its "
            f"{c.USER_ID if c.USER_ID in columns else 'id'} column alone to a file, one id a "
            "line, and give that"
        )


@datasets.command("retire-store")
@click.argument("names", nargs=-1, metavar="[DATASET] HOST:PORT")
@click.option(
    "--all-datasets",
    is_flag=True,
    help="From every dataset whose record holds it (no DATASET): one server held them all.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Retire it without asking whether it answers (flushed, or its host gone).",
)
@changes_workspace
@pass_context
def datasets_retire_store(
    obj: Context, names: tuple[str, ...], all_datasets: bool, force: bool
) -> None:
    """Remove a Redis gone for good, its data with it, from the stores DATASET was
    materialized into (feast/DATASET/online_stores.jsonl), which forget and `datasets check`
    reach; with --all-datasets, from every dataset's. Refused while it answers (unless
    --force) or while the settings name it; each retirement is appended to the erasure log
    (no ids). See docs/privacy.md."""
    from features.erasure_online import retire_everywhere, retire_redis
    from lifecycle.dataset_kind import require_dataset

    if len(names) != (1 if all_datasets else 2):
        said = " ".join(names) or "nothing"
        raise click.UsageError(
            f"got {said}: give HOST:PORT alone with --all-datasets, DATASET HOST:PORT without it"
        )
    if all_datasets:
        entries = retire_everywhere(obj.settings, names[0], force)
    else:
        require_dataset(obj.settings, names[0], "datasets retire-store")
        entries = [retire_redis(obj.settings, names[0], names[1], force)]
    lines = []
    for entry in entries:
        retired = entry["retired_store"]
        lines.append(
            f"retired {retired['place']} (materialized {retired['materialized']}; "
            f"{retired['why']}): forget and datasets check no longer reach it; recorded in "
            f"{entry['log']}"
        )
    obj.console.result({"retired": entries} if all_datasets else entries[0], lines)


@datasets.command("not-ids")
@click.argument("dataset")
@click.argument("columns", nargs=-1, required=True)
@click.option("--clear", is_flag=True, help="Take the columns off the declaration.")
@changes_workspace
@pass_context
def datasets_not_ids(obj: Context, dataset: str, columns: tuple[str, ...], clear: bool) -> None:
    """Declare COLUMNS of DATASET never to hold a user's id (quantities, product codes kept as
    text): forget then leaves a value there equal to an erased id, as it leaves codes, in
    every kept version; recorded in their reports, logged, said by `datasets check`. The
    declaration is yours: a column that does name users (a referrer) keeps erased ids. See
    docs/privacy.md."""
    from features.not_ids import declare
    from lifecycle.dataset_kind import require_dataset

    require_dataset(obj.settings, dataset, "datasets not-ids")
    entry = declare(obj.settings, dataset, list(columns), clear)
    now = entry["not_id_columns"]["now"]
    obj.console.result(
        entry,
        [
            f"dataset '{dataset}': never ids now: {', '.join(now) or 'none'} (every kept "
            f"version's report); forget leaves their values; recorded in {entry['log']}"
        ],
    )
