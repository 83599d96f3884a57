"""`lifecycle monitor`: drift of the champions' inputs and scores, for cron or an orchestrator."""

from __future__ import annotations

import click

from lifecycle.cli import Context, changes_workspace, main, pass_context
from lifecycle.console import Console

EXIT_CODES_HELP = (
    "Exit status: 0 no drift, 3 some input or score drifts past the thresholds "
    "(settings monitor.*), 1 drift could not be measured."
)


@main.command(epilog=EXIT_CODES_HELP)
@click.option("--dataset", help="Dataset name [settings dataset].")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@changes_workspace
@pass_context
@click.pass_context
def monitor(ctx: click.Context, obj: Context, dataset: str | None, as_json: bool) -> None:
    """PSI and a two-sample test (KS, chi-square) for every model input and score: the
    training window against the latest cutoff; the drifting ones named."""
    from serving.drift_results import save_result
    from serving.monitor import EXIT_DRIFT, monitor

    console = obj.console
    if as_json and not console.as_json:
        console = Console(as_json=True, quiet=console.quiet)
        ctx.find_root().params["as_json"] = True  # errors as JSON too
    console.step("comparing the champions' inputs and scores with their training window")
    result = monitor(obj.settings, dataset)
    path = save_result(obj.settings, result)
    console.result(result.to_dict() | {"saved": str(path)}, result.lines())
    if result.alerting:
        ctx.exit(EXIT_DRIFT)
