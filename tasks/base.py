"""The Task contract: WHAT is learned.

A task binds a kind of data to models, a loss, metrics and an evaluation.
The pipeline calls its hooks in this order (names follow tensorflow/models'
`base_task.py`):

    task = TaskClass(model_config, dataset.spec)
    task.preprocess(x, y)           # per example, inside tf.data
    task.augment_batch(x, y)        # training batches only, inside tf.data
    model = task.build_model()      # inside strategy.scope()
    task.compile(model, optimizer)  # loss and metrics from build_losses/build_metrics
    task.evaluate(y_true, outputs)  # held-out metrics with intervals
    task.edge_input()               # what a device does to a raw input (export bundle)
    task.reference_input()          # the "absent" input explanations measure from

A concrete task only binds classes and defaults: its model registry, its
default model and its per-example preprocessing.
"""

from __future__ import annotations

import abc
import copy
import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import keras
import numpy as np
import tensorflow as tf

from tasklab.core.config import ConfigError, ModelConfig
from tasklab.core.evaluate import Evaluation
from tasklab.core.problems import CLASSIFICATION, REGRESSION, Problem
from tasklab.core.registry import Registry
from tasklab.data.base import DataSpec, Split


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A model a task can build.

    Attributes:
        build: `build(options, spec) -> keras.Model`.
        options: the dataclass of the model's config options (with defaults).
        description: one line for docs and `--help`.
    """

    build: Callable[[Any, DataSpec], keras.Model]
    options: type
    description: str


@dataclasses.dataclass(frozen=True)
class ExplanationSubject:
    """What the attribution methods explain of a task's Keras model.

    Attributes:
        model: the model they differentiate (the whole model, or the part
            after a fixed front end).
        inputs: the explained examples in that model's input space.
        fill: the input that carries no information in that space: Integrated
            Gradients starts from it and the deletion check fills with it.
        targets: the output each example's explanation is about, when the
            subject's outputs are not the model's (default: the problem's
            `Explained.targets`, the predicted class).
        gradcam_layer: the layer Grad-CAM reads when `explain.gradcam_layer`
            names none (default: the last convolution at the top level).
    """

    model: keras.Model
    inputs: np.ndarray
    fill: np.ndarray
    targets: np.ndarray | None = None
    gradcam_layer: str | None = None


TASKS: Registry[type[Task]] = Registry("task")


def classifier_head(x: keras.KerasTensor, spec: DataSpec, dropout: float) -> keras.KerasTensor:
    """Dropout and a softmax layer kept in float32 (safe under mixed precision)."""
    if dropout > 0:
        x = keras.layers.Dropout(dropout)(x)
    return keras.layers.Dense(
        spec.num_classes, activation="softmax", dtype="float32", name="probabilities"
    )(x)


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: registers a task under its `name`."""
    return TASKS.register(cls.name)(cls)


def get_task(name: str) -> type[Task]:
    """Returns the task class registered under `name`.

    Raises:
        LookupError: listing the known tasks.
    """
    return TASKS.get(name)


class Task(abc.ABC):
    """Base class of every task.

    Class attributes a concrete task sets:
        name: the registry name (`task:` in the config).
        problem: what is predicted (`core.problems`: loss, metrics, evaluation, paired
            test...), set by the base classes below.
        data_kind: the `DataSpec.kind` it accepts.
        models: its model registry.
        default_model: the model used when the config names none.
        explain_input: the space attributions are over: `pixels`, `features`
            (encoded table columns), `tokens` or `spectrogram`; an explanation
            method declares the spaces it accepts, and the explain stage draws
            and summarizes each space its own way (`explain.layouts`).
        explain_methods: the methods run when `explain.methods` is not set.
        explain_examples: test examples explained when `explain.examples` is not set.
        default_baselines: the baselines compared when `baselines` is not set
            (XGBoost first; each must take `data_kind` inputs).
        front_end_layers: the layers of fixed signal processing every model
            starts with (a spectrogram); when full int8 fails its gate, the
            export first retries with them kept in float.

    Args:
        model: the validated model config.
        spec: what the data looks like.
    """

    name: ClassVar[str]
    problem: ClassVar[Problem]
    data_kind: ClassVar[str]
    models: ClassVar[Registry[ModelSpec]]
    default_model: ClassVar[str]
    explain_input: ClassVar[str]
    explain_methods: ClassVar[tuple[str, ...]]
    explain_examples: ClassVar[int] = 16
    default_baselines: ClassVar[tuple[str, ...]] = ("xgboost", "linear", "random_forest", "dummy")
    front_end_layers: ClassVar[tuple[str, ...]] = ()

    def __init__(self, model: ModelConfig, spec: DataSpec):
        if spec.kind != self.data_kind:
            raise ConfigError(
                f"The task '{self.name}' needs {self.data_kind} data, but the dataset holds "
                f"{spec.kind} data. Choose a matching task or dataset."
            )
        self.model_config = model
        self.spec = spec

    def build_model(self) -> keras.Model:
        """Builds the configured model (call inside `strategy.scope()`)."""
        spec = self.models.get(self.model_config.name)
        return spec.build(self.model_config.options, self.spec)

    @abc.abstractmethod
    def preprocess(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Maps one raw `(input, label)` example to what the model takes."""

    def augment_batch(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Randomly augments a training batch (identity unless a task overrides it).

        Applied in the training input pipeline only, never inside the model,
        so evaluation, `model(x)` and exported models are deterministic.
        """
        return x, y

    @abc.abstractmethod
    def baseline_features(self, split: Split) -> Any:
        """The split as classical baselines take it, rows in label order: a 2-D feature
        table (`pd.DataFrame`), or what the problem's estimators read (images)."""

    def split_labels(self, split: Split) -> np.ndarray:
        """The split's labels as the model's outputs are shaped (the stored labels by default).

        A task whose labels have a size (masks) brings them to its model's
        size here, so every evaluation compares like with like.
        """
        return split.labels

    @abc.abstractmethod
    def edge_input(self) -> dict[str, Any]:
        """Describes, for `preprocessing.json`, how a device turns a raw input into the model's.

        Returns:
            JSON data with at least `kind`; read by `tasklab.edge.edge_inputs`.
        """

    def input_convention(self, inputs: np.ndarray) -> dict[str, Any]:
        """What the training inputs look like, for `preprocessing.json` (none by default).

        A device user must feed inputs like the training data (e.g. digits are
        light on a dark background); a task says what it can read off them.

        Args:
            inputs: model-ready inputs of the test split.

        Returns:
            JSON data merged into the bundle's `input` section.
        """
        return {}

    def explanation_subject(self, model: keras.Model, inputs: np.ndarray) -> ExplanationSubject:
        """What the attribution methods explain: by default the model over its own inputs.

        A task whose model starts with fixed signal processing overrides this
        to explain the part after it, over what it computes (a spectrogram).

        Args:
            model: the trained model.
            inputs: the explained examples, model-ready.
        """
        return ExplanationSubject(model, inputs, self.reference_input())

    @abc.abstractmethod
    def reference_input(self) -> np.ndarray:
        """The input that carries no information, shaped as one model input.

        Integrated Gradients integrates from it and the deletion check fills
        deleted features with it (a black image, the train means of a table).
        """

    def build_losses(self) -> keras.losses.Loss:
        """Returns the training loss: the problem's, as a Keras object."""
        return keras.losses.get(copy.deepcopy(self.problem.loss))

    def build_metrics(self) -> list[keras.metrics.Metric]:
        """Returns the metrics Keras reports during training: the problem's."""
        configs = self.problem.keras_metrics(len(self.spec.class_names))
        return [keras.metrics.get(copy.deepcopy(config)) for config in configs]

    def evaluate(self, y_true: np.ndarray, outputs: np.ndarray, seed: int) -> Evaluation:
        """Computes the held-out metrics from the model's outputs (the problem's metrics)."""
        return self.problem.evaluate(y_true, outputs, self.spec.class_names, seed)

    def compile(
        self,
        model: keras.Model,
        optimizer: keras.optimizers.Optimizer,
        jit_compile: bool | None = None,
        metrics: bool = True,
    ) -> None:
        """Compiles `model` with the task's loss and metrics.

        Args:
            model: the task's model.
            optimizer: the optimizer (its schedule included).
            jit_compile: XLA for the training step; None lets Keras decide.
            metrics: compile the task's metrics (off for refits that log nothing).
        """
        model.compile(
            optimizer=optimizer,
            loss=self.build_losses(),
            metrics=self.build_metrics() if metrics else None,
            jit_compile="auto" if jit_compile is None else jit_compile,
        )


class ClassificationTask(Task):
    """A task whose model outputs one probability per class (softmax)."""

    problem = CLASSIFICATION


class RegressionTask(Task):
    """A task whose model outputs one value per example; labels are fed as `(1,)` vectors."""

    problem = REGRESSION
