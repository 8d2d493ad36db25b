"""Stratified k-fold splits over the 22 species x health classes."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold
from torch import Tensor

from ._classes import LEAF_CLASSES
from ._leafdata import LeafData

__all__ = ["stratified_folds"]


def stratified_folds(data: LeafData, k: int = 5, seed: int = 0) -> list[tuple[Tensor, Tensor]]:
    """Split ``data`` into ``k`` stratified folds and return ``(train, test)`` index pairs.

    The folds are stratified on ``data.class_index`` (the 22 species x health classes) with
    scikit-learn's StratifiedKFold, shuffled with ``seed``. Test sets are disjoint and cover
    every image once. Indices are sorted int64 tensors. Raises ValueError when ``k`` is below
    2 or larger than the number of images in the smallest class present.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ValueError(f"k must be an int >= 2, got {k!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an int in [0, 2**32), got {seed!r}")

    classes = data.class_index.cpu().numpy()
    present, counts = np.unique(classes, return_counts=True)
    if present.size == 0:
        raise ValueError("data must contain at least one image, got an empty LeafData")
    smallest = int(np.argmin(counts))
    if counts[smallest] < k:
        name = LEAF_CLASSES[int(present[smallest])].name
        raise ValueError(
            f"k={k} is larger than the smallest class allows: class {name} has {int(counts[smallest])} "
            f"image(s), and every fold needs one; use k <= {int(counts[smallest])}"
        )

    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    folds = []
    for train, test in splitter.split(np.zeros(len(classes)), classes):
        folds.append((torch.from_numpy(np.sort(train)).long(), torch.from_numpy(np.sort(test)).long()))
    return folds
