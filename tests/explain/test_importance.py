from __future__ import annotations

import numpy as np
import pytest

from tasklab.explain.importance import global_importance, importance_by_column, rank_agreement


def test_global_importance_is_the_mean_magnitude():
    values = np.array([[1.0, -2.0], [-3.0, 0.0]])
    np.testing.assert_array_equal(global_importance(values), [2.0, 1.0])


def test_encoded_features_sum_back_onto_their_columns():
    names = ["city=Lyon", "city=Paris", "city=<other>", "income", "income__missing", "cityname"]
    values = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]])
    summed = importance_by_column(values, names, ["city", "income", "cityname"])
    np.testing.assert_array_equal(summed, [[6.0, 9.0, 6.0]])
    with pytest.raises(ValueError, match="'zip' belongs to none"):
        importance_by_column(values[:, :1], ["zip"], ["city"])


def test_rank_agreement_of_same_reversed_and_partial_orders():
    same = rank_agreement(np.array([3.0, 2.0, 1.0, 0.5]), np.array([30.0, 20.0, 10.0, 5.0]))
    assert same["spearman"] == pytest.approx(1.0) and same["kendall"] == pytest.approx(1.0)
    reversed_ = rank_agreement(np.arange(5.0), -np.arange(5.0))
    assert reversed_["spearman"] == pytest.approx(-1.0)
    partial = rank_agreement(np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 1.0, 3.0, 4.0]))
    assert partial["spearman"] == pytest.approx(0.8) and partial["kendall"] == pytest.approx(2 / 3)
