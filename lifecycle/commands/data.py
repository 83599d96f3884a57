"""Commands that make data: the main job, demo data, ingest, import, refresh."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from lifecycle.cli import Context, changes_workspace, main, pass_context
from lifecycle.words import CUTOFFS, EVENTS, ROWS, counted
from lifecycle.workspace import DEMO_DATASET, EVENTS_FILE, USERS_FILE


def date_order_option(words: str, default: str | None = "auto") -> Any:
    """``--date-order`` of ingest and import: how a numeric date such as 01/02/2023 reads
    (the orders of features.time_parsing.DATE_ORDERS, not imported here: `--help` stays fast)."""
    return click.option(
        "--date-order",
        type=click.Choice(["auto", "dayfirst", "monthfirst"]),
        default=default,
        show_default=default is not None,
        help=words,
    )


# ingest's and import's: exact repeats are separate events, or duplicate_row
KEEP_REPEATS = click.option(
    "--keep-repeats/--no-keep-repeats",
    default=None,
    help="Keep exact repeat rows as separate events (counted as repeats_kept) instead of "
    "quarantining them as duplicate_row [settings ingest.keep_repeats; an append: as the "
    "dataset's were read; default: quarantine].",
)


@main.command()
@click.option(
    "--users", type=click.IntRange(min=10), help="Demo users to generate [settings demo.users]."
)
@click.option("--seed", type=int, help="Random seed [settings demo.seed].")
@changes_workspace
@pass_context
def run(obj: Context, users: int | None, seed: int | None) -> None:
    """The main job on the embedded default: demo data -> features -> models -> list and report."""
    from lifecycle import steps

    settings = obj.settings.model_copy(update={"dataset": "demo"})
    demo = _generate_demo(obj, users, seed, out=None)
    summary = _ingest_demo(obj, Path(demo["out_dir"]))
    lines = [
        f"demo data: {counted(demo['users'])}, {counted(demo['events'], EVENTS)} in {demo['out_dir']}",
        *summary.lines(),
    ]
    obj.console.step("computing as-of features")
    table = steps.build_features(settings)
    lines.append(
        f"features: {counted(table['rows'], ROWS)} over {counted(len(table['cutoffs']), CUTOFFS)}"
    )
    obj.console.step("applying the Feast repository and materializing the online store")
    online = steps.publish_features(settings)["online_store"]
    lines.append(f"online store: {counted(online['users'])} as of {online['latest_as_of']}")
    done = steps.train_tasks(settings, progress=obj.console.step)
    lines += done.lines()
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
                for r in done.results
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
@changes_workspace
@pass_context
def demo_data(obj: Context, users: int | None, seed: int | None, out: Path | None) -> None:
    """Generate the demo product's users, events and ground truth."""
    from lifecycle.storage import created_path, created_words, missing_folder

    created = missing_folder(out) if out is not None else None  # made by it: said after
    demo = _generate_demo(obj, users, seed, out)
    demo["created_folder"] = created_path(created)
    lines = [
        f"demo data: {counted(demo['users'])}, {counted(demo['events'], EVENTS)} in {demo['out_dir']}"
        + created_words(created)
    ]
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
    obj.console.step(f"generating demo data: {counted(users)}, seed {seed} -> {out_dir}")
    summary = generate_demo(
        users=users,
        seed=seed,
        out_dir=out_dir,
        start=cfg.start,
        days=cfg.days,
        future_days=cfg.future_days,
        progress=obj.console.progress("simulation"),
        campaigns=cfg.campaigns,
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
    from features.erasure_log import erased_users
    from features.ingest import ingest_events

    obj.console.step(f"validating and ingesting demo data as dataset '{DEMO_DATASET}'")
    return ingest_events(
        demo_dir / EVENTS_FILE,
        obj.settings.workspace.dataset_dir(DEMO_DATASET),
        mapping=ColumnMapping(),
        users_path=demo_dir / USERS_FILE,
        erased=erased_users(obj.settings, DEMO_DATASET),
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
    help="Events column mapping, e.g. --map user_id=CustomerID --map event_time=InvoiceDate "
    "(a date and a time column: --map event_time=Date+Time).",
)
@click.option("--users-map", multiple=True, metavar="CONTRACT=SOURCE", help="Users column mapping.")
@click.option(
    "--map-type",
    "type_maps",
    multiple=True,
    metavar="TYPE=SOURCE_TYPE",
    help="Read the file's own event type as one of the contract's (signup, session, "
    "activation, purchase, refund), e.g. --map-type purchase=payment_done --map-type "
    "session=app_open; repeat for each. Recorded with the dataset: appends read so too.",
)
@click.option(
    "--event-type",
    help="Event type for rows without one; a purchase log (user, time, amount) uses --event-type purchase.",
)
@click.option(
    "--amount-default",
    type=float,
    metavar="N",
    help="Amount of purchase/refund rows without one (no amount column, or an empty cell); "
    "for a count-only log --amount-default 1 makes LTV a number of purchases (of items where "
    "a log writes a basket one row per item: the rows of one user at one moment are one "
    "order). Counted in "
    "report.json as amount_defaulted.",
)
@click.option(
    "--amount-unit",
    type=click.Choice(["major", "minor", "cents", "count"]),
    help="minor: amounts are in the currency's minor unit, as Stripe writes them (7045 is USD "
    "70.45), divided by 10 to its ISO 4217 exponent (JPY 1, KWD 1000); cents: by 100 whatever "
    "the currency; count: amounts count what was bought (basket items), no money, LTV in "
    "them [default: major, as written]. Recorded with the dataset: appends read so too.",
)
@click.option(
    "--currency",
    metavar="CODE",
    help="The amounts' ISO 4217 currency (GBP), for a file that states none (no currency "
    "column or sign); a column or sign saying another is refused. Recorded with the dataset: "
    "appends read so too.",
)
@click.option("--negative-is-refund", is_flag=True, help="Negative purchase amounts are refunds.")
@click.option(
    "--allow-negative", is_flag=True, help="Keep negative amounts instead of quarantining them."
)
@click.option(
    "--case-insensitive-ids",
    is_flag=True,
    help="User ids that differ only by case are one user (emails): both files' ids are "
    "stored lower-cased, /score and forget read an asked id so. Recorded with the dataset: "
    "appends read so too (a dataset ingested without it takes it only with --replace).",
)
@KEEP_REPEATS
@click.option(
    "--timezone",
    help="Zone of timestamps without an offset [default: UTC; an append: the dataset's].",
)
@click.option(
    "--time-format",
    help="strftime format of timestamps, or %s (%ms) for seconds (milliseconds) since 1970 "
    "(UTC) [default: ISO 8601 and common forms].",
)
@date_order_option(
    "How 01/02/2023 reads; auto reads only dates whose order shows (31/12/2023) and "
    "quarantines the rest as ambiguous_date_order [default: auto; an append: the dataset's].",
    default=None,
)
@click.option(
    "--decimal-comma",
    is_flag=True,
    help="Amounts are written 1.234,50 (else 12,5 and 1.234,50 are quarantined as "
    "ambiguous_amount).",
)
@click.option(
    "--decimal-point",
    is_flag=True,
    help="Amounts are written 1,234.50 throughout: 1.785 is one and a bit, 1,234 is 1234 "
    "(else 1,234, and 1.785 in a column that seems to group thousands with a point, are "
    "ambiguous_amount).",
)
@click.option(
    "--delimiter",
    metavar="CHAR",
    help="Column separator of CSV files, e.g. ';', '|' or tab [default: ',', tab for .tsv].",
)
@click.option(
    "--encoding",
    metavar="NAME",
    help="Text encoding of CSV files, e.g. latin-1 or cp1252 [default: utf-8].",
)
@click.option(
    "--sheet", metavar="NAME", help="The sheet to read of an .xlsx workbook of several sheets."
)
@click.option("--users-sheet", metavar="NAME", help="The sheet to read of a --users workbook.")
@click.option(
    "--users-delimiter",
    metavar="CHAR",
    help="Column separator of a CSV --users file that another system wrote [default: --delimiter's].",
)
@click.option(
    "--users-encoding",
    metavar="NAME",
    help="Text encoding of a CSV --users file [default: --encoding's].",
)
@click.option(
    "--append",
    is_flag=True,
    help="Add the file's events to the dataset: rows it already holds are quarantined as "
    "already_ingested, late events are accepted, a --users file updates the users table.",
)
@click.option(
    "--replace",
    is_flag=True,
    help="Replace the dataset even when the file starts later or ends earlier than it, or "
    "has no users table "
    "(without it such an ingest is refused; `lifecycle datasets restore` undoes it).",
)
@changes_workspace
@pass_context
def ingest(
    obj: Context,
    events: Path,
    users_file: Path | None,
    dataset: str | None,
    maps: tuple[str, ...],
    users_map: tuple[str, ...],
    type_maps: tuple[str, ...],
    event_type: str | None,
    amount_default: float | None,
    amount_unit: str | None,
    currency: str | None,
    negative_is_refund: bool,
    allow_negative: bool,
    case_insensitive_ids: bool,
    keep_repeats: bool | None,
    timezone: str,
    time_format: str | None,
    date_order: str | None,
    decimal_comma: bool,
    decimal_point: bool,
    delimiter: str | None,
    encoding: str | None,
    sheet: str | None,
    users_sheet: str | None,
    users_delimiter: str | None,
    users_encoding: str | None,
    append: bool,
    replace: bool,
) -> None:
    """Validate an events file (CSV, Parquet, a folder of Parquet files or JSON lines) into a
    dataset; bad rows go to quarantine.

    The file is read and checked ingest.chunk_rows rows at a time, so a file of any size
    fits in bounded memory. Without --dataset the dataset is named after the file. A file
    of new days goes in with --append; replacing a dataset by a file that starts later,
    ends earlier or lacks its users table is refused unless --replace.
    """
    if append and replace:
        raise click.BadParameter("give one of --append and --replace", param_hint="--append")
    if decimal_comma and decimal_point:
        raise click.BadParameter(
            "give one of --decimal-comma and --decimal-point", param_hint="--decimal-point"
        )
    import math

    from features import contract as c
    from features.currency_words import ISO_CODES

    if currency is not None and (currency := currency.strip().upper()) not in ISO_CODES:
        raise click.BadParameter(
            f"{currency!r} is no ISO 4217 currency code (e.g. GBP, EUR, USD)",
            param_hint="--currency",
        )
    if amount_unit == "count" and (currency or any(m.startswith("currency=") for m in maps)):
        raise click.BadParameter(
            "amounts counted (--amount-unit count) are no money, so they have no currency: "
            "drop --currency or --map currency=...",
            param_hint="--amount-unit",
        )
    from features.batches import file_reading
    from features.erasure_log import erased_users
    from features.file_shape import FileShape
    from features.identifiers import left_out_line
    from features.ingest import check_dataset_name, dataset_name_from_file, ingest_events
    from lifecycle.dataset_kind import first_steps, read_report
    from lifecycle.errors import UserError
    from lifecycle.storage import missing_file

    named = dataset or (dataset_name_from_file(events) if append or not timezone else "")
    # an append reads its file as the dataset's were: its report, read once for all of it
    held = read_report(obj.settings.workspace.dataset_dir(named)) if append else None
    try:
        event_types = c.parse_event_types(list(type_maps))
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--map-type") from None
    option = "--map"
    try:
        columns = c.ColumnMapping.parse(list(maps), fields=c.EVENT_FIELDS).columns
        option = "--users-map"
        users_columns = c.ColumnMapping.parse(
            list(users_map), fields=c.USER_FIELDS, option=option
        ).columns
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint=option) from None
    if why := missing_file(events):  # before the lines naming the dataset it would make
        raise UserError(f"{events}: {why}")
    given = FileShape(  # how the file is written: an append reads its file as recorded
        columns=columns,
        event_type=event_type,
        time_format=time_format,
        date_order=date_order,
        decimal_comma=decimal_comma,
        decimal_point=decimal_point,
        delimiter="\t" if delimiter in ("tab", "\\t") else delimiter,
        encoding=encoding,
        sheet=sheet,
        users_sheet=users_sheet,
        users_columns=users_columns,
        users_delimiter=users_delimiter,
        users_encoding=users_encoding,
        amount_unit=amount_unit,
        currency=currency,
    )
    # an append not told otherwise reads its file as the dataset's were, as refresh does
    reading = file_reading(
        held,
        named,
        obj.settings.ingest,
        given,
        timezone=timezone,
        event_types=event_types,
        negative_is_refund=negative_is_refund,
        keep_repeats=keep_repeats,
        amount_default=amount_default,
        allow_negative=allow_negative,
    )
    if reading.note:
        obj.console.note(reading.note)
    amount_default = reading.amount_default
    if amount_default is not None and not (math.isfinite(amount_default) and amount_default > 0):
        raise click.BadParameter(
            f"{amount_default} is not a positive number (e.g. 1)", param_hint="--amount-default"
        )
    if dataset is None:
        name = dataset_name_from_file(events)
        home = obj.settings.workspace
        if append and not home.dataset_dir(name).exists():
            # new days named after their file (orders-2026-01) made a dataset of their own
            known = home.dataset_dir(obj.settings.dataset).exists()
            raise UserError(
                f"--append adds to a dataset, and there is no dataset '{name}' (the name "
                f"{events.name} gives): name the one to add to with --dataset NAME"
                + (f", e.g. --dataset {obj.settings.dataset}" if known else "")
            )
        obj.console.note(f"dataset '{name}', named after {events.name} (--dataset NAME to choose)")
        if name != obj.settings.dataset:
            obj.console.note(
                f"the other commands work on dataset '{obj.settings.dataset}' (settings dataset) "
                f"unless given --dataset {name} or LIFECYCLE_DATASET={name}"
            )
    else:
        name = check_dataset_name(dataset)
    obj.console.step(f"validating {events}" + (f" and {users_file}" if users_file else ""))
    summary = ingest_events(
        events,
        obj.settings.workspace.dataset_dir(name),
        mapping=reading.mapping,
        users_path=users_file,
        users_mapping=reading.users_mapping,
        erased=erased_users(obj.settings, name),
        max_bad_fraction=obj.settings.ingest.max_bad_fraction,
        allow_negative_amounts=reading.allow_negative_amounts,
        chunk_rows=obj.settings.ingest.chunk_rows,
        memory_limit=obj.settings.ingest.memory_limit,
        amount_default=amount_default,
        keep_repeats=reading.keep_repeats,
        max_amount_ratio=obj.settings.ingest.max_amount_ratio,
        max_amount_shift=obj.settings.ingest.max_amount_shift,
        mode="append" if append else "replace" if replace else "guard",
        progress=obj.console.rows("validating"),
        csv=reading.csv,
        users_csv=reading.users_csv,
        recorded=held,  # what the options above were read from
        case_insensitive_ids=case_insensitive_ids,  # an append: as the dataset's, see there
        not_activity_types=obj.settings.labels.not_activity_types,
        attributes=(
            obj.settings.features.allow_attributes,
            obj.settings.features.exclude_attributes,
        ),
    )
    said, lines = summary.to_dict(), summary.lines()
    if (left_out := summary.not_features) is not None:  # a first name: said before any model
        said["not_features"] = left_out
        lines += [left_out_line(left_out)] if left_out else []
    obj.console.result(said, lines)
    if not append:  # on stderr, after the summary: what a first ingest leads to
        obj.console.note(first_steps(obj.settings, name))


@main.command("import")
@click.argument("source", type=click.Choice(["online-retail", "telco-churn", "hillstrom"]))
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--dataset", help="Dataset name in the workspace [default: the source's name].")
@click.option(
    "--append",
    is_flag=True,
    help="Add the file's events (a later month of the same log) to the dataset, as "
    "`ingest --append` does: rows it already holds are quarantined as already_ingested.",
)
@click.option(
    "--replace",
    is_flag=True,
    help="Replace the dataset even when the file starts later or ends earlier than it "
    "(without it such an import is refused; `lifecycle datasets restore` undoes it).",
)
@date_order_option(
    "How online-retail's InvoiceDate 12/1/2010 reads (copies of the file write it month "
    "first); auto reads only dates whose order shows, as ingest does."
)
@KEEP_REPEATS
@changes_workspace
@pass_context
def import_(
    obj: Context,
    source: str,
    path: Path | None,
    dataset: str | None,
    append: bool,
    replace: bool,
    date_order: str,
    keep_repeats: bool | None,
) -> None:
    """Load a known public data set through its adapter (default path under settings data_root).

    An import replaces the dataset; one that would drop its history (a file of later or
    fewer months) is refused unless --replace. A later month of online-retail in the same
    format goes in with --append (or `lifecycle refresh FILE --source online-retail`)."""
    if append and replace:
        raise click.BadParameter("give one of --append and --replace", param_hint="--append")
    from features.erasure_log import erased_users
    from features.importing import default_source_path, import_source, source_file

    if path is not None:
        path = source_file(source, path)  # of a folder: the file in it, named in the step
    if path is None:
        path = default_source_path(source, obj.settings.data_root)
        if not path.exists():
            # a relative data_root (the default ../shared/data) is read from where the
            # command runs, which the bare path did not say (trial G, run from /tmp)
            read_from = (
                ""
                if obj.settings.data_root.is_absolute()
                else f" (data_root {obj.settings.data_root} is read from the current folder, "
                f"{Path.cwd()})"
            )
            raise click.UsageError(
                f"{path}: file not found{read_from}; give the file as PATH (`lifecycle import "
                f"{source} PATH`) or set data_root (LIFECYCLE_DATA_ROOT) to the folder that holds it"
            )
    name = dataset or source.replace("-", "_")
    if keep_repeats is None:  # as ingest: an append reads its file as the dataset's were
        from features.batches import dataset_read_options
        from lifecycle.dataset_kind import read_report

        held = read_report(obj.settings.workspace.dataset_dir(name)) if append else None
        read = dataset_read_options(held)
        default = obj.settings.ingest.keep_repeats and source == "online-retail"
        keep_repeats = read.get("keep_repeats", default)
    obj.console.step(f"importing {source} from {path} as dataset '{name}'")
    if name != obj.settings.dataset:  # as ingest says: the next step is `features build`
        obj.console.note(
            f"the other commands work on dataset '{obj.settings.dataset}' (settings dataset) "
            f"unless given --dataset {name} or LIFECYCLE_DATASET={name}"
        )
    summary = import_source(
        source,
        path,
        obj.settings.workspace.dataset_dir(name),
        max_bad_fraction=obj.settings.ingest.max_bad_fraction,
        chunk_rows=obj.settings.ingest.chunk_rows,
        erased=erased_users(obj.settings, name),
        guard_history=not replace,
        append=append,
        date_order=date_order,
        keep_repeats=keep_repeats,
        max_amount_shift=obj.settings.ingest.max_amount_shift,
        max_amount_ratio=obj.settings.ingest.max_amount_ratio,
    )
    obj.console.result(summary.to_dict(), summary.lines())
