"""The README's Python API example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import REPO


def readme_python_example() -> str:
    section = (REPO / "README.md").read_text().split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_python_api_example_runs(tmp_path):
    """From a directory without configs/: the shipped config is found by name."""
    done = subprocess.run(
        [sys.executable, "-c", readme_python_example()],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    # The Python API shows the same progress lines as the CLI, without logging set up.
    assert "tasklab: Training: epoch 5/5" in done.stderr
    run_dir_line, metrics_line = done.stdout.strip().splitlines()[-2:]
    assert (tmp_path / run_dir_line / "report.html").is_file()
    accuracy = float(metrics_line.split()[0])
    assert 0.5 < accuracy <= 1.0


def test_config_reference_states_the_defaults():
    """The README's annotated config parses; its export and explain sections are the defaults."""
    import yaml

    from tasklab.core.config import ExplainConfig, ExportConfig, parse_config

    section = (REPO / "README.md").read_text().split("## Config reference", 1)[1]
    raw = yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, re.DOTALL).group(1))
    config = parse_config(raw)
    assert config.explain == ExplainConfig() and config.export == ExportConfig()
