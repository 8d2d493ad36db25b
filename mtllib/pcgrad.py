"""PCGrad: projecting conflicting gradients (Yu et al., NeurIPS 2020)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Literal

import torch
from torch import Tensor, nn

__all__ = ["PCGrad", "project_conflicting", "pcgrad_weights"]

logger = logging.getLogger(__name__)

Reduction = Literal["sum", "mean", "none"]
Mode = Literal["shared", "wrapper"]

_REDUCTIONS = ("sum", "mean", "none")
_MODES = ("shared", "wrapper")


def _check_reduction(reduction: str, allowed: Sequence[str] = _REDUCTIONS) -> None:
    if reduction not in allowed:
        raise ValueError(f"reduction must be one of {', '.join(map(repr, allowed))}, got {reduction!r}")


def _check_generator(generator: torch.Generator | None) -> None:
    if generator is not None and generator.device.type != "cpu":
        raise ValueError(
            f"generator must be a CPU torch.Generator, got one on {generator.device}; "
            "the visiting order is drawn on the CPU whatever the gradients' device"
        )


def _gramian(grads: Tensor) -> tuple[Tensor, Tensor | None]:
    """Return the Gramian of the rows of ``grads`` and the row scales it was computed with.

    The fast path multiplies the rows as they are and returns no scales. A squared norm can
    underflow to zero or a subnormal number, or an entry can overflow. Then the rows are first
    divided by their largest absolute entry in float64, so that tiny and huge gradients still
    give exact signs and finite projection coefficients.
    """
    compute = grads if grads.dtype in (torch.float32, torch.float64) else grads.float()
    gramian = compute @ compute.T
    diagonal = gramian.diagonal()
    tiny = torch.finfo(gramian.dtype).tiny
    if bool(torch.isfinite(gramian).all()) and not bool(((diagonal < tiny) & (diagonal != 0)).any()):
        zero_rows = diagonal == 0
        if not bool(zero_rows.any()) or not bool(compute[zero_rows].any()):
            gramian = gramian.double().cpu()
            if not _subnormal_coefficients(gramian):
                return gramian, None

    scales = _row_scales(grads)
    scaled = grads.double() / scales[:, None]
    return (scaled @ scaled.T).cpu(), scales.cpu()


def _subnormal_coefficients(gramian: Tensor) -> bool:
    """Return whether a projection coefficient g_i·g_j / ‖g_j‖² of a nonzero g_i·g_j underflows.

    An underflowing coefficient is zero or subnormal, with few significant digits, and would
    leave part of a conflict after the projection. Rows of very different scales cause it,
    and the scaled path of :func:`_gramian` avoids it.
    """
    # The T×T Gramian is small: plain Python is faster here than a few tensor operations.
    gram = gramian.tolist()
    tiny = torch.finfo(torch.float64).tiny
    for row in gram:
        for j, product in enumerate(row):
            squared_norm = gram[j][j]
            if product != 0.0 and squared_norm > 0.0 and abs(product / squared_norm) < tiny:
                return True
    return False


def _row_scales(grads: Tensor) -> Tensor:
    scales = grads.abs().amax(dim=1).double()
    return torch.where(scales > 0, scales, torch.ones_like(scales))


def _visiting_orders(num_tasks: int, generator: torch.Generator | None) -> list[list[int]]:
    """Draw, for every task i, a random order of the other tasks."""
    orders = []
    for i in range(num_tasks):
        others = [j for j in range(num_tasks) if j != i]
        permutation = torch.randperm(len(others), generator=generator).tolist()
        orders.append([others[p] for p in permutation])
    return orders


def pcgrad_weights(gramian: Tensor, orders: Sequence[Sequence[int]], scales: Tensor | None = None) -> Tensor:
    """Compute PCGrad's projected gradients as combinations of the rows of the Gramian.

    Let b_k be the rows the Gramian was computed from: the gradients g_k themselves, or
    g_k / scales[k] when ``scales`` is given. Row i of the returned T×T float64 matrix A
    holds the coefficients of task i's projected gradient, g_i' = sum_k A[i, k] b_k. It
    follows Algorithm 1 of Yu et al. (2020) in this space of coefficients: for each j in
    ``orders[i]``, if g_i'·g_j < 0 then g_i' -= (g_i'·g_j / ‖g_j‖²) g_j, always against the
    original g_j. A task whose gradient is zero is never projected against, so no division
    by zero happens.
    """
    gram = gramian.double().cpu().tolist()
    num_tasks = len(gram)
    row_scales = [1.0] * num_tasks if scales is None else scales.double().cpu().tolist()

    weights = [[0.0] * num_tasks for _ in range(num_tasks)]
    for i in range(num_tasks):
        # Projection is linear in g_i, so the steps run on b_i itself and the scale of row i
        # multiplies the coefficients only at the end. Multiplying first could turn a tiny
        # scale times a small coefficient into a subnormal number with few significant digits.
        coefficients = weights[i]
        coefficients[i] = 1.0

        for j in orders[i]:
            squared_norm = gram[j][j]
            if squared_norm <= 0.0:
                continue
            inner_product = sum(coefficients[k] * gram[k][j] for k in range(num_tasks))
            if inner_product < 0.0:
                coefficients[j] -= inner_product / squared_norm

        weights[i] = [row_scales[i] * coefficient for coefficient in coefficients]

    return torch.tensor(weights, dtype=torch.float64)


def _combine(weights: Tensor, grads: Tensor, scales: Tensor | None, reduction: Reduction) -> Tensor:
    """Apply the coefficient matrix to the Gramian's rows and reduce over tasks."""
    if reduction == "sum":
        weights = weights.sum(dim=0, keepdim=True)
    elif reduction == "mean":
        weights = weights.mean(dim=0, keepdim=True)

    if scales is None:
        compute = grads if grads.dtype in (torch.float32, torch.float64) else grads.float()
        combined = weights.to(device=grads.device, dtype=compute.dtype) @ compute
    else:
        scaled = grads.double() / scales.to(grads.device)[:, None]
        combined = weights.to(device=grads.device) @ scaled
    combined = combined.to(grads.dtype)
    return combined if reduction == "none" else combined[0]


def project_conflicting(
    grads: Tensor,
    *,
    generator: torch.Generator | None = None,
    reduction: Reduction = "sum",
) -> Tensor:
    """Combine task gradients by projecting away their conflicting components.

    Implements PCGrad, Algorithm 1 of Yu et al., "Gradient Surgery for Multi-Task Learning",
    NeurIPS 2020. Every task gradient g_i visits the other tasks j in a random order and,
    whenever g_i·g_j < 0, loses its component along the original g_j. The projected
    gradients are then summed (``"sum"``, the update of Yu et al.), averaged (``"mean"``)
    or returned as they are (``"none"``).

    Args:
        grads: T×P matrix with one task gradient per row.
        generator: CPU generator for the visiting orders; ``None`` uses torch's global
            generator.
        reduction: ``"sum"``, ``"mean"`` or ``"none"``.

    Returns:
        A vector of length P (a T×P matrix for ``"none"``) with the dtype and device of
        ``grads``.

    Example:
        >>> import torch
        >>> from mtllib.pcgrad import project_conflicting
        >>> project_conflicting(torch.tensor([[1.0, 0.0], [-1.0, 1.0]]))
        tensor([0.5000, 1.5000])
    """
    if not isinstance(grads, Tensor) or grads.dim() != 2:
        shape = tuple(grads.shape) if isinstance(grads, Tensor) else type(grads).__name__
        raise ValueError(f"grads must be a 2-D tensor of shape (tasks, parameters), got {shape}")
    if not grads.is_floating_point():
        raise ValueError(f"grads must have a floating-point dtype, got {grads.dtype}")
    if grads.shape[0] == 0:
        raise ValueError("grads must have at least one row (one task), got 0 rows")
    _check_reduction(reduction)
    _check_generator(generator)

    gramian, scales = _gramian(grads)
    orders = _visiting_orders(grads.shape[0], generator)
    weights = pcgrad_weights(gramian, orders, scales)
    return _combine(weights, grads, scales, reduction)


class PCGrad:
    """Train with PCGrad: per-task gradients, projected on the shared parameters.

    Implements Algorithm 1 of Yu et al., "Gradient Surgery for Multi-Task Learning",
    NeurIPS 2020, around any ``torch.optim.Optimizer``. :meth:`backward` takes one loss per
    task and writes into ``.grad``:

    * ``mode="shared"`` (default, the rule of Yu et al.): the shared parameters get the
      projected task gradients combined by ``reduction``. Every other parameter of the
      optimizer gets the sum of the task gradients that reach it. For a task-specific
      parameter (a head, a task's row of modulation weights) that is its own task's gradient.
    * ``mode="wrapper"``: reproduces the open-source wrapper WeiChengTseng/Pytorch-PCGrad
      (``pcgrad.py`` at commit e987ac6). It projects the flattened gradients of *all* the
      optimizer's parameters, heads included, then averages the entries that every task
      reaches and sums the others. The heads then receive corrections from the other
      tasks, and the squared norms of the heads shrink the projection of the shared part.
      NOTE: that wrapper averages for any non-empty ``reduction``, ``'sum'`` included
      (it tests ``if self._reduction:``); here ``reduction="sum"`` really sums.

    Gradients are accumulated into ``.grad`` like ``Tensor.backward`` does, keep each
    parameter's dtype, and the autograd graph is freed after the last task.

    Args:
        optimizer: the optimizer whose parameters receive gradients.
        shared_parameters: parameters that several tasks share; required for
            ``mode="shared"``, ignored by ``mode="wrapper"``.
        mode: ``"shared"`` or ``"wrapper"``.
        reduction: ``"sum"`` or ``"mean"`` over the shared part; ``None`` picks ``"sum"``
            for ``"shared"`` and ``"mean"`` for ``"wrapper"``.
        seed: seed of the generator that draws the visiting orders.
        keep_gradients: keep the last per-task gradients of the projected parameters
            (T×P) before projection in :attr:`last_gradients` and after it in
            :attr:`last_projected`, for diagnostics.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        shared_parameters: Iterable[nn.Parameter] | None = None,
        *,
        mode: Mode = "shared",
        reduction: Literal["sum", "mean"] | None = None,
        seed: int = 0,
        keep_gradients: bool = False,
    ) -> None:
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {', '.join(map(repr, _MODES))}, got {mode!r}")
        if reduction is None:
            reduction = "sum" if mode == "shared" else "mean"
        _check_reduction(reduction, ("sum", "mean"))

        self.optimizer = optimizer
        self.mode: Mode = mode
        self.reduction = reduction
        self.keep_gradients = keep_gradients
        self.generator = torch.Generator().manual_seed(seed)
        self.last_gradients: Tensor | None = None
        self.last_projected: Tensor | None = None

        self._parameters = [p for group in optimizer.param_groups for p in group["params"] if p.requires_grad]
        if mode == "shared":
            if shared_parameters is None:
                raise ValueError(
                    "shared_parameters is required for mode='shared': pass the parameters "
                    "that several tasks share, for example model.shared_parameters()"
                )
            shared = list(shared_parameters)
            optimizer_ids = {id(p) for p in self._parameters}
            outside = [tuple(p.shape) for p in shared if id(p) not in optimizer_ids]
            if outside:
                raise ValueError(
                    f"shared_parameters contains {len(outside)} parameter(s) that the optimizer "
                    f"does not update (shapes {outside[:3]}); add them to the optimizer"
                )
            if not shared:
                raise ValueError("shared_parameters is empty; PCGrad needs at least one shared parameter")
            shared_ids = {id(p) for p in shared}
            self._shared = [p for p in self._parameters if id(p) in shared_ids]
            self._specific = [p for p in self._parameters if id(p) not in shared_ids]
        else:
            self._shared = []
            self._specific = []

    @property
    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters whose task gradients are projected (all of them in ``"wrapper"`` mode)."""
        return list(self._shared) if self.mode == "shared" else list(self._parameters)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of the wrapped optimizer."""
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self, closure=None):  # noqa: ANN001, ANN201 - same signature as Optimizer.step
        """Take an optimizer step with the gradients written by :meth:`backward`."""
        return self.optimizer.step(closure)

    def state_dict(self) -> dict:
        """Return the optimizer's state and the generator's state."""
        return {"optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])

    def _task_gradients(self, losses: Sequence[Tensor], parameters: list[nn.Parameter]) -> list[tuple[Tensor | None, ...]]:
        gradients = []
        for t, loss in enumerate(losses):
            last = t == len(losses) - 1
            gradients.append(torch.autograd.grad(loss, parameters, retain_graph=not last, allow_unused=True))
        return gradients

    def backward(self, losses: Sequence[Tensor]) -> None:
        """Compute each task's gradient, project the conflicts and write ``.grad``.

        Args:
            losses: one scalar loss per task, all computed from the same forward graph or
                from separate ones.
        """
        losses = list(losses)
        if not losses:
            raise ValueError("losses must contain one scalar loss per task, got an empty sequence")
        for t, loss in enumerate(losses):
            if not isinstance(loss, Tensor) or loss.numel() != 1:
                shape = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
                raise ValueError(f"losses[{t}] must be a scalar tensor, got {shape}")

        if self.mode == "shared":
            self._backward_shared(losses)
        else:
            self._backward_wrapper(losses)

    def _backward_shared(self, losses: list[Tensor]) -> None:
        parameters = self._shared + self._specific
        gradients = self._task_gradients(losses, parameters)
        num_shared = len(self._shared)

        matrix = _flatten([g[:num_shared] for g in gradients], self._shared)
        combined = self._project(matrix)
        _accumulate(self._shared, combined)

        for index, parameter in enumerate(self._specific, start=num_shared):
            parts = [g[index] for g in gradients if g[index] is not None]
            if parts:
                _add_grad(parameter, torch.stack(parts).sum(dim=0) if len(parts) > 1 else parts[0])

    def _backward_wrapper(self, losses: list[Tensor]) -> None:
        parameters = self._parameters
        gradients = self._task_gradients(losses, parameters)
        matrix = _flatten(gradients, parameters)

        projected = self._project(matrix, reduction="none")

        # The wrapper's "shared" entries are those of parameters that every task reaches.
        reached = [all(g[index] is not None for g in gradients) for index in range(len(parameters))]
        shared_mask = torch.cat(
            [torch.full((p.numel(),), flag, dtype=torch.bool, device=matrix.device) for p, flag in zip(parameters, reached)]
        )
        shared_part = projected.mean(dim=0) if self.reduction == "mean" else projected.sum(dim=0)
        combined = torch.where(shared_mask, shared_part, projected.sum(dim=0))
        _accumulate(parameters, combined)

    def _project(self, matrix: Tensor, reduction: Reduction | None = None) -> Tensor:
        gramian, scales = _gramian(matrix)
        orders = _visiting_orders(matrix.shape[0], self.generator)
        weights = pcgrad_weights(gramian, orders, scales)
        if self.keep_gradients:
            self.last_gradients = matrix.detach()
            self.last_projected = _combine(weights, matrix, scales, "none")
        return _combine(weights, matrix, scales, reduction or self.reduction)


def _flatten(gradients: Sequence[Sequence[Tensor | None]], parameters: Sequence[nn.Parameter]) -> Tensor:
    """Stack per-task gradients into a T×P matrix, with zeros where a task does not reach."""
    dtype = parameters[0].dtype
    for p in parameters[1:]:
        dtype = torch.promote_types(dtype, p.dtype)
    device = parameters[0].device

    total = sum(p.numel() for p in parameters)
    matrix = torch.zeros(len(gradients), total, dtype=dtype, device=device)
    for row, task_gradients in zip(matrix, gradients):
        offset = 0
        for parameter, gradient in zip(parameters, task_gradients):
            size = parameter.numel()
            if gradient is not None:
                row[offset : offset + size].copy_(gradient.reshape(-1))
            offset += size
    return matrix


def _accumulate(parameters: Sequence[nn.Parameter], combined: Tensor) -> None:
    offset = 0
    for parameter in parameters:
        size = parameter.numel()
        _add_grad(parameter, combined[offset : offset + size].view_as(parameter))
        offset += size


def _add_grad(parameter: nn.Parameter, gradient: Tensor) -> None:
    gradient = gradient.to(parameter.dtype)
    if parameter.grad is None:
        parameter.grad = gradient.clone()
    else:
        parameter.grad.add_(gradient)
