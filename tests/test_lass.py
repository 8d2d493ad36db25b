from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from mtllib import LeafNet, MaskedLinear, find_masks, magnitude_mask
from mtllib.lass import clear_masks, keep_outside_masks, mask_overlap, masked_layers, set_masks

from methods_helpers import random_batches


@given(st.integers(1, 300), st.floats(0.0, 0.999), st.integers(0, 2**31 - 1))
def test_pruned_count_is_floor(size: int, alpha: float, seed: int) -> None:
    weight = torch.randn(size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    mask = magnitude_mask(weight, alpha)
    assert mask.dtype == torch.bool
    assert int((~mask).sum()) == math.floor(alpha * size)


@given(st.integers(2, 50), st.floats(0.01, 0.99), st.integers(0, 2**31 - 1))
def test_pruned_entries_are_smallest(size: int, alpha: float, seed: int) -> None:
    weight = torch.randn(size, generator=torch.Generator().manual_seed(seed))
    mask = magnitude_mask(weight, alpha)
    if mask.all() or not mask.any():
        return
    assert weight[~mask].abs().max() < weight[mask].abs().min()


def test_ties_at_threshold_pruned() -> None:
    weight = torch.tensor([1.0, -1.0, 1.0, 2.0, 3.0])
    mask = magnitude_mask(weight, 0.2)
    assert mask.tolist() == [False, False, False, True, True]


def test_alpha_zero_keeps_everything() -> None:
    assert magnitude_mask(torch.zeros(4, 3), 0.0).all()


def test_keeps_shape() -> None:
    assert magnitude_mask(torch.randn(4, 3, 2), 0.5).shape == (4, 3, 2)


@pytest.mark.parametrize("alpha", [1.0, -0.1, 1.5, float("nan"), True, "0.5"])
def test_invalid_alpha_rejected(alpha: object) -> None:
    with pytest.raises(ValueError, match=r"alpha must be a number in \[0, 1\)"):
        magnitude_mask(torch.ones(3), alpha)


def masked_layer() -> MaskedLinear:
    torch.manual_seed(0)
    layer = MaskedLinear(6, 4, num_tasks=2)
    masks = torch.stack([magnitude_mask(torch.randn(4, 6), 0.5) for _ in range(2)])
    layer.set_masks(masks)
    return layer


def test_masked_forward_uses_masked_weight() -> None:
    layer = masked_layer()
    x = torch.randn(3, 6)
    for task in range(2):
        expected = x @ (layer.weight * layer.masks[task]).T + layer.bias
        torch.testing.assert_close(layer(x, task), expected)


def test_gradient_zero_outside_mask() -> None:
    layer = masked_layer()
    layer(torch.randn(3, 6), 1).sum().backward()
    assert torch.equal(layer.weight.grad[~layer.masks[1]], torch.zeros(int((~layer.masks[1]).sum())))
    assert layer.weight.grad[layer.masks[1]].abs().sum() > 0


def test_bias_never_masked() -> None:
    layer = masked_layer()
    layer(torch.randn(3, 6), 0).sum().backward()
    assert torch.equal(layer.bias.grad, torch.full((4,), 3.0))


def test_unmasked_layer_is_plain_linear() -> None:
    torch.manual_seed(0)
    layer = MaskedLinear(6, 4, num_tasks=2)
    x = torch.randn(3, 6)
    torch.testing.assert_close(layer(x), F.linear(x, layer.weight, layer.bias))
    assert not layer.has_masks


def test_forward_without_task_rejected_once_masked() -> None:
    with pytest.raises(ValueError, match="task is required"):
        masked_layer()(torch.randn(3, 6))


def test_masks_saved_with_state() -> None:
    layer = masked_layer()
    restored = MaskedLinear(6, 4, num_tasks=2)
    restored.load_state_dict(layer.state_dict())
    assert restored.has_masks
    assert torch.equal(restored.masks, layer.masks)


def test_set_masks_rejects_shape() -> None:
    with pytest.raises(ValueError, match=r"masks must have shape \(2, 4, 6\)"):
        MaskedLinear(6, 4, num_tasks=2).set_masks(torch.ones(2, 6, 4, dtype=torch.bool))


def test_clear_masks_restores_shared_layer() -> None:
    layer = masked_layer()
    layer.clear_masks()
    assert not layer.has_masks
    assert layer.masks.all()


def small_lass_model() -> LeafNet:
    torch.manual_seed(0)
    return LeafNet(channels=(4, 8), hidden=(32, 16), lass=True)


@pytest.mark.parametrize("task", [0, 1])
def test_adam_leaves_outside_mask_unchanged(task: int) -> None:
    model = small_lass_model()
    batches = random_batches(3, batch_size=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-3)

    # Joint steps first, so that Adam's moments are non-zero everywhere.
    for x, targets in batches:
        optimizer.zero_grad()
        sum(F.cross_entropy(logits, y) for logits, y in zip(model.forward_all(x), targets)).backward()
        optimizer.step()

    masks = find_masks(model, batches[:1], None, alpha=0.5, finetune_epochs=1)
    set_masks(model, masks)
    before = {name: layer.weight.detach().clone() for name, layer in masked_layers(model).items()}

    for x, targets in batches:
        optimizer.zero_grad()
        F.cross_entropy(model(x, task), targets[task]).backward()
        with keep_outside_masks(model, [task]):
            optimizer.step()

    for name, layer in masked_layers(model).items():
        outside = ~layer.masks[task]
        assert torch.equal(layer.weight.detach()[outside], before[name][outside])
        assert not torch.equal(layer.weight.detach()[~outside], before[name][~outside])


def test_find_masks_shapes_and_fraction() -> None:
    model = small_lass_model()
    masks = find_masks(model, random_batches(2), None, alpha=0.5, finetune_epochs=1)
    layers = masked_layers(model)
    assert set(masks) == set(layers)
    for name, mask in masks.items():
        assert mask.shape == (2, layers[name].out_features, layers[name].in_features)
        for task in range(2):
            assert int((~mask[task]).sum()) == math.floor(0.5 * mask[task].numel())


def test_find_masks_leaves_model_unchanged() -> None:
    model = small_lass_model()
    before = {key: value.clone() for key, value in model.state_dict().items()}
    find_masks(model, random_batches(2), None, alpha=0.5, finetune_epochs=1)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_find_masks_without_finetuning_prunes_theta0() -> None:
    model = small_lass_model()
    masks = find_masks(model, random_batches(1), None, alpha=0.3, finetune_epochs=0)
    for name, layer in masked_layers(model).items():
        expected = magnitude_mask(layer.weight, 0.3)
        assert torch.equal(masks[name][0], expected)
        assert torch.equal(masks[name][1], expected)


def test_finetuning_separates_task_masks() -> None:
    model = small_lass_model()
    masks = find_masks(model, random_batches(2), None, alpha=0.5, finetune_epochs=2)
    assert any(not torch.equal(mask[0], mask[1]) for mask in masks.values())


def test_find_masks_task_subset() -> None:
    model = small_lass_model()
    masks = find_masks(model, random_batches(1), [1], alpha=0.5, finetune_epochs=0)
    for mask in masks.values():
        assert mask[0].all()
        assert not mask[1].all()


def test_find_masks_requires_masked_layers() -> None:
    with pytest.raises(ValueError, match="has no MaskedLinear layers"):
        find_masks(LeafNet(channels=(4,), hidden=(8,)), random_batches(1), None, alpha=0.5, finetune_epochs=0)


@pytest.mark.parametrize("epochs", [-1, 1.5, True])
def test_find_masks_rejects_epochs(epochs: object) -> None:
    with pytest.raises(ValueError, match="finetune_epochs must be an int >= 0"):
        find_masks(small_lass_model(), random_batches(1), None, alpha=0.5, finetune_epochs=epochs)


def test_set_masks_names_missing_layers() -> None:
    model = small_lass_model()
    with pytest.raises(ValueError, match="missing"):
        set_masks(model, {})


def test_clear_masks_on_model() -> None:
    model = small_lass_model()
    set_masks(model, find_masks(model, random_batches(1), None, alpha=0.5, finetune_epochs=0))
    assert model.has_masks
    clear_masks(model)
    assert not model.has_masks


def test_mask_overlap_values() -> None:
    masks = {
        "layer": torch.tensor([[[True, True, False, False]], [[True, False, True, False]]]),
    }
    table = mask_overlap(masks)
    row = table[table.layer == "layer"].iloc[0]
    assert row.kept_i == 0.5
    assert row.kept_j == 0.5
    assert row.shared == 0.25
    assert row.iou == pytest.approx(1 / 3)
    assert list(table.layer) == ["layer", "all"]
