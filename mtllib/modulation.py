"""Modulation Module: per-task channel scales after a convolution (Zhao et al., ECCV 2018)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ._tasks import check_positive_int, check_task

__all__ = ["Modulation"]


class Modulation(nn.Module):
    """Scale each channel by a learned weight of the current task.

    Implements the Modulation Module of Zhao et al., "A Modulation Module for Multi-task
    Learning with Applications in Image Retrieval", ECCV 2018. The layer holds a T×C weight
    matrix W initialised to ones; for task t it multiplies channel c at every position by
    W[t, c]. Only row t takes part in task t's forward pass, so task t's loss puts gradient on
    row t alone, and each task needs its own forward pass through the layers that follow.

    Place it after the normalisation that follows a convolution: batch normalisation
    divides every channel by its own scale, so a modulation placed before it would cancel.

    Args:
        num_tasks: number of tasks T.
        channels: number of channels C of the input.

    Example:
        >>> import torch
        >>> from mtllib import Modulation
        >>> layer = Modulation(num_tasks=2, channels=3)
        >>> with torch.no_grad():
        ...     layer.weight[1] = torch.tensor([1.0, 2.0, 3.0])
        >>> layer(torch.ones(1, 3, 2, 2), task=1)[0, :, 0, 0]
        tensor([1., 2., 3.], grad_fn=<SelectBackward0>)
    """

    def __init__(self, num_tasks: int, channels: int) -> None:
        super().__init__()
        self.num_tasks = check_positive_int("num_tasks", num_tasks)
        self.channels = check_positive_int("channels", channels)
        self.weight = nn.Parameter(torch.ones(num_tasks, channels))

    def forward(self, x: Tensor, task: int) -> Tensor:
        """Scale channel c of ``x`` (shape N×C×…) by ``weight[task, c]``."""
        task = check_task(task, self.num_tasks)
        if x.dim() < 2 or x.shape[1] != self.channels:
            raise ValueError(
                f"x must have shape (N, {self.channels}, ...), got {tuple(x.shape)}"
            )
        scale = self.weight[task].view(1, self.channels, *([1] * (x.dim() - 2)))
        return x * scale

    def extra_repr(self) -> str:
        return f"num_tasks={self.num_tasks}, channels={self.channels}"
