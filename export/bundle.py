"""The edge bundle carries its own TF-free runner, so a device needs that one folder.

The runner is the `tasklab.edge` package, every module of it copied as it is into
`BUNDLE/runner/` (they import each other relatively, so the copy is a package of
its own): on the device, `python -m runner . INPUT...` from inside the bundle,
with only `runner/requirements.txt` installed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tasklab import edge
from tasklab.core import io

RUNNER_DIR = "runner"
# Every module of tasklab.edge (the runner and what it imports), all free of TensorFlow.
RUNNER_MODULES = tuple(
    sorted(
        module.stem
        for module in Path(edge.__file__).parent.glob("*.py")
        if module.stem not in ("__init__", "__main__")
    )
)
RUNNER_REQUIREMENTS = ("ai-edge-litert~=2.3", "numpy>=1.26", "pillow>=10", "scipy>=1.11")
_INIT = '''"""The reference runner of this edge bundle: `python -m runner BUNDLE INPUT...`.

Imports only ai_edge_litert, numpy, Pillow (images) and scipy (audio); see run.py.
"""
'''
BUNDLE_README = """This folder is everything a device needs to run the model: no TensorFlow.

  *.tflite             the LiteRT variants; preprocessing.json names the default one
  labels.txt           the class names, in the model's output order
  preprocessing.json   how a raw input becomes the model's input, and the output's meaning
  runner/              the reference runner (Python): ai-edge-litert, numpy, Pillow, scipy

On the device, from inside this folder:

  pip install -r runner/requirements.txt
  python -m runner . INPUT...            # image, CSV, text or WAV files or folders; --help
"""


def write_runner(bundle: Path) -> Path:
    """Copies the runner's modules into `bundle/runner/` and writes how to run it.

    Args:
        bundle: the bundle directory being written.

    Returns:
        The runner's directory.
    """
    source = Path(edge.__file__).parent
    target = bundle / RUNNER_DIR
    io.make_dir(target)
    for module in RUNNER_MODULES:
        shutil.copyfile(source / f"{module}.py", target / f"{module}.py")
    io.write_text(target / "__init__.py", _INIT)
    shutil.copyfile(source / "__main__.py", target / "__main__.py")
    io.write_text(target / "requirements.txt", "".join(f"{r}\n" for r in RUNNER_REQUIREMENTS))
    io.write_text(bundle / "README.txt", BUNDLE_README)
    return target
