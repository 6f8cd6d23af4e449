"""`tasklab launch`: a multi-worker run on this machine, one process per worker.

Each worker is `tasklab run CONFIG --set strategy.name=multi_worker` with its
own `TF_CONFIG` (127.0.0.1 and a free port each). Their output is streamed
with a `[worker N]` prefix. The workers fail as a whole: when one exits with
an error, the others are stopped (SIGTERM, then SIGKILL) rather than left
waiting on it, and running the same command again resumes from the chief's
last backup. On several hosts, start `tasklab run` on each with its own
`TF_CONFIG` instead (see the README).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import TextIO

HOST = "127.0.0.1"
STOP_GRACE_SECONDS = 10.0
_POLL_SECONDS = 0.2


class LaunchError(RuntimeError):
    """A worker failed, so the launch failed."""


@dataclasses.dataclass
class Worker:
    """One worker process and the last line it printed to stdout (the chief's: the run dir)."""

    index: int
    process: subprocess.Popen
    last_line: str = ""


def free_ports(count: int) -> list[int]:
    """Ports on 127.0.0.1 that were free a moment ago (the OS picks them)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def tf_configs(ports: Sequence[int]) -> list[str]:
    """The `TF_CONFIG` of each worker of a local cluster (worker 0 is the chief).

    Args:
        ports: one port per worker.

    Returns:
        One JSON string per worker.
    """
    cluster = {"worker": [f"{HOST}:{port}" for port in ports]}
    return [
        json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        for index in range(len(ports))
    ]


def worker_command(config: str, overrides: Sequence[str], runs_dir: str, fresh: bool) -> list[str]:
    """The `tasklab run` command line every worker runs."""
    command = [sys.executable, "-m", "tasklab.pipelines.cli", "run", config, "--runs-dir", runs_dir]
    for override in [*overrides, "strategy.name=multi_worker"]:
        command += ["--set", override]
    return command + (["--fresh"] if fresh else [])


def launch(
    config: str,
    workers: int,
    overrides: Sequence[str] = (),
    runs_dir: str = "runs",
    fresh: bool = False,
    out: TextIO = sys.stdout,
) -> str:
    """Runs a multi-worker run with `workers` local processes and waits for all.

    Args:
        config: the YAML config path.
        workers: the number of worker processes (>= 1).
        overrides: `--set KEY=VALUE` overrides, passed to every worker.
        runs_dir: the parent of the run directories (the chief writes there).
        fresh: start a new run even if an identical one was interrupted.
        out: where the prefixed worker output goes.

    Returns:
        The run directory (the chief's last line).

    Raises:
        ValueError: when `workers` < 1.
        LaunchError: when a worker fails; the others have been stopped.
    """
    if workers < 1:
        raise ValueError(f"--workers must be >= 1. Received: {workers}.")
    command = worker_command(config, overrides, runs_dir, fresh)
    started = []
    for index, tf_config in enumerate(tf_configs(free_ports(workers))):
        env = {**os.environ, "TF_CONFIG": tf_config, "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
        started.append(Worker(index, process))
        print(f"[launch] worker {index}: pid {process.pid}", file=out, flush=True)
    lock = threading.Lock()
    readers = [
        threading.Thread(target=_stream, args=(worker, stream, out, lock), daemon=True)
        for worker in started
        for stream in (worker.process.stdout, worker.process.stderr)
    ]
    for reader in readers:
        reader.start()
    try:
        failed = _wait_all(started)
    except KeyboardInterrupt:
        _stop(started)
        raise
    if failed is not None:
        _stop(started)
    for reader in readers:
        reader.join(timeout=5)
    if failed is not None:
        raise LaunchError(
            f"worker {failed.index} {_describe_exit(failed.process.returncode)}; stopped the "
            f"other workers. Its output above says why; running the same command again "
            f"resumes from the last backup."
        )
    return started[0].last_line


def _stream(worker: Worker, stream: TextIO, out: TextIO, lock: threading.Lock) -> None:
    """Copies one of a worker's output streams to `out`, a prefixed line at a time."""
    for line in stream:
        line = line.rstrip("\n")
        if stream is worker.process.stdout and line.strip():
            worker.last_line = line
        with lock:
            print(f"[worker {worker.index}] {line}", file=out, flush=True)


def _wait_all(workers: list[Worker]) -> Worker | None:
    """Waits until every worker exits, or returns the first that failed."""
    while True:
        codes = [w.process.poll() for w in workers]
        for worker, code in zip(workers, codes, strict=True):
            if code not in (None, 0):
                return worker
        if all(code == 0 for code in codes):
            return None
        time.sleep(_POLL_SECONDS)


def _stop(workers: list[Worker]) -> None:
    """SIGTERM to the workers still running, then SIGKILL after a grace period."""
    running = [w.process for w in workers if w.process.poll() is None]
    for process in running:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in running:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _describe_exit(code: int) -> str:
    if code < 0:
        return f"was killed by signal {-code} ({signal.Signals(-code).name})"
    return f"exited with status {code}"
