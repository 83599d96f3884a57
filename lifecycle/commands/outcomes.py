"""The outcome loop's commands: realized quality of the prediction ledger."""

from __future__ import annotations

import click

from lifecycle.cli import Context, changes_workspace, main, pass_context
from lifecycle.grades import GRADE_HELP


@main.command(
    help=(
        "Realized quality of past predictions: label each ledger entry whose horizon has "
        "passed (with the label definition it was scored with), then per as-of date, task and "
        "model version report AUC, ECE and mean predicted vs actual (probabilities); "
        "Spearman, normalized Gini, total error and P10-P90 coverage (LTV); lift in the top "
        "decile and a grade. Entries not yet matured are listed as pending with the date "
        "they mature. The result is stored for the report and the service; nothing is "
        f"retrained.\n\n{GRADE_HELP}"
    )
)
@click.option("--dataset", help="Dataset name [settings dataset].")
@changes_workspace
@pass_context
def outcomes(obj: Context, dataset: str | None) -> None:
    from lifecycle.outcomes import compute_outcomes

    result = compute_outcomes(obj.settings, dataset, progress=obj.console.step)
    obj.console.result(result.to_dict(), result.lines())
