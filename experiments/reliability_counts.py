"""How many test cases try each way of breaking the project: counted by pytest's collection.

Each area of docs/reliability.md's "In figures" names the test modules (and a ``-k``
expression where a module also holds other tests) that try it; the count is what
``pytest --collect-only`` finds there, parametrized cases included, so it follows the
tests as they are added or removed.

    .venv/bin/python experiments/reliability_counts.py                 # print the counts
    .venv/bin/python experiments/reliability_counts.py --doc docs/reliability.md
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# what is tried -> (test modules, -k expression or None)
AREAS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "commands killed (SIGKILL) or files corrupted mid-way: the previous state kept, the next "
    "run recovers": (("test_faults.py",), None),
    "writers killed mid-write, staging swept; writes flushed to disk": (("test_storage.py",), None),
    "two commands changing one workspace at once: the second refused naming the first, "
    "nothing of it done; the lock freed when its holder is killed": (
        ("test_concurrency.py",),
        None,
    ),
    "hostile files, options and rows (ids, amounts, times and zones, repeated headers, "
    "column clashes, dataset names): one line or quarantined with a reason, loaded + "
    "quarantined = read": (("test_hostile_inputs.py", "test_validation.py"), None),
    "a read-only workspace: one line naming the file, nothing changed": (
        ("test_read_only_workspace.py",),
        None,
    ),
    "settings (ranges, frequencies, sizes, files, unknown keys): refused at load naming the "
    "field": (("test_settings.py",), None),
    "bad requests, bodies and content types; damaged, lost, emptied, unreachable or replaced "
    "stores; tokens: 4xx or 503, never 500": (
        (
            "test_service_hardening.py",
            "test_service_auth.py",
            "test_service_contract.py",
            "test_redis_health.py",
        ),
        None,
    ),
    "a server stopped (SIGTERM) with requests in flight or its registry check running: every "
    "request sent before it answered, the check said stopped, not failed": (
        ("test_service_stop.py",),
        None,
    ),
    "bad training inputs stopped with the counts": (
        ("test_snapshot.py", "test_training.py"),
        "refus or error or too or single or one_class or without or missing",
    ),
}


# Runs in a fresh interpreter: each collection is one pytest.main() call, the later ones
# reusing the test modules (and the libraries they import) the first one imported.
_COLLECT = """
import json, sys
import pytest
for args in json.loads(sys.argv[1]):
    print("%s", flush=True)
    code = pytest.main([*args, "--collect-only", "-q", "-p", "no:cacheprovider"])
    if code not in (0, 5):  # 5: nothing collected
        print(f"collecting {args} failed ({code})", file=sys.stderr)
        sys.exit(1)
"""
_SEPARATOR = "=== next collection ==="


def collected(*requests: tuple[tuple[str, ...], str | None]) -> list[dict[str, int]]:
    """Test cases pytest collects per module, for each request of (``modules``, a ``-k``
    keyword or None): one ``pytest --collect-only`` each, all in one subprocess."""
    argument_lists = [
        [str(ROOT / "tests" / m) for m in modules] + (["-k", keyword] if keyword else [])
        for modules, keyword in requests
    ]
    command = [sys.executable, "-c", _COLLECT % _SEPARATOR, json.dumps(argument_lists)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise SystemExit(
            f"collecting {requests} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    outputs = done.stdout.split(_SEPARATOR + "\n")[1:]
    found = []
    for (modules, _), output in zip(requests, outputs, strict=True):
        per_module = dict.fromkeys(modules, 0)
        for line in output.splitlines():
            if "::" in line:
                module = Path(line.split("::", 1)[0]).name
                per_module[module] = per_module.get(module, 0) + 1
        found.append(per_module)
    return found


def counts() -> dict[str, int]:
    """Each area's test cases: one collection of every plain module, one per keyword area."""
    plain = tuple(sorted({m for ms, k in AREAS.values() if k is None for m in ms}))
    keyworded = [(what, ms, k) for what, (ms, k) in AREAS.items() if k is not None]
    per_module, *per_keyword = collected((plain, None), *((ms, k) for _, ms, k in keyworded))
    by_keyword = {what: found for (what, _, _), found in zip(keyworded, per_keyword, strict=True)}
    return {
        what: sum((per_module if keyword is None else by_keyword[what])[m] for m in modules)
        for what, (modules, keyword) in AREAS.items()
    }


def measure() -> dict[str, Any]:
    found = counts()
    return {
        "areas": [
            {"what": what, "modules": list(modules), "keyword": keyword, "cases": found[what]}
            for what, (modules, keyword) in AREAS.items()
        ]
    }


def render_doc(name: str, results: dict[str, Any]) -> str:
    """The table: each area, its test cases, and where they are."""
    lines = ["| what is tried | test cases | where |", "|---|---:|---|"]
    for area in results["areas"]:
        where = ", ".join(f"`{m}`" for m in area["modules"])
        if area["keyword"]:
            where += f' (`-k "{area["keyword"]}"`)'
        lines.append(f"| {area['what']} | {area['cases']} | {where} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--doc", type=Path, help="write the table into this doc's block")
    args = parser.parse_args(argv)
    results = measure()
    if args.doc:
        from docblocks import record, shown_command

        command = shown_command("reliability_counts.py", argv)
        record(
            args.doc, "reliability_counts", "reliability_counts.py", command, results, render_doc
        )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
