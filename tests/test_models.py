from __future__ import annotations

import itertools

import pytest
import torch

from mtllib import LeafNet
from mtllib.lass import find_masks, set_masks

from methods_helpers import random_batches

CONFIGS = list(itertools.product([False, True], [False, True]))


def model_for(modulation: bool, lass: bool, num_classes=(12, 2)) -> LeafNet:
    torch.manual_seed(0)
    model = LeafNet(num_classes, channels=(4, 8), hidden=(16,), modulation=modulation, lass=lass)
    if lass:
        set_masks(model, find_masks(model, random_batches(1, num_classes=num_classes), None, 0.5, 0))
    return model.eval()


@pytest.mark.parametrize(("modulation", "lass"), CONFIGS)
def test_forward_all_matches_each_task(modulation: bool, lass: bool) -> None:
    model = model_for(modulation, lass)
    x = torch.rand(3, 3, 64, 64)
    for task, logits in enumerate(model.forward_all(x)):
        torch.testing.assert_close(logits, model(x, task))


@pytest.mark.parametrize("num_classes", [(5,), (12, 2), (3, 4, 7)])
def test_any_number_of_tasks(num_classes: tuple[int, ...]) -> None:
    model = model_for(True, True, num_classes)
    x = torch.rand(2, 3, 64, 64)
    assert [tuple(logits.shape) for logits in model.forward_all(x)] == [(2, n) for n in num_classes]


def test_plain_forward_without_task_returns_all() -> None:
    model = model_for(False, False)
    x = torch.rand(2, 3, 64, 64)
    outputs = model(x)
    assert isinstance(outputs, tuple)
    assert [tuple(o.shape) for o in outputs] == [(2, 12), (2, 2)]


@pytest.mark.parametrize(("modulation", "lass", "reason"), [(True, False, "Modulation"), (False, True, "LaSS masks")])
def test_forward_without_task_rejected(modulation: bool, lass: bool, reason: str) -> None:
    with pytest.raises(ValueError, match=f"task is required: this model has {reason}"):
        model_for(modulation, lass)(torch.rand(2, 3, 64, 64))


@pytest.mark.parametrize("task", [2, -1, "species"])
def test_invalid_task_rejected(task: object) -> None:
    with pytest.raises(ValueError, match="task must be"):
        model_for(False, False)(torch.rand(1, 3, 64, 64), task)


@pytest.mark.parametrize(("modulation", "lass"), CONFIGS)
def test_parameter_groups_partition(modulation: bool, lass: bool) -> None:
    model = model_for(modulation, lass)
    shared = [id(p) for p in model.shared_parameters()]
    specific = [id(p) for p in model.task_specific_parameters()]
    everything = [id(p) for p in model.parameters()]
    assert sorted(shared + specific) == sorted(everything)
    assert not set(shared) & set(specific)


def test_modulation_after_every_convolution() -> None:
    model = LeafNet(channels=(4, 8, 16), modulation=True)
    assert [block.modulation.channels for block in model.blocks] == [4, 8, 16]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_classes": ()}, "num_classes must name at least one task"),
        ({"num_classes": (3, 0)}, r"num_classes\[1\] must be a positive int"),
        ({"channels": ()}, "channels must have at least one entry"),
        ({"image_size": 60}, "image_size must be divisible by 2\\*\\*len\\(channels\\) = 16, got 60"),
    ],
)
def test_invalid_configuration_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LeafNet(**kwargs)


def test_masks_survive_state_dict_round_trip() -> None:
    model = model_for(False, True)
    restored = LeafNet(channels=(4, 8), hidden=(16,), lass=True)
    restored.load_state_dict(model.state_dict())
    assert restored.has_masks
    x = torch.rand(2, 3, 64, 64)
    torch.testing.assert_close(restored.eval()(x, 1), model(x, 1))


@pytest.mark.parametrize("shape", [(2, 3, 32, 32), (2, 1, 64, 64), (3, 64, 64)])
def test_wrong_input_shape_names_expected(shape: tuple[int, ...]) -> None:
    model = LeafNet()

    with pytest.raises(ValueError, match=r"\(N, 3, 64, 64\)"):
        model(torch.zeros(shape), 0)
