"""A count of one reads in the singular in what the CLI prints outside training/ ('1 user
added', '1 event', '1 user left out'), through lifecycle.words.counted (s59 left "1 users
added", "1 users of the users file have no event", "1 users left out")."""

from __future__ import annotations

from features.dataset_summary import EventRange
from features.read_notes import note_lines
from serving.score_shift import shift_line


def test_a_count_of_one_is_singular_in_ingest_notes_event_ranges_and_score_shifts() -> None:
    notes = {
        "users_added": 1,
        "users_updated": 0,
        "users_without_events": {"users": 1, "example": "u3"},
    }
    lines = note_lines(notes, {})
    assert "    the users table updated: 1 user added, 0 changed (users the file lacks stay)" in (
        lines
    )
    assert any(
        line.startswith("    1 user of the users file has no event (e.g. 'u3')") for line in lines
    )
    assert EventRange(rows=1, first="2025-01-05", last="2025-01-05").text() == (
        "1 event 2025-01-05 .. 2025-01-05"
    )
    shift = {
        "users": 1,
        "as_of": "2011-09-01",
        "score": "churn_probability",
        "mean_before": 0.4,
        "mean_after": 0.5,
        "rank_correlation": 1.0,
        "top_changed": 0,
        "top": 1,
    }
    assert shift_line("churn", shift).startswith("churn on the latest scores' 1 user (as of")
