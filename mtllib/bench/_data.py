"""Figures measured by other parts of mtllib: leaf data loading and diagnostics overhead."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence

import torch

from ._measurement import Measurement
from ._settings import IMAGE_SIZE, BenchSettings

__all__ = ["measure_data", "measure_diagnostics", "rows_to_measurements"]

logger = logging.getLogger(__name__)

DATA_SECTION = "data"
DIAGNOSTICS_SECTION = "diagnostics"

# Figures of mtllib.diagnostics.benchmark_overhead's rows and their units; its other keys
# (approach, device, threads, steps, every, curvature_every) are settings.
DIAGNOSTICS_FIGURES = {
    "plain_ms_per_step": "ms",
    "recorded_ms_per_step": "ms",
    "overhead_percent": "%",
    "gradient_record_ms": "ms",
    "curvature_record_ms": "ms",
    "hook_overhead_percent": "%",
}


def _number(value: object) -> float:
    if isinstance(value, bool):
        return float(value)
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def rows_to_measurements(section: str, rows: Sequence[Mapping[str, object]], name_keys: Sequence[str], figures: Mapping[str, str]) -> list[Measurement]:
    """Turn plain dict rows into measurements.

    Args:
        section: the CSV section of every measurement.
        rows: dicts such as those of :mod:`mtllib.data._benchmark`.
        name_keys: keys whose values, joined by " / ", name the row.
        figures: metric key to unit; the keys that are neither figures nor name keys go into
            the details.
    """
    measurements = []
    for row in rows:
        name = " / ".join(str(row[key]) for key in name_keys if key in row)
        details = {key: value for key, value in row.items() if key not in figures and key not in name_keys}
        for metric, unit in figures.items():
            if metric in row:
                measurements.append(Measurement(section, name, metric, _number(row[metric]), unit, details))
    return measurements


def measure_data(settings: BenchSettings) -> list[Measurement]:
    """Time photo decoding plus letterbox and procedural generation with :mod:`mtllib.data._benchmark`."""
    from ..data._benchmark import bench_photo_decode, bench_procedural_generation

    logger.info("timing photo decode + letterbox on %d generated full-size JPEG(s)", settings.photo_count)
    rows = bench_photo_decode(IMAGE_SIZE, settings.photo_count, settings.photo_repeats)
    logger.info("timing procedural leaf generation")
    rows += bench_procedural_generation(IMAGE_SIZE, settings.procedural_limit_per_class, settings.procedural_workers)
    figures = {"ms_per_image": "ms", "seconds": "s", "images": "count"}
    return rows_to_measurements(DATA_SECTION, rows, ("benchmark", "variant"), figures)


def measure_diagnostics(device: torch.device, settings: BenchSettings) -> list[Measurement]:
    """Time training with and without the tragic-triad recorder with :func:`mtllib.diagnostics.benchmark_overhead`."""
    from ..diagnostics import benchmark_overhead

    logger.info("timing the overhead of the tragic-triad recorder")
    rows = benchmark_overhead(str(device), settings.quick)
    return rows_to_measurements(DIAGNOSTICS_SECTION, rows, ("approach",), DIAGNOSTICS_FIGURES)
