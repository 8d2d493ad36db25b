"""The suite's aims, checked against the measurements; they are reported and do not change the exit status."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ._measurement import Measurement, find
from ._pcgrad import OURS, Aggregator

__all__ = ["EPOCH_LIMIT_SECONDS", "PCGRAD_STEP_LIMIT", "Aim", "evaluate_aims"]

SECTION = "aims"
PCGRAD_STEP_LIMIT = 1.6
EPOCH_LIMIT_SECONDS = 4.0
# PCGrad approaches and the approach that differs from each only by PCGrad.
PCGRAD_PAIRS = (("E", "A"), ("F", "B"), ("G", "C"), ("H", "D"))


@dataclass(frozen=True)
class Aim:
    """One aim: what it requires, the measured figure, and whether the figure meets it."""

    name: str
    description: str
    measured: float
    unit: str
    met: bool | None
    comment: str

    @property
    def verdict(self) -> str:
        """``"met"``, ``"not met"`` or ``"not checked"``."""
        if self.met is None:
            return "not checked"
        return "met" if self.met else "not met"

    def measurements(self) -> list[Measurement]:
        """Return the aim as two CSV rows: the measured figure and whether it is met (NaN when not checked)."""
        details = {"aim": self.description, "comment": self.comment}
        met = math.nan if self.met is None else float(self.met)
        return [
            Measurement(SECTION, self.name, "measured", self.measured, self.unit, details),
            Measurement(SECTION, self.name, "met", met, "boolean", details),
        ]


def _aggregation_aim(measurements: Sequence[Measurement], aggregators: Sequence[Aggregator]) -> Aim:
    description = "mtllib's PCGrad aggregation at least as fast as TorchJD and LibMTL at every size"
    inputs = [m.name for m in measurements if m.section == "pcgrad" and m.metric == f"{OURS}_time"]
    worst = 0.0
    slower = []
    unchecked = []
    for aggregator in aggregators:
        if aggregator.name == OURS:
            continue
        for input_name in inputs:
            ours = find(measurements, "pcgrad", input_name, f"{OURS}_time")
            theirs = find(measurements, "pcgrad", input_name, f"{aggregator.name}_time")
            if ours is None or theirs is None or math.isnan(theirs.value):
                unchecked.append(f"{aggregator.name} on {input_name}")
                continue
            ratio = ours.value / theirs.value
            worst = max(worst, ratio)
            if ratio > 1.0:
                slower.append(f"{ratio:.2f}× {aggregator.name}'s time on {input_name}")
    parts = []
    if slower:
        parts.append("slower: " + "; ".join(slower))
    if unchecked:
        parts.append("not checked: " + "; ".join(unchecked))
    met = None if unchecked and not slower else not slower
    comment = "; ".join(parts) or "as fast or faster at every size"
    return Aim("pcgrad_aggregation_speed", description, worst, "ratio (max of mtllib time / anchor time)", met, comment)


def _pcgrad_step_aim(measurements: Sequence[Measurement]) -> Aim:
    description = f"a PCGrad training step (E) at most {PCGRAD_STEP_LIMIT}× approach A"
    pairs = []
    for with_pcgrad, without in PCGRAD_PAIRS:
        numerator = find(measurements, "step", with_pcgrad, "step_time_median")
        denominator = find(measurements, "step", without, "step_time_median")
        if numerator is not None and denominator is not None:
            pairs.append(f"{with_pcgrad}/{without} {numerator.value / denominator.value:.2f}")
    ratio = find(measurements, "step", "E", "step_time_ratio_to_A")
    value = ratio.value if ratio is not None else math.nan
    met = None if ratio is None else value <= PCGRAD_STEP_LIMIT
    return Aim("pcgrad_step_ratio", description, value, "ratio", met, "PCGrad against the same approach without it: " + ", ".join(pairs))


def _epoch_aim(measurements: Sequence[Measurement], device: torch.device, usable_cores: int) -> Aim:
    description = f"an approach-A epoch (3,600 images, batch 32) of {EPOCH_LIMIT_SECONDS:g} s or less on 2 CPU cores"
    epoch = find(measurements, "step", "A", "epoch_time")
    value = epoch.value if epoch is not None else math.nan
    comment = "113 steps × the median step time"
    if device.type != "cpu" or usable_cores != 2:
        comment += f"; measured on {device.type} with {usable_cores} usable CPU core(s), not the 2 CPU cores the aim is set for"
    met = None if epoch is None else value <= EPOCH_LIMIT_SECONDS
    return Aim("epoch_time_A", description, value, "s", met, comment)


def evaluate_aims(measurements: Sequence[Measurement], aggregators: Sequence[Aggregator], device: torch.device, usable_cores: int) -> list[Aim]:
    """Check the three aims against the step and PCGrad measurements."""
    return [
        _aggregation_aim(measurements, aggregators),
        _pcgrad_step_aim(measurements),
        _epoch_aim(measurements, device, usable_cores),
    ]
