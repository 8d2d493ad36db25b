from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch import nn

from mtllib import LeafNet, PCGrad, project_conflicting
from mtllib.pcgrad import pcgrad_weights

from methods_helpers import random_batches

finite_floats = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, width=64)
# Away from underflow: TorchJD 0.18 divides by a squared norm that underflows to zero (it
# returns inf for g_1 = [-1], g_2 = [1e-196]), where project_conflicting stays exact.
moderate_floats = finite_floats.filter(lambda value: value == 0 or abs(value) > 1e-6)


def gradient_matrices(tasks: int, max_parameters: int = 12, elements=finite_floats):
    return st.integers(1, max_parameters).flatmap(
        lambda parameters: arrays("float64", (tasks, parameters), elements=elements)
    ).map(torch.from_numpy)


scales = st.sampled_from([1e-30, 1e-12, 1.0, 1e12, 1e30])


# --- project_conflicting -------------------------------------------------------------------


def test_reference_vector_sum() -> None:
    grads = torch.tensor([[1.0, 0.0], [-1.0, 1.0]])
    assert torch.equal(project_conflicting(grads), torch.tensor([0.5, 1.5]))


def test_reference_vector_each_task() -> None:
    projected = project_conflicting(torch.tensor([[1.0, 0.0], [-1.0, 1.0]]), reduction="none")
    assert torch.equal(projected[0], torch.tensor([0.5, 0.5]))
    assert torch.equal(projected[1], torch.tensor([0.0, 1.0]))


def test_reference_vector_mean() -> None:
    grads = torch.tensor([[1.0, 0.0], [-1.0, 1.0]])
    assert torch.equal(project_conflicting(grads, reduction="mean"), torch.tensor([0.25, 0.75]))


@given(arrays("float64", st.tuples(st.integers(1, 5), st.integers(1, 10)), elements=st.floats(0, 1e3)))
def test_no_conflict_is_plain_sum(values) -> None:
    grads = torch.from_numpy(values)
    torch.testing.assert_close(project_conflicting(grads), grads.sum(dim=0))
    torch.testing.assert_close(project_conflicting(grads, reduction="mean"), grads.mean(dim=0))


SMALLEST_SUBNORMAL = 2.0**-1074
"""Spacing of float64 numbers below the smallest normal one, about 4.9e-324."""


@settings(max_examples=300)
@given(gradient_matrices(2), scales, scales)
# Rows of very different scales whose projection coefficient underflows in the plain Gramian.
@example(torch.tensor([[1.0, -2.9803e-279, -2.9803e-279], [-2.9803e-279, 1.0, -2.9803e-279]], dtype=torch.float64), 1e-30, 1e12)
@example(torch.tensor([[1.0, -2.9803e-279, -2.9803e-279], [-2.9803e-279, 1.0, -2.9803e-279]], dtype=torch.float64), 1e-30, 1e30)
# A projected entry below the smallest subnormal number, which rounds to zero.
@example(torch.tensor([[1.0, -2.2251e-308], [-2.2251e-308, 1.0]], dtype=torch.float64), 1e-30, 1e30)
# Every dot product in the subnormal range, where rounding is absolute.
@example(torch.tensor([[-1.0] + [2.2251e-311] * 9, [2.2251e-311] * 10], dtype=torch.float64), 1e-12, 1.0)
def test_two_tasks_no_conflict_left(grads, scale_0, scale_1) -> None:
    grads = grads * torch.tensor([[scale_0], [scale_1]], dtype=torch.float64)
    projected = project_conflicting(grads, reduction="none")

    assert torch.isfinite(projected).all()
    for i, j in ((0, 1), (1, 0)):
        inner = float(projected[i] @ grads[j])
        # Rounding of the projection and of this dot product stays below this bound: relative
        # to the magnitudes involved, or, where the projected entries fall below the subnormal
        # spacing and cannot be represented, that spacing times the entries of g_j.
        relative = 1e-9 * float(projected[i].abs() @ grads[j].abs() + grads[i].abs() @ grads[j].abs())
        absolute = 4 * SMALLEST_SUBNORMAL * float(grads[j].abs().sum() + grads.shape[1])
        tolerance = max(relative, absolute)
        assert inner >= -tolerance


@settings(max_examples=200)
@given(gradient_matrices(2))
def test_two_tasks_matches_closed_form(grads) -> None:
    # Exact rational arithmetic, so that underflow cannot hide a conflict from the reference.
    rows = [[Fraction(value) for value in row] for row in grads.tolist()]
    expected = []
    for gi, gj in ((rows[0], rows[1]), (rows[1], rows[0])):
        inner = sum(a * b for a, b in zip(gi, gj))
        norm = sum(b * b for b in gj)
        projected = [a - inner / norm * b for a, b in zip(gi, gj)] if inner < 0 and norm > 0 else gi
        expected.append([float(value) for value in projected])
    projected = project_conflicting(grads, reduction="none")
    for i in range(2):
        error = float((projected[i] - torch.tensor(expected[i], dtype=torch.float64)).abs().max())
        assert error <= 1e-12 * float(grads[i].abs().max())


@pytest.mark.parametrize("scale", [0.0, 1e-45, 1e-38, 1e-30, 1e-20, 1e20, 1e30, 3e38])
def test_extreme_norm_is_finite(scale: float) -> None:
    grads = torch.tensor([[1.0, 0.0, 2.0], [-scale, scale, 0.0]], dtype=torch.float32)
    projected = project_conflicting(grads, reduction="none")

    assert torch.isfinite(projected).all()
    if scale > 0:
        assert float(projected[0].double() @ grads[1].double()) >= -1e-6 * scale


def test_zero_matrix_gives_zero() -> None:
    result = project_conflicting(torch.zeros(3, 5))
    assert torch.equal(result, torch.zeros(5))


def test_zero_row_is_not_projected_against() -> None:
    grads = torch.tensor([[0.0, 0.0], [-1.0, 1.0], [1.0, 0.0]])
    projected = project_conflicting(grads, reduction="none", generator=torch.Generator().manual_seed(0))
    assert torch.equal(projected[0], torch.zeros(2))
    assert torch.isfinite(projected).all()


def test_underflowing_squared_norm_still_projects() -> None:
    # ‖g_1‖² = 2e-60 underflows to zero in float32, yet g_0 and g_1 conflict.
    grads = torch.tensor([[1.0, 0.0], [-1e-30, 1e-30]], dtype=torch.float32)
    projected = project_conflicting(grads, reduction="none")
    torch.testing.assert_close(projected[0], torch.tensor([0.5, 0.5]))


def conflicting_three_tasks() -> torch.Tensor:
    return torch.tensor([[1.0, 0.2, 0.0], [-0.8, 1.0, 0.3], [-0.5, -0.9, 1.0]], dtype=torch.float64)


def test_order_from_seeded_generator() -> None:
    grads = conflicting_three_tasks()
    first = project_conflicting(grads, generator=torch.Generator().manual_seed(3))
    second = project_conflicting(grads, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first, second)


def test_order_changes_with_seed() -> None:
    grads = conflicting_three_tasks()
    results = {tuple(project_conflicting(grads, generator=torch.Generator().manual_seed(s)).tolist()) for s in range(20)}
    assert len(results) > 1


def test_generator_leaves_global_rng_alone() -> None:
    state = torch.get_rng_state()
    project_conflicting(conflicting_three_tasks(), generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_output_keeps_dtype(dtype: torch.dtype) -> None:
    grads = torch.tensor([[1.0, 0.0], [-1.0, 1.0]], dtype=dtype)
    assert project_conflicting(grads).dtype == dtype
    assert project_conflicting(grads, reduction="none").dtype == dtype


def test_single_task_passes_through() -> None:
    grads = torch.tensor([[3.0, -4.0]])
    assert torch.equal(project_conflicting(grads), grads[0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"grads": torch.ones(3)}, "2-D tensor"),
        ({"grads": torch.ones(2, 3, dtype=torch.int64)}, "floating-point"),
        ({"grads": torch.ones(0, 3)}, "at least one row"),
        ({"grads": torch.ones(2, 3), "reduction": "max"}, "reduction must be one of"),
    ],
)
def test_invalid_arguments_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        project_conflicting(**kwargs)


def test_weights_rebuild_projection() -> None:
    grads = conflicting_three_tasks()
    orders = [[1, 2], [2, 0], [0, 1]]
    weights = pcgrad_weights(grads @ grads.T, orders)
    expected = []
    for i in range(3):
        gi = grads[i].clone()
        for j in orders[i]:
            inner = gi @ grads[j]
            if inner < 0:
                gi = gi - inner / (grads[j] @ grads[j]) * grads[j]
        expected.append(gi)
    torch.testing.assert_close(weights @ grads, torch.stack(expected))


# --- agreement with TorchJD ----------------------------------------------------------------

torchjd_aggregation = pytest.importorskip("torchjd.aggregation")


@settings(max_examples=100, deadline=None)
@given(gradient_matrices(2, max_parameters=30, elements=moderate_floats))
def test_agrees_with_torchjd_two_tasks(grads) -> None:
    ours = project_conflicting(grads)
    theirs = torchjd_aggregation.PCGrad()(grads)
    torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("tasks", [3, 4, 5])
@pytest.mark.parametrize("seed", range(5))
def test_agrees_with_torchjd_same_order(tasks: int, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    generator = torch.Generator().manual_seed(seed)
    grads = torch.randn(tasks, 50, generator=generator, dtype=torch.float64)

    # TorchJD draws randperm(T) per task and skips i itself; give it our orders.
    ours_generator = torch.Generator().manual_seed(seed)
    orders = []
    for i in range(tasks):
        others = [j for j in range(tasks) if j != i]
        permutation = torch.randperm(tasks - 1, generator=ours_generator).tolist()
        orders.append([i] + [others[p] for p in permutation])
    queue = iter(orders)
    module = __import__("torchjd.aggregation._pcgrad", fromlist=["torch"])
    real_torch = module.torch

    class PatchedTorch:
        def __getattr__(self, name):
            return getattr(real_torch, name)

        @staticmethod
        def randperm(n, *args, **kwargs):
            return torch.tensor(next(queue))

    monkeypatch.setattr(module, "torch", PatchedTorch())
    theirs = torchjd_aggregation.PCGrad()(grads)
    ours = project_conflicting(grads, generator=torch.Generator().manual_seed(seed))
    torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-9)


# --- PCGrad in training --------------------------------------------------------------------


def leafnet_losses(model: nn.Module, seed: int = 0) -> list[torch.Tensor]:
    x, targets = random_batches(1, batch_size=6, seed=seed)[0]
    return [F.cross_entropy(logits, target) for logits, target in zip(model.forward_all(x), targets)]


def per_task_gradients(model: nn.Module, seed: int = 0) -> list[list[torch.Tensor | None]]:
    gradients = []
    for loss in leafnet_losses(model, seed):
        model.zero_grad(set_to_none=True)
        loss.backward(retain_graph=True)
        gradients.append([None if p.grad is None else p.grad.clone() for p in model.parameters()])
    model.zero_grad(set_to_none=True)
    return gradients


def make_model(**kwargs) -> LeafNet:
    torch.manual_seed(0)
    model = LeafNet(channels=(4, 8), hidden=(16,), image_size=64, **kwargs)
    model.eval()  # batch statistics would differ between the separate forward passes
    return model


@pytest.mark.parametrize("modulation", [False, True])
def test_heads_keep_own_task_gradient(modulation: bool) -> None:
    model = make_model(modulation=modulation)
    reference = per_task_gradients(model)
    names = [name for name, _ in model.named_parameters()]

    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    pcgrad = PCGrad(optimizer, model.shared_parameters())
    pcgrad.backward(leafnet_losses(model))

    for index, (name, parameter) in enumerate(model.named_parameters()):
        if name.startswith("heads.0"):
            torch.testing.assert_close(parameter.grad, reference[0][index])
        if name.startswith("heads.1"):
            torch.testing.assert_close(parameter.grad, reference[1][index])
    assert any(name.startswith("heads.1") for name in names)


def test_modulation_rows_keep_own_task_gradient() -> None:
    model = make_model(modulation=True)
    reference = per_task_gradients(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    PCGrad(optimizer, model.shared_parameters()).backward(leafnet_losses(model))

    for index, (name, parameter) in enumerate(model.named_parameters()):
        if name.endswith("modulation.weight"):
            torch.testing.assert_close(parameter.grad[0], reference[0][index][0])
            torch.testing.assert_close(parameter.grad[1], reference[1][index][1])


def test_shared_gradient_is_projection() -> None:
    model = make_model()
    reference = per_task_gradients(model)
    shared_ids = {id(p) for p in model.shared_parameters()}
    shared_indices = [i for i, p in enumerate(model.parameters()) if id(p) in shared_ids]
    matrix = torch.stack([torch.cat([task[i].reshape(-1) for i in shared_indices]) for task in reference])
    expected = project_conflicting(matrix, generator=torch.Generator().manual_seed(7))

    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    PCGrad(optimizer, model.shared_parameters(), seed=7).backward(leafnet_losses(model))

    combined = torch.cat([p.grad.reshape(-1) for p in model.shared_parameters()])
    torch.testing.assert_close(combined, expected)


def test_graph_freed_after_last_task() -> None:
    model = make_model()
    losses = leafnet_losses(model)
    PCGrad(torch.optim.SGD(model.parameters(), lr=0.1), model.shared_parameters()).backward(losses)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        losses[1].backward()


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_gradients_keep_parameter_dtype(dtype: torch.dtype) -> None:
    model = make_model().to(dtype)
    x, targets = random_batches(1, batch_size=4)[0]
    losses = [F.cross_entropy(logits, target) for logits, target in zip(model.forward_all(x.to(dtype)), targets)]
    PCGrad(torch.optim.SGD(model.parameters(), lr=0.1), model.shared_parameters()).backward(losses)
    assert all(p.grad.dtype == dtype for p in model.parameters())


def test_backward_accumulates_like_autograd() -> None:
    model = make_model()
    pcgrad = PCGrad(torch.optim.SGD(model.parameters(), lr=0.1), model.shared_parameters(), seed=1)
    pcgrad.backward(leafnet_losses(model))
    once = [p.grad.clone() for p in model.parameters()]
    pcgrad.generator.manual_seed(1)
    pcgrad.backward(leafnet_losses(model))
    for parameter, first in zip(model.parameters(), once):
        torch.testing.assert_close(parameter.grad, 2 * first)


def test_state_dict_restores_order() -> None:
    model = make_model()
    pcgrad = PCGrad(torch.optim.SGD(model.parameters(), lr=0.1), model.shared_parameters(), seed=5)
    state = pcgrad.state_dict()
    first = torch.randperm(10, generator=pcgrad.generator)
    pcgrad.load_state_dict(state)
    assert torch.equal(torch.randperm(10, generator=pcgrad.generator), first)


class TwoHeads(nn.Module):
    """One shared linear layer and two linear heads, small enough to check by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.shared = nn.Linear(3, 4)
        self.heads = nn.ModuleList([nn.Linear(4, 1), nn.Linear(4, 1)])

    def losses(self, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        features = self.shared(x)
        return [((head(features).squeeze(1) - y[:, t]) ** 2).mean() for t, head in enumerate(self.heads)]


def conflicting_two_heads() -> tuple[TwoHeads, torch.Tensor, torch.Tensor]:
    for seed in range(100):
        torch.manual_seed(seed)
        model = TwoHeads().double()
        x = torch.randn(16, 3, dtype=torch.float64)
        y = torch.stack([x[:, 0], -x[:, 0]], dim=1)
        grads = [torch.autograd.grad(loss, list(model.shared.parameters()), retain_graph=True) for loss in model.losses(x, y)]
        if sum(float((a * b).sum()) for a, b in zip(*grads)) < 0:
            return model, x, y
    raise AssertionError("no conflicting seed found")


def wrapper_reference(model: TwoHeads, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """The wrapper's rule written out: project all flattened gradients, mean where shared."""
    parameters = list(model.parameters())
    rows, reached = [], []
    for loss in model.losses(x, y):
        grads = torch.autograd.grad(loss, parameters, allow_unused=True, retain_graph=True)
        rows.append(torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(parameters, grads)]))
        reached.append(torch.cat([torch.full((p.numel(),), g is not None) for p, g in zip(parameters, grads)]))
    projected = []
    for i in range(2):
        gi = rows[i].clone()
        j = 1 - i
        inner = gi @ rows[j]
        if inner < 0:
            gi = gi - inner / (rows[j] @ rows[j]) * rows[j]
        projected.append(gi)
    stacked = torch.stack(projected)
    shared = reached[0] & reached[1]
    merged = torch.where(shared, stacked.mean(dim=0), stacked.sum(dim=0))
    out, offset = [], 0
    for p in parameters:
        out.append(merged[offset : offset + p.numel()].view_as(p))
        offset += p.numel()
    return out


def test_wrapper_mode_matches_wrapper_rule() -> None:
    model, x, y = conflicting_two_heads()
    expected = wrapper_reference(model, x, y)
    pcgrad = PCGrad(torch.optim.SGD(model.parameters(), lr=0.1), mode="wrapper")
    pcgrad.backward(model.losses(x, y))
    for parameter, reference in zip(model.parameters(), expected):
        torch.testing.assert_close(parameter.grad, reference)


def test_wrapper_mode_leaks_into_heads() -> None:
    model, x, y = conflicting_two_heads()
    own = torch.autograd.grad(model.losses(x, y)[1], list(model.heads[1].parameters()))
    pcgrad = PCGrad(torch.optim.SGD(model.parameters(), lr=0.1), mode="wrapper")
    pcgrad.backward(model.losses(x, y))
    leaked = [p.grad - g for p, g in zip(model.heads[1].parameters(), own)]
    assert max(float(d.abs().max()) for d in leaked) > 1e-6


def test_wrapper_mode_leaves_shared_conflict() -> None:
    model, x, y = conflicting_two_heads()
    shared = list(model.shared.parameters())
    grads = [torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, shared, retain_graph=True)]) for loss in model.losses(x, y)]

    correct = project_conflicting(torch.stack(grads), reduction="none")
    assert float(correct[0] @ grads[1]) >= -1e-12

    parameters = list(model.parameters())
    rows = [
        torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(parameters, torch.autograd.grad(loss, parameters, allow_unused=True, retain_graph=True))])
        for loss in model.losses(x, y)
    ]
    wrapper = project_conflicting(torch.stack(rows), reduction="none")
    shared_size = sum(p.numel() for p in shared)
    assert float(wrapper[0, :shared_size] @ grads[1]) < 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "all"}, "mode must be one of"),
        ({"reduction": "none"}, "reduction must be one of"),
        ({"shared_parameters": None}, "shared_parameters is required"),
        ({"shared_parameters": []}, "shared_parameters is empty"),
        ({"shared_parameters": [nn.Parameter(torch.ones(2))]}, "does not update"),
    ],
)
def test_pcgrad_invalid_arguments(kwargs: dict, message: str) -> None:
    model = make_model()
    arguments = {"shared_parameters": list(model.shared_parameters())} | kwargs
    shared = arguments.pop("shared_parameters")
    with pytest.raises(ValueError, match=message):
        PCGrad(torch.optim.SGD(model.parameters(), lr=0.1), shared, **arguments)


def test_backward_rejects_bad_losses() -> None:
    model = make_model()
    pcgrad = PCGrad(torch.optim.SGD(model.parameters(), lr=0.1), model.shared_parameters())
    with pytest.raises(ValueError, match="empty sequence"):
        pcgrad.backward([])
    with pytest.raises(ValueError, match=r"losses\[0\] must be a scalar"):
        pcgrad.backward([torch.ones(3, requires_grad=True)])


def test_mean_reduction_halves_shared_part() -> None:
    model = make_model()
    total = PCGrad(torch.optim.SGD(model.parameters(), lr=0.1), model.shared_parameters(), seed=2)
    total.backward(leafnet_losses(model))
    summed = [p.grad.clone() for p in model.shared_parameters()]
    model.zero_grad(set_to_none=True)
    PCGrad(torch.optim.SGD(model.parameters(), lr=0.1), model.shared_parameters(), reduction="mean", seed=2).backward(
        leafnet_losses(model)
    )
    for parameter, reference in zip(model.shared_parameters(), summed):
        torch.testing.assert_close(parameter.grad, reference / 2)
    assert math.isclose(2.0, 2.0)
