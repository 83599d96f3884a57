"""A short load and soak of a real ``bentoml serve``: mixed requests on loopback, every answer
the expected 200/400, a sane p99 and no memory growth (``experiments/soak_serving.py`` is the
long version)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from services import SharedServer, every_worker_settled

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "experiments"))

from soak_serving import find_server_pid, report, rss_mb, soak, user_sample  # noqa: E402

LOAD_SECONDS = 25
WARMUP_SECONDS = 8
CONNECTIONS = 4
P99_BOUND_MS = 5000  # a sanity bound only; see the experiment for the real figures
# Growth of the server's summed RSS (``bentoml serve`` and its worker) from after the warm-up
# to the end of the load. Measured on a 2-core machine: ~1,200 requests, RSS ~500 MB, growth
# +5 to +7 MB (~1.4%) in 25 s, +8 MB (+1.6%) over 3 minutes at 8 connections (the settling
# is front-loaded). 25 MB is ~3.5x the observed figure; a leak of ~20 kB per request or more
# would exceed it.
RSS_GROWTH_MAX_MB = 25
RSS_GROWTH_MAX_PCT = 5


@pytest.mark.slow
def test_short_soak_has_no_errors_and_flat_memory(shared_server: SharedServer) -> None:
    """On the shared server (a trained, batch-scored copy; other modules' requests before
    this load are no growth: the RSS growth is measured from after the warm-up)."""
    base = shared_server.base
    known = user_sample(shared_server.workspace.home)
    every_worker_settled(base)  # the registry check's child process is gone: not a leak
    pid = find_server_pid(base)
    result = asyncio.run(
        soak(
            base,
            known,
            seconds=LOAD_SECONDS,
            connections=CONNECTIONS,
            warmup_seconds=WARMUP_SECONDS,
            sample_seconds=5,
            rss=lambda: rss_mb(pid),
            log=lambda _: None,
        )
    )
    print(report(result))  # shown with -s or -rP
    counts = {row["endpoint"]: row["requests"] for row in result["endpoints"]}
    assert all(counts.values()), f"every kind of request was sent: {counts}"
    assert result["errors"] == 0, result["error_examples"]
    assert result["p99_ms"] < P99_BOUND_MS, report(result)
    assert result["rss_growth_mb"] < RSS_GROWTH_MAX_MB, report(result)
    assert result["rss_growth_pct"] < RSS_GROWTH_MAX_PCT, report(result)
