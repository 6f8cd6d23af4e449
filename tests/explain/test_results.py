"""`explain.json` as a typed record: outcomes of the checks, and older files still read."""

from __future__ import annotations

from tasklab.core import io
from tasklab.explain.results import ExplainResult, MethodResult


def method(name, passed=(True, True), **extra):
    checks = {
        "randomization": {"value": 0.1, "passed": passed[0]},
        "deletion": {"value": 0.2, "passed": passed[1]},
    }
    return {"name": name, "model": "keras", "description": "d", "seconds_per_example": 0.002,
            "checks": checks, **extra}  # fmt: skip


# As the explain stage wrote it before the stage results were typed: a method that ran had
# no `skipped`, a skipped one no `algorithm` or `examples`, images no `importance`.
EARLIER = {
    "task": "image_classification",
    "explain_input": "pixels",
    "examples": {"count": 2, "test_rows": [3, 7], "misclassified": 1},
    "methods": [
        method("gradient", algorithm="gradient", examples=2),
        method("smoothgrad", passed=(False, True), algorithm="smoothgrad", examples=2),
        {"name": "grad_cam", "model": "keras", "description": "d", "seconds_per_example": None,
         "checks": {}, "skipped": "no convolution"},
    ],
    "plots": {"deletion_curves": "explain/deletion_curves.png"},
}  # fmt: skip


def test_an_earlier_explanation_reads_and_sorts_its_methods_by_outcome(tmp_path):
    io.write_json(tmp_path / "explain.json", EARLIER)
    result = ExplainResult.read(tmp_path / "explain.json")
    assert result.outcomes() == {
        "passed": ["gradient"],
        "failed": ["smoothgrad"],
        "skipped": ["grad_cam"],
    }
    assert [m.name for m in result.ran] == ["gradient", "smoothgrad"]
    assert result.examples.test_rows == (3, 7) and result.importance is None


def test_a_reported_value_is_not_a_failure():
    reported = MethodResult.from_json(method("kernel_shap", passed=(True, None)), "explain.json")
    assert reported.outcome == "passed"
    assert reported.summary_line() == (
        "2.00 ms/example, randomization 0.1 passed, deletion 0.2 reported"
    )


def test_a_skipped_method_says_why_in_its_line():
    skipped = ExplainResult.from_json(EARLIER, "explain.json").methods[2]
    assert skipped.summary_line() == "skipped: no convolution"


def test_an_explanation_round_trips_through_its_json(tmp_path):
    result = ExplainResult.from_json(EARLIER, "explain.json")
    result.write(tmp_path / "explain.json")
    assert ExplainResult.read(tmp_path / "explain.json") == result
