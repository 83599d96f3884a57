"""The README and docs/: every relative link lands on a file and heading that exist, and every
generated table is what its experiment renders from the results it recorded.

Cheap: no network, no experiment is rerun (``experiments/docblocks.py`` explains the blocks).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
sys.path.insert(0, str(REPO / "experiments"))

import docblocks  # noqa: E402  (experiments/ is not a package)

PAGES = [REPO / "README.md", *sorted(DOCS.glob("*.md"))]
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
# [text](target) or ![alt](target); the target has no spaces (titles are not used here).
LINK = re.compile(r"!?\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(?P<title>.+?)\s*#*\s*$", re.MULTILINE)


def prose(text: str) -> str:
    """The text with fenced code, code spans and comments blanked (links there are not links)."""
    for pattern in (FENCE, COMMENT, CODE_SPAN):
        text = pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    return text


def slug(title: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)  # a link in a heading: its text
    title = title.replace("`", "").strip().lower()
    title = re.sub(r"[^\w\- ]", "", title)
    return title.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading anchor of a markdown file, numbered as GitHub numbers repeats."""
    seen: dict[str, int] = {}
    found = set()
    for match in HEADING.finditer(prose(page.read_text())):
        base = slug(match["title"])
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def relative_links(page: Path) -> list[tuple[int, str]]:
    """(line, target) of every link that is not a web address."""
    text = prose(page.read_text())
    links = []
    for match in LINK.finditer(text):
        target = match["target"]
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        links.append((text.count("\n", 0, match.start()) + 1, target))
    return links


def broken_links(page: Path, root: Path = REPO) -> list[str]:
    """What is wrong with each relative link of ``page`` (paths shown relative to ``root``)."""
    problems = []
    for line, target in relative_links(page):
        path_part, _, anchor = target.partition("#")
        where = f"{page.relative_to(root)}:{line}: link to {target!r}"
        destination = (page.parent / unquote(path_part)).resolve() if path_part else page
        if not destination.exists():
            problems.append(f"{where}: expected the file {destination} to exist")
            continue
        if not anchor:
            continue
        if destination.suffix != ".md":
            problems.append(f"{where}: an anchor only works on a markdown page")
        elif anchor not in anchors(destination):
            problems.append(
                f"{where}: expected a heading with anchor #{anchor} in "
                f"{destination.relative_to(root)}; it has {sorted(anchors(destination))}"
            )
    return problems


# -- the checker itself, on tiny pages -----------------------------------------------------


def test_slugs_follow_github() -> None:
    assert slug("Scoring API (BentoML)") == "scoring-api-bentoml"
    assert slug("P(alive) and expected purchases") == "palive-and-expected-purchases"
    assert slug("The `lifecycle` command") == "the-lifecycle-command"
    assert slug("Split by time, to measure") == "split-by-time-to-measure"


def test_checker_finds_a_missing_file_and_anchor_and_skips_code(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## Part two\n\n## Part two\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n[ok](other.md#part-two) [ok too](other.md#part-two-1) [self](#page)\n"
        "[gone](missing.md) [no anchor](other.md#part-three) [web](https://example.org/x)\n"
        "`[in code](nowhere.md)`\n\n```\n[in a fence](nowhere.md)\n```\n"
    )
    problems = broken_links(page, root=tmp_path)
    assert len(problems) == 2, problems
    assert "page.md:4: link to 'missing.md'" in problems[0]
    assert "#part-three" in problems[1] and "part-two-1" in problems[1]


# -- the real pages ------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(page: Path) -> None:
    assert relative_links(page) or page.name != "README.md", "the README links into docs/"
    problems = broken_links(page)
    assert not problems, "\n".join(problems)


def test_readme_is_an_entry_point() -> None:
    readme = (REPO / "README.md").read_text()
    assert len(readme.encode()) < 8_000, f"README.md is {len(readme.encode()):,} bytes"
    assert "./run tests" in readme, "CI runs the README's test command: ./run tests"
    linked = {
        (REPO / target.partition("#")[0]).resolve()
        for _, target in relative_links(REPO / "README.md")
    }
    unlinked = [p.name for p in DOCS.glob("*.md") if p.resolve() not in linked]
    assert not unlinked, f"docs pages the README does not link to: {unlinked}"


def generated_blocks() -> list[docblocks.Block]:
    return [block for page in PAGES for block in docblocks.blocks(page)]


@pytest.mark.parametrize("block", generated_blocks(), ids=lambda b: b.name)
def test_generated_table_is_its_experiments_rendering(block: docblocks.Block) -> None:
    record = docblocks.load_results(block.name)
    assert record["experiment"] in block.command, (
        f"{block.doc.relative_to(REPO)}: block {block.name!r} says it comes from "
        f"{block.command!r}; its results were recorded by {record['experiment']}"
    )
    assert (REPO / "experiments" / record["experiment"]).is_file()
    expected = docblocks.rendered(block.name)
    assert block.body == expected, (
        f"{block.doc.relative_to(REPO)}: the {block.name!r} block differs from what "
        f"experiments/{record['experiment']} renders from docs/results/{block.name}.json; "
        f"rerun `{record['command']}` instead of editing the table"
    )


def test_every_measurement_of_the_benchmarks_page_says_when_and_beside_what_load() -> None:
    """A time means little without when it was taken and the load beside it on this shared
    machine: every block docs/benchmarks.md shows, rendered from its results, names a date
    and a load average (bench_threads' gave the load alone until 2026-12-07)."""
    undated = [
        block.name
        for block in docblocks.blocks(DOCS / "benchmarks.md")
        if not re.search(r"\b20\d\d-\d\d-\d\d\b", block.body) or "load average" not in block.body
    ]
    assert undated == [], f"docs/benchmarks.md blocks without a date or a load: {undated}"


def test_every_recorded_result_is_shown_once() -> None:
    names = [block.name for block in generated_blocks()]
    assert len(names) == len(set(names)), f"a block appears twice: {sorted(names)}"
    recorded = sorted(path.stem for path in (DOCS / "results").glob("*.json"))
    assert recorded == sorted(names), (
        f"docs/results/ holds {recorded}; the docs show {sorted(names)}: every recorded "
        "result is shown by exactly one block"
    )
    for path in (DOCS / "results").glob("*.json"):
        json.loads(path.read_text())  # valid JSON


def test_a_block_is_written_from_results_and_an_edit_is_caught(tmp_path: Path) -> None:
    """``record`` fills a block from results; the check then fails on a hand edit."""

    def render(name: str, results: dict[str, int]) -> str:
        return f"| {name} | users |\n|---|---:|\n| demo | {results['users']:,} |\n"

    page = tmp_path / "page.md"
    page.write_text(
        "Before.\n\n<!-- BEGIN generated sizes: python experiments/sizes.py --doc page.md -->\n"
        "old table\n<!-- END generated sizes -->\n\nAfter.\n"
    )
    results_dir = tmp_path / "results"
    docblocks.record(
        page,
        "sizes",
        "sizes.py",
        "sizes.py --doc",
        {"users": 20000},
        render,
        results_dir=results_dir,
    )
    text = page.read_text()
    assert text.startswith("Before.\n\n<!-- BEGIN") and text.endswith("-->\n\nAfter.\n")
    (block,) = docblocks.blocks(page)
    assert block.body == render("sizes", {"users": 20000}).rstrip("\n")
    assert "| demo | 20,000 |" in block.body
    assert json.loads((results_dir / "sizes.json").read_text())["results"] == {"users": 20000}
    page.write_text(text.replace("20,000", "21,000"))
    (edited,) = docblocks.blocks(page)
    assert edited.body != render("sizes", {"users": 20000}).rstrip("\n")
    page.write_text("<!-- BEGIN generated sizes: x -->\nno end\n")
    with pytest.raises(docblocks.DocBlockError, match="no matching"):
        docblocks.blocks(page)


def test_reliability_counts_are_what_pytest_collects_now() -> None:
    """The counts in docs/reliability.md are the test cases collected today: a test added or
    removed in those modules fails here until the table is regenerated."""
    import reliability_counts

    recorded = docblocks.load_results("reliability_counts")["results"]["areas"]
    assert [a["what"] for a in recorded] == list(reliability_counts.AREAS)
    collected = reliability_counts.counts()
    for area in recorded:
        modules, keyword = reliability_counts.AREAS[area["what"]]
        assert (area["modules"], area["keyword"]) == (list(modules), keyword), area["what"]
        now = collected[area["what"]]
        assert area["cases"] == now > 0, (
            f"{area['what']!r}: {area['cases']} recorded, {now} collected now; rerun "
            "`python experiments/reliability_counts.py --doc docs/reliability.md`"
        )


# -- the ablations of docs/decisions.md ------------------------------------------------------


def test_every_choice_of_decisions_md_is_measured_and_named() -> None:
    """The recorded ablations cover every variant the experiment declares, and the prose of
    docs/decisions.md names each variant (a decision and its measurement stay linked)."""
    import ablations

    results = docblocks.load_results("ablations")["results"]
    assert list(results["variants"]) == list(ablations.VARIANTS)
    assert list(results["differences"]) == [n for n in ablations.VARIANTS if n != "current"]
    for by_metric in results["differences"].values():
        assert set(by_metric) == set(ablations.PAIRED)
        for interval in by_metric.values():
            assert interval["low"] <= interval["difference"] <= interval["high"]
    text = (DOCS / "decisions.md").read_text()
    (block,) = [b for b in docblocks.blocks(DOCS / "decisions.md") if b.name == "ablations"]
    words = text.replace(block.body, "")
    unnamed = [name for name in ablations.VARIANTS if f"`{name}`" not in words]
    assert unnamed == ["current"], f"docs/decisions.md names no decision for {unnamed}"


def test_the_ablations_block_shows_each_variant_against_the_current_method() -> None:
    import ablations

    interval = {"difference": 0.012, "low": -0.003, "high": 0.02, "resamples": 10}
    results = {
        "dataset": "demo",
        "cutoff": "2023-12-01",
        "horizon_days": 90,
        "command": "lifecycle backtest --dataset demo --cutoff 2023-12-01 --horizon 90",
        "users": 1200,
        "customers": 700,
        "resamples": 10,
        "variants": {
            "current": {
                "metrics": {"auc": 0.75, "total_error": -0.05, "inside_p10_p90": 0.8},
                "served": {"churn": "lightgbm", "ltv": "lightgbm"},
            },
            "no_refit": {
                "undone": "register the evaluated model",
                "metrics": {"auc": 0.738, "p_alive_auc": 0.61},
                "served": {"churn": "lightgbm", "ltv": "bgnbd_gamma_gamma"},
            },
        },
        "differences": {"no_refit": {"auc": interval}},
        "machine": {"date": "2026-11-30", "cpus": 2, "load_average_1m": 3.5},
    }
    rendered = ablations.render_doc("ablations", results)
    rows = [line for line in rendered.splitlines() if line.startswith("| ")]
    assert rows[1].startswith("| **current method** | ")
    assert "| 0.750 | -5.0% | " in rows[1] and "| 80% |" in rows[1]
    assert rows[2].startswith("| `no_refit`: register the evaluated model | ")
    assert rows[2].endswith("| 0.738 |  |  |  | 0.610 | ltv: bgnbd_gamma_gamma |")
    assert rows[-1] == "| `no_refit` | +0.012 [-0.003, +0.020] |  |  |  |"
    assert "measured 2026-11-30 on 2 CPUs" in rendered and "700 of them customers" in rendered


def test_serving_md_says_where_lifecycle_serve_and_a_raw_bentoml_serve_bind() -> None:
    """A raw `bentoml serve` binds every address, so auth = auto is on there (trial G: every
    /score a 401 on a local machine); the page says so beside `lifecycle serve`'s default."""
    from lifecycle.commands.models import serve

    host = next(option.default for option in serve.params if option.name == "host")
    text = " ".join((DOCS / "serving.md").read_text().split())
    assert f"`lifecycle serve` binds {host} unless given `--host`" in text
    assert "a raw `bentoml serve serving.service:LifecycleScoring` binds every address" in text
    assert "give it `--host 127.0.0.1`" in text


def test_lists_md_states_the_stage_rules_the_code_applies() -> None:
    """The stages' thresholds in docs/lists.md are the code's (trial G: a customer active a
    day ago listed `at_risk`, which the page did not define)."""
    from lifecycle.settings import ServingSettings
    from serving.segments import (
        CHURNED_DAYS,
        NEW_DAYS,
        QUARTER_DAYS,
        RECENT_DAYS,
        SILENT_DAYS,
        STAGES,
    )

    high = ServingSettings.model_fields["high_risk"].default
    text = " ".join((DOCS / "lists.md").read_text().split())
    rules = (
        f"`new` known fewer than {NEW_DAYS} days, `churned` no activity for {CHURNED_DAYS} "
        f"days or more, `silent` for {SILENT_DAYS} days or more, `at_risk` a churn probability "
        f"at or above `serving.high_risk` ({high}), `reactivated` active in the last "
        f"{RECENT_DAYS} days after none in the {QUARTER_DAYS - RECENT_DAYS} before (known "
        f"{QUARTER_DAYS} days or more), else `active`"
    )
    assert rules in text
    assert set(STAGES) == {
        "never_active",
        "new",
        "churned",
        "silent",
        "at_risk",
        "reactivated",
        "active",
    }


def test_serving_md_names_every_field_of_a_score_answer() -> None:
    """Each field of /score's answer is named in docs/serving.md's /score row, not only
    somewhere on the page (trial G: `p_alive` and `expected_purchases`, which a lifetimes
    user looks for first, were in none of its words)."""
    from serving.schemas import ScoreResponse, _UserScore

    [row] = [
        line for line in (DOCS / "serving.md").read_text().splitlines()
        if line.startswith("| `POST /score` |")
    ]  # fmt: skip
    fields = [*_UserScore.model_fields, *ScoreResponse.model_fields]
    assert [name for name in fields if f"`{name}`" not in row] == []


SHELL_LINE = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)
LIFECYCLE_SPAN = re.compile(r"`((?:\./run |uv run )?lifecycle [^`]+)`")


def unknown_options(page: Path) -> list[str]:
    """Each `--option` a `lifecycle ...` command of ``page`` (a bash block's line or a code
    span) passes that the command it names does not take."""
    import click

    from lifecycle.cli import main

    context = click.Context(main)
    everywhere = {o for p in main.params for o in (*p.opts, *p.secondary_opts)}
    text = page.read_text()
    lines = [
        s for block in SHELL_LINE.findall(text) for s in block.replace("\\\n", " ").split("\n")
    ]
    problems = []
    for line in [*lines, *LIFECYCLE_SPAN.findall(text)]:
        words = line.split("#")[0].split()
        if "lifecycle" not in words:
            continue
        words = words[words.index("lifecycle") + 1 :]
        command, named = main, []
        for word in (w for w in words if not w.startswith(("-", "["))):
            found = command.get_command(context, word) if isinstance(command, click.Group) else None
            if found is None:
                break
            command, named = found, [*named, word]
        if not named:  # prose ("lifecycle serves"), not a command
            continue
        takes = everywhere | {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
        for word in words:
            option = word.strip("[]()`,.;:|").split("=")[0]
            if re.fullmatch(r"--[a-z][a-z0-9-]*", option) and option not in takes | {"--help"}:
                problems.append(f"{page.name}: `lifecycle {' '.join(named)}` has no {option}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_option_a_command_example_passes_exists(page: Path) -> None:
    """A newcomer copies the examples: each option they pass is one the command takes (trial
    NW of session 56 checked 246 command lines by hand)."""
    assert unknown_options(page) == []


def test_an_option_a_command_no_longer_takes_is_caught(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```bash\nlifecycle at-risk --top 5 \\\n    --min-value 50   # gone\n```\n"
        "Or `./run lifecycle features build --dataset demo --fast`; `lifecycle serves` is prose.\n"
    )
    assert unknown_options(page) == [
        "page.md: `lifecycle at-risk` has no --min-value",
        "page.md: `lifecycle features build` has no --fast",
    ]


DATASET_VERSION = re.compile(r"\b[a-z][a-z0-9_]*@(\d{8}T\d+-[0-9a-f]+)\b")


def version_shape(stamp: str) -> str:
    """A version name's stamp and random part with each digit and hex letter as 0: the form
    a reader types, e.g. 00000000T000000000000-00000000."""
    return re.sub(r"[0-9a-f]", "0", stamp)


def test_dataset_versions_the_docs_show_are_written_as_datasets_name_them(tmp_path: Path) -> None:
    """Session 58: docs/refresh.md's `datasets restore orders@20260101T120000-ab12cd34` had
    no microseconds where `datasets history` lists
    orders@20261207T133709458891-8985a201; a version typed from the page is no version."""
    from lifecycle.storage import VERSIONS, atomic_dir

    with atomic_dir(tmp_path / "orders"):
        pass
    [made] = [p.name for p in (tmp_path / VERSIONS).iterdir()]
    shape = version_shape(DATASET_VERSION.fullmatch(made)[1])  # type: ignore[index]
    shown = [m for page in PAGES for m in DATASET_VERSION.findall(page.read_text())]
    assert shown, "no dataset version on the pages: the test reads nothing"
    assert [s for s in shown if version_shape(s) != shape] == []


def test_the_docs_run_lifecycle_and_python_with_what_run_installs() -> None:
    """Session 58, a fresh machine (PATH=/usr/bin:/bin): `./run main` installs uv into
    .tools/bin, off the PATH, so the README's other way, `uv run lifecycle ARGS`, was `uv:
    command not found`, and serving.md's Python client said "in the locked environment"
    without how to run it there. Both name the environment `./run`'s `uv sync` writes."""
    import tomllib

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    run = (REPO / "run").read_text()
    assert "lifecycle" in scripts
    assert "$UV sync" in run and "UV_PROJECT_ENVIRONMENT" not in run  # so it is ./.venv
    readme = (REPO / "README.md").read_text()
    assert "`.venv/bin/lifecycle ARGS`" in readme and "`uv run lifecycle" not in readme
    serving = " ".join((DOCS / "serving.md").read_text().split())
    assert "`.venv/bin/python client.py` runs it" in serving


def test_refresh_md_says_which_status_a_lost_challenger_gives() -> None:
    """Session 58, online_retail's December refresh: LTV v2 lost to its champion, and the
    JSON said `"status": "ok"`, `"exit_code": 0` beside a filled `not_promoted`, where the
    page listed `not_promoted` among the statuses without saying when. It says so, as the
    code decides it."""
    from lifecycle.refresh import EXIT_NOT_PROMOTED, RefreshResult

    lost = {"ltv": {"why": "... behind by 0.0037", "trained": True, "champion": "1"}}
    assert RefreshResult("orders", not_promoted=lost).status == "ok"
    held = RefreshResult("orders", exit_code=EXIT_NOT_PROMOTED, not_promoted=lost)
    assert held.status == "not_promoted" and EXIT_NOT_PROMOTED == 3
    text = " ".join((DOCS / "refresh.md").read_text().split())
    assert (
        "`not_promoted` goes with exit code 3 only: a challenger that lost to its champion is "
        "`ok`, exit 0, though named in `not_promoted`"
    ) in text
