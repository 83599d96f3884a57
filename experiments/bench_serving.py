"""Scoring latency and throughput: in process against its floor, over HTTP against a plain route.

    python experiments/bench_serving.py --home <trained workspace> --quick   # CI sizes
    LIFECYCLE_HOME=<trained workspace> python experiments/bench_serving.py --seconds 5 \
        --workers 1,2 --doc docs/benchmarks.md     # the table of docs/benchmarks.md

Needs a trained workspace (demo-data, features build/apply/materialize, train all). In
one run it measures, at 1 and 100 users per request:

- scorer: ``Scorer.score`` (online lookup + the champions + reasons) in this process;
- bare ASGI: the same ``Scorer.score`` behind a plain Starlette route on uvicorn;
- bentoml: ``bentoml serve serving.service:LifecycleScoring``;
- plain route: a Starlette route answering a fixed, already-encoded answer: the HTTP floor;

with a closed-loop aiohttp load generator (``--connections`` concurrent, for ``--seconds``)
on 127.0.0.1, plus the time from ``bentoml serve`` to ``/readyz`` 200 and to its first
answer, and of ``lifecycle --help``. The load generator shares the machine's cores with the
server, as it would with a co-located caller. ``--workers 1,2`` serves BentoML with each
worker count in turn. ``--quick`` (what CI runs, tests/test_benchmark_scripts.py): 0.2 s
per row, nothing compiled (LightGBM predicts, in process and in every server: compiling
costs minutes of CPU), ``lifecycle --help`` timed once.

Before all that, the in-process cases of issue 17 against the floor measured in the same
run (``bench_serving_inprocess``): 1 user with reasons computed, without reasons, 100
users with reasons precomputed by ``score-all``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from docblocks import doc_arguments, home_argument
from quick import UNCOMPILED
from served_processes import (
    first_answer,
    free_port,
    serve,
    settle,
    stop,
    wait_ready,
    worker_memory_mb,
)

from serving.launch import bentoml_command

REPO = Path(__file__).resolve().parents[1]
SCORER, BARE, BENTOML, PLAIN = (
    "scorer (in process)",
    "bare ASGI (uvicorn)",
    "bentoml",
    "plain route (uvicorn)",
)
QUICK_SECONDS = 0.2  # load time per row of a --quick run


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values) or [float("nan")]
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(
    name: str, users: int, latencies: list[float], seconds: float, errors: int = 0
) -> dict[str, Any]:
    return {
        "target": name,
        "users_per_request": users,
        "requests": len(latencies),
        "errors": errors,
        "req_per_s": len(latencies) / seconds if seconds else float("nan"),
        "p50_ms": percentile(latencies, 0.5) * 1e3,
        "p99_ms": percentile(latencies, 0.99) * 1e3,
    }


def user_sample(home: Path, count: int = 2000) -> list[str]:
    import pandas as pd

    from lifecycle.settings import load_settings

    settings = load_settings(home=home)
    table = settings.workspace.features_dir / settings.dataset / "user_features.parquet"
    ids = (
        pd.read_parquet(table, columns=["user_id"])["user_id"]
        .drop_duplicates()
        .astype(str)
        .tolist()
    )
    random.Random(1).shuffle(ids)
    return ids[:count]


def in_process(scorer: Any, ids: list[str], users: int, seconds: float) -> dict[str, Any]:
    """Feast lookup + models + reasons in this process (a loaded scorer), one call at a time."""
    rng = random.Random(2)
    latencies: list[float] = []
    for _ in range(5):
        scorer.score(rng.sample(ids, users))
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        batch = rng.sample(ids, users)
        t0 = time.perf_counter()
        scorer.score(batch)
        latencies.append(time.perf_counter() - t0)
    return {
        **summary(SCORER, users, latencies, time.perf_counter() - started),
        "connections": 1,
    }


async def load(
    url: str, ids: list[str], users: int, seconds: float, connections: int
) -> dict[str, Any]:
    """Closed loop: each connection sends its next request when the last one answered."""
    import aiohttp

    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    rng = random.Random(3)
    bodies = [json.dumps({"user_ids": rng.sample(ids, users)}).encode() for _ in range(200)]
    headers = {"content-type": "application/json"}

    async def worker(session: aiohttp.ClientSession, offset: int) -> None:
        nonlocal errors
        i = offset
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            async with session.post(url, data=bodies[i % len(bodies)], headers=headers) as response:
                await response.read()
                if response.status != 200:
                    errors += 1
            latencies.append(time.perf_counter() - t0)
            i += 1

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        for i in range(connections):  # warm-up
            async with session.post(url, data=bodies[i], headers=headers) as response:
                await response.read()
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(*(worker(session, i * 7) for i in range(connections)))
        elapsed = time.perf_counter() - started
    return {**summary("", users, latencies, elapsed, errors), "connections": connections}


def over_http(
    name: str,
    command: list[str],
    port: int,
    env: dict[str, str],
    ids: list[str],
    args: argparse.Namespace,
    ready_path: str,
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """The rows of one server, and its seconds from start to ready and to a first answer."""
    base = f"http://127.0.0.1:{port}"
    process = serve(command, env)
    started = time.perf_counter()
    try:
        ready = wait_ready(base + ready_path, process)
        startup = {"ready": ready, "first_answer": first_answer(base, ids, process, started)}
        settle(process)
        rows = []
        for users in (1, 100):
            for connections in (1, args.connections):  # latency alone, then throughput under load
                row = asyncio.run(load(f"{base}/score", ids, users, args.seconds, connections))
                rows.append({**row, "target": name})
        memory = worker_memory_mb(process.pid)  # after the load: what serving holds
        if memory:
            startup["worker_mb"] = sum(memory) / len(memory)
        return rows, startup
    finally:
        stop(process)


def cli_help_seconds(runs: int = 5) -> dict[str, float]:
    """Median wall and CPU seconds of ``lifecycle --help`` in a fresh process."""
    import resource

    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "lifecycle.cli", "--help"],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            check=True,
        )
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return {"wall": sorted(walls)[runs // 2], "cpu": sorted(cpus)[runs // 2]}


def bentoml_target(workers: int) -> str:
    return BENTOML if workers == 1 else f"{BENTOML}, {workers} workers"


# -- the bare-ASGI baseline: the same scorer behind one Starlette route -------------------


def baseline_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from lifecycle.settings import load_settings
    from serving.scorer import Scorer

    scorer = Scorer(load_settings())
    scorer.load(mirrored=True)  # as the service starts: the aliases mirror, no MLflow client

    def score_sync(body: bytes) -> bytes:
        payload = json.loads(body)
        return scorer.score(payload["user_ids"], payload.get("tasks")).model_dump_json().encode()

    async def score(request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        body = await run_in_threadpool(score_sync, await request.body())
        return Response(body, media_type="application/json")

    async def ready(_: Request) -> Response:
        return JSONResponse({"ready": True})

    return Starlette(routes=[Route("/score", score, methods=["POST"]), Route("/readyz", ready)])


def plain_app(answer: Path) -> Any:
    """The HTTP floor: one route answering a fixed /score answer (the file ``answer``, one
    user's answer the benchmark's scorer encoded), read once; no model loaded."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    body = answer.read_bytes()

    async def score(request: Request) -> Response:
        await request.body()
        return Response(body, media_type="application/json")

    async def ready(_: Request) -> Response:
        return JSONResponse({"ready": True})

    return Starlette(routes=[Route("/score", score, methods=["POST"]), Route("/readyz", ready)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"CI sizes: {QUICK_SECONDS} s per row, no tree compiled, `lifecycle --help` once",
    )
    home_argument(parser, "a trained workspace", fallback="workspace")
    parser.add_argument(
        "--seconds", type=float, help=f"load time per measurement [10; --quick {QUICK_SECONDS}]"
    )
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections")
    parser.add_argument(
        "--workers",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1],
        help="BentoML worker counts to serve in turn, e.g. 1,2 [1]",
    )
    parser.add_argument(
        "--json", dest="json_out", type=Path, help="also write the rows as JSON here"
    )
    doc_arguments(parser)
    parser.add_argument("--baseline-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--plain-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--plain-answer", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--startup-only",
        action="store_true",
        help="only the start-up timeline, with its own options (bench_serving_startup.py)",
    )
    args, rest = parser.parse_known_args(argv)
    if args.startup_only:
        from bench_serving_startup import main as startup

        startup(list(argv if argv is not None else sys.argv[1:]))
        return
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.baseline_server or args.plain_server:
        import uvicorn

        uvicorn.run(
            baseline_app() if args.baseline_server else plain_app(args.plain_answer),
            host="127.0.0.1",
            port=args.baseline_server or args.plain_server,
            log_level="warning",
            access_log=False,
        )
        return
    args.seconds = args.seconds or (QUICK_SECONDS if args.quick else 10.0)
    home = args.home.resolve()
    quick = UNCOMPILED if args.quick else {}
    env = {**os.environ, **quick, "LIFECYCLE_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true"}
    ids = user_sample(home)
    from docblocks import machine

    meta = machine()
    from bench_serving_inprocess import lines, measure

    cases = measure(home, args.seconds, compile_trees=not args.quick)
    print("\n".join(lines(cases)))
    from lifecycle.settings import load_settings
    from serving.scorer import Scorer

    scorer = Scorer(load_settings(home=home, environ=env))  # as the servers are set
    scorer.load()
    rows = [in_process(scorer, ids, users, args.seconds) for users in (1, 100)]
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as folder:
        answer = Path(folder) / "answer.json"  # the plain route's fixed answer: one user's
        answer.write_bytes(scorer.score(ids[:1]).model_dump_json().encode())
        port = free_port()
        plain = [sys.executable, __file__, "--plain-server", str(port), "--plain-answer", answer]
        rows += over_http(PLAIN, list(map(str, plain)), port, env, ids, args, "/readyz")[0]
    port = free_port()
    bare, bare_start = over_http(
        BARE,
        [sys.executable, __file__, "--baseline-server", str(port)],
        port,
        env,
        ids,
        args,
        "/readyz",
    )
    rows += bare
    starts = {BARE: bare_start}
    for workers in args.workers:
        port = free_port()
        served = {
            **env,
            "BENTOML_CONFIG_OPTIONS": f"services.lifecycle_scoring.workers={workers}",
        }
        command = bentoml_command("127.0.0.1", port)
        name = bentoml_target(workers)
        bento, starts[name] = over_http(name, command, port, served, ids, args, "/readyz")
        rows += bento
    cli_help = cli_help_seconds(1 if args.quick else 5)

    report(rows, starts, cli_help, args)
    if args.doc:
        from docblocks import record, shown_command

        command = shown_command("bench_serving.py", argv)
        document = {
            "machine": meta,
            "seconds": args.seconds,
            "quick": args.quick,
            "connections": args.connections,
            "workers": args.workers,
            "users_scored": len(ids),
            "in_process": cases,
            "rows": rows,
            "start_s": starts,
            "cli_help_s": cli_help,
        }
        record(
            args.doc,
            "bench_serving",
            "bench_serving.py",
            command,
            document,
            render_doc,
            args.results_dir,
        )
    if args.json_out:
        args.json_out.write_text(
            json.dumps({"rows": rows, "start_s": starts, "cli_help_s": cli_help}, indent=2)
        )


DOC_TARGETS = {
    SCORER: "in-process scorer (the same requests, no HTTP)",
    BARE: "bare ASGI (uvicorn) doing the same",
    BENTOML: "BentoML service",
    PLAIN: "plain Starlette route, fixed answer (the HTTP floor)",
}


def render_doc(name: str, document: dict[str, Any]) -> str:
    """The in-process cases against their floor, then the HTTP table (every target, size
    and concurrency) and the ratios the aims are about."""
    from bench_serving_inprocess import lines as in_process_lines
    from docblocks import measured_on

    rows, n = document["rows"], document["connections"]
    by = {(r["target"], r["users_per_request"], r["connections"]): r for r in rows}
    lines = [
        f"{measured_on(document['machine'])}; {document['seconds']:g} s per row, "
        f"BentoML with {' and '.join(map(str, document['workers']))} worker(s)"
        + ("; CI sizes (no tree compiled)." if document.get("quick") else "."),
        "",
        *in_process_lines(document["in_process"]),
        "",
        "| over HTTP | users/request | connections | req/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        target = DOC_TARGETS.get(r["target"], r["target"].replace(BENTOML, DOC_TARGETS[BENTOML]))
        lines.append(
            f"| {target} | {r['users_per_request']} | "
            f"{r['connections']} | {r['req_per_s']:.0f} | {r['p50_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['errors']} |"
        )
    lines.append("")
    for users in (1, 100):
        scorer_row = by[(SCORER, users, 1)]
        bento_one, bento_n = by[(BENTOML, users, 1)], by[(BENTOML, users, n)]
        bare_n, plain_one = by[(BARE, users, n)], by[(PLAIN, users, 1)]
        lines.append(
            f"- {users} user(s) per request: BentoML's p50 at 1 connection is "
            f"{bento_one['p50_ms']:.1f} ms, {bento_one['p50_ms'] / plain_one['p50_ms']:.1f}x the "
            f"plain route's and {bento_one['p50_ms'] / scorer_row['p50_ms']:.1f}x the in-process "
            f"scorer's; at {n} connections {bento_n['req_per_s']:.0f} req/s, "
            f"{bento_n['req_per_s'] / bare_n['req_per_s']:.2f}x the bare-ASGI baseline's."
        )
    for workers in document["workers"][1:]:
        one, more = by[(BENTOML, 1, n)], by.get((bentoml_target(workers), 1, n))
        if more is not None:
            lines.append(
                f"- {workers} workers, 1 user per request at {n} connections: "
                f"{more['req_per_s']:.0f} req/s ({more['req_per_s'] / one['req_per_s']:.2f}x one "
                f"worker's), p99 {more['p99_ms']:.1f} ms (one worker: {one['p99_ms']:.1f})."
            )
    start = document["start_s"]
    memory = [
        f"{workers} worker(s) {start[bentoml_target(workers)]['worker_mb']:.0f} MB each"
        for workers in document["workers"]
        if "worker_mb" in start.get(bentoml_target(workers), {})
    ]
    if memory:
        lines.append(
            "- Memory of a BentoML worker after the load (proportional set size: pages shared "
            f"between processes split among them): {'; '.join(memory)}."
        )
    lines.append(
        f"- Start (`bentoml serve`, 1 worker) to `/readyz` 200: {start[BENTOML]['ready']:.1f} s, "
        f"to the first answer {start[BENTOML]['first_answer']:.1f} s (bare uvicorn "
        f"{start[BARE]['first_answer']:.1f} s); `lifecycle --help` "
        f"{document['cli_help_s']['wall']:.2f} s ({document['cli_help_s']['cpu']:.2f} CPU-s)."
    )
    return "\n".join(lines) + "\n"


def report(
    rows: list[dict[str, Any]],
    startup: dict[str, dict[str, float]],
    cli_help: dict[str, float],
    args: argparse.Namespace,
) -> None:
    by = {(r["target"], r["users_per_request"], r["connections"]): r for r in rows}
    print(f"\n{args.seconds:g} s per row, {os.cpu_count()} cores\n")
    print("| target | users/request | connections | req/s | p50 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['target']} | {r['users_per_request']} | {r['connections']} | {r['req_per_s']:.0f} "
            f"| {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} |"
        )
    print()
    n = args.connections
    for users in (1, 100):
        plain_one = by.get((PLAIN, users, 1))
        bento_one, bento_n = by.get((BENTOML, users, 1)), by.get((BENTOML, users, n))
        bare_n = by.get((BARE, users, n))
        if plain_one and bento_one and bento_n and bare_n:
            print(
                f"{users} user(s)/request: bentoml p50 at 1 connection = "
                f"{bento_one['p50_ms'] / plain_one['p50_ms']:.1f}x the plain route's; "
                f"throughput at {n} connections = {bento_n['req_per_s'] / bare_n['req_per_s']:.2f}x bare ASGI"
            )
    for name, seconds in startup.items():
        memory = f"; {seconds['worker_mb']:.0f} MB per worker" if "worker_mb" in seconds else ""
        print(
            f"start to ready, {name}: {seconds['ready']:.1f} s; to the first /score answer "
            f"{seconds['first_answer']:.1f} s{memory}"
        )
    print(f"lifecycle --help: {cli_help['wall']:.2f} s, {cli_help['cpu']:.2f} CPU-s")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
