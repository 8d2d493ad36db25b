"""Small models and batches for the diagnostics tests."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from methods_helpers import random_batches  # noqa: F401 - re-exported for the diagnostics tests
from mtllib import LeafNet, TrainConfig

SMALL = {"channels": (4, 8), "hidden": (16,)}
"""A LeafNet small enough for tests: two blocks and one shared fully connected layer."""


def small_config(**changes: object) -> TrainConfig:
    return TrainConfig(**{**SMALL, **changes})


def small_leafnet(num_classes: Sequence[int] = (12, 2), *, image_size: int = 16, seed: int = 0, **flags: bool) -> LeafNet:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LeafNet(num_classes, SMALL["channels"], SMALL["hidden"], image_size=image_size, **flags)


def task_gradients(model: nn.Module, batch, parameters: Sequence[nn.Parameter], loss_fn=nn.functional.cross_entropy) -> list[Tensor]:
    """Return each task's flattened float64 gradient of ``parameters``, computed the plain way."""
    x, targets = batch
    gradients = []
    for task, target in enumerate(targets):
        loss = loss_fn(model(x, task), target)
        parts = torch.autograd.grad(loss, list(parameters), allow_unused=True)
        gradients.append(
            torch.cat([torch.zeros(p.numel()) if g is None else g.reshape(-1) for p, g in zip(parameters, parts)]).double()
        )
    return gradients


class QuadraticModel(nn.Module):
    """A "model" whose output is its parameter vector θ, so a loss can be any function of θ.

    With :func:`quadratic_loss` and targets (A_0, A_1, ...), task t's loss is ½ θᵀA_tθ.
    """

    def __init__(self, theta: Tensor, num_tasks: int = 2) -> None:
        super().__init__()
        self.theta = nn.Parameter(theta.clone())
        self.num_tasks = num_tasks

    def forward(self, x: Tensor, task: int) -> Tensor:
        return self.theta

    def shared_parameters(self):
        yield self.theta


def quadratic_loss(theta: Tensor, matrix: Tensor) -> Tensor:
    return 0.5 * theta @ matrix @ theta


class DropoutNet(nn.Module):
    """A generic two-task model with dropout and batch normalisation, and no shared_parameters()."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5))
        self.heads = nn.ModuleList([nn.Linear(8, 3), nn.Linear(8, 2)])

    def forward(self, x: Tensor, task: int) -> Tensor:
        return self.heads[task](self.trunk(x))


def dropout_batches(count: int = 3, seed: int = 0) -> list[tuple[Tensor, tuple[Tensor, Tensor]]]:
    generator = torch.Generator().manual_seed(seed)
    return [
        (torch.randn(10, 6, generator=generator), (torch.randint(0, 3, (10,), generator=generator), torch.randint(0, 2, (10,), generator=generator)))
        for _ in range(count)
    ]
