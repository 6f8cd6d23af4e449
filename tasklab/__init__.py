"""tasklab: train Keras models for applied tasks, measure them against classical baselines,
explain them and export them to LiteRT.

The sub-packages live in the repository's top-level folders and are mapped into this
namespace by `pyproject.toml`:

- `tasklab.tasks` (`tasks/`): what is learned, one module per task;
- `tasklab.pipelines` (`pipelines/`): how a run goes: config, data, training, report, CLI;
- `tasklab.baselines` (`baselines/`): what the net must beat;
- `tasklab.explain` (`explain/`): why it predicts;
- `tasklab.export` (`export/`): where it runs (LiteRT, the TensorFlow-free edge runner);
- `tasklab.configs` (`configs/`): the shipped configs, as package data.

Importing `tasklab` imports nothing else: the edge runner needs no TensorFlow.
"""

from __future__ import annotations

import importlib.metadata

try:
    __version__ = importlib.metadata.version("tasklab")
except importlib.metadata.PackageNotFoundError:  # A source tree that was never installed.
    __version__ = "0+unknown"
