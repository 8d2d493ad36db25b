"""Wall-clock timing of repeated calls, with device synchronisation and summary statistics."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["TimingSummary", "summarize", "synchronize", "time_call", "time_repeated"]


@dataclass(frozen=True)
class TimingSummary:
    """Median, quartiles and range of a list of durations, in seconds."""

    median: float
    q1: float
    q3: float
    minimum: float
    maximum: float
    count: int

    @property
    def iqr(self) -> float:
        """Interquartile range q3 - q1, in seconds."""
        return self.q3 - self.q1


def summarize(seconds: Sequence[float]) -> TimingSummary:
    """Summarize durations by their median, quartiles (linear interpolation), minimum and maximum."""
    if len(seconds) == 0:
        raise ValueError("seconds must contain at least one duration, got an empty sequence")
    values = np.asarray(seconds, dtype=np.float64)
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return TimingSummary(float(median), float(q1), float(q3), float(values.min()), float(values.max()), len(values))


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so that a timer read afterwards includes it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(function: Callable[[], object], device: torch.device) -> float:
    """Return the seconds one call of ``function`` takes, synchronising before and after."""
    synchronize(device)
    start = time.perf_counter()
    function()
    synchronize(device)
    return time.perf_counter() - start


def time_repeated(function: Callable[[], object], device: torch.device, *, warmup: int, repeats: int) -> list[float]:
    """Call ``function`` ``warmup`` times untimed, then return the seconds of ``repeats`` timed calls."""
    for _ in range(warmup):
        function()
    return [time_call(function, device) for _ in range(repeats)]
