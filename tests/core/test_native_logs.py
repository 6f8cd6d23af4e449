"""Native start-up chatter is dropped from stderr; every other line reaches it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tasklab.core.native_logs import is_chatter

CHATTER_LINES = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796161839.361795    2478 port.cc:153] oneDNN custom operations are on. You may "
    "see slightly different numerical results due to floating-point round-off errors.",
    "I0000 00:00:1796161839.362397    2478 cudart_stub.cc:31] Could not find cuda drivers on "
    "your machine, GPU will not be used.",
    "E0000 00:00:1796161848.550269    2478 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
    "CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild "
    "TensorFlow with the appropriate compiler flags.",
    "fully_quantize: 0, inference_type: 6, input_inference_type: INT8, output_inference_type: INT8",
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
    "[worker 1] I0000 00:00:1796161839.361795    2478 port.cc:153] oneDNN custom operations",
]
REAL_LINES = [
    "error: The data at builtin:digits changed since the run.",
    "E0000 00:00:1796161848.550269    2478 op_kernel.cc:1830] OP_REQUIRES failed: OOM",
    "Traceback (most recent call last):",
    "UserWarning: something worth reading",
    "tasklab: Training: epoch 1/40: loss 2.09 (1/40, 7s, ~4m33s left)",
]


@pytest.mark.parametrize("line", CHATTER_LINES)
def test_chatter_is_recognized(line):
    assert is_chatter(line + "\n")


@pytest.mark.parametrize("line", REAL_LINES)
def test_real_lines_are_kept(line):
    assert not is_chatter(line)


def test_the_filter_drops_native_chatter_and_keeps_the_rest_in_order():
    lines = [CHATTER_LINES[1], REAL_LINES[0], CHATTER_LINES[3], REAL_LINES[1], REAL_LINES[2]]
    script = (
        "import os, sys\n"
        "from tasklab.core.native_logs import filtered_stderr\n"
        "with filtered_stderr():\n"
        f"    for line in {lines!r}:\n"
        "        os.write(2, (line + '\\n').encode())  # As native code writes: to fd 2.\n"
        "    print('python line', file=sys.stderr)\n"
        "print('after', file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stderr.splitlines() == [*REAL_LINES[:3], "python line", "after"]
    shown = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True,
        env={"TASKLAB_NATIVE_LOGS": "1", "PATH": ""},
    )  # fmt: skip
    assert shown.stderr.splitlines() == [*lines, "python line", "after"]
