"""Figures of the recorded tragic triad for the book.

Every helper takes the table of :meth:`TriadRecorder.to_frame` or :func:`read_diagnostics`
(several runs concatenated are fine), draws on ``ax`` or a new figure, and returns the Axes.
Colours come from seaborn's colour-blind palette and the cividis colour map.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

from ..approaches import APPROACHES

__all__ = ["QUANTITY_LABELS", "plot_conflict_heatmap", "plot_cosine_distribution", "plot_over_steps"]

PALETTE = "colorblind"
COLOUR_MAP = "cividis"
STEP_LABEL = "training step (batches)"
NO_APPROACH = "all runs"

QUANTITY_LABELS = {
    "cosine": "cosine similarity of task gradients (dimensionless)",
    "magnitude_similarity": "gradient magnitude similarity (dimensionless)",
    "conflict": "conflict rate (fraction of records with cosine < 0)",
    "grad_norm": "task gradient norm (loss / parameter unit)",
    "squared_norm": "squared task gradient norm (loss² / parameter unit²)",
    "dot": "dot product of task gradients (loss² / parameter unit²)",
    "squared_norm_i": "squared gradient norm of task i (loss² / parameter unit²)",
    "squared_norm_j": "squared gradient norm of task j (loss² / parameter unit²)",
    "gradient_squared_norm": "squared norm of the summed gradient (loss² / parameter unit²)",
    "curvature": "curvature gᵀ∇²L g (loss³ / parameter unit⁴)",
    "normalised_curvature": "curvature per unit step gᵀ∇²L g / ‖g‖² (loss / parameter unit²)",
}
"""Axis labels, with units, of the recorded quantities."""


def _approach_label(value: object) -> str:
    if pd.isna(value):
        return NO_APPROACH
    text = str(value)
    return APPROACHES[text].label if text in APPROACHES else text


def _select(
    frame: pd.DataFrame,
    quantity: str,
    layer: str | None,
    stage: str | None,
    task: int | None = None,
    task_j: int | None = None,
) -> pd.DataFrame:
    """Return the rows of one quantity with an ``approach_label`` column; raise if there are none."""
    selected = frame[frame["quantity"] == quantity]
    if layer is not None:
        selected = selected[selected["layer"] == layer]
    if stage is not None:
        selected = selected[selected["stage"] == stage]
    if task is not None:
        selected = selected[selected["task"] == task]
    if task_j is not None:
        selected = selected[selected["task_j"] == task_j]
    selected = selected.dropna(subset=["value"])
    if selected.empty:
        raise ValueError(
            f"the table has no values of quantity={quantity!r} with layer={layer!r}, stage={stage!r}, "
            f"task={task!r}, task_j={task_j!r}; quantities present: {sorted(frame['quantity'].unique())}, "
            f"layers: {sorted(frame['layer'].unique())}, stages: {sorted(frame['stage'].unique())}"
        )
    selected = selected.copy()
    selected["approach_label"] = selected["approach"].map(_approach_label)
    return selected


def _axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def plot_over_steps(
    frame: pd.DataFrame,
    quantity: str = "cosine",
    *,
    layer: str = "all",
    stage: str = "before",
    task: int | None = None,
    task_j: int | None = None,
    window: int = 10,
    ax: Axes | None = None,
) -> Axes:
    """Plot a quantity over training steps, one line per approach, with a rolling mean.

    Values at the same step are averaged over repeats, folds and (unless ``task`` and
    ``task_j`` pick one) over tasks or pairs of tasks. The thin line shows those averages,
    the thick line their rolling mean over ``window`` consecutive records.
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be a positive int, got {window!r}")
    selected = _select(frame, quantity, layer, stage, task, task_j)
    ax = _axes(ax, (7.0, 3.5))

    labels = sorted(selected["approach_label"].unique())
    colours = sns.color_palette(PALETTE, len(labels))
    for label, colour in zip(labels, colours):
        series = selected[selected["approach_label"] == label].groupby("step")["value"].mean().sort_index()
        ax.plot(series.index, series.to_numpy(), color=colour, alpha=0.3, linewidth=0.8)
        rolling = series.rolling(window, min_periods=1).mean()
        ax.plot(rolling.index, rolling.to_numpy(), color=colour, linewidth=2.0, label=label)

    if quantity == "cosine":
        ax.axhline(0.0, color="0.4", linestyle="--", linewidth=0.8)
    ax.set_xlabel(STEP_LABEL)
    ax.set_ylabel(QUANTITY_LABELS.get(quantity, quantity))
    ax.set_title(f"{quantity} over training, layer {layer}, {stage} projection")
    ax.legend(title="approach", fontsize="small")
    return ax


def plot_conflict_heatmap(
    frame: pd.DataFrame,
    *,
    stage: str = "before",
    layers: Sequence[str] | None = None,
    annotate: bool = True,
    ax: Axes | None = None,
) -> Axes:
    """Draw the conflict rate per layer (rows) and approach (columns) as a heatmap.

    The conflict rate is the fraction of recorded steps and task pairs whose cosine
    similarity is below 0. Layers keep the order of the table, ``"all"`` first.
    """
    selected = _select(frame, "conflict", None, stage)
    order = list(dict.fromkeys(selected["layer"]))
    if layers is not None:
        missing = [layer for layer in layers if layer not in order]
        if missing:
            raise ValueError(f"layers {missing} are not in the table; layers present: {order}")
        order = list(layers)

    rates = selected.pivot_table(index="layer", columns="approach_label", values="value", aggfunc="mean")
    rates = rates.reindex(index=order, columns=sorted(rates.columns))
    ax = _axes(ax, (1.2 + 1.1 * len(rates.columns), 1.0 + 0.4 * len(rates.index)))
    sns.heatmap(
        rates,
        ax=ax,
        cmap=COLOUR_MAP,
        vmin=0.0,
        vmax=1.0,
        annot=annotate,
        fmt=".0%",
        cbar_kws={"label": "conflict rate (fraction of records with cosine < 0)"},
    )
    ax.set_xlabel("approach")
    ax.set_ylabel("layer")
    ax.set_title(f"conflict rate per layer, {stage} projection")
    return ax


def plot_cosine_distribution(
    frame: pd.DataFrame,
    *,
    quantity: str = "cosine",
    layer: str = "all",
    stage: str = "before",
    kind: str = "violin",
    ax: Axes | None = None,
) -> Axes:
    """Show the distribution of the cosine similarity (or another quantity) per approach.

    ``kind`` is ``"violin"`` (one violin per approach, quartiles marked, cut at the data's
    range) or ``"hist"`` (overlaid step histograms, each normalised to density 1).
    Zero gradients, whose cosine is NaN, are left out.
    """
    if kind not in ("violin", "hist"):
        raise ValueError(f"kind must be 'violin' or 'hist', got {kind!r}")
    selected = _select(frame, quantity, layer, stage)
    labels = sorted(selected["approach_label"].unique())
    palette = dict(zip(labels, sns.color_palette(PALETTE, len(labels))))
    axis_label = QUANTITY_LABELS.get(quantity, quantity)

    if kind == "violin":
        ax = _axes(ax, (1.5 + 1.2 * len(labels), 3.5))
        sns.violinplot(
            data=selected, x="approach_label", y="value", hue="approach_label", order=labels,
            hue_order=labels, palette=palette, cut=0, inner="quart", legend=False, ax=ax,
        )
        ax.set_xlabel("approach")
        ax.set_ylabel(axis_label)
        if quantity == "cosine":
            ax.axhline(0.0, color="0.4", linestyle="--", linewidth=0.8)
    else:
        ax = _axes(ax, (6.0, 3.5))
        sns.histplot(
            data=selected, x="value", hue="approach_label", hue_order=labels, palette=palette,
            element="step", stat="density", common_norm=False, ax=ax,
        )
        ax.set_xlabel(axis_label)
        ax.set_ylabel("density (per unit of the x axis)")
        if quantity == "cosine":
            ax.axvline(0.0, color="0.4", linestyle="--", linewidth=0.8)
        legend = ax.get_legend()
        if legend is not None:
            legend.set_title("approach")
    ax.set_title(f"distribution of {quantity}, layer {layer}, {stage} projection")
    return ax
