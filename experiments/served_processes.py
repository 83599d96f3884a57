"""The server processes of the serving benchmarks (``bench_serving.py``,
``bench_serving_startup.py``): started in a session of their own, waited for until ready and
settled, their workers' memory read from ``/proc``, stopped."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 120) -> float:
    """Seconds until ``url`` answers 200; fails if the process dies first."""
    import httpx

    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready after {timeout} s")


def first_answer(base: str, ids: list[str], process: subprocess.Popen, started: float) -> float:
    """Seconds from process start to the first 200 from /score."""
    import httpx

    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if (
                httpx.post(f"{base}/score", json={"user_ids": ids[:1]}, timeout=5).status_code
                == 200
            ):
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)


def serve(command: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(process: subprocess.Popen) -> None:
    import signal

    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def settle(process: subprocess.Popen, timeout: float = 180) -> None:
    """Wait until the server's post-start registry check (a child process reading the MLflow
    registry, ``serving.service.aliases_elsewhere``) is done: rows measure a settled server."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline and any(
        "registry_aliases" in command for command in descendants(process.pid)
    ):
        time.sleep(0.2)


def descendants(root: int) -> list[str]:
    """Command lines of the processes below ``root``."""
    return list(descendant_commands(root).values())


def descendant_commands(root: int) -> dict[int, str]:
    """Pid -> command line of the processes below ``root``."""
    parents: dict[int, int] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            commands[int(entry.name)] = (entry / "cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return {pid: commands[pid] for pid in found if pid in commands}


def worker_memory_mb(root: int) -> list[float]:
    """Proportional set size (MB: shared pages split between the processes sharing them) of
    each serving worker below ``root``: BentoML's ``--worker-id`` processes."""
    sizes = []
    for pid, command in sorted(descendant_commands(root).items()):
        if "--worker-id" not in command:
            continue
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
        except OSError:
            continue
        pss = next((line.split()[1] for line in rollup if line.startswith("Pss:")), None)
        if pss is not None:
            sizes.append(int(pss) / 1024)
    return sizes
