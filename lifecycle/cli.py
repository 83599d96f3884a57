"""The ``lifecycle`` command: a thin layer over the stages' functions.

Heavy libraries (pandas, Feast, MLflow, LightGBM) are imported inside the commands so
that ``lifecycle --help`` answers at once.
"""

from __future__ import annotations

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
    """The main job on the embedded default: demo data -> validated dataset."""
    demo = _generate_demo(obj, users, seed, out=None)
    summary = _ingest_demo(obj, Path(demo["out_dir"]))
    obj.console.result(
        {"demo": demo, "dataset": summary.to_dict()},
        [
            f"demo data: {demo['users']:,} users, {demo['events']:,} events in {demo['out_dir']}",
            *summary.lines(),
        ],
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
    )


@main.command()
@click.argument("events", type=click.Path(path_type=Path))
@click.option(
    "--users",
    "users_file",
    type=click.Path(path_type=Path),
    help="Optional users table (CSV or Parquet).",
)
@click.option("--dataset", default=None, help="Dataset name in the workspace [settings dataset].")
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
@click.option("--negative-is-refund", is_flag=True, help="Negative purchase amounts are refunds.")
@click.option(
    "--allow-negative", is_flag=True, help="Keep negative amounts instead of quarantining them."
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
    negative_is_refund: bool,
    allow_negative: bool,
    timezone: str,
    time_format: str | None,
) -> None:
    """Validate an events file (CSV or Parquet) into a dataset; bad rows go to quarantine."""
    from features.contract import ColumnMapping
    from features.ingest import ingest_events

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
    name = dataset or obj.settings.dataset
    obj.console.step(f"validating {events}" + (f" and {users_file}" if users_file else ""))
    summary = ingest_events(
        events,
        obj.settings.workspace.dataset_dir(name),
        mapping=mapping,
        users_path=users_file,
        users_mapping=users_mapping,
        max_bad_fraction=obj.settings.ingest.max_bad_fraction,
        allow_negative_amounts=allow_negative or obj.settings.ingest.allow_negative_amounts,
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
@pass_context
def features_build(obj: Context, dataset: str | None) -> None:
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
    """Register the Feast entity, feature views and feature services (churn_v1, conversion_v1, ltv_v1)."""
    from features.store import apply

    obj.console.step("applying the Feast repository")
    summary = apply(obj.settings, dataset)
    obj.console.result(
        summary,
        [
            f"Feast repository {summary['repo']}",
            f"  feature views: {', '.join(summary['feature_views'])}",
            f"  feature services: {', '.join(summary['feature_services'])}",
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
    """Make a model version the champion by hand, overriding the gate, with a recorded reason."""
    from training.pipeline import promote as promote_version

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
    from training.pipeline import list_models

    rows = list_models(obj.settings, dataset)
    lines = []
    for r in rows:
        headline = ", ".join(
            f"{k} {v:.4f}"
            for k, v in r["metrics"].items()
            if k in ("auc", "pr_auc", "ece", "normalized_gini", "spearman")
        )
        aliases = f" [{', '.join(r['aliases'])}]" if r["aliases"] else ""
        lines.append(f"{r['model']} v{r['version']}{aliases} test {r['test_cutoff']}: {headline}")
    obj.console.result(
        {"models": rows}, lines or ["no registered models: run `lifecycle train all`"]
    )
