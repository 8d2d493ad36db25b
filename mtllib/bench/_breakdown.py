"""Time of a PCGrad training step by phase: forward, per-task backward, projection, optimizer."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import lass
from ..pcgrad import _accumulate, _add_grad, _flatten
from ._measurement import Measurement
from ._settings import BenchSettings
from ._steps import StepModel, StepResults
from ._timing import summarize, synchronize

__all__ = ["instrumented_step", "measure_breakdown", "phase_names"]

logger = logging.getLogger(__name__)

SECTION = "breakdown"
PHASE_SUM = "sum of phases"
WHOLE_STEP = "training_step"


def phase_names(num_tasks: int) -> list[str]:
    """Names of the timed phases of a step with ``num_tasks`` tasks, in order."""
    return ["forward", *(f"backward task {task}" for task in range(num_tasks)), "projection", "optimizer step"]


class _PhaseClock:
    """Record the seconds between consecutive laps, synchronising the device at each lap."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seconds: dict[str, float] = {}
        synchronize(device)
        self._last = time.perf_counter()

    def lap(self, phase: str) -> None:
        synchronize(self.device)
        now = time.perf_counter()
        self.seconds[phase] = now - self._last
        self._last = now


def instrumented_step(model: StepModel, batch: tuple[Tensor, tuple[Tensor, ...]], device: torch.device) -> dict[str, float]:
    """Take the step that :func:`mtllib.training_step` takes with PCGrad, timing each phase.

    The code repeats ``training_step`` with cross-entropy losses and the body of
    ``PCGrad.backward`` in ``"shared"`` mode, split so that each task's backward pass is
    timed on its own. The projection phase covers flattening the task gradients into a T×P
    matrix, the projection and writing ``.grad``.

    Returns:
        Seconds per phase, keyed by :func:`phase_names`.
    """
    pcgrad = model.pcgrad
    if pcgrad is None or pcgrad.mode != "shared":
        raise ValueError(f"model {model.name!r} must train with PCGrad in 'shared' mode to time its phases")
    network, optimizer = model.model, model.optimizer
    x, targets = model.select(batch)
    tasks = list(range(len(targets)))
    pcgrad.keep_gradients = False

    clock = _PhaseClock(device)
    optimizer.zero_grad(set_to_none=True)
    logits = network.forward_all(x)
    losses = [F.cross_entropy(logits[task], targets[task]) for task in tasks]
    clock.lap("forward")

    parameters = pcgrad._shared + pcgrad._specific
    gradients = []
    for task, loss in enumerate(losses):
        last = task == len(losses) - 1
        gradients.append(torch.autograd.grad(loss, parameters, retain_graph=not last, allow_unused=True))
        clock.lap(f"backward task {task}")

    num_shared = len(pcgrad._shared)
    matrix = _flatten([task_gradients[:num_shared] for task_gradients in gradients], pcgrad._shared)
    _accumulate(pcgrad._shared, pcgrad._project(matrix))
    for index, parameter in enumerate(pcgrad._specific, start=num_shared):
        parts = [task_gradients[index] for task_gradients in gradients if task_gradients[index] is not None]
        if parts:
            _add_grad(parameter, torch.stack(parts).sum(dim=0) if len(parts) > 1 else parts[0])
    clock.lap("projection")

    with lass.keep_outside_masks(network, tasks):
        optimizer.step()
    clock.lap("optimizer step")
    return clock.seconds


def measure_breakdown(
    model: StepModel,
    batches: Sequence[tuple[Tensor, tuple[Tensor, ...]]],
    steps: StepResults,
    device: torch.device,
    settings: BenchSettings,
) -> list[Measurement]:
    """Time the phases of ``model``'s steps; compare their sum with the whole step's median."""
    logger.info("timing the phases of %d steps of approach %s", settings.breakdown_repeats, model.name)
    for index in range(settings.breakdown_warmup):
        instrumented_step(model, batches[index % len(batches)], device)
    laps: list[dict[str, float]] = [
        instrumented_step(model, batches[index % len(batches)], device) for index in range(settings.breakdown_repeats)
    ]

    phases = phase_names(len(model.tasks))
    medians = {phase: summarize([lap[phase] for lap in laps]) for phase in phases}
    total = sum(summary.median for summary in medians.values())
    details = {"label": model.label, "repeats": settings.breakdown_repeats, "device": str(device)}
    rows = []
    for phase, summary in medians.items():
        phase_details = {**details, "q1_ms": 1000 * summary.q1, "q3_ms": 1000 * summary.q3}
        rows.append(Measurement(SECTION, phase, "time_median", 1000 * summary.median, "ms", phase_details))
        rows.append(Measurement(SECTION, phase, "share", summary.median / total, "ratio", {**details, "of": PHASE_SUM}))
    rows.append(Measurement(SECTION, PHASE_SUM, "time_median", 1000 * total, "ms", details))
    whole = steps.times[model.name]
    rows.append(Measurement(SECTION, WHOLE_STEP, "time_median", 1000 * whole.median, "ms", {**details, "repeats": whole.count, "source": "step section"}))
    return rows
