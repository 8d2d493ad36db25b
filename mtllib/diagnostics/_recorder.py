"""Recording of the tragic triad of Yu et al. (2020) during training and on single batches."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._tasks import Batch, LossFunction
from ..pcgrad import PCGrad, project_conflicting
from ._curvature import directional_curvature, functional_task_losses, gauss_legendre, preserved_rng
from ._similarity import WHOLE, ParameterLayout, Row, gradient_rows
from ._table import Record, build_frame, check_context, write_frame

__all__ = ["DEFAULT_CURVATURE_EVERY", "DEFAULT_EVERY", "DEFAULT_LR", "TriadRecorder", "measure_triad"]

logger = logging.getLogger(__name__)


DEFAULT_EVERY = 25
"""Steps between records of the gradient quantities."""

DEFAULT_CURVATURE_EVERY = 250
"""Steps between records of the curvature."""

DEFAULT_LR = 5e-4
"""Step size of θ' = θ − lr·g in the curvature: the learning rate of :class:`mtllib.TrainConfig`."""

BEFORE = "before"
AFTER = "after"


def _check_positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _check_lr(lr: object) -> float:
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr < 0:
        raise ValueError(f"lr must be a finite number >= 0, got {lr!r}")
    return float(lr)


def _default_parameters(model: nn.Module) -> list[nn.Parameter]:
    if not hasattr(model, "shared_parameters"):
        raise ValueError(
            f"{type(model).__name__} has no shared_parameters(); pass parameters= with the parameters "
            "that the tasks share"
        )
    return list(model.shared_parameters())


def curvature_rows(
    model: nn.Module,
    batch: Batch,
    loss_fn: LossFunction,
    tasks: Sequence[int],
    layout: ParameterLayout,
    gradients: Tensor,
    lr: float,
    quadrature_points: int,
) -> list[Row]:
    """Compute the curvature of the summed task losses along g = Σ_t g_t (the rows of ``gradients``).

    Returns rows ``gradient_squared_norm`` (‖g‖²), ``curvature`` (H of Yu et al.) and
    ``normalised_curvature`` (H / ‖g‖², NaN when g is zero) for layer ``"all"``.
    """
    total = gradients.sum(dim=0)
    direction = []
    offset = 0
    for parameter, size in zip(layout.parameters, layout.sizes):
        direction.append(total[offset : offset + size].view(parameter.shape))
        offset += size

    names = [entry.name for entry in layout.entries]
    task_losses = functional_task_losses(model, batch, loss_fn, tasks, names)
    with preserved_rng(model):
        curvature = directional_curvature(
            lambda values: task_losses(values).sum(),
            layout.parameters,
            direction,
            lr=lr,
            quadrature_points=quadrature_points,
        )

    squared_norm = float(total @ total)
    normalised = curvature / squared_norm if squared_norm > 0 else math.nan
    return [
        (WHOLE, "gradient_squared_norm", None, None, squared_norm),
        (WHOLE, "curvature", None, None, curvature),
        (WHOLE, "normalised_curvature", None, None, normalised),
    ]


def _records(epoch: int, step: int, stage: str, rows: Iterable[Row]) -> list[Record]:
    return [(epoch, step, stage, layer, quantity, task, task_j, value) for layer, quantity, task, task_j, value in rows]


@dataclass
class _Pending:
    """State that :meth:`TriadRecorder.before_backward` passes to ``after_backward`` of the same step."""

    step: int
    batch: Batch
    loss_fn: LossFunction
    tasks: list[int]
    gradients: Tensor | None


class TriadRecorder:
    """Record the tragic triad of Yu et al. (2020) while :func:`mtllib.fit` trains.

    Pass it as ``observer=`` to :func:`mtllib.fit` or :func:`mtllib.training_step`. Every
    ``every`` steps it records, for the shared parameters as a whole (layer ``"all"``) and per
    layer, each task's gradient norm and, per pair of tasks, dot product, squared norms,
    cosine similarity, gradient magnitude similarity and conflict (cosine < 0); the
    definitions are in :func:`gradient_similarity`. Every ``curvature_every`` steps it
    records the curvature of the summed loss along its gradient (:func:`directional_curvature`).

    Gradients: without PCGrad, the recorder computes each task's gradient on the live graph
    before the training backward pass (one extra backward pass per task). With PCGrad it
    reads ``pcgrad.last_gradients`` (stage ``"before"``) and ``pcgrad.last_projected``
    (stage ``"after"``). In ``"wrapper"`` mode those cover every parameter, and the recorded
    ones are picked out by position. With LaSS masks set, pair quantities of a masked weight
    cover only the entries that both tasks' masks keep. Biases are never masked.

    Training is not disturbed: the recorder never writes to the model, ``.grad``, batch
    normalisation statistics or the random generators, so a seeded run ends with the same
    weights with and without it.

    Args:
        every: steps between records of the gradient quantities; step 0 is recorded.
        curvature_every: steps between curvature records; ``None`` turns the curvature off.
        quadrature_points: points of the Gauss–Legendre rule for the curvature integral.
        parameters: the parameters to measure; default ``model.shared_parameters()`` of the
            model being trained. Layers are the modules that own them.
        context: values stamped on every row, such as ``{"approach": "E", "repeat": 0,
            "fold": 3}``. Assign :attr:`context` again to stamp later rows differently.
        lr: step size of θ' = θ − lr·g in the curvature; default the learning rate of
            :class:`mtllib.TrainConfig`.
        tasks: the tasks that training steps train, as passed to :func:`mtllib.fit`; default
            every task of the batch.

    Attributes:
        seconds: seconds spent in the hooks, ``"gradients"`` (per-task gradients and their
            quantities) and ``"curvature"``.

    Example:
        >>> recorder = TriadRecorder(context={"approach": "E", "repeat": 0, "fold": 0})  # doctest: +SKIP
        >>> fit(model, batches, "E", config, observer=recorder)  # doctest: +SKIP
        >>> recorder.write_csv(run_folder)  # writes run_folder / "diagnostics.csv"  # doctest: +SKIP
    """

    def __init__(
        self,
        every: int = DEFAULT_EVERY,
        curvature_every: int | None = DEFAULT_CURVATURE_EVERY,
        quadrature_points: int = 2,
        parameters: Iterable[nn.Parameter] | None = None,
        context: Mapping[str, Any] | None = None,
        *,
        lr: float = DEFAULT_LR,
        tasks: Sequence[int] | None = None,
    ) -> None:
        self.every = _check_positive_int("every", every)
        self.curvature_every = None if curvature_every is None else _check_positive_int("curvature_every", curvature_every)
        gauss_legendre(quadrature_points)
        self.quadrature_points = quadrature_points
        self.lr = _check_lr(lr)
        self.tasks = None if tasks is None else [int(t) for t in tasks]
        self._context = check_context(context)
        self.seconds = {"gradients": 0.0, "curvature": 0.0}

        self._parameters = None if parameters is None else list(parameters)
        self._layout: ParameterLayout | None = None
        self._layout_key: tuple[int, ...] | None = None
        self._chunks: list[tuple[dict[str, Any], list[Record]]] = []
        self._pending: _Pending | None = None
        self._last_step: int | None = None
        self._pcgrad_supplies: bool | None = None
        self._last_pcgrad_matrix: int | None = None
        self._pcgrad_columns: dict[tuple[int, int], Tensor | None] = {}

    @property
    def context(self) -> dict[str, Any]:
        """Values stamped on the rows recorded from now on."""
        return self._context

    @context.setter
    def context(self, context: Mapping[str, Any] | None) -> None:
        self._context = check_context(context)

    # The StepObserver protocol of mtllib.training.

    def wants(self, step: int) -> bool:
        """Return whether step ``step`` is recorded."""
        return self._gradients_due(step) or self._curvature_due(step)

    def before_backward(
        self, step: int, epoch: int, model: nn.Module, batch: Batch, losses: Sequence[Tensor], loss_fn: LossFunction
    ) -> None:
        """Compute the per-task gradients of the shared parameters, unless PCGrad will supply them."""
        started = time.perf_counter()
        if self._last_step is not None and step <= self._last_step:
            # A new run, which may train without PCGrad or with a new PCGrad object.
            self._pcgrad_supplies = None
            self._last_pcgrad_matrix = None
        self._last_step = step

        layout = self._layout_for(model)
        tasks = self._tasks_of(batch, losses)
        gradients = None
        if not self._pcgrad_supplies and self._gradients_due(step):
            per_task = [torch.autograd.grad(loss, layout.parameters, retain_graph=True, allow_unused=True) for loss in losses]
            gradients = layout.flatten(per_task)
        elif not self._pcgrad_supplies:
            # Only the curvature is due, and it needs only the summed gradient: one backward pass.
            summed = torch.autograd.grad(torch.stack(list(losses)).sum(), layout.parameters, retain_graph=True, allow_unused=True)
            gradients = layout.flatten([summed])
        self._pending = _Pending(step, batch, loss_fn, tasks, gradients)
        self.seconds["gradients"] += time.perf_counter() - started

    def after_backward(self, step: int, epoch: int, model: nn.Module, pcgrad: PCGrad | None) -> None:
        """Record the gradient quantities and, when due, the curvature of this step."""
        pending, self._pending = self._pending, None
        if pending is None or pending.step != step:
            logger.warning("step %d: after_backward came without before_backward for that step; nothing recorded", step)
            return

        started = time.perf_counter()
        layout = self._layout_for(model)
        before, after = pending.gradients, None
        supplied = self._from_pcgrad(pcgrad, layout, len(pending.tasks))
        if supplied is not None:
            before, after = supplied
        self._pcgrad_supplies = supplied is not None
        if before is None:
            logger.warning(
                "step %d: PCGrad supplied the task gradients at the previous record but not now; "
                "nothing recorded for this step",
                step,
            )
            return

        records: list[Record] = []
        if self._gradients_due(step):
            records += _records(epoch, step, BEFORE, gradient_rows(before, layout, pending.tasks))
            if after is not None:
                records += _records(epoch, step, AFTER, gradient_rows(after, layout, pending.tasks))
        self.seconds["gradients"] += time.perf_counter() - started

        if self._curvature_due(step):
            started = time.perf_counter()
            rows = curvature_rows(
                model, pending.batch, pending.loss_fn, pending.tasks, layout, before, self.lr, self.quadrature_points
            )
            records += _records(epoch, step, BEFORE, rows)
            self.seconds["curvature"] += time.perf_counter() - started
        self._append(records)

    # Results.

    def to_frame(self) -> pd.DataFrame:
        """Return every record as a tidy table, one row per value.

        Columns, in order:

        * the context keys: ``approach``, ``repeat`` and ``fold`` always (empty where the
          context does not set them), then any other keys;
        * ``epoch`` and ``step``;
        * ``stage``: ``"before"`` or ``"after"`` PCGrad's projection. Runs without PCGrad
          and the curvature rows have ``"before"``;
        * ``layer``: ``"all"`` or the name of the module that owns the parameters;
        * ``quantity``, ``task``, ``task_j`` and ``value``. Per-task rows leave ``task_j``
          empty, and curvature rows leave both tasks empty.
        """
        return build_frame(self._chunks)

    def write_csv(self, path: str | Path, append: bool = False) -> Path:
        """Write :meth:`to_frame` as CSV and return the file's path.

        A folder as ``path`` means ``path / "diagnostics.csv"``. With ``append`` the rows go
        after those already in the file, which must have the same columns; call
        :meth:`clear` afterwards to write each record only once.
        """
        return write_frame(self.to_frame(), path, append)

    def clear(self) -> None:
        """Forget the records kept so far."""
        self._chunks = []

    @property
    def num_rows(self) -> int:
        """Number of rows kept so far."""
        return sum(len(records) for _, records in self._chunks)

    # Helpers.

    def _gradients_due(self, step: int) -> bool:
        return step % self.every == 0

    def _curvature_due(self, step: int) -> bool:
        return self.curvature_every is not None and step % self.curvature_every == 0

    def _layout_for(self, model: nn.Module) -> ParameterLayout:
        parameters = self._parameters if self._parameters is not None else _default_parameters(model)
        key = (id(model), *map(id, parameters))
        if self._layout is None or self._layout_key != key:
            self._layout = ParameterLayout(model, parameters)
            self._layout_key = key
            self._pcgrad_columns = {}
        return self._layout

    def _tasks_of(self, batch: Batch, losses: Sequence[Tensor]) -> list[int]:
        if self.tasks is not None:
            if len(self.tasks) != len(losses):
                raise ValueError(f"the step has {len(losses)} task losses but the recorder's tasks are {self.tasks}")
            return self.tasks
        targets = batch[1]
        if len(losses) != len(targets):
            raise ValueError(
                f"the step trains {len(losses)} of the batch's {len(targets)} tasks; pass tasks= to "
                "TriadRecorder with the tasks given to fit"
            )
        return list(range(len(losses)))

    def _from_pcgrad(self, pcgrad: PCGrad | None, layout: ParameterLayout, num_tasks: int) -> tuple[Tensor, Tensor] | None:
        """Return PCGrad's gradients before and after projection in the layout's columns, if usable."""
        if pcgrad is None or pcgrad.last_gradients is None or pcgrad.last_projected is None:
            return None
        if id(pcgrad.last_gradients) == self._last_pcgrad_matrix:
            logger.warning("PCGrad's last_gradients did not change since the previous record; set keep_gradients=True")
            return None
        if pcgrad.last_gradients.shape[0] != num_tasks:
            return None

        columns = self._pcgrad_column_index(pcgrad, layout)
        if columns is None:
            return None
        self._last_pcgrad_matrix = id(pcgrad.last_gradients)
        columns = columns.to(pcgrad.last_gradients.device)
        before = pcgrad.last_gradients.index_select(1, columns).double()
        after = pcgrad.last_projected.index_select(1, columns).double()
        return before, after

    def _pcgrad_column_index(self, pcgrad: PCGrad, layout: ParameterLayout) -> Tensor | None:
        projected = pcgrad.shared_parameters
        key = (id(pcgrad), len(projected))
        if key not in self._pcgrad_columns:
            offsets = {}
            offset = 0
            for parameter in projected:
                offsets[id(parameter)] = offset
                offset += parameter.numel()
            missing = [entry.name for entry in layout.entries if id(entry.parameter) not in offsets]
            if missing:
                logger.warning(
                    "PCGrad does not project the recorded parameters %s; the recorder computes the task "
                    "gradients itself and records no 'after' stage",
                    missing[:3],
                )
                self._pcgrad_columns[key] = None
            else:
                parts = [
                    torch.arange(offsets[id(p)], offsets[id(p)] + size) for p, size in zip(layout.parameters, layout.sizes)
                ]
                self._pcgrad_columns[key] = torch.cat(parts)
        return self._pcgrad_columns[key]

    def _append(self, records: list[Record]) -> None:
        if not records:
            return
        if self._chunks and self._chunks[-1][0] == self._context:
            self._chunks[-1][1].extend(records)
        else:
            self._chunks.append((dict(self._context), records))


def measure_triad(
    model: nn.Module,
    batch: Batch,
    loss_fn: LossFunction = F.cross_entropy,
    *,
    parameters: Iterable[nn.Parameter] | None = None,
    tasks: Sequence[int] | None = None,
    projection: bool = False,
    curvature: bool = True,
    quadrature_points: int = 2,
    lr: float = DEFAULT_LR,
    train: bool = True,
    seed: int = 0,
    context: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Measure the tragic triad of ``model`` on one batch, outside training.

    Returns the table that :class:`TriadRecorder` records for one step, with ``epoch`` and
    ``step`` 0. The model is run with :func:`torch.func.functional_call` on copies of its
    buffers, so nothing of the model changes: not its weights, ``.grad``, batch
    normalisation statistics or train/eval flags, and no random generator advances.

    Args:
        model: a multi-task model with ``forward(x, task)`` and, optionally, ``forward_all(x)``.
        batch: ``(x, (y_0, y_1, ...))``.
        loss_fn: loss of one task, ``loss_fn(logits, target)``.
        parameters: parameters to measure; default ``model.shared_parameters()``.
        tasks: tasks to measure; default every task of ``batch``.
        projection: also record stage ``"after"``: the task gradients after PCGrad's
            projection (:func:`mtllib.project_conflicting` on the measured parameters, the
            visiting orders drawn from a generator seeded with ``seed``).
        curvature: also record the curvature rows.
        quadrature_points, lr: as for :class:`TriadRecorder`.
        train: run the model in training mode, where normalisation layers use batch
            statistics as in the training loss, or in evaluation mode.
        seed: seed of the projection's visiting orders.
        context: values stamped on every row.
    """
    gauss_legendre(quadrature_points)
    lr = _check_lr(lr)
    parameters = _default_parameters(model) if parameters is None else list(parameters)
    layout = ParameterLayout(model, parameters)
    targets = batch[1]
    tasks = list(range(len(targets))) if tasks is None else [int(t) for t in tasks]
    names = [entry.name for entry in layout.entries]

    modes = [(module, module.training) for module in model.modules()]
    model.train(train)
    try:
        with preserved_rng(model):
            losses = functional_task_losses(model, batch, loss_fn, tasks, names)(layout.parameters)
            per_task = [
                torch.autograd.grad(losses[index], layout.parameters, retain_graph=index < len(tasks) - 1, allow_unused=True)
                for index in range(len(tasks))
            ]
        before = layout.flatten(per_task)

        records = _records(0, 0, BEFORE, gradient_rows(before, layout, tasks))
        if projection:
            generator = torch.Generator().manual_seed(seed)
            after = project_conflicting(before, generator=generator, reduction="none")
            records += _records(0, 0, AFTER, gradient_rows(after, layout, tasks))
        if curvature:
            rows = curvature_rows(model, batch, loss_fn, tasks, layout, before, lr, quadrature_points)
            records += _records(0, 0, BEFORE, rows)
    finally:
        for module, mode in modes:
            module.training = mode

    return build_frame([(check_context(context), records)])
