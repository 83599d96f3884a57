"""``lifecycle refresh``: append the new files, then run the steps whose inputs moved on."""

from __future__ import annotations

from pathlib import Path

import click

from lifecycle.cli import Context, changes_workspace, main, pass_context
from lifecycle.commands.data import KEEP_REPEATS


@main.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--dataset", help="Dataset name [settings dataset].")
@click.option(
    "--users",
    "users_file",
    type=click.Path(path_type=Path),
    help="A users file updating the users table (with the last events file).",
)
@click.option(
    "--source",
    type=click.Choice(["online-retail"]),
    help="The files are in this public data set's own format (e.g. a later month of "
    "online-retail's invoice lines): read them with its adapter, as `import --append` does.",
)
@KEEP_REPEATS
@click.option(
    "--reload-url",
    envvar="LIFECYCLE_RELOAD_URL",  # settings.RELOAD_URL_ENV (not imported: --help stays fast)
    metavar="URL",
    callback=lambda ctx, param, url: _checked_reload_url(url),
    help="A running service to reload when models or scores changed, e.g. "
    "http://127.0.0.1:3000 [env LIFECYCLE_RELOAD_URL].",
)
@click.option(
    "--accept-definition-change",
    metavar="REASON",
    help="Let retrained models whose label definition changed replace the champions.",
)
@changes_workspace
@pass_context
def refresh(
    obj: Context,
    files: tuple[Path, ...],
    dataset: str | None,
    users_file: Path | None,
    source: str | None,
    keep_repeats: bool | None,
    reload_url: str | None,
    accept_definition_change: str | None,
) -> None:
    """New events files (contract columns) appended, then build, apply, materialize, train,
    gate, score, report and reload, each step skipped when what it made is current.

    Exit codes: 0 done or all current (a retrained model that did not beat its champion
    included: the champion still serves, named in --json's not_promoted), 1 a step refused
    or failed (the message names the command to run), 3 done but a task could not be
    trained yet, no champion serves it, or its challenger was held back for a changed label
    definition (see --accept-definition-change), 130 (Ctrl-C) or 143 (SIGTERM) stopped
    mid-way, the steps done kept. For cron and systemd timers see docs/refresh.md.
    """
    import sys

    from lifecycle.errors import sigterm_stops
    from lifecycle.refresh import refresh as run_refresh

    settings = obj.settings
    if dataset:
        settings = settings.model_copy(update={"dataset": dataset})
    with sigterm_stops():  # a scheduler's stop ends the refresh as Ctrl-C does, said
        result = run_refresh(
            settings,
            files,
            users=users_file,
            source=source,
            keep_repeats=keep_repeats,
            reload_url=reload_url,
            accept_definition_change=accept_definition_change,
            progress=obj.console.step,
            dataset_named=bool(dataset),
        )
    # A refusal still gives the whole document (status, step, error, exit code) with --json.
    obj.console.result(result.to_dict(), result.lines())
    if result.error is not None:
        click.echo(f"Error: {result.error}", err=True)
    if result.exit_code:
        sys.exit(result.exit_code)


def _checked_reload_url(url: str | None) -> str | None:
    from lifecycle.errors import UserError
    from lifecycle.refresh_reload import check_reload_url

    try:
        return check_reload_url(url)
    except UserError as error:
        raise click.BadParameter(str(error)) from None
