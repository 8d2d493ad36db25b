"""Tests of summarize_triad on constructed tables and on a recorded one."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from mtllib import TrainConfig, build_model, fit
from mtllib.diagnostics import TriadRecorder, summarize_triad

from .helpers import SMALL, random_batches


def _table(cosines: list[float], magnitudes: list[float], approach: str = "A", stage: str = "before") -> pd.DataFrame:
    rows = []
    for step, (cosine, magnitude) in enumerate(zip(cosines, magnitudes)):
        rows.append((approach, 0, 0, 0, step, stage, "all", "cosine", 0, 1, cosine))
        rows.append((approach, 0, 0, 0, step, stage, "all", "magnitude_similarity", 0, 1, magnitude))
    columns = ["approach", "repeat", "fold", "epoch", "step", "stage", "layer", "quantity", "task", "task_j", "value"]
    return pd.DataFrame(rows, columns=columns)


def test_constructed_table_rates_and_medians() -> None:
    table = _table([-0.5, -0.1, 0.2, 0.4, math.nan], [0.2, 0.9, 0.4, 1.0, math.nan])

    row = summarize_triad(table).loc[("A", "before")]

    assert row["records"] == 4
    assert row["conflict_rate"] == pytest.approx(0.5)
    assert row["cosine_median"] == pytest.approx(0.05)
    assert row["magnitude_similarity_median"] == pytest.approx(0.65)
    assert row["dominated_rate"] == pytest.approx(0.5)
    assert math.isnan(row["normalised_curvature_median"])


def test_one_row_per_approach_and_stage() -> None:
    table = pd.concat(
        [_table([-1.0, -1.0], [1.0, 1.0], "E", "before"), _table([0.0, 0.5], [1.0, 1.0], "E", "after"), _table([1.0], [1.0], "A")]
    )

    summary = summarize_triad(table)

    assert list(summary.index) == [("A", "before"), ("E", "after"), ("E", "before")]
    assert summary.loc[("E", "before"), "conflict_rate"] == 1.0
    assert summary.loc[("E", "after"), "conflict_rate"] == 0.0


def test_recorded_table_rates_in_range() -> None:
    config = TrainConfig(**SMALL, epochs=1, batch_size=8)
    model = build_model("E", (12, 2), config)
    recorder = TriadRecorder(every=1, curvature_every=2, context={"approach": "E", "repeat": 0, "fold": 0})

    fit(model, random_batches(count=4), "E", config, observer=recorder)
    summary = summarize_triad(recorder.to_frame())

    assert set(summary.index) == {("E", "before"), ("E", "after")}
    assert (summary["records"] == 4).all()
    assert summary["conflict_rate"].between(0, 1).all()
    assert summary.loc[("E", "after"), "conflict_rate"] == 0.0
    assert math.isfinite(summary.loc[("E", "before"), "normalised_curvature_median"])


@pytest.mark.parametrize(("keyword", "value", "message"), [("layer", "fc9", "layer 'fc9'"), ("dominated_below", 0.0, "dominated_below")])
def test_bad_argument_names_value(keyword: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        summarize_triad(_table([0.1], [0.1]), **{keyword: value})
