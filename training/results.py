"""What training and evaluation measured (`metrics.json`), typed.

A run writes it after the test evaluation; `RunResult.metrics`, the report,
the CLI and `bench/` read it as a `RunMetrics`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tasklab.core.results import Record


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunMetrics(Record):
    """The trained model's test figures and how it was trained.

    Attributes:
        task: the task.
        dataset: the data URI.
        data_kind: the kind of input (`image`, `tabular`, `text`, `audio`);
            None in runs from before it was recorded.
        model: the model's name.
        parameters: its parameter count.
        strategy: the `tf.distribute` strategy it trained under.
        replicas: replicas in sync.
        workers: workers of a multi-worker run.
        seed: the run's seed.
        precision: the training dtype policy (`float32`, `mixed_bfloat16`, ...).
        primary_metric: the metric the run is judged by.
        higher_is_better: its direction.
        test: test metric -> value (None where undefined).
        intervals: test metric -> its 95% bootstrap interval.
        per_class: class -> precision, recall, f1, support (empty for regression).
        confusion_matrix: rows true, columns predicted (empty for regression).
        class_names: the classes, in output order.
        splits: split name -> examples.
        epochs_run: epochs trained.
        best_epoch: the epoch whose weights were kept (lowest validation loss).
        stopped_early: whether early stopping ended training.
        stop_at: `train.stop_at`, when set.
        target_reached: the epoch and seconds at which `stop_at` was reached.
        train_seconds: training time.
        examples_per_second: training throughput.
        data_notes: what the data loading noticed (skipped files, column kinds, ...).
    """

    task: str
    dataset: str
    data_kind: str | None = None
    model: str
    parameters: int | None = None
    strategy: str
    replicas: int
    workers: int | None = None
    seed: int
    precision: str | None = None
    primary_metric: str
    higher_is_better: bool
    test: dict[str, float | None]
    intervals: dict[str, list[float]]
    per_class: dict[str, dict[str, Any]]
    confusion_matrix: list[list[int]]
    class_names: list[str]
    splits: dict[str, int]
    epochs_run: int
    best_epoch: int
    stopped_early: bool
    stop_at: str | None = None
    target_reached: dict[str, float] | None = None
    train_seconds: float
    examples_per_second: float
    data_notes: list[str]

    @property
    def primary_value(self) -> float | None:
        """The test value of the primary metric."""
        return self.test[self.primary_metric]
