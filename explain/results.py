"""What the explain stage returns and `explain.json` holds, typed.

A method's checks stay JSON objects keyed by check name: each check
(`additivity`, `completeness`, `randomization`, `deletion`) reports its own
figures beside the `value` and `passed` that every check has.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tasklab.core.results import Record

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


@dataclasses.dataclass(frozen=True)
class ExamplesSummary(Record):
    """Which test examples were explained.

    Attributes:
        count: how many.
        test_rows: their rows in the test split.
        misclassified: how many of them the model got wrong (None for regression).
    """

    count: int
    test_rows: tuple[int, ...]
    misclassified: int | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class MethodResult(Record):
    """One explanation method: what it cost and how its sanity checks came out.

    Attributes:
        name: the registered method.
        model: the model it explains (`keras` or `xgboost`).
        description: one line on what it computes.
        algorithm: the algorithm that ran (e.g. shap's explainer), when it names one.
        seconds_per_example: its time per explained example (None when skipped).
        examples: examples it explained.
        checks: check name -> that check's figures, each with `value` and
            `passed` (True, False, or None for a value reported, not promised).
        skipped: why the method did not run, or None when it ran.
    """

    name: str
    model: str
    description: str
    algorithm: str | None = None
    seconds_per_example: float | None
    examples: int | None = None
    checks: dict[str, dict[str, Any]]
    skipped: str | None = None

    @property
    def outcome(self) -> str:
        """`skipped`, `failed` (at least one check failed) or `passed` (none failed)."""
        if self.skipped is not None:
            return SKIPPED
        # `passed: None` is a reported, not promised, value.
        if any(check.get("passed") is False for check in self.checks.values()):
            return FAILED
        return PASSED

    def summary_line(self) -> str:
        """Its time per example and each check's value and verdict, in one line."""
        if self.skipped is not None:
            return f"skipped: {self.skipped}"
        parts = [f"{self.seconds_per_example * 1000:.2f} ms/example"]
        for check, outcome in self.checks.items():
            verdict = {True: "passed", False: "FAILED", None: "reported"}[outcome["passed"]]
            parts.append(f"{check} {outcome['value']:.4g} {verdict}")
        return ", ".join(parts)


@dataclasses.dataclass(frozen=True)
class ExplainResult(Record):
    """The explain stage's result (`explain.json`).

    Attributes:
        task: the run's task.
        explain_input: the space the model is explained over (`pixels`,
            `pixel_regions`, `spectrogram`, `features`, `tokens`).
        examples: the explained test examples.
        methods: one entry per method, in the order they ran.
        plots: figure name -> its PNG's path in the run directory.
        importance: tables: the global importance per column and the
            net-versus-trees rank agreement (None for other inputs).
        highlights: texts: a few examples with each method's weight per
            word or character (None for other inputs).
        example_ious: segmentation: each explained image's IoU, in the
            examples' order (None for other inputs).
    """

    task: str
    explain_input: str
    examples: ExamplesSummary
    methods: tuple[MethodResult, ...]
    plots: dict[str, str] = dataclasses.field(default_factory=dict)
    importance: dict[str, Any] | None = None
    highlights: list[dict[str, Any]] | None = None
    example_ious: tuple[float, ...] | None = None

    def outcomes(self) -> dict[str, list[str]]:
        """Method names under `passed`, `failed` and `skipped`, each in the stage's order."""
        outcomes: dict[str, list[str]] = {PASSED: [], FAILED: [], SKIPPED: []}
        for method in self.methods:
            outcomes[method.outcome].append(method.name)
        return outcomes

    @property
    def ran(self) -> list[MethodResult]:
        """The methods that ran (were not skipped)."""
        return [method for method in self.methods if method.skipped is None]
