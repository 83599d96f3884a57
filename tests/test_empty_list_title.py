"""An empty list's title says why it is empty, not "top 0 users" (session 58, a new user:
`at-risk` with filters matching nobody titled `top 0 users ...`, then "no users match")."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from test_lists import scores_table
from test_movers_history import _score

from lifecycle.cli import main
from lifecycle.settings import load_settings
from serving.batch import write_scores


def _run(home: Path, *args: str) -> str:
    done = CliRunner().invoke(main, ["--home", str(home), *args])
    assert done.exit_code == 0, done.output
    return done.stdout


def test_an_empty_list_says_why_in_its_title(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    settings = load_settings(home=home, environ={})
    write_scores(settings.workspace.scores_dir, scores_table(), {"as_of": "2024-01-05"})
    asked = ("at-risk", "--channel", "email", "--min-ltv", "1e12")
    why = "no scored user matches all of: channel email, ltv >= 1e+12, churn probability >= 0.2"
    lines = _run(home, *asked).splitlines()
    assert lines[0].startswith(f"demo: no users ({why}) by value at risk"), lines[0]
    assert "top 0" not in lines[0]
    assert why not in "\n".join(lines[1:])  # said once, in the title
    assert lines[-1] == "(no users match)"
    # --json keeps it among its notes, where a script reads it; a list of users is as before
    assert why in json.loads(_run(home, "--json", *asked))["notes"]
    assert _run(home, "at-risk", "--top", "1").startswith("demo: top 1 user by value at risk")


def test_an_empty_movers_list_says_nobody_rose_in_its_title(home: Path) -> None:
    _score(home, "shop", "2025-10-01", [0.7, 0.5])
    _score(home, "shop", "2025-11-01", [0.6, 0.4])
    args = ("movers", "--dataset", "shop", "--by", "churn_probability")
    title = _run(home, *args).splitlines()[0]
    assert title.startswith(
        "shop: no risers (nobody's churn probability rose from 2025-10-01 to 2025-11-01) in "
        "churn probability: 2025-10-01"
    ), title
    title = _run(home, *args, "--min-churn", "0.9").splitlines()[0]
    assert title.startswith(
        "shop: no risers (no scored user matches all of: churn probability >= 0.9) in "
    ), title


def test_lifecycle_runs_top_list_says_why_it_is_empty(tmp_path: Path) -> None:
    """`lifecycle run`'s top list (print_top, now serving/list_top.py) titled "top 0 at-risk
    users" when every user was below the medium risk band."""
    from serving.list_top import print_top

    settings = load_settings(home=tmp_path / "ws", environ={})
    calm = scores_table().assign(churn_probability=0.05, value_at_risk=1.0)
    write_scores(settings.workspace.scores_dir, calm, {"as_of": "2024-01-05"})
    said: list[str] = []
    assert print_top(settings, 3, echo=said.append).empty
    assert said[0].startswith(
        "demo: no at-risk users (no scored user matches all of: churn probability >= 0.2) by "
    ), said[0]
