"""What the list commands share (`at-risk`, `movers`, `campaign start`): their options,
the request they make of them, and how a list is printed or written."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from lifecycle.cli import Context

PSEUDONYMIZE_HELP = (
    "Keyed pseudonyms instead of user ids (key: settings privacy.pseudonym_key, e.g. "
    "LIFECYCLE_PRIVACY__PSEUDONYM_KEY, or privacy.pseudonym_key_file)."
)


def list_privacy(obj: Context, pseudonymize: bool, allow_columns: tuple[str, ...]) -> Any:
    from serving.lists import Privacy

    return Privacy.from_settings(obj.settings, pseudonymize, allow_columns)


def list_options(function: Any = None, *, seed_from_name: bool = False) -> Any:
    """Options shared by `at-risk`, `movers` and `campaign start`: filters, output, control
    group, privacy. --seed defaults to None: ``seed_from_name``, the caller draws it from the
    campaign's name; else :meth:`ListRequest.drawn_seed` (with seed 0, every campaign and
    every list held out the same users)."""
    if function is None:
        return functools.partial(list_options, seed_from_name=seed_from_name)
    options = [
        click.option(
            "--top",
            "--limit",  # the API's name of it (`limit`): `--limit 3` got "Did you mean '--min-ltv'?"
            "top",
            type=click.IntRange(min=1),
            default=100,
            show_default=True,
            help="Rows in the list (--limit, as the API's field).",
        ),
        click.option("--segment", help="RFM segment, e.g. champions, loyal, cannot_lose."),
        click.option("--stage", help="Lifecycle stage, e.g. active, at_risk, silent."),
        click.option("--channel", help="Acquisition channel."),
        click.option(
            "--where",
            "where",
            multiple=True,
            metavar="COLUMN=VALUE",
            help="Only users whose attribute has this value, e.g. country=Spain (repeatable: "
            "country=Spain --where country=France keeps either country, another column "
            "narrows; a personal column is still not listed unless --allow-column names it).",
        ),
        click.option("--min-ltv", type=float, help="Only users with predicted LTV at least this."),
        click.option(
            "--min-churn",
            type=click.FloatRange(0, 1),
            help="Only users with churn probability at least this [at-risk default: "
            "serving.medium_risk, the medium risk band; 0 lists every user].",
        ),
        click.option(
            "--format",
            "fmt",
            type=click.Choice(["csv", "parquet", "json", "xlsx"]),
            help="File format of --out [default: from its suffix: .csv, .parquet, .json, .xlsx].",
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
            default=None,
            show_default="drawn from the campaign's name"
            if seed_from_name
            else "drawn from what the list is: kind, dataset, scores date, ranking, filters",
            help="Control-group seed: same seed, same group"
            + (
                " (each campaign holds out other users; the seed is recorded with it)."
                if seed_from_name
                else " (the same list holds out the same users, printed or written anywhere; "
                "another list, other users; a written list's control_seed column says the "
                "seed, and a campaign started from it records it)."
            ),
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
            help="Also include this personal column (e.g. gender); a plan or a country, in "
            "written lists without it, is added to the terminal's table when named; repeatable.",
        ),
    ]

    @functools.wraps(function)
    def collect(
        *args: Any,
        top: int,
        segment: str | None,
        stage: str | None,
        channel: str | None,
        where: tuple[str, ...],
        min_ltv: float | None,
        min_churn: float | None,
        fmt: str | None,
        out: Path | None,
        control_share: float,
        seed: int | None,
        pseudonymize: bool,
        allow_columns: tuple[str, ...],
        **rest: Any,
    ) -> Any:
        from serving.lists import Filters

        if fmt is not None and out is None:  # was ignored: the list printed as text
            raise click.UsageError(
                f"--format {fmt} is the format of the file --out writes: add --out FILE "
                "(printed lists are text; --json prints them as JSON)"
            )
        request = ListRequest(
            top,
            Filters(segment, stage, channel, min_ltv, min_churn, _pairs(where)),
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


def _pairs(where: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """``--where country=Spain`` as (column, value) pairs; one without '=' is refused."""
    pairs = []
    for given in where:
        column, equals, value = given.partition("=")
        if not equals or not column.strip():
            raise click.BadParameter(
                f"{given!r}: expected COLUMN=VALUE, e.g. country=Spain", param_hint="--where"
            )
        pairs.append((column.strip(), value))
    return tuple(pairs)


@dataclass(frozen=True)
class ListRequest:
    """What `at-risk` and `movers` were asked for by the shared options."""

    top: int
    filters: Any  # serving.lists.Filters
    fmt: str | None
    out: Path | None
    control_share: float
    seed: int | None  # None: drawn (`campaign start`: from its name; else :meth:`drawn_seed`)
    pseudonymize: bool
    allow_columns: tuple[str, ...]
    # what a drawn seed was drawn from (serving.list_seeds.list_drawn_from; a campaign's:
    # {"campaign": name}); None: given with --seed
    drawn_from: dict[str, Any] | None = None

    def drawn_seed(self, kind: str, dataset: str, as_of: Any, **ranking: Any) -> ListRequest:
        """The request with its seed: as given; else drawn from what the list is (``kind``,
        dataset, scores date, ``ranking`` and filters: serving.list_seeds), never from where
        it goes nor its top or control share: with seed 0 on screen and one drawn from the
        file name, a list previewed and then written with --out flagged other users, and
        june/winback.csv and july/winback.csv of one date held out the same ones."""
        from dataclasses import replace

        from serving.list_seeds import list_drawn_from, seed_of

        if self.seed is not None:
            return self
        drawn_from = list_drawn_from(
            kind,
            dataset,
            as_of,
            self.filters,
            **ranking,
        )
        return replace(self, seed=seed_of(drawn_from), drawn_from=drawn_from)

    def privacy(self, obj: Context) -> Any:
        return list_privacy(obj, self.pseudonymize, self.allow_columns)

    def described(self) -> tuple[str, dict[str, Any]]:
        """Whom the list holds and how its control flag was drawn, for its title and --json:
        a written list filtered to `--stage churned` otherwise read as the whole ranking,
        and the seed that reproduces its control group was nowhere in it."""
        from dataclasses import asdict

        only = self.filters.text()
        from serving.list_seeds import DRAWN_WORDS

        drawn = self.drawn_from or {}
        text = (f"; only {only}" if only else "") + (
            f"; control group: share {self.control_share:g} of all scored users, seed {self.seed}"
            + (", drawn from the campaign's name" if "campaign" in drawn else "")
            + (f", {DRAWN_WORDS}" if "list" in drawn else "")
        )
        data = {
            "filters": {k: v for k, v in asdict(self.filters).items() if v not in (None, ())},
            "control": {
                "share": self.control_share,
                "seed": self.seed,
                "drawn_from": self.drawn_from,  # null: given with --seed
            },
        }
        return text, data


def emit_list(
    obj: Context,
    rows: Any,
    title: str,
    request: ListRequest,
    data: dict[str, Any],
    metadata: dict[str, Any],
    notes: tuple[str, ...] = (),
    units: Any = None,
    matched: int | None = None,
) -> None:
    """Print the list, or write it to --out; either way with its currency and windows (and
    ``notes``: what the reader must know about it, one line each); ``units`` (a
    ``serving.units.Units``): the scores table's, from its metadata, when not given;
    ``matched``: the users the filters kept, where a list leaves some of them out (movers:
    those whose risk did not rise), so that an empty list is not said to match nobody."""
    from lifecycle.storage import created_path, created_words, refuse_unwritable, written_at
    from serving.list_export import export, list_format
    from serving.list_text import format_rows, unmatched_note
    from serving.units import units_for

    out, created = request.out, None
    if out is not None:
        list_format(out, request.fmt)  # refuse an unknown format before any work
        created = refuse_unwritable(out, "the list")  # a new folder: said with the file
    units = units or units_for(obj.settings, metadata)
    said = (_behind_the_dataset(obj, metadata), by_former_champions(obj, metadata))
    notes = (*notes, *filter(None, said))
    if len(rows) == 0 and not matched and (unmatched := unmatched_note(request.filters)):
        notes = (*notes, unmatched)  # "top 0" read as a failure
    described, asked = request.described()
    title += described
    data = {**data, **asked, "units": units.to_dict(), "notes": list(notes)}
    if out is not None:
        from lifecycle.exports import record_export

        # Registered first: a list that erasure could not find again is not written.
        record_export(
            obj.settings,
            out,
            len(rows),
            pseudonymized=request.pseudonymize,
            scores=data.get("scores") or data.get("latest"),
        )
        as_of = metadata.get("as_of")  # the scores' date: a campaign started from it keeps it
        export(
            rows,
            out,
            request.fmt,
            units=units,
            title=title,
            notes=notes,
            as_of=as_of,
            control_seed=request.seed,
        )
        obj.console.result(
            {  # as the line says
                **data,
                "out": str(out.absolute()),
                "rows": len(rows),
                "created_folder": created_path(created),
            },
            [
                f"{title}: {len(rows):,} row{'s' * (len(rows) != 1)} -> {written_at(out)}"
                + created_words(created),
                units.text(),
                *notes,
            ],
        )
        return
    # JSON rows are the values the API's /at_risk serves (units once, at the top).
    records = rows.astype(object).where(rows.notna(), None).to_dict(orient="records")
    table = format_rows(rows, attributes=request.allow_columns)  # --out and --json: all
    said = [note for note in notes if note not in title]  # why a list is empty: its title's
    obj.console.result({**data, "rows": records}, [title, units.text(), *said, *table])


def _behind_the_dataset(obj: Context, metadata: dict[str, Any]) -> str | None:
    """A note when the data moved on since the scores were made (an append, a restore, a
    rebuilt feature table): the list is still the last score-all's until a refresh."""
    from lifecycle import lineage

    dataset = metadata.get("dataset")
    built = (metadata.get("lineage") or {}).get("feature_table")
    if not dataset or not built:
        return None
    problem = lineage.feature_table_problem(obj.settings, str(dataset))
    if problem is None:
        current = lineage.read(obj.settings.workspace.feature_table(str(dataset))) or {}
        if current.get("id") not in (None, built):
            problem = f"the feature table of '{dataset}' was rebuilt since"
    if problem is None:
        return _earlier_cutoff(obj, str(dataset), metadata)
    return (
        f"note: these scores are behind the data ({problem}): `lifecycle refresh --dataset "
        f"{dataset}` scores it again"
    )


def by_former_champions(
    obj: Context, metadata: dict[str, Any], as_of: str | None = None
) -> str | None:
    """A note when a champion moved since the scores were made (a promotion, a rollback): a
    list, the segments and the report are the former champions' until a score-all
    (``/at_risk`` says it as ``stale``)."""
    from lifecycle import registry
    from serving.answers import made_by, moved_answerers, table_answerers
    from serving.scoring import answering_versions

    dataset, scored = metadata.get("dataset"), table_answerers(metadata)
    mirrored = registry.mirror(obj.settings) if dataset and scored else None
    if mirrored is None:  # no table versions, or no local mirror: a list asks no server
        return None
    champions = registry.champion_versions(mirrored, str(dataset))
    # the table's kinds: what serves each task is the dataset's (1 - churn on a purchase log)
    now = answering_versions(champions, dict(metadata.get("model_kinds") or {}))
    moved = [
        f"{task} {made_by(theirs)}, now {made_by(ours)}"
        for task, theirs, ours in moved_answerers(scored, now, scored)
    ]
    if not moved:
        return None
    return (
        f"note: these scores were made by models no longer champion ({'; '.join(moved)}): "
        f"`lifecycle score-all --dataset {dataset}{f' --as-of {as_of}' if as_of else ''}` "
        "scores with the champions"
    )


def _earlier_cutoff(obj: Context, dataset: str, metadata: dict[str, Any]) -> str | None:
    """A note when the latest scores table is of an earlier cutoff than the data's latest
    (`score-all --as-of` an earlier date): every later list came from it, unsaid; and
    which models learned from events after it (then the list is no forecast as of it)."""
    import pandas as pd

    from features.asof import FeatureError, feature_cutoffs
    from serving.learned import learned_after_words

    as_of = str(metadata.get("as_of") or "")
    try:
        latest = feature_cutoffs(obj.settings.workspace.feature_table(dataset))[-1]
    except (FeatureError, IndexError, OSError):
        return None
    try:
        scored = pd.Timestamp(as_of)
    except ValueError:
        return None
    scored = scored.tz_localize("UTC") if scored.tzinfo is None else scored
    if scored >= latest:
        return None
    learned = learned_after_words(metadata)
    return (
        f"note: these scores are as of {as_of}, an earlier cutoff than the data's latest "
        f"({latest:%Y-%m-%d}){f', and {learned}' if learned else ''}: `lifecycle score-all "
        f"--dataset {dataset}` scores that"
    )
