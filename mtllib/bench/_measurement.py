"""One measured figure, and the CSV file that contains a run's figures."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CSV_COLUMNS", "Measurement", "find", "write_csv"]

CSV_COLUMNS = ("section", "name", "metric", "value", "unit", "details")


@dataclass(frozen=True)
class Measurement:
    """A figure of one section of the benchmark, such as the median step time of approach A.

    ``value`` is a float. Yes/no results use 1.0 and 0.0 with unit ``"boolean"``. A figure
    that could not be measured is NaN, with the reason in ``details["error"]``.
    ``details`` contains the settings behind the figure as JSON-ready values.
    """

    section: str
    name: str
    metric: str
    value: float
    unit: str
    details: Mapping[str, object] = field(default_factory=dict)


def find(measurements: Iterable[Measurement], section: str, name: str, metric: str) -> Measurement | None:
    """Return the first measurement with this section, name and metric, or None."""
    for measurement in measurements:
        if (measurement.section, measurement.name, measurement.metric) == (section, name, metric):
            return measurement
    return None


def _format_value(value: float) -> str:
    if math.isnan(value):
        return "nan"
    return repr(float(value))


def write_csv(path: Path, measurements: Iterable[Measurement]) -> None:
    """Write one row per measurement with the columns of :data:`CSV_COLUMNS`; details are JSON."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for m in measurements:
            details = json.dumps(dict(m.details), sort_keys=True, default=str)
            writer.writerow([m.section, m.name, m.metric, _format_value(m.value), m.unit, details])
