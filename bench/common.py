"""What every benchmark shares: running `tasklab` as a user does, peak memory, the machine
description and the results files."""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tasklab.core import io
from tasklab.core.run_dir import RunDir
from tasklab.pipelines.run import package_versions
from tasklab.training.results import RunMetrics

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(__file__).parent / "results"
# What a benchmark that times training turns off: the other stages and early stopping.
TRAIN_ONLY = ["baselines=[]", "export.variants=[]", "explain.methods=[]", "train.patience=null"]


class BenchmarkError(RuntimeError):
    """A benchmarked command failed; the message holds the end of its output."""


@dataclasses.dataclass(frozen=True)
class Finished:
    """A command that ran to completion.

    Attributes:
        stdout: its standard output.
        wall_seconds: its wall time, start-up included.
        peak_rss_mib: the peak resident memory of the process (the largest of
            its own and its children's, as `getrusage` counts it).
    """

    stdout: str
    wall_seconds: float
    peak_rss_mib: float

    @property
    def run_dir(self) -> Path:
        """The run directory a `tasklab run` or `launch` printed last."""
        return Path(self.stdout.strip().splitlines()[-1])

    def metrics(self) -> RunMetrics:
        """The run's `metrics.json`."""
        return RunMetrics.read(RunDir(self.run_dir).metrics)


def run_command(args: list[str], cwd: Path = REPO) -> Finished:
    """Runs a command to completion, measuring its wall time and peak memory.

    `os.wait4` returns the resource usage of this one child, so every
    command's peak is its own (`RUSAGE_CHILDREN` would keep the largest so far).

    Raises:
        BenchmarkError: when it exits with a non-zero status.
    """
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        raise BenchmarkError(
            f"{' '.join(args)} exited with {process.returncode}:\n{(stdout + stderr)[-3000:]}"
        )
    # Linux reports ru_maxrss in KiB.
    return Finished(stdout, seconds, usage.ru_maxrss / 1024)


def tasklab(command: str, config: str | Path, settings: list[str], runs_dir: Path) -> Finished:
    """Runs `tasklab COMMAND CONFIG --set ... --runs-dir RUNS_DIR` in a fresh process.

    Args:
        command: the sub-command and its options, e.g. `run` or `launch --workers 2`.
        config: the run config file.
        settings: `KEY=VALUE` overrides.
        runs_dir: where the run directory goes.

    Returns:
        The finished command (its run directory, wall time and peak memory).
    """
    args = [sys.executable, "-m", "tasklab.pipelines.cli", *command.split(), str(config)]
    for setting in settings:
        args += ["--set", setting]
    return run_command([*args, "--runs-dir", str(runs_dir)])


def machine() -> dict[str, Any]:
    """The machine a result was measured on: platform, CPU model and count, memory."""
    cpu_model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
        cpu_model = names[0].split(":", 1)[1].strip() if names else ""
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "platform": platform.platform(),
        "cpu": cpu_model or platform.processor(),
        "cpus": os.cpu_count(),
        "memory_gib": round(memory_gib, 1),
    }


def write_result(name: str, result: dict[str, Any]) -> Path:
    """Writes `bench/results/NAME.json` with the machine, the versions and the time.

    Returns:
        The file written.
    """
    stamped = {
        "benchmark": name,
        **result,
        "measured": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "versions": package_versions(),
    }
    return io.write_json(RESULTS_DIR / f"{name}.json", stamped)
