"""Significance tests for cross-validated comparisons of approaches."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["CorrectedTTest", "corrected_resampled_ttest", "friedman_test", "compare_approaches"]


@dataclass(frozen=True)
class CorrectedTTest:
    """Result of :func:`corrected_resampled_ttest`."""

    mean_difference: float
    t_statistic: float
    degrees_of_freedom: int
    p_value: float


def corrected_resampled_ttest(
    scores_a: np.ndarray, scores_b: np.ndarray, test_fraction: float
) -> CorrectedTTest:
    """Compare two approaches scored on the same train/test splits.

    The corrected resampled t-test of Nadeau and Bengio ("Inference for the Generalization
    Error", Machine Learning 52, 2003): with differences d_j over J splits,
    t = mean(d) / sqrt((1/J + n_test/n_train) · var(d)), compared with Student's t with
    J − 1 degrees of freedom. The n_test/n_train term accounts for the overlap of the
    training sets, which makes the plain paired t-test far too eager to reject.

    Args:
        scores_a, scores_b: one score per split, in the same split order.
        test_fraction: n_test / n_train of the splits, 1 / (k − 1) for k-fold.

    Returns:
        The mean of ``scores_a − scores_b``, the t statistic, the degrees of freedom and the
        two-sided p-value. Identical scores give t = 0 and p = 1.
    """
    a = np.asarray(scores_a, dtype=float)
    b = np.asarray(scores_b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"scores_a and scores_b must be 1-D of the same length, got shapes {a.shape} and {b.shape}")
    if len(a) < 2:
        raise ValueError(f"the corrected t-test needs at least 2 splits, got {len(a)}")
    if not test_fraction > 0:
        raise ValueError(f"test_fraction must be positive, got {test_fraction!r}")

    differences = a - b
    count = len(differences)
    mean = float(differences.mean())
    variance = float(differences.var(ddof=1))
    degrees = count - 1
    if variance == 0.0:
        if mean == 0.0:
            return CorrectedTTest(0.0, 0.0, degrees, 1.0)
        return CorrectedTTest(mean, math.copysign(math.inf, mean), degrees, 0.0)

    t_statistic = mean / math.sqrt((1.0 / count + test_fraction) * variance)
    p_value = float(2.0 * stats.t.sf(abs(t_statistic), degrees))
    return CorrectedTTest(mean, float(t_statistic), degrees, p_value)


def friedman_test(scores: pd.DataFrame) -> tuple[float, float]:
    """Run the Friedman test on a splits × approaches table of scores.

    Returns:
        The chi-square statistic and its p-value (scipy.stats.friedmanchisquare); 0 and 1
        when all approaches have identical scores. Needs at least 3 approaches and 2 splits.
    """
    if scores.shape[1] < 3:
        raise ValueError(f"the Friedman test needs at least 3 approaches, got {scores.shape[1]}")
    if scores.shape[0] < 2:
        raise ValueError(f"the Friedman test needs at least 2 splits, got {scores.shape[0]}")
    columns = [scores[column].to_numpy(dtype=float) for column in scores.columns]
    if all(np.array_equal(column, columns[0]) for column in columns[1:]):
        # Every approach scored the same on every split: no evidence of any difference.
        return 0.0, 1.0
    result = stats.friedmanchisquare(*columns)
    return float(result.statistic), float(result.pvalue)


def compare_approaches(
    scores: pd.DataFrame, metric: str, test_fraction: float, baseline: str = "A"
) -> pd.DataFrame:
    """Test every approach against the baseline and against the best approach.

    Args:
        scores: one row per split (index) and one column per approach, holding ``metric``.
        metric: name written in the result's ``metric`` column.
        test_fraction: n_test / n_train of the splits.
        baseline: column to compare against first.

    Returns:
        Rows with ``test`` ("corrected t-test" or "Friedman"), ``metric``, ``approach``,
        ``reference``, ``mean_difference``, ``statistic``, ``degrees_of_freedom`` and
        ``p_value``. The best approach is the one with the highest mean score.
    """
    rows = []
    best = str(scores.mean().idxmax())
    references = [baseline] if baseline in scores.columns else []
    if best not in references:
        references.append(best)

    for reference in references:
        for approach in scores.columns:
            if approach == reference:
                continue
            result = corrected_resampled_ttest(scores[approach].to_numpy(), scores[reference].to_numpy(), test_fraction)
            rows.append(
                {
                    "test": "corrected t-test",
                    "metric": metric,
                    "approach": approach,
                    "reference": f"{reference} (best)" if reference == best else reference,
                    "mean_difference": result.mean_difference,
                    "statistic": result.t_statistic,
                    "degrees_of_freedom": result.degrees_of_freedom,
                    "p_value": result.p_value,
                }
            )

    if scores.shape[1] >= 3 and scores.shape[0] >= 2:
        statistic, p_value = friedman_test(scores)
        rows.append(
            {
                "test": "Friedman",
                "metric": metric,
                "approach": ",".join(map(str, scores.columns)),
                "reference": "",
                "mean_difference": float("nan"),
                "statistic": statistic,
                "degrees_of_freedom": scores.shape[1] - 1,
                "p_value": p_value,
            }
        )
    return pd.DataFrame(rows)
