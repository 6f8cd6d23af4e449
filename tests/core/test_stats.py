from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from tasklab.core.stats import (
    corrected_resampled_t,
    mcnemar_exact,
    paired_t_5x2cv,
    wilcoxon_errors,
)


def test_5x2cv_matches_dietterichs_formula_by_hand():
    d = np.array([[0.02, 0.04], [0.01, 0.03], [0.05, 0.01], [0.02, 0.02], [0.00, 0.04]])
    # s_i^2 = (d_i1 - mean_i)^2 + (d_i2 - mean_i)^2 = (d_i1 - d_i2)^2 / 2
    s2 = [(a - b) ** 2 / 2 for a, b in d]
    t = 0.02 / math.sqrt(sum(s2) / 5)
    result = paired_t_5x2cv(d)
    assert result.statistic == pytest.approx(t)
    assert result.p_value == pytest.approx(2 * scipy_stats.t.sf(t, 5))
    assert "Dietterich (1998)" in result.citation


def test_5x2cv_edge_cases():
    assert paired_t_5x2cv(np.zeros((5, 2))).p_value == 1.0
    assert paired_t_5x2cv(np.full((5, 2), 0.1)).p_value == 0.0
    with pytest.raises(ValueError, match=r"\(5, 2\)"):
        paired_t_5x2cv(np.zeros((4, 2)))


def test_corrected_resampled_t_is_more_conservative_than_the_naive_t():
    rng = np.random.default_rng(0)
    d = rng.normal(0.01, 0.02, size=10)
    corrected = corrected_resampled_t(d, train_size=500, test_size=500)
    naive = scipy_stats.ttest_1samp(d, 0.0)
    expected_t = d.mean() / math.sqrt((1 / 10 + 1.0) * d.var(ddof=1))
    assert corrected.statistic == pytest.approx(expected_t)
    assert corrected.p_value > naive.pvalue
    assert corrected.p_value == pytest.approx(2 * scipy_stats.t.sf(abs(expected_t), 9))


def test_mcnemar_counts_only_discordant_rows():
    y = np.zeros(100, int)
    a = np.zeros(100, int)
    b = np.zeros(100, int)
    a[:2] = 1  # A wrong on 2 rows where B is right.
    b[2:12] = 1  # B wrong on 10 rows where A is right.
    result = mcnemar_exact(y, a, b)
    assert result.statistic == 2
    assert result.p_value == pytest.approx(scipy_stats.binomtest(2, 12, 0.5).pvalue)
    assert result.p_value == pytest.approx(0.0386, abs=1e-4)
    assert mcnemar_exact(y, a, a).p_value == 1.0


def test_wilcoxon_detects_a_better_regressor():
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    good, bad = y + rng.normal(0, 0.1, 200), y + rng.normal(0, 1.0, 200)
    assert wilcoxon_errors(y, good, bad).p_value < 1e-6
    assert wilcoxon_errors(y, good, good).p_value == 1.0
