"""The pruned band transforms of ``functional/spectral.py``: agreement with ``torch.fft``, plans
built once per geometry, exact adjoints, gradients in float64 and precision under autocast."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_spectral.functional import band_for
from lightning_spectral.functional.spectral import (
    analysis_plan,
    apply_analysis,
    apply_synthesis,
    band_analysis,
    band_irfft,
    band_rfft,
    band_synthesis,
    filter_spectrum,
    synthesis_plan,
)


def _kept(full: torch.Tensor, band) -> torch.Tensor:
    """The band's coefficients of a full one-sided spectrum ``(..., *spectrum_shape)``."""
    if band.ndim == 1:
        return full[..., : band.cols]
    return full[..., band.row_indices(), : band.cols]


shapes = st.one_of(
    st.tuples(st.integers(2, 40)),
    st.tuples(st.integers(2, 24), st.integers(2, 24)),
)


@settings(max_examples=30, deadline=None)
@given(shape=shapes, compression=st.floats(0.0, 0.95), seed=st.integers(0, 2**16))
def test_band_rfft_is_rfftn_on_the_band_and_band_irfft_its_inverse(shape, compression, seed):
    band = band_for(shape, compression)
    dims = tuple(range(-band.ndim, 0))
    x = torch.randn(
        2, 3, *shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )
    full = torch.fft.rfftn(x, dim=dims)
    torch.testing.assert_close(band_rfft(x, band), _kept(full, band))
    masked = full * band.mask()
    expected = torch.fft.irfftn(masked, s=shape, dim=dims)
    torch.testing.assert_close(band_irfft(_kept(full, band), band), expected)


@settings(max_examples=25, deadline=None)
@given(
    shape=shapes,
    compression=st.floats(0.0, 0.9),
    origin=st.integers(0, 2),
    step=st.integers(1, 2),
)
def test_analysis_and_synthesis_are_adjoint(shape, compression, origin, step):
    """<A x, Z> == <x, A* Z> for the unweighted pair: the basis of the custom backward."""
    ndim = len(shape)
    origins = tuple(min(origin, n - 1) for n in shape)
    sizes = tuple((n - o - 1) // step + 1 for n, o in zip(shape, origins, strict=True))
    band = band_for(shape, compression)
    plan = analysis_plan(band, origins, (step,) * ndim, sizes)
    x = torch.randn(2, *sizes, dtype=torch.float64, requires_grad=True)
    z = torch.randn(*band.kept_shape, 2, dtype=torch.complex128)
    (grad,) = torch.autograd.grad(apply_analysis(x, plan), x, z)
    # The gradient of Re<A x, z> w.r.t. x is A^H z: check it against the explicit inner product.
    lhs = (apply_analysis(x.detach(), plan).conj() * z).real.sum()
    torch.testing.assert_close(lhs, (x.detach() * grad).sum())


def test_plans_are_built_once_per_geometry():
    band = band_for((12, 10), 0.5)
    first = analysis_plan(band, (1, 1), (1, 1), (10, 8))
    assert analysis_plan(band, (1, 1), (1, 1), (10, 8)) is first
    assert synthesis_plan(band, (5, 4), (2, 2)) is synthesis_plan(band, (5, 4), (2, 2))
    assert analysis_plan(band, (0, 0), (1, 1), (10, 8)) is not first


def test_padding_origin_and_stride_match_an_explicit_pad_and_subsample():
    band = band_for((12, 11), 0.4)
    x = torch.randn(3, 9, 8, dtype=torch.float64)
    padded = torch.nn.functional.pad(x, (2, 1, 1, 2))
    torch.testing.assert_close(band_analysis(x, band, origin=(1, 2)), band_analysis(padded, band))
    kept = band_analysis(padded, band)
    full = band_synthesis(kept, band)
    torch.testing.assert_close(
        band_synthesis(kept, band, (6, 4), (2, 3)), full[:, ::2, ::3][:, :6, :4]
    )


def test_filter_spectrum_of_a_dilated_filter():
    band = band_for((10, 9), 0.3)
    w = torch.randn(4, 2, 3, 2, dtype=torch.float64)
    canvas = w.new_zeros(4, 2, 10, 9)
    canvas[..., 0:5:2, 0:3:2] = w
    expected = _kept(torch.fft.rfftn(canvas, dim=(-2, -1)), band)
    torch.testing.assert_close(filter_spectrum(w, band, (2, 2), torch.complex128), expected)


@pytest.mark.parametrize("shape", [(9,), (7, 6)])
def test_gradcheck_of_both_transforms(shape):
    band = band_for(shape, 0.5)
    x = torch.randn(2, *shape, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: band_analysis(t, band), (x,))
    z = torch.randn(*band.kept_shape, 2, dtype=torch.complex128, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: band_synthesis(t, band), (z,))


def test_transforms_compute_in_float32_under_autocast():
    band = band_for((16, 16), 0.5)
    plan = analysis_plan(band, (0, 0), (1, 1), (16, 16))
    x = torch.randn(2, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = apply_analysis(x, plan)
        back = apply_synthesis(inside, synthesis_plan(band, (16, 16), (1, 1)))
    assert inside.dtype == torch.complex64 and back.dtype == torch.float32
    torch.testing.assert_close(inside, apply_analysis(x, plan))
