"""What every hostile-input case asserts, and how it runs a command.

The README promises that an error a user can fix prints one `error:` line
naming the problem and the fix, exits with status 2, and loses nothing. A
case here runs a command on a bad input and checks exactly that:

- `cli(...)` runs `tasklab` in this process (no TensorFlow start-up per case);
  `edge(...)` runs the edge runner's `main` the same way;
- `capped(...)` runs a command in a subprocess under an address-space limit,
  for inputs built to exhaust memory: a regression then fails the case with a
  MemoryError (or a kill) instead of swapping CI to death;
- `assert_refused(outcome, *words)`: status 2, exactly one `error:` line, that
  line names each of `words` (the file, column or row, and the fix), and no
  traceback anywhere in the output;
- `digest(tree)`: every file's bytes under a directory, to show an earlier
  run is unchanged after the case.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import resource
import subprocess
import sys
from pathlib import Path

from tasklab.pipelines.cli import main as tasklab_main

EDGE_RUNNER = [sys.executable, "-m", "tasklab.edge"]
TASKLAB = [sys.executable, "-m", "tasklab.pipelines.cli"]
# Enough for Python, numpy, PIL and LiteRT (the edge runner); a config check loads no TensorFlow.
SMALL_ADDRESS_SPACE = 2 << 30
# TensorFlow alone reserves ~3 GB of address space; a run of small data stays well under this,
# while a decoded 20000 x 20000 image (6.4 GB as float RGBA) or a million-label plot cannot.
TENSORFLOW_ADDRESS_SPACE = 6 << 30


@dataclasses.dataclass(frozen=True)
class Outcome:
    """A finished command: its exit status and what it printed."""

    status: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]


def cli(capfd, *argv: str) -> Outcome:
    """Runs `tasklab ARGV...` in this process; an escaping exception fails the case."""
    try:
        status = tasklab_main(list(argv))
    except SystemExit as exit_:  # argparse usage errors exit with status 2.
        status = exit_.code
    captured = capfd.readouterr()
    return Outcome(status, captured.out, captured.err)


def edge(capfd, *argv: str) -> Outcome:
    """Runs the edge runner (`python -m tasklab.edge ARGV...`) in this process."""
    from tasklab.edge.run import main as edge_main

    try:
        status = edge_main(list(argv))
    except SystemExit as exit_:
        status = exit_.code
    captured = capfd.readouterr()
    return Outcome(status, captured.out, captured.err)


def capped(command: list[str], cwd: Path, address_space: int = SMALL_ADDRESS_SPACE) -> Outcome:
    """Runs `command` in a subprocess whose address space is capped (`RLIMIT_AS`)."""

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(_repo())}
    done = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limit,
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


def quick_config(directory: Path, name: str, task: str, data: str) -> Path:
    """A config that trains 1 epoch with no baselines, explanations or export: the cases
    here fail before training, or need only that much to show they do not."""
    config = directory / f"{name}.yaml"
    config.write_text(
        f"name: {name}\ntask: {task}\ndata: {{{data}}}\n"
        "train: {epochs: 1}\nbaselines: []\nexplain: {methods: []}\nexport: {variants: []}\n"
    )
    return config


def assert_refused(outcome: Outcome, *words: str) -> str:
    """Asserts the promise: status 2, one `error:` line naming `words`, no traceback.

    Returns:
        The error line.
    """
    output = outcome.stdout + outcome.stderr
    assert "Traceback" not in output, output[-4000:]
    assert outcome.status == 2, (outcome.status, output[-4000:])
    assert len(outcome.error_lines) == 1, output[-4000:]
    (line,) = outcome.error_lines
    for word in words:
        assert word.lower() in line.lower(), f"{word!r} not named in: {line}"
    assert len(line) < 1500, f"an error line of {len(line)} characters: {line[:300]}..."
    return line


def digest(tree: Path) -> dict[str, str]:
    """The SHA-256 of every file under `tree`, by relative path."""
    return {
        str(path.relative_to(tree)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(tree.rglob("*"))
        if path.is_file()
    }


def _repo() -> Path:
    return Path(__file__).resolve().parents[2]
