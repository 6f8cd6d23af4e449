"""Where every artifact of a run lives: `RunDir` names them all, once.

A run directory is read back by the CLI, the report, `bench/` and a later
`tasklab export`, `explain` or resume, so its file names are its format. Each
name is defined here; stages write to `RunDir(path).<artifact>` and keep the
names out of their own code.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar


@dataclasses.dataclass(frozen=True)
class RunDir:
    """A run directory and the paths of its artifacts.

    The upper-case names are the artifacts' names relative to the directory
    (what JSON records and staging names are made of); the properties are
    their paths.

    Attributes:
        path: the run directory.
    """

    path: Path

    MANIFEST: ClassVar[str] = "manifest.json"  # status, versions, timings
    CONFIG: ClassVar[str] = "config.yaml"  # the resolved config
    METRICS: ClassVar[str] = "metrics.json"  # test metrics and intervals
    MODEL: ClassVar[str] = "model.keras"  # the trained model
    HISTORY: ClassVar[str] = "history.json"  # one entry per epoch
    BEST_MODEL: ClassVar[str] = "checkpoints/best.keras"
    BACKUP: ClassVar[str] = "backup"  # the epoch backup a resume starts from
    LOGS: ClassVar[str] = "logs"  # TensorBoard scalars
    BASELINES: ClassVar[str] = "baselines.json"  # the comparison
    BASELINE_MODELS: ClassVar[str] = "baselines"  # fitted baselines (XGBoost's JSON)
    EXPLAIN: ClassVar[str] = "explain.json"
    EXPLAIN_PLOTS: ClassVar[str] = "explain"
    EXPORT: ClassVar[str] = "export.json"  # the LiteRT variant table
    BUNDLE: ClassVar[str] = "export"  # the edge bundle
    SAVED_MODEL: ClassVar[str] = "saved_model"
    REPORT: ClassVar[str] = "report.html"
    PLOTS: ClassVar[str] = "plots"

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def manifest(self) -> Path:
        return self.path / self.MANIFEST

    @property
    def config(self) -> Path:
        return self.path / self.CONFIG

    @property
    def metrics(self) -> Path:
        return self.path / self.METRICS

    @property
    def model(self) -> Path:
        return self.path / self.MODEL

    @property
    def history(self) -> Path:
        return self.path / self.HISTORY

    @property
    def best_model(self) -> Path:
        return self.path / self.BEST_MODEL

    @property
    def backup(self) -> Path:
        return self.path / self.BACKUP

    @property
    def logs(self) -> Path:
        return self.path / self.LOGS

    @property
    def baselines(self) -> Path:
        return self.path / self.BASELINES

    @property
    def baseline_models(self) -> Path:
        return self.path / self.BASELINE_MODELS

    @property
    def xgboost(self) -> Path:
        """The fitted XGBoost baseline, in XGBoost's own JSON format."""
        return self.baseline_models / "xgboost.json"

    @property
    def explain(self) -> Path:
        return self.path / self.EXPLAIN

    @property
    def explain_plots(self) -> Path:
        return self.path / self.EXPLAIN_PLOTS

    @property
    def export(self) -> Path:
        return self.path / self.EXPORT

    @property
    def bundle(self) -> Path:
        return self.path / self.BUNDLE

    @property
    def saved_model(self) -> Path:
        return self.path / self.SAVED_MODEL

    @property
    def report(self) -> Path:
        return self.path / self.REPORT

    @property
    def plots(self) -> Path:
        return self.path / self.PLOTS
