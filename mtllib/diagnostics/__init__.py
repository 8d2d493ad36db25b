"""Measurements of the tragic triad of multi-task learning during training.

Yu et al. ("Gradient Surgery for Multi-Task Learning", NeurIPS 2020) name three conditions
under which multi-task gradient descent suffers: conflicting gradients (cosine similarity of
two task gradients below 0), dominating gradients (gradient magnitude similarity far below 1)
and high curvature of the multi-task loss along the update. :class:`TriadRecorder` measures
all three on the shared parameters while :func:`mtllib.fit` trains, :func:`measure_triad`
measures them on one batch, the plot helpers draw the recorded table and :func:`summarize_triad` reduces it to one
line per approach.
"""

from __future__ import annotations

from ._benchmark import benchmark_overhead
from ._curvature import directional_curvature, gauss_legendre
from ._plots import plot_conflict_heatmap, plot_cosine_distribution, plot_over_steps
from ._recorder import DEFAULT_CURVATURE_EVERY, DEFAULT_EVERY, DEFAULT_LR, TriadRecorder, measure_triad
from ._similarity import gradient_similarity, similarity_from_products
from ._summary import summarize_triad
from ._table import COLUMNS, CSV_NAME, read_diagnostics

__all__ = [
    "COLUMNS",
    "CSV_NAME",
    "DEFAULT_CURVATURE_EVERY",
    "DEFAULT_EVERY",
    "DEFAULT_LR",
    "TriadRecorder",
    "benchmark_overhead",
    "directional_curvature",
    "gauss_legendre",
    "gradient_similarity",
    "measure_triad",
    "plot_conflict_heatmap",
    "plot_cosine_distribution",
    "plot_over_steps",
    "read_diagnostics",
    "similarity_from_products",
    "summarize_triad",
]
