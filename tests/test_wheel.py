"""The package as a user gets it: a wheel, installed with Python 3.12 into a fresh venv.

Run from the repository, a stray top-level import (`from pipelines import ...`) would
still resolve, since the repository's folders are on the path; installed from its wheel,
outside the repository, only the `tasklab` namespace exists. This test builds the wheel,
installs it with another Python than the development one, lists what landed in
site-packages and runs a short run from an unrelated directory.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE_FOLDERS = (
    "tasks", "pipelines", "baselines", "explain", "export", "core", "data", "training", "edge",
)  # fmt: skip
SOURCE_FOLDERS = (*PACKAGE_FOLDERS, "tasklab", "bench", "tests")
_NOT_SOURCE = (".git", ".venv", "build", "dist", "runs", "*.egg-info", "__pycache__", ".*_cache")


def test_every_import_of_the_toolkit_goes_through_the_tasklab_namespace():
    # Also in code held in strings (scripts the tests run in a subprocess): `"from pipelines.`.
    bare = re.compile(rf"^\s*\"?(from|import) ({'|'.join(PACKAGE_FOLDERS)})(\.|\s|$)", re.M)
    offenders = [
        f"{path.relative_to(REPO)}: {match.group(0).strip()}"
        for folder in SOURCE_FOLDERS
        for path in sorted((REPO / folder).rglob("*.py"))
        for match in bare.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, offenders


def _python312() -> str:
    """Python 3.12, as CI machines have it (pyenv, or the system's); its absence fails the
    test with the fix. A pyenv shim runs only where 3.12 is the selected version, so the
    interpreters themselves are tried first."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [
        *sorted(pyenv.glob("versions/3.12*/bin/python3.12")),
        Path("/usr/bin/python3.12"),
        Path("/usr/local/bin/python3.12"),
        shutil.which("python3.12"),
    ]
    for candidate in filter(None, candidates):
        works = subprocess.run([str(candidate), "--version"], capture_output=True, text=True)
        if works.returncode == 0 and works.stdout.startswith("Python 3.12"):
            return str(candidate)
    raise AssertionError("Python 3.12 is needed to test the wheel: `pyenv install 3.12`.")


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 1200):
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, (command, done.stdout[-3000:], done.stderr[-3000:])
    return done


@pytest.mark.slow
def test_the_wheel_installs_with_python_3_12_and_runs_from_another_directory(tmp_path):
    # Built from a copy: setuptools reuses a source tree's build/ folder, whose stale files
    # (a module since moved) would land in the wheel.
    source = tmp_path / "source"
    ignored = shutil.ignore_patterns(*_NOT_SOURCE)
    shutil.copytree(REPO, source, symlinks=True, ignore=ignored)
    wheels = tmp_path / "dist"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(wheels), str(source)],
        tmp_path,
    )
    (wheel,) = wheels.glob("tasklab-*.whl")
    venv = tmp_path / "venv312"
    _run([_python312(), "-m", "venv", str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "--quiet", str(wheel)], cwd=tmp_path)

    listed = _run([str(python), "-m", "pip", "show", "-f", "tasklab"], cwd=tmp_path).stdout
    files = listed.split("Files:", 1)[1].split()
    outside = [f for f in files if not f.startswith(("tasklab/", "tasklab-", "../../../bin/"))]
    assert not outside, outside
    assert "tasklab/pipelines/templates/report.html.j2" in files
    assert "tasklab/configs/digits_quick.yaml" in files

    # From a directory holding a `tasks.py` and an `export/` folder of its own: neither is
    # imported in tasklab's place.
    elsewhere = tmp_path / "user_project"
    (elsewhere / "export").mkdir(parents=True)
    (elsewhere / "tasks.py").write_text("raise SystemExit('the user tasks.py was imported')\n")
    (elsewhere / "export" / "__init__.py").write_text("raise SystemExit('user export/')\n")
    # `python -m` puts the working directory first on the path, where the shadows are.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    command = [
        str(python), "-m", "tasklab", "run", "digits_quick", "--runs-dir", "runs",
        "--set", "train.epochs=2", "--set", "baselines=[linear]", "--set", "explain.methods=[]",
        "--set", "export.variants=[float32]", "--set", "export.latency_runs=2",
    ]  # fmt: skip
    done = _run(command, cwd=elsewhere, env=env)
    run_dir = Path(elsewhere / done.stdout.strip().splitlines()[-1])
    assert (run_dir / "report.html").is_file() and (run_dir / "export" / "float32.tflite").is_file()
    version = _run([str(venv / "bin" / "tasklab"), "--version"], cwd=elsewhere, env=env)
    assert version.stdout.startswith("tasklab 0.")
    interpreter = [str(python), "-c", "import sys; print(sys.version_info[:2])"]
    assert _run(interpreter, cwd=elsewhere).stdout.strip() == "(3, 12)"
    edge = [str(python), "-m", "tasklab.edge", str(run_dir / "export"), "--help"]
    assert "usage: python -m tasklab.edge" in _run(edge, cwd=elsewhere, env=env).stdout
