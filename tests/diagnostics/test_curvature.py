from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mtllib.diagnostics import directional_curvature, gauss_legendre, measure_triad

from .helpers import QuadraticModel, quadratic_loss


def value_of(frame, quantity: str, **columns: object) -> float:
    selected = frame[frame["quantity"] == quantity]
    for column, wanted in columns.items():
        selected = selected[selected[column] == wanted]
    assert len(selected) == 1, selected
    return float(selected["value"].iloc[0])


@pytest.mark.parametrize("points", [1, 2, 3, 5])
def test_gauss_legendre_on_unit_interval(points: int) -> None:
    nodes, weights = gauss_legendre(points)

    assert len(nodes) == points
    assert sum(weights) == pytest.approx(1.0)
    assert all(0.0 < node < 1.0 for node in nodes)
    # Exact for polynomials of degree 2n - 1: ∫₀¹ a^k da = 1 / (k + 1).
    degree = 2 * points - 1
    assert sum(w * a**degree for a, w in zip(nodes, weights)) == pytest.approx(1.0 / (degree + 1))


def test_gauss_legendre_rejects_zero_points() -> None:
    with pytest.raises(ValueError, match="quadrature_points must be a positive int, got 0"):
        gauss_legendre(0)


@pytest.mark.parametrize("points", [1, 2, 4])
@pytest.mark.parametrize("lr", [0.0, 1e-3, 0.5])
def test_quadratic_curvature_is_exact(points: int, lr: float) -> None:
    generator = torch.Generator().manual_seed(1)
    root = torch.randn(5, 5, generator=generator, dtype=torch.float64)
    matrix = root @ root.T - 2.0 * torch.eye(5, dtype=torch.float64)  # symmetric, indefinite
    theta = torch.randn(5, generator=generator, dtype=torch.float64)
    gradient = matrix @ theta

    curvature = directional_curvature(
        lambda values: quadratic_loss(values[0], matrix), [theta], [gradient], lr=lr, quadrature_points=points
    )

    assert curvature == pytest.approx(float(gradient @ matrix @ gradient), rel=1e-10)


def test_quartic_needs_two_points() -> None:
    # L = Σ θ⁴/4 has Hessian diag(3θ²); along θ − a·lr·g the integrand is quadratic in a.
    theta = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    gradient = theta**3
    lr = 0.1

    def loss(values):
        return (values[0] ** 4).sum() / 4

    step = lr * gradient
    # ∫₀¹ Σ 3 g² (θ − a·s)² da = Σ 3 g² (θ² − θ·s + s²/3)
    exact = float((3 * gradient**2 * (theta**2 - theta * step + step**2 / 3)).sum())
    two_points = directional_curvature(loss, [theta], [gradient], lr=lr, quadrature_points=2)
    one_point = directional_curvature(loss, [theta], [gradient], lr=lr, quadrature_points=1)

    assert two_points == pytest.approx(exact, rel=1e-12)
    assert one_point != pytest.approx(exact, rel=1e-6)


def test_curvature_leaves_parameters_alone() -> None:
    theta = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    before = theta.detach().clone()

    directional_curvature(lambda values: (values[0] ** 3).sum(), [theta], [torch.ones(2)], lr=0.5)

    assert torch.equal(theta.detach(), before)
    assert theta.grad is None


def test_linear_loss_has_no_curvature() -> None:
    theta = torch.tensor([1.0, 2.0])
    assert directional_curvature(lambda values: values[0].sum(), [theta], [torch.ones(2)], lr=0.1) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": -0.1}, "lr must be a finite number >= 0, got -0.1"),
        ({"lr": math.inf}, "lr must be a finite number >= 0"),
        ({"lr": 0.1, "quadrature_points": 0}, "quadrature_points must be a positive int"),
    ],
)
def test_curvature_rejects_invalid_settings(kwargs: dict, message: str) -> None:
    theta = torch.zeros(2)
    with pytest.raises(ValueError, match=message):
        directional_curvature(lambda values: values[0].sum(), [theta], [theta], **kwargs)


def test_curvature_rejects_direction_shape() -> None:
    with pytest.raises(ValueError, match=r"direction\[0\] must have the shape of its parameter \(2,\), got \(3,\)"):
        directional_curvature(lambda values: values[0].sum(), [torch.zeros(2)], [torch.zeros(3)], lr=0.1)


@pytest.mark.parametrize("points", [1, 3])
def test_measure_triad_on_quadratic_tasks(points: int) -> None:
    # Task t's loss is ½ θᵀA_tθ, so g_t = A_tθ and the summed loss has Hessian A_0 + A_1.
    theta = torch.tensor([1.0, -1.0, 2.0], dtype=torch.float64)
    matrices = (
        torch.diag(torch.tensor([2.0, 1.0, 0.5], dtype=torch.float64)),
        torch.tensor([[1.0, 0.5, 0.0], [0.5, -3.0, 0.0], [0.0, 0.0, -1.0]], dtype=torch.float64),
    )
    model = QuadraticModel(theta)
    batch = (torch.zeros(1), matrices)

    frame = measure_triad(model, batch, quadratic_loss, quadrature_points=points, lr=0.05)

    g = [m @ theta for m in matrices]
    total = g[0] + g[1]
    expected_curvature = float(total @ (matrices[0] + matrices[1]) @ total)
    assert value_of(frame, "curvature") == pytest.approx(expected_curvature, rel=1e-10)
    assert value_of(frame, "gradient_squared_norm") == pytest.approx(float(total @ total))
    assert value_of(frame, "normalised_curvature") == pytest.approx(expected_curvature / float(total @ total))

    cosine = float(g[0] @ g[1] / (g[0].norm() * g[1].norm()))
    assert value_of(frame, "cosine", layer="all", task=0, task_j=1) == pytest.approx(cosine)
    assert value_of(frame, "grad_norm", layer="all", task=1) == pytest.approx(float(g[1].norm()))
    assert value_of(frame, "conflict", layer="all") == float(cosine < 0)


def test_zero_gradient_curvature_is_recorded_as_nan() -> None:
    model = QuadraticModel(torch.zeros(3, dtype=torch.float64))
    identity = torch.eye(3, dtype=torch.float64)

    frame = measure_triad(model, (torch.zeros(1), (identity, identity)), quadratic_loss)

    assert value_of(frame, "curvature") == 0.0
    assert np.isnan(value_of(frame, "normalised_curvature"))
    assert np.isnan(value_of(frame, "cosine", layer="all"))
    assert value_of(frame, "conflict", layer="all") == 0.0
