"""Tabular classification and regression: a numeric feature vector in, an MLP inside.

The data layer encodes each row (imputation, missing indicators, one-hot
categories; see `data.tabular`). The model normalizes the features
with the train statistics in a `Normalization` layer, so the exported model
takes the encoded vector as it is; a regression model rescales its output to
the target's units with the train mean and standard deviation.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from keras import layers

from tasklab.core.model_options import MLPOptions
from tasklab.core.registry import Registry
from tasklab.data.base import DataSpec, Split
from tasklab.data.tabular import MISSING
from tasklab.tasks.base import ClassificationTask, ModelSpec, RegressionTask, register_task


def mlp_body(options: MLPOptions, spec: DataSpec) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """Input, train-statistics normalization and the hidden layers."""
    schema = spec.schema
    inputs = keras.Input(shape=spec.example_shape, name="features")
    x = layers.Normalization(
        mean=list(schema.feature_mean), variance=list(schema.feature_variance)
    )(inputs)
    for units in options.hidden:
        x = layers.Dense(units, activation="relu")(x)
        if options.dropout:
            x = layers.Dropout(options.dropout)(x)
    return inputs, x


def build_mlp_classifier(options: MLPOptions, spec: DataSpec) -> keras.Model:
    """MLP with a float32 softmax head."""
    inputs, x = mlp_body(options, spec)
    outputs = layers.Dense(
        spec.num_classes, activation="softmax", dtype="float32", name="probabilities"
    )(x)
    return keras.Model(inputs, outputs, name="mlp")


def build_mlp_regressor(options: MLPOptions, spec: DataSpec) -> keras.Model:
    """MLP predicting the standardized target, rescaled to the target's units."""
    inputs, x = mlp_body(options, spec)
    x = layers.Dense(1, dtype="float32")(x)
    schema = spec.schema
    outputs = layers.Rescaling(
        scale=schema.target_std, offset=schema.target_mean, dtype="float32", name="value"
    )(x)
    return keras.Model(inputs, outputs, name="mlp")


CLASSIFIERS: Registry[ModelSpec] = Registry("tabular_classification model")
CLASSIFIERS.register("mlp")(
    ModelSpec(build_mlp_classifier, MLPOptions, "a multilayer perceptron (default)")
)
REGRESSORS: Registry[ModelSpec] = Registry("tabular_regression model")
REGRESSORS.register("mlp")(
    ModelSpec(build_mlp_regressor, MLPOptions, "a multilayer perceptron (default)")
)


class TabularFeatures:
    """Tabular tasks give baselines the typed columns (categoricals stay categorical).

    Explanations: SHAP of the Keras model over the encoded features and Tree
    SHAP of the XGBoost baseline over the columns, on up to 1000 test rows.
    """

    explain_input = "features"
    explain_methods = ("keras_shap", "tree_shap")
    explain_examples = 1000

    def baseline_features(self, split: Split) -> pd.DataFrame:
        return split.frame

    def reference_input(self) -> np.ndarray:
        """The train mean of every encoded feature (what the model's normalization maps to 0)."""
        return np.asarray(self.spec.schema.feature_mean, dtype=np.float32)

    def edge_input(self) -> dict[str, Any]:
        """A raw table row (text fields by column name), encoded as the train encoder does.

        The model normalizes the features itself (its Normalization layer
        holds the train statistics), so the encoded vector goes in as it is.
        """
        schema = self.spec.schema
        return {
            "kind": "tabular",
            "target": schema.target,
            "feature_names": list(schema.feature_names),
            "columns": [
                {
                    "name": column.name,
                    "kind": column.kind,
                    "fill_value": column.fill_value,
                    "indicator": column.indicator,
                    "categories": list(column.categories),
                    "missing_category": MISSING,
                }
                for column in schema.columns
            ],
            "scaling": "none: the model normalizes the encoded features itself",
        }


@register_task
class TabularClassification(TabularFeatures, ClassificationTask):
    """Predicts a class from a table row."""

    name = "tabular_classification"
    data_kind = "tabular"
    models = CLASSIFIERS
    default_model = "mlp"

    def preprocess(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return x, tf.cast(y, tf.int32)


@register_task
class TabularRegression(TabularFeatures, RegressionTask):
    """Predicts a number from a table row."""

    name = "tabular_regression"
    data_kind = "tabular"
    models = REGRESSORS
    default_model = "mlp"

    def preprocess(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        # A (1,) label matches the (1,) output, so the loss never broadcasts (batch, batch).
        return x, tf.reshape(tf.cast(y, tf.float32), [1])
