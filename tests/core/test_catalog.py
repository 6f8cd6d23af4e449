"""The TF-free catalogs say what the registries hold, so config checks and `tasklab datasets`
need no TensorFlow, and commands that need none answer in a moment."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from tasklab.core.catalog import BASELINE_NAMES, BUILTINS, DATA_SCHEMES
from tasklab.core.config import ConfigError, parse_config
from tasklab.core.model_options import MODEL_OPTIONS, default_model
from tests.conftest import REPO


def test_model_options_are_the_task_registries():
    from tasklab.tasks import TASKS, get_task

    assert sorted(MODEL_OPTIONS) == TASKS.names()
    for name, models in MODEL_OPTIONS.items():
        task = get_task(name)
        assert default_model(name) == task.default_model
        assert {model: task.models.get(model).options for model in task.models} == models


def test_builtins_and_baselines_are_the_registries():
    from tasklab.baselines.models import BASELINES
    from tasklab.data import BUILTIN_DATASETS, SCHEMES

    assert sorted(BUILTINS) == BUILTIN_DATASETS.names() and SCHEMES == DATA_SCHEMES
    for name, info in BUILTINS.items():
        entry = BUILTIN_DATASETS.get(name)
        assert (entry.kind, entry.problem, entry.description) == dataclasses.astuple(info)
    assert sorted(BASELINE_NAMES) == BASELINES.names()


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("bultin:digits", r"scheme must be one of .*Did you mean 'builtin'"),
        ("builtin:digit", r"Unknown built-in dataset 'digit'.*Did you mean 'digits'"),
    ],
)
def test_unknown_schemes_and_builtins_fail_in_the_config(uri, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({"name": "x", "task": "image_classification", "data": {"uri": uri}})


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["--version"],
        ["datasets"],
        ["schema"],
        ["run", "digits", "--set", "train.epochs=zero"],
        ["run", "digits", "--set", "model.name=small_cn"],
        ["run", "digits", "--set", "baselines=[xgbost]"],
        ["launch", "digits", "--workers", "2", "--set", "task=image_classificaton"],
    ],
)
def test_commands_that_need_no_tensorflow_do_not_import_it(argv, tmp_path):
    """`--help`, `--version`, `datasets`, `schema` and config errors answer without TensorFlow
    (which takes ~10 s to import on two cores)."""
    script = (
        "import sys\n"
        "from tasklab.pipelines.cli import main\n"
        "try:\n"
        f"    status = main({argv!r})\n"
        "except SystemExit as exit:\n"
        "    status = exit.code\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'xgboost', 'sklearn') if m in sys.modules]\n"
        "print('HEAVY', heavy, 'STATUS', status)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert "HEAVY [] STATUS" in done.stdout, done.stdout + done.stderr
    status = int(done.stdout.split("STATUS")[-1])
    assert status == (0 if argv[0] in ("--help", "--version", "datasets", "schema") else 2)
    if status == 2:
        assert done.stderr.count("error:") == 1 and "Traceback" not in done.stderr


def test_shipped_configs_load_by_name_from_any_directory(tmp_path):
    script = (
        "from tasklab.core.config import load_config, shipped_configs\n"
        "print(shipped_configs()); print(load_config('digits').data.uri)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    shipped = sorted(path.stem for path in (REPO / "configs").glob("*.yaml"))
    assert done.stdout.splitlines() == [repr(shipped), "builtin:digits"]
