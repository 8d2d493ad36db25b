"""The tidy table of diagnostics: one row per recorded value, with the run's context."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["CSV_NAME", "COLUMNS", "read_diagnostics"]

CSV_NAME = "diagnostics.csv"
"""File name of the diagnostics table in a run folder."""

CONTEXT_COLUMNS = ("approach", "repeat", "fold")
"""Context columns that every table has, empty where the context does not set them."""

ROW_COLUMNS = ("epoch", "step", "stage", "layer", "quantity", "task", "task_j", "value")
"""Columns that the recorder fills for every row."""

COLUMNS = CONTEXT_COLUMNS + ROW_COLUMNS
"""Columns of a table without extra context keys, in order."""

Record = tuple[int, int, str, str, str, "int | None", "int | None", float]


def check_context(context: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return ``context`` as a dict after checking that its keys can be column names."""
    if context is None:
        return {}
    if not isinstance(context, Mapping):
        raise ValueError(f"context must be a dict such as {{'approach': 'A', 'repeat': 0, 'fold': 0}}, got {context!r}")
    for key in context:
        if not isinstance(key, str):
            raise ValueError(f"context keys must be strings, got {key!r}")
        if key in ROW_COLUMNS:
            raise ValueError(
                f"context key {key!r} is invalid because the recorder fills that column; "
                f"use another name (recorded columns: {', '.join(ROW_COLUMNS)})"
            )
    return dict(context)


def build_frame(chunks: Sequence[tuple[Mapping[str, Any], Sequence[Record]]]) -> pd.DataFrame:
    """Build the table from chunks of records that share one context each."""
    extra: list[str] = []
    for context, _ in chunks:
        extra.extend(key for key in context if key not in CONTEXT_COLUMNS and key not in extra)
    context_columns = [*CONTEXT_COLUMNS, *extra]

    frames = []
    for context, records in chunks:
        if not records:
            continue
        frame = pd.DataFrame.from_records(records, columns=list(ROW_COLUMNS))
        for key in reversed(context_columns):
            frame.insert(0, key, context.get(key))
        frames.append(frame)

    if frames:
        frame = pd.concat(frames, ignore_index=True)
    else:
        frame = pd.DataFrame(columns=[*context_columns, *ROW_COLUMNS])
    return _set_dtypes(frame)


def _set_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.astype({"epoch": "int64", "step": "int64", "task": "Int64", "task_j": "Int64", "value": "float64"})
    for column in ("stage", "layer", "quantity"):
        frame[column] = frame[column].astype(object)
    return frame


def write_frame(frame: pd.DataFrame, path: str | Path, append: bool) -> Path:
    """Write the table as CSV and return the file's path.

    A folder as ``path`` means ``path / "diagnostics.csv"``. With ``append`` the rows go after
    those of an existing file, whose header must name the same columns in the same order.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CSV_NAME

    columns = list(frame.columns)
    if append and path.exists() and path.stat().st_size > 0:
        with path.open(newline="") as handle:
            header = next(csv.reader(handle), [])
        if header != columns:
            raise ValueError(
                f"cannot append to {path}: its columns {header} differ from the recorder's {columns}; "
                "write to a new file or use the same context keys"
            )
        frame.to_csv(path, mode="a", header=False, index=False)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
    return path


def read_diagnostics(path: str | Path) -> pd.DataFrame:
    """Read a table written by :meth:`TriadRecorder.write_csv`, with the recorder's column types.

    A folder as ``path`` means ``path / "diagnostics.csv"``. Empty ``task`` and ``task_j``
    cells (rows about one task or about the summed loss) become ``pd.NA``.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CSV_NAME
    frame = pd.read_csv(
        path,
        dtype={"task": "Int64", "task_j": "Int64", "stage": str, "layer": str, "quantity": str},
    )
    return _set_dtypes(frame)
