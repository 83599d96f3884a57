"""Which spellings of the erased ids ``lifecycle forget`` scrubs from a place outside a
dataset (the demo tables, scores tables, the ledger, lists and reports in the workspace,
lists written outside it, campaign records) and searches MLflow's artifacts for: those of the
dataset the place belongs to, where it says (a scores table's or a campaign record's
metadata, the ledger's partition, the export register, a report's, an at-risk list's or an
MLflow experiment's name, the demo tables `demo-data` ingests as its dataset), matched among
all the workspace's datasets; elsewhere every searched dataset's, in any casing when one
folds case (a list written before it folded holds the id as written then), said in the
erasure log when the datasets hold the ids apart: one folds case (``C1@X.COM`` is its ``c1@x.com``) and
another does not (its ``c1@x.com`` is a user of its own), or one is not searched (`forget
--dataset x`: y's ``c1`` is another person), so a place of neither may lose that other
user's rows (the privacy-safe side). A place of a dataset not searched is left as it is,
and said to be where it holds the ids."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING

from features.erasure_log import KEY_FILE, LOG_FILE
from features.erasure_online import OnlineStore
from features.erasure_record import FILES_DELETED
from features.scrub import Mentions, Scrubbed, rewrite_file, scrub, table_files, token_pattern
from lifecycle.exports import REGISTER_FILE
from lifecycle.registry import model_name
from lifecycle.storage import under_staging
from lifecycle.workspace import DEMO_DATASET

if TYPE_CHECKING:
    from features.erasure_record import ErasureRecord
    from lifecycle.exports import Export
    from lifecycle.settings import Settings

TEXT_SUFFIXES = {".csv", ".json", ".jsonl", ".html", ".htm", ".txt", ".md", ".tsv"}


@dataclass
class PlaceIds:
    """The ids (every spelling) to scrub from a place, by the dataset it belongs to."""

    every: set[str]  # every dataset's spellings: a place of no dataset searched
    of: dict[str, set[str]]  # dataset -> its own spellings
    # said of a place of no known dataset scrubbed of ``every`` ("": all agree), asked only
    # when such a place changed (it may read the datasets not searched)
    why: Callable[[], str] = str
    noted: dict[str, str] = field(default_factory=dict)  # location -> why (logged, no ids)
    # the workspace's datasets not searched (forget --dataset): their places are left as
    # they are, their ids are users of their own
    apart: frozenset[str] = frozenset()
    left: dict[str, str] = field(default_factory=dict)  # location -> whose (logged, no ids)
    # the searched datasets of case-insensitive ids: a place of theirs may hold an id as it
    # was written before the dataset folded case, the same user in any casing
    folding: frozenset[str] = frozenset()
    # the spellings of the asked ids that are no user (no table holds them, no list a row of
    # them, no erasure logged them: `forget user_id`, a column's name), in none of the sets
    # above: a report naming only them is kept, and said
    unheld: frozenset[str] = frozenset()

    def ids(self, dataset: str | None) -> set[str]:
        """The spellings of ``dataset`` (none for a dataset not searched; None, or one the
        workspace does not have: every searched dataset's)."""
        if dataset in self.apart:
            return set()
        return self.of.get(dataset, self.every) if dataset is not None else self.every

    def fold(self, dataset: str | None) -> bool:
        """Whether a place of ``dataset`` is scrubbed of the ids in any casing: a dataset of
        case-insensitive ids, or no known dataset while a searched one folds (a list written
        before it folded holds the id as written then; noted where another does not fold).
        Elsewhere ``C1@X.COM`` and ``c1@x.com`` are two users."""
        known = dataset in self.of or dataset in self.apart
        return dataset in self.folding or (not known and bool(self.folding))

    def scrub(
        self,
        dataset: str | None,
        location: str,
        run: Callable[..., Scrubbed | None],
        files: Iterable[Path] = (),
    ) -> Scrubbed:
        """``run`` (a scrub of the place: ids, ``fold``) with the place's ids; noted when it changed a place
        of no known dataset with the spellings of datasets that hold the ids apart, or when
        the place (its ``files``) is of a dataset not searched and holds the ids."""
        if dataset in self.apart:
            if any(scrub(file, None, self.every) for file in files):  # counted, not changed
                self.leave(dataset, location)
            return Scrubbed()
        done = run(self.ids(dataset), fold=self.fold(dataset)) or Scrubbed()
        if done:
            self.note(dataset, location)
        return done

    def note(self, dataset: str | None, location: str) -> None:
        """Say (once) that ``location``, changed, was scrubbed of every dataset's spellings."""
        if dataset not in self.of and (why := self.why()):
            self.noted[location] = why

    def leave(self, dataset: str, location: str) -> None:
        """Say that ``location``, holding the ids, is left as dataset ``dataset`` holds it."""
        searched = ", ".join(sorted(self.of))
        self.left[location] = (
            f"dataset {dataset}'s, not searched (--dataset {searched}): left as they are, the "
            f"ids there are {dataset}'s users (forget --dataset {dataset} if the same person)"
        )

    def with_terms(self, more: Callable[[set[str]], set[str]]) -> PlaceIds:
        """These ids, each set with ``more`` of it (the keyed pseudonyms lists carry)."""
        of = {name: ids | more(ids) for name, ids in self.of.items()}
        every = self.every | more(self.every)
        unheld = self.unheld | more(set(self.unheld))
        # the rest shared, as the notes it gathers
        return replace(self, every=every, of=of, unheld=unheld)


def _names(datasets: list[str]) -> str:
    return ", ".join(datasets) + (" hold" if len(datasets) > 1 else " holds")


def place_ids(
    every: set[str],
    of: dict[str, set[str]],
    held_as: dict[str, dict[str, str]],
    read: dict[str, str],
    apart: Iterable[str] = (),
    case_insensitive: Iterable[str] = (),
    apart_holding: Callable[[], Iterable[str]] = tuple,
    unheld: Iterable[str] = (),
) -> PlaceIds:
    """The places' ids: ``of`` each dataset's spellings of the ids it holds (``held_as``:
    dataset -> asked id -> as held, ``read``: asked id -> as read, both of
    ``features.erasure_holders``); ``apart``: the workspace's datasets not searched;
    ``case_insensitive``: the searched datasets that fold case; ``apart_holding``: those of
    ``apart`` whose rows hold one of ``every`` (a user of theirs loses its rows in a place of
    no known dataset: said, of no other), read once, when such a place changed; ``unheld``:
    the spellings of the ids that are no user (``features.erasure_no_user``)."""
    folding = [name for name, held in held_as.items() if held != read]
    written = [name for name in held_as if name not in folding]
    folds = frozenset(case_insensitive)

    @cache
    def why() -> str:
        if folding and written:
            return (
                f"names no dataset, so scrubbed of the ids in any casing (lower-cased: "
                f"{_names(folding)} them so; as asked: {_names(written)} them so): a user of "
                f"{', '.join(written)} whose id is an erased id in another casing lost its "
                "rows here too"
            )
        holding = sorted(apart_holding())
        casing = " in any casing" if folds else ""
        return (
            f"names no dataset, so scrubbed of the ids as {_names(sorted(held_as))} them"
            f"{casing}: a user of {', '.join(holding)} (not searched) with one of these ids"
            f"{casing} lost its rows here too"
            if holding
            else ""
        )

    return PlaceIds(every, of, why, apart=frozenset(apart), folding=folds, unheld=frozenset(unheld))


def model_owner(model: str, names: Iterable[str]) -> str | None:
    """The dataset of a model or MLflow experiment named ``model``: ``<dataset>-<task>`` (a task
    without '-', as ``lifecycle.registry.model_name`` names it) or a backtest's
    ``backtest-<dataset>``; None for a name no dataset or two could have made."""

    def made(name: str) -> bool:
        task = model.removeprefix(model_name(name, ""))
        return model == f"backtest-{name}" or (task != model and task != "" and "-" not in task)

    made_by = [name for name in names if made(name)]
    return made_by[0] if len(made_by) == 1 else None


def list_owners(settings: Settings, exports: list[Export], names: list[str]) -> dict[Path, str]:
    """The files in the workspace whose dataset is known (resolved path -> dataset): the lists
    the export register names with one, the reports named ``report-<dataset>-<as_of>``,
    whole name and date (``report-shop-2011-12-01.html`` is shop's, not shop-2011's), a
    snapshot model's at-risk lists ``<dataset>-<task>-at-risk-v<N>.csv`` and the campaign
    records by the dataset their metadata names; a name two datasets could have made is of
    no known dataset."""
    from serving.campaigns import campaign_dataset

    ws = settings.workspace
    owners = {Path(e.path).resolve(): e.dataset for e in exports if e.dataset is not None}
    for path, model, _ in ws.at_risk_lists():
        if owner := model_owner(model, names):
            owners.setdefault(path.resolve(), owner)
    for path in ws.campaigns():
        if (owner := campaign_dataset(path)) in names:
            owners.setdefault(path.resolve(), owner)
    reports = settings.workspace.reports_dir
    if reports.is_dir():
        shapes = {n: re.compile(rf"report-{re.escape(n)}-\d{{4}}-\d{{2}}-\d{{2}}.*") for n in names}
        for path in reports.glob("report-*"):
            made_by = [n for n, shape in shapes.items() if shape.fullmatch(path.name)]
            if len(made_by) == 1:
                owners.setdefault(path.resolve(), made_by[0])
    return owners


# -- the places --------------------------------------------------------------------------


def rewrite_all(files: Iterable[Path], ids: set[str], fold: bool = False) -> Scrubbed:
    """Each of ``files`` rewritten without the users' rows and mentions (``fold``: the ids
    in any casing)."""
    done = Scrubbed()
    for file in files:
        done += rewrite_file(file, ids, fold=fold)
    return done


def rewritten_tables(settings: Settings, names: Iterable[str]) -> dict[str, list[Owned]]:
    """The tables outside a dataset's folder that ``forget`` rewrites file by file, by
    location (``demo``, ``scores``, ``ledger``, ``features``), each with the dataset it
    belongs to (None: no known one): the demo's generated tables (the dataset `demo-data`
    ingests them as), the scores tables (not the ``latest``/``previous`` symlinks; the
    dataset their metadata names), the ledger's files (the dataset of their partition, among
    ``names``) and the feature table (Feast's offline store) of each of ``names``. Read by
    ``forget`` and by ``lifecycle datasets check`` (``features.redacted_cells``), as are the
    online stores (:func:`online_stores`)."""
    from lifecycle.exports import scores_dataset

    ws = settings.workspace
    demo = ws.demo_dir()
    scores = ws.scores_dir
    ledger = table_files(ws.ledger_dir) if ws.ledger_dir.is_dir() else []
    names = list(names)
    return {
        "demo": [(p, DEMO_DATASET) for p in table_files(demo)] if demo.is_dir() else [],
        "scores": [
            (p, scores_dataset(p))
            for p in (sorted(scores.glob("scores-*.parquet")) if scores.is_dir() else [])
            if not p.is_symlink()
        ],
        "ledger": [
            (p, next((n for n in names if ws.ledger(n) in p.parents), None)) for p in ledger
        ],
        "features": [(ws.feature_table(n), n) for n in names if ws.feature_table(n).is_file()],
    }


Owned = tuple[Path, "str | None"]  # a file, and the dataset it belongs to (None: no known one)


def online_stores(settings: Settings, names: Iterable[str]) -> list[OnlineStore]:
    """The online stores of each of ``names`` that ``forget`` erases the users from (their
    rows, their mentions in other users' text features) and ``lifecycle datasets check``
    reads (``features.redacted_cells``): the SQLite file of its Feast repository, whatever
    the settings name now (the default store or Feast's own; one written before a change to
    Redis holds its users still), and, once applied, the hashes of its Feast project in the
    Redis the settings name and in each Redis materialize wrote into under earlier settings
    (``features.erasure_online.earlier_redis``: recorded since 2026-12-07)."""
    from features.erasure_online import earlier_redis
    from features.store import store_paths

    stores = []
    for name in names:
        paths = store_paths(settings, name)
        if paths.online_db.is_file():
            stores.append(OnlineStore(settings, name, paths.online_db))
        if paths.registry.is_file():
            if settings.feast.online_store == "redis":
                stores.append(OnlineStore(settings, name, None))
            stores += earlier_redis(settings, name)
    return stores


def forget_tables(
    settings: Settings, places: PlaceIds, record: ErasureRecord, location: str
) -> list[Path]:
    """The ids from the tables of ``location`` (of :func:`rewritten_tables`), each as its
    dataset holds them (the demo's: as a whole place, one count); the files."""
    home = settings.workspace.home
    owned = rewritten_tables(settings, [*places.of, *places.apart])[location]
    if not owned:
        return []
    done = Scrubbed()
    if location == "demo":
        files = [p for p, _ in owned]
        done = places.scrub(DEMO_DATASET, "demo", partial(rewrite_all, files), files)
    else:
        for table, name in owned:
            where = str(table.relative_to(home))
            done += places.scrub(name, where, partial(rewrite_all, [table]), [table])
    record.count(location, done)
    return [p for p, _ in owned]


def other_files(settings: Settings, handled: set[Path]) -> list[Path]:
    """The files under the workspace ``forget`` searches as lists and reports: all but those
    ``handled`` (resolved: the demo's, scores, features, ledger, monitor files), the
    datasets', MLflow's and Feast's, the log, its key and the export register."""
    home = settings.workspace.home
    skip_dirs = {
        settings.workspace.mlflow_dir.resolve(),
        settings.workspace.feast_dir.resolve(),
        (home / "datasets").resolve(),
    }
    files = []
    for path in sorted(home.rglob("*")):
        if path.is_symlink() or not path.is_file() or path.name.startswith("."):
            continue
        if under_staging(path, home):  # a running backtest's scratch (a dead one's: swept)
            continue
        resolved = path.resolve()
        if resolved in handled or path.name in (LOG_FILE, KEY_FILE, REGISTER_FILE):
            continue
        if not any(d == resolved or d in resolved.parents for d in skip_dirs):
            files.append(path)
    return files


def forget_other_files(
    settings: Settings,
    terms: PlaceIds,
    owners: dict[Path, str],
    record: ErasureRecord,
    files: list[Path],
) -> None:
    """Lists and reports anywhere else under the workspace (``files``, of :func:`other_files`),
    each of the terms of its dataset (``owners``: resolved path -> dataset, where known). A
    report naming only ids that are no user (``terms.unheld``) is kept, and said."""
    home = settings.workspace.home
    pattern = token_pattern(terms.every, fold=bool(terms.folding))  # a place's, any owner
    exact = token_pattern(terms.every)  # a dataset not searched holds the ids as they are
    words = token_pattern(terms.unheld, fold=bool(terms.folding))  # ids that are no user
    patterns: dict[str | None, Mentions] = {}
    done, reports = Scrubbed(), 0

    def delete(path: Path, owner: str | None, where: str) -> None:
        terms.note(owner, where)
        path.unlink()  # a report's figures and top lists were made with the user
        record.deleted_files.append(where)

    for path in files:
        suffix, owner = path.suffix.lower(), owners.get(path.resolve())
        where = str(path.relative_to(home))
        if suffix in (".parquet", ".xlsx"):
            try:
                done += terms.scrub(owner, where, partial(rewrite_file, path), [path])
            except Exception as error:  # damaged, or no table: the other files still erased
                record.not_covered.append(
                    f"{path.relative_to(home)}: cannot be read ({type(error).__name__}), so "
                    "not checked for the users: delete or restore it, then run forget again"
                )
            continue
        if suffix not in TEXT_SUFFIXES:
            continue
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if suffix not in (".csv", ".json") and words.search(text) and not pattern.search(text):
            record.spared_files[where] = sorted(set(words.findall(text)))
            continue  # a report naming only ids that are no user (`forget user_id`): kept
        if not pattern.search(text):
            continue
        if owner in terms.apart:  # another dataset's list or report: its own user's id
            if exact.search(text):
                terms.leave(owner, where)
            continue
        if owner not in patterns:
            patterns[owner] = token_pattern(terms.ids(owner), terms.fold(owner))
        if not patterns[owner].search(text):
            continue  # another dataset's spelling: a user of its own there
        if suffix in (".csv", ".json"):  # lists: the users' rows out, then any mention left?
            fmt = suffix.removeprefix(".")
            done += terms.scrub(owner, where, partial(rewrite_file, path, fmt=fmt))
            if not patterns[owner].search(path.read_text(encoding="utf-8", errors="replace")):
                continue
        delete(path, owner, where)
        reports += 1
    record.count("lists", done)
    record.removed[f"report {FILES_DELETED}"] = reports
