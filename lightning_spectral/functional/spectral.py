"""Pruned real DFTs restricted to a band, the filter spectrum at kept frequencies, and the
frequency-domain channel contraction.

These are the building blocks of the band-limited convolution. Every transform is separable and
is evaluated only where needed:

* the analysis (forward transform) reads only the real input positions (zero padding is a phase
  offset or a cheap pad, never part of the result) and produces only the kept frequencies;
* the synthesis (inverse transform) starts from the kept coefficients and returns only the
  requested output positions, so the crop and the stride of a convolution are part of it.

Each axis runs either as a small DFT matrix product (short axes: one BLAS call, padding,
cropping and striding fold into the matrix, work falls with the band) or as an FFT followed by a
slice (long axes, where ``N log N`` beats ``N * kept``); :func:`_use_fft` picks per axis with a
measured cost model. The spectra are laid out **frequency-major**, ``(*kept_shape, *lead)``,
which is the layout of the per-frequency channel GEMM, so the contraction reads them in place.

Gradients: both transforms are linear, and each is the adjoint of the other (up to fixed
per-frequency weights), so they are two :class:`torch.autograd.Function` s whose backward is the
other one. Nothing is saved for backward (only the geometry), the backward runs with autocast
disabled (float32/float64 whatever the caller's autocast region), and because the backward is
itself built from the differentiable pair, double backward works too. The gradient flowing back
through the analysis is the zero-filled inverse of the kept coefficients, i.e. it is projected
onto the band.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lightning_spectral.functional._checks import compute_dtype, fft_precision, geometry_cache
from lightning_spectral.functional.band import Band

__all__ = [
    "analysis_plan",
    "apply_analysis",
    "apply_synthesis",
    "band_analysis",
    "band_irfft",
    "band_rfft",
    "band_synthesis",
    "filter_spectrum",
    "filter_spectrum_fm",
    "spectral_contract",
    "synthesis_plan",
]


def _complex_dtype(real: torch.dtype) -> torch.dtype:
    return torch.complex128 if real == torch.float64 else torch.complex64


# Cost model, in nanoseconds per transformed line on the 2-core reference CPU (AVX2, MKL): a
# DFT matrix runs in BLAS at ~0.1 ns per real multiply-add; MKL's FFT costs ~1 ns per
# N log2 N for sizes whose prime factors are all <= 7 and ~2.5 ns otherwise (e.g. 516 = 4 * 129,
# 514 = 2 * 257), plus about one pass over the window for the pad/crop copies.
_GEMM_NS = 0.1
_FFT_NS_SMOOTH = 1.0
_FFT_NS_ROUGH = 2.5
_FFT_MIN_SIZE = 16


def _is_smooth(size: int) -> bool:
    for prime in (2, 3, 5, 7):
        while size % prime == 0:
            size //= prime
    return size == 1


def _use_fft(size: int, kept: int, count: int, one_sided: bool) -> bool:
    """Whether an FFT of the whole window beats a DFT matrix for one axis (cost model above)."""
    if size < _FFT_MIN_SIZE:
        return False
    # Real GEMM on (re, im) pairs for the one-sided axis; complex GEMM (4 real) for rows.
    matrix = _GEMM_NS * count * kept * (2.0 if one_sided else 4.0)
    per_op = _FFT_NS_SMOOTH if _is_smooth(size) else _FFT_NS_ROUGH
    fft = per_op * size * math.log2(size) * (1.0 if one_sided else 2.0) + size
    return matrix > fft


@dataclass(frozen=True)
class _Axis:
    """One axis of a separable band transform.

    The analysis maps the signal samples at positions ``start + step * u`` (``u < count``) of a
    window of ``size`` samples to the kept frequencies ``freqs``, times ``scale`` per frequency;
    the adjoint maps kept coefficients back to those positions. ``one_sided`` marks the last
    (real-to-complex) axis, ``fft`` whether it runs as an FFT rather than a DFT matrix.
    """

    size: int
    freqs: tuple[int, ...]
    start: int
    step: int
    count: int
    scale: tuple[float, ...] | None
    one_sided: bool
    fft: bool


_Plan = tuple[_Axis, ...]


def _make_plan(
    band: Band,
    positions: Sequence[tuple[int, int, int]],
    synthesis_scale: bool,
    fft: bool | None = None,
) -> _Plan:
    """Per-axis geometry: ``positions[d] = (start, step, count)``; ``synthesis_scale`` applies
    the inverse-transform weights (``1 / H`` on rows, ``(1 or 2) / W`` on one-sided columns, so
    the adjoint is :func:`torch.fft.irfftn` restricted to the band); ``fft`` forces the
    implementation of every axis (tests), ``None`` lets :func:`_use_fft` decide."""
    axes = []
    for dim, (start, step, count) in enumerate(positions):
        size = band.signal_shape[dim]
        one_sided = dim == band.ndim - 1
        freqs = tuple(range(band.cols)) if one_sided else tuple(band.row_indices())
        if start < 0 or count < 1 or start + step * (count - 1) >= size:
            raise ValueError(
                f"positions {start} + {step} * u (u < {count}) do not fit a window of {size}"
            )
        scale = None
        if synthesis_scale:
            if one_sided:
                scale = tuple((1.0 if f == 0 or 2 * f == size else 2.0) / size for f in freqs)
            else:
                scale = (1.0 / size,) * len(freqs)
        use_fft = _use_fft(size, len(freqs), count, one_sided) if fft is None else fft
        axes.append(_Axis(size, freqs, start, step, count, scale, one_sided, use_fft))
    return tuple(axes)


def _angles(axis: _Axis) -> torch.Tensor:
    """``2 pi f p / N`` as float64 ``(F, U)``, reduced modulo ``N`` in exact integer arithmetic."""
    freq = torch.tensor(axis.freqs, dtype=torch.int64)
    pos = axis.start + axis.step * torch.arange(axis.count, dtype=torch.int64)
    turns = torch.remainder(freq[:, None] * pos[None, :], axis.size).to(torch.float64)
    return turns * (2.0 * math.pi / axis.size)


@geometry_cache(maxsize=512)
def _matrix(axis: _Axis, adjoint: bool, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """DFT matrix of one axis with the axis scale folded in (cached per layer geometry).

    Real ``dtype`` (one-sided axis only): analysis ``(U, 2F)`` with interleaved
    ``(cos, -sin)`` columns (``x @ M`` is the interleaved complex spectrum); adjoint ``(2F, U)``
    with rows ``(cos, -sin)`` (``view_as_real(Z) @ M = Re(sum_f Z_f e^{i theta})``). Complex
    ``dtype``: analysis ``(F, U)`` of ``e^{-i theta}``, adjoint ``(U, F)`` of ``e^{+i theta}``.
    """
    angles = _angles(axis)
    scale = torch.ones(len(axis.freqs), dtype=torch.float64)
    if axis.scale is not None:
        scale = torch.tensor(axis.scale, dtype=torch.float64)
    if not dtype.is_complex:
        pair = torch.stack([angles.cos(), -angles.sin()], dim=1) * scale[:, None, None]
        if adjoint:
            matrix = pair.reshape(-1, axis.count)
        else:
            matrix = pair.permute(2, 0, 1).reshape(axis.count, -1)
        return matrix.to(dtype=dtype, device=device).contiguous()
    sign = 1.0 if adjoint else -1.0
    matrix = torch.polar(scale[:, None].expand_as(angles), sign * angles)
    return (matrix.T if adjoint else matrix).to(dtype=dtype, device=device).contiguous()


_Weights = torch.Tensor | float | None


@geometry_cache(maxsize=512)
def _weights(plan: _Plan, adjoint: bool, dtype: torch.dtype, device: torch.device) -> _Weights:
    """Per-frequency factor of the FFT axes (matrices carry their own), broadcastable to the
    frequency-major ``(*kept_shape, lead)`` (size 1 along matrix axes): a tensor, a plain
    ``float`` when it is constant, or ``None`` when it is 1.

    The adjoint of an FFT column axis also folds in the ``1/2`` that turns ``irfft`` (which
    doubles every column but DC and Nyquist) into the plain sum ``Re(sum_f Z_f e^{i theta})``;
    with the synthesis scale ``(1 or 2) / W`` this makes the constant ``1 / W``.
    """
    # Plain python arithmetic (no data-dependent tensor branching: torch.compile traces this).
    factors: list[list[float]] = []
    for axis in plan:
        factor = [1.0] * (len(axis.freqs) if axis.fft else 1)
        if axis.fft and axis.scale is not None:
            factor = list(axis.scale)
        if adjoint and axis.one_sided and axis.fft:
            factor = [
                v * (1.0 if f == 0 or 2 * f == axis.size else 0.5)
                for v, f in zip(factor, axis.freqs, strict=True)
            ]
        factors.append(factor)
    total = factors[0] if len(factors) == 1 else [[r * c for c in factors[1]] for r in factors[0]]
    values = total if len(factors) == 1 else [v for row in total for v in row]
    if all(v == values[0] for v in values):
        return None if values[0] == 1.0 else values[0]
    return torch.tensor(total, dtype=dtype, device=device).unsqueeze(-1)


# 1D lines this short (filter taps) use a complex GEMM straight into frequency-major layout: the
# GEMM is then bound by writing its output, and the transpose copy of the real-GEMM path
# (one more pass over the whole spectrum) would dominate.
_DIRECT_MAX_COUNT = 32


def _copy(source: torch.Tensor, weights: _Weights, out: torch.Tensor) -> torch.Tensor:
    """``out = source * weights`` in one pass (the layout change and the scaling fused)."""
    if weights is None:
        return out.copy_(source)
    return torch.mul(source, weights, out=out)


def _runs(freqs: tuple[int, ...]) -> list[tuple[int, int, int]]:
    """Maximal runs of consecutive frequencies: ``(index in kept, first frequency, length)``."""
    runs: list[tuple[int, int, int]] = []
    for index, freq in enumerate(freqs):
        if runs and runs[-1][1] + runs[-1][2] == freq:
            runs[-1] = (runs[-1][0], runs[-1][1], runs[-1][2] + 1)
        else:
            runs.append((index, freq, 1))
    return runs


def _scatter(signal: torch.Tensor, plan: _Plan) -> torch.Tensor:
    """Place the samples of FFT axes at their window positions (zeros elsewhere)."""
    ndim = len(plan)
    if all(
        not axis.fft or (axis.start == 0 and axis.step == 1 and axis.count == axis.size)
        for axis in plan
    ):
        return signal
    if all(axis.step == 1 for axis in plan):
        pad: list[int] = []
        for axis in reversed(plan):
            pad += [axis.start, axis.size - axis.start - axis.count] if axis.fft else [0, 0]
        return F.pad(signal, pad)
    shape = [axis.size if axis.fft else axis.count for axis in plan]
    window = signal.new_zeros(*signal.shape[:-ndim], *shape)
    index = tuple(
        slice(axis.start, axis.start + axis.step * axis.count, axis.step)
        if axis.fft
        else slice(None)
        for axis in plan
    )
    window[(..., *index)] = signal
    return window


def _slice_positions(axis: _Axis) -> slice:
    return slice(axis.start, axis.start + axis.step * (axis.count - 1) + 1, axis.step)


def _analysis(signal: torch.Tensor, plan: _Plan) -> torch.Tensor:
    """``diag(scale) A x``: real ``(*lead, *counts)`` -> complex ``(*kept, *lead)``."""
    ndim = len(plan)
    lead = signal.shape[:-ndim]
    count = math.prod(lead)
    real = signal.dtype
    cdtype = _complex_dtype(real)
    device = signal.device
    kept = tuple(len(axis.freqs) for axis in plan)
    weights = _weights(plan, False, real, device)
    window = _scatter(signal, plan)
    cols = plan[-1]
    if ndim == 1 and not cols.fft and cols.count <= _DIRECT_MAX_COUNT:
        lines = window.reshape(count, cols.count).T.to(cdtype)
        return (_matrix(cols, False, cdtype, device) @ lines).view(*kept, *lead)
    width = window.shape[-1]
    lines = window.reshape(-1, width)
    if cols.fft:
        partial = torch.fft.rfft(lines, dim=-1)[:, : kept[-1]]
    else:
        product = lines @ _matrix(cols, False, real, device)
        partial = torch.view_as_complex(product.view(-1, kept[-1], 2))
    if ndim == 1:
        # The one transpose copy (to frequency-major), with the weights folded in.
        out = torch.empty(kept[0], count, dtype=cdtype, device=device)
        return _copy(partial.T, weights, out).view(*kept, *lead)
    rows = plan[0]
    height = window.shape[-2]
    partial = partial.view(count, height, kept[-1])
    if rows.fft:
        full = torch.fft.fft(partial, dim=1)
        out = torch.empty(*kept, count, dtype=cdtype, device=device)
        for index, freq, length in _runs(rows.freqs):
            part = slice(index, index + length)
            source = full[:, freq : freq + length].permute(1, 2, 0)
            _copy(source, weights if not torch.is_tensor(weights) else weights[part], out[part])
        return out.view(*kept, *lead)
    # (count, H, K) -> (H, K, count) (with the column weights), then one complex GEMM over the
    # height gives (R, K, count).
    columns = torch.empty(height, kept[-1], count, dtype=cdtype, device=device)
    _copy(partial.permute(1, 2, 0), weights, columns)
    out = _matrix(rows, False, cdtype, device) @ columns.view(height, -1)
    return out.view(*kept, *lead)


def _columns_adjoint(spectrum: torch.Tensor, axis: _Axis) -> torch.Tensor:
    """``Re(sum_f Z_f e^{+i theta})`` at the axis positions: complex ``(..., F)`` -> real
    ``(..., count)``."""
    if axis.fft:
        full = torch.fft.irfft(spectrum, n=axis.size, dim=-1, norm="forward")
        return full[..., _slice_positions(axis)]
    lead = spectrum.shape[:-1]
    real = compute_dtype(spectrum.dtype)
    interleaved = torch.view_as_real(spectrum.contiguous()).reshape(-1, 2 * len(axis.freqs))
    out = interleaved @ _matrix(axis, True, real, spectrum.device)
    return out.view(*lead, axis.count)


def _adjoint(kept: torch.Tensor, plan: _Plan) -> torch.Tensor:
    """``A* diag(scale) Z``: complex ``(*kept, *lead)`` (any strides) -> real
    ``(*lead, *counts)``."""
    ndim = len(plan)
    kept_shape = kept.shape[:ndim]
    lead = kept.shape[ndim:]
    count = math.prod(lead)
    cdtype = kept.dtype
    device = kept.device
    weights = _weights(plan, True, compute_dtype(cdtype), device)
    flat = kept.reshape(*kept_shape, count)
    counts = tuple(axis.count for axis in plan)
    cols = plan[-1]
    if ndim == 1 and not cols.fft and cols.count <= _DIRECT_MAX_COUNT:
        out = (_matrix(cols, True, cdtype, device) @ flat).real.T
        return out.reshape(*lead, *counts)
    if ndim == 1:
        # The one transpose copy (to line-major), with the weights folded in.
        lines = torch.empty(count, kept_shape[0], dtype=cdtype, device=device)
        weights_t = weights.T if torch.is_tensor(weights) else weights
        _copy(flat.T, weights_t, lines)
        return _columns_adjoint(lines, cols).reshape(*lead, *counts)
    rows = plan[0]
    if rows.fft:
        # Zero-filled window (only the rows outside the band are zeroed), weights fused in.
        window = torch.empty(count, rows.size, kept_shape[1], dtype=cdtype, device=device)
        covered = 0
        for index, freq, length in _runs(rows.freqs):
            window[:, covered:freq].zero_()
            part = slice(index, index + length)
            source = flat[part].permute(2, 0, 1)
            target = window[:, freq : freq + length]
            if torch.is_tensor(weights):
                _copy(source, weights[part].permute(2, 0, 1), target)
            else:
                _copy(source, weights, target)
            covered = freq + length
        window[:, covered:].zero_()
        full = torch.fft.ifft(window, dim=1, norm="forward")
        partial = full[:, _slice_positions(rows)]
    else:
        product = _matrix(rows, True, cdtype, device) @ flat.reshape(kept_shape[0], -1)
        source = product.view(rows.count, kept_shape[1], count).permute(2, 0, 1)
        partial = torch.empty(count, rows.count, kept_shape[1], dtype=cdtype, device=device)
        _copy(source, weights.permute(2, 0, 1) if torch.is_tensor(weights) else weights, partial)
    return _columns_adjoint(partial, cols).reshape(*lead, *counts)


class _BandOperator(torch.autograd.Function):
    """A plan's analysis ``diag(scale) A`` (``adjoint=False``) or its exact adjoint
    ``A* diag(scale)`` (``adjoint=True``): the backward of each is the other, of the same plan."""

    @staticmethod
    def forward(ctx, input: torch.Tensor, plan: _Plan, adjoint: bool) -> torch.Tensor:
        ctx.plan, ctx.adjoint = plan, adjoint
        return _adjoint(input, plan) if adjoint else _analysis(input, plan)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        # Autocast off: a backward run inside an autocast region must not compute in bf16.
        with fft_precision(grad.device):
            if ctx.adjoint:  # the real output's gradient may come in a lower precision
                grad = grad.to(compute_dtype(grad.dtype))
            return _BandOperator.apply(grad, ctx.plan, not ctx.adjoint), None, None


@geometry_cache(maxsize=2048)
def analysis_plan(
    band: Band, origin: tuple[int, ...], step: tuple[int, ...], sizes: tuple[int, ...]
) -> _Plan:
    """Geometry of :func:`band_analysis` for one signal size, built once and reused.

    Args:
        band: the kept set.
        origin: zeros before the signal per spatial dimension.
        step: spacing of the samples per spatial dimension.
        sizes: number of samples per spatial dimension.

    Returns:
        An opaque, hashable plan for :func:`apply_analysis`.

    Example:
        >>> from lightning_spectral.functional import band_for
        >>> plan = analysis_plan(band_for((8,), 0.5), (0,), (1,), (8,))
        >>> apply_analysis(torch.ones(2, 8), plan).shape  # (kept, lead)
        torch.Size([3, 2])
    """
    return _make_plan(band, list(zip(origin, step, sizes, strict=True)), synthesis_scale=False)


@geometry_cache(maxsize=2048)
def synthesis_plan(band: Band, output_size: tuple[int, ...], stride: tuple[int, ...]) -> _Plan:
    """Geometry of :func:`band_synthesis` for one output size, built once and reused.

    Args:
        band: the kept set.
        output_size: number of output positions per spatial dimension.
        stride: step between output positions per spatial dimension.

    Returns:
        An opaque, hashable plan for :func:`apply_synthesis`.
    """
    positions = [(0, s, n) for s, n in zip(stride, output_size, strict=True)]
    return _make_plan(band, positions, synthesis_scale=True)


def apply_analysis(signal: torch.Tensor, plan: _Plan) -> torch.Tensor:
    """:func:`band_analysis` with a precomputed :func:`analysis_plan` (no geometry work).

    Args:
        signal: real ``(*lead, *sizes)``; half precision is computed in float32.
        plan: from :func:`analysis_plan`.

    Returns:
        Complex ``(*kept_shape, *lead)``, contiguous (frequency-major).
    """
    with fft_precision(signal.device):
        return _BandOperator.apply(signal.to(compute_dtype(signal.dtype)), plan, False)


def apply_synthesis(kept: torch.Tensor, plan: _Plan) -> torch.Tensor:
    """:func:`band_synthesis` with a precomputed :func:`synthesis_plan`.

    Args:
        kept: complex ``(*kept_shape, *lead)`` (frequency-major; any strides).
        plan: from :func:`synthesis_plan`.

    Returns:
        Real ``(*lead, *output_size)``.
    """
    with fft_precision(kept.device):
        return _BandOperator.apply(kept, plan, True)


def band_analysis(
    signal: torch.Tensor,
    band: Band,
    origin: Sequence[int] | None = None,
    step: Sequence[int] | None = None,
) -> torch.Tensor:
    """Kept one-sided spectrum of a real signal placed at ``origin`` inside the FFT window.

    The signal's sample ``u`` sits at window position ``origin[d] + step[d] * u`` along each
    spatial dimension; every other window position is zero (the padding is never part of the
    result, and ``step`` places a dilated filter).

    Args:
        signal: real ``(*lead, N)`` (1D band) or ``(*lead, H, W)`` (2D band); positions must fit
            inside ``band.signal_shape``. Half precision is computed in float32.
        band: the kept set; ``band.signal_shape`` is the transform size.
        origin: zeros before the signal per spatial dimension (default: none).
        step: spacing of the samples per spatial dimension (default: 1).

    Returns:
        Complex ``(*band.kept_shape, *lead)``, contiguous (frequency-major).
    """
    ndim = band.ndim
    origin_t = (0,) * ndim if origin is None else tuple(int(o) for o in origin)
    step_t = (1,) * ndim if step is None else tuple(int(s) for s in step)
    sizes = tuple(signal.shape[-ndim:])
    return apply_analysis(signal, analysis_plan(band, origin_t, step_t, sizes))


def band_synthesis(
    kept: torch.Tensor,
    band: Band,
    output_size: Sequence[int] | None = None,
    stride: Sequence[int] | None = None,
) -> torch.Tensor:
    """Real signal whose one-sided spectrum is ``kept`` on the band and zero elsewhere, evaluated
    only at positions ``u * stride`` for ``u < output_size`` (as :func:`torch.fft.irfftn`:
    imaginary parts that a real signal cannot carry, e.g. of the DC column, are ignored).

    Args:
        kept: complex ``(*band.kept_shape, *lead)`` (frequency-major; any strides).
        band: the kept set; ``band.signal_shape`` is the transform size.
        output_size: number of output positions per spatial dimension (default: the full size).
        stride: step between output positions per spatial dimension (default: 1).

    Returns:
        Real ``(*lead, *output_size)``.
    """
    ndim = band.ndim
    size_t = band.signal_shape if output_size is None else tuple(int(n) for n in output_size)
    stride_t = (1,) * ndim if stride is None else tuple(int(s) for s in stride)
    return apply_synthesis(kept, synthesis_plan(band, size_t, stride_t))


def band_rfft(signal: torch.Tensor, band: Band) -> torch.Tensor:
    """One-sided spectrum of a real signal at the band's kept coefficients only.

    Args:
        signal: real tensor ``(..., N)`` (1D band) or ``(..., H, W)`` (2D band) whose trailing
            sizes equal ``band.signal_shape``.
        band: the kept set.

    Returns:
        Complex tensor ``(..., *band.kept_shape)`` (a view of frequency-major storage).
    """
    kept = band_analysis(signal, band)
    return kept.movedim(tuple(range(band.ndim)), tuple(range(-band.ndim, 0)))


def band_irfft(kept: torch.Tensor, band: Band) -> torch.Tensor:
    """Inverse of :func:`band_rfft`: the real signal whose spectrum is ``kept`` on the band and
    zero elsewhere (as :func:`torch.fft.irfftn`).

    Args:
        kept: complex tensor ``(..., *band.kept_shape)``.
        band: the kept set.

    Returns:
        Real tensor ``(..., *band.signal_shape)``.
    """
    moved = kept.movedim(tuple(range(-band.ndim, 0)), tuple(range(band.ndim)))
    return band_synthesis(moved, band)


def filter_spectrum_fm(
    weight: torch.Tensor, band: Band, dilation: tuple[int, ...], dtype: torch.dtype
) -> torch.Tensor:
    """Frequency-major filter spectrum: the DFT of the (dilated) filter zero-padded to
    ``band.signal_shape``, at the kept coefficients.

    Args:
        weight: real ``(O, C_in / groups, *kernel_size)``.
        band: the kept set.
        dilation: per spatial dimension.
        dtype: complex dtype of the result.

    Returns:
        Complex ``(*band.kept_shape, O, C_in / groups)``, contiguous.
    """
    spectrum = band_analysis(weight.to(compute_dtype(dtype)), band, step=dilation)
    return spectrum.to(dtype)


def filter_spectrum(
    weight: torch.Tensor, band: Band, dilation: tuple[int, ...], dtype: torch.dtype
) -> torch.Tensor:
    """DFT of a (dilated) filter zero-padded to ``band.signal_shape``, at the kept coefficients.

    Args:
        weight: real ``(O, C_in / groups, *kernel_size)``.
        band: the kept set; ``band.signal_shape`` is the FFT size.
        dilation: per spatial dimension.
        dtype: complex dtype of the result.

    Returns:
        Complex ``(O, C_in / groups, *band.kept_shape)`` (a view of the frequency-major
        :func:`filter_spectrum_fm`).
    """
    spectrum = filter_spectrum_fm(weight, band, dilation, dtype)
    return spectrum.movedim(tuple(range(band.ndim)), tuple(range(-band.ndim, 0)))


def _per_frequency(tensor: torch.Tensor, groups: int) -> torch.Tensor:
    """``(N, C, *F)`` -> ``(F, G, N, C / G)`` (a view for frequency-major storage)."""
    count, channels = tensor.shape[:2]
    num_freq = math.prod(tensor.shape[2:])
    return tensor.reshape(count, groups, channels // groups, num_freq).permute(3, 1, 0, 2)


def _filters_per_frequency(filters: torch.Tensor, groups: int) -> torch.Tensor:
    """``(O, C / G, *F)`` -> ``(F, G, O / G, C / G)`` (a view for frequency-major storage)."""
    out_channels, group_in = filters.shape[:2]
    num_freq = math.prod(filters.shape[2:])
    return filters.reshape(groups, out_channels // groups, group_in, num_freq).permute(3, 0, 1, 2)


def _grouped_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(F, G, m, k) @ (F, G, k, n)``; squeeze/unsqueeze (views) keep ``G == 1`` a plain bmm."""
    if a.shape[1] == 1:
        return torch.matmul(a.squeeze(1), b.squeeze(1)).unsqueeze(1)
    return a @ b


def _from_per_frequency(tensor: torch.Tensor, freq_shape: torch.Size) -> torch.Tensor:
    """``(F, G, N, C / G)`` -> ``(N, C, *F)`` (a view of frequency-major storage for G == 1)."""
    count = tensor.shape[2]
    return tensor.permute(2, 1, 3, 0).reshape(count, -1, *freq_shape)


def _contract_forward(x: torch.Tensor, w: torch.Tensor, groups: int) -> torch.Tensor:
    # Y[f, g] = X[f, g] @ W[f, g]^H; the conjugate transpose is a BLAS operand flag.
    y = _grouped_matmul(_per_frequency(x, groups), _filters_per_frequency(w, groups).mT.conj())
    return _from_per_frequency(y, x.shape[2:])


class _Contract(torch.autograd.Function):
    """The contraction with explicit gradients in frequency-major layout (autograd through the
    conjugated, permuted filter view would materialise the filter gradient twice). The backward
    is written with differentiable operations, so double backward works."""

    @staticmethod
    def forward(ctx, spectrum: torch.Tensor, filters: torch.Tensor, groups: int) -> torch.Tensor:
        ctx.groups = groups
        ctx.save_for_backward(spectrum, filters)
        return _contract_forward(spectrum, filters, groups)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:
        spectrum, filters = ctx.saved_tensors
        groups = ctx.groups
        freq_shape = spectrum.shape[2:]
        g = _per_frequency(grad, groups)  # (F, G, B, O / G)
        grad_spectrum = grad_filters = None
        if ctx.needs_input_grad[0]:
            # dX[f, g] = dY[f, g] @ W[f, g]
            dx = _grouped_matmul(g, _filters_per_frequency(filters, groups))
            grad_spectrum = _from_per_frequency(dx, freq_shape)
        if ctx.needs_input_grad[1]:
            # dW[f, g] = dY[f, g]^H @ X[f, g]: (F, G, O / G, C / G), frequency-major.
            dw = _grouped_matmul(g.mT.conj(), _per_frequency(spectrum, groups))
            grad_filters = dw.permute(1, 2, 3, 0).reshape(*filters.shape)
        return grad_spectrum, grad_filters, None


def spectral_contract(spectrum: torch.Tensor, filters: torch.Tensor, groups: int) -> torch.Tensor:
    """Per-frequency channel contraction ``Y[b, o] = sum_i X[b, i] * conj(W[o, i])``.

    This is a cross-correlation in the spatial domain (the convention of ``F.conv*``). It runs
    as one batched complex GEMM over kept frequencies and groups. Operands that are views of
    frequency-major storage (as produced by :func:`band_analysis` and :func:`filter_spectrum`)
    are read in place: the conjugate-transposed filter is a BLAS operand flag, not a copy, and
    for ``groups == 1`` the result and both gradients are frequency-major too.

    Args:
        spectrum: complex ``(B, C_in, *F)`` kept input spectrum (any strides).
        filters: complex ``(C_out, C_in / groups, *F)`` kept filter spectrum (any strides).
        groups: number of channel groups.

    Returns:
        Complex ``(B, C_out, *F)``.
    """
    return _Contract.apply(spectrum, filters, groups)
