"""What an ingest, import or append says of a dataset: its tables' counts and notes, and
for an events dataset what it holds now."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from features import contract as c
from features.read_notes import note_lines
from lifecycle.words import EVENTS, ROWS, counted

IDS_CASE_DROPPED = "case_insensitive_ids_dropped"  # report note: the version replaced


@dataclass(frozen=True)
class DatasetSummary:
    name: str
    path: Path
    kind: str  # events | snapshot | campaign
    tables: dict[str, dict[str, Any]]  # table -> its LoadReport as a dict (the last batch's)
    totals: dict[str, int] | None = None  # after an append: rows in the whole dataset
    now: dict[str, Any] | None = None  # the events dataset as it is (appending.dataset_now)
    unchanged: bool = False  # an append that brought nothing new: the dataset kept its version
    # with a users file and the attribute settings: its attributes no model reads -> why
    # (features.identifiers.users_file_not_features, judged on the ingest's connection)
    not_features: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "path": str(self.path), "kind": self.kind, "tables": self.tables}
        out |= {"unchanged": True} if self.unchanged else {}
        return out | ({"totals": self.totals} if self.totals else {}) | {"now": self.now}

    def lines(self) -> list[str]:
        out = [f"dataset '{self.name}' ({self.kind}) at {self.path}"]
        if self.now:
            now = self.now
            line = (
                f"  now: {counted(now['events'], EVENTS)} of {counted(now['users'])}, "
                f"{now['first_event'][:10]} .. {now['last_event'][:10]}"
            )
            if "users_table" in now:
                line += f"; users table {now['users_table']:,} rows"
            if now.get("rows_erased"):
                line += "; erased since the last append: " + ", ".join(
                    f"{n:,} rows of {table}" for table, n in now["rows_erased"].items()
                )
            out.append(line)
            source = next(iter(self.tables.values()))["source"]
            if self.unchanged:
                out.append(
                    f"  nothing new in {source}: the dataset keeps its version "
                    f"({_appends(now['appends'])} before); of this file:"
                )
            elif now["appends"]:
                out.append(f"  {_appends(now['appends'])}; the last, of {source}:")
        elif self.totals:
            out.append(
                "  appended: now " + ", ".join(f"{n:,} {what}" for what, n in self.totals.items())
            )
        for table, report in self.tables.items():
            reasons = ", ".join(f"{n:,} {r}" for r, n in report["reasons"].items())
            held = "" if self.unchanged else f", in {self.path / 'quarantine'}"
            out.append(
                f"  {table}: {report['rows_loaded']:,} row{'s' * (report['rows_loaded'] != 1)} loaded "
                f"of {report['rows_read']:,}, "
                f"{report['rows_quarantined']:,} quarantined"
                + (f" ({reasons}{held})" if reasons else "")
                + (f", {report['rows_erased']:,} erased" if report.get("rows_erased") else "")
            )
            notes = report.get("notes", {})
            if "amount_default" in notes:
                why = (
                    "their amount was empty"
                    if notes["amount_in_file"]
                    else "no amount column: LTV is in purchases"
                )
                out.append(
                    f"    {notes['amount_defaulted']:,} purchase/refund rows given amount "
                    f"{notes['amount_default']:g} ({why})"
                )
            out += note_lines(notes, report["reasons"])
            if "repeats_kept" in notes:
                out.append(f"    exact repeats kept as separate events: {notes['repeats_kept']:,}")
            if dropped := notes.get("users_table_dropped"):
                out.append(
                    f"    users table of {counted(dropped['rows'], ROWS)} dropped (no --users file): "
                    f"`lifecycle datasets restore {dropped['version']}` brings it back, or "
                    "ingest again with --users FILE"
                )
            if version := notes.get(IDS_CASE_DROPPED):
                out.append(
                    f"    user ids read as the file writes them: {version} held them "
                    "case-insensitive, and a replace keeps no recorded option (ingest again "
                    "with --case-insensitive-ids to fold them)"
                )
            if absent := notes.get("columns_absent"):
                by_time = " (their orders counted by user and time)" * (
                    c.ORDER_ID in absent["columns"]
                )
                rows = f"{absent['rows']:,} row{'s' * (absent['rows'] != 1)}"
                out.append(
                    f"    columns the dataset has and this file lacks, empty in the {rows} "
                    f"added{by_time}: {', '.join(absent['columns'])}"
                )
            if added := notes.get("columns_added"):
                rows = f"{added['rows']:,} row{'s' * (added['rows'] != 1)}"
                out.append(
                    f"    columns new to the dataset, empty in its {rows} before: "
                    f"{', '.join(added['columns'])}"
                )
            if notes.get("late_events"):
                out.append(
                    f"    late events accepted (older than the dataset's newest): "
                    f"{notes['late_events']:,}"
                )
            if silence := notes.get("silence_before_file"):
                from features.append_gap import silence_line

                out.append(silence_line(silence))
        return out


def _appends(count: int) -> str:
    """'1 append', '3 appends': how many times a dataset was appended to."""
    return f"{count:,} append{'s' * (count != 1)}"
