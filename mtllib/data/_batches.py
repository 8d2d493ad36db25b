"""Mini-batches drawn from an in-memory uint8 image tensor by index permutation."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

__all__ = ["Batches"]


class Batches:
    """Mini-batches of images and labels for one pass over ``indices``; iterate once per epoch.

    Each iteration yields ``(x, (y_0, y_1, ...))``. ``x`` is float32 in [0, 1] with shape
    B x 3 x S x S in ``torch.channels_last`` memory format on ``device``. The ``y_t`` are the
    int64 labels of each task on ``device``. Batches are gathered with one indexing operation
    per tensor, so there is no per-image Python work.

    Args:
        images: uint8 tensor N x C x S x S. It may already be on ``device``, and then it is not
            copied. Otherwise each batch is gathered where the images are and then moved.
        targets: one int64 label tensor of length N per task.
        indices: the images to draw from, for example one fold's training indices.
        batch_size: images per batch, at least 1. The last batch is smaller unless
            ``drop_last``.
        shuffle: draw a new order for every iteration with ``torch.randperm(generator=...)``.
            Without it the batches follow ``indices`` in order.
        generator: CPU torch.Generator for the order. None uses torch's global generator.
        device: where batches go; default: the device of ``images``.
        drop_last: leave out a last batch smaller than ``batch_size``.
    """

    def __init__(
        self,
        images: Tensor,
        targets: Sequence[Tensor],
        indices: Tensor | Sequence[int],
        batch_size: int,
        *,
        shuffle: bool,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        drop_last: bool = False,
    ) -> None:
        if not isinstance(images, Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
            found = f"{images.dtype} {tuple(images.shape)}" if isinstance(images, Tensor) else type(images).__name__
            raise ValueError(f"images must be a uint8 tensor of shape N x C x S x S, got {found}")
        count = images.shape[0]
        targets = tuple(targets)
        for task, labels in enumerate(targets):
            if not isinstance(labels, Tensor) or labels.dtype != torch.int64 or labels.shape != (count,):
                found = f"{labels.dtype} {tuple(labels.shape)}" if isinstance(labels, Tensor) else type(labels).__name__
                raise ValueError(f"targets[{task}] must be an int64 tensor of length {count}, got {found}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if generator is not None and generator.device.type != "cpu":
            raise ValueError(f"generator must be a CPU torch.Generator, got one on {generator.device}")

        index = torch.as_tensor(indices, dtype=torch.int64).reshape(-1).cpu()
        if index.numel() and (int(index.min()) < 0 or int(index.max()) >= count):
            raise ValueError(
                f"indices must be in [0, {count - 1}], got values from {int(index.min())} to {int(index.max())}"
            )

        self.images = images
        self.targets = targets
        self.indices = index
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.device = torch.device(device) if device is not None else images.device
        self.drop_last = drop_last

    def __len__(self) -> int:
        if self.drop_last:
            return self.indices.numel() // self.batch_size
        return math.ceil(self.indices.numel() / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, tuple[Tensor, ...]]]:
        order = self.indices
        if self.shuffle:
            order = order[torch.randperm(order.numel(), generator=self.generator)]
        for batch in range(len(self)):
            chosen = order[batch * self.batch_size : (batch + 1) * self.batch_size]
            pixels = self.images.index_select(0, chosen.to(self.images.device)).to(self.device, non_blocking=True)
            x = pixels.to(torch.float32).div_(255.0).contiguous(memory_format=torch.channels_last)
            labels = tuple(
                task_labels.index_select(0, chosen.to(task_labels.device)).to(self.device, non_blocking=True)
                for task_labels in self.targets
            )
            yield x, labels
