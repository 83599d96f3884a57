"""Start-up of the scoring service as a timeline: ``bentoml serve`` to ``/readyz`` 200.

    LIFECYCLE_HOME=<trained workspace> .venv/bin/python experiments/bench_serving.py \
        --startup-only [--runs 5] [--doc docs/benchmarks.md]

Each run starts ``bentoml serve`` (the command ``lifecycle serve`` execs, with the
service's workers: 2 by default, ``BENTOML_CONFIG_OPTIONS`` changes it) and
polls it every 10 ms: when the arbiter spawned the worker (from ``/proc``), when the worker
answered ``/livez`` (uvicorn up, the service constructed), ``/readyz`` 200 (models and
store loaded) and the first ``/score`` answer; at ready, the CPU seconds each process of
the tree had used (the arbiter, that is the ``bentoml serve`` process itself, the worker).
The same run starts the baseline: the same scorer behind a bare Starlette route on uvicorn,
no BentoML (``bench_serving.py --baseline-server``), and ratios are against its start.

Then what the time is made of: the CPU seconds of each step a start does, each step
timed in a fresh process after the steps before it (CPU, so other load on a shared machine
counts little): the arbiter's imports, then the worker's imports, service construction,
and ``Scorer.load`` itself (Feast is not imported: the registry's mirror is read, see
``features.registry_mirror``; a stale mirror would show here as a slower load).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")
GOAL_S = 2.5  # issue 17: `bentoml serve` to ready
WORKER = "_bentoml_impl.worker.service"

# The steps of a start, in order; each step's CPU is timed after the ones before it ran.
STEPS = {
    "arbiter: bentoml CLI": "import bentoml_cli.cli",
    "arbiter: the service module": "import serving.service",
    "worker: BentoML's worker and SDK": f"import {WORKER}, _bentoml_sdk",
    "worker: the service module": "import serving.service",
    "worker: constructing the service": (
        "from lifecycle.bundle import import_lightgbm_without_sklearn\n"
        "import_lightgbm_without_sklearn()\n"
        "from lifecycle.settings import load_settings\n"
        "from serving.scorer import Scorer\n"
        "scorer = Scorer(load_settings())"
    ),
    "worker: Scorer.load (mirror, bundles, store, cold start)": "scorer.load(mirrored=True)",
}
ARBITER_STEPS = 2  # the first two run in the arbiter's process, the rest in the worker's
STEP_PROBE = """
import json, resource, sys, time
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
spent = {}
for name, code in json.loads(sys.argv[1]):
    before, wall = cpu(), time.perf_counter()
    exec(code)
    spent[name] = {"cpu": cpu() - before, "wall": time.perf_counter() - wall}
print(json.dumps({"steps": spent, "interpreter_cpu": cpu() - sum(s["cpu"] for s in spent.values())}))
"""


def proc_table() -> dict[int, dict[str, Any]]:
    """pid -> parent, start (ticks since boot), CPU ticks and command line of every process."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue
        table[int(entry.name)] = {
            "parent": int(stat[1]),
            "start": int(stat[19]),
            "cpu": int(stat[11]) + int(stat[12]),
            "command": command,
        }
    return table


def tree(root: int) -> dict[int, dict[str, Any]]:
    table = proc_table()
    found, frontier = {root}, {root}
    while frontier:
        frontier = {pid for pid, p in table.items() if p["parent"] in frontier} - found
        found |= frontier
    return {pid: table[pid] for pid in found if pid in table}


def one_start(command: list[str], port: int, env: dict[str, str], user: str) -> dict[str, Any]:
    """The timeline of one start: seconds from exec to each mark, CPU-s per process at ready."""
    import httpx
    from served_processes import serve, stop

    base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    process = serve(command, env)
    marks: dict[str, float] = {}
    try:
        with httpx.Client(timeout=1) as client:
            while "ready" not in marks:
                if process.poll() is not None:
                    raise RuntimeError(f"server exited with {process.returncode}")
                for mark, path in (("live", "/livez"), ("ready", "/readyz")):
                    if mark in marks:
                        continue
                    try:
                        if client.get(base + path).status_code == 200:
                            marks[mark] = time.perf_counter() - started
                    except httpx.HTTPError:
                        pass
                if time.perf_counter() - started > 180:
                    raise TimeoutError(f"{base}/readyz not ready after 180 s")
                time.sleep(0.01)
            processes = tree(process.pid)  # CPU at ready, before the first answer adds its own
            while True:
                try:
                    answer = client.post(f"{base}/score", json={"user_ids": [user]}, timeout=30)
                    if answer.status_code == 200:
                        marks["first_answer"] = time.perf_counter() - started
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.01)
    finally:
        stop(process)
    root = processes[process.pid]
    # the arbiter's own children: a worker's child forked to run a command carries the
    # worker's command line until it execs
    workers = [
        p for p in processes.values() if WORKER in p["command"] and p["parent"] == process.pid
    ]
    cpu = {"arbiter": root["cpu"] / TICKS, "worker": sum(p["cpu"] for p in workers) / TICKS}
    cpu["others"] = sum(p["cpu"] for p in processes.values()) / TICKS - sum(cpu.values())
    if workers:
        marks["worker_spawned"] = (min(p["start"] for p in workers) - root["start"]) / TICKS
    return {"marks": marks, "cpu_at_ready": cpu, "workers": len(workers)}


def steps_cpu(env: dict[str, str], runs: int) -> dict[str, Any]:
    """Median CPU (and wall) seconds of each start step, over ``runs`` fresh processes per side."""
    names = list(STEPS)
    samples: list[dict[str, Any]] = []
    for _ in range(runs):
        sample: dict[str, Any] = {"steps": {}, "interpreter_cpu": 0.0}
        for side in (names[:ARBITER_STEPS], names[ARBITER_STEPS:]):
            done = subprocess.run(
                [sys.executable, "-c", STEP_PROBE, json.dumps([[n, STEPS[n]] for n in side])],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            probe = json.loads(done.stdout.strip().splitlines()[-1])
            sample["steps"].update(probe["steps"])
            sample["interpreter_cpu"] += probe["interpreter_cpu"] / 2
        samples.append(sample)
    return {
        "steps": {
            name: {
                key: statistics.median(s["steps"][name][key] for s in samples)
                for key in ("cpu", "wall")
            }
            for name in names
        },
        "interpreter_cpu": statistics.median(s["interpreter_cpu"] for s in samples),
    }


def median_marks(starts: list[dict[str, Any]]) -> dict[str, Any]:
    marks = {k: statistics.median(s["marks"][k] for s in starts) for k in starts[0]["marks"]}
    cpu = {
        k: statistics.median(s["cpu_at_ready"][k] for s in starts)
        for k in starts[0]["cpu_at_ready"]
    }
    return {
        "marks": marks,
        "cpu_at_ready": cpu,
        "ready_runs": [s["marks"]["ready"] for s in starts],
        "workers": max(s.get("workers", 0) for s in starts),
    }


def measure(home: Path, runs: int) -> dict[str, Any]:
    """Bentoml and the bare-uvicorn baseline started in turn ``runs`` times, then the steps."""
    from bench_serving import user_sample
    from docblocks import machine
    from served_processes import free_port

    from serving.launch import bentoml_command

    env = {**os.environ, "LIFECYCLE_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true"}
    meta = machine()
    user = user_sample(home, 1)[0]
    bento, bare = [], []
    for _ in range(runs):
        port = free_port()
        bento.append(one_start(bentoml_command("127.0.0.1", port), port, env, user))
        port = free_port()
        baseline = [sys.executable, str(REPO / "experiments" / "bench_serving.py")]
        bare.append(one_start([*baseline, "--baseline-server", str(port)], port, env, user))
    return {
        "machine": meta,
        "runs": runs,
        "bentoml": median_marks(bento),
        "bare": median_marks(bare),
        "steps": steps_cpu(env, runs),
        "load_average_1m_end": round(os.getloadavg()[0], 1),
    }


def lines(result: dict[str, Any]) -> list[str]:
    """The timeline, the baseline ratio, and the CPU of each step."""
    from docblocks import measured_on

    bento, bare = result["bentoml"], result["bare"]
    marks, cpu = bento["marks"], bento["cpu_at_ready"]
    ready = marks["ready"]
    workers = f"{bento['workers']} worker(s)" if bento.get("workers") else "its workers"
    out = [
        f"{measured_on(result['machine'])}, {result['load_average_1m_end']} at the end; medians "
        f"of {result['runs']} starts of the service with {workers}, each beside a start of "
        "the baseline; ready is the first `/readyz` 200, whichever worker answers it.",
        "",
        "| `bentoml serve` start, seconds from exec | s |",
        "|---|---:|",
        f"| the worker spawned by the arbiter | {marks.get('worker_spawned', float('nan')):.2f} |",
        f"| `/livez` 200: uvicorn up, the service constructed | {marks['live']:.2f} |",
        f"| **`/readyz` 200: models and store loaded** (goal {GOAL_S}) | **{ready:.2f}** |",
        f"| first `/score` answer | {marks['first_answer']:.2f} |",
        f"| baseline: the same scorer on bare uvicorn, `/readyz` 200 | {bare['marks']['ready']:.2f} |",
        "",
        f"- Ready in {ready / bare['marks']['ready']:.2f}x the baseline's time; CPU used by then: "
        f"arbiter {cpu['arbiter']:.2f} s, workers {cpu['worker']:.2f} s, other processes "
        f"{cpu['others']:.2f} s (baseline's server {bare['cpu_at_ready']['arbiter']:.2f} s).",
        "",
        "| step of a start (fresh process, after the steps above it) | CPU s | wall s |",
        "|---|---:|---:|",
        f"| the interpreter itself (each process) | {result['steps']['interpreter_cpu']:.2f} | |",
    ]
    for name, spent in result["steps"]["steps"].items():
        out.append(f"| {name} | {spent['cpu']:.2f} | {spent['wall']:.2f} |")
    total = sum(s["cpu"] for s in result["steps"]["steps"].values())
    out.append(f"| **all steps** | **{total:.2f}** | |")
    return out


def render_doc(name: str, document: dict[str, Any]) -> str:
    return "\n".join(lines(document)) + "\n"


def main(argv: list[str]) -> None:
    import argparse

    from docblocks import home_argument

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--startup-only", action="store_true", help=argparse.SUPPRESS)
    home_argument(parser, "a trained workspace", fallback="workspace")
    parser.add_argument("--runs", type=int, default=5, help="starts of each server [5]")
    parser.add_argument("--doc", type=Path, help="write the start-up block into this doc")
    parser.add_argument("--json", dest="json_out", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    result = measure(args.home.resolve(), args.runs)
    print("\n".join(lines(result)))
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2))
    if args.doc:
        from docblocks import record, shown_command

        command = shown_command("bench_serving.py", argv)
        record(
            args.doc,
            "bench_serving_startup",
            "bench_serving.py",  # the command that measures it; rendered here
            command,
            result,
            render_doc,
            renderer="bench_serving_startup",
        )


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main(sys.argv[1:])
