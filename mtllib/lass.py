"""LaSS: task-specific sub-networks found by magnitude pruning (Lin et al., ACL 2021)."""

from __future__ import annotations

import contextlib
import copy
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._tasks import LossFunction, check_positive_int, check_task

__all__ = [
    "MaskedLinear",
    "clear_masks",
    "find_masks",
    "keep_outside_masks",
    "magnitude_mask",
    "mask_overlap",
    "masked_layers",
    "set_masks",
]

logger = logging.getLogger(__name__)



def check_alpha(alpha: float) -> float:
    """Return ``alpha`` after checking that it is a pruning fraction in [0, 1)."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= float(alpha) < 1.0:
        raise ValueError(f"alpha must be a number in [0, 1), got {alpha!r}")
    return float(alpha)


def magnitude_mask(weight: Tensor, alpha: float) -> Tensor:
    """Mark the entries of ``weight`` that survive pruning the fraction ``alpha`` by magnitude.

    Step (3) of LaSS (Lin et al., "Learning Language Specific Sub-network for Multilingual
    Machine Translation", ACL 2021), per tensor: with k = floor(alpha · n) the k-th smallest
    absolute value is the threshold, and every entry at or below it is pruned, so ties at the
    threshold are pruned too and at least k entries go. ``alpha = 0`` keeps everything.

    Returns:
        A bool tensor of the shape of ``weight``, True for the entries kept.

    Example:
        >>> import torch
        >>> from mtllib.lass import magnitude_mask
        >>> magnitude_mask(torch.tensor([0.1, -3.0, 0.5, 2.0]), alpha=0.5)
        tensor([False,  True, False,  True])
    """
    alpha = check_alpha(alpha)
    if weight.numel() == 0:
        return torch.ones_like(weight, dtype=torch.bool)

    pruned = math.floor(alpha * weight.numel())
    if pruned == 0:
        return torch.ones_like(weight, dtype=torch.bool)

    magnitude = weight.detach().abs()
    threshold = magnitude.flatten().kthvalue(pruned).values
    return magnitude > threshold


class MaskedLinear(nn.Linear):
    """A fully connected layer whose weight matrix each task sees through its own mask.

    Before masks are set the layer is a plain ``nn.Linear`` shared by all tasks. After
    :meth:`set_masks`, task t computes ``x @ (W ⊙ M_t).T + b``: task t's gradient is zero
    outside M_t, and the bias is never masked. The masks are buffers, so they are saved and
    loaded with the model's ``state_dict``.
    """

    def __init__(self, in_features: int, out_features: int, num_tasks: int, bias: bool = True) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.num_tasks = check_positive_int("num_tasks", num_tasks)
        self.register_buffer("masks", torch.ones(num_tasks, out_features, in_features, dtype=torch.bool))
        self.register_buffer("masks_active", torch.tensor(False))

    @property
    def has_masks(self) -> bool:
        """Whether task masks are in use."""
        return bool(self.masks_active)

    def set_masks(self, masks: Tensor) -> None:
        """Use ``masks`` (T×out×in, bool) from now on."""
        expected = (self.num_tasks, self.out_features, self.in_features)
        if tuple(masks.shape) != expected:
            raise ValueError(f"masks must have shape {expected}, got {tuple(masks.shape)}")
        self.masks.copy_(masks.to(dtype=torch.bool, device=self.masks.device))
        self.masks_active.fill_(True)

    def clear_masks(self) -> None:
        """Go back to the unmasked layer shared by all tasks."""
        self.masks.fill_(True)
        self.masks_active.fill_(False)

    def forward(self, x: Tensor, task: int | None = None) -> Tensor:
        """Apply the layer as task ``task`` sees it; ``task`` is required once masks are set."""
        if not self.has_masks:
            return F.linear(x, self.weight, self.bias)
        if task is None:
            raise ValueError(
                "task is required: this layer has LaSS masks, so every task has its own weights; "
                f"pass task as an int in [0, {self.num_tasks - 1}]"
            )
        task = check_task(task, self.num_tasks)
        return F.linear(x, self.weight * self.masks[task], self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, num_tasks={self.num_tasks}"


def masked_layers(model: nn.Module) -> dict[str, MaskedLinear]:
    """Return the model's :class:`MaskedLinear` layers by qualified name."""
    return {name: module for name, module in model.named_modules() if isinstance(module, MaskedLinear)}


def _require_masked_layers(model: nn.Module) -> dict[str, MaskedLinear]:
    layers = masked_layers(model)
    if not layers:
        raise ValueError(
            f"{type(model).__name__} has no MaskedLinear layers; build it with LaSS enabled "
            "(for LeafNet: lass=True) or use mtllib.lass.MaskedLinear for its shared layers"
        )
    return layers


def set_masks(model: nn.Module, masks: dict[str, Tensor]) -> None:
    """Give every masked layer of ``model`` its T×out×in masks, by layer name."""
    layers = _require_masked_layers(model)
    missing = sorted(set(layers) - set(masks))
    unknown = sorted(set(masks) - set(layers))
    if missing or unknown:
        raise ValueError(
            f"masks must have one entry per masked layer {sorted(layers)}; "
            f"missing {missing}, unknown {unknown}"
        )
    for name, layer in layers.items():
        layer.set_masks(masks[name])


def clear_masks(model: nn.Module) -> None:
    """Remove the masks of every masked layer of ``model``."""
    for layer in masked_layers(model).values():
        layer.clear_masks()


def find_masks(
    model: nn.Module,
    data: Iterable[tuple[Tensor, Sequence[Tensor]]],
    tasks: Sequence[int] | None,
    alpha: float,
    finetune_epochs: int,
    *,
    lr: float = 5e-4,
    loss_fn: LossFunction = F.cross_entropy,
    optimizer_factory: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer] | None = None,
) -> dict[str, Tensor]:
    """Search each task's sub-network, steps (2) to (4) of LaSS.

    For each task t, a copy of ``model`` (θ0) is fine-tuned on task t alone for
    ``finetune_epochs`` passes over ``data``; then every masked weight matrix of that copy is
    pruned by :func:`magnitude_mask` with ``alpha``, and the survivors form M_t. ``model``
    itself is not changed: continue joint training from it with :func:`set_masks`, step (5).
    The length of the fine-tuning in step (2) is a free choice; LaSS (Lin et al., ACL 2021)
    fine-tunes for a fixed budget of steps per language pair.

    Args:
        model: the jointly trained model θ0, with :class:`MaskedLinear` layers; its forward
            takes ``(x, task)``.
        data: re-iterable batches ``(x, (y_0, y_1, ...))``; one pass is one epoch.
        tasks: tasks to search masks for; ``None`` means every task of the masked layers.
            Tasks left out keep an all-true mask.
        alpha: pruning fraction per tensor, in [0, 1).
        finetune_epochs: epochs of fine-tuning per task, 0 or more.
        lr: learning rate of the default optimizer, Adam.
        loss_fn: loss of one task, ``loss_fn(logits, target)``.
        optimizer_factory: builds the fine-tuning optimizer from parameters; default Adam.

    Returns:
        Layer name to T×out×in bool tensor, on the layers' device.
    """
    alpha = check_alpha(alpha)
    if isinstance(finetune_epochs, bool) or not isinstance(finetune_epochs, int) or finetune_epochs < 0:
        raise ValueError(f"finetune_epochs must be an int >= 0, got {finetune_epochs!r}")
    layers = _require_masked_layers(model)
    num_tasks = next(iter(layers.values())).num_tasks
    tasks = list(range(num_tasks)) if tasks is None else [check_task(t, num_tasks) for t in tasks]

    masks = {name: torch.ones_like(layer.masks) for name, layer in layers.items()}
    for task in tasks:
        candidate = copy.deepcopy(model)
        clear_masks(candidate)
        _finetune(candidate, data, task, finetune_epochs, lr, loss_fn, optimizer_factory)

        candidate_layers = masked_layers(candidate)
        for name in layers:
            masks[name][task] = magnitude_mask(candidate_layers[name].weight, alpha)
        logger.info("LaSS mask for task %d found after %d fine-tuning epoch(s)", task, finetune_epochs)

    return masks


def _finetune(
    model: nn.Module,
    data: Iterable[tuple[Tensor, Sequence[Tensor]]],
    task: int,
    epochs: int,
    lr: float,
    loss_fn: LossFunction,
    optimizer_factory: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer] | None,
) -> None:
    if epochs == 0:
        return
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = optimizer_factory(parameters) if optimizer_factory else torch.optim.Adam(parameters, lr=lr)

    model.train()
    for _ in range(epochs):
        for x, targets in data:
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(x, task), targets[task]).backward()
            optimizer.step()


@contextlib.contextmanager
def keep_outside_masks(model: nn.Module, tasks: Sequence[int]) -> Iterator[None]:
    """Undo, on exit, every change to masked weights outside the masks of ``tasks``.

    Wrap the optimizer step of a step in which only ``tasks`` contributed gradients. A zero
    gradient does not stop optimizers with state (Adam's moments, weight decay) from moving a
    weight, so LaSS's rule that weights outside M_t are trained only by the tasks whose masks
    include them needs this restore. Layers without active masks are left alone.
    """
    saved = []
    for layer in masked_layers(model).values():
        if layer.has_masks:
            keep = layer.masks[list(tasks)].any(dim=0)
            saved.append((layer, keep, layer.weight.detach().clone()))
    try:
        yield
    finally:
        with torch.no_grad():
            for layer, keep, before in saved:
                layer.weight.copy_(torch.where(keep, layer.weight, before))


def mask_overlap(masks: dict[str, Tensor]) -> pd.DataFrame:
    """Tabulate, per layer and pair of tasks, how much two tasks' masks overlap.

    Columns: ``layer``, ``task_i``, ``task_j``, ``kept_i`` and ``kept_j`` (fraction of
    entries each mask keeps), ``shared`` (fraction kept by both), ``iou`` (intersection over
    union) and ``entries``. A row with ``layer == "all"`` pools every layer.
    """
    rows = []
    totals: dict[tuple[int, int], list[int]] = {}
    for name, mask in masks.items():
        num_tasks = mask.shape[0]
        flat = mask.reshape(num_tasks, -1)
        entries = flat.shape[1]
        for i in range(num_tasks):
            for j in range(i + 1, num_tasks):
                kept_i = int(flat[i].sum())
                kept_j = int(flat[j].sum())
                both = int((flat[i] & flat[j]).sum())
                either = int((flat[i] | flat[j]).sum())
                rows.append(_overlap_row(name, i, j, kept_i, kept_j, both, either, entries))
                total = totals.setdefault((i, j), [0, 0, 0, 0, 0])
                for index, value in enumerate((kept_i, kept_j, both, either, entries)):
                    total[index] += value
    for (i, j), (kept_i, kept_j, both, either, entries) in totals.items():
        rows.append(_overlap_row("all", i, j, kept_i, kept_j, both, either, entries))
    return pd.DataFrame(rows, columns=["layer", "task_i", "task_j", "kept_i", "kept_j", "shared", "iou", "entries"])


def _overlap_row(name: str, i: int, j: int, kept_i: int, kept_j: int, both: int, either: int, entries: int) -> dict:
    return {
        "layer": name,
        "task_i": i,
        "task_j": j,
        "kept_i": kept_i / entries,
        "kept_j": kept_j / entries,
        "shared": both / entries,
        "iou": both / either if either else 1.0,
        "entries": entries,
    }
