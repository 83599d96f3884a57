"""`lifecycle train-uplift`: who can be saved, learned from a randomized campaign table."""

from __future__ import annotations

import click

from lifecycle.cli import Context, main, pass_context


@main.command("train-uplift")
@click.option("--dataset", required=True, help="Dataset with a campaign table, e.g. hillstrom.")
@click.option(
    "--outcome",
    type=click.Choice(["visit", "conversion", "spend"]),
    default="visit",
    show_default=True,
    help="The campaign outcome whose change the model predicts.",
)
@click.option(
    "--arm",
    help="Count only this arm as treated (e.g. 'Mens E-Mail') [default: every treated arm].",
)
@click.option(
    "--bootstrap-draws",
    type=click.IntRange(20, 5000),
    default=200,
    show_default=True,
    help="Paired bootstrap draws (customers resampled) for the test intervals.",
)
@pass_context
def train_uplift_command(
    obj: Context, dataset: str, outcome: str, arm: str | None, bootstrap_draws: int
) -> None:
    """Fit T-, X- and transformed-outcome uplift learners with LightGBM, judge them on a
    held-out split by Qini and AUUC against random and response-model targeting (paired
    bootstrap intervals), register the best as <dataset>-uplift; it becomes champion only
    if its Qini interval is above random's and above the response model's."""
    from training.uplift import train_uplift

    result = train_uplift(
        obj.settings,
        dataset,
        outcome,
        arm=arm,
        draws=bootstrap_draws,
        progress=obj.console.step,
    )
    obj.console.result(result.to_dict(), result.lines())
