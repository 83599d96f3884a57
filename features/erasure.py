"""Erasure: ``lifecycle forget`` removes users from everything the project keeps about them.

Locations, per dataset (all datasets unless one is named):

- ``datasets/<name>``: the ingested tables and quarantined rows, in the current version
  (replaced whole) and in every older version under ``datasets/.versions`` (file by file,
  ``features.erasure_versions``), and the ids the versions' ``report.json`` give as
  examples (``features.erasure_reports``).
- ``demo/``: the generated users, events and ground truth.
- ``features/<name>/user_features.parquet``: the feature table (Feast's offline source).
- the online store: rows deleted from the SQLite tables by serialized entity key (one
  transaction), or the entity's hash deleted from Redis.
- ``scores/scores-*.parquet``: every scores table (``latest``/``previous`` are symlinks to
  them and keep pointing at the rewritten files); the Parquet metadata is kept.
- ``scores/monitor-sample-*.parquet``: the rows `lifecycle monitor` compares, kept by
  `score-all` (``serving.monitor_sample``; no ids, so no row can be told apart): deleted
  whole when a user is found; the monitor reads the tables until the next `score-all`.
- ``monitor/reference-{features,scores}-<name>-*.parquet``: the monitor's samples of the
  training windows (no ids either): deleted whole when a user is found; rebuilt on demand.
- ``ledger/dataset=<name>/as_of=<date>/*.parquet``: the prediction ledger, every as-of
  date (``serving.ledger``), file by file; the Parquet metadata is kept. Realized outcomes
  (``outcomes/``) hold aggregates only and stay.
- any other list or report under the workspace that mentions a user: CSV/Parquet lists
  lose the user's rows; other text files (HTML reports, JSON) are deleted, since their
  aggregates and top lists were computed with the user. Re-run ``lifecycle report``.
  When a pseudonym key is configured (``privacy.pseudonym_key`` or its key file), the
  users' list pseudonyms are searched as well.
- staging files and folders of writers that were killed mid-write (``lifecycle.storage``):
  removed first, whoever they mention, since nothing else would ever read or erase them.
- lists written outside the workspace, as registered by ``lifecycle.exports``: checked,
  and rewritten without the users with ``scrub_exports`` (``features.erasure_exports``).
- MLflow artifacts: models' ``input_example.json`` / ``serving_input_example.json`` and
  other text artifacts (evaluation files) are scanned; the files that mention a user are
  reported, not changed (the models were trained with the user), and the serving champions
  are named: retraining and promoting the new versions is the remedy (the gate alone keeps
  a champion the retrained model does not beat).
  LightGBM model texts hold thresholds and counts, never ids, and are not searched.

An id is taken in every spelling ingest reads as it: ``18074`` and ``18074.0`` are one user
(``features.contract.user_id_spellings``), logged as ``18074``; a quarantine file keeps the
raw id, read as ingest's readers read it (``features.raw_ids.raw_id_readings``: ``18074.0``,
``="18074"``, and `` 18074`` as online retail's reader strips it). Where a loaded table holds both as users of their own (``18074.0`` kept as written beside ``A1``),
both are erased and the summary names the other (``erased_with``). A place outside a
dataset (scores, ledger, lists, reports) is scrubbed of the ids as its dataset holds them,
where it says which (``features.erasure_places``): a dataset of case-insensitive ids holds
``C1@X.COM`` as ``c1@x.com``, another's ``c1@x.com`` is a user of its own. An id found nowhere that an earlier erasure logged is said to be erased, with
what still holds it (lists outside, the champions that erasure named, if still serving);
with ``dataset``, one an erasure of another dataset logged is a user, said with it
(``erased_elsewhere``) and logged for this dataset, so its ingests keep it out too.

An id no table holds, no list holds a row of and no erasure logged is no user
(``features.erasure_no_user``, told before any change): nothing is rewritten for it. The
users a ``forget`` erases are one set, used by every step (rows, mentions, log, monitor
files, champions): those a table held, and those only a list or an online store held, each
a user of the datasets of the places holding it (``features.erasure_holders.datasets_holding``).

In every table rewritten, the users' ids left in other rows' text columns (a ``description``, a
``note``) are redacted as whole tokens (``features.scrub``), and counted per location.

Every rewrite goes to a temporary file that replaces the old one only when complete, so
a crash leaves the previous file readable, and running ``forget`` again finishes the job
(the erasure is recorded as pending first: ``features.erasure_log``).
Finally, when a user was found (or lists outside rewritten, or what an earlier erasure of the
ids left removed: ``completes``), one line is appended to
``$LIFECYCLE_HOME/erasure_log.jsonl`` (``features.erasure_log``): the time, the dataset, keyed hashes (HMAC-SHA256) of the ids
found, never the ids, and the rows removed per location. The key is the pseudonym key of
the settings when one is configured (so a list pseudonym is the first 16 hex characters of
the logged hash), else a random per-workspace key file. Later ingests of the dataset
quarantine the logged users' rows as ``erased_user``.
"""

from __future__ import annotations

import re
from collections.abc import Container, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features import contract as c
from features import erasure_log
from features.batches import dataset_case_insensitive_ids
from features.erasure_exports import (
    CHANGED,
    check_exports,
    forget_inner_scratch,
    of_dataset,
    registered,
)
from features.erasure_holders import (
    datasets_holding,
    held_apart,
    held_ids,
    held_readings,
    ids_by_dataset,
    ids_present,
    spellings,
)
from features.erasure_log import LOG_FILE, append_entry, erasure_key, key_check
from features.erasure_log import log_entries as log_entries
from features.erasure_models import not_changed
from features.erasure_no_user import no_users
from features.erasure_online import (
    forget_online,
    record_reached,
    redact_online,
    rewrite_redis_files,
    unreached,
)
from features.erasure_places import (
    TEXT_SUFFIXES,
    PlaceIds,
    forget_other_files,
    forget_tables,
    list_owners,
    model_owner,
    online_stores,
    other_files,
    place_ids,
    rewrite_all,
    rewritten_tables,
)
from features.erasure_record import FILES_DELETED, TOLD_ONLY, ErasureRecord, users_text
from features.erasure_versions import forget_dataset
from features.id_spellings import held_alike
from features.scrub import (
    Mentions,
    table_files,
    token_pattern,
)
from lifecycle.dataset_kind import require_whole_tables
from lifecycle.errors import UserError
from lifecycle.pseudonyms import keyed_hash, pseudonym
from lifecycle.storage import sweep_tree

if TYPE_CHECKING:
    from lifecycle.settings import Settings

MLFLOW_EXAMPLES = ("input_example.json", "serving_input_example.json")
LIGHTGBM_MODEL_HEADER = "tree\nversion="  # a booster's text: thresholds and counts, no ids


class ErasureError(UserError):
    """Erasure cannot run as asked; the message says why."""


# -- the locations ------------------------------------------------------------------------


def _dataset_names(settings: Settings, dataset: str | None) -> list[str]:
    if dataset is not None:
        ws = settings.workspace
        places = (ws.dataset_dir(dataset), ws.feature_table(dataset), ws.feast_repo(dataset))
        if not any(p.exists() for p in places):
            known = ", ".join(_dataset_names(settings, None)) or "none"
            raise ErasureError(
                f"no dataset {dataset!r} in {ws.home} (its datasets: {known}); nothing erased"
            )
        return [dataset]
    root = settings.workspace.home / "datasets"
    names = (
        {p.name for p in root.iterdir() if not p.name.startswith(".")} if root.is_dir() else set()
    )
    for other in (settings.workspace.features_dir, settings.workspace.feast_dir):
        if other.is_dir():
            names |= {p.name for p in other.iterdir() if p.is_dir() and not p.name.startswith(".")}
    return sorted(names)


def _forget_features(settings: Settings, name: str, ids: set[str], record: ErasureRecord) -> None:
    for table, _ in rewritten_tables(settings, [name])["features"]:
        record.count(f"features/{name}", rewrite_all([table], ids))


def _monitor_references(settings: Settings, name: str) -> list[Path]:
    """The monitor's reference samples of a dataset (training windows' feature rows, scores)."""

    from lifecycle import tasks

    folder = settings.workspace.monitor_dir
    if not folder.is_dir():
        return []
    # This dataset's, not "name-x"'s; a scores reference may name partners' versions too.
    task = "|".join(map(re.escape, tasks.names()))
    ours = re.compile(
        rf"reference-(features-{re.escape(name)}-[0-9a-f]{{16}}"
        rf"|scores-{re.escape(name)}-(?:{task})-v[^-]+(?:-(?:{task})-v[^-]+)*)\.parquet"
    )
    return sorted(p for p in folder.glob("reference-*.parquet") if ours.fullmatch(p.name))


def _forget_monitor_files(
    settings: Settings, held: list[str], unsure: str, record: ErasureRecord
) -> None:
    """The monitor's samples and reference files hold users' rows without ids (none can be
    told apart): those of the datasets that ``held`` the users are deleted whole (the monitor
    reads the tables again and rebuilds them); another dataset's never had their rows.
    ``unsure``: why which dataset held them cannot be told (then ``held`` is every one)."""
    from serving.drift_results import mark_outdated
    from serving.monitor_sample import sample_dataset

    samples = [
        p
        for p in settings.workspace.monitor_samples
        if p.is_file() and sample_dataset(settings, p) in (None, *held)
    ]
    home = settings.workspace.home
    references = []
    for name in held:
        whose = (
            f"rows of dataset {name}, which may have held a user: {unsure}, so which "
            "dataset held them cannot be told"
            if unsure
            else f"rows of dataset {name}, which held a user, with no ids to remove them by"
        )
        for path in _monitor_references(settings, name):
            references.append(path)
            record.monitor_files[str(path.relative_to(home))] = whose
    for path in samples + references:
        path.unlink()
    for name in held:  # /monitor's counts and verdicts included their rows: said until redone
        erased = f"{users_text(len(record.user_hashes))} of dataset {name} at {record.timestamp}"
        mark_outdated(settings, name, f"measured before `lifecycle forget` erased {erased}")
    record.removed[f"monitor sample {FILES_DELETED}"] = len(samples)
    record.removed[f"monitor reference {FILES_DELETED}"] = len(references)
    record.deleted_files += [str(p.relative_to(home)) for p in references]


def _scan_mlflow(
    settings: Settings, terms: PlaceIds, names: list[str], record: ErasureRecord
) -> None:
    """Name the MLflow artifacts that mention the users, each searched for the ids as the
    dataset of its experiment (``<dataset>-<task>``, ``backtest-<dataset>``, of ``names``:
    the workspace's datasets) holds them."""
    home = settings.workspace.home
    folder = settings.workspace.mlflow_dir
    if not folder.is_dir():
        return
    patterns: dict[str | None, Mentions] = {}
    # Models' input examples first; then any other text artifact (evaluation files).
    paths = [p for name in MLFLOW_EXAMPLES for p in sorted(folder.rglob(name))]
    paths += sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES and p.name not in MLFLOW_EXAMPLES
    )
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if text.startswith(LIGHTGBM_MODEL_HEADER):
            continue  # a count or threshold equal to a numeric id is chance, not a mention
        where = path.relative_to(folder).parts  # artifacts/<experiment name>/<run>/...
        owner = model_owner(where[1], names) if where[0] == "artifacts" and len(where) > 2 else None
        if owner not in patterns:
            patterns[owner] = token_pattern(terms.ids(owner), terms.fold(owner))
        if patterns[owner].search(text):
            record.mlflow_examples.append(str(path.relative_to(home)))


def _logged(key: bytes, user_id: str, hashes: Container[str]) -> Any:
    """What ``hashes`` (a set, or a mapping) holds for the user under any spelling of the
    id (an erasure before spellings were one id logged ``18074.0``), or None."""
    for spelt in c.user_id_spellings(user_id):
        if (hashed := keyed_hash(key, spelt)) in hashes:
            return hashes[hashed] if isinstance(hashes, Mapping) else hashed
    return None


def _erasures(key: bytes, user_id: str, by_user: Mapping[str, list[dict[str, Any]]]) -> list:
    """Every logged erasure of the user (``by_user``: of ``erasure_log.erasures_of``), under
    any spelling of its id, oldest first: each erasure's dataset (None: all) and time."""
    entries = {
        (e["timestamp"], e.get("dataset")): None
        for spelt in c.user_id_spellings(user_id)
        for e in by_user.get(keyed_hash(key, spelt), [])
    }
    ordered = sorted(entries, key=lambda each: each[0])  # stable: the log's order in a second
    return [{"dataset": name, "timestamp": when} for when, name in ordered]


def _handled(settings: Settings, names: list[str]) -> set[Path]:
    """The files (resolved) scrubbed as places of their own, not as lists or reports: the
    demo's, the scores tables, feature tables, ledger, monitor samples and references."""
    ws = settings.workspace
    demo = ws.demo_dir()
    handled = {p.resolve() for p in table_files(demo)} if demo.is_dir() else set()
    handled |= {p.resolve() for p in ws.scores_dir.glob("scores-*.parquet")}
    handled |= {p.resolve() for p in ws.features_dir.rglob("*.parquet")}
    handled |= (
        {p.resolve() for p in table_files(ws.ledger_dir)} if ws.ledger_dir.is_dir() else set()
    )
    handled |= {p.resolve() for p in ws.monitor_samples}  # deleted or untouched
    return handled | {p.resolve() for name in names for p in _monitor_references(settings, name)}


# -- the command ----------------------------------------------------------------------------


def ids_file_lines(raw: bytes, name: str) -> list[str]:
    """An ids file's lines (``--ids-file``): UTF-8 with or without a byte order mark, or
    UTF-16 with one (Excel's "Unicode text", Notepad's "Unicode"), any line ending; other
    bytes are refused in one line naming the file and the first byte not UTF-8."""
    import codecs
    import io

    utf16 = raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    try:
        text = raw.decode("utf-16" if utf16 else "utf-8-sig")
    except UnicodeDecodeError as error:
        raise ErasureError(
            f"--ids-file {name}: not UTF-8 (byte {raw[error.start]:#04x} at {error.start:,}): "
            "save it as UTF-8, one id a line (or UTF-16 with its byte order mark)"
        ) from None
    return [line.rstrip("\n") for line in io.StringIO(text, newline=None)]


def requested_ids(user_ids: Sequence[str]) -> tuple[list[str], int]:
    """The distinct ids asked for, in order, and how many empty ones were ignored."""
    given = [str(u) for u in user_ids]
    ids = list(dict.fromkeys(u for u in given if u.strip()))  # exact, as ingest stores them
    blank = sum(1 for u in given if not u.strip())
    if not ids:
        why = f" ({blank} empty id{'s' * (blank != 1)} ignored)" if blank else ""
        raise ErasureError(
            f"no user ids given{why}: lifecycle forget USER_ID [USER_ID...] or --ids-file FILE"
        )
    return ids, blank


def forget(
    settings: Settings,
    user_ids: Sequence[str],
    *,
    dataset: str | None = None,
    scrub_exports: bool = False,
) -> ErasureRecord:
    """Remove the users from every location listed in the module docstring; log the erasure.

    Registered lists outside the workspace are checked: rewritten with ``scrub_exports``,
    else named in the record for the operator."""
    asked = set(requested_ids(user_ids)[0])
    home = settings.workspace.home
    if not home.is_dir():
        raise ErasureError(f"no workspace at {home}")
    key, key_source = erasure_key(settings)
    record = ErasureRecord(
        timestamp=datetime.now(UTC).isoformat(timespec="seconds"),
        user_hashes=[],
        key_source=key_source,
        key_check=key_check(key),
        dataset=dataset,
    )
    record.stale_staging = sorted(str(p.relative_to(home)) for p in sweep_tree(home))
    # entries logged before 2026-12-07 held the ids of `listed_only` and `no_user`: dropped
    # (those a list or online store alone held were not hashed either: hashed first)
    now = {"timestamp": record.timestamp, "key_check": record.key_check, "key_source": key_source}
    record.log_ids_dropped = erasure_log.drop_fields(home, TOLD_ONLY, key, now)

    names = _dataset_names(settings, dataset)
    for name in names:  # a damaged events or users table stops us before any change
        require_whole_tables(settings.workspace.dataset_dir(name))
    every_export = registered(settings)  # a bad register stops us before any change
    exports = of_dataset(every_export, dataset)
    # the places outside a dataset are matched among all (y's at-risk list is not of "no
    # known dataset" to forget --dataset x: left, its c1 is y's user)
    workspace_names = _dataset_names(settings, None) if dataset is not None else names
    apart = [n for n in workspace_names if n not in names]
    owned = every_export if apart else exports  # lists by their dataset
    # one id however a file wrote it: 18074.0 is the user ingest loaded as 18074, and
    # C1@X.COM is c1@x.com in a dataset of case-insensitive ids
    read = {u: c.user_id_spellings(u)[0] for u in asked}
    folding = [n for n in names if dataset_case_insensitive_ids(settings.workspace.dataset_dir(n))]
    held_as = held_ids(names, read, folding)  # each dataset's own: folded where it folds
    readings = held_readings(held_as, read)
    ids = {i for held in readings.values() for i in held}
    held_by = ids_by_dataset(settings, {n: set(held_as[n].values()) for n in names})
    present, outside = ids_present(settings, held_by, ids, apart)  # of the datasets searched
    started = erasure_log.started_hashes(home, record.key_check)  # found, even if all gone
    found = present | {u for u in ids if _logged(key, u, started)}
    logged = erasure_log.erased_before(home, record.key_check, dataset)
    earlier = {u: entry for u in ids - found if (entry := _logged(key, u, logged))}
    # an id `forget --dataset y` erased is a person, not "no user" of dataset x: a user of
    # this forget, its mentions in x's places redacted, logged for x (x's ingests keep it out)
    anywhere = erasure_log.erasures_of(home, record.key_check, None) if dataset else {}
    gone = {u: entry for u in ids - found - set(earlier) if (entry := _logged(key, u, anywhere))}
    known = found | set(earlier) | set(gone)  # each asked id read as the one held (or first)
    read_as = {u: next((i for i in held if i in known), held[0]) for u, held in readings.items()}
    record.read_as = {u: i for u, i in read_as.items() if i != u and i in known}
    record.erased_before = {u: earlier[i]["timestamp"] for u, i in read_as.items() if i in earlier}
    every_erasure = erasure_log.erasures_of(home, record.key_check, dataset)
    record.erasures_before = {
        u: _erasures(key, i, every_erasure) for u, i in read_as.items() if i in earlier
    }
    record.erased_elsewhere = {
        u: _erasures(key, i, anywhere) for u, i in read_as.items() if i in gone
    }
    record.not_found = sorted(u for u, i in read_as.items() if i not in known)
    # an id no table holds, no list holds a row of and no erasure logged (`forget user_id`,
    # `forget 3` of ids 00001..) is no user: it changes nothing, its mentions stay
    handled = _handled(settings, names)
    files = other_files(settings, handled)  # read before any change
    spelt_as = {u: spellings({u, read[u], *readings[u]}) - spellings(known) for u in asked}
    owners = list_owners(settings, owned, workspace_names)  # the workspace's lists' datasets
    lists = (files, owned, apart, bool(folding), owners)
    unheld, listed_in = no_users(settings, key, record, spelt_as, names, lists)
    erase = spellings(ids)  # what the tables may hold them as
    erase_in = {n: spellings(set(held_as[n].values())) - unheld for n in names}  # its own
    # outside a dataset, its owner's; a folding one's place may hold the id in any casing
    # (a list written before the dataset folded), there the same user
    asked_as = spellings(set(read.values())) - unheld
    of = {n: erase_in[n] | asked_as for n in names}
    every = (erase - unheld) | asked_as

    # a user of a dataset not searched with one of these ids loses its rows in a place of no
    # known dataset: said when one holds them (read only when such a place changed)
    unsearched = dict.fromkeys(apart, every)

    def holders() -> list[str]:
        held_by = ids_by_dataset(settings, unsearched, fold=bool(folding))  # as scrubbed
        return [n for n, held in held_by.items() if held]

    places = place_ids(every, of, held_as, read, apart, folding, holders, unheld)
    terms = places
    if settings.privacy.key() is not None:  # lists made with --pseudonymize carry these
        terms = places.with_terms(lambda spelt: {pseudonym(key, u) for u in spelt})
    tables = [t for n in names for t in settings.workspace.dataset_dir(n).glob("*.parquet")]
    alike = held_alike(tables, erase)  # 18074.0 is erased with 18074: no other spelling
    spelt = ((u, set(alike.get(u, [])) - erase) for u in sorted(ids))
    record.other_spellings = {u: sorted(held) for u, held in spelt if held}
    apart = held_apart(alike, found)
    record.erased_with = {
        u: [s for s in apart[i] if s != u] for u, i in sorted(read_as.items()) if i in apart
    }
    # the users this forget erases: those a table held (or a killed erasure logged), and
    # those a list or online store alone held, as the id their datasets hold them as;
    # each step treats them alike: logged (later ingests keep them out), the monitor files
    # and champions of the datasets that held them
    users = found | {read_as[u] for u in [*record.listed, *record.erased_elsewhere]}
    record.user_hashes = sorted(keyed_hash(key, u) for u in users)
    record.spelling_hashes = sorted(set(erasure_log.spelling_hashes(key, sorted(users))))
    record.folded_hashes = sorted(keyed_hash(key, u) for u in users - set(read.values()))
    asked_only = {read[u] for u, i in read_as.items() if i in users and read[u] not in users}
    record.asked_hashes = sorted(keyed_hash(key, u) for u in asked_only)
    held, unsure = datasets_holding(held_by, found, listed_in, outside)
    pending = {k: getattr(record, k) for k in ("timestamp", "dataset", "key_check", "key_source")}
    record.spellings_added = erasure_log.log_spellings(home, key, pending, earlier)
    if record.user_hashes:
        hashes = {
            k: getattr(record, k)
            for k in ("user_hashes", "spelling_hashes", "folded_hashes", "asked_hashes")
        }
        erasure_log.begin_erasure(home, pending | hashes)
    record.exports = forget_inner_scratch(settings, owned, places)
    for name in names:
        forget_dataset(settings, name, erase_in[name], record, lambda u: keyed_hash(key, u))
    forget_tables(settings, places, record, "demo")
    for name in names:
        _forget_features(settings, name, erase_in[name], record)
    from features.store import StoreUnreachable

    changed = {}  # each Redis changed (a server may hold several datasets'), by address
    for store in online_stores(settings, names):
        where, ids_here = store.location, erase_in[store.dataset]
        try:
            removed = forget_online(store, ids_here)
            # mentions in other users' text features, as materialized from the feature table
            mentions = redact_online(store, ids_here)
        except StoreUnreachable as error:
            if not store.earlier:  # the store the settings name: stopped, a re-run completes
                raise
            record.not_reached[store.named(home)] = unreached(store, error)
            continue
        if ids_here:  # reached: the settings' Redis recorded if it was not
            record_reached(store, "forget")
        record.removed[where] = record.removed.get(where, 0) + removed
        if mentions:
            record.redacted[where] = record.redacted.get(where, 0) + mentions
        if store.path is None and (removed or mentions):
            changed[store.address] = store
    for address, store in changed.items():  # its snapshot and append-only file: on disk
        record.redis_files[f"redis@{address}"] = rewrite_redis_files(store)[0]
    forget_tables(settings, places, record, "scores")
    if record.user_hashes:  # some user's rows may be in the monitor's samples
        _forget_monitor_files(settings, held, unsure, record)
    forget_tables(settings, places, record, "ledger")
    forget_other_files(settings, terms, owners, record, [p for p in files if p.is_file()])
    _scan_mlflow(settings, terms, workspace_names, record)
    record.exports += check_exports(settings, exports, places, scrub_exports=scrub_exports)
    record.every_spelling = dict(sorted(places.noted.items()))
    record.another_datasets = dict(sorted(places.left.items()))
    if settings.workspace.mlflow_dir.is_dir() or settings.tracking.uri:
        # those of every earlier erasure of these users (one per dataset, `forget --dataset`):
        # named by them, or trained before them
        hashes = {keyed_hash(key, s) for s in spellings(set(earlier))}
        logged_all = erasure_log.erasures(home, record.key_check, dataset)
        entries = [e for e in logged_all if hashes & set(e.get("user_hashes", []))]
        record.champions, line = not_changed(settings, held, unsure, (names, entries))
        record.not_covered.append(line)

    outside = [e for e in record.exports if e.status in CHANGED]  # rewritten or deleted
    # a re-run of ids erased before that finds mentions or a report left (an online store
    # redacted since) changes the workspace too: logged, naming the erasures it completes
    leftovers = bool(record.redacted or record.deleted_files)
    each = {
        (e["timestamp"], e["dataset"] or "") for u in record.erasures_before.values() for e in u
    }
    before = [{"dataset": d or None, "timestamp": t} for t, d in sorted(each)]
    record.completes = before if leftovers else []
    # a store not reached (a Redis of earlier settings down): the attempt is logged, no ids,
    # so what was and was not done is on record, and which earlier erasures it left open
    record.not_completed = before if record.not_reached else []
    if record.user_hashes or record.stale_staging or outside or leftovers or record.not_reached:
        record.log_path = str(append_entry(home, record.log_entry()))
    elif record.spellings_added:
        record.log_path = str(home / LOG_FILE)
    left = erasure_log.finish_erasure(home, pending | {"user_hashes": record.user_hashes})
    record.unfinished = [
        f"started {e['timestamp']}, {users_text(len(e['user_hashes']))}" for e in left
    ]
    return record


__all__ = ["ErasureError", "forget", "log_entries"]
