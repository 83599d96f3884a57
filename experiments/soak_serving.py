"""Load and soak test of the scoring service: mixed requests on loopback, errors, p50/p99, RSS.

    .venv/bin/python experiments/soak_serving.py --home DIR [--minutes 10] [--connections 8]

Needs a trained and batch-scored workspace (demo-data, features build/apply/materialize,
train all, score-all). Starts a real ``bentoml serve`` of the service on a free loopback
port (its output in ``DIR/server.log``) and drives it with a closed-loop aiohttp load
generator (``--connections`` concurrent, each sending its next request when the last one
answered) for ``--minutes`` or ``--max-requests``, whichever comes first. The mix:

- ``score_known``: ``/score`` for 1 user in the online store (expects 200, "scored");
- ``score_unknown``: ``/score`` for 1 never-seen id, a new one each time (200, "unknown_user");
- ``score_20``: ``/score`` for 20 users, mostly known (200);
- ``score_features``: ``/score_features`` for 1-3 caller-supplied rows (200);
- ``at_risk``: one ``/at_risk`` page with random filters, limit and offset (200);
- ``models``: ``/models`` (200);
- ``bad_request``: an unknown task, an empty id list or malformed JSON (expects 400).

Any other status (or a body without the expected user status) counts as an error. The
server's memory is the RSS summed over its processes (the ``bentoml serve`` process and its
descendants), read before the load, after the warm-up, every ``--sample-seconds`` and at
the end; the growth is reported from the post-warm-up sample to the end (and from the
start), in MB and %.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, REPO / "experiments", REPO / "tests"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from bench_serving import percentile, user_sample  # noqa: E402

# (kind, weight); the weights need not add up to anything
MIX: tuple[tuple[str, int], ...] = (
    ("score_known", 30),
    ("score_unknown", 15),
    ("score_20", 20),
    ("score_features", 15),
    ("at_risk", 10),
    ("models", 5),
    ("bad_request", 5),
)
EXPECTED_STATUS = {kind: 400 if kind == "bad_request" else 200 for kind, _ in MIX}
MB = 1024 * 1024


# -- the server's memory ---------------------------------------------------------------------


def server_processes(root_pid: int | None = None) -> list[Any]:
    """The server's processes: ``root_pid`` and its descendants, or (default) every
    descendant of this process (``bentoml serve`` is started as our child)."""
    import psutil

    if root_pid is not None:
        root = psutil.Process(root_pid)
        return [root, *root.children(recursive=True)]
    return psutil.Process().children(recursive=True)


def find_server_pid(base: str) -> int:
    """The PID of the ``bentoml serve`` process (our child) that listens on ``base``'s port."""
    import psutil

    port = base.rsplit(":", 1)[1].rstrip("/")
    for child in psutil.Process().children(recursive=False):
        try:
            command = child.cmdline()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if (
            "bentoml" in command
            and "--port" in command
            and command[command.index("--port") + 1] == port
        ):
            return int(child.pid)
    raise LookupError(f"no bentoml serve child process on port {port}")


def rss_mb(root_pid: int | None = None) -> float:
    """Resident memory summed over the server's processes, in MB (shared pages count per
    process, so the sum is an upper bound; what matters here is its trend)."""
    import psutil

    total = 0
    for process in server_processes(root_pid):
        try:
            total += process.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total / MB


# -- the requests ----------------------------------------------------------------------------


@dataclass
class Request:
    kind: str
    path: str
    body: bytes
    expect_in_body: bytes | None = None  # a substring a 200 must contain


@dataclass
class RequestMaker:
    known: list[str]
    seed: int = 7
    rng: random.Random = field(init=False)
    counter: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.kinds = [kind for kind, _ in MIX]
        self.weights = [weight for _, weight in MIX]

    def next(self) -> Request:
        self.counter += 1
        kind = self.rng.choices(self.kinds, self.weights)[0]
        return getattr(self, kind)()

    def score_known(self) -> Request:
        body = {"user_ids": [self.rng.choice(self.known)]}
        return Request("score_known", "/score", json.dumps(body).encode(), b'"scored"')

    def score_unknown(self) -> Request:
        body = {"user_ids": [f"soak-unknown-{self.seed}-{self.counter}"]}
        return Request("score_unknown", "/score", json.dumps(body).encode(), b'"unknown_user"')

    def score_20(self) -> Request:
        ids = [*self.rng.sample(self.known, 19), f"soak-new-{self.counter}"]
        self.rng.shuffle(ids)
        return Request("score_20", "/score", json.dumps({"user_ids": ids}).encode(), b'"scored"')

    def prospect(self) -> dict[str, Any]:
        """Features a user can have: known for ``tenure_days``, silent for at most that."""
        tenure = self.rng.randint(1, 900)
        return {
            "recency_days": self.rng.randint(0, min(400, tenure)),
            "tenure_days": tenure,
            "channel": self.rng.choice(["email", "organic", "paid_search"]),
        }

    def score_features(self) -> Request:
        users = [
            {"user_id": f"prospect-{self.counter}-{i}", "features": self.prospect()}
            for i in range(self.rng.randint(1, 3))
        ]
        body: dict[str, Any] = {"users": users}
        if self.rng.random() < 0.3:
            body["tasks"] = ["churn"]
        return Request(
            "score_features", "/score_features", json.dumps(body).encode(), b'"supplied"'
        )

    def at_risk(self) -> Request:
        body: dict[str, Any] = {
            "limit": self.rng.choice([1, 10, 50, 100]),
            "offset": self.rng.choice([0, 0, 10, 100, 1000]),
        }
        stage = self.rng.choice([None, "at_risk", "active", "silent"])
        if stage:
            body["lifecycle_stage"] = stage
        if self.rng.random() < 0.5:
            body["min_churn"] = round(self.rng.random(), 2)
        if self.rng.random() < 0.2:
            body["min_ltv"] = self.rng.choice([0, 10, 100])
        return Request("at_risk", "/at_risk", json.dumps(body).encode())

    def models(self) -> Request:
        return Request("models", "/models", b"{}")

    def bad_request(self) -> Request:
        body = self.rng.choice(
            [
                json.dumps({"user_ids": [self.rng.choice(self.known)], "tasks": ["nope"]}).encode(),
                json.dumps({"user_ids": []}).encode(),
                b'{"user_ids": ["a",',
            ]
        )
        return Request("bad_request", "/score", body)


# -- the load --------------------------------------------------------------------------------


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)  # the first few unexpected answers

    def add(self, kind: str, seconds: float, error: str | None) -> None:
        self.latencies.setdefault(kind, []).append(seconds)
        self.errors.setdefault(kind, 0)
        if error:
            self.errors[kind] += 1
            if len(self.examples) < 10:
                self.examples.append(f"{kind}: {error}")


async def soak(
    base: str,
    known: list[str],
    *,
    seconds: float,
    connections: int = 8,
    max_requests: int | None = None,
    warmup_seconds: float = 10,
    sample_seconds: float = 60,
    rss: Callable[[], float] = rss_mb,
    log: Callable[[str], None] = print,
    timeout: float = 30,
) -> dict[str, Any]:
    """Drive the server for ``warmup_seconds`` (not measured) then ``seconds`` (or
    ``max_requests``) and return the per-endpoint figures and the RSS samples."""
    import aiohttp

    maker = RequestMaker(known)
    headers = {"content-type": "application/json"}
    samples: list[dict[str, float]] = [{"t_s": 0.0, "rss_mb": rss(), "phase": "start"}]  # type: ignore[dict-item]
    log(f"RSS at start: {samples[0]['rss_mb']:.1f} MB")

    async def one(session: aiohttp.ClientSession, stats: Stats | None) -> None:
        request = maker.next()
        t0 = time.perf_counter()
        error: str | None = None
        try:
            async with session.post(base + request.path, data=request.body, headers=headers) as r:
                payload = await r.read()
                if r.status != EXPECTED_STATUS[request.kind]:
                    error = f"status {r.status}: {payload[:300]!r}"
                elif (
                    r.status == 200
                    and request.expect_in_body
                    and request.expect_in_body not in payload
                ):
                    error = f"no {request.expect_in_body!r} in {payload[:300]!r}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        if stats is not None:
            stats.add(request.kind, time.perf_counter() - t0, error)

    async def run(
        session: aiohttp.ClientSession, stats: Stats | None, until: float, budget: list[int]
    ) -> None:
        while time.perf_counter() < until and budget[0] != 0:
            budget[0] -= 1
            await one(session, stats)

    connector = aiohttp.TCPConnector(limit=connections)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:
        # warm-up: same mix, not measured (caches, lazy imports, allocator arenas settle)
        warm_until = time.perf_counter() + warmup_seconds
        await asyncio.gather(*(run(session, None, warm_until, [-1]) for _ in range(connections)))
        samples.append({"t_s": 0.0, "rss_mb": rss(), "phase": "after_warmup"})  # type: ignore[dict-item]
        log(f"RSS after {warmup_seconds:.0f} s warm-up: {samples[-1]['rss_mb']:.1f} MB")

        stats = Stats()
        started = time.perf_counter()
        until = started + seconds
        budget = [max_requests if max_requests else -1]

        async def sampler() -> None:
            while True:
                await asyncio.sleep(sample_seconds)
                now = time.perf_counter() - started
                samples.append({"t_s": now, "rss_mb": rss(), "phase": "load"})  # type: ignore[dict-item]
                done = sum(len(v) for v in stats.latencies.values())
                errors = sum(stats.errors.values())
                log(
                    f"  t={now:5.0f} s  requests={done}  errors={errors}  "
                    f"RSS={samples[-1]['rss_mb']:.1f} MB"
                )

        sampling = asyncio.create_task(sampler())
        try:
            await asyncio.gather(*(run(session, stats, until, budget) for _ in range(connections)))
        finally:
            sampling.cancel()
        elapsed = time.perf_counter() - started
    samples.append({"t_s": elapsed, "rss_mb": rss(), "phase": "end"})  # type: ignore[dict-item]
    log(f"RSS at end: {samples[-1]['rss_mb']:.1f} MB")
    return summarize(stats, samples, elapsed, connections)


def summarize(
    stats: Stats, samples: list[dict[str, Any]], elapsed: float, connections: int
) -> dict[str, Any]:
    rows = []
    everything: list[float] = []
    for kind, _ in MIX:
        latencies = stats.latencies.get(kind, [])
        everything += latencies
        rows.append(
            {
                "endpoint": kind,
                "expected_status": EXPECTED_STATUS[kind],
                "requests": len(latencies),
                "errors": stats.errors.get(kind, 0),
                "p50_ms": percentile(latencies, 0.5) * 1e3,
                "p99_ms": percentile(latencies, 0.99) * 1e3,
                "max_ms": max(latencies, default=float("nan")) * 1e3,
            }
        )
    start, warm, end = samples[0]["rss_mb"], samples[1]["rss_mb"], samples[-1]["rss_mb"]
    total = len(everything)
    return {
        "seconds": elapsed,
        "connections": connections,
        "requests": total,
        "req_per_s": total / elapsed if elapsed else float("nan"),
        "errors": sum(stats.errors.values()),
        "error_examples": stats.examples,
        "p50_ms": percentile(everything, 0.5) * 1e3,
        "p99_ms": percentile(everything, 0.99) * 1e3,
        "endpoints": rows,
        "rss_samples": samples,
        "rss_start_mb": start,
        "rss_after_warmup_mb": warm,
        "rss_end_mb": end,
        "rss_growth_mb": end - warm,
        "rss_growth_pct": (end - warm) / warm * 100,
        "rss_growth_from_start_mb": end - start,
        "rss_growth_from_start_pct": (end - start) / start * 100,
    }


def report(result: dict[str, Any]) -> str:
    lines = [
        f"{result['seconds']:.0f} s of load, {result['connections']} connections, "
        f"{result['requests']} requests ({result['req_per_s']:.0f}/s), {result['errors']} errors, "
        f"{os.cpu_count()} cores",
        "",
        "| endpoint | expected | requests | errors | p50 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["endpoints"]:
        lines.append(
            f"| {r['endpoint']} | {r['expected_status']} | {r['requests']} | {r['errors']} "
            f"| {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.1f} |"
        )
    lines.append(
        f"| **all** | | {result['requests']} | {result['errors']} | {result['p50_ms']:.1f} "
        f"| {result['p99_ms']:.1f} | |"
    )
    lines += [
        "",
        "server RSS (MB, summed over its processes): "
        + ", ".join(
            f"{s['phase']}@{s['t_s']:.0f}s={s['rss_mb']:.1f}" for s in result["rss_samples"]
        ),
        f"growth after warm-up: {result['rss_growth_mb']:+.1f} MB ({result['rss_growth_pct']:+.1f}%); "
        f"from start (before any request): {result['rss_growth_from_start_mb']:+.1f} MB "
        f"({result['rss_growth_from_start_pct']:+.1f}%)",
    ]
    if result["error_examples"]:
        lines += ["", "first unexpected answers:", *(f"  {e}" for e in result["error_examples"])]
    return "\n".join(lines)


def render_doc(name: str, results: dict[str, Any]) -> str:
    """The doc's summary: requests, errors, latency and the server's memory over the run."""
    from docblocks import measured_on

    r = results["result"]
    by_kind = ", ".join(f"{e['endpoint']} {e['requests']:,}" for e in r["endpoints"])
    return (
        f"{measured_on(results['machine'])}, the load generator on the same cores: "
        f"{r['seconds'] / 60:.0f} minutes at {r['connections']} connections, "
        f"{r['requests']:,} requests ({by_kind}), **{r['errors']} errors**, p50/p99 "
        f"{r['p50_ms']:.0f}/{r['p99_ms']:.0f} ms; server RSS {r['rss_after_warmup_mb']:.1f} MB "
        f"after warm-up and {r['rss_end_mb']:.1f} MB at the end ({r['rss_growth_pct']:+.1f}%).\n"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="trained, scored workspace")
    parser.add_argument("--minutes", type=float, default=10, help="load time after warm-up")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections")
    parser.add_argument("--max-requests", type=int, help="stop after this many measured requests")
    parser.add_argument("--warmup-seconds", type=float, default=15, help="unmeasured warm-up")
    parser.add_argument("--sample-seconds", type=float, default=60, help="RSS sampling period")
    parser.add_argument("--json", dest="json_out", type=Path, help="also write the result here")
    parser.add_argument("--doc", type=Path, help="write the summary into this doc's block")
    args = parser.parse_args(argv)
    from docblocks import machine, record

    meta = machine()

    from services import bentoml_server, every_worker_settled

    home = args.home.resolve()
    known = user_sample(home)
    started = time.perf_counter()
    with bentoml_server(home, {}, ready_path="/readyz") as base:
        every_worker_settled(base)  # the registry check's child process is not the server's
        pid = find_server_pid(base)
        print(
            f"server {base} (pid {pid}) ready in {time.perf_counter() - started:.1f} s; "
            f"log {home}/server.log"
        )
        result = asyncio.run(
            soak(
                base,
                known,
                seconds=args.minutes * 60,
                connections=args.connections,
                max_requests=args.max_requests,
                warmup_seconds=args.warmup_seconds,
                sample_seconds=args.sample_seconds,
                rss=lambda: rss_mb(pid),
            )
        )
    print()
    print(report(result))
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2))
    if args.doc:
        words = [a for a in (argv or sys.argv[1:])]
        if "--home" in words:  # the workspace is the reader's own, not part of the command
            words[words.index("--home") + 1] = "DIR"
        command = "python experiments/soak_serving.py " + " ".join(words)
        record(
            args.doc,
            "soak_serving",
            "soak_serving.py",
            command,
            {"machine": meta, "result": result},
            render_doc,
        )


if __name__ == "__main__":
    main()
