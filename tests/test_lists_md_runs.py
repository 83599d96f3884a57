"""docs/lists.md's command block runs as written, each option alone, on the workspace it
names (the demo's): session 58, a new user on a fresh machine, found its `--where
country=Spain` (online_retail's) refused on the demo (GB, US, DE, FR, IE), and its
`movers --since 2025-11-24` refused for want of a table of that date."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_docs import DOCS

from lifecycle.cli import main

BRACKETED = re.compile(r"\[([^\]]+)\]")


def block_commands(page: Path) -> list[str]:
    """The first bash block's commands, continuation lines joined, comments dropped."""
    block = re.search(r"```bash\n(.*?)```", page.read_text(), re.DOTALL)
    assert block is not None, f"{page.name} has no bash block"
    joined = block[1].replace("\\\n", " ")
    return [line.split("  #")[0].strip() for line in joined.splitlines() if line.strip()]


def each_option_alone(command: str) -> Iterator[list[str]]:
    """The command without its bracketed options, then with each alone, each of its values
    (``a|b|c``; a value ``.json`` after ``list.csv`` is ``list.json``)."""
    base = BRACKETED.sub(" ", command).split()[1:]  # without "lifecycle"
    yield base
    for option in BRACKETED.findall(command):
        name, *value = option.split(maxsplit=1)
        if not value:
            yield [*base, name]
            continue
        first, *others = value[0].split("|")
        stem = Path(first).stem
        for each in (first, *(f"{stem}{o}" if o.startswith(".") else o for o in others)):
            yield [*base, name, each]


def test_the_command_block_of_lists_md_runs_on_the_demo(
    trained_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # --out list.csv and report.html are written here
    commands = block_commands(DOCS / "lists.md")
    assert [c.split()[1] for c in commands] == [
        "score-all",
        "at-risk",
        "movers",
        "segments",
        "report",
    ]
    # --pseudonymize takes a secret key, as the block's comment says
    key = "LIFECYCLE_PRIVACY__PSEUDONYM_KEY"
    assert f"[--pseudonymize]  # this one with a key: {key}" in (DOCS / "lists.md").read_text()
    failed = []
    runs = 0
    for command in commands:
        # the first line's two forms, the dated one first: movers --since takes its table
        variants = list(each_option_alone(command))
        variants = variants[::-1] if command.split()[1] == "score-all" else variants
        for args in variants:
            done = CliRunner().invoke(
                main, ["--home", str(trained_copy), "--quiet", *args], env={key: "k" * 32}
            )
            runs += 1
            if done.exit_code != 0:
                failed.append(f"lifecycle {' '.join(args)}: {done.output.strip()[-300:]}")
    assert runs >= 20 and failed == []


def test_the_at_risk_where_examples_of_serving_md_run_on_the_demo(trained_copy: Path) -> None:
    """docs/serving.md's `/at_risk` row gave `{"country": "Spain"}` and `["Spain", "France"]`,
    online_retail's names, which a demo server refuses (a 400 naming GB, US, DE, FR, IE).
    Each `where` the row shows for the demo is answered by the demo's list (ListAnswers, what
    the route calls), and lists someone."""
    import json

    from lifecycle.settings import load_settings
    from serving.answers import ListAnswers

    row = next(
        line for line in (DOCS / "serving.md").read_text().splitlines() if "`POST /at_risk`" in line
    )
    demo = row.split(" on the demo")[0]  # the examples before online_retail's are the demo's
    shown = [json.loads(m) for m in re.findall(r'`(\{"country": [^`]+\})`', demo)]
    shown += [json.loads(m) for m in re.findall(r'`(\{"country": \[[^`]+\]\})`', row)]
    shown = [json.loads(u) for u in dict.fromkeys(json.dumps(w) for w in shown)]
    assert len(shown) == 2, shown
    answers = ListAnswers(load_settings(home=trained_copy, environ={}), "demo")
    for where in shown:
        assert answers.at_risk(None, where=where, min_churn=0).users, where
