from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mtllib.diagnostics import gradient_similarity, similarity_from_products


def test_parallel_gradients_of_equal_norm() -> None:
    values = gradient_similarity(torch.tensor([3.0, 4.0]), torch.tensor([3.0, 4.0]))

    assert values["dot"] == 25.0
    assert values["squared_norm_i"] == 25.0
    assert values["cosine"] == pytest.approx(1.0)
    assert values["magnitude_similarity"] == pytest.approx(1.0)
    assert values["conflict"] == 0.0


def test_opposite_gradients_conflict() -> None:
    values = gradient_similarity(torch.tensor([1.0, 2.0]), torch.tensor([-1.0, -2.0]))

    assert values["cosine"] == pytest.approx(-1.0)
    assert values["magnitude_similarity"] == pytest.approx(1.0)
    assert values["conflict"] == 1.0


def test_orthogonal_gradients_do_not_conflict() -> None:
    values = gradient_similarity(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 5.0]))

    assert values["dot"] == 0.0
    assert values["cosine"] == 0.0
    assert values["conflict"] == 0.0


def test_dominating_gradient_magnitude_similarity() -> None:
    # ‖g_i‖ = 1 and ‖g_j‖ = 10: 2·1·10 / (1 + 100).
    values = gradient_similarity(torch.tensor([1.0, 0.0]), torch.tensor([-6.0, 8.0]))

    assert values["magnitude_similarity"] == pytest.approx(20.0 / 101.0)
    assert values["cosine"] == pytest.approx(-0.6)
    assert values["conflict"] == 1.0


def test_one_zero_gradient() -> None:
    values = gradient_similarity(torch.zeros(3), torch.tensor([1.0, -2.0, 2.0]))

    assert values["dot"] == 0.0
    assert values["squared_norm_j"] == 9.0
    assert math.isnan(values["cosine"])
    assert values["magnitude_similarity"] == 0.0
    assert values["conflict"] == 0.0


def test_both_gradients_zero() -> None:
    values = gradient_similarity(torch.zeros(3), torch.zeros(3))

    assert math.isnan(values["cosine"])
    assert math.isnan(values["magnitude_similarity"])
    assert values["conflict"] == 0.0


def test_shared_mask_restricts_the_pair() -> None:
    g_i = torch.tensor([1.0, 1.0, 5.0])
    g_j = torch.tensor([1.0, -1.0, 0.0])
    shared = torch.tensor([True, False, False])

    values = gradient_similarity(g_i, g_j, shared)

    assert values["dot"] == 1.0
    assert values["squared_norm_i"] == 1.0
    assert values["squared_norm_j"] == 1.0
    assert values["cosine"] == pytest.approx(1.0)


def test_tiny_gradients_keep_their_cosine() -> None:
    # Squared norms of 1e-30 float32 gradients underflow in float32; the sums run in float64.
    values = gradient_similarity(torch.tensor([1e-30, 0.0]), torch.tensor([-1e-30, 1e-30]))

    assert values["cosine"] == pytest.approx(-math.sqrt(0.5), rel=1e-6)
    assert values["conflict"] == 1.0


def test_gradient_similarity_rejects_shape_mismatch() -> None:
    with pytest.raises(ValueError, match=r"g_i and g_j must have the same shape, got \(2,\) and \(3,\)"):
        gradient_similarity(torch.zeros(2), torch.zeros(3))


def test_similarity_rejects_negative_squared_norm() -> None:
    with pytest.raises(ValueError, match="squared norms must be >= 0"):
        similarity_from_products(0.0, -1.0, 1.0)


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, width=32)


@given(st.lists(st.tuples(finite, finite), min_size=1, max_size=8))
def test_similarity_ranges(pairs: list[tuple[float, float]]) -> None:
    g_i = torch.tensor([a for a, _ in pairs])
    g_j = torch.tensor([b for _, b in pairs])

    values = gradient_similarity(g_i, g_j)

    assert values["conflict"] == (1.0 if values["dot"] < 0 else 0.0)
    if values["squared_norm_i"] > 0 and values["squared_norm_j"] > 0:
        assert -1.0 <= values["cosine"] <= 1.0
        assert 0.0 <= values["magnitude_similarity"] <= 1.0 + 1e-12
        assert (values["cosine"] < 0) == (values["conflict"] == 1.0)
    else:
        assert math.isnan(values["cosine"])
