"""Tables in docs/ that an experiment generates: the markers, the recorded results, the check.

A generated table sits in a doc between two markers:

    <!-- BEGIN generated quality: experiments/quality.py --doc docs/quality.md -->
    | dataset | task | ...
    <!-- END generated quality -->

The experiment that measured it records its results in ``docs/results/<name>.json``
(``{"experiment": <script>, "command": ..., "results": ...}``) and renders the block from
them with its ``render_doc(name, results)`` (in the script, or in the module the record
names as ``renderer``). ``tests/test_docs.py`` renders every block
again from its results file and compares, so a table edited by hand (or results edited
without the table) fails CI without rerunning a slow experiment; a new measurement is one
rerun of the command in the marker.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
RESULTS = DOCS / "results"
EXPERIMENTS = ROOT / "experiments"

# Markers stand on lines of their own (a marker quoted in running text is not one).
BLOCK = re.compile(
    r"^<!-- BEGIN generated (?P<name>[\w.-]+): (?P<command>[^\n]*?) -->\n"
    r"(?P<body>.*?)"
    r"^<!-- END generated (?P=name) -->$",
    re.DOTALL | re.MULTILINE,
)

Renderer = Callable[[str, Any], str]


class DocBlockError(ValueError):
    """A doc's generated block or its results file is missing or malformed."""


@dataclass(frozen=True)
class Block:
    doc: Path
    name: str
    command: str
    body: str


def blocks(doc: Path) -> list[Block]:
    """The generated blocks of one markdown file, in order."""
    text = doc.read_text()
    found = [
        Block(doc, m["name"], m["command"], m["body"].rstrip("\n")) for m in BLOCK.finditer(text)
    ]
    opened = re.findall(r"^<!-- BEGIN generated ([\w.-]+)", text, re.MULTILINE)
    if len(opened) != len(found):
        closed = {b.name for b in found}
        raise DocBlockError(
            f"{doc}: generated block(s) {sorted(set(opened) - closed)} have no matching "
            "'<!-- END generated NAME -->' line"
        )
    return found


def results_path(name: str, results_dir: Path = RESULTS) -> Path:
    return results_dir / f"{name}.json"


def load_results(name: str, results_dir: Path = RESULTS) -> dict[str, Any]:
    """The recorded results of block ``name``: experiment, command and results."""
    path = results_path(name, results_dir)
    if not path.exists():
        raise DocBlockError(f"{path}: no recorded results for the generated block {name!r}")
    record = json.loads(path.read_text())
    missing = {"experiment", "command", "results"} - set(record)
    if missing:
        raise DocBlockError(
            f"{path}: expected keys experiment, command, results; missing {missing}"
        )
    return record


def renderer(module_name: str) -> Renderer:
    """``render_doc`` of a module in experiments/ (e.g. ``quality``)."""
    if str(EXPERIMENTS) not in sys.path:
        sys.path.insert(0, str(EXPERIMENTS))
    module = importlib.import_module(module_name)
    render = getattr(module, "render_doc", None)
    if render is None:
        raise DocBlockError(f"experiments/{module_name}.py has no render_doc(name, results)")
    return render


def rendered(name: str, results_dir: Path = RESULTS) -> str:
    """Block ``name`` as its experiment renders it from the recorded results."""
    record = load_results(name, results_dir)
    module_name = record.get("renderer") or Path(record["experiment"]).stem
    return renderer(module_name)(name, record["results"]).rstrip("\n")


def _plain(value: Any) -> Any:
    """numpy numbers as numbers, anything else JSON does not know (paths, dates) as text."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def record(
    doc: Path,
    name: str,
    experiment: str,
    command: str,
    results: Any,
    render: Renderer,
    results_dir: Path = RESULTS,
    renderer: str | None = None,
) -> None:
    """Record ``results`` under docs/results/ and write the block ``name`` of ``doc`` from them.

    The block must already be in the doc (its place is an editorial choice): add the two
    marker lines by hand once, then the experiment fills them.
    """
    text = doc.read_text()
    matches = [m for m in BLOCK.finditer(text) if m["name"] == name]
    if len(matches) != 1:
        raise DocBlockError(
            f"{doc}: expected one block '<!-- BEGIN generated {name}: ... -->' ... "
            f"'<!-- END generated {name} -->', found {len(matches)}"
        )
    results_dir.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {"experiment": experiment, "command": command, "results": results}
    if renderer:  # render_doc lives in this module, not in the experiment script
        payload["renderer"] = renderer
    results_path(name, results_dir).write_text(json.dumps(payload, indent=2, default=_plain) + "\n")
    body = render(name, results).rstrip("\n")
    match = matches[0]
    start, end = match.start("body"), match.end("body")
    doc.write_text(text[:start] + body + "\n" + text[end:])


def doc_arguments(parser: Any) -> None:
    """``--doc DOC`` (write the block into DOC) and ``--results-dir`` (where its results JSON
    goes: docs/results/ unless a test gives a folder of its own) on an experiment's parser."""
    parser.add_argument("--doc", type=Path, help="write the table into this doc's block")
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=RESULTS,
        help="the folder of the block's recorded results (default docs/results)",
    )


def home_argument(parser: Any, what: str, fallback: str | None = None) -> None:
    """``--home``: ``what`` (a trained workspace), default $LIFECYCLE_HOME, else ``fallback``
    (a folder; none: :func:`parse_arguments` refuses a run given neither)."""
    import os

    where = f"env LIFECYCLE_HOME, else ./{fallback}" if fallback else "env LIFECYCLE_HOME"
    parser.add_argument(
        "--home",
        type=Path,
        default=os.environ.get("LIFECYCLE_HOME", fallback),
        help=f"{what} [{where}]",
    )


def parse_arguments(parser: Any, argv: list[str] | None, runs: int | None = None) -> Any:
    """An experiment's arguments: its own, ``--runs`` (default ``runs``, when it repeats its
    measurements), then :func:`doc_arguments`'; a ``--home`` of :func:`home_argument` that
    neither the command line nor the environment gives is refused."""
    if runs is not None:
        parser.add_argument("--runs", type=int, default=runs)
    doc_arguments(parser)
    args = parser.parse_args(argv)
    if "home" in args and args.home is None:
        parser.error("--home (or LIFECYCLE_HOME): a trained workspace")
    return args


def shown_command(script: str, argv: list[str] | None) -> str:
    """The command a block names: ``python experiments/<script> ARGS`` (``argv``; None: this
    process's), a ``--home`` path (this machine's) shown as ``<trained workspace>``."""
    shown = list(sys.argv[1:] if argv is None else argv)
    if "--home" in shown[:-1]:
        shown[shown.index("--home") + 1] = "<trained workspace>"
    return " ".join([f"python experiments/{script}", *shown])


def record_run(
    script: str, args: Any, argv: list[str] | None, results: Any, render: Renderer
) -> None:
    """:func:`record` of a run of ``script`` parsed with :func:`doc_arguments`: its block and
    results are named after the script, its command as :func:`shown_command` shows it."""
    shown = shown_command(script, argv)
    name = script.removesuffix(".py")
    record(args.doc, name, script, shown, results, render, args.results_dir)


def machine() -> dict[str, Any]:
    """When and on what a measurement ran: a timing means little without the load beside it."""
    import datetime
    import os

    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 1),
    }


def measured_on(meta: dict[str, Any]) -> str:
    """'measured 2026-11-30 on 2 CPUs (load average 4.1 at the start)'."""
    return (
        f"measured {meta['date']} on {meta['cpus']} CPUs "
        f"(load average {meta['load_average_1m']} at the start)"
    )


def python_child(code: str, home: Path) -> tuple[float, Any]:
    """CPU seconds of one ``python -c code`` process on the workspace ``home`` (no other
    ``LIFECYCLE_`` setting of this shell), and the finished process (its output)."""
    import os
    import resource
    import subprocess

    environ = {k: v for k, v in os.environ.items() if not k.startswith("LIFECYCLE_")}
    environ |= {"LIFECYCLE_HOME": str(home), "PYTHONPATH": str(Path(__file__).parents[1])}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, done
