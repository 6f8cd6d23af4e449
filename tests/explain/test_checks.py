from __future__ import annotations

import numpy as np
import pytest

from tasklab.explain.checks import deletion_check, importance_map, randomization_check

RNG = np.random.default_rng(0)


def test_importance_map_sums_channels_and_takes_magnitudes_for_unsigned_methods():
    values = np.array([[[[1.0, -3.0], [2.0, 2.0]]]])  # One 1x2 image with two channels.
    np.testing.assert_array_equal(importance_map(values, True, True), [[-2.0, 4.0]])
    np.testing.assert_array_equal(importance_map(values, False, True), [[4.0, 4.0]])
    np.testing.assert_array_equal(importance_map(values[0, 0], True, False), [[1, -3], [2, 2]])


def test_randomization_check_fails_identical_maps_and_passes_unrelated_ones():
    maps = RNG.normal(size=(5, 64))
    same = randomization_check(maps, maps * 3 + 1, max_correlation=0.5)
    assert same["value"] == pytest.approx(1.0) and not same["passed"]
    unrelated = randomization_check(maps, RNG.normal(size=(5, 64)), max_correlation=0.5)
    assert abs(unrelated["value"]) < 0.3 and unrelated["passed"]
    constant = randomization_check(maps, np.zeros((5, 64)), max_correlation=0.5)
    assert constant["value"] == 0.0 and constant["passed"]


def weighted_score(weights: np.ndarray):
    return lambda rows, example: rows.reshape(len(rows), -1) @ weights


def test_deletion_of_the_truly_important_features_drops_the_score_faster_than_random():
    weights = np.array([10.0, 5.0, 1.0, 0.1, 0.1, 0.1, 0.1, 0.1])
    x = np.ones((3, 8))
    good = deletion_check(
        weighted_score(weights), x, np.tile(weights, (3, 1)), np.zeros(8), 8, 5, seed=0
    )
    assert good["passed"] and good["auc"] < good["random_auc"]
    assert good["curve"][0] == weights.sum() and good["curve"][-1] == 0.0
    assert len(good["curve"]) == len(good["random_curve"]) == 9
    # Deleting in the wrong order (least important first) must fail the check.
    bad = deletion_check(
        weighted_score(weights), x, np.tile(-weights, (3, 1)), np.zeros(8), 8, 5, seed=0
    )
    assert not bad["passed"] and bad["auc"] > bad["random_auc"]


def test_deletion_uses_each_rows_example_and_the_fill_values():
    x = np.array([[[1.0], [2.0]], [[3.0], [4.0]]])  # Two examples, two features.
    seen = []

    def score(rows, example):
        seen.append(example.copy())
        return rows.reshape(len(rows), -1).sum(axis=1)

    result = deletion_check(score, x, np.array([[1, 0], [0, 1]]), np.array([[9.0], [9.0]]), 2, 1, 0)
    np.testing.assert_array_equal(seen[0], [0, 0, 0, 1, 1, 1])
    # Example 0 deletes feature 0 first: 3 -> 9 + 2 = 11 -> 18; example 1 feature 1: 7 -> 12 -> 18.
    np.testing.assert_allclose(result["curve"], [5.0, 11.5, 18.0])
