"""Parts of the benchmark suite: statistics, batches, phase timing, aggregators and aims."""

from __future__ import annotations

import math
import sys

import pytest
import torch

from mtllib.bench._aims import evaluate_aims
from mtllib.bench._breakdown import instrumented_step, phase_names
from mtllib.bench._machine import resolve_device
from mtllib.bench._measurement import Measurement
from mtllib.bench._pcgrad import Aggregator, _torchjd_aggregator, load_aggregators, synthetic_gradients
from mtllib.bench._steps import build_step_models, make_batches, to_training_batch
from mtllib.bench._timing import summarize
from mtllib.data._batches import Batches

CPU = torch.device("cpu")


def test_summarize_quartiles() -> None:
    summary = summarize([4.0, 1.0, 3.0, 2.0, 5.0])
    assert summary.median == 3.0
    assert summary.q1 == 2.0
    assert summary.q3 == 4.0
    assert summary.iqr == 2.0
    assert (summary.minimum, summary.maximum, summary.count) == (1.0, 5.0, 5)


def test_summarize_rejects_empty() -> None:
    with pytest.raises(ValueError, match="seconds must contain at least one duration"):
        summarize([])


def test_resolve_device_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="device must be one of cpu, cuda, got 'gpu'"):
        resolve_device("gpu")


def test_batches_converted_like_training() -> None:
    generator = torch.Generator().manual_seed(1)
    pixels = torch.randint(0, 256, (6, 3, 64, 64), dtype=torch.uint8, generator=generator)
    labels = [torch.randint(0, 12, (6,), generator=generator), torch.randint(0, 2, (6,), generator=generator)]
    x, targets = to_training_batch(pixels, labels, CPU)
    expected_x, expected_targets = next(iter(Batches(pixels, labels, torch.arange(6), 6, shuffle=False)))
    assert torch.equal(x, expected_x)
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert x.dtype == torch.float32
    for target, expected in zip(targets, expected_targets):
        assert torch.equal(target, expected)


def test_make_batches_shapes() -> None:
    batches = make_batches(2, CPU)
    assert len(batches) == 2
    x, (species, health) = batches[0]
    assert x.shape == (32, 3, 64, 64)
    assert float(x.min()) >= 0.0
    assert float(x.max()) <= 1.0
    assert int(species.max()) < 12
    assert int(health.max()) < 2
    assert not torch.equal(batches[0][0], batches[1][0])


def test_instrumented_step_matches_training_step() -> None:
    batches = make_batches(1, CPU)
    timed = {model.name: model for model in build_step_models(batches, CPU)}["H"]
    plain = {model.name: model for model in build_step_models(batches, CPU)}["H"]

    seconds = instrumented_step(timed, batches[0], CPU)
    plain.step(batches[0])

    assert list(seconds) == phase_names(2)
    assert all(value >= 0 for value in seconds.values())
    for (name, after_timed), after_plain in zip(timed.model.named_parameters(), plain.model.parameters()):
        torch.testing.assert_close(after_timed, after_plain, msg=lambda text, name=name: f"{name}: {text}")


def test_instrumented_step_requires_pcgrad() -> None:
    batches = make_batches(1, CPU)
    baseline = build_step_models(batches, CPU)[0]
    with pytest.raises(ValueError, match="model 'A' must train with PCGrad in 'shared' mode"):
        instrumented_step(baseline, batches[0], CPU)


def test_aggregators_agree_on_known_example() -> None:
    matrix = torch.tensor([[1.0, 0.0], [-1.0, 1.0]])
    for aggregator in load_aggregators(CPU):
        if aggregator.combine is None:
            assert aggregator.name != "mtllib"
            continue
        output = aggregator.combine(matrix)
        torch.testing.assert_close(output, torch.tensor([0.5, 1.5]), msg=lambda text, name=aggregator.name: f"{name}: {text}")


def test_aggregators_agree_on_synthetic() -> None:
    matrix = synthetic_gradients(1000, CPU)
    outputs = {a.name: a.combine(matrix) for a in load_aggregators(CPU) if a.combine is not None}
    assert not torch.allclose(outputs["mtllib"], matrix.sum(dim=0))
    for name, output in outputs.items():
        torch.testing.assert_close(output, outputs["mtllib"], msg=lambda text, name=name: f"{name}: {text}")


def test_synthetic_gradients_conflict() -> None:
    matrix = synthetic_gradients(100_000, CPU)
    cosine = torch.nn.functional.cosine_similarity(matrix[0], matrix[1], dim=0)
    assert matrix.shape == (2, 100_000)
    assert -0.5 < float(cosine) < -0.4


def test_missing_torchjd_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchjd.aggregation", None)
    aggregator = _torchjd_aggregator()
    assert aggregator.combine is None
    assert aggregator.error is not None
    assert aggregator.error.startswith("ModuleNotFoundError")


def _pcgrad_rows(times: dict[str, float]) -> list[Measurement]:
    return [Measurement("pcgrad", "synthetic", f"{name}_time", value, "ms") for name, value in times.items()]


def _step_rows(e_ratio: float, epoch: float) -> list[Measurement]:
    rows = [Measurement("step", letter, "step_time_median", 10.0, "ms") for letter in "ABCDFGH"]
    rows.append(Measurement("step", "E", "step_time_median", 10.0 * e_ratio, "ms"))
    rows.append(Measurement("step", "E", "step_time_ratio_to_A", e_ratio, "ratio"))
    rows.append(Measurement("step", "A", "epoch_time", epoch, "s"))
    return rows


def _aggregators(libmtl_error: str | None = None) -> list[Aggregator]:
    identity = lambda matrix: matrix.sum(dim=0)  # noqa: E731
    return [
        Aggregator("mtllib", identity, ""),
        Aggregator("TorchJD", identity, ""),
        Aggregator("LibMTL", None if libmtl_error else identity, "", error=libmtl_error),
    ]


def test_aims_flag_slower_aggregation() -> None:
    rows = _pcgrad_rows({"mtllib": 2.0, "TorchJD": 1.0, "LibMTL": 4.0}) + _step_rows(1.2, 5.0)
    speed, step, epoch = evaluate_aims(rows, _aggregators(), CPU, 2)
    assert speed.met is False
    assert speed.measured == 2.0
    assert "2.00× TorchJD's time on synthetic" in speed.comment
    assert step.met is True
    assert step.measured == 1.2
    assert epoch.met is False
    assert epoch.measured == 5.0


def test_aims_unchecked_anchor() -> None:
    rows = _pcgrad_rows({"mtllib": 1.0, "TorchJD": 2.0, "LibMTL": math.nan}) + _step_rows(2.0, 3.0)
    speed, step, epoch = evaluate_aims(rows, _aggregators("ImportError: no LibMTL"), CPU, 4)
    assert speed.met is None
    assert "not checked: LibMTL on synthetic" in speed.comment
    assert step.met is False
    assert epoch.met is True
    assert "4 usable CPU core(s)" in epoch.comment
    met_rows = [m for aim in (speed, step, epoch) for m in aim.measurements() if m.metric == "met"]
    assert math.isnan(met_rows[0].value)
    assert met_rows[1].value == 0.0
