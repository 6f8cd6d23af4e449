"""One run, stage by stage: strategy -> data -> model -> fit -> evaluate -> compare -> explain
-> export -> report.

This is the Python API::

    from tasklab.core.config import load_config
    from tasklab.pipelines.run import run

    result = run(load_config("configs/digits.yaml", overrides=["train.epochs=5"]))
    print(result.run_dir, result.metrics.test["accuracy"])
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import importlib.metadata
import logging
import platform
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from tasklab.baselines import compare as compare_stage
from tasklab.baselines.compare import applicable_baselines
from tasklab.baselines.results import ComparisonResult
from tasklab.core import io
from tasklab.core.config import (
    ConfigError,
    RunConfig,
    apply_overrides,
    dump_config,
    parse_config,
)
from tasklab.core.errors import UserError
from tasklab.core.evaluate import Evaluation
from tasklab.core.progress import progress_logging
from tasklab.core.run_dir import RunDir
from tasklab.core.yaml_text import YAMLInputError, read_yaml_file
from tasklab.data import DataError, Dataset, load_dataset
from tasklab.explain import stage as explain_stage
from tasklab.explain.results import ExplainResult
from tasklab.explain.stage import resolve_methods
from tasklab.export import stage as export_stage
from tasklab.export.results import ExportResult
from tasklab.pipelines.report import write_report
from tasklab.tasks import get_task
from tasklab.tasks.base import Task
from tasklab.training.context import StageContext
from tasklab.training.loop import finish_together, fit_distributed
from tasklab.training.results import RunMetrics
from tasklab.training.strategy import StrategyInfo, make_strategy
from tasklab.training.train import (
    TrainResult,
    build_compiled_model,
    first_reaching,
    fit,
    float32_copy,
    make_input,
)

logger = logging.getLogger(__name__)

_PACKAGES = (
    "tasklab",
    "tensorflow",
    "keras",
    "numpy",
    "scikit-learn",
    "tensorflow-datasets",
    "scipy",
    "xgboost",
    "shap",
    "ai-edge-litert",
)


@dataclasses.dataclass(frozen=True)
class RunResult:
    """The outcome of a run.

    Attributes:
        run_dir: the run directory (holds every artifact); None on a
            multi-worker run's other workers, which write nothing.
        metrics: what `metrics.json` holds, typed (None on the other workers).
        resumed: whether an interrupted run was resumed.
    """

    run_dir: Path | None
    metrics: RunMetrics | None
    resumed: bool


def run(
    config: RunConfig, runs_dir: str | Path = "runs", fresh: bool = False, verbose: bool = True
) -> RunResult:
    """Trains, evaluates and reports one experiment.

    If an earlier run of the identical config was interrupted (no finished
    manifest, a training backup present), it is resumed in its directory
    unless `fresh` is set.

    Under `multi_worker` every worker calls this; the chief does the run and
    the other workers train with it, then wait until it has finished.

    Args:
        config: the validated run config.
        runs_dir: the parent of the run directories.
        fresh: always start a new run directory.
        verbose: show the progress lines on stderr (as the CLI does) when the
            caller has not configured logging; with logging configured, its
            handlers get them.

    Returns:
        The run directory and its metrics.
    """
    with progress_logging(verbose):
        return _run(config, Path(runs_dir), fresh)


def _run(config: RunConfig, runs_dir: Path, fresh: bool) -> RunResult:
    # The strategy comes first: splitting the CPU into logical devices, and
    # joining a cluster, must happen before any other TensorFlow work.
    strategy, strategy_info = make_strategy(config.strategy)
    if not strategy_info.is_chief:
        return _run_worker(config, strategy, strategy_info)
    config_yaml = dump_config(config)
    found = None if fresh else find_interrupted_run(Path(runs_dir), config.name, config_yaml)
    resumed = found is not None
    if resumed:
        run_dir, lock = found
        logger.info("Resuming the interrupted run in %s (pass --fresh to start over).", run_dir)
    else:
        run_dir = create_run_dir(Path(runs_dir), config.name)
        lock = io.DirectoryLock(run_dir)
        lock.acquire()  # A new directory: no other process knows it yet.
        io.write_text(RunDir(run_dir).config, config_yaml)
    try:
        manifest = start_manifest(config, run_dir, resumed)
        try:
            metrics = _run_stages(config, run_dir, manifest, strategy, strategy_info)
            # `complete` is the report's to show; if the report then fails, the run has not.
            manifest.update(status="complete", finished=_now())
            io.write_json(RunDir(run_dir).manifest, manifest)
            logger.info("Writing the report")
            write_report(run_dir)
        except BaseException as error:
            manifest.update(
                status="failed", error=f"{type(error).__name__}: {error}", finished=_now()
            )
            io.write_json(RunDir(run_dir).manifest, manifest)
            raise
    finally:
        lock.release()
    if strategy_info.workers > 1:
        finish_together(strategy, strategy_info)
    return RunResult(run_dir=run_dir, metrics=metrics, resumed=resumed)


def _run_worker(
    config: RunConfig, strategy: tf.distribute.Strategy, info: StrategyInfo
) -> RunResult:
    """A multi-worker run's non-chief worker: trains its share, writes nothing.

    It waits for the chief to finish the run (evaluation, report) before it
    returns, so the cluster ends as a whole, and a chief that fails makes it
    fail too.
    """
    _seed(config)
    logger.info("Worker %d of %d: training with the chief", info.worker_index, info.workers)
    task_cls = get_task(config.task)
    dataset = load_task_data(config, task_cls)
    task = task_cls(config.model, dataset.spec)
    model = build_compiled_model(task, dataset, config.train, strategy)
    fit_distributed(model, task, dataset, config.train, strategy, info, config.seed, None)
    logger.info("Worker %d: training done; waiting for the chief to finish", info.worker_index)
    finish_together(strategy, info)
    return RunResult(run_dir=None, metrics=None, resumed=False)


def load_task_data(config: RunConfig, task_cls: type[Task]) -> Dataset:
    """The run's dataset, loaded for its task's problem and kind of data, with its seed."""
    return load_dataset(config.data, config.seed, task_cls.problem, task_cls.data_kind)


def _seed(config: RunConfig) -> None:
    keras.utils.set_random_seed(config.seed)
    if config.train.deterministic:
        tf.config.experimental.enable_op_determinism()


def _run_stages(
    config: RunConfig,
    run_dir: Path,
    manifest: dict[str, Any],
    strategy: tf.distribute.Strategy,
    strategy_info: StrategyInfo,
) -> RunMetrics:
    _seed(config)
    logger.info("Strategy: %s with %d replica(s)", strategy_info.name, strategy_info.replicas)

    task_cls = get_task(config.task)
    # Checked before any training, so a typo in explain.methods costs seconds, not a run.
    explain_methods = resolve_methods(task_cls, config.explain)
    baselines = applicable_baselines(config, task_cls)
    logger.info("Loading %s", config.data.uri)
    with timed(manifest, "data"):
        dataset = load_task_data(config, task_cls)
    for note in dataset.notes:
        logger.info("Data: %s", note)
    manifest.update(
        strategy=strategy_info.name,
        replicas=strategy_info.replicas,
        workers=strategy_info.workers,
        devices=list(strategy_info.devices),
        data_fingerprint=dataset.fingerprint,
        splits=dataset.split_sizes(),
    )
    io.write_json(RunDir(run_dir).manifest, manifest)

    task = task_cls(config.model, dataset.spec)
    model = build_compiled_model(task, dataset, config.train, strategy)
    precision = model.dtype_policy.name
    manifest.update(precision=precision, jit_compile=bool(model.jit_compile))
    logger.info(
        "Training %s (%d parameters, %s)", config.model.name, model.count_params(), precision
    )
    with timed(manifest, "training"):
        if strategy_info.uses_custom_loop:
            trained = fit_distributed(
                model, task, dataset, config.train, strategy, strategy_info, config.seed, run_dir
            )
            # Later stages run on the chief alone: no cluster collectives from here on.
            strategy = tf.distribute.get_strategy()
        else:
            trained = fit(
                model, task, dataset, config.train, strategy_info.replicas, config.seed, run_dir
            )
    if strategy_info.uses_custom_loop or precision != "float32":
        model = float32_copy(task, model)
    manifest["resumed_from_epoch"] = trained.initial_epoch or None
    with io.atomic_path(RunDir(run_dir).model) as tmp:
        model.save(tmp)

    logger.info("Evaluating on the test split")
    with timed(manifest, "evaluation"):
        test_input = make_input(
            dataset.test, task, config.train.batch_size, training=False, seed=config.seed
        )
        outputs = model.predict(test_input, verbose=0)
        evaluation = task.evaluate(task.split_labels(dataset.test), outputs, config.seed)
    metrics = build_metrics(
        config, dataset, strategy_info, trained, evaluation, precision, model.count_params()
    )
    metrics.write(RunDir(run_dir).metrics)

    context = StageContext(
        config=config,
        task=task,
        dataset=dataset,
        model=model,
        run_dir=run_dir,
        strategy=strategy,
        test_outputs=outputs,
        evaluation=evaluation,
        trained=trained,
    )
    if baselines:
        logger.info("Comparing with the baselines %s", baselines)
        with timed(manifest, "comparison"):
            comparison: ComparisonResult = compare_stage.run(context, config.compare)
        logger.info("Verdict: %s", comparison.verdict)
    if explain_methods:
        with timed(manifest, "explanation"):
            explain_stage.run(context, config.explain)
    if config.export.variants:
        with timed(manifest, "export"):
            export_stage.run(context, config.export)
    return metrics


@contextlib.contextmanager
def timed(manifest: dict[str, Any], stage: str) -> Iterator[None]:
    """Records the wall time of a stage in the manifest's `stage_seconds`."""
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds = round(time.perf_counter() - started, 2)
        manifest.setdefault("stage_seconds", {})[stage] = seconds


def export_run(
    run_dir: str | Path, overrides: Iterable[str] = (), verbose: bool = True
) -> ExportResult:
    """Exports (again) the LiteRT variants of a finished run: `tasklab export RUN_DIR`.

    The run's dataset is reloaded with its recorded config and seed, so the
    test split and the calibration sample are the ones of the run; the data
    must not have changed since (its fingerprint is checked).

    Args:
        run_dir: a run directory holding `model.keras`.
        overrides: `export.KEY=VALUE` settings (e.g. `export.variants=[int8]`);
            only the export section can change after training.
        verbose: show the progress lines when logging is not configured (as `run`).

    Returns:
        What `export.json` holds, typed (the report is rebuilt too).
    """

    def check(config: RunConfig) -> None:
        if not config.export.variants:
            raise ConfigError("export.variants is empty: name at least one variant to export.")

    with progress_logging(verbose):
        finished = load_finished_run(run_dir, overrides, section="export", check=check)
        result = export_stage.run(finished.context(), finished.config.export)
        write_report(finished.run_dir)
    return result


def explain_run(
    run_dir: str | Path, overrides: Iterable[str] = (), verbose: bool = True
) -> ExplainResult:
    """Explains (again) the model of a finished run: `tasklab explain RUN_DIR`.

    Args:
        run_dir: a run directory holding `model.keras`.
        overrides: `explain.KEY=VALUE` settings (e.g. `explain.examples=32`).
        verbose: show the progress lines when logging is not configured (as `run`).

    Returns:
        What `explain.json` holds, typed (the report is rebuilt too).
    """

    def check(config: RunConfig) -> None:
        if not resolve_methods(get_task(config.task), config.explain):
            raise ConfigError("explain.methods is empty: name at least one method to run.")

    with progress_logging(verbose):
        finished = load_finished_run(run_dir, overrides, section="explain", check=check)
        result = explain_stage.run(finished.context(), finished.config.explain)
        write_report(finished.run_dir)
    return result


@dataclasses.dataclass(frozen=True)
class FinishedRun:
    """A trained run reloaded for a stage that runs after training (explain, export)."""

    model: keras.Model
    task: Any
    dataset: Dataset
    config: RunConfig
    run_dir: Path

    def context(self) -> StageContext:
        """What a stage after training receives (no training figures: those were the run's)."""
        return StageContext(self.config, self.task, self.dataset, self.model, self.run_dir)


def load_finished_run(
    run_dir: str | Path,
    overrides: Iterable[str],
    section: str,
    check: Callable[[RunConfig], None] | None = None,
) -> FinishedRun:
    """Reloads a trained run: its config (with `section.*` overrides), data and model.

    The dataset is reloaded with the run's config and seed, so its splits are
    the run's; the data must not have changed since (its fingerprint is
    checked). The model loads with `safe_mode=True`.

    Args:
        run_dir: a run directory holding `model.keras`.
        overrides: `SECTION.KEY=VALUE` settings.
        section: the only config section that may change after training.
        check: validates the config before the data and the model load, so a
            bad request fails in a moment.

    Returns:
        The model, task, dataset and config of the run.
    """
    run_dir = Path(run_dir)
    for required in (RunDir.CONFIG, RunDir.MANIFEST, RunDir.MODEL):
        if not (run_dir / required).is_file():
            raise FileNotFoundError(
                f"'{run_dir}' holds no {required}: it is not a trained run directory. "
                "Pass the directory that `tasklab run` printed."
            )
    others = [o for o in overrides if not o.strip().startswith(f"{section}.")]
    if others:
        raise ConfigError(
            f"Only {section}.* settings can change after training. Received: {others}."
        )
    config_file = RunDir(run_dir).config
    try:
        raw = read_yaml_file(config_file, f"The run's config '{config_file}'")
    except YAMLInputError as error:
        raise ConfigError(str(error)) from None
    if not isinstance(raw, dict):
        raise ConfigError(
            f"The run's config '{config_file}' holds no mapping of sections; the run directory "
            "was edited or damaged. Run the config again with `tasklab run`."
        )
    config = parse_config(apply_overrides(raw, overrides))
    if check is not None:
        check(config)
    task_cls = get_task(config.task)
    dataset = load_task_data(config, task_cls)
    recorded = io.read_json(RunDir(run_dir).manifest).get("data_fingerprint")
    if recorded and recorded != dataset.fingerprint:
        raise DataError(
            f"The data at {config.data.uri} changed since the run (fingerprint "
            f"{dataset.fingerprint} vs {recorded}), so its test split is not the run's. "
            "Start a new run on the current data."
        )
    model = load_model_file(RunDir(run_dir).model)
    return FinishedRun(model, task_cls(config.model, dataset.spec), dataset, config, run_dir)


class ModelFileError(UserError):
    """A model file is refused by Keras' safe mode, or is not a Keras model at all."""


def load_model_file(path: Path) -> keras.Model:
    """Loads a `.keras` file as untrusted input: Keras `safe_mode`, never unsafely.

    Args:
        path: the model file (a run's `model.keras`).

    Returns:
        The model, uncompiled.

    Raises:
        ModelFileError: when safe mode refuses the file (it would run code
            stored in it, e.g. a `Lambda` layer), or it is not a readable
            Keras model (truncated, another format); one line either way.
    """
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Any failure to read an untrusted file is the file's.
        reason = " ".join(str(error).split())[:300]
        if "safe_mode" in reason or "unsafe" in reason.lower():
            # Keras' first sentence says what the file holds; the rest says how to load it
            # unsafely, which tasklab never does.
            reason = reason.split(". ")[0]
            raise ModelFileError(
                f"{path} is not trusted: loading it would run code stored in the file "
                f"({reason}). tasklab loads models with Keras safe_mode only; train the model "
                "with `tasklab run` instead of using a file from elsewhere."
            ) from None
        raise ModelFileError(
            f"{path} is not a Keras model tasklab can read ({type(error).__name__}: {reason}). "
            "It was truncated or replaced; run the config again with `tasklab run`."
        ) from None


def build_metrics(
    config: RunConfig,
    dataset: Dataset,
    strategy: StrategyInfo,
    trained: TrainResult,
    evaluation: Evaluation,
    precision: str = "float32",
    parameters: int | None = None,
) -> RunMetrics:
    """Assembles `metrics.json` from the stage results (`precision`: the training dtype policy,
    `parameters`: the model's parameter count)."""
    reached = first_reaching(trained.history, config.train.target)
    return RunMetrics(
        task=config.task,
        dataset=config.data.uri,
        data_kind=dataset.spec.kind,  # The report shows only the config this kind uses.
        model=config.model.name,
        parameters=parameters,
        strategy=strategy.name,
        replicas=strategy.replicas,
        workers=strategy.workers,
        seed=config.seed,
        precision=precision,
        primary_metric=evaluation.primary,
        higher_is_better=evaluation.higher_is_better,
        test=evaluation.metrics,
        intervals=evaluation.intervals,
        per_class=evaluation.per_class,
        confusion_matrix=evaluation.confusion_matrix,
        class_names=list(dataset.spec.class_names),
        splits=dataset.split_sizes(),
        epochs_run=trained.epochs_run,
        best_epoch=trained.best_epoch,
        stopped_early=trained.stopped_early,
        stop_at=config.train.stop_at,
        target_reached=None if reached is None else {k: reached[k] for k in ("epoch", "seconds")},
        train_seconds=round(trained.train_seconds, 3),
        examples_per_second=round(trained.examples_per_second, 1),
        data_notes=list(dataset.notes),
    )


def create_run_dir(runs_dir: Path, name: str) -> Path:
    """Creates `runs_dir/<name>-<UTC timestamp>/` (with a suffix if that exists)."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    io.make_dir(runs_dir)
    for attempt in range(1, 100):
        candidate = runs_dir / (f"{name}-{stamp}" + (f"-{attempt}" if attempt > 1 else ""))
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
        except OSError as error:
            raise io.write_error(candidate, error, directory=True) from error
    raise FileExistsError(f"Could not create a new run directory for '{name}' in '{runs_dir}'.")


def find_interrupted_run(
    runs_dir: Path, name: str, config_yaml: str
) -> tuple[Path, io.DirectoryLock] | None:
    """The newest unfinished run of this exact config that has a training backup, locked.

    A run that another process is still working in holds its directory's lock
    and is skipped: two commands never train in one run directory.

    Returns:
        The run directory and its lock (held by this process), or None.
    """
    for candidate in sorted(runs_dir.glob(f"{name}-*"), reverse=True):
        config_file, manifest_file = RunDir(candidate).config, RunDir(candidate).manifest
        if not (
            config_file.is_file() and manifest_file.is_file() and RunDir(candidate).backup.is_dir()
        ):
            continue
        if config_file.read_text(encoding="utf-8") != config_yaml:
            continue
        if io.read_json(manifest_file).get("status") == "complete":
            continue
        lock = io.DirectoryLock(candidate)
        if lock.acquire():
            return candidate, lock
        logger.info("%s is in use by another process: not resuming it.", candidate)
    return None


def start_manifest(config: RunConfig, run_dir: Path, resumed: bool) -> dict[str, Any]:
    """Writes the initial `manifest.json` (status `running`) and returns it for updating."""
    previous = io.read_json(RunDir(run_dir).manifest) if resumed else {}
    manifest = {
        "status": "running",
        "run_dir": str(run_dir),
        "config_name": config.name,
        "task": config.task,
        "dataset": config.data.uri,
        "seed": config.seed,
        "deterministic": config.train.deterministic,
        "created": previous.get("created", _now()),
        "finished": None,
        "error": None,
        "versions": package_versions(),
        "platform": platform.platform(),
    }
    io.write_json(RunDir(run_dir).manifest, manifest)
    return manifest


def package_versions() -> dict[str, str]:
    """Returns the versions of Python and the packages that shape a run's results."""
    versions = {"python": platform.python_version()}
    for package in _PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
