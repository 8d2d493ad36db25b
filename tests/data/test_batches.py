from __future__ import annotations

import pytest
import torch

from mtllib.data import Batches


def _data(count: int = 23) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Images whose first pixel stores the image index, and labels derived from it."""
    images = torch.zeros(count, 3, 4, 4, dtype=torch.uint8)
    images[:, 0, 0, 0] = torch.arange(count, dtype=torch.uint8)
    images[:, 2] = 255
    species = torch.arange(count, dtype=torch.int64) % 12
    health = torch.arange(count, dtype=torch.int64) % 2
    return images, (species, health)


def _image_ids(x: torch.Tensor) -> list[int]:
    return torch.round(x[:, 0, 0, 0] * 255).long().tolist()


def test_batches_cover_each_epoch() -> None:
    images, targets = _data()
    indices = torch.tensor([1, 3, 4, 8, 9, 10, 11, 15, 16, 20, 22])
    batches = Batches(images, targets, indices, 4, shuffle=True, generator=torch.Generator().manual_seed(0))
    assert len(batches) == 3
    orders = []
    for _ in range(3):
        seen = []
        sizes = []
        for x, (species, health) in batches:
            ids = _image_ids(x)
            seen.extend(ids)
            sizes.append(len(ids))
            assert species.tolist() == [i % 12 for i in ids]
            assert health.tolist() == [i % 2 for i in ids]
        assert sorted(seen) == indices.tolist()
        assert sizes == [4, 4, 3]
        orders.append(seen)
    assert orders[0] != orders[1] or orders[1] != orders[2]


def test_batches_seeded_generator_deterministic() -> None:
    images, targets = _data()
    first = Batches(images, targets, range(23), 5, shuffle=True, generator=torch.Generator().manual_seed(3))
    second = Batches(images, targets, range(23), 5, shuffle=True, generator=torch.Generator().manual_seed(3))
    for _ in range(2):
        assert [_image_ids(x) for x, _ in first] == [_image_ids(x) for x, _ in second]


def test_batches_in_order_without_shuffle() -> None:
    images, targets = _data()
    batches = Batches(images, targets, [5, 2, 7], 2, shuffle=False)
    assert [_image_ids(x) for x, _ in batches] == [[5, 2], [7]]


def test_batches_drop_last() -> None:
    images, targets = _data()
    batches = Batches(images, targets, range(23), 5, shuffle=False, drop_last=True)
    assert len(batches) == 4
    assert [len(y[0]) for _, y in batches] == [5, 5, 5, 5]


def test_batches_dtype_format_device() -> None:
    images, targets = _data()
    batches = Batches(images, targets, range(23), 8, shuffle=False, device="cpu")
    x, (species, health) = next(iter(batches))
    assert x.dtype == torch.float32
    assert x.shape == (8, 3, 4, 4)
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert x.device.type == "cpu"
    assert float(x[:, 2].min()) == 1.0
    assert float(x[:, 1].max()) == 0.0
    assert species.dtype == torch.int64
    assert health.dtype == torch.int64
    assert batches.images is images


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_batches_to_cuda() -> None:
    images, targets = _data()
    for source in (images, images.cuda()):
        batches = Batches(source, targets, range(23), 8, shuffle=True, device="cuda")
        x, (species, _) = next(iter(batches))
        assert x.is_cuda
        assert species.is_cuda
        assert x.is_contiguous(memory_format=torch.channels_last)


def test_batches_validation() -> None:
    images, targets = _data()
    with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
        Batches(images, targets, range(23), 0, shuffle=False)
    with pytest.raises(ValueError, match=r"indices must be in \[0, 22\]"):
        Batches(images, targets, [0, 23], 4, shuffle=False)
    with pytest.raises(ValueError, match=r"indices must be in \[0, 22\]"):
        Batches(images, targets, [-1], 4, shuffle=False)
    with pytest.raises(ValueError, match="images must be a uint8 tensor"):
        Batches(images.float(), targets, range(23), 4, shuffle=False)
    with pytest.raises(ValueError, match=r"targets\[1\] must be an int64 tensor of length 23"):
        Batches(images, (targets[0], targets[1][:5]), range(23), 4, shuffle=False)
