"""Spectral pooling (Rippel et al. 2015, Alg. 1 and 2) and frequency dropout (``cutoff``)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_spectral.functional import spectral_pool1d, spectral_pool2d
from lightning_spectral.functional.pooling import spectral_pool_matrix

POOL = {1: spectral_pool1d, 2: spectral_pool2d}


@st.composite
def pool_sizes(draw, max_size: int = 24) -> tuple[int, int]:
    """An input size and an output size <= it (each odd or even)."""
    size = draw(st.integers(1, max_size))
    return size, draw(st.integers(1, size))


def _cutoff_scale(out_size: int, cutoff: int) -> torch.Tensor:
    """Documented frequency-dropout weights on the one-sided bins of the output."""
    scale = torch.zeros(out_size // 2 + 1, dtype=torch.float64)
    if cutoff == out_size:  # no dropout (an even size's Nyquist bin is one bin, not a pair)
        return scale + 1.0
    for k in range(out_size // 2 + 1):
        if 2 * k < cutoff:
            scale[k] = 1.0
        elif 2 * k == cutoff:  # even cutoff: the pair +-cutoff/2 at half weight
            scale[k] = 0.5
    return scale


def _adjoint_1d(y: torch.Tensor, in_size: int, cutoff: int, dim: int) -> torch.Tensor:
    """Rippel's Alg. 2 along one dim: zero-pad the (cut) spectrum of ``y`` back to ``in_size``.

    Derivation: P = F_n^-1 (n/N) C F_N with C the crop (+ Nyquist fold), so
    P^T = F_N^H C^H (n/N) F_n^-H = F_N^-1 C^H F_n; C^H zero-pads and copies the (real) folded
    Nyquist bin to both +-n/2, which is what irfft's Hermitian completion does.
    """
    y = y.movedim(dim, -1)
    out_size = y.shape[-1]
    spectrum = torch.fft.rfft(y) * _cutoff_scale(out_size, cutoff).to(y.dtype)
    padded = torch.zeros(*y.shape[:-1], in_size // 2 + 1, dtype=spectrum.dtype)
    padded[..., : spectrum.shape[-1]] = spectrum
    return torch.fft.irfft(padded, n=in_size).movedim(-1, dim)


def _wave(shape: tuple[int, ...], freqs: tuple[int, ...], phase: float) -> torch.Tensor:
    """cos(2 pi sum_i k_i t_i / N_i + phase) sampled on a grid of ``shape``."""
    grids = torch.meshgrid(
        *[torch.arange(n, dtype=torch.float64) / n for n in shape], indexing="ij"
    )
    angle = sum(2 * math.pi * k * g for k, g in zip(freqs, grids, strict=True))
    return torch.cos(angle + phase)


# --------------------------------------------------------------------------------------------
# Alg. 1: shapes, realness, amplitude, resampling of band-limited content
# --------------------------------------------------------------------------------------------


@settings(max_examples=30)
@given(sizes=pool_sizes(), batch=st.sampled_from([None, 1, 3]))
def test_pool1d_shape_dtype_constant(sizes: tuple[int, int], batch: int | None) -> None:
    in_size, out_size = sizes
    lead = () if batch is None else (batch,)
    x = torch.full((*lead, 2, in_size), 3.5, dtype=torch.float64)
    y = spectral_pool1d(x, out_size)
    assert y.shape == (*lead, 2, out_size) and y.dtype == torch.float64
    torch.testing.assert_close(y, torch.full_like(y, 3.5), rtol=0, atol=1e-12)


@settings(max_examples=30)
@given(h=pool_sizes(), w=pool_sizes())
def test_pool2d_shape_dtype_constant(h: tuple[int, int], w: tuple[int, int]) -> None:
    x = torch.full((2, 3, h[0], w[0]), -1.25)
    y = spectral_pool2d(x, (h[1], w[1]))
    assert y.shape == (2, 3, h[1], w[1]) and y.dtype == torch.float32 and not y.is_complex()
    torch.testing.assert_close(y, torch.full_like(y, -1.25), rtol=0, atol=1e-5)


@settings(max_examples=20)
@given(h=st.integers(1, 20), w=st.integers(1, 20))
def test_identity_at_equal_size(h: int, w: int) -> None:
    x = torch.randn(2, 3, h, w)
    torch.testing.assert_close(spectral_pool2d(x, (h, w)), x, rtol=0, atol=0)
    torch.testing.assert_close(spectral_pool1d(x[:, 0], w), x[:, 0], rtol=0, atol=0)
    torch.testing.assert_close(spectral_pool2d(x[0], (h, w), cutoff=(h, w)), x[0], rtol=0, atol=0)


@given(sizes=pool_sizes(32), data=st.data())
def test_pool1d_resamples_band_limited_cosines(sizes: tuple[int, int], data) -> None:
    # Alg. 1 keeps frequencies |k| < n/2 untouched (the result samples the same cosine on the
    # coarser grid); for even n, the folded Nyquist bin makes |k| = n/2 exact too.
    in_size, out_size = sizes
    freq = data.draw(st.integers(0, min(out_size // 2, in_size // 2)), label="freq")
    phase = data.draw(st.floats(-math.pi, math.pi), label="phase")
    x = _wave((in_size,), (freq,), phase)
    y = spectral_pool1d(x[None], out_size)[0]
    torch.testing.assert_close(y, _wave((out_size,), (freq,), phase), rtol=0, atol=1e-12)


@settings(max_examples=60)
@given(h=pool_sizes(20), w=pool_sizes(20), data=st.data())
def test_pool2d_resamples_band_limited_plane_waves(h, w, data) -> None:
    # Including frequencies at the new Nyquist of an even output (folded rows/columns).
    fr = data.draw(st.integers(-min(h[1] // 2, h[0] // 2), min(h[1] // 2, h[0] // 2)))
    fc = data.draw(st.integers(0, min(w[1] // 2, w[0] // 2)))
    phase = data.draw(st.floats(-math.pi, math.pi))
    x = _wave((h[0], w[0]), (fr, fc), phase)
    y = spectral_pool2d(x[None], (h[1], w[1]))[0]
    torch.testing.assert_close(y, _wave((h[1], w[1]), (fr, fc), phase), rtol=0, atol=1e-12)


@given(sizes=pool_sizes(32), data=st.data())
def test_pool1d_removes_frequencies_above_the_output_band(sizes: tuple[int, int], data) -> None:
    in_size, out_size = sizes
    low = out_size // 2 + 1  # first frequency the output cannot hold (nor fold)
    if low > in_size // 2:
        return  # nothing above the output band exists in the input
    freq = data.draw(st.integers(low, in_size // 2))
    x = _wave((in_size,), (freq,), data.draw(st.floats(-math.pi, math.pi)))
    y = spectral_pool1d(x[None], out_size)
    assert y.abs().max() < 1e-12


def test_nyquist_cosine_keeps_its_amplitude() -> None:
    # Documented fold: a cosine at the new Nyquist frequency (period 2 on the output grid)
    # keeps amplitude 1; the plain centred crop would keep only one of the +-n/2 bins (1/2).
    x = _wave((24, 20), (6, 5), 0.0)  # rows: 6 = 12 / 2, cols: 5 = 10 / 2
    y = spectral_pool2d(x[None], (12, 10))[0]
    rows = torch.tensor([(-1.0) ** r for r in range(12)], dtype=torch.float64)
    cols = torch.tensor([(-1.0) ** c for c in range(10)], dtype=torch.float64)
    torch.testing.assert_close(y, rows[:, None] * cols[None, :], rtol=0, atol=1e-12)
    y1 = spectral_pool1d(_wave((17,), (4,), 0.0)[None], 8)[0]
    torch.testing.assert_close(y1, rows[:8], rtol=0, atol=1e-12)


def _output_bin(freq: int, out_size: int, in_size: int) -> int | None:
    """Where Alg. 1 puts input frequency ``freq`` (signed) in the output, or None if cropped."""
    if in_size == out_size or 2 * abs(freq) < out_size:
        return freq % out_size
    if out_size % 2 == 0 and 2 * abs(freq) == out_size:
        return out_size // 2  # both +-n/2 fold onto the single Nyquist bin
    return None


@pytest.mark.parametrize("out", [(13, 10), (7, 5), (6, 4), (12, 9), (13, 6), (1, 1), (2, 2)])
def test_pool_matches_a_centred_crop_reference(out: tuple[int, int]) -> None:
    # Alg. 1 on the full two-sided spectrum, bin by bin.
    height, width = 13, 10
    x = torch.randn(height, width, dtype=torch.float64)
    spectrum = torch.fft.fft2(x)
    kept = torch.zeros(out, dtype=spectrum.dtype)
    for r in range(height):
        for c in range(width):
            target_r = _output_bin(r if 2 * r < height else r - height, out[0], height)
            target_c = _output_bin(c if 2 * c <= width else c - width, out[1], width)
            if target_r is not None and target_c is not None:
                kept[target_r, target_c] += spectrum[r, c]
    expected = torch.fft.ifft2(kept) * (out[0] * out[1] / (height * width))
    assert expected.imag.abs().max() < 1e-12  # the reference is real
    y = spectral_pool2d(x[None], out)[0]
    torch.testing.assert_close(y, expected.real, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------------------------
# Alg. 2: the backward is the exact adjoint
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("in_size", "out_size", "cutoff"),
    [
        ((8, 7), (4, 5), None),
        ((6, 6), (6, 6), (3, 4)),
        ((7, 8), (6, 5), (4, 3)),
    ],
)
def test_gradcheck_pool2d(in_size, out_size, cutoff) -> None:
    x = torch.randn(1, 1, *in_size, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: spectral_pool2d(t, out_size, cutoff), (x,))


@pytest.mark.parametrize(
    ("in_size", "out_size", "cutoff"), [(12, 6, None), (11, 7, 4), (10, 10, 3)]
)
def test_gradcheck_pool1d(in_size: int, out_size: int, cutoff: int | None) -> None:
    x = torch.randn(2, in_size, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: spectral_pool1d(t, out_size, cutoff), (x,))


@settings(max_examples=40)
@given(h=pool_sizes(16), w=pool_sizes(16), data=st.data())
def test_backward_is_the_zero_padding_adjoint(h, w, data) -> None:
    cutoff = (data.draw(st.integers(1, h[1])), data.draw(st.integers(1, w[1])))
    gen = torch.Generator().manual_seed(data.draw(st.integers(0, 2**16)))
    x = torch.randn(2, h[0], w[0], generator=gen, dtype=torch.float64, requires_grad=True)
    y = torch.randn(2, h[1], w[1], generator=gen, dtype=torch.float64)
    pooled = spectral_pool2d(x, (h[1], w[1]), cutoff)
    (adjoint_y,) = torch.autograd.grad(pooled, x, y)
    # <P x, y> == <x, P^T y> with P^T from autograd ...
    torch.testing.assert_close((pooled * y).sum(), (x * adjoint_y).sum(), rtol=1e-10, atol=1e-10)
    # ... and P^T is Alg. 2 (zero-pad the spectrum), computed independently.
    expected = _adjoint_1d(_adjoint_1d(y, h[0], cutoff[0], dim=-2), w[0], cutoff[1], dim=-1)
    torch.testing.assert_close(adjoint_y, expected, rtol=0, atol=1e-12)
    # The same holds in 1D.
    x1 = x[:, 0].detach().requires_grad_()
    (adjoint_1d,) = torch.autograd.grad(spectral_pool1d(x1, w[1], cutoff[1]), x1, y[:, 0])
    torch.testing.assert_close(
        adjoint_1d, _adjoint_1d(y[:, 0], w[0], cutoff[1], dim=-1), rtol=0, atol=1e-12
    )


# --------------------------------------------------------------------------------------------
# Frequency dropout (cutoff)
# --------------------------------------------------------------------------------------------


@settings(max_examples=40)
@given(sizes=pool_sizes(24), data=st.data())
def test_cutoff_keeps_only_the_central_band(sizes: tuple[int, int], data) -> None:
    in_size, out_size = sizes
    cutoff = data.draw(st.integers(1, out_size))
    x = torch.randn(3, in_size, dtype=torch.float64)
    plain = spectral_pool1d(x, out_size)
    cut = spectral_pool1d(x, out_size, cutoff=cutoff)
    assert cut.shape == plain.shape  # dropout keeps the output size
    # Bins below cutoff/2 untouched, +-cutoff/2 (even cutoff) halved, everything above zero.
    weights = _cutoff_scale(out_size, cutoff)
    expected = torch.fft.rfft(plain) * weights
    torch.testing.assert_close(torch.fft.rfft(cut), expected, rtol=0, atol=1e-10)
    kept = (weights > 0).sum().item()
    assert kept == cutoff // 2 + 1


@pytest.mark.parametrize(
    ("cutoff", "nonzero_rows"), [(3, [0, 1, 5]), (4, [0, 1, 2, 4, 5]), (1, [0])]
)
def test_cutoff_2d_spectrum(cutoff: int, nonzero_rows: list[int]) -> None:
    x = torch.randn(2, 11, 14, dtype=torch.float64)
    y = spectral_pool2d(x, (6, 7), cutoff=cutoff)
    spectrum = torch.fft.rfft2(y)
    rows = spectrum.abs().amax(dim=(0, 2)) > 1e-9
    cols = spectrum.abs().amax(dim=(0, 1)) > 1e-9
    assert rows.nonzero().flatten().tolist() == nonzero_rows
    assert cols.nonzero().flatten().tolist() == list(range(cutoff // 2 + 1))
    torch.testing.assert_close(
        spectral_pool2d(x, (6, 7), cutoff=(6, 7)), spectral_pool2d(x, (6, 7)), rtol=0, atol=0
    )


def test_even_cutoff_keeps_more_than_the_odd_below_it() -> None:
    x = _wave((16,), (2,), 0.3)[None]
    assert spectral_pool1d(x, 12, cutoff=3).abs().max() < 1e-12  # |k| <= 1 only
    # |k| = 2 at half weight for cutoff 4, fully for cutoff 5.
    torch.testing.assert_close(
        spectral_pool1d(x, 12, cutoff=4), 0.5 * _wave((12,), (2,), 0.3)[None]
    )
    torch.testing.assert_close(spectral_pool1d(x, 12, cutoff=5), _wave((12,), (2,), 0.3)[None])


# --------------------------------------------------------------------------------------------
# Precision
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_inputs_return_input_dtype(dtype: torch.dtype) -> None:
    x = (50 + torch.randn(2, 3, 30, 30)).to(dtype)  # float16 spectra of this would overflow
    y = spectral_pool2d(x, (15, 16), cutoff=(9, 10))
    assert y.dtype == dtype and torch.isfinite(y).all()
    expected = spectral_pool2d(x.float(), (15, 16), cutoff=(9, 10)).to(dtype)
    torch.testing.assert_close(y, expected, rtol=0, atol=0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z = spectral_pool2d(x.float(), (15, 16))
    assert z.dtype == torch.float32


# --------------------------------------------------------------------------------------------
# Bad arguments
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"output_size": (9, 8)},
            ValueError,
            r"`output_size` must be <= the input size \(8, 8\), got \(9, 8\)",
        ),
        ({"output_size": 0}, ValueError, r"`output_size` must be >= 1, got 0"),
        (
            {"output_size": (4, 4, 4)},
            TypeError,
            r"`output_size` must be an int or a sequence of 2 ints",
        ),
        (
            {"output_size": 4.0},
            TypeError,
            r"`output_size` must be an int or a sequence of 2 ints, got 4.0",
        ),
        ({"output_size": 4, "cutoff": 0}, ValueError, r"`cutoff` must be >= 1, got 0"),
        (
            {"output_size": 4, "cutoff": 5},
            ValueError,
            r"`cutoff` must be in \[1, output_size=\(4, 4\)\], got 5",
        ),
        ({"output_size": (4, 6), "cutoff": (4, 7)}, ValueError, r"`cutoff`.*got \(4, 7\)"),
        (
            {"output_size": 4, "input": torch.randn(8, 8)},
            ValueError,
            r"`input` must have 3 or 4 dimensions, got shape \(8, 8\)",
        ),
        (
            {"output_size": 4, "input": torch.ones(1, 8, 8, dtype=torch.int32)},
            TypeError,
            r"`input` must be a floating tensor, got torch.int32",
        ),
    ],
)
def test_pool2d_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    kwargs = {"input": torch.randn(2, 3, 8, 8), **kwargs}
    with pytest.raises(error, match=match):
        spectral_pool2d(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"output_size": 17},
            ValueError,
            r"`output_size` must be <= the input size \(16,\), got \(17,\)",
        ),
        (
            {"output_size": 8, "cutoff": 9},
            ValueError,
            r"`cutoff` must be in \[1, output_size=\(8,\)\], got 9",
        ),
        ({"output_size": 8, "cutoff": -1}, ValueError, r"`cutoff` must be >= 1, got -1"),
        (
            {"output_size": 8, "input": torch.randn(1, 1, 4, 16)},
            ValueError,
            r"`input` must have 2 or 3 dimensions",
        ),
    ],
)
def test_pool1d_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    kwargs = {"input": torch.randn(2, 3, 16), **kwargs}
    with pytest.raises(error, match=match):
        spectral_pool1d(**kwargs)


# --------------------------------------------------------------------------------------------
# Empty batches, autocast, the matrix form
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "output_size", "cutoff", "reference"),
    [
        ((0, 3, 9, 8), (4, 4), None, lambda x: torch.nn.functional.avg_pool2d(x, 2)),
        (
            (0, 3, 9, 8),
            (3, 5),
            (2, 3),
            lambda x: torch.nn.functional.adaptive_avg_pool2d(x, (3, 5)),
        ),
        ((0, 2, 11), 5, 3, lambda x: torch.nn.functional.avg_pool1d(x, 2)),
        ((0, 2, 11), 11, None, lambda x: torch.nn.functional.avg_pool1d(x, 1)),
    ],
)
def test_empty_batch_forward_and_backward(shape, output_size, cutoff, reference) -> None:
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    y = POOL[len(shape) - 2](x, output_size, cutoff)
    assert y.shape == reference(x).shape and y.dtype == x.dtype
    y.sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape


@pytest.mark.parametrize("ndim", [1, 2])
def test_empty_batch_arguments_are_still_checked(ndim: int) -> None:
    x = torch.randn(0, 2, *(6,) * ndim)
    with pytest.raises(ValueError, match=r"`output_size` must be <= the input size"):
        POOL[ndim](x, 7)
    with pytest.raises(ValueError, match=r"`cutoff` must be in \[1, output_size"):
        POOL[ndim](x, 3, 4)


@pytest.mark.parametrize("ndim", [1, 2])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_autocast_output_dtype_is_the_input_dtype(ndim: int, dtype: torch.dtype) -> None:
    x = torch.randn(2, 3, *(15,) * ndim).to(dtype)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = POOL[ndim](x, 7, 5)
    assert y.dtype == dtype  # pools are not on autocast's lists (like max_pool2d)
    torch.testing.assert_close(y, POOL[ndim](x.float(), 7, 5).to(dtype), rtol=0, atol=0)


@settings(max_examples=25)
@given(sizes=pool_sizes(), data=st.data())
def test_pool_matrix_is_the_pool(sizes: tuple[int, int], data) -> None:
    in_size, out_size = sizes
    cutoff = data.draw(st.one_of(st.none(), st.integers(1, out_size)))
    m = spectral_pool_matrix(in_size, out_size, cutoff, dtype=torch.float64)
    assert m.shape == (out_size, in_size) and m.dtype == torch.float64
    x = torch.randn(3, 2, in_size, dtype=torch.float64)
    torch.testing.assert_close(x @ m.T, spectral_pool1d(x, out_size, cutoff), rtol=0, atol=1e-12)


def test_pool_matrix_2d_is_separable() -> None:
    x = torch.randn(2, 3, 9, 12, dtype=torch.float64)
    m_h = spectral_pool_matrix(9, 4, dtype=torch.float64)
    m_w = spectral_pool_matrix(12, 7, dtype=torch.float64)
    torch.testing.assert_close(m_h @ x @ m_w.T, spectral_pool2d(x, (4, 7)), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((8.0, 4), {}, TypeError, r"`input_size` must be an int, got 8.0"),
        ((0, 1), {}, ValueError, r"`input_size` must be >= 1, got 0"),
        ((8, 9), {}, ValueError, r"`output_size` must be <= the input size \(8,\), got \(9,\)"),
        ((8, 4, 5), {}, ValueError, r"`cutoff` must be in \[1, output_size=\(4,\)\], got 5"),
        ((8, 4), {"dtype": torch.int64}, TypeError, r"`dtype` must be a floating torch.dtype"),
    ],
)
def test_pool_matrix_bad_arguments(args, kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        spectral_pool_matrix(*args, **kwargs)
