"""Quantization triage: which layers lose most to int8, and a retry that keeps them in float.

Uses TensorFlow's quantization debugger, which runs the float and the
quantized model side by side on calibration data and records each quantized
layer's error. The error is ranked in units of the layer's quantization step
(RMSE / scale): uniform rounding error alone gives about 0.29 (1 / sqrt(12)),
so a layer far above that is clipped or poorly calibrated.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import math
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tensorflow as tf

from tasklab.export.convert import make_converter, representative_dataset

DEBUG_EXAMPLES = 100  # The debugger runs two interpreters per example; a sample suffices.


@dataclasses.dataclass(frozen=True)
class LayerError:
    """The quantization error of one layer's output tensor.

    Attributes:
        op: the LiteRT op, e.g. `CONV_2D`.
        tensor: the tensor's name (what the debugger's denylist takes).
        rmse_over_scale: the RMSE between float and int8 outputs in units of
            the tensor's quantization step.
        position: the layer's place in execution order (0: first).
    """

    op: str
    tensor: str
    rmse_over_scale: float
    position: int


def rank_layers(saved_model: Path, representative: np.ndarray) -> list[LayerError]:
    """Ranks the int8 model's layers by quantization error, worst first.

    Args:
        saved_model: the SavedModel directory.
        representative: model-ready calibration inputs.

    Returns:
        One entry per quantized layer with a defined error, worst first.
    """
    with _debugger_warnings_silenced():
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=make_converter(saved_model, "int8", representative),
            debug_dataset=representative_dataset(representative[:DEBUG_EXAMPLES]),
        )
        debugger.run()
    dump = io.StringIO()
    debugger.layer_statistics_dump(dump)
    layers = []
    # The dump lists the layers in execution order.
    for position, row in enumerate(csv.DictReader(io.StringIO(dump.getvalue()))):
        scale, mse = float(row["scale"]), float(row["mean_squared_error"])
        if scale > 0 and math.isfinite(mse):
            error = math.sqrt(mse) / scale
            layers.append(LayerError(row["op_name"], row["tensor_name"], error, position))
    return sorted(layers, key=lambda layer: layer.rmse_over_scale, reverse=True)


def worst_layers(ranked: list[LayerError], count: int) -> list[LayerError]:
    """The first retry: the `count` layers with the largest error."""
    return ranked[:count]


def float_front(ranked: list[LayerError]) -> list[LayerError]:
    """The second retry: every layer up to and including the worst one, in execution order.

    An error made early (a shared input scale for features of very different
    ranges, a spectrogram front end) is carried by every later layer, where it
    no longer looks large relative to their own scales; keeping the whole
    front in float removes it at the source.
    """
    if not ranked:
        return []
    worst = ranked[0].position
    return sorted(
        (layer for layer in ranked if layer.position <= worst), key=lambda layer: layer.position
    )


def front_end(tensors: list[str], layers: tuple[str, ...]) -> list[str]:
    """The retry for a model with a fixed signal-processing front end: all of it in float.

    A log-mel front end cannot be int8: the power spectrum spans about
    100 dB, 8 bits hold 48, so quiet bins round to zero and their logs to
    the floor. Keeping the front end in float and the learned layers int8
    is what microcontroller keyword spotters do. Every op of the front end
    is kept, not only the ranked ones: the debugger cannot measure some
    (a squared FFT bin whose float range it does not record) that hurt most.

    Args:
        tensors: the output tensor of every op of the int8 model, in order.
        layers: the names of the Keras layers that form the front end.

    Returns:
        The tensors those Keras layers produced, in execution order.
    """
    return [tensor for tensor in tensors if produced_by(tensor, layers)]


def produced_by(tensor: str, layers: tuple[str, ...]) -> bool:
    """Whether a LiteRT tensor name (`m_1/mel_spectrogram_1/Pow;...`) comes from one of `layers`.

    TensorFlow suffixes each name scope with `_N`; fused ops join several names with `;`.
    """
    for name in tensor.split(";"):
        for scope in name.split("/")[:-1]:
            if re.sub(r"_\d+$", "", scope) in layers:
                return True
    return False


def convert_keeping_float(
    saved_model: Path, representative: np.ndarray, tensors: list[str]
) -> bytes:
    """Converts to int8 with the layers producing `tensors` kept in float (selective quantization).

    The debugger's selective model has float input and output; everything
    not denylisted is int8 inside.

    Returns:
        The .tflite bytes.
    """
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=list(tensors))
    with _debugger_warnings_silenced():
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=make_converter(saved_model, "int8", representative),
            debug_dataset=representative_dataset(representative[:DEBUG_EXAMPLES]),
            debug_options=options,
        )
        return debugger.get_nondebug_quantized_model()


@contextlib.contextmanager
def _debugger_warnings_silenced() -> Iterator[None]:
    """The debugger drives TensorFlow's own (deprecated) `tf.lite.Interpreter` internally."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"(?s).*tf\.lite\.Interpreter is deprecated")
        yield
