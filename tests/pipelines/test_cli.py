"""The `tasklab` command line, run as a user runs it (a subprocess) where it matters."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tasklab.core import io
from tasklab.pipelines.cli import main
from tests.conftest import REPO

TASKLAB = str(Path(sys.executable).with_name("tasklab"))


def tasklab(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [TASKLAB, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def test_run_then_report_end_to_end(tmp_path):
    runs = tmp_path / "runs"
    done = tasklab(
        "run", "configs/digits.yaml", "--set", "train.epochs=2", "--set", "baselines=[dummy]",
        "--set", "compare.cv_max_rows=0", "--set", "export.variants=[]",
        "--set", "explain.examples=4", "--runs-dir", str(runs),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run_dir = Path(done.stdout.strip().splitlines()[-1])  # The run directory is printed last.
    assert run_dir.parent == runs
    assert "test accuracy" in done.stdout and "Training: epoch 2/2" in done.stderr
    assert io.read_json(run_dir / "metrics.json")["epochs_run"] == 2

    report = run_dir / "report.html"
    before = report.read_text()
    report.unlink()
    rebuilt = tasklab("report", str(run_dir))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert rebuilt.stdout.strip() == str(report)
    assert report.read_text() == before


def test_mirrored_from_the_command_line_records_two_replicas(tmp_path):
    done = tasklab(
        "run", "configs/digits.yaml", "--set", "strategy.name=mirrored",
        "--set", "strategy.devices=2", "--set", "train.epochs=2", "--set", "baselines=[]",
        "--set", "export.variants=[]", "--set", "explain.methods=[]", "--runs-dir", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    metrics = io.read_json(Path(done.stdout.strip().splitlines()[-1]) / "metrics.json")
    assert (metrics["strategy"], metrics["replicas"]) == ("mirrored", 2)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["strategy.name=tpu"], "No TPU was found at 'local'"),
        (
            ["strategy.name=mirrored", "strategy.devices=2", "train.jit_compile=true"],
            "XLA does not compile the all-reduce between CPU replicas",
        ),
    ],
)
def test_strategies_that_cannot_run_here_fail_clearly(tmp_path, overrides, message):
    settings = [arg for override in overrides for arg in ("--set", override)]
    done = tasklab("run", "configs/digits.yaml", *settings, "--runs-dir", str(tmp_path))
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["strategy.name=mirored"], "Did you mean 'mirrored'"),
        (["task=image_clasification"], "Unknown task 'image_clasification'"),
        (["data.uri=builtin:digitz"], "Unknown built-in dataset 'digitz'"),
        (["model.name=resnet50"], "Unknown image_classification model 'resnet50'"),
        (["train.epochs=ten"], "'train.epochs' must be an integer"),
        (["data.uri=folder:/no/such/folder"], "'/no/such/folder' does not exist"),
    ],
)
def test_bad_input_exits_2_with_one_clear_line(tmp_path, capsys, overrides, message):
    args = ["run", str(REPO / "configs" / "digits.yaml"), "--runs-dir", str(tmp_path)]
    for override in overrides:
        args += ["--set", override]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err


def test_missing_config_and_non_run_directory(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["report", str(tmp_path)]) == 2
    assert "not a finished run directory" in capsys.readouterr().err


def test_explain_help_lists_every_registered_method():
    from tasklab.explain.stage import EXPLAINERS
    from tasklab.pipelines.cli import EXPLAIN_METHODS

    assert sorted(EXPLAIN_METHODS) == EXPLAINERS.names()


def test_schema_prints_or_writes_the_config_schema(tmp_path, capsys):
    from tasklab.core.config_schema import config_schema

    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == config_schema()
    target = tmp_path / "editor" / "tasklab-config.schema.json"
    assert main(["schema", "--output", str(target)]) == 0
    assert capsys.readouterr().out.strip() == str(target)
    assert json.loads(target.read_text()) == config_schema()
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # No temporary file left.


def test_datasets_lists_the_builtins(capsys):
    assert main(["datasets"]) == 0
    lines = {line.split()[0]: line.split()[1:3] for line in capsys.readouterr().out.splitlines()}
    assert lines["builtin:digits"] == ["image", "classification"]
    assert lines["builtin:breast_cancer"] == ["tabular", "classification"]
    assert lines["builtin:diabetes"] == ["tabular", "regression"]


@pytest.mark.parametrize(
    "command", [[], ["run"], ["explain"], ["export"], ["datasets"], ["schema"], ["report"]]
)
def test_help_for_every_command(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: tasklab" in capsys.readouterr().out


def test_deterministic_runs_with_the_same_seed_are_identical(tmp_path):
    def deterministic_run(runs_dir):
        done = tasklab(
            "run", "configs/digits.yaml", "--set", "train.deterministic=true",
            "--set", "train.epochs=2", "--set", "baselines=[]", "--set", "export.variants=[]",
            "--set", "explain.methods=[]", "--runs-dir", str(runs_dir),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        run_dir = Path(done.stdout.strip().splitlines()[-1])
        assert io.read_json(run_dir / "manifest.json")["deterministic"] is True
        # Everything but the wall time (`seconds`) must repeat.
        history = [
            {k: v for k, v in e.items() if k != "seconds"}
            for e in io.read_json(run_dir / "history.json")
        ]
        return io.read_json(run_dir / "metrics.json"), history

    (first, first_history), (second, second_history) = (
        deterministic_run(tmp_path / "a"),
        deterministic_run(tmp_path / "b"),
    )
    assert first["test"] == second["test"] and first["intervals"] == second["intervals"]
    assert first_history == second_history


def test_tensorflow_retracing_advice_is_not_shown_to_users():
    from tasklab.pipelines.cli import _not_retracing_advice

    def record(message):
        return logging.LogRecord("tensorflow", logging.WARNING, __file__, 1, message, (), None)

    advice = "5 out of the last 11 calls to <function f> triggered tf.function retracing. ..."
    assert not _not_retracing_advice(record(advice))
    assert _not_retracing_advice(record("Your input ran out of data; interrupting training."))
