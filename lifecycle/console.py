"""Output for people and machines: progress goes to stderr, the result to stdout.

With ``--json`` the result is one JSON document on stdout and progress lines stay on
stderr, so ``lifecycle --json ... | jq`` works while a person still sees progress.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import click


class Console:
    def __init__(self, as_json: bool = False, quiet: bool = False) -> None:
        self.as_json = as_json
        self.quiet = quiet
        self._started = time.perf_counter()

    def step(self, message: str) -> None:
        """A progress line on stderr, with the time since the command started."""
        if not self.quiet:
            elapsed = time.perf_counter() - self._started
            click.echo(f"[{elapsed:6.1f}s] {message}", err=True)

    def progress(self, label: str) -> Callable[[int, int], None]:
        """A callback ``(done, total)`` that prints a progress line at most every 10%."""
        last = [-1]

        def report(done: int, total: int) -> None:
            tenth = int(10 * done / total) if total else 10
            if tenth != last[0]:
                last[0] = tenth
                self.step(f"{label}: {done:,}/{total:,} ({100 * done / max(total, 1):.0f}%)")

        return report

    def result(self, data: dict[str, Any], lines: list[str]) -> None:
        """The command's result: JSON document or readable lines, on stdout."""
        if self.as_json:
            click.echo(json.dumps(data, indent=2, default=str))
        else:
            for line in lines:
                click.echo(line)


def emit_error(as_json: bool, message: str) -> None:
    """Errors always reach stderr; in JSON mode stdout also gets ``{"error": ...}``."""
    if as_json:
        click.echo(json.dumps({"error": message}))
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)
