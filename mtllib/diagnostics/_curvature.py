"""The curvature term of the tragic triad, by Hessian-vector products and Gauss–Legendre quadrature.

Yu et al. ("Gradient Surgery for Multi-Task Learning", NeurIPS 2020, Definition 4) define the
multi-task curvature between parameters θ and θ' as

    H(L; θ, θ') = ∫₀¹ ∇L(θ)ᵀ ∇²L(θ + a(θ' − θ)) ∇L(θ) da.

Here θ' = θ − lr·g with g = ∇L(θ), the plain gradient of the summed task losses. That is one
step of gradient descent, not the optimizer's real update, because an observer runs before
Adam's step and cannot see it. Each integrand value is a Hessian-vector product by double
backward. The integral is an n-point Gauss–Legendre rule on [0, 1], which is exact when the
integrand is a polynomial in a of degree at most 2n − 1. For a quadratic loss the integrand
is constant, so any n is exact.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call

from .._tasks import LossFunction

__all__ = ["directional_curvature", "gauss_legendre"]



def gauss_legendre(points: int) -> tuple[list[float], list[float]]:
    """Return the nodes and weights of the ``points``-point Gauss–Legendre rule on [0, 1].

    The weights sum to 1. One point is the midpoint rule.
    """
    if isinstance(points, bool) or not isinstance(points, int) or points < 1:
        raise ValueError(f"quadrature_points must be a positive int, got {points!r}")
    nodes, weights = np.polynomial.legendre.leggauss(points)
    return ((nodes + 1.0) / 2.0).tolist(), (weights / 2.0).tolist()


def directional_curvature(
    loss: Callable[[list[Tensor]], Tensor],
    parameters: Sequence[Tensor],
    direction: Sequence[Tensor],
    *,
    lr: float,
    quadrature_points: int = 2,
) -> float:
    """Approximate the multi-task curvature H(L; θ, θ − lr·g) of Yu et al. (2020) along ``direction``.

    Computes Σ_k w_k · gᵀ ∇²L(θ − a_k·lr·g) g over the Gauss–Legendre nodes a_k and weights
    w_k on [0, 1], where g is ``direction`` (normally ∇L(θ)). Every term is one forward pass
    and two backward passes at shifted copies of the parameters; ``parameters`` themselves
    are not touched.

    Args:
        loss: computes the scalar loss from a list of tensors that take the place of
            ``parameters``, in the same order.
        parameters: the current values θ.
        direction: g, one tensor per parameter with the same shape.
        lr: step size of θ' = θ − lr·g; 0 gives gᵀ∇²L(θ)g.
        quadrature_points: n of the Gauss–Legendre rule.

    Returns:
        The curvature in loss units; divide by ‖g‖² for the curvature per unit step.

    Example:
        >>> import torch
        >>> from mtllib.diagnostics import directional_curvature
        >>> A = torch.tensor([[2.0, 0.0], [0.0, 4.0]])
        >>> theta = torch.tensor([1.0, 1.0])
        >>> g = A @ theta
        >>> directional_curvature(lambda p: 0.5 * p[0] @ A @ p[0], [theta], [g], lr=0.1)
        72.0
    """
    if not isinstance(lr, (int, float)) or isinstance(lr, bool) or not np.isfinite(lr) or lr < 0:
        raise ValueError(f"lr must be a finite number >= 0, got {lr!r}")
    parameters = list(parameters)
    direction = [d.detach() for d in direction]
    if len(direction) != len(parameters):
        raise ValueError(f"direction must have one tensor per parameter ({len(parameters)}), got {len(direction)}")
    for index, (parameter, step) in enumerate(zip(parameters, direction)):
        if parameter.shape != step.shape:
            raise ValueError(
                f"direction[{index}] must have the shape of its parameter {tuple(parameter.shape)}, got {tuple(step.shape)}"
            )

    nodes, weights = gauss_legendre(quadrature_points)
    total = 0.0
    for node, weight in zip(nodes, weights):
        shifted = [
            (p.detach() - (node * lr) * d.to(p.dtype)).requires_grad_(True) for p, d in zip(parameters, direction)
        ]
        value = loss(shifted)
        gradients = torch.autograd.grad(value, shifted, create_graph=True, allow_unused=True)
        slope = _inner(gradients, direction)
        if slope is None or not slope.requires_grad:
            continue  # the loss is at most linear in these parameters: no curvature
        hessian_direction = torch.autograd.grad(slope, shifted, allow_unused=True)
        term = _inner(hessian_direction, direction)
        if term is not None:
            total += weight * float(term)
    return total


def _inner(tensors: Sequence[Tensor | None], direction: Sequence[Tensor]) -> Tensor | None:
    parts = [(t * d.to(t.dtype)).sum() for t, d in zip(tensors, direction) if t is not None]
    if not parts:
        return None
    return torch.stack([part.double() for part in parts]).sum()


class TaskLosses(nn.Module):
    """Per-task losses of a model on a batch, computed as :func:`mtllib.training_step` does.

    A wrapper that :func:`torch.func.functional_call` can run with parameters and buffers
    swapped out. The wrapped model stays as it is.
    """

    def __init__(self, model: nn.Module, loss_fn: LossFunction, tasks: Sequence[int]) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn
        self.tasks = list(tasks)

    def forward(self, x: Tensor, targets: Sequence[Tensor]) -> Tensor:
        model = self.model
        if hasattr(model, "forward_all") and len(self.tasks) == getattr(model, "num_tasks", -1):
            logits = model.forward_all(x)
        else:
            logits = {task: model(x, task) for task in self.tasks}
        return torch.stack([self.loss_fn(logits[task], targets[task]) for task in self.tasks])


def functional_task_losses(
    model: nn.Module,
    batch: tuple[Tensor, Sequence[Tensor]],
    loss_fn: LossFunction,
    tasks: Sequence[int],
    names: Sequence[str],
) -> Callable[[Sequence[Tensor]], Tensor]:
    """Return a function of replacement values for the parameters ``names`` that computes the task losses.

    Every call runs the model with :func:`torch.func.functional_call` on copies of all its
    buffers, so batch normalisation running statistics of ``model`` do not change. Other
    parameters keep their current values.
    """
    wrapper = TaskLosses(model, loss_fn, tasks)
    x, targets = batch
    keys = [f"model.{name}" for name in names]

    def losses(values: Sequence[Tensor]) -> Tensor:
        state = {f"model.{name}": buffer.clone() for name, buffer in model.named_buffers()}
        state.update(zip(keys, values))
        return functional_call(wrapper, state, (x, targets))

    return losses


@contextlib.contextmanager
def preserved_rng(model: nn.Module) -> Iterator[None]:
    """Restore the CPU generator, and the CUDA generators of the model's devices, on exit.

    A model with dropout draws random numbers in every forward pass. The restore keeps the
    extra forward passes of the curvature out of training's random stream.
    """
    devices = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices):
        yield
