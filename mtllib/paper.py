"""Published results of the leaf study, used as the reference column of the book.

Alison, Jonathan and Suhartono, "Analyzing the Effects of Combining Gradient Conflict
Mitigation Methods in Multi-Task Learning", CommIT Journal 18(1), 99–107, 2024,
doi:10.21512/commit.v18i1.8905, Table II: means over 5 folds on the leaf photos of Chouhan
et al. (2019). Task 1 is the species (12 classes), task 2 healthy or diseased. The study
reports no spread across folds.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["PUBLISHED_COLUMNS", "PUBLISHED_RESULTS", "published_results"]

PUBLISHED_COLUMNS = ("species_accuracy", "species_f1", "health_accuracy", "health_f1", "mean_accuracy", "mean_f1")

PUBLISHED_RESULTS: dict[str, tuple[float, float, float, float, float, float]] = {
    "A": (0.70169, 0.69532, 0.85162, 0.85671, 0.77666, 0.77602),
    "B": (0.77722, 0.78359, 0.85917, 0.86145, 0.81820, 0.82252),
    "C": (0.77187, 0.76522, 0.86673, 0.87486, 0.81930, 0.82004),
    "D": (0.77810, 0.77360, 0.86029, 0.87123, 0.81920, 0.82241),
    "E": (0.78522, 0.79088, 0.86272, 0.86545, 0.82397, 0.82816),
    "F": (0.82075, 0.82243, 0.86361, 0.87129, 0.84218, 0.84686),
    "G": (0.79587, 0.79742, 0.85429, 0.85840, 0.82508, 0.82791),
    "H": (0.78410, 0.79721, 0.85340, 0.85789, 0.81875, 0.82755),
}
"""Approach letter to (species accuracy, species F1, health accuracy, health F1, mean accuracy, mean F1)."""

DOI = "10.21512/commit.v18i1.8905"


def published_results() -> pd.DataFrame:
    """Return the published table as a DataFrame indexed by approach letter."""
    frame = pd.DataFrame.from_dict(PUBLISHED_RESULTS, orient="index", columns=list(PUBLISHED_COLUMNS))
    frame.index.name = "approach"
    return frame
