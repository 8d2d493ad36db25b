"""Checks shared by the task-aware layers."""

from __future__ import annotations

__all__ = ["check_positive_int", "check_task"]


def check_task(task: object, num_tasks: int) -> int:
    """Return ``task`` as an int after checking that it indexes one of ``num_tasks`` tasks."""
    if isinstance(task, bool) or not isinstance(task, int):
        raise ValueError(f"task must be an int in [0, {num_tasks - 1}], got {task!r}")
    if not 0 <= task < num_tasks:
        raise ValueError(f"task must be in [0, {num_tasks - 1}], got {task}")
    return task


def check_positive_int(name: str, value: object) -> int:
    """Return ``value`` after checking that it is a positive int; the error names ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value
