"""One approach trained on one fold, for the chapters that look inside a single run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from ..approaches import Approach, get_approach
from ..data import Batches, LeafData, stratified_folds
from ..profiles import default_profile_name, get_profile
from ..training import FitResult, StepObserver, build_model, evaluate, fit
from ._units import EVALUATION_BATCH_SIZE, resolve_device

__all__ = ["FoldRun", "train_fold"]


@dataclass
class FoldRun:
    """The trained model of one fold, its training history and its test scores."""

    approach: Approach
    model: torch.nn.Module
    result: FitResult
    scores: list[dict[str, float]]
    train_index: torch.Tensor
    test_index: torch.Tensor


def train_fold(
    approach: str | Approach,
    data: LeafData,
    *,
    profile: str | None = None,
    fold: int = 0,
    folds: int | None = None,
    seed: int = 0,
    device: str = "auto",
    observer: StepObserver | None = None,
    **overrides: object,
) -> FoldRun:
    """Train ``approach`` on the training part of one stratified fold of ``data`` and score it.

    The settings are those of ``profile`` (default: ``$MTLLIB_PROFILE``, else ``paper`` on a
    GPU and ``quick`` on a CPU); keyword ``overrides`` replace fields of its
    :class:`~mtllib.TrainConfig`, for example ``lass_alpha=0.25`` or ``epochs=3`` (which
    also moves the LaSS switch to half of the new epochs unless ``lass_switch_epoch`` is given). The
    folds, initial weights and batch order depend on ``seed`` only, as in
    ``python -m mtllib reproduce``.
    """
    approach = get_approach(approach)
    torch_device = resolve_device(device)
    chosen = get_profile(profile or default_profile_name(str(torch_device)))
    folds = chosen.folds if folds is None else folds
    if "epochs" in overrides and "lass_switch_epoch" not in overrides:
        # A profile's switch epoch belongs to its own epoch count: switch at half of the new one.
        overrides["lass_switch_epoch"] = None
    config = dataclasses.replace(chosen.train_config(seed=seed + fold), **overrides)

    train_index, test_index = stratified_folds(data, k=folds, seed=seed)[fold]
    images = data.images.to(torch_device)
    targets = tuple(labels.to(torch_device) for labels in data.targets)
    train = Batches(
        images, targets, train_index, config.batch_size, shuffle=True,
        generator=torch.Generator().manual_seed(config.seed), device=torch_device,
    )
    test = Batches(images, targets, test_index, EVALUATION_BATCH_SIZE, shuffle=False, device=torch_device)

    model = build_model(approach, data.num_classes, config).to(torch_device)
    result = fit(model, train, approach, config, observer=observer)
    return FoldRun(approach, model, result, evaluate(model, test), train_index, test_index)
