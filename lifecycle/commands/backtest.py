"""`lifecycle backtest`: the whole pipeline run on the data up to each cutoff, its scores and
the baselines' judged against what happened after it (:mod:`lifecycle.backtest` does the
work)."""

from __future__ import annotations

from pathlib import Path

import click

from lifecycle.cli import Context, changes_workspace, main, pass_context


def _iso_dates(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple:
    """Cutoffs written YYYY-MM-DD: 01/02/2011 is refused, never read in a guessed order."""
    import re

    from lifecycle.errors import UserError

    for value in values:
        if not re.match(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ]|$)", value):
            raise UserError(f"--cutoff {value!r}: expected an ISO date YYYY-MM-DD, e.g. 2011-09-09")
    return values


@main.command()
@click.option(
    "--cutoff",
    "cutoffs",
    multiple=True,
    required=True,
    metavar="DATE",
    callback=_iso_dates,
    help="Cut the data at this date, YYYY-MM-DD (midnight UTC); repeat for rolling origins.",
)
@click.option(
    "--horizon",
    type=click.IntRange(min=1),
    metavar="DAYS",
    help="Days after the cutoff to judge by; sets every label horizon [default: settings labels].",
)
@click.option("--dataset", help="Dataset name [settings dataset].")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep plots, backtest.json and each cutoff's scratch workspace here [default: a "
    "staging folder of the workspace, removed].",
)
@click.option(
    "--resamples",
    type=click.IntRange(min=100),
    default=1000,
    show_default=True,
    help="Bootstrap resamples of users for the model-minus-baseline intervals (at least 100: "
    "a 95% interval is read from the 2.5% at each end).",
)
@changes_workspace(when=lambda kwargs: kwargs["out"] is not None)
@pass_context
def backtest(
    obj: Context,
    cutoffs: tuple[str, ...],
    horizon: int | None,
    dataset: str | None,
    out: Path | None,
    resamples: int,
) -> None:
    """Out-of-time backtest: run the whole pipeline on the data up to each cutoff, then judge
    its scores and the baselines' against what happened after it (logged to MLflow)."""
    from lifecycle.backtest import run_backtest
    from lifecycle.storage import created_path, created_words, missing_folder

    created = missing_folder(out) if out is not None else None  # made by the run: said after
    result = run_backtest(
        obj.settings,
        list(cutoffs),
        dataset=dataset,
        horizon_days=horizon,
        out=out,
        resamples=resamples,
        progress=obj.console.step,
    )
    lines = result.lines() + ([f"--out {out}{created_words(created)}"] if created else [])
    folder = {"created_folder": created_path(created)}
    obj.console.result({**result.to_dict(), **folder}, lines)
