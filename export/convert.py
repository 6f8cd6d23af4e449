"""Keras model -> LiteRT variants, converted from one SavedModel, with an operator check.

Variants:
    float32       the model as it is.
    float16       float16 weights (half the size; computed in float32 on most CPUs).
    dynamic_int8  int8 weights, float activations (no calibration data needed).
    int8          full integer: int8 weights, activations, input and output, calibrated
                  on a representative sample of the train split.

Conversion always admits Flex (select TF) ops so that it succeeds; the operator
check then refuses a model that uses them (unless `export.allow_flex`), naming
the op and the layer it came from, because the plain LiteRT interpreter on a
device cannot run them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tensorflow.lite.tools import flatbuffer_utils

from tasklab.core.config import EXPORT_VARIANTS as VARIANTS
from tasklab.core.errors import UserError

_BUILTINS = tf.lite.OpsSet.TFLITE_BUILTINS
_FIXES = {
    "TensorList": "unroll the recurrent layer (unroll=True on GRU/LSTM over a fixed length)",
    "String": "move tokenization (TextVectorization) out of the model and feed token ids",
    "Regex": "move tokenization (TextVectorization) out of the model and feed token ids",
    "Random": "keep random layers (augmentation) out of the inference model",
}


class FlexOpsError(UserError, ValueError):
    """The converted model needs Flex (select TF) ops, which a plain LiteRT runtime lacks."""


@dataclasses.dataclass(frozen=True)
class Operator:
    """One operator of a converted model.

    Attributes:
        name: the op, e.g. `CONV_2D`, or `FlexTensorListReserve` for a Flex op.
        tensor: the name of its first output tensor, which carries the Keras layer path.
    """

    name: str
    tensor: str

    @property
    def is_flex(self) -> bool:
        return self.name.startswith("Flex")

    @property
    def layer(self) -> str:
        """The layer path the op came from (its output tensor's name without the op part)."""
        return self.tensor.rsplit("/", 1)[0] if "/" in self.tensor else self.tensor


def export_saved_model(model: keras.Model, directory: Path) -> Path:
    """Exports the model's inference function as a SavedModel (for TF Serving and conversion).

    Returns:
        The SavedModel directory.
    """
    model.export(str(directory), format="tf_saved_model", verbose=False)
    return directory


def make_converter(
    saved_model: Path, variant: str, representative: np.ndarray | None = None
) -> tf.lite.TFLiteConverter:
    """Sets up the converter of one LiteRT variant (the quantization debugger reuses it).

    Args:
        saved_model: the SavedModel directory.
        variant: one of `VARIANTS`.
        representative: model-ready inputs to calibrate `int8` on.

    Returns:
        The configured converter.
    """
    if variant not in VARIANTS:
        raise ValueError(
            f"The export variant must be one of {list(VARIANTS)}. Received: '{variant}'."
        )
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    converter.target_spec.supported_ops = [_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    if variant != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if variant == "int8":
        if representative is None or not len(representative):
            raise ValueError("The int8 variant needs a representative sample to calibrate on.")
        converter.representative_dataset = representative_dataset(representative)
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
            tf.lite.OpsSet.SELECT_TF_OPS,
        ]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter


def representative_dataset(examples: np.ndarray):
    """The converter's calibration callable: yields one example at a time, as a batch of one."""
    return lambda: ([example[np.newaxis]] for example in examples)


def convert(saved_model: Path, variant: str, representative: np.ndarray | None = None) -> bytes:
    """Converts a SavedModel to one LiteRT variant.

    Args:
        saved_model: the SavedModel directory.
        variant: one of `VARIANTS`.
        representative: model-ready inputs to calibrate `int8` on.

    Returns:
        The .tflite bytes.
    """
    return make_converter(saved_model, variant, representative).convert()


def operators(content: bytes) -> list[Operator]:
    """Lists the operators of a .tflite model, read from its flatbuffer (nothing is run).

    Returns:
        One entry per operator, in execution order.
    """
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    found = []
    for subgraph in model.subgraphs:
        for op in subgraph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            name = (
                code.customCode.decode()
                if code.customCode
                else flatbuffer_utils.opcode_to_name(model, op.opcodeIndex)
            )
            tensor = subgraph.tensors[op.outputs[0]].name.decode() if len(op.outputs) else ""
            found.append(Operator(name=name, tensor=tensor))
    return found


def check_builtin_ops(content: bytes, variant: str, allow_flex: bool) -> bool:
    """Checks that a converted model uses builtin LiteRT ops only.

    Args:
        content: the .tflite bytes.
        variant: its name, for the message.
        allow_flex: accept Flex ops (the device must then link the Flex delegate).

    Returns:
        Whether the model uses builtin ops only.

    Raises:
        FlexOpsError: naming each Flex op, its layer and a fix, unless `allow_flex`.
    """
    flex = [op for op in operators(content) if op.is_flex]
    if flex and not allow_flex:
        described = "; ".join(
            f"{op.name} in layer '{op.layer}' ({_fix_for(op.name)})" for op in _unique_by_name(flex)
        )
        raise FlexOpsError(
            f"The {variant} LiteRT model needs Flex (select TF) ops, which the plain LiteRT "
            f"interpreter cannot run: {described}. Fix the model, or set export.allow_flex: true "
            "if the device links the Flex delegate."
        )
    return not flex


def _fix_for(op_name: str) -> str:
    for marker, fix in _FIXES.items():
        if marker in op_name:
            return f"fix: {fix}"
    return "fix: replace the layer with one made of builtin LiteRT ops"


def _unique_by_name(ops: list[Operator]) -> list[Operator]:
    seen, unique = set(), []
    for op in ops:
        if op.name not in seen:
            seen.add(op.name)
            unique.append(op)
    return unique
