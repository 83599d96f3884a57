"""The record of one erasure: what ``lifecycle forget`` found, removed, redacted, deleted
and left, as logged (``to_dict``, the erasure log's entry and ``--json``) and as told
(``lines``, the command's summary)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from features.erasure_exports import ExportFinding
from features.id_spellings import listed as said
from features.id_spellings import shown
from features.scrub import REDACTED, Scrubbed

NOT_FOUND_SHOWN = 20  # unknown ids a summary names; --json has them all
# what forget tells and never logs: the ids (as asked, as held, no user's), the places
# holding them; the erasure log keeps keyed hashes, never an id
TOLD_ONLY = (
    "log",
    "not_found",
    "no_user",
    "no_user_hints",
    "maybe_held",
    "listed_only",
    "listed_in",
    "read_as",
    "other_spellings",
    "erased_before",
    "erasures_before",
    "erased_elsewhere",
    "erased_with",
    "spared_files",
    "log_entries_without_ids",
)
FILES_DELETED = "files deleted"  # the end of a count of ``removed`` that is of files, not rows


@dataclass
class ErasureRecord:
    timestamp: str
    user_hashes: list[str]  # of the ids found and erased
    key_source: str
    key_check: str = ""  # tells the key again (features.erasure_log), reveals nothing
    spelling_hashes: list[str] = field(default_factory=list)  # of their spelling keys
    # of the ids found only as a case-insensitive dataset folds them (c1@x.com for C1@X.COM):
    # held back by the ingests of such datasets only, another's c1@x.com is a user of its own
    folded_hashes: list[str] = field(default_factory=list)
    # of the ids as asked (as ingest reads them) that were found only folded: what the
    # operator asked to forget, held back everywhere (C1@X.COM is not another's user)
    asked_hashes: list[str] = field(default_factory=list)
    dataset: str | None = None  # None: every dataset
    removed: dict[str, int] = field(default_factory=dict)  # location -> rows removed
    redacted: dict[str, int] = field(default_factory=dict)  # location -> id tokens redacted
    deleted_files: list[str] = field(default_factory=list)  # workspace-relative
    # reports left whole -> the ids of no table they mention (a column's name): told, not logged
    spared_files: dict[str, list[str]] = field(default_factory=dict)
    monitor_files: dict[str, str] = field(default_factory=dict)  # deleted -> whose rows: told
    mlflow_examples: list[str] = field(default_factory=list)  # artifacts mentioning a user
    not_covered: list[str] = field(default_factory=list)
    # online stores of earlier settings that could not be reached -> why (logged, no ids)
    not_reached: dict[str, str] = field(default_factory=dict)
    # each Redis changed (redis@host:port) -> its files on disk written again without the
    # users, or NOT and why (features.redis_files): logged, no ids
    redis_files: dict[str, str] = field(default_factory=dict)
    champions: list[str] = field(default_factory=list)  # models that learned from the users
    stale_staging: list[str] = field(default_factory=list)  # left by killed writers, removed
    not_found: list[str] = field(default_factory=list)  # ids in no table: told, never logged
    # of those, no user (no list holds a row of them either) -> why, when more than "no
    # user": the dataset's ids zero-padded; nothing changed for them, told, never logged
    no_user: dict[str, str] = field(default_factory=dict)
    # ids found in no place reached -> the places not reached (a Redis of earlier settings
    # down) that may hold them: not said to be no user, nothing changed; told, never logged
    maybe_held: dict[str, list[str]] = field(default_factory=dict)
    # of no table, a list's or a dataset's online store's row: users after all, logged
    listed: list[str] = field(default_factory=list)
    # each of those -> the places holding it (`the online store of shop`): told, never logged
    listed_in: dict[str, list[str]] = field(default_factory=dict)
    # ids in no table that an earlier forget erased -> its time: told, never logged again
    erased_before: dict[str, str] = field(default_factory=dict)
    # each of those -> every logged erasure of it, oldest first ({"dataset": None for all, or
    # the one `forget --dataset` named, "timestamp"}): one a dataset, erased dataset by dataset
    erasures_before: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # with --dataset x, ids in no table of x that a forget of another dataset erased -> every
    # such erasure, oldest first ({"dataset": y, "timestamp": its time}, as ``erasures_before``):
    # users of this forget, logged for x; told, the ids never logged
    erased_elsewhere: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    read_as: dict[str, str] = field(default_factory=dict)  # 18074.0 -> 18074: told, never logged
    # ids held under another spelling of one asked for (Bob / 'Bob '): told, never logged
    other_spellings: dict[str, list[str]] = field(default_factory=dict)
    # ids held as users of their own, erased with one asked as one id (18074.0 beside 18074)
    erased_with: dict[str, list[str]] = field(default_factory=dict)
    exports: list[ExportFinding] = field(default_factory=list)  # registered lists outside
    # the earlier erasures ({"dataset", "timestamp"}, oldest first) of the ids asked that no
    # table holds now whose leftovers (mentions in text, a report) this one removed: logged,
    # so a re-run that finds no user but changes something is on record, with no id
    completes: list[dict[str, Any]] = field(default_factory=list)
    # the earlier erasures (as ``completes``) of the ids asked that this one could not finish,
    # a place ``not_reached``: logged with it, so a re-run while a Redis is down is on record
    not_completed: list[dict[str, Any]] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)  # earlier erasures killed midway
    spellings_added: list[str] = field(default_factory=list)  # to erasures logged without
    # places of no known dataset scrubbed of every dataset's spellings -> why (logged)
    every_spelling: dict[str, str] = field(default_factory=dict)
    # places of a dataset not searched holding the ids, left as they are -> whose (logged)
    another_datasets: dict[str, str] = field(default_factory=dict)
    log_path: str = ""
    log_ids_dropped: int = 0  # earlier log entries rewritten without the ids they held

    @property
    def total(self) -> int:
        """The rows removed (not the files deleted, counted beside them)."""
        return sum(n for where, n in self.removed.items() if not where.endswith(FILES_DELETED))

    def count(self, location: str, done: Scrubbed) -> None:
        """What scrubbing a location's files did: rows removed, and tokens redacted if any."""
        self.removed[location] = done.removed
        if done.redacted:
            self.redacted[location] = done.redacted

    def to_dict(self) -> dict[str, Any]:
        return {
            "timestamp": self.timestamp,
            "users": len(self.user_hashes),
            "user_hashes": self.user_hashes,
            "spelling_hashes": self.spelling_hashes,
            "folded_hashes": self.folded_hashes,
            "asked_hashes": self.asked_hashes,
            "key_source": self.key_source,
            "key_check": self.key_check,
            "dataset": self.dataset,
            "removed": self.removed,
            "total_removed": self.total,
            "redacted": self.redacted,
            "deleted_files": self.deleted_files,
            "spared_files": self.spared_files,
            "mlflow_artifacts_mentioning_users": self.mlflow_examples,
            "not_covered": self.not_covered,
            "not_reached": self.not_reached,
            "redis_files": self.redis_files,
            "champions_trained_with_users": self.champions,
            "stale_staging_removed": self.stale_staging,
            "not_found": self.not_found,
            "no_user": sorted(self.no_user),
            "no_user_hints": {u: why for u, why in self.no_user.items() if why},
            "maybe_held": self.maybe_held,
            "listed_only": self.listed,
            "listed_in": self.listed_in,
            "erased_before": self.erased_before,
            "erasures_before": self.erasures_before,
            "erased_elsewhere": self.erased_elsewhere,
            "read_as": self.read_as,
            "other_spellings": self.other_spellings,
            "erased_with": self.erased_with,
            "exports": [asdict(e) for e in self.exports],
            "completes": self.completes,
            "not_completed": self.not_completed,
            "unfinished_erasures": self.unfinished,
            "spelling_hashes_added_to": self.spellings_added,
            "scrubbed_as_every_dataset_holds": self.every_spelling,
            "left_as_another_dataset_holds": self.another_datasets,
            "log": self.log_path,
            "log_entries_without_ids": self.log_ids_dropped,
        }

    def log_entry(self) -> dict[str, Any]:
        """The erasure log's line: :meth:`to_dict` without what is told only (``TOLD_ONLY``)."""
        return {k: v for k, v in self.to_dict().items() if k not in TOLD_ONLY}

    def lines(self) -> list[str]:
        rows = self.total
        out = [
            f"forgot {users_text(len(self.user_hashes))}: {rows:,} row{'s' * (rows != 1)} removed"
        ]
        if nobody := sorted(self.no_user):  # 10,000 unknown ids of a file were 150 kB a line
            more = len(nobody) - NOT_FOUND_SHOWN
            listed = ", ".join(map(said, nobody[:NOT_FOUND_SHOWN]))
            listed += f" and {more:,} more (--json lists them all)" if more > 0 else ""
            out.append(
                "  not found in any table, no list or online store holds a row of it, no "
                "erasure logged it: no user, nothing changed for it (its mentions in text "
                f"stay): {listed}"
            )
        unsure: dict[str, list[str]] = {}  # the places not reached -> the ids
        for u, places in self.maybe_held.items():
            unsure.setdefault(", ".join(places), []).append(u)
        for places, ids in unsure.items():
            out.append(
                f"  not found in the places reached; NOT known to be no user: {places} could "
                "not be reached and may hold it, nothing changed for it (start it and run "
                f"forget again): {_ids(ids[:NOT_FOUND_SHOWN])}"
                + (
                    f" and {len(ids) - NOT_FOUND_SHOWN:,} more"
                    if len(ids) > NOT_FOUND_SHOWN
                    else ""
                )
            )
        hints = [why for why in self.no_user.values() if why]
        out += [f"  {why}" for why in hints[:NOT_FOUND_SHOWN]]
        held_in: dict[str, list[str]] = {}  # the places holding them -> the ids
        for u in self.listed:
            held_in.setdefault("; ".join(self.listed_in.get(u, [])), []).append(u)
        for where, ids in held_in.items():
            hold = "hold" if "; " in where else "holds"
            shown_ids = ", ".join(map(said, ids[:NOT_FOUND_SHOWN]))
            shown_ids += f" and {len(ids) - NOT_FOUND_SHOWN:,} more" * (len(ids) > NOT_FOUND_SHOWN)
            out.append(
                f"  in no table searched, but {where or 'a list or online store'} {hold} a row "
                "of it: a user, erased from the places searched, its mentions redacted, logged: "
                f"{shown_ids}"
            )
        by_erasures: dict[str, list[str]] = {}  # the erasures said -> the ids
        for u, when in self.erased_before.items():
            by_erasures.setdefault(self._erasures_text(u, when), []).append(u)
        for erasures, erased in sorted(by_erasures.items()):
            out.append(f"  {erasures}, no row left in the workspace: {_ids(erased)}")
        elsewhere: dict[str, list[str]] = {}  # the erasures said -> the ids
        for u, each in self.erased_elsewhere.items():
            elsewhere.setdefault(_erased_from(each), []).append(u)
        for erasures, erased in sorted(elsewhere.items()):
            out.append(
                f"  in no table of dataset {self.dataset}; {erasures}: a user, its mentions "
                f"redacted, logged for {self.dataset} now, so later ingests of it keep it out: "
                f"{_ids(erased)}"
            )
        out += [
            f"  {said(u)}: read as {said(i)}, the id ingest loaded" for u, i in self.read_as.items()
        ]
        for asked, held in self.other_spellings.items():
            also = "" if asked in self.not_found else "also "
            out.append(
                f"  {shown(asked)}: {also}held written as {', '.join(map(shown, held))} (case, "
                "spaces, leading zeros or accent encoding apart), NOT erased; if that is the "
                "same person, run forget again with the id exactly as held"
            )
        for asked, also in self.erased_with.items():
            out.append(
                f"  {shown(asked)}: {', '.join(map(shown, also))} held as a user of its own too "
                "(/score answers each apart), erased with it: ingest reads both as one id, and "
                "keeps both out; if that was another person, their rows are gone too"
            )
        width = max((len(k) for k in self.removed), default=0)
        out += [f"  {k:<{width}}  {v:>9,}" for k, v in self.removed.items()]
        for where, tokens in self.redacted.items():
            mentions = f"{tokens:,} mention{'s' * (tokens != 1)}"
            out.append(f"  {where}: {mentions} in other rows' text -> {REDACTED}")
        for p in self.deleted_files:
            out.append(f"  deleted ({self.monitor_files.get(p, 'mentioned a user')}): {p}")
        for p, words in self.spared_files.items():
            out.append(f"  kept (mentions only {', '.join(words)}, no user's id): {p}")
        for p in self.mlflow_examples:
            out.append(f"  NOT changed, mentions a user (retrain to drop it): {p}")
        out += [f"  not covered: {n}" for n in self.not_covered]
        out += [f"  {where}: {why}" for where, why in self.not_reached.items()]
        out += [f"  {where} files on disk: {done}" for where, done in self.redis_files.items()]
        out += [f"  {where}: {why}" for where, why in self.every_spelling.items()]
        for whose in dict.fromkeys(self.another_datasets.values()):  # one line a dataset
            left = [where for where, said in self.another_datasets.items() if said == whose]
            out.append(f"  {', '.join(left)}: {whose}")
        out += [f"  removed staging of a killed writer: {p}" for p in self.stale_staging]
        out += [f"  export {e.text()}" for e in self.exports]
        out += [f"  NOT finished, run forget again with its ids: {u}" for u in self.unfinished]
        out += [
            f"  the erasure of {when} logged no spelling keys: logged now, so later ingests "
            "hold back its ids spelt another way too"
            for when in self.spellings_added
        ]
        if self.log_ids_dropped:
            out.append(
                f"  {self.log_ids_dropped:,} earlier entr{'ies' if self.log_ids_dropped != 1 else 'y'}"
                " of the erasure log held ids (listed_only, no_user): rewritten without them, "
                "the keyed hashes of those a list or online store alone held logged first (until "
                "session 57 they were not), so later ingests keep them out"
            )
        if self.log_path and not self.user_hashes and (self.completes or self.not_reached):
            if self.completes:
                out.append(
                    f"what the {'forget' if len(self.completes) == 1 else 'forgets'} of "
                    f"{_named(self.completes)} left, removed now: recorded in {self.log_path} "
                    "(counts and times, no ids)"
                )
            if self.not_reached:
                places, of = len(self.not_reached), self.not_completed
                forgets = "forget" if len(of) == 1 else "forgets"
                out.append(
                    f"NOT complete{f' (the {forgets} of {_named(of)})' if of else ''}: "
                    f"{places} place{'s' * (places != 1)} not reached "
                    f"({', '.join(self.not_reached)}); this attempt recorded in {self.log_path} "
                    "(counts, times and the places not reached, no ids)"
                )
        elif self.log_path:
            out.append(f"erasure recorded in {self.log_path} (keyed hashes, no ids)")
        else:
            nobody = "nothing left to erase" if self.erased_before else "no user found"
            out.append(f"{nobody}: nothing recorded in the erasure log")
        return out

    def _erasures_text(self, user: str, last: str) -> str:
        """'erased by the forget of T' (its one logged erasure, ``last``), or each of them:
        'erased by the forgets of T1 (dataset shop) and T2 (dataset cdnow)'."""
        each = self.erasures_before.get(user, [])
        if len(each) < 2:
            return f"erased by the forget of {last}"
        return f"erased by the {len(each)} forgets of {_named(each)}"


def _named(each: list[dict[str, Any]]) -> str:
    """'T1 (dataset shop) and T2 (every dataset)': logged erasures, oldest first."""
    named = [
        f"{e['timestamp']} ({'every dataset' if e['dataset'] is None else 'dataset ' + e['dataset']})"
        for e in each
    ]
    return " and ".join([", ".join(named[:-1]), named[-1]] if len(named) > 1 else named)


def _erased_from(each: list[dict[str, Any]]) -> str:
    """'erased from dataset y by the forget of T' (one erasure of other datasets), or 'erased
    from other datasets by the 2 forgets of T1 (dataset y) and T2 (dataset z)'."""
    if len(each) == 1:
        return f"erased from dataset {each[0]['dataset']} by the forget of {each[0]['timestamp']}"
    return f"erased from other datasets by the {len(each)} forgets of {_named(each)}"


def _ids(ids: list[str]) -> str:
    return ", ".join(map(said, sorted(ids)))


def users_text(count: int) -> str:
    """'1 user', '2 users': forget's count of the users asked for."""
    return f"{count:,} user{'s' * (count != 1)}"
