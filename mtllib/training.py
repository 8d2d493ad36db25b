"""Training and evaluation of a multi-task model under any of the eight approaches."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, f1_score
from torch import Tensor, nn

from . import lass
from ._tasks import Batch, LossFunction
from .approaches import Approach, get_approach
from .models import LeafNet
from .pcgrad import PCGrad

__all__ = [
    "EpochLog",
    "FitResult",
    "StepObserver",
    "TrainConfig",
    "build_model",
    "evaluate",
    "fit",
    "training_step",
]

logger = logging.getLogger(__name__)



@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run.

    The defaults are the protocol of Alison, Jonathan and Suhartono (2024): batch 32, Adam
    with learning rate 5e-4, 100 epochs, LaSS pruning fraction 0.5 and the switch to masked
    training after half of the epochs. ``lass_finetune_epochs`` (LaSS step 2) is not
    published by that study.

    Attributes:
        epochs: passes over the training data.
        batch_size: images per training step.
        lr: learning rate of Adam.
        lass_alpha: fraction of each fully connected weight matrix that LaSS prunes per task,
            in [0, 1).
        lass_switch_epoch: epoch after which LaSS searches the masks and training continues
            masked; None means half of ``epochs``.
        lass_finetune_epochs: epochs of single-task fine-tuning of each copy before pruning.
        pcgrad_mode: ``"shared"`` (the rule of Yu et al.) or ``"wrapper"`` (the open-source
            wrapper the study used); see :class:`mtllib.PCGrad`.
        channels: output channels of LeafNet's convolution blocks.
        hidden: widths of LeafNet's shared fully connected layers.
        seed: seed of the initial weights and of PCGrad's visiting orders.
    """

    epochs: int = 100
    batch_size: int = 32
    lr: float = 5e-4
    lass_alpha: float = 0.5
    lass_switch_epoch: int | None = None
    lass_finetune_epochs: int = 2
    pcgrad_mode: str = "shared"
    channels: tuple[int, ...] = (16, 32, 64, 128)
    hidden: tuple[int, ...] = (256, 128)
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not isinstance(self.lr, (int, float)) or not math.isfinite(self.lr) or self.lr <= 0:
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")
        lass.check_alpha(self.lass_alpha)
        switch = self.lass_switch_epoch
        if switch is not None and (isinstance(switch, bool) or not isinstance(switch, int) or not 0 <= switch <= self.epochs):
            raise ValueError(f"lass_switch_epoch must be an int in [0, epochs={self.epochs}] or None, got {switch!r}")
        finetune = self.lass_finetune_epochs
        if isinstance(finetune, bool) or not isinstance(finetune, int) or finetune < 0:
            raise ValueError(f"lass_finetune_epochs must be an int >= 0, got {finetune!r}")
        if self.pcgrad_mode not in ("shared", "wrapper"):
            raise ValueError(f"pcgrad_mode must be 'shared' or 'wrapper', got {self.pcgrad_mode!r}")
        object.__setattr__(self, "channels", tuple(self.channels))
        object.__setattr__(self, "hidden", tuple(self.hidden))

    @property
    def switch_epoch(self) -> int:
        """Epoch (0-based) at whose start LaSS searches the masks: half of the epochs by default."""
        return self.epochs // 2 if self.lass_switch_epoch is None else self.lass_switch_epoch

    def to_dict(self) -> dict:
        """Return the configuration as plain JSON-ready values."""
        values = asdict(self)
        values["channels"] = list(self.channels)
        values["hidden"] = list(self.hidden)
        values["switch_epoch"] = self.switch_epoch
        return values


@dataclass
class EpochLog:
    """Record of one epoch of training: losses, time and LaSS phase."""

    epoch: int
    phase: str
    losses: list[float]
    seconds: float
    mask_search_seconds: float = 0.0


@dataclass
class FitResult:
    """History of :func:`fit` and, for LaSS, the overlap of the task masks."""

    history: list[EpochLog] = field(default_factory=list)
    mask_overlap: pd.DataFrame | None = None


class StepObserver(Protocol):
    """Something that watches training steps, such as the tragic-triad recorder.

    ``wants(step)`` is asked first; only then are the other two called, around the
    backward pass of that step. An observer must not change the model, the losses' graph or
    any random generator, so that training is the same with and without it.
    """

    def wants(self, step: int) -> bool: ...

    def before_backward(
        self, step: int, epoch: int, model: nn.Module, batch: Batch, losses: Sequence[Tensor], loss_fn: LossFunction
    ) -> None: ...

    def after_backward(self, step: int, epoch: int, model: nn.Module, pcgrad: PCGrad | None) -> None: ...


def build_model(approach: Approach | str, num_classes: Sequence[int], config: TrainConfig) -> LeafNet:
    """Build the :class:`LeafNet` of an approach, initialised from ``config.seed``.

    The global random generator is left as it was.
    """
    approach = get_approach(approach)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return LeafNet(
            num_classes,
            channels=config.channels,
            hidden=config.hidden,
            modulation=approach.modulation,
            lass=approach.lass,
        )


def training_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: Batch,
    *,
    pcgrad: PCGrad | None = None,
    tasks: Sequence[int] | None = None,
    loss_fn: LossFunction = F.cross_entropy,
    observer: StepObserver | None = None,
    step: int = 0,
    epoch: int = 0,
) -> Tensor:
    """Take one optimisation step of a multi-task model under any of the eight approaches.

    Modulation and LaSS masks act inside the model's forward pass, so the step only has
    to choose how gradients are combined: the plain sum of the task losses, or
    :class:`~mtllib.PCGrad` when ``pcgrad`` is given. Weights outside the masks of
    ``tasks`` are kept as they were, whatever the optimizer's state.

    Args:
        model: a model with ``forward(x, task)``; a ``forward_all(x)`` is used when present.
        optimizer: the optimizer of ``model``'s parameters (the one ``pcgrad`` wraps).
        batch: ``(x, (y_0, y_1, ...))`` with one target tensor per task.
        pcgrad: combine task gradients with PCGrad instead of summing the losses.
        tasks: the tasks trained in this step; default all of ``batch``'s targets.
        loss_fn: loss of one task, ``loss_fn(logits, target)``.
        observer: a :class:`StepObserver` such as the tragic-triad recorder.
        step, epoch: counters passed to the observer.

    Returns:
        The detached loss of each task in ``tasks``.
    """
    x, targets = batch
    tasks = list(range(len(targets))) if tasks is None else list(tasks)
    optimizer.zero_grad(set_to_none=True)

    if hasattr(model, "forward_all") and len(tasks) == getattr(model, "num_tasks", -1):
        logits = model.forward_all(x)
    else:
        logits = {task: model(x, task) for task in tasks}
    losses = [loss_fn(logits[task], targets[task]) for task in tasks]

    watching = observer is not None and observer.wants(step)
    if watching:
        observer.before_backward(step, epoch, model, batch, losses, loss_fn)
    if pcgrad is not None:
        pcgrad.keep_gradients = watching
        pcgrad.backward(losses)
    else:
        torch.stack(losses).sum().backward()
    if watching:
        observer.after_backward(step, epoch, model, pcgrad)

    with lass.keep_outside_masks(model, tasks):
        optimizer.step()
    return torch.stack([loss.detach() for loss in losses])


def fit(
    model: nn.Module,
    data: Iterable[Batch],
    approach: Approach | str,
    config: TrainConfig,
    *,
    tasks: Sequence[int] | None = None,
    loss_fn: LossFunction = F.cross_entropy,
    observer: StepObserver | None = None,
    on_epoch: Callable[[EpochLog], None] | None = None,
) -> FitResult:
    """Train ``model`` on ``data`` for ``config.epochs`` epochs under ``approach``.

    With LaSS on, the first ``config.switch_epoch`` epochs are joint training (θ0); then
    :func:`mtllib.lass.find_masks` fine-tunes a copy per task and prunes it, the masks are
    set on ``model`` and joint training continues from θ0, with the same optimizer state.

    Args:
        model: the model to train in place, on the device of ``data``'s batches.
        data: re-iterable training batches; one pass is one epoch.
        approach: letter or :class:`~mtllib.Approach`; its PCGrad and LaSS flags are used
            here, its Modulation flag must already be in ``model``.
        config: epochs, learning rate and LaSS settings.
        tasks: tasks to train, default all.
        loss_fn: loss of one task.
        observer: a :class:`StepObserver`.
        on_epoch: called with each :class:`EpochLog` as soon as the epoch ends.

    Returns:
        A :class:`FitResult` with one :class:`EpochLog` per epoch and, with LaSS, the overlap
        of the task masks.
    """
    approach = get_approach(approach)
    if approach.lass and not lass.masked_layers(model):
        raise ValueError(f"approach {approach.letter} uses LaSS but the model has no MaskedLinear layers; build it with lass=True")

    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=config.lr)
    pcgrad = None
    if approach.pcgrad:
        shared = list(model.shared_parameters()) if config.pcgrad_mode == "shared" else None
        pcgrad = PCGrad(optimizer, shared, mode=config.pcgrad_mode, seed=config.seed)

    result = FitResult()
    step = 0
    for epoch in range(config.epochs):
        started = time.perf_counter()
        mask_seconds = 0.0
        if approach.lass and epoch == config.switch_epoch:
            mask_seconds = _switch_to_masks(model, data, tasks, config, loss_fn, result)

        model.train()
        phase = "masked" if approach.lass and epoch >= config.switch_epoch else "joint"
        totals: Tensor | None = None
        batches = 0
        for batch in data:
            losses = training_step(
                model, optimizer, batch, pcgrad=pcgrad, tasks=tasks, loss_fn=loss_fn,
                observer=observer, step=step, epoch=epoch,
            )
            totals = losses if totals is None else totals + losses
            batches += 1
            step += 1

        mean_losses = (totals / max(batches, 1)).tolist() if totals is not None else []
        log = EpochLog(epoch, phase, mean_losses, time.perf_counter() - started, mask_seconds)
        result.history.append(log)
        if on_epoch is not None:
            on_epoch(log)

    return result


def _switch_to_masks(
    model: nn.Module,
    data: Iterable[Batch],
    tasks: Sequence[int] | None,
    config: TrainConfig,
    loss_fn: LossFunction,
    result: FitResult,
) -> float:
    started = time.perf_counter()
    masks = lass.find_masks(
        model, data, tasks, config.lass_alpha, config.lass_finetune_epochs, lr=config.lr, loss_fn=loss_fn
    )
    lass.set_masks(model, masks)
    result.mask_overlap = lass.mask_overlap(masks)
    seconds = time.perf_counter() - started
    logger.info("LaSS masks set after %.1f s (alpha %.2f)", seconds, config.lass_alpha)
    return seconds


@torch.no_grad()
def predict(model: nn.Module, data: Iterable[Batch], tasks: Sequence[int] | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Return, per task, the predicted classes and the targets over all batches of ``data``."""
    model.eval()
    predictions: list[list[Tensor]] = []
    targets_seen: list[list[Tensor]] = []
    for x, targets in data:
        task_list = list(range(len(targets))) if tasks is None else list(tasks)
        if not predictions:
            predictions = [[] for _ in task_list]
            targets_seen = [[] for _ in task_list]
        if hasattr(model, "forward_all") and len(task_list) == getattr(model, "num_tasks", -1):
            logits = model.forward_all(x)
        else:
            logits = {task: model(x, task) for task in task_list}
        for slot, task in enumerate(task_list):
            predictions[slot].append(logits[task].argmax(dim=1).cpu())
            targets_seen[slot].append(targets[task].cpu())
    return (
        [torch.cat(parts).numpy() for parts in predictions],
        [torch.cat(parts).numpy() for parts in targets_seen],
    )


def evaluate(model: nn.Module, data: Iterable[Batch], tasks: Sequence[int] | None = None) -> list[dict[str, float]]:
    """Compute each task's accuracy and support-weighted F1 on ``data``.

    Returns:
        One dict ``{"accuracy": ..., "f1": ...}`` per task in ``tasks`` (default all).
    """
    predictions, targets = predict(model, data, tasks)
    return [
        {
            "accuracy": float(accuracy_score(target, prediction)),
            "f1": float(f1_score(target, prediction, average="weighted", zero_division=0)),
        }
        for prediction, target in zip(predictions, targets)
    ]
