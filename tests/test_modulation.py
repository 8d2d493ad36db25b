from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mtllib import Modulation


def test_initialised_to_ones() -> None:
    layer = Modulation(num_tasks=3, channels=5)
    assert torch.equal(layer.weight.detach(), torch.ones(3, 5))


@given(st.integers(1, 4), st.integers(1, 6), st.integers(0, 3), st.integers(0, 2**31 - 1))
def test_output_is_input_scaled_by_row(num_tasks: int, channels: int, task_offset: int, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    layer = Modulation(num_tasks, channels)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(num_tasks, channels, generator=generator))
    task = task_offset % num_tasks
    x = torch.randn(2, channels, 3, 4, generator=generator)

    expected = x * layer.weight[task].detach().view(1, channels, 1, 1)
    assert torch.equal(layer(x, task), expected)


def test_works_on_flat_features() -> None:
    layer = Modulation(2, 3)
    with torch.no_grad():
        layer.weight[0] = torch.tensor([2.0, 3.0, 4.0])
    assert torch.equal(layer(torch.ones(5, 3), 0), torch.tensor([[2.0, 3.0, 4.0]] * 5))


@pytest.mark.parametrize("task", [0, 1, 2])
def test_loss_reaches_only_own_row(task: int) -> None:
    layer = Modulation(3, 4)
    layer(torch.randn(2, 4, 5, 5), task).pow(2).sum().backward()

    for row in range(3):
        if row == task:
            assert layer.weight.grad[row].abs().sum() > 0
        else:
            assert torch.equal(layer.weight.grad[row], torch.zeros(4))


@pytest.mark.parametrize("task", [-1, 2, 1.0, True, None, "0"])
def test_invalid_task_rejected(task: object) -> None:
    with pytest.raises(ValueError, match="task must be"):
        Modulation(2, 3)(torch.ones(1, 3, 2, 2), task)


def test_wrong_channel_count_rejected() -> None:
    with pytest.raises(ValueError, match=r"x must have shape \(N, 3, \.\.\.\), got \(1, 4, 2, 2\)"):
        Modulation(2, 3)(torch.ones(1, 4, 2, 2), 0)


@pytest.mark.parametrize(("num_tasks", "channels", "name"), [(0, 3, "num_tasks"), (2, 0, "channels"), (2.0, 3, "num_tasks")])
def test_invalid_sizes_rejected(num_tasks: object, channels: object, name: str) -> None:
    with pytest.raises(ValueError, match=f"{name} must be a positive int"):
        Modulation(num_tasks, channels)
