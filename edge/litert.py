"""Running a .tflite model in the LiteRT interpreter, the runtime an edge device uses.

Imports only numpy and `ai_edge_litert` (never TensorFlow), so the edge
reference runner can use it as it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter


class LiteRTModel:
    """A LiteRT model called with the Keras model's inputs and float outputs, whatever its
    quantization.

    Inputs go in as the Keras model takes them (float values, or int32 token
    ids, which no variant quantizes). For a full-integer model a float input
    is quantized with the input tensor's scale and zero point, and the
    integer output dequantized, so every variant is called (and compared)
    the same way.

    Args:
        model: the .tflite bytes or file path.
        num_threads: interpreter threads (1, like a small device, by default).
    """

    def __init__(self, model: bytes | str | Path, num_threads: int = 1):
        source = (
            {"model_content": model} if isinstance(model, bytes) else {"model_path": str(model)}
        )
        self.interpreter = Interpreter(**source, num_threads=num_threads)
        self.interpreter.allocate_tensors()
        self._input = self.interpreter.get_input_details()[0]
        self._output = self.interpreter.get_output_details()[0]
        self._batch = int(self._input["shape"][0])

    @property
    def example_shape(self) -> tuple[int, ...]:
        """The shape of one input example (the input tensor's, without the batch)."""
        return tuple(int(d) for d in self._input["shape"][1:])

    @property
    def output_shape(self) -> tuple[int, ...]:
        """The shape of one example's output (`(classes,)`, `(1,)`, `(height, width, classes)`)."""
        return tuple(int(d) for d in self._output["shape"][1:])

    @property
    def input_dtype(self) -> np.dtype:
        return np.dtype(self._input["dtype"])

    @property
    def input_quantization(self) -> tuple[float, int]:
        """`(scale, zero_point)` of the input; `(0.0, 0)` for a float input."""
        scale, zero_point = self._input["quantization"]
        return float(scale), int(zero_point)

    @property
    def output_quantization(self) -> tuple[float, int]:
        """`(scale, zero_point)` of the output; `(0.0, 0)` for a float output."""
        scale, zero_point = self._output["quantization"]
        return float(scale), int(zero_point)

    def predict(self, inputs: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Runs the model on a batch of inputs.

        Args:
            inputs: `(examples, *input_shape)` values, as the Keras model takes them.
            batch_size: examples per interpreter invocation.

        Returns:
            Float outputs, `(examples, *output_shape)`.
        """
        outputs = [
            self._invoke(inputs[start : start + batch_size])
            for start in range(0, len(inputs), batch_size)
        ]
        return np.concatenate(outputs)

    def single_example_latency(
        self, example: np.ndarray, warmup: int = 10, runs: int = 100
    ) -> dict[str, float]:
        """Times one example end to end, as an app runs it: set the (quantized) input, invoke,
        read the (dequantized) output; after a warm-up.

        Timing `invoke` alone would leave out the per-call work that the Keras
        and XGBoost latencies it is compared with include.

        Returns:
            Median and 90th-percentile milliseconds.
        """
        batch = example[np.newaxis]
        return time_calls(lambda: self._invoke(batch), warmup, runs)

    def throughput(self, inputs: np.ndarray, repeats: int = 3) -> float:
        """Examples per second for one batch invocation of `inputs` (best of `repeats`)."""
        self._set_input(inputs)
        self.interpreter.invoke()
        best = min(self._timed_invoke() for _ in range(repeats))
        return len(inputs) / best

    def _timed_invoke(self) -> float:
        started = time.perf_counter()
        self.interpreter.invoke()
        return time.perf_counter() - started

    def _set_input(self, batch: np.ndarray) -> None:
        if len(batch) != self._batch:
            shape = [len(batch), *self._input["shape"][1:]]
            self.interpreter.resize_tensor_input(self._input["index"], shape)
            self.interpreter.allocate_tensors()
            self._input = self.interpreter.get_input_details()[0]
            self._output = self.interpreter.get_output_details()[0]
            self._batch = len(batch)
        self.interpreter.set_tensor(self._input["index"], self._quantize(batch))

    def _invoke(self, batch: np.ndarray) -> np.ndarray:
        self._set_input(batch)
        self.interpreter.invoke()
        return self._dequantize(self.interpreter.get_tensor(self._output["index"]))

    def _quantize(self, batch: np.ndarray) -> np.ndarray:
        scale, zero_point = self.input_quantization
        if not np.issubdtype(self.input_dtype, np.integer) or scale == 0.0:
            # Float inputs, and integer inputs that are not quantized (token ids), go in as given.
            return batch.astype(self.input_dtype)
        info = np.iinfo(self.input_dtype)
        return np.clip(np.round(batch / scale + zero_point), info.min, info.max).astype(
            self.input_dtype
        )

    def _dequantize(self, values: np.ndarray) -> np.ndarray:
        scale, zero_point = self.output_quantization
        if not np.issubdtype(values.dtype, np.integer):
            return values.astype(np.float32)
        return ((values.astype(np.float32) - zero_point) * scale).astype(np.float32)


def time_calls(call: Callable[[], object], warmup: int, runs: int) -> dict[str, float]:
    """Times `call` after `warmup` untimed calls.

    Returns:
        `median_ms` and `p90_ms` over `runs` timed calls.
    """
    for _ in range(warmup):
        call()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": float(np.median(times)), "p90_ms": float(np.percentile(times, 90))}
