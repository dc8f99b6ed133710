"""Orthonormal spectral coordinates of filters: definition against rfftn, isometry, exact
inverse, the earlier layout's inverse, argument errors."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_spectral.functional.parametrization import (
    filter_bin_magnitudes,
    filter_from_rfft,
    filter_to_spectral,
    spectral_basis,
    spectral_coordinates,
    spectral_to_filter,
)

kernels = st.one_of(
    st.tuples(st.integers(1, 7)),
    st.tuples(st.integers(1, 7), st.integers(1, 7)),
    st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4)),
)


@settings(max_examples=40, deadline=None)
@given(kernel=kernels)
def test_coordinates_are_the_scaled_rfftn_bins_without_dead_ones(kernel):
    w = torch.randn(2, 3, *kernel, dtype=torch.float64)
    coords = filter_to_spectral(w, kernel)
    assert coords.shape == (2, 3, math.prod(kernel))
    spectrum = torch.fft.rfftn(w, dim=tuple(range(-len(kernel), 0)), norm="ortho")
    for j, (bin_, part) in enumerate(spectral_coordinates(kernel)):
        value = spectrum[(..., *bin_)]
        self_conjugate = all((-b) % k == b for b, k in zip(bin_, kernel, strict=True))
        if self_conjugate:
            assert part == "real"
            torch.testing.assert_close(value.imag, torch.zeros_like(value.imag), atol=1e-12, rtol=0)
        expected = (value.real if part == "real" else value.imag) * (
            1.0 if self_conjugate else math.sqrt(2.0)
        )
        torch.testing.assert_close(coords[..., j], expected, rtol=0, atol=1e-12)
    # Parseval: the map is an isometry, and the inverse is exact.
    torch.testing.assert_close(coords.square().sum(-1), w.square().flatten(2).sum(-1))
    torch.testing.assert_close(spectral_to_filter(coords, kernel), w, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "kernel", [(1,), (2,), (6,), (7,), (1, 1), (2, 2), (3, 3), (4, 4), (2, 5), (7, 4), (6, 7)]
)
def test_jacobian_is_orthogonal(kernel):
    """J J^T = I in float64: equal step lengths along every coordinate, none dead."""
    count = math.prod(kernel)
    coords = torch.randn(count, dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(
        lambda c: spectral_to_filter(c, kernel).flatten(), coords
    )
    assert jacobian.shape == (count, count)
    eye = torch.eye(count, dtype=torch.float64)
    torch.testing.assert_close(jacobian @ jacobian.T, eye, rtol=0, atol=1e-13)
    torch.testing.assert_close(jacobian.T @ jacobian, eye, rtol=0, atol=1e-13)
    assert torch.autograd.gradcheck(
        lambda c: spectral_to_filter(c, kernel), (coords.requires_grad_(),)
    )


def test_basis_is_cached_orthogonal_and_cast():
    basis = spectral_basis((3, 4))
    assert basis.shape == (12, 12) and basis.dtype == torch.float64
    torch.testing.assert_close(
        basis @ basis.T, torch.eye(12, dtype=torch.float64), rtol=0, atol=1e-14
    )
    assert spectral_basis((3, 4)) is basis
    assert spectral_basis([3, 4], dtype=torch.float32).dtype == torch.float32


def test_coordinate_order_and_counts():
    # 4 x 4: self-conjugate bins (0,0), (0,2), (2,0), (2,2); 6 pairs -> 4 + 12 = 16.
    coords = spectral_coordinates((4, 4))
    assert len(coords) == 16
    assert sum(part == "imag" for _, part in coords) == 6
    assert coords[:4] == (((0, 0), "real"), ((0, 1), "real"), ((0, 1), "imag"), ((0, 2), "real"))
    # Row -1 of a self-conjugate column is row 1's conjugate: only row 1 appears.
    assert ((3, 0), "real") not in coords and ((1, 0), "imag") in coords


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_low_precision_keeps_dtype_and_computes_in_float32(dtype):
    w = torch.randn(2, 2, 3, 3).to(dtype)
    coords = filter_to_spectral(w, (3, 3))
    assert coords.dtype == dtype
    assert spectral_to_filter(coords, (3, 3)).dtype == dtype
    exact = filter_to_spectral(w.double(), (3, 3))
    torch.testing.assert_close(coords.double(), exact, rtol=0, atol=5e-2)


@pytest.mark.parametrize("kernel", [(1,), (4,), (5,), (3, 3), (3, 4), (2, 2, 3)])
def test_filter_from_rfft_inverts_the_earlier_layout(kernel):
    w = torch.randn(2, 1, *kernel, dtype=torch.float64)
    old = torch.view_as_real(
        torch.fft.rfftn(w, dim=tuple(range(-len(kernel), 0)), norm="ortho")
    ).contiguous()
    torch.testing.assert_close(filter_from_rfft(old, kernel), w, rtol=0, atol=1e-12)


def test_bin_magnitudes():
    w = torch.zeros(1, 1, 3, 4)
    w[..., 0, 0] = 1.0  # a delta: flat spectrum 1 / sqrt(12)
    magnitude = filter_bin_magnitudes(w, (3, 4))
    assert magnitude.shape == (1, 1, 3, 3)
    torch.testing.assert_close(magnitude, torch.full_like(magnitude, 12**-0.5))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: spectral_coordinates((3.0, 3)), TypeError, "kernel_size"),
        (lambda: spectral_coordinates(3), TypeError, "kernel_size"),
        (lambda: spectral_coordinates("33"), TypeError, "kernel_size"),
        (lambda: spectral_coordinates((True, 3)), TypeError, "kernel_size"),
        (lambda: spectral_coordinates((0, 3)), ValueError, r"kernel_size.*\(0, 3\)"),
        (lambda: spectral_coordinates((1, 1, 1, 1)), ValueError, "1 to 3"),
        (lambda: filter_to_spectral(torch.randn(2, 3, 4), (3, 3)), ValueError, r"\(2, 3, 4\)"),
        (
            lambda: filter_to_spectral(torch.ones(3, 3, dtype=torch.long), (3, 3)),
            TypeError,
            "weight",
        ),
        (lambda: spectral_to_filter(torch.randn(2, 8), (3, 3)), ValueError, "= 9"),
        (lambda: spectral_to_filter([1.0], (1,)), TypeError, "coords"),
        (lambda: filter_from_rfft(torch.randn(3, 2, 2), (3, 4)), ValueError, r"\(3, 3, 2\)"),
        (lambda: filter_bin_magnitudes(torch.randn(3, 2), (3, 3)), ValueError, "kernel_size"),
    ],
)
def test_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()
