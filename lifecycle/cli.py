"""The ``lifecycle`` command: a thin layer over the stages' functions.

Heavy libraries (pandas, Feast, MLflow, LightGBM) are imported inside the commands so
that ``lifecycle --help`` answers at once.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from lifecycle.console import Console, emit_error
from lifecycle.errors import UserError
from lifecycle.settings import Settings, load_settings


@dataclass
class Context:
    settings: Settings
    console: Console


class LifecycleGroup(click.Group):
    """Turns errors a user can act on into one clear line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as error:
            as_json = bool(ctx.params.get("as_json"))
            emit_error(as_json, str(error))


pass_context = click.make_pass_decorator(Context)


@click.group(cls=LifecycleGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="LIFECYCLE_HOME",
    help="Workspace directory for everything a run produces [env LIFECYCLE_HOME; default ./workspace].",
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="LIFECYCLE_CONFIG",
    help="Settings file (TOML) [env LIFECYCLE_CONFIG; default $LIFECYCLE_HOME/lifecycle.toml].",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the result as JSON (progress stays on stderr)."
)
@click.option("--quiet", "-q", is_flag=True, help="No progress lines.")
@click.version_option(package_name="lifecycle")
@click.pass_context
def main(
    ctx: click.Context, home: Path | None, config: Path | None, as_json: bool, quiet: bool
) -> None:
    """Lifecycle: churn, conversion and LTV scores for every user, and the lists to act on.

    Start with `lifecycle run`: it generates the demo product's data and takes it
    through the pipeline. Every command has --help.
    """
    settings = load_settings(config=config, home=home)
    ctx.obj = Context(settings=settings, console=Console(as_json=as_json, quiet=quiet))


@main.command()
@click.option(
    "--users", type=click.IntRange(min=10), help="Demo users to generate [settings demo.users]."
)
@click.option("--seed", type=int, help="Random seed [settings demo.seed].")
@pass_context
def run(obj: Context, users: int | None, seed: int | None) -> None:
    """The main job on the embedded default: demo data -> features -> models -> list and report."""
    from features.asof import build_feature_table
    from features.store import apply, materialize, store_paths
    from training.pipeline import train_task

    settings = obj.settings.model_copy(update={"dataset": "demo"})
    demo = _generate_demo(obj, users, seed, out=None)
    summary = _ingest_demo(obj, Path(demo["out_dir"]))
    lines = [
        f"demo data: {demo['users']:,} users, {demo['events']:,} events in {demo['out_dir']}",
        *summary.lines(),
    ]
    obj.console.step("computing as-of features")
    data_dir = settings.workspace.dataset_dir("demo")
    table = build_feature_table(
        data_dir / "events.parquet",
        data_dir / "users.parquet",
        store_paths(settings).feature_table,
        windows=settings.features.windows_days,
        frequency=settings.features.cutoff_frequency,
    )
    lines.append(f"features: {table['rows']:,} rows over {len(table['cutoffs'])} cutoffs")
    obj.console.step("applying the Feast repository and materializing the online store")
    apply(settings)
    online = materialize(settings)
    lines.append(f"online store: {online['users']:,} users as of {online['latest_as_of']}")
    results = [
        train_task(settings, task, progress=obj.console.step)
        for task in ("churn", "conversion", "ltv")
    ]
    lines += [line for r in results for line in r.lines()]
    from serving.report import score_and_report

    operator = score_and_report(settings, top=10, echo=lines.append, progress=obj.console.step)
    obj.console.result(
        {
            "demo": demo,
            "dataset": summary.to_dict(),
            "features": table,
            "online_store": online,
            "models": [
                {"task": r.task, "version": r.version, "promoted": r.promoted, "metrics": r.metrics}
                for r in results
            ],
            "operator": operator,
        },
        lines,
    )


@main.command("demo-data")
@click.option(
    "--users", type=click.IntRange(min=10), help="Users to generate [settings demo.users]."
)
@click.option(
    "--seed", type=int, help="Random seed; the same seed gives the same bytes [settings demo.seed]."
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder [default: $LIFECYCLE_HOME/demo, then ingested as dataset 'demo'].",
)
@pass_context
def demo_data(obj: Context, users: int | None, seed: int | None, out: Path | None) -> None:
    """Generate the demo product's users, events and ground truth."""
    demo = _generate_demo(obj, users, seed, out)
    lines = [f"demo data: {demo['users']:,} users, {demo['events']:,} events in {demo['out_dir']}"]
    if out is None:
        summary = _ingest_demo(obj, Path(demo["out_dir"]))
        demo["dataset"] = summary.to_dict()
        lines += summary.lines()
    obj.console.result(demo, lines)


def _generate_demo(
    obj: Context, users: int | None, seed: int | None, out: Path | None
) -> dict[str, Any]:
    from features.demo import generate_demo

    cfg = obj.settings.demo
    users = users or cfg.users
    seed = cfg.seed if seed is None else seed
    out_dir = out or obj.settings.workspace.demo_dir()
    obj.console.step(f"generating demo data: {users:,} users, seed {seed} -> {out_dir}")
    summary = generate_demo(
        users=users,
        seed=seed,
        out_dir=out_dir,
        start=cfg.start,
        days=cfg.days,
        future_days=cfg.future_days,
        progress=obj.console.progress("simulation"),
    )
    return {
        "users": summary.users,
        "events": int(sum(summary.events_by_type.values())),
        "events_by_type": summary.events_by_type,
        "seed": seed,
        "out_dir": str(out_dir),
    }


def _ingest_demo(obj: Context, demo_dir: Path) -> Any:
    from features.contract import ColumnMapping
    from features.ingest import ingest_events

    obj.console.step("validating and ingesting demo data as dataset 'demo'")
    return ingest_events(
        demo_dir / "events.parquet",
        obj.settings.workspace.dataset_dir("demo"),
        mapping=ColumnMapping(),
        users_path=demo_dir / "users.parquet",
        max_bad_fraction=obj.settings.ingest.max_bad_fraction,
        chunk_rows=obj.settings.ingest.chunk_rows,
        memory_limit=obj.settings.ingest.memory_limit,
    )


@main.command()
@click.argument("events", type=click.Path(path_type=Path))
@click.option(
    "--users",
    "users_file",
    type=click.Path(path_type=Path),
    help="Optional users table (CSV or Parquet).",
)
@click.option(
    "--dataset",
    default=None,
    help="Dataset name in the workspace [default: the file's name, e.g. orders.csv -> orders].",
)
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="CONTRACT=SOURCE",
    help="Events column mapping, e.g. --map user_id=CustomerID --map event_time=InvoiceDate.",
)
@click.option("--users-map", multiple=True, metavar="CONTRACT=SOURCE", help="Users column mapping.")
@click.option(
    "--event-type",
    help="Event type for rows without one; a purchase log (user, time, amount) uses --event-type purchase.",
)
@click.option(
    "--amount-default",
    type=float,
    metavar="N",
    help="Amount of purchase/refund rows without one (no amount column, or an empty cell); "
    "for a count-only log --amount-default 1 makes LTV a number of purchases. Counted in "
    "report.json as amount_defaulted.",
)
@click.option("--negative-is-refund", is_flag=True, help="Negative purchase amounts are refunds.")
@click.option(
    "--allow-negative", is_flag=True, help="Keep negative amounts instead of quarantining them."
)
@click.option(
    "--keep-repeats/--no-keep-repeats",
    default=None,
    help="Keep exact repeat rows as separate events (counted as repeats_kept) instead of "
    "quarantining them as duplicate_row [settings ingest.keep_repeats; default: quarantine].",
)
@click.option(
    "--timezone", default="UTC", show_default=True, help="Zone of timestamps without an offset."
)
@click.option(
    "--time-format", help="strftime format of timestamps [default: ISO 8601 and common forms]."
)
@pass_context
def ingest(
    obj: Context,
    events: Path,
    users_file: Path | None,
    dataset: str | None,
    maps: tuple[str, ...],
    users_map: tuple[str, ...],
    event_type: str | None,
    amount_default: float | None,
    negative_is_refund: bool,
    allow_negative: bool,
    keep_repeats: bool | None,
    timezone: str,
    time_format: str | None,
) -> None:
    """Validate an events file (CSV or Parquet) into a dataset; bad rows go to quarantine.

    The file is read and checked ingest.chunk_rows rows at a time, so a file of any size
    fits in bounded memory. Without --dataset the dataset is named after the file.
    """
    import math

    from features.contract import ColumnMapping
    from features.ingest import check_dataset_name, dataset_name_from_file, ingest_events

    options = {"timezone": timezone, "time_format": time_format}
    try:
        mapping = ColumnMapping.parse(
            list(maps),
            default_event_type=event_type,
            negative_amount_is_refund=negative_is_refund,
            **options,
        )
        users_mapping = ColumnMapping.parse(list(users_map), **options)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--map") from None
    if amount_default is not None and not (math.isfinite(amount_default) and amount_default > 0):
        raise click.BadParameter(
            f"{amount_default} is not a positive number (e.g. 1)", param_hint="--amount-default"
        )
    if dataset is None:
        name = dataset_name_from_file(events)
        obj.console.step(f"dataset '{name}', named after {events.name} (--dataset NAME to choose)")
        if name != obj.settings.dataset:
            obj.console.step(
                f"the other commands work on dataset '{obj.settings.dataset}' (settings dataset) "
                f"unless given --dataset {name} or LIFECYCLE_DATASET={name}"
            )
    else:
        name = check_dataset_name(dataset)
    obj.console.step(f"validating {events}" + (f" and {users_file}" if users_file else ""))
    summary = ingest_events(
        events,
        obj.settings.workspace.dataset_dir(name),
        mapping=mapping,
        users_path=users_file,
        users_mapping=users_mapping,
        max_bad_fraction=obj.settings.ingest.max_bad_fraction,
        allow_negative_amounts=allow_negative or obj.settings.ingest.allow_negative_amounts,
        chunk_rows=obj.settings.ingest.chunk_rows,
        memory_limit=obj.settings.ingest.memory_limit,
        amount_default=amount_default,
        keep_repeats=obj.settings.ingest.keep_repeats if keep_repeats is None else keep_repeats,
    )
    obj.console.result(summary.to_dict(), summary.lines())


@main.command("import")
@click.argument("source", type=click.Choice(["online-retail", "telco-churn", "hillstrom"]))
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--dataset", help="Dataset name in the workspace [default: the source's name].")
@pass_context
def import_(obj: Context, source: str, path: Path | None, dataset: str | None) -> None:
    """Load a known public data set through its adapter (default path under settings data_root)."""
    from features.ingest import default_source_path, import_source

    path = path or default_source_path(source, obj.settings.data_root)
    name = dataset or source.replace("-", "_")
    obj.console.step(f"importing {source} from {path} as dataset '{name}'")
    summary = import_source(
        source,
        path,
        obj.settings.workspace.dataset_dir(name),
        max_bad_fraction=obj.settings.ingest.max_bad_fraction,
        chunk_rows=obj.settings.ingest.chunk_rows,
    )
    obj.console.result(summary.to_dict(), summary.lines())


@main.command()
@pass_context
def datasets(obj: Context) -> None:
    """List the datasets in the workspace with their row counts."""
    from features.ingest import read_dataset_summary

    root = obj.settings.workspace.home / "datasets"
    found = sorted(p for p in root.iterdir() if not p.name.startswith(".")) if root.is_dir() else []
    summaries = [read_dataset_summary(p) for p in found if (p / "report.json").is_file()]
    lines = [line for s in summaries for line in s.lines()] or [f"no datasets in {root}"]
    obj.console.result({"datasets": [s.to_dict() for s in summaries]}, lines)


@main.command("settings")
@pass_context
def show_settings(obj: Context) -> None:
    """Show the effective settings (defaults < file < LIFECYCLE_* variables < options)."""
    import json

    data = json.loads(obj.settings.model_dump_json())
    lines = [f"{section}: {value}" for section, value in data.items()]
    obj.console.result(data, lines)


@main.group()
def features() -> None:
    """Feature table, Feast repository and online store of a dataset."""


@features.command("build")
@click.option("--dataset", help="Dataset name [settings dataset].")
@click.option(
    "--as-of",
    "as_of",
    multiple=True,
    metavar="DATE",
    help="Extra cutoff date(s) to compute features at, e.g. for `score-all --as-of DATE`.",
)
@pass_context
def features_build(obj: Context, dataset: str | None, as_of: tuple[str, ...]) -> None:
    """Compute per-user features as of each cutoff (monthly, plus today) into the feature table."""
    from features.asof import build_feature_table
    from features.store import store_paths

    paths = store_paths(obj.settings, dataset)
    data_dir = obj.settings.workspace.dataset_dir(paths.dataset)
    events = data_dir / "events.parquet"
    if not events.is_file():
        raise UserError(
            f"dataset '{paths.dataset}' has no events at {events}: ingest or import it first"
        )
    users = data_dir / "users.parquet"
    obj.console.step(f"computing as-of features for dataset '{paths.dataset}'")
    summary = build_feature_table(
        events,
        users if users.is_file() else None,
        paths.feature_table,
        windows=obj.settings.features.windows_days,
        frequency=obj.settings.features.cutoff_frequency,
        extra_cutoffs=as_of,
    )
    obj.console.result(
        summary,
        [
            f"feature table {summary['path']}: {summary['rows']:,} rows, {summary['users']:,} users, "
            f"{len(summary['cutoffs'])} cutoffs {summary['cutoffs'][0]} .. {summary['cutoffs'][-1]}"
        ],
    )


@features.command("apply")
@click.option("--dataset", help="Dataset name [settings dataset].")
@pass_context
def features_apply(obj: Context, dataset: str | None) -> None:
    """Register the Feast entity, feature views and feature services. A task's service holds
    exactly the current features; a changed feature set adds the next version (churn_v2, ...)
    and earlier versions stay for the models trained on them."""
    from features.store import apply

    obj.console.step("applying the Feast repository")
    summary = apply(obj.settings, dataset)
    obj.console.result(
        summary,
        [
            f"Feast repository {summary['repo']}",
            f"  feature views: {', '.join(summary['feature_views'])}",
            f"  feature services: {', '.join(summary['feature_services'])}",
            f"  new feature services: {', '.join(summary['new_services']) or 'none'}",
        ],
    )


@features.command("materialize")
@click.option("--dataset", help="Dataset name [settings dataset].")
@pass_context
def features_materialize(obj: Context, dataset: str | None) -> None:
    """Load every user's latest features into the online store."""
    from features.store import materialize

    obj.console.step("materializing the latest features into the online store")
    summary = materialize(obj.settings, dataset)
    obj.console.result(
        summary,
        [
            f"online store: {summary['users']:,} users as of {summary['latest_as_of']} ({summary['seconds']} s)"
        ],
    )


@features.command("show")
@click.argument("user_ids", nargs=-1, required=True)
@click.option("--dataset", help="Dataset name [settings dataset].")
@click.option(
    "--service", "service_name", default="churn_v1", show_default=True, help="Feature service."
)
@pass_context
def features_show(
    obj: Context, user_ids: tuple[str, ...], dataset: str | None, service_name: str
) -> None:
    """Show users' online features (unknown users are reported as not found)."""
    from features.store import online_features, open_store

    online = online_features(open_store(obj.settings, dataset), list(user_ids), service_name)
    records = online.frame.assign(found=online.found).to_dict(orient="records")
    lines = []
    for record in records:
        status = "" if record["found"] else "  (not found in the online store)"
        lines.append(f"{record['user_id']}{status}")
        if record["found"]:
            lines += [f"  {k}: {v}" for k, v in record.items() if k not in ("user_id", "found")]
    obj.console.result({"users": records}, lines)


TASK_CHOICE = click.Choice(["churn", "conversion", "ltv", "all"])


@main.command()
@click.argument("task", type=TASK_CHOICE)
@click.option("--dataset", help="Dataset name [settings dataset].")
@pass_context
def train(obj: Context, task: str, dataset: str | None) -> None:
    """Train, evaluate against baselines, track in MLflow, register, and gate promotion."""
    from training.pipeline import train_task

    tasks = ["churn", "conversion", "ltv"] if task == "all" else [task]
    results = [
        train_task(obj.settings, t, dataset=dataset, progress=obj.console.step) for t in tasks
    ]
    obj.console.result(
        {
            "models": [
                {
                    "task": r.task,
                    "model": r.model_name,
                    "version": r.version,
                    "run_id": r.run_id,
                    "promoted": r.promoted,
                    "gate": r.gate,
                    "metrics": r.metrics,
                    "split": r.split.to_dict(),
                }
                for r in results
            ]
        },
        [line for r in results for line in r.lines()],
    )


@main.command()
@click.argument("task", type=click.Choice(["churn", "conversion", "ltv"]))
@click.argument("version")
@click.option(
    "--reason", required=True, help="Why this version should serve (recorded on the version)."
)
@click.option("--dataset", help="Dataset name [settings dataset].")
@pass_context
def promote(obj: Context, task: str, version: str, reason: str, dataset: str | None) -> None:
    """Make a model version (or `challenger`) the champion by hand, overriding the gate, with a
    recorded reason. A running service picks it up on POST /reload (or use POST /promote)."""
    from lifecycle.registry import challenger_version
    from lifecycle.registry import promote as promote_version

    if version == "challenger":
        version = challenger_version(obj.settings, task, dataset)
    done = promote_version(obj.settings, task, version, reason, dataset)
    obj.console.result(
        done,
        [
            f"{done['model']}: champion is now v{done['champion']} (was {done['previous']}): {reason}"
        ],
    )


@main.command()
@click.option("--dataset", help="Dataset name [settings dataset].")
@pass_context
def models(obj: Context, dataset: str | None) -> None:
    """List registered model versions with aliases and headline test metrics."""
    from training.tracking import list_models

    rows = list_models(obj.settings, dataset)
    lines = []
    for r in rows:
        headline = ", ".join(
            f"{k} {v:.4f}"
            for k, v in r["metrics"].items()
            if k in ("auc", "pr_auc", "ece", "normalized_gini", "spearman")
        )
        aliases = f" [{', '.join(r['aliases'])}]" if r["aliases"] else ""
        kind = "" if r["kind"] == "lightgbm" else f" (baseline {r['kind']})"
        lines.append(
            f"{r['model']} v{r['version']}{kind}{aliases} test {r['test_cutoff']}: {headline}"
        )
    obj.console.result(
        {"models": rows}, lines or ["no registered models: run `lifecycle train all`"]
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=3000, show_default=True, type=click.IntRange(1, 65535), help="Port."
)
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Worker processes."
)
@pass_context
def serve(obj: Context, host: str, port: int, workers: int) -> None:
    """Serve the champion models over HTTP (BentoML): POST /score, /score_features, /at_risk,
    /models, and the admin calls /reload and /promote.

    With several workers, /reload reaches one of them: set serving.poll_aliases_seconds so
    every worker follows the champion alias.
    """
    import os
    import sys

    root = click.get_current_context().find_root().params
    env = {
        **os.environ,
        "LIFECYCLE_HOME": str(obj.settings.home.resolve()),
        "BENTOML_DO_NOT_TRACK": "true",
    }
    if root.get("config"):
        env["LIFECYCLE_CONFIG"] = str(Path(root["config"]).resolve())
    if workers > 1:
        env["BENTOML_CONFIG_OPTIONS"] = f"services.lifecycle_scoring.workers={workers}"
    from serving.launch import bentoml_command

    command = bentoml_command(host, port)
    command += ["--working-dir", str(Path(__file__).resolve().parents[1])]
    obj.console.step(
        f"serving on http://{host}:{port} ({workers} worker(s)); ready at /readyz, API docs at /"
    )
    os.execve(sys.executable, command, env)


@main.command("train-snapshot")
@click.option(
    "--dataset",
    default="telco_churn",
    show_default=True,
    help="A snapshot dataset (one row per user with its own label), e.g. from `lifecycle import telco-churn`.",
)
@click.option("--folds", type=click.IntRange(min=2), default=5, show_default=True, help="CV folds.")
@click.option("--label", default="label", show_default=True, help="The 0/1 label column.")
@pass_context
def train_snapshot(obj: Context, dataset: str, folds: int, label: str) -> None:
    """Churn from a snapshot table: cross-validated LightGBM vs baselines, then track, register, gate."""
    from training.snapshot import train_snapshot as train

    result = train(obj.settings, dataset, folds=folds, label=label, progress=obj.console.step)
    obj.console.result(
        {
            "model": result.model_name,
            "version": result.version,
            "run_id": result.run_id,
            "promoted": result.promoted,
            "gate": result.gate,
            "folds": result.cv.folds,
            "rows": result.cv.rows,
            "cv": result.cv.summary(),
            "beats_baseline": result.cv.beats_every_baseline(),
        },
        result.lines(),
    )


@main.command()
@click.option(
    "--cutoff",
    "cutoffs",
    multiple=True,
    required=True,
    metavar="DATE",
    help="Cut the data at this date (midnight UTC); repeat for rolling origins.",
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
    help="Keep plots, backtest.json and each cutoff's scratch workspace here [default: a temporary folder].",
)
@click.option(
    "--resamples",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Bootstrap resamples of users for the model-minus-baseline intervals.",
)
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

    result = run_backtest(
        obj.settings,
        list(cutoffs),
        dataset=dataset,
        horizon_days=horizon,
        out=out,
        resamples=resamples,
        progress=obj.console.step,
    )
    obj.console.result(result.to_dict(), result.lines())


# -- operator lists (issue 6): batch scores, at-risk list, movers, segments, report ------------


PSEUDONYMIZE_HELP = (
    "Keyed pseudonyms instead of user ids (key: settings privacy.pseudonym_key, e.g. "
    "LIFECYCLE_PRIVACY__PSEUDONYM_KEY, or privacy.pseudonym_key_file)."
)


def _privacy(obj: Context, pseudonymize: bool, allow_columns: tuple[str, ...]) -> Any:
    from serving.lists import Privacy

    return Privacy.from_settings(obj.settings, pseudonymize, allow_columns)


def _list_options(function: Any) -> Any:
    """Options shared by `at-risk` and `movers`: filters, output, control group, privacy."""
    options = [
        click.option(
            "--top",
            "top",
            type=click.IntRange(min=1),
            default=100,
            show_default=True,
            help="Rows in the list.",
        ),
        click.option("--segment", help="RFM segment, e.g. champions, loyal, at_risk."),
        click.option("--stage", help="Lifecycle stage, e.g. active, at_risk, silent."),
        click.option("--channel", help="Acquisition channel."),
        click.option("--min-ltv", type=float, help="Only users with predicted LTV at least this."),
        click.option(
            "--min-churn",
            type=click.FloatRange(0, 1),
            help="Only users with churn probability at least this.",
        ),
        click.option(
            "--format",
            "fmt",
            type=click.Choice(["csv", "parquet"]),
            help="File format of --out [default: from its suffix, else csv].",
        ),
        click.option(
            "--out",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Write the list to this file instead of printing it.",
        ),
        click.option(
            "--control-share",
            type=click.FloatRange(0, 1, max_open=True),
            default=0.1,
            show_default=True,
            help="Share of all scored users held out as the control group.",
        ),
        click.option(
            "--seed",
            type=int,
            default=0,
            show_default=True,
            help="Control-group seed: same seed, same group.",
        ),
        click.option(
            "--pseudonymize",
            is_flag=True,
            help=PSEUDONYMIZE_HELP,
        ),
        click.option(
            "--allow-column",
            "allow_columns",
            multiple=True,
            metavar="COLUMN",
            help="Also include this personal column (e.g. country); repeatable.",
        ),
    ]

    @functools.wraps(function)
    def collect(
        *args: Any,
        top: int,
        segment: str | None,
        stage: str | None,
        channel: str | None,
        min_ltv: float | None,
        min_churn: float | None,
        fmt: str | None,
        out: Path | None,
        control_share: float,
        seed: int,
        pseudonymize: bool,
        allow_columns: tuple[str, ...],
        **rest: Any,
    ) -> Any:
        from serving.lists import Filters

        request = ListRequest(
            top,
            Filters(segment, stage, channel, min_ltv, min_churn),
            fmt,
            out,
            control_share,
            seed,
            pseudonymize,
            allow_columns,
        )
        return function(*args, request=request, **rest)

    for option in reversed(options):
        collect = option(collect)
    return collect


@dataclass(frozen=True)
class ListRequest:
    """What `at-risk` and `movers` were asked for by the shared options."""

    top: int
    filters: Any  # serving.lists.Filters
    fmt: str | None
    out: Path | None
    control_share: float
    seed: int
    pseudonymize: bool
    allow_columns: tuple[str, ...]

    def privacy(self, obj: Context) -> Any:
        return _privacy(obj, self.pseudonymize, self.allow_columns)


def _emit_list(
    obj: Context, rows: Any, title: str, request: ListRequest, data: dict[str, Any]
) -> None:
    from serving.lists import export, format_rows

    out = request.out
    if out is not None:
        export(rows, out, request.fmt)
        obj.console.result(
            {**data, "out": str(out), "rows": len(rows)}, [f"{title}: {len(rows):,} rows -> {out}"]
        )
        return
    records = rows.astype(object).where(rows.notna(), None).to_dict(orient="records")
    obj.console.result({**data, "rows": records}, [title, *format_rows(rows)])


@main.command("score-all")
@click.option(
    "--as-of", "as_of", metavar="DATE", help="A cutoff of the feature table [default: its latest]."
)
@click.option("--dataset", help="Dataset name [settings dataset].")
@click.option(
    "--reasons-top",
    type=click.IntRange(min=0),
    default=5_000,
    show_default=True,
    help="Churn reasons for the top N users of each ranking (0: for every churn-eligible user).",
)
@click.option(
    "--allow-partial", is_flag=True, help="Write the table even when a task has no usable champion."
)
@pass_context
def score_all(
    obj: Context, as_of: str | None, dataset: str | None, reasons_top: int, allow_partial: bool
) -> None:
    """Score every known user with the champion models into one Parquet scores table."""
    from serving.batch import score_all as run_scoring

    result = run_scoring(
        obj.settings,
        as_of,
        dataset=dataset,
        reasons_top=reasons_top or None,
        allow_partial=allow_partial,
        progress=obj.console.step,
    )
    obj.console.result(result.to_dict(), result.lines())


@main.command("at-risk")
@_list_options
@click.option(
    "--rank-by",
    type=click.Choice(["value_at_risk", "churn_probability", "ltv"]),
    default="value_at_risk",
    show_default=True,
)
@click.option(
    "--scores",
    "scores_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Scores table [default: scores_dir/latest.parquet].",
)
@pass_context
def at_risk_list(
    obj: Context, request: ListRequest, rank_by: str, scores_path: Path | None
) -> None:
    """Today's at-risk users ranked by value at risk, with reasons and a control-group flag."""
    from serving.batch import latest_scores, read_scores
    from serving.lists import at_risk, list_rows

    privacy = request.privacy(obj)
    table = read_scores(scores_path) if scores_path else latest_scores(obj.settings)
    ranked = at_risk(
        table.frame,
        request.filters,
        rank_by=rank_by,
        limit=request.top,
        control_share=request.control_share,
        seed=request.seed,
    )
    rows = list_rows(ranked, privacy, table.metadata.get("personal_columns", []))
    title = (
        f"top {len(rows)} users by {rank_by.replace('_', ' ')} as of {table.as_of} ({table.path})"
    )
    _emit_list(
        obj,
        rows,
        title,
        request,
        {"as_of": table.as_of, "scores": str(table.path), "rank_by": rank_by},
    )


@main.command()
@_list_options
@click.option(
    "--by",
    type=click.Choice(["value_at_risk", "churn_probability"]),
    default="value_at_risk",
    show_default=True,
    help="The score whose rise ranks the list.",
)
@pass_context
def movers(obj: Context, request: ListRequest, by: str) -> None:
    """Users whose churn risk or value at risk rose the most since the previous scores table."""
    from serving.batch import latest_scores, previous_scores
    from serving.lists import MOVER_FIELDS, list_rows
    from serving.lists import movers as find_movers

    privacy = request.privacy(obj)
    latest, previous = latest_scores(obj.settings), previous_scores(obj.settings)
    ranked = find_movers(
        latest.frame,
        previous.frame,
        by=by,
        limit=request.top,
        filters=request.filters,
        control_share=request.control_share,
        seed=request.seed,
    )
    rows = list_rows(
        ranked, privacy, latest.metadata.get("personal_columns", []), extra=MOVER_FIELDS
    )
    title = f"top {len(rows)} risers in {by.replace('_', ' ')}: {previous.as_of} ({previous.path.name}) -> {latest.as_of} ({latest.path.name})"
    _emit_list(
        obj,
        rows,
        title,
        request,
        {"latest": str(latest.path), "previous": str(previous.path), "by": by},
    )


@main.command()
@click.option(
    "--as-of",
    "as_of",
    metavar="DATE",
    help="Date of the segments [default: the latest scores table's].",
)
@click.option("--dataset", help="Dataset name [settings dataset].")
@pass_context
def segments(obj: Context, as_of: str | None, dataset: str | None) -> None:
    """Sizes and value shares of lifecycle stages, RFM segments and super users as of a date."""
    import pandas as pd

    from serving.batch import find_scores, latest_scores, score_all
    from serving.segments import SuperUserDefinition, segment_summary, super_users

    if as_of is None:
        table = latest_scores(obj.settings)
        frame, date = table.frame, table.as_of
    else:
        stamp = pd.Timestamp(as_of)
        found = find_scores(obj.settings, stamp)
        if found is not None:
            frame, date = found.frame, found.as_of
        else:
            obj.console.step(f"no scores table as of {as_of}: scoring in memory (nothing written)")
            result = score_all(
                obj.settings,
                as_of,
                dataset=dataset,
                write=False,
                reasons_top=0,
                progress=obj.console.step,
            )
            frame, date = result.scores, f"{result.as_of:%Y-%m-%d}"
    data: dict[str, Any] = {"as_of": date, "users": len(frame)}
    lines = [f"segments as of {date}: {len(frame):,} users"]
    for column, title in (("lifecycle_stage", "lifecycle stages"), ("segment", "RFM segments")):
        summary = segment_summary(frame, column, ("revenue", "ltv"))
        data[column] = summary.to_dict(orient="records")
        lines.append(f"{title}:")
        for r in summary.to_dict(orient="records"):
            shares = ", ".join(
                f"{k.removesuffix('_share')} {r[k]:.1%}"
                for k in ("revenue_share", "ltv_share")
                if k in r and pd.notna(r[k])
            )
            lines.append(
                f"  {r[column]:<14} {r['users']:>9,} users ({r['user_share']:.1%}); share of {shares}"
            )
    data["super_users"] = {}
    for value in ("revenue", "ltv"):
        if value in frame:
            found_supers = super_users(frame, SuperUserDefinition(value_column=value))
            data["super_users"][value] = {
                "users": found_supers.users,
                "value_share": found_supers.value_share,
            }
            lines.append(
                f"super users (top {found_supers.definition.top_share:.0%} by {value}): {found_supers.users:,} users "
                f"bring {found_supers.value_share:.1%} of it"
            )
    obj.console.result(data, lines)


@main.command()
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="HTML file [default: reports_dir/report-<dataset>-<as_of>.html].",
)
@click.option(
    "--top", type=click.IntRange(min=1), default=20, show_default=True, help="At-risk rows shown."
)
@click.option(
    "--pseudonymize",
    is_flag=True,
    help=PSEUDONYMIZE_HELP,
)
@pass_context
def report(obj: Context, out: Path | None, top: int, pseudonymize: bool) -> None:
    """One self-contained HTML report of the latest scores and the champions' quality."""
    from serving.report import build_report

    obj.console.step("building the report from the latest scores table")
    built = build_report(obj.settings, out, top=top, privacy=_privacy(obj, pseudonymize, ()))
    obj.console.result(
        {"path": str(built.path), "images": built.images, "sections": built.sections},
        [f"report: {built.path} ({built.images} plots)"],
    )


@main.command()
@click.argument("user_ids", nargs=-1, required=True)
@click.option(
    "--dataset", help="Only this dataset's data, features and online store [default: all]."
)
@pass_context
def forget(obj: Context, user_ids: tuple[str, ...], dataset: str | None) -> None:
    """Erase users from raw data copies, features, the online store, scores, lists and reports.

    Records the erasure in $LIFECYCLE_HOME/erasure_log.jsonl with keyed hashes of the ids
    (key: settings privacy.pseudonym_key or privacy.pseudonym_key_file, else a random
    $LIFECYCLE_HOME/.erasure_key), never the ids. Staging files left by killed writers
    are removed first.
    """
    from features.erasure import forget as forget_users

    obj.console.step(f"forgetting {len(user_ids)} user(s)")
    record = forget_users(obj.settings, list(user_ids), dataset=dataset)
    obj.console.result(record.to_dict(), record.lines())
