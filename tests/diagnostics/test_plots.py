from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from mtllib.diagnostics import (  # noqa: E402
    TriadRecorder,
    plot_conflict_heatmap,
    plot_cosine_distribution,
    plot_over_steps,
)

from .test_recorder import train_steps  # noqa: E402


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    frames = []
    for letter in ("A", "E", "F"):
        recorder = TriadRecorder(every=1, curvature_every=2, context={"approach": letter, "repeat": 0, "fold": 0})
        train_steps(letter, recorder, steps=4)
        frames.append(recorder.to_frame())
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def legend_labels(ax: Axes) -> list[str]:
    return [text.get_text() for text in ax.get_legend().get_texts()]


def test_over_steps_draws_one_line_per_approach(table: pd.DataFrame) -> None:
    ax = plot_over_steps(table, window=2)

    assert isinstance(ax, Axes)
    assert legend_labels(ax) == ["A: baseline", "E: PCGrad", "F: PCGrad + LaSS"]
    assert len(ax.get_lines()) == 2 * 3 + 1  # raw and rolling per approach, and the zero line
    assert ax.get_xlabel() == "training step (batches)"
    assert "dimensionless" in ax.get_ylabel()


def test_over_steps_other_quantity_on_given_axes(table: pd.DataFrame) -> None:
    _, ax = plt.subplots()
    returned = plot_over_steps(table, "normalised_curvature", ax=ax)

    assert returned is ax
    assert "loss / parameter unit²" in ax.get_ylabel()


def test_over_steps_after_stage_has_pcgrad_only(table: pd.DataFrame) -> None:
    ax = plot_over_steps(table, stage="after", layer="fully_connected.0", task=0, task_j=1)
    assert legend_labels(ax) == ["E: PCGrad", "F: PCGrad + LaSS"]


def test_over_steps_rejects_missing_selection(table: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="the table has no values of quantity='cosine' with layer='heads.0'"):
        plot_over_steps(table, layer="heads.0")
    with pytest.raises(ValueError, match="window must be a positive int, got 0"):
        plot_over_steps(table, window=0)


def test_conflict_heatmap(table: pd.DataFrame) -> None:
    ax = plot_conflict_heatmap(table)

    assert isinstance(ax, Axes)
    assert [label.get_text() for label in ax.get_yticklabels()][0] == "all"
    assert len(ax.get_yticklabels()) == 6
    assert len(ax.get_xticklabels()) == 3
    assert ax.get_xlabel() == "approach"
    assert ax.figure.axes[-1].get_ylabel().startswith("conflict rate")


def test_conflict_heatmap_chosen_layers(table: pd.DataFrame) -> None:
    ax = plot_conflict_heatmap(table, stage="after", layers=["all", "fully_connected.0"], annotate=False)
    assert [label.get_text() for label in ax.get_yticklabels()] == ["all", "fully_connected.0"]

    with pytest.raises(ValueError, match=r"layers \['heads.0'\] are not in the table"):
        plot_conflict_heatmap(table, layers=["heads.0"])


@pytest.mark.parametrize("kind", ["violin", "hist"])
def test_cosine_distribution(table: pd.DataFrame, kind: str) -> None:
    ax = plot_cosine_distribution(table, kind=kind)

    assert isinstance(ax, Axes)
    assert "cosine similarity" in (ax.get_ylabel() if kind == "violin" else ax.get_xlabel())


def test_distribution_rejects_unknown_kind(table: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="kind must be 'violin' or 'hist', got 'box'"):
        plot_cosine_distribution(table, kind="box")


def test_plots_without_approach_column_values() -> None:
    recorder = TriadRecorder(every=1, curvature_every=None)
    train_steps("A", recorder, steps=2)

    ax = plot_over_steps(recorder.to_frame())

    assert legend_labels(ax) == ["all runs"]
