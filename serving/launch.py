"""How the scoring service is started: one command line for the CLI, tests and benchmarks."""

from __future__ import annotations

import sys

SERVICE = "serving.service:LifecycleScoring"


def bentoml_command(host: str, port: int) -> list[str]:
    """``bentoml serve`` of the scoring service, with this interpreter."""
    return [sys.executable, "-m", "bentoml", "serve", SERVICE, "--host", host, "--port", str(port)]
