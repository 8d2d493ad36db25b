"""Chunked parallel map over worker processes, with a progress bar."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from tqdm.auto import tqdm

__all__ = ["map_chunks", "resolve_workers"]

T = TypeVar("T")
R = TypeVar("R")
S = TypeVar("S")


def resolve_workers(workers: int | None) -> int:
    """Return the number of worker processes: ``workers``, or the usable CPU cores for None."""
    if workers is None:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # sched_getaffinity is missing on macOS and Windows.
            return max(1, os.cpu_count() or 1)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int or None, got {workers!r}")
    return workers


def map_chunks(
    function: Callable[[list[T], S], list[R]],
    items: list[T],
    setting: S,
    *,
    workers: int,
    chunk_size: int,
    description: str,
    progress: bool,
) -> list[R]:
    """Apply ``function(chunk, setting)`` to chunks of ``items`` and return the results in order.

    With more than one worker the chunks run in a ProcessPoolExecutor (the platform's default
    start method). Results come back in input order, so they equal a serial run. ``function``
    must be a module-level function so that the workers can import it.
    """
    chunks = [items[start : start + chunk_size] for start in range(0, len(items), chunk_size)]
    results: list[R] = []
    with tqdm(total=len(items), desc=description, unit="image", disable=not progress) as bar:
        if workers == 1 or len(chunks) == 1:
            outputs: Iterable[list[R]] = (function(chunk, setting) for chunk in chunks)
            for output in outputs:
                results.extend(output)
                bar.update(len(output))
            return results

        with ProcessPoolExecutor(max_workers=min(workers, len(chunks))) as executor:
            for output in executor.map(function, chunks, [setting] * len(chunks)):
                results.extend(output)
                bar.update(len(output))
    return results
