"""Band-limited FFT convolution: parity with ``F.conv*`` at compression 0, the papers' operator
against a masked reference at compression > 0, gradients, precision, memory and validation."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_spectral.functional import (
    band_for,
    bandlimited_conv,
    bandlimited_conv1d,
    bandlimited_conv2d,
    conv_filter_spectrum,
    conv_plan,
    conv_spec,
    transform_shape,
)

OURS = {1: bandlimited_conv1d, 2: bandlimited_conv2d}
TORCH = {1: F.conv1d, 2: F.conv2d}

# F.conv* warns about an internal copy for "same" with even kernels; irrelevant here.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _pads(padding, kernel, dilation) -> list[tuple[int, int]]:
    """Per-dimension (before, after) padding with the meaning of F.conv*."""
    if padding == "valid":
        return [(0, 0)] * len(kernel)
    if padding == "same":
        totals = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
        return [(t // 2, t - t // 2) for t in totals]
    if isinstance(padding, int):
        padding = (padding,) * len(kernel)
    return [(p, p) for p in padding]


def masked_reference(
    x, w, b, stride, padding, dilation, groups, compression, transform_size="padded"
):
    """The papers' operator written naively: full spectra, a boolean mask, one irfft.

    x: (B, C, *S) (batched), w: (O, C / groups, *k); stride/dilation tuples. The FFT size is
    the padded size, or with ``transform_size="full"`` that of Dziedzic et al.'s 2D layer
    (``conv2D_fft.py``: padded size + max(output size, dilated kernel) - 1), the input
    zero-extended at the end by ``rfftn(..., s=shape)``.
    """
    ndim = w.dim() - 2
    kernel = tuple(w.shape[2:])
    pads = _pads(padding, kernel, dilation)
    xp = F.pad(x, [p for pair in reversed(pads) for p in pair])
    shape = tuple(xp.shape[2:])
    if transform_size == "full":
        spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
        shape = tuple(n + max(n - s + 1, s) - 1 for n, s in zip(shape, spans, strict=True))
    dims = tuple(range(-ndim, 0))
    mask = band_for(shape, compression).mask()
    # The dilated kernel, zero-padded to the FFT size.
    full_kernel = w.new_zeros(*w.shape[:2], *shape)
    taps = tuple(slice(0, d * (k - 1) + 1, d) for k, d in zip(kernel, dilation, strict=True))
    full_kernel[(..., *taps)] = w
    x_hat = torch.fft.rfftn(xp, s=shape, dim=dims) * mask
    w_hat = torch.fft.rfftn(full_kernel, dim=dims) * mask
    batch, out_ch = x.shape[0], w.shape[0]
    # Grouped channel contraction, per frequency: Y[b, o] = sum_i X[b, i] conj(W[o, i]).
    x_hat = x_hat.reshape(batch, groups, 1, x.shape[1] // groups, *mask.shape)
    w_hat = w_hat.reshape(1, groups, out_ch // groups, w.shape[1], *mask.shape)
    y_hat = (x_hat * w_hat.conj()).sum(3).reshape(batch, out_ch, *mask.shape) * mask
    y = torch.fft.irfftn(y_hat, s=shape, dim=dims)
    crop = tuple(
        slice(0, n - d * (k - 1), s)
        for n, k, d, s in zip(xp.shape[2:], kernel, dilation, stride, strict=True)
    )
    y = y[(..., *crop)]
    if b is not None:
        y = y + b.view(-1, *([1] * ndim))
    return y


def _run(fn, x, w, b, grad_out_seed: int, **kwargs):
    """Output and gradients of (input, weight, bias) for a fixed random output gradient."""
    leaves = [t.detach().requires_grad_() for t in (x, w, b) if t is not None]
    args = leaves if b is not None else [*leaves, None]
    y = fn(*args, **kwargs)
    gen = torch.Generator().manual_seed(grad_out_seed)
    g = torch.randn(y.shape, generator=gen, dtype=torch.float64).to(y.dtype)
    grads = torch.autograd.grad(y, leaves, g)
    return (y.detach(), *grads)


def _assert_scaled_close(actual, expected, rel: float, what: str = "") -> None:
    """max |actual - expected| <= rel * scale, scale = max(max |expected|, 1).

    The floor of 1 is the scale of the (unit-variance) test data: an expected tensor that is
    exactly zero (e.g. outputs that only see padding) still gets a meaningful tolerance.
    """
    assert actual.shape == expected.shape, what
    assert actual.dtype == expected.dtype, what
    if not expected.numel():
        return
    scale = max(expected.abs().max().item(), 1.0)
    error = (actual - expected).abs().max().item()
    assert error <= rel * scale, f"{what}: max abs error {error:.3e} > {rel:.0e} * {scale:.3e}"


def _compare(ours, reference, rel: float) -> None:
    for name, a, e in zip(
        ("output", "grad input", "grad weight", "grad bias"), ours, reference, strict=False
    ):
        _assert_scaled_close(a, e, rel, name)


# --------------------------------------------------------------------------------------------
# Random convolution configurations
# --------------------------------------------------------------------------------------------


def _maybe_int(value: tuple[int, ...], as_int: bool) -> int | tuple[int, ...]:
    """Pass a per-dimension argument as an int when all entries agree (both forms are legal)."""
    return value[0] if as_int and len(set(value)) == 1 else value


@st.composite
def conv_configs(draw, ndim: int, max_kernel: int, max_extra: int) -> dict:
    """Random F.conv* arguments covering groups (1, 2, depthwise), padding kinds, stride 1..3,
    dilation 1..2, odd/even and non-square sizes, kernels 1..max_kernel, batch 1 or 2 and
    unbatched input, with or without bias."""
    group_kind = draw(st.sampled_from(["one", "two", "depthwise"]))
    if group_kind == "one":
        groups, in_ch, out_ch = 1, draw(st.integers(1, 3)), draw(st.integers(1, 3))
    elif group_kind == "two":
        groups, in_ch, out_ch = 2, 2 * draw(st.integers(1, 2)), 2 * draw(st.integers(1, 2))
    else:
        in_ch = draw(st.integers(1, 4))
        groups, out_ch = in_ch, in_ch * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, max_kernel)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(ndim))
    pad_kind = draw(st.sampled_from(["int", "tuple", "same", "valid"]))
    if pad_kind == "int":
        padding = draw(st.integers(0, 3))
    elif pad_kind == "tuple":
        padding = tuple(draw(st.integers(0, 3)) for _ in range(ndim))
    else:
        padding = pad_kind
    stride = (
        (1,) * ndim if pad_kind == "same" else tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    )
    sizes = []
    for k, d, (before, after) in zip(
        kernel, dilation, _pads(padding, kernel, dilation), strict=True
    ):
        smallest = max(1, d * (k - 1) + 1 - before - after)
        sizes.append(draw(st.integers(smallest, smallest + max_extra)))
    return {
        "in_ch": in_ch,
        "out_ch": out_ch,
        "kernel": kernel,
        "sizes": tuple(sizes),
        "batch": draw(st.sampled_from([None, 1, 2])),  # None: unbatched input
        "bias": draw(st.booleans()),
        "kwargs": {
            "stride": _maybe_int(stride, draw(st.booleans())),
            "padding": padding,
            "dilation": _maybe_int(dilation, draw(st.booleans())),
            "groups": groups,
        },
        "seed": draw(st.integers(0, 2**16)),
    }


def _tensors(config: dict, dtype: torch.dtype = torch.float64):
    gen = torch.Generator().manual_seed(config["seed"])
    lead = () if config["batch"] is None else (config["batch"],)
    groups = config["kwargs"]["groups"]
    x = torch.randn(*lead, config["in_ch"], *config["sizes"], generator=gen, dtype=dtype)
    w = torch.randn(
        config["out_ch"], config["in_ch"] // groups, *config["kernel"], generator=gen, dtype=dtype
    )
    b = torch.randn(config["out_ch"], generator=gen, dtype=dtype)
    return x, w, (b if config["bias"] else None)


def _tuple(value, ndim: int) -> tuple[int, ...]:
    return (value,) * ndim if isinstance(value, int) else tuple(value)


# --------------------------------------------------------------------------------------------
# 1. Parity with F.conv* at compression 0
# --------------------------------------------------------------------------------------------


def _check_parity(config: dict, ndim: int) -> None:
    x, w, b = _tensors(config)
    kwargs = config["kwargs"]
    for dtype, rel in ((torch.float64, 1e-9), (torch.float32, 1e-4)):
        xd, wd, bd = (None if t is None else t.to(dtype) for t in (x, w, b))
        ours = _run(OURS[ndim], xd, wd, bd, config["seed"], compression=0.0, **kwargs)
        reference = _run(TORCH[ndim], xd, wd, bd, config["seed"], **kwargs)
        _compare(ours, reference, rel)


@settings(max_examples=60)
@given(config=conv_configs(ndim=2, max_kernel=7, max_extra=6))
def test_conv2d_parity_random(config: dict) -> None:
    _check_parity(config, ndim=2)


@settings(max_examples=50)
@given(config=conv_configs(ndim=1, max_kernel=64, max_extra=40))
def test_conv1d_parity_random(config: dict) -> None:
    _check_parity(config, ndim=1)


def _config(ndim, in_ch, out_ch, kernel, sizes, batch=2, bias=True, seed=0, **kwargs) -> dict:
    kwargs = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, **kwargs}
    return {
        "in_ch": in_ch,
        "out_ch": out_ch,
        "kernel": _tuple(kernel, ndim),
        "sizes": _tuple(sizes, ndim),
        "batch": batch,
        "bias": bias,
        "kwargs": kwargs,
        "seed": seed,
    }


PARITY_CASES_2D = {
    "resnet-3x3": _config(2, 8, 8, 3, 16, padding=1),
    "stem-7x7-stride2": _config(2, 3, 4, 7, 21, stride=2, padding=3),
    "odd-even-nonsquare": _config(2, 2, 3, (2, 5), (9, 14), padding=(1, 2), bias=False),
    "depthwise-dilated": _config(
        2, 4, 8, (5, 3), (13, 10), groups=4, dilation=(2, 1), stride=(2, 3)
    ),
    "groups2-same": _config(2, 4, 6, (4, 3), (7, 8), groups=2, padding="same", dilation=2),
    "valid-1x1-batch1": _config(2, 3, 5, 1, (5, 6), batch=1, padding="valid", stride=3),
    "unbatched-7x7": _config(2, 2, 2, (7, 6), (8, 7), batch=None, padding=(3, 0)),
}
PARITY_CASES_1D = {
    "fcn-8": _config(1, 4, 6, 8, 64, padding="same"),
    "long-64": _config(1, 2, 3, 64, 100, padding=0),
    "long-64-dilated-strided": _config(1, 2, 2, 64, 130, dilation=2, stride=3, padding=2),
    "depthwise-odd": _config(1, 3, 3, 5, 17, groups=3, bias=False),
    "unbatched-same": _config(1, 2, 2, 6, 11, batch=None, padding="same"),
}


@pytest.mark.parametrize("name", PARITY_CASES_2D)
def test_conv2d_parity_cases(name: str) -> None:
    _check_parity(PARITY_CASES_2D[name], ndim=2)


@pytest.mark.parametrize("name", PARITY_CASES_1D)
def test_conv1d_parity_cases(name: str) -> None:
    _check_parity(PARITY_CASES_1D[name], ndim=1)


def test_odd_and_even_fft_sizes_at_large_scale() -> None:
    # Values far from 1 in magnitude: the tolerance is relative to the output's scale.
    x = 1e3 * torch.randn(2, 3, 15, 16, dtype=torch.float64)
    w = 1e-2 * torch.randn(4, 3, 3, 4, dtype=torch.float64)
    ours = _run(bandlimited_conv2d, x, w, None, 1, padding=1)
    _compare(ours, _run(F.conv2d, x, w, None, 1, padding=1), 1e-9)


# --------------------------------------------------------------------------------------------
# Precision: half inputs and autocast compute in float32, return the input dtype
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("dtype", "ulps"), [(torch.float16, 2.0**-10), (torch.bfloat16, 2.0**-7)])
def test_half_inputs_are_computed_in_float32(dtype: torch.dtype, ulps: float) -> None:
    # Values ~100 on a 32x32 map: the DC coefficient (~1e5) overflows float16, and bfloat16
    # accumulation would be off by far more than one rounding of the result.
    x = (100 + torch.randn(2, 3, 32, 32)).to(dtype)
    w = (torch.randn(4, 3, 3, 3) / 300).to(dtype)
    b = torch.randn(4).to(dtype)
    ours = _run(bandlimited_conv2d, x, w, b, 0, padding=1)
    assert all(t.dtype == dtype for t in ours)
    reference = _run(F.conv2d, x.float(), w.float(), b.float(), 0, padding=1)
    for name, a, e in zip(
        ("output", "grad input", "grad weight", "grad bias"), ours, reference, strict=True
    ):
        assert torch.isfinite(a).all(), name
        # One rounding of the float32 result to the half dtype, plus float32 FFT error.
        _assert_scaled_close(a.float(), e, ulps, name)


@pytest.mark.parametrize("compression", [0.0, 0.5])
def test_autocast_result_dtype_follows_torch_conv_and_math_stays_float32(
    compression: float,
) -> None:
    """Under autocast F.conv2d returns the autocast dtype; so do we, at every compression (the
    modules' direct path at 0 is F.conv2d itself), while the transforms compute in float32 and
    the gradients stay float32-accurate."""
    x, w, b = torch.randn(2, 3, 12, 11), torch.randn(5, 3, 3, 2), torch.randn(5)
    leaves = [t.clone().requires_grad_() for t in (x, w, b)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        torch_dtype = F.conv2d(x, w, b).dtype
        y = bandlimited_conv2d(*leaves, padding=1, compression=compression)
        assert bandlimited_conv2d(x.double(), w.double(), padding=1).dtype == torch.float64
    assert torch_dtype == torch.bfloat16 and y.dtype == torch_dtype
    # The float32 result rounded once to bfloat16: bfloat16 arithmetic would miss this.
    expected = bandlimited_conv2d(x, w, b, padding=1, compression=compression)
    torch.testing.assert_close(y, expected.to(torch.bfloat16), rtol=0, atol=0)
    grad = torch.randn(y.shape, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    # Backward outside the autocast region, as PyTorch recommends (and Lightning does).
    grads = torch.autograd.grad(y, leaves, grad)
    assert all(g.dtype == torch.float32 for g in grads)
    if compression == 0.0:  # the same operator as F.conv2d: its float32 gradients
        fresh = [t.clone().requires_grad_() for t in (x, w, b)]
        expected_grads = torch.autograd.grad(F.conv2d(*fresh, padding=1), fresh, grad.float())
        for got, want in zip(grads, expected_grads, strict=True):
            _assert_scaled_close(got, want, 1e-4, "gradient")


def test_autocast_with_half_input_returns_input_dtype() -> None:
    x, w = torch.randn(1, 2, 20).to(torch.bfloat16), torch.randn(3, 2, 5).to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = bandlimited_conv1d(x, w, compression=0.3)
    assert y.dtype == torch.bfloat16
    expected = bandlimited_conv1d(x.float(), w.float(), compression=0.3).to(torch.bfloat16)
    torch.testing.assert_close(y, expected, rtol=0, atol=0)


# --------------------------------------------------------------------------------------------
# 2. compression > 0: the papers' operator, backward projected onto the band
# --------------------------------------------------------------------------------------------


def _reference(ndim: int):
    def reference(x, w, b, stride, padding, dilation, groups, compression, transform_size="padded"):
        unbatched = x.dim() == ndim + 1
        y = masked_reference(
            x.unsqueeze(0) if unbatched else x,
            w,
            b,
            _tuple(stride, ndim),
            padding,
            _tuple(dilation, ndim),
            groups,
            compression,
            transform_size,
        )
        return y.squeeze(0) if unbatched else y

    return reference


@pytest.mark.parametrize("ndim", [1, 2])
def test_masked_reference_is_the_convolution_at_compression_0(ndim: int) -> None:
    # The reference itself is checked against F.conv*, so it cannot be wrong in the same way.
    config = PARITY_CASES_2D["depthwise-dilated"] if ndim == 2 else PARITY_CASES_1D["fcn-8"]
    x, w, b = _tensors(config)
    kwargs = config["kwargs"]
    expected = _run(TORCH[ndim], x, w, b, 0, **kwargs)
    _compare(_run(_reference(ndim), x, w, b, 0, compression=0.0, **kwargs), expected, 1e-9)


def _check_against_reference(
    config: dict, ndim: int, compression: float, transform_size: str = "padded"
) -> None:
    x, w, b = _tensors(config)
    kwargs = {**config["kwargs"], "transform_size": transform_size}
    reference = _run(_reference(ndim), x, w, b, config["seed"], compression=compression, **kwargs)
    ours = _run(OURS[ndim], x, w, b, config["seed"], compression=compression, **kwargs)
    _compare(ours, reference, 1e-9)
    # float32 follows the same operator to float32 accuracy.
    x32, w32, b32 = (None if t is None else t.float() for t in (x, w, b))
    ours32 = _run(OURS[ndim], x32, w32, b32, config["seed"], compression=compression, **kwargs)
    _compare([t.double() for t in ours32], reference, 1e-4)


compressions = st.floats(0.0, 0.99, allow_nan=False)
transform_sizes = st.sampled_from(["padded", "full"])


@settings(max_examples=50)
@given(
    config=conv_configs(ndim=2, max_kernel=5, max_extra=8),
    compression=compressions,
    transform_size=transform_sizes,
)
def test_conv2d_matches_masked_reference(
    config: dict, compression: float, transform_size: str
) -> None:
    _check_against_reference(config, 2, compression, transform_size)


@settings(max_examples=40)
@given(
    config=conv_configs(ndim=1, max_kernel=16, max_extra=24),
    compression=compressions,
    transform_size=transform_sizes,
)
def test_conv1d_matches_masked_reference(
    config: dict, compression: float, transform_size: str
) -> None:
    _check_against_reference(config, 1, compression, transform_size)


@pytest.mark.parametrize("compression", [0.25, 0.5, 0.75, 0.9])
@pytest.mark.parametrize("name", ["resnet-3x3", "odd-even-nonsquare", "depthwise-dilated"])
def test_conv2d_reference_cases(name: str, compression: float) -> None:
    _check_against_reference(PARITY_CASES_2D[name], 2, compression)


# The transform size of Dziedzic et al.'s code (transform_size="full"): the property tests
# above draw it too; these cases pin compression 0 (exact) and two layer geometries.


@pytest.mark.parametrize("compression", [0.0, 0.5, 0.9])
@pytest.mark.parametrize(("ndim", "name"), [(2, "resnet-3x3"), (1, "long-64-dilated-strided")])
def test_full_transform_size_reference_cases(ndim: int, name: str, compression: float) -> None:
    cases = PARITY_CASES_2D if ndim == 2 else PARITY_CASES_1D
    _check_against_reference(cases[name], ndim, compression, "full")


@pytest.mark.parametrize(
    ("padded", "kernel", "dilation", "expected"),
    [
        ((34, 34), (3, 3), 1, (65, 65)),  # 32x32, 3x3, padding 1: the paper code's 65
        ((8,), (3,), 1, (13,)),  # output 6 > kernel 3: 8 + 6 - 1
        ((8,), (7,), 1, (14,)),  # kernel 7 > output 2: 8 + 7 - 1
        ((10, 9), (3, 2), (2, 3), (15, 14)),  # dilated spans 5 and 4
    ],
)
def test_transform_shape(padded, kernel, dilation, expected) -> None:
    ndim = len(padded)
    full = conv_spec(ndim, kernel, dilation=dilation, transform_size="full")
    assert transform_shape(full, padded) == expected
    padded_spec = conv_spec(ndim, kernel, dilation=dilation)
    assert transform_shape(padded_spec, padded) == padded
    # The plan transforms at the larger size and still returns the valid outputs.
    plan = conv_plan(full, padded, 0.5)
    assert plan.band.signal_shape == expected
    assert plan.out_shape == conv_plan(padded_spec, padded, 0.5).out_shape


def test_full_transform_size_is_another_operator_at_the_same_compression() -> None:
    x, w = torch.randn(2, 3, 16, 16, dtype=torch.float64), torch.randn(4, 3, 3, 3).double()
    padded = bandlimited_conv2d(x, w, padding=1, compression=0.5)
    full = bandlimited_conv2d(x, w, padding=1, compression=0.5, transform_size="full")
    assert (padded - full).abs().max() > 1e-3 * padded.abs().max()
    exact = F.conv2d(x, w, padding=1)
    for y in (
        bandlimited_conv2d(x, w, padding=1, compression=0.0, transform_size="full"),
        bandlimited_conv2d(x, w, padding=1, compression=0.0),
    ):
        torch.testing.assert_close(y, exact, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("compression", [0.25, 0.5, 0.9])
@pytest.mark.parametrize("name", ["long-64", "long-64-dilated-strided"])
def test_conv1d_reference_cases(name: str, compression: float) -> None:
    _check_against_reference(PARITY_CASES_1D[name], 1, compression)


@pytest.mark.parametrize(
    ("ndim", "shape", "kernel"), [(1, (40,), (5,)), (2, (12, 9), (3, 2)), (2, (11, 16), (1, 4))]
)
@pytest.mark.parametrize("compression", [0.3, 0.6, 0.9])
def test_compression_changes_result_and_band_limits_input_gradient(
    ndim: int, shape, kernel, compression: float
) -> None:
    x = torch.randn(2, 3, *shape, dtype=torch.float64)
    w = torch.randn(4, 3, *kernel, dtype=torch.float64)
    _, grad_x, _ = _run(OURS[ndim], x, w, None, 0, compression=compression)
    # Without padding the FFT grid is the input grid: the input gradient lives on the band.
    band = band_for(shape, compression)
    assert band.compression > 0.2
    spectrum = torch.fft.rfftn(grad_x, dim=tuple(range(-ndim, 0)))
    scale = spectrum.abs().max()
    assert spectrum[..., ~band.mask()].abs().max() <= 1e-10 * scale
    assert spectrum[..., band.mask()].abs().max() > 1e-3 * scale
    # ... and compression really removes something from the output.
    y = OURS[ndim](x, w, compression=compression)
    assert (y - TORCH[ndim](x, w)).abs().max() > 1e-3 * y.abs().max()


@pytest.mark.parametrize("transform_size", ["padded", "full"])
@pytest.mark.parametrize("compression", [0.3, 0.6, 0.9])
def test_gradcheck_conv1d(compression: float, transform_size: str) -> None:
    x = torch.randn(2, 2, 11, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)

    def fn(x, w, b):
        return bandlimited_conv1d(
            x, w, b, stride=2, padding=1, compression=compression, transform_size=transform_size
        )

    assert torch.autograd.gradcheck(fn, (x, w, b))


@pytest.mark.parametrize("transform_size", ["padded", "full"])
@pytest.mark.parametrize("compression", [0.25, 0.5, 0.8])
def test_gradcheck_conv2d(compression: float, transform_size: str) -> None:
    x = torch.randn(1, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 1, 3, 2, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)

    def fn(x, w, b):
        return bandlimited_conv2d(
            x,
            w,
            b,
            padding=(1, 0),
            dilation=(1, 2),
            groups=2,
            compression=compression,
            transform_size=transform_size,
        )

    assert torch.autograd.gradcheck(fn, (x, w, b))
    # Double backward (e.g. gradient penalties) works too; the fast mode keeps this cheap.
    assert torch.autograd.gradgradcheck(fn, (x, w, b), fast_mode=True)


# --------------------------------------------------------------------------------------------
# 3. Memory: bytes saved for backward shrink with the band
# --------------------------------------------------------------------------------------------


def _saved_bytes(compression: float) -> int:
    """Bytes of distinct storages autograd keeps for the backward of one forward."""
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 64, 32, 32, generator=gen, requires_grad=True)
    w = torch.randn(64, 64, 3, 3, generator=gen, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        bandlimited_conv2d(x, w, padding=1, compression=compression)
    return sum(storages.values())


def test_saved_bytes_fall_with_compression() -> None:
    saved = {c: _saved_bytes(c) for c in (0.0, 0.25, 0.5, 0.75)}
    values = list(saved.values())
    assert all(a >= b for a, b in itertools.pairwise(values)), saved
    assert saved[0.5] <= 0.6 * saved[0.0], saved


# --------------------------------------------------------------------------------------------
# 7. Bad arguments
# --------------------------------------------------------------------------------------------


def _conv_args(**overrides) -> dict:
    args = {
        "input": torch.randn(2, 4, 8, 8),
        "weight": torch.randn(6, 4, 3, 3),
        "bias": None,
        "stride": 1,
        "padding": 0,
        "dilation": 1,
        "groups": 1,
        "compression": 0.5,
    }
    return {**args, **overrides}


BAD_CONV2D = {
    "compression<0": (
        {"compression": -0.25},
        ValueError,
        r"`compression` must be in \[0, 1\), got -0.25",
    ),
    "compression=1": (
        {"compression": 1.0},
        ValueError,
        r"`compression` must be in \[0, 1\), got 1.0",
    ),
    "compression>1": ({"compression": 2}, ValueError, r"`compression`.*got 2"),
    "compression nan": ({"compression": float("nan")}, ValueError, r"`compression`.*got nan"),
    "compression str": ({"compression": "half"}, TypeError, r"`compression`.*got 'half'"),
    "input rank": (
        {"input": torch.randn(8, 8)},
        ValueError,
        r"`input` must have 3 or 4 dimensions, got shape \(8, 8\)",
    ),
    "input rank 5": (
        {"input": torch.randn(1, 2, 4, 8, 8)},
        ValueError,
        r"`input` must have 3 or 4",
    ),
    "weight rank": (
        {"weight": torch.randn(6, 4, 3)},
        ValueError,
        r"`weight` must have 4 dimensions, got shape \(6, 4, 3\)",
    ),
    "input not a tensor": (
        {"input": [[1.0]]},
        TypeError,
        r"`input` must be a torch.Tensor, got list",
    ),
    "integer input": (
        {"input": torch.ones(2, 4, 8, 8, dtype=torch.int64)},
        TypeError,
        r"`input` must be a floating tensor, got torch.int64",
    ),
    "complex input": (
        {"input": torch.ones(2, 4, 8, 8, dtype=torch.complex64)},
        TypeError,
        r"`input` must be a floating tensor, got torch.complex64",
    ),
    "integer weight": (
        {"weight": torch.ones(6, 4, 3, 3, dtype=torch.int32)},
        TypeError,
        r"`weight` must be a floating tensor, got torch.int32",
    ),
    "channels": (
        {"weight": torch.randn(6, 3, 3, 3)},
        ValueError,
        r"`weight` expects 3 input channels .*`input` has 4",
    ),
    "groups not dividing": (
        {"groups": 3},
        ValueError,
        r"`groups`=3 must divide in_channels=4 and out_channels=6",
    ),
    "groups channels": (
        {"groups": 2},
        ValueError,
        r"`weight` expects 8 input channels .*groups=2.*`input` has 4",
    ),
    "groups zero": ({"groups": 0}, ValueError, r"`groups` must be an int >= 1, got 0"),
    "bias shape": (
        {"bias": torch.randn(5)},
        ValueError,
        r"`bias` must have shape \(6,\), got \(5,\)",
    ),
    "bias rank": (
        {"bias": torch.randn(6, 1)},
        ValueError,
        r"`bias` must have 1 dimensions, got shape \(6, 1\)",
    ),
    "bias type": ({"bias": [0.0] * 6}, TypeError, r"`bias` must be a torch.Tensor, got list"),
    "same with stride 2": (
        {"padding": "same", "stride": 2},
        ValueError,
        r"padding='same' requires stride 1, got stride=\(2, 2\)",
    ),
    "padding string": (
        {"padding": "full"},
        ValueError,
        r"`padding` must be an int, a tuple, 'same' or 'valid', got 'full'",
    ),
    "padding negative": ({"padding": -1}, ValueError, r"`padding` must be >= 0, got -1"),
    "padding length": (
        {"padding": (1, 1, 1)},
        TypeError,
        r"`padding` must be an int or a sequence of 2 ints, got \(1, 1, 1\)",
    ),
    "stride zero": ({"stride": 0}, ValueError, r"`stride` must be >= 1, got 0"),
    "stride float": (
        {"stride": 1.5},
        TypeError,
        r"`stride` must be an int or a sequence of 2 ints, got 1.5",
    ),
    "dilation zero": ({"dilation": (1, 0)}, ValueError, r"`dilation` must be >= 1, got \(1, 0\)"),
    "transform_size unknown": (
        {"transform_size": "paper"},
        ValueError,
        r"`transform_size` must be one of \('padded', 'full'\), got 'paper'",
    ),
    "transform_size type": (
        {"transform_size": None},
        TypeError,
        r"`transform_size` must be one of \('padded', 'full'\), got None",
    ),
    "kernel too large": (
        {"weight": torch.randn(6, 4, 9, 3)},
        ValueError,
        r"padded input size \(8, 8\) is smaller than the dilated kernel \(9, 3\)",
    ),
}


@pytest.mark.parametrize("case", BAD_CONV2D)
def test_conv2d_bad_arguments(case: str) -> None:
    overrides, error, match = BAD_CONV2D[case]
    with pytest.raises(error, match=match):
        bandlimited_conv2d(**_conv_args(**overrides))


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        ({"input": torch.randn(2, 4, 8, 8)}, ValueError, r"`input` must have 2 or 3 dimensions"),
        ({"weight": torch.randn(6, 4, 3, 3)}, ValueError, r"`weight` must have 3 dimensions"),
        ({"compression": float("nan")}, ValueError, r"`compression`.*nan"),
        ({"stride": (1, 1)}, TypeError, r"`stride` must be an int or a sequence of 1 ints"),
        ({"padding": "same", "stride": 3}, ValueError, r"padding='same' requires stride 1"),
        ({"weight": torch.randn(6, 2, 3), "groups": 4}, ValueError, r"`groups`=4 must divide"),
    ],
)
def test_conv1d_bad_arguments(overrides: dict, error: type, match: str) -> None:
    args = {"input": torch.randn(2, 4, 16), "weight": torch.randn(6, 4, 3), **overrides}
    with pytest.raises(error, match=match):
        bandlimited_conv1d(**args)


@pytest.mark.parametrize("use_fft", [True, False], ids=["fft-axes", "matrix-axes"])
@pytest.mark.parametrize("compression", [0.0, 0.3, 0.7])
@pytest.mark.parametrize(
    ("ndim", "name"),
    [
        (2, "stem-7x7-stride2"),
        (2, "depthwise-dilated"),
        (2, "odd-even-nonsquare"),
        (1, "long-64-dilated-strided"),
        (1, "fcn-8"),
    ],
)
def test_both_transform_implementations_match_the_reference(
    monkeypatch: pytest.MonkeyPatch, use_fft: bool, compression: float, ndim: int, name: str
) -> None:
    """The cost model picks an FFT or a DFT matrix per axis; small test maps would only ever
    take the matrix path, so force each implementation on every axis."""
    from lightning_spectral.functional import conv, spectral

    def clear_plans() -> None:  # plans (and the per-axis choice in them) are cached per shape
        for cached in (spectral.analysis_plan, spectral.synthesis_plan, conv._conv_plan):
            cached.cache_clear()

    chosen = []

    def forced(size: int, kept: int, count: int, one_sided: bool) -> bool:
        chosen.append(use_fft)
        return use_fft

    monkeypatch.setattr(spectral, "_use_fft", forced)
    clear_plans()
    try:
        cases = PARITY_CASES_2D if ndim == 2 else PARITY_CASES_1D
        _check_against_reference(cases[name], ndim, compression)
    finally:
        clear_plans()
    assert chosen, "no plan was built: the forced implementation was not exercised"


# --------------------------------------------------------------------------------------------
# Empty batches, the checked spec, the public entry point
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", [0.0, 0.5])
@pytest.mark.parametrize(
    ("ndim", "kwargs"),
    [
        (1, {"padding": 2, "stride": 2}),
        (2, {"padding": (1, 2), "dilation": 2}),
        (2, {"padding": "same"}),
        (2, {"groups": 2, "stride": (2, 1)}),
    ],
)
def test_empty_batch_gives_torch_empty_output_and_zero_gradients(
    ndim: int, kwargs: dict, compression: float
) -> None:
    shape = (0, 4, 9) if ndim == 1 else (0, 4, 9, 8)
    x = torch.randn(shape, requires_grad=True)
    w = torch.randn(6, 4 // kwargs.get("groups", 1), *([3] * ndim), requires_grad=True)
    b = torch.randn(6, requires_grad=True)
    y = OURS[ndim](x, w, b, compression=compression, **kwargs)
    expected = TORCH[ndim](x, w, b, **kwargs)
    assert y.shape == expected.shape and y.dtype == expected.dtype
    grads = torch.autograd.grad(y.sum(), (x, w, b))
    want = torch.autograd.grad(expected.sum(), (x, w, b))
    for got, ref in zip(grads, want, strict=True):
        assert got.shape == ref.shape
        torch.testing.assert_close(got, ref)


def test_conv_spec_checks_once_and_bandlimited_conv_uses_it() -> None:
    spec = conv_spec(2, (3, 2), stride=(2, 1), padding=1, dilation=1, groups=1)
    assert spec.pads == ((1, 1), (1, 1)) and spec.kernel_size == (3, 2)
    x, w = torch.randn(2, 3, 10, 9), torch.randn(4, 3, 3, 2)
    plan = conv_plan(spec, (10, 9), 0.4)
    assert conv_plan(spec, (10, 9), 0.4) is plan  # per-shape geometry, built once
    direct = bandlimited_conv2d(x, w, stride=(2, 1), padding=1, compression=0.4)
    torch.testing.assert_close(bandlimited_conv(x, w, None, spec, 0.4), direct)
    filters = conv_filter_spectrum(w, plan)
    assert filters.shape == (*plan.band.kept_shape, 4, 3)
    torch.testing.assert_close(
        bandlimited_conv(x, w, None, spec, 0.4, filters=filters, plan=plan), direct
    )
    with pytest.raises(ValueError, match=r"kernel size \(3, 3\), the spec expects \(3, 2\)"):
        bandlimited_conv(x, torch.randn(4, 3, 3, 3), None, spec, 0.4)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"groups": 1.0}, TypeError, r"`groups` must be an int >= 1, got 1.0"),
        ({"groups": True}, TypeError, r"`groups` must be an int >= 1, got True"),
        ({"groups": 0}, ValueError, r"`groups` must be an int >= 1, got 0"),
        ({"ndim": 3}, ValueError, r"`ndim` must be 1 or 2, got 3"),
        ({"kernel_size": 0}, ValueError, r"`kernel_size` must be >= 1, got 0"),
        ({"padding": "same", "stride": 2}, ValueError, r"padding='same' requires stride 1"),
    ],
)
def test_conv_spec_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    args = {"ndim": 2, "kernel_size": 3, **kwargs}
    with pytest.raises(error, match=match):
        conv_spec(**args)
