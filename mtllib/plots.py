"""Figures of the book: scores per approach beside the published ones, losses over epochs.

Every function draws with seaborn's colour-blind-safe palette and returns the matplotlib
Axes (or Figure) so that the caller can adjust it.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

from .approaches import APPROACHES
from .paper import published_results

__all__ = ["PALETTE", "plot_loss_curves", "plot_mean_scores", "plot_task_gap", "plot_task_scores"]

PALETTE = "colorblind"
TASK_LABELS = {"species": "species (12 classes)", "health": "health (healthy or diseased)"}


def _axes(ax: Axes | None, size: tuple[float, float] = (8, 4)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def _approach_rows(summary: pd.DataFrame, include_single_task: bool = True) -> pd.DataFrame:
    rows = [index for index in summary.index if index in APPROACHES or (include_single_task and index not in APPROACHES)]
    return summary.loc[rows]


def _long_scores(summary: pd.DataFrame, metric: str) -> pd.DataFrame:
    records = []
    for approach, values in summary.iterrows():
        for task in TASK_LABELS:
            mean = values.get(f"{task}_{metric}_mean", np.nan)
            if pd.isna(mean):
                continue
            records.append(
                {"approach": approach, "task": TASK_LABELS[task], "mean": mean, "std": values.get(f"{task}_{metric}_std", np.nan)}
            )
    return pd.DataFrame(records)


def plot_task_scores(summary: pd.DataFrame, metric: str = "f1", ax: Axes | None = None) -> Axes:
    """Draw each task's score per approach as bars with the standard deviation over folds."""
    ax = _axes(ax)
    frame = _long_scores(_approach_rows(summary), metric)
    order = list(dict.fromkeys(frame["approach"]))
    sns.barplot(frame, x="approach", y="mean", hue="task", order=order, palette=PALETTE, ax=ax, errorbar=None)
    tasks = list(dict.fromkeys(frame["task"]))
    for container, task in zip(ax.containers, tasks):
        subset = frame[frame["task"] == task].set_index("approach").reindex(order)
        centres = [bar.get_x() + bar.get_width() / 2 for bar in container]
        ax.errorbar(centres, subset["mean"], yerr=subset["std"].fillna(0), fmt="none", ecolor="black", capsize=3, lw=1)
    name = "weighted F1" if metric == "f1" else "accuracy"
    ax.set_xlabel("approach")
    ax.set_ylabel(f"{name} on the test fold (0–1)")
    ax.set_ylim(0, 1)
    ax.legend(title="task", loc="lower right")
    return ax


def plot_task_gap(summary: pd.DataFrame, metric: str = "f1", ax: Axes | None = None) -> Axes:
    """Draw the gap between the tasks (health minus species) per approach, beside Alison et al. (2024)."""
    ax = _axes(ax)
    rows = _approach_rows(summary)
    published = published_results()
    records = []
    for approach, values in rows.iterrows():
        records.append({"approach": approach, "source": "this run", "gap": values.get(f"gap_{metric}_mean", np.nan), "std": values.get(f"gap_{metric}_std", np.nan)})
        if approach in published.index:
            gap = published.loc[approach, f"health_{metric}"] - published.loc[approach, f"species_{metric}"]
            records.append({"approach": approach, "source": "Alison et al. (2024)", "gap": gap, "std": np.nan})
    frame = pd.DataFrame(records)
    sns.barplot(frame, x="approach", y="gap", hue="source", palette=PALETTE, ax=ax, errorbar=None)
    ours = frame[frame["source"] == "this run"].reset_index(drop=True)
    centres = [bar.get_x() + bar.get_width() / 2 for bar in ax.containers[0]]
    ax.errorbar(centres, ours["gap"], yerr=ours["std"].fillna(0), fmt="none", ecolor="black", capsize=3, lw=1)
    name = "weighted F1" if metric == "f1" else "accuracy"
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("approach")
    ax.set_ylabel(f"health − species {name} (points of 0–1)")
    ax.legend(title=None)
    return ax


def plot_mean_scores(summary: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Draw the task-averaged accuracy and F1 per approach with their spread, and those of Alison et al. (2024)."""
    ax = _axes(ax)
    rows = _approach_rows(summary, include_single_task=False)
    published = published_results()
    colours = sns.color_palette(PALETTE, 2)
    positions = np.arange(len(rows))
    for offset, (metric, colour, label) in enumerate(
        ((("mean_accuracy"), colours[0], "accuracy"), (("mean_f1"), colours[1], "weighted F1"))
    ):
        x = positions + (offset - 0.5) * 0.3
        ax.errorbar(
            x, rows[f"{metric}_mean"], yerr=rows[f"{metric}_std"].fillna(0), fmt="o", color=colour, capsize=3,
            label=f"{label}, this run (mean ± sd over folds)",
        )
        paper = [published.loc[a, metric] if a in published.index else np.nan for a in rows.index]
        ax.scatter(x, paper, marker="x", color=colour, s=50, label=f"{label}, Alison et al. (2024)")
    ax.set_xticks(positions, rows.index)
    ax.set_xlabel("approach")
    ax.set_ylabel("mean over the two tasks (0–1)")
    ax.legend(fontsize="small", loc="lower right")
    return ax


def plot_loss_curves(epochs: pd.DataFrame, approaches: list[str] | None = None, ax: Axes | None = None) -> Axes:
    """Draw the mean training loss of each task over epochs, averaged over folds, per approach."""
    ax = _axes(ax)
    loss_columns = [column for column in epochs.columns if column.startswith("loss_")]
    frame = epochs if approaches is None else epochs[epochs["approach"].isin(approaches)]
    long = frame.melt(id_vars=["approach", "repeat", "fold", "epoch"], value_vars=loss_columns, var_name="task", value_name="loss").dropna()
    long["task"] = long["task"].str.removeprefix("loss_")
    long["epoch"] = long["epoch"] + 1
    sns.lineplot(long, x="epoch", y="loss", hue="approach", style="task", palette=PALETTE, ax=ax, errorbar=None)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training cross-entropy (nats)")
    return ax
