from __future__ import annotations

import pytest
import torch

from mtllib.data import LeafData, stratified_folds


def test_folds_cover_each_image_once(full_leaves: LeafData) -> None:
    folds = stratified_folds(full_leaves, k=5, seed=0)
    assert len(folds) == 5
    tests = torch.cat([test for _, test in folds])
    assert torch.equal(tests.sort().values, torch.arange(len(full_leaves)))
    for train, test in folds:
        assert train.dtype == torch.int64
        assert test.dtype == torch.int64
        assert torch.equal(train, train.sort().values)
        assert torch.equal(test, test.sort().values)
        assert len(train) + len(test) == len(full_leaves)
        assert not bool(torch.isin(train, test).any())


def test_folds_stratified(full_leaves: LeafData) -> None:
    classes = full_leaves.class_index
    overall = torch.bincount(classes, minlength=22).double()
    for _, test in stratified_folds(full_leaves, k=5, seed=0):
        counts = torch.bincount(classes[test], minlength=22).double()
        # Each class is split as evenly as possible: 1/5 of its images, rounded.
        assert bool(((counts - overall / 5).abs() <= 1).all()), counts.tolist()
        proportions = counts / counts.sum()
        assert float((proportions - overall / overall.sum()).abs().max()) < 0.002


def test_folds_seeded(small_leaves: LeafData) -> None:
    first = stratified_folds(small_leaves, k=4, seed=7)
    again = stratified_folds(small_leaves, k=4, seed=7)
    other = stratified_folds(small_leaves, k=4, seed=8)
    assert all(torch.equal(a[1], b[1]) for a, b in zip(first, again))
    assert any(not torch.equal(a[1], b[1]) for a, b in zip(first, other))


def test_folds_invalid_k(small_leaves: LeafData) -> None:
    for k in (1, 0, 2.0, True):
        with pytest.raises(ValueError, match="k must be an int >= 2"):
            stratified_folds(small_leaves, k=k)  # type: ignore[arg-type]
    # Every class of small_leaves has 4 images.
    with pytest.raises(ValueError, match="class 0001 Mango healthy has 4 image"):
        stratified_folds(small_leaves, k=5)


def test_folds_name_smallest_class(full_leaves: LeafData) -> None:
    # Lemon diseased (0021) has 77 images, the fewest.
    assert len(stratified_folds(full_leaves, k=77)) == 77
    with pytest.raises(ValueError, match="0021 Lemon diseased has 77 image"):
        stratified_folds(full_leaves, k=78)
