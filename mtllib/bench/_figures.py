"""Figures of a benchmark run: step time per approach, and PCGrad aggregation against the anchors."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import seaborn as sns
from matplotlib.figure import Figure

from ._measurement import Measurement

__all__ = ["FIGURE_NAMES", "write_figures"]

FIGURE_NAMES = {"steps": "bench_steps.png", "pcgrad": "bench_pcgrad.png"}
"""File names of the figures that :func:`write_figures` writes next to the report."""

PALETTE = "colorblind"
DPI = 150


def _values(measurements: Sequence[Measurement], section: str, metric: str) -> dict[str, float]:
    return {m.name: m.value for m in measurements if m.section == section and m.metric == metric}


def _labels(measurements: Sequence[Measurement]) -> dict[str, str]:
    return {
        m.name: str(m.details.get("label", m.name))
        for m in measurements
        if m.section == "step" and m.metric == "step_time_median"
    }


def plot_steps(measurements: Sequence[Measurement], path: Path) -> Path | None:
    """Draw the median training-step time per approach with its interquartile range.

    Returns the path written, or None when the run has no step times.
    """
    median = _values(measurements, "step", "step_time_median")
    if not median:
        return None
    q1 = _values(measurements, "step", "step_time_q1")
    q3 = _values(measurements, "step", "step_time_q3")
    labels = _labels(measurements)
    names = list(median)

    # A bare Figure, not pyplot: writing files must not touch the caller's plotting backend.
    figure = Figure(figsize=(7.0, 0.45 * len(names) + 1.2), layout="constrained")
    ax = figure.subplots()
    colours = sns.color_palette(PALETTE, 2)
    positions = list(range(len(names)))[::-1]
    lower = [median[name] - q1.get(name, median[name]) for name in names]
    upper = [q3.get(name, median[name]) - median[name] for name in names]
    ax.barh(positions, [median[name] for name in names], xerr=[lower, upper], color=colours[0], capsize=3)
    if "A" in median:
        ax.axvline(median["A"], color=colours[1], linestyle="--", linewidth=1.0, label="approach A")
        ax.legend(loc="lower right", fontsize="small")
    ax.set_yticks(positions, [labels.get(name, name) for name in names])
    ax.set_xlabel("training step at batch 32, median (ms)")
    ax.set_title("Cost of one training step per approach")
    figure.savefig(path, dpi=DPI)
    return path


def plot_pcgrad(measurements: Sequence[Measurement], path: Path) -> Path | None:
    """Draw aggregation time against the number of shared parameters P per implementation.

    Returns the path written, or None when the run has no synthetic PCGrad inputs.
    """
    columns = _values(measurements, "pcgrad", "columns")
    synthetic = {name: size for name, size in columns.items() if name.startswith("synthetic")}
    if not synthetic:
        return None
    implementations = sorted(
        {m.metric[: -len("_time")] for m in measurements if m.section == "pcgrad" and m.metric.endswith("_time")},
        key=lambda name: (name != "mtllib", name),
    )

    figure = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = figure.subplots()
    colours = dict(zip(implementations, sns.color_palette(PALETTE, len(implementations))))
    for implementation in implementations:
        times = _values(measurements, "pcgrad", f"{implementation}_time")
        points = sorted((synthetic[name], times[name]) for name in synthetic if name in times and math.isfinite(times[name]))
        if points:
            ax.plot(*zip(*points), marker="o", color=colours[implementation], label=implementation)
        leafnet = [(columns[name], times[name]) for name in columns if name not in synthetic and math.isfinite(times.get(name, math.nan))]
        for size, value in leafnet:
            ax.scatter([size], [value], marker="*", s=120, color=colours[implementation], edgecolor="black", zorder=3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("shared parameters P (count, log scale)")
    ax.set_ylabel("PCGrad aggregation of a 2×P matrix, median (ms)")
    ax.set_title("PCGrad aggregation: lines synthetic, stars LeafNet")
    ax.legend(title="implementation", fontsize="small")
    figure.savefig(path, dpi=DPI)
    return path


def write_figures(measurements: Sequence[Measurement], out: Path) -> list[Path]:
    """Write the figures of a run into ``out`` and return the paths written."""
    written = [
        plot_steps(measurements, out / FIGURE_NAMES["steps"]),
        plot_pcgrad(measurements, out / FIGURE_NAMES["pcgrad"]),
    ]
    return [path for path in written if path is not None]
