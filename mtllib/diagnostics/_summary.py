"""One line per approach and stage: the tragic triad of a recorded table in a few numbers."""

from __future__ import annotations

import pandas as pd

__all__ = ["summarize_triad"]

SUMMARY_COLUMNS = (
    "records",
    "conflict_rate",
    "cosine_median",
    "cosine_q10",
    "magnitude_similarity_median",
    "dominated_rate",
    "normalised_curvature_median",
)
"""Columns of :func:`summarize_triad`, in order."""


def summarize_triad(frame: pd.DataFrame, *, layer: str = "all", dominated_below: float = 0.5) -> pd.DataFrame:
    """Summarise a diagnostics table: one row per approach and stage of the projection.

    Pair quantities are pooled over repeats, folds, steps and pairs of tasks of ``layer``:

    * ``records``: how many cosine values (steps × pairs) the row pools; NaN cosines of zero
      gradients are left out;
    * ``conflict_rate``: the fraction of records whose task gradients conflict (cosine < 0);
    * ``cosine_median`` and ``cosine_q10``: the median and the 10th percentile of the cosine;
    * ``magnitude_similarity_median``: the median gradient magnitude similarity;
    * ``dominated_rate``: the fraction of records whose magnitude similarity is below
      ``dominated_below``, where one task's gradient is more than about 3.7 times longer than
      the other's at the default of 0.5;
    * ``normalised_curvature_median``: the median of gᵀ∇²L g / ‖g‖² over the curvature
      records (stage ``"before"`` only; NaN elsewhere and where none were recorded).

    Args:
        frame: a table of :meth:`TriadRecorder.to_frame` or :func:`read_diagnostics`.
        layer: ``"all"`` for the shared parameters as a whole, or one layer's name.
        dominated_below: magnitude similarity threshold in (0, 1] of ``dominated_rate``.
    """
    if not 0.0 < dominated_below <= 1.0:
        raise ValueError(f"dominated_below must lie in (0, 1], got {dominated_below!r}")
    missing = {"approach", "stage", "layer", "quantity", "value"} - set(frame.columns)
    if missing:
        raise ValueError(f"frame is missing the diagnostics columns {sorted(missing)}; pass a table of read_diagnostics")
    layers = set(frame["layer"].unique())
    if layer not in layers:
        raise ValueError(f"layer {layer!r} is not in the table; layers present: {sorted(layers)}")

    selected = frame[frame["layer"] == layer].copy()
    selected["approach"] = selected["approach"].fillna("")
    keys = ["approach", "stage"]

    def pooled(quantity: str) -> pd.core.groupby.SeriesGroupBy:
        rows = selected[selected["quantity"] == quantity].dropna(subset=["value"])
        return rows.groupby(keys)["value"]

    cosine = pooled("cosine")
    magnitude = pooled("magnitude_similarity")
    summary = pd.DataFrame(
        {
            "records": cosine.size(),
            "conflict_rate": cosine.apply(lambda values: float((values < 0).mean())),
            "cosine_median": cosine.median(),
            "cosine_q10": cosine.quantile(0.1),
            "magnitude_similarity_median": magnitude.median(),
            "dominated_rate": magnitude.apply(lambda values: float((values < dominated_below).mean())),
        }
    )
    summary["normalised_curvature_median"] = pooled("normalised_curvature").median()

    summary["records"] = summary["records"].fillna(0).astype("int64")
    return summary.reindex(columns=list(SUMMARY_COLUMNS))
