"""Small generated data sets for the tests of the methods."""

from __future__ import annotations

import torch
from torch import Tensor


def random_batches(
    count: int = 2, batch_size: int = 8, num_classes: tuple[int, ...] = (12, 2), image_size: int = 64, seed: int = 0
) -> list[tuple[Tensor, tuple[Tensor, ...]]]:
    """Return a re-iterable list of batches ``(x, (y_0, y_1, ...))`` of random images."""
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(count):
        x = torch.rand(batch_size, 3, image_size, image_size, generator=generator)
        targets = tuple(torch.randint(0, n, (batch_size,), generator=generator) for n in num_classes)
        batches.append((x.contiguous(memory_format=torch.channels_last), targets))
    return batches
