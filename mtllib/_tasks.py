"""Checks and type aliases shared by the task-aware layers, training and diagnostics."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor

__all__ = ["Batch", "LossFunction", "check_positive_int", "check_task"]

Batch = tuple[Tensor, Sequence[Tensor]]
"""A batch of images and one target tensor per task: ``(x, (y_0, y_1, ...))``."""

LossFunction = Callable[[Tensor, Tensor], Tensor]
"""The loss of one task, ``loss_fn(logits, target)``, such as ``F.cross_entropy``."""


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
