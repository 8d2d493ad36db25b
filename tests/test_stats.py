from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from mtllib.stats import compare_approaches, corrected_resampled_ttest, friedman_test


def test_corrected_ttest_known_values() -> None:
    a = np.array([0.81, 0.82, 0.83, 0.84, 0.85])
    b = np.array([0.80, 0.80, 0.80, 0.80, 0.80])
    result = corrected_resampled_ttest(a, b, test_fraction=0.25)

    assert result.mean_difference == pytest.approx(0.03)
    expected_t = 0.03 / math.sqrt((1 / 5 + 0.25) * 0.00025)
    assert result.t_statistic == pytest.approx(expected_t)
    assert result.degrees_of_freedom == 4
    assert result.p_value == pytest.approx(2 * stats.t.sf(expected_t, 4))


@given(
    st.lists(st.floats(-1, 1, allow_nan=False), min_size=3, max_size=20).filter(lambda d: np.var(d) > 1e-6),
    st.floats(0.05, 1.0),
)
def test_correction_shrinks_paired_t(differences: list[float], fraction: float) -> None:
    d = np.array(differences)
    corrected = corrected_resampled_ttest(d, np.zeros_like(d), fraction)
    paired = stats.ttest_rel(d, np.zeros_like(d))
    count = len(d)
    assert corrected.t_statistic == pytest.approx(paired.statistic * math.sqrt((1 / count) / (1 / count + fraction)), rel=1e-9)
    assert corrected.p_value >= paired.pvalue - 1e-12


def test_identical_scores_give_p_one() -> None:
    result = corrected_resampled_ttest(np.ones(5), np.ones(5), 0.25)
    assert result.t_statistic == 0.0
    assert result.p_value == 1.0


def test_constant_nonzero_difference() -> None:
    result = corrected_resampled_ttest(np.full(4, 0.9), np.full(4, 0.8), 0.25)
    assert result.t_statistic == math.inf
    assert result.p_value == 0.0


@pytest.mark.parametrize(
    ("a", "b", "fraction", "message"),
    [
        (np.ones(3), np.ones(4), 0.25, "same length"),
        (np.ones(1), np.ones(1), 0.25, "at least 2 splits"),
        (np.ones(3), np.ones(3), 0.0, "test_fraction must be positive"),
    ],
)
def test_corrected_ttest_rejects(a, b, fraction, message) -> None:
    with pytest.raises(ValueError, match=message):
        corrected_resampled_ttest(a, b, fraction)


def test_friedman_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    scores = pd.DataFrame(rng.random((5, 4)), columns=list("ABCD"))
    statistic, p_value = friedman_test(scores)
    expected = stats.friedmanchisquare(*[scores[c] for c in scores])
    assert statistic == pytest.approx(expected.statistic)
    assert p_value == pytest.approx(expected.pvalue)


def test_friedman_all_ties() -> None:
    assert friedman_test(pd.DataFrame(np.ones((3, 3)), columns=list("ABC"))) == (0.0, 1.0)


@pytest.mark.parametrize(("shape", "message"), [((5, 2), "at least 3 approaches"), ((1, 3), "at least 2 splits")])
def test_friedman_rejects_small_tables(shape, message) -> None:
    with pytest.raises(ValueError, match=message):
        friedman_test(pd.DataFrame(np.ones(shape)))


def test_compare_approaches_rows() -> None:
    scores = pd.DataFrame(
        {"A": [0.70, 0.72, 0.71], "B": [0.75, 0.74, 0.76], "C": [0.80, 0.79, 0.82]}
    )
    table = compare_approaches(scores, "mean_f1", test_fraction=0.5)

    against_a = table[table.reference == "A"]
    against_best = table[table.reference == "C (best)"]
    assert sorted(against_a.approach) == ["B", "C"]
    assert sorted(against_best.approach) == ["A", "B"]
    assert (table[table.test == "Friedman"].shape[0]) == 1
    assert set(table.metric) == {"mean_f1"}
    row = against_a[against_a.approach == "C"].iloc[0]
    assert row.mean_difference == pytest.approx(0.0933333, rel=1e-4)


def test_compare_when_baseline_is_best() -> None:
    scores = pd.DataFrame({"A": [0.9, 0.91], "B": [0.8, 0.82]})
    table = compare_approaches(scores, "mean_accuracy", test_fraction=1.0)
    assert list(table.reference) == ["A (best)"]
    assert "Friedman" not in set(table.test)
