"""What the stages after training receive: the trained model and everything it was trained on.

Every stage (compare, explain, export) is `run(context, settings) -> Result`:
`context` is a `StageContext`, `settings` the stage's own config section, and
the result a `Record` the stage also writes to the run directory. A run hands
the stages the context of the model it just trained; `tasklab explain` and
`tasklab export` rebuild it from a finished run directory.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from tasklab.core.config import RunConfig
from tasklab.core.evaluate import Evaluation
from tasklab.data import Dataset
from tasklab.tasks.base import Task
from tasklab.training.train import TrainResult, make_input


@dataclasses.dataclass(frozen=True)
class StageContext:
    """A trained model and what it was trained on, for a stage after training.

    Attributes:
        config: the run config (each stage also receives its own section).
        task: the run's task.
        dataset: the run's dataset, split as in training.
        model: the trained Keras model (float32).
        run_dir: the run directory the stage writes into.
        strategy: the strategy models are (re)trained under; None: the default.
        test_outputs: the model's outputs on the whole test split, when the
            caller has them (a run does).
        evaluation: the model's test evaluation, when the caller has it.
        trained: what training measured (time, epochs), when the caller has it.
    """

    config: RunConfig
    task: Task
    dataset: Dataset
    model: keras.Model
    run_dir: Path
    strategy: tf.distribute.Strategy | None = None
    test_outputs: np.ndarray | None = None
    evaluation: Evaluation | None = None
    trained: TrainResult | None = None

    @property
    def seed(self) -> int:
        """The run's seed."""
        return self.config.seed

    def with_settings(self, section: str, settings: object) -> StageContext:
        """The context with one config section replaced by the settings a stage runs with."""
        return dataclasses.replace(
            self, config=dataclasses.replace(self.config, **{section: settings})
        )

    def outputs_on_test(self) -> np.ndarray:
        """The model's outputs on the test split: as handed over, or predicted now."""
        if self.test_outputs is not None:
            return self.test_outputs
        batch_size = self.config.train.batch_size
        test_input = make_input(
            self.dataset.test, self.task, batch_size, training=False, seed=self.seed
        )
        return self.model.predict(test_input, verbose=0)

    def distribution(self) -> tf.distribute.Strategy:
        """The strategy to retrain under: the run's, else TensorFlow's current one."""
        return self.strategy if self.strategy is not None else tf.distribute.get_strategy()
