"""Pruned real DFTs restricted to a band, the filter spectrum at kept frequencies, and the
frequency-domain channel contraction.

These are the building blocks of the band-limited convolution. Every transform here is a
separable product with small DFT matrices evaluated only where needed:

* the analysis (forward transform) reads only the real, unpadded input positions (zero padding is
  a phase offset in the matrix, never a padded copy) and produces only the kept frequencies;
* the synthesis (inverse transform) starts from the kept coefficients (the discarded ones are
  never materialised as zeros) and evaluates only the requested output positions, so the crop
  and the stride of a convolution cost nothing.

Why matrices rather than FFTs: for the map sizes of CNN layers (up to a few hundred samples per
axis) a DFT matrix product restricted to the band does less work than a full FFT followed by a
slice once the band is small, it runs in BLAS at full speed, padding/cropping/striding fold into
it, and its autograd saves only the constant matrix (an FFT of a padded copy would save or
recompute that copy). The spectra are laid out **frequency-major**, ``(*kept_shape, *lead)``,
which is the layout of the per-frequency channel GEMM, so no permute copy is needed between the
transforms and the contraction.

All maps are linear and written with differentiable torch operations, so autograd gives their
exact adjoints: the gradient flowing back through the analysis is the zero-filled inverse of the
kept coefficients, i.e. it is projected onto the band.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import torch

from lightning_spectral.functional.band import Band

__all__ = [
    "band_analysis",
    "band_irfft",
    "band_rfft",
    "band_synthesis",
    "filter_spectrum",
    "filter_spectrum_fm",
    "spectral_contract",
]


def _complex_dtype(real: torch.dtype) -> torch.dtype:
    return torch.complex128 if real == torch.float64 else torch.complex64


@lru_cache(maxsize=256)
def _phase_matrix(
    frequencies: tuple[int, ...],
    positions: tuple[int, ...],
    size: int,
    sign: float,
    scale: tuple[float, ...] | None,
    dtype: torch.dtype,
    device: torch.device,
) -> torch.Tensor:
    """``E[f, u] = scale[f] * exp(sign * 2 pi i * f * positions[u] / size)``, complex ``(F, U)``.

    Cached: the same layer shape reuses its matrices on every step. The phase is reduced modulo
    ``size`` in exact integer arithmetic before scaling, so it is accurate for any size.
    """
    freq = torch.tensor(frequencies, dtype=torch.int64)
    pos = torch.tensor(positions, dtype=torch.int64)
    turns = torch.remainder(freq[:, None] * pos[None, :], size).to(torch.float64)
    phase = turns * (sign * 2.0 * math.pi / size)
    magnitude = torch.ones_like(phase)
    if scale is not None:
        magnitude = magnitude * torch.tensor(scale, dtype=torch.float64)[:, None]
    return torch.polar(magnitude, phase).to(dtype=dtype, device=device)


def _row_frequencies(band: Band) -> tuple[int, ...]:
    return tuple(band.row_indices())


def _positions(start: int, count: int, step: int = 1) -> tuple[int, ...]:
    return tuple(start + step * u for u in range(count))


def band_analysis(
    signal: torch.Tensor, band: Band, origin: Sequence[int] | None = None
) -> torch.Tensor:
    """Kept one-sided spectrum of a real signal placed at ``origin`` inside the FFT window.

    The signal is treated as zero-padded to ``band.signal_shape`` with ``origin[d]`` zeros before
    it along each spatial dimension (the rest of the window is zeros after it); the padding is
    never materialised.

    Args:
        signal: real ``(*lead, N)`` (1D band) or ``(*lead, H, W)`` (2D band), each spatial size
            at most ``band.signal_shape[d] - origin[d]``.
        band: the kept set; ``band.signal_shape`` is the transform size.
        origin: zeros before the signal per spatial dimension (default: none).

    Returns:
        Complex ``(*band.kept_shape, *lead)``, contiguous (frequency-major).
    """
    ndim = band.ndim
    origin = (0,) * ndim if origin is None else tuple(origin)
    lead = signal.shape[:-ndim]
    count = math.prod(lead)
    real = signal.dtype
    cdtype = _complex_dtype(real)
    device = signal.device
    width = signal.shape[-1]
    # Width: a real GEMM against the interleaved (re, im) columns of the DFT matrix.
    cols = _phase_matrix(
        tuple(range(band.cols)),
        _positions(origin[-1], width),
        band.signal_shape[-1],
        -1.0,
        None,
        cdtype,
        device,
    )
    cols_real = torch.view_as_real(cols.transpose(0, 1).contiguous()).reshape(width, 2 * band.cols)
    partial = torch.view_as_complex(
        (signal.reshape(-1, width) @ cols_real).reshape(-1, band.cols, 2)
    )
    if ndim == 1:
        # (count, K) -> (K, count): the one transpose copy, on band-sized data.
        return partial.reshape(count, band.cols).transpose(0, 1).contiguous().view(band.cols, *lead)
    height = signal.shape[-2]
    rows = _phase_matrix(
        _row_frequencies(band),
        _positions(origin[0], height),
        band.signal_shape[0],
        -1.0,
        None,
        cdtype,
        device,
    )
    # (count, H, K) -> (H, K * count), then one complex GEMM over the height gives (R, K, count).
    partial = partial.reshape(count, height, band.cols).permute(1, 2, 0).contiguous()
    kept = rows @ partial.view(height, band.cols * count)
    return kept.view(*band.kept_shape, *lead)


def band_synthesis(
    kept: torch.Tensor,
    band: Band,
    output_size: Sequence[int] | None = None,
    stride: Sequence[int] | None = None,
) -> torch.Tensor:
    """Real signal whose one-sided spectrum is ``kept`` on the band and zero elsewhere, evaluated
    only at positions ``u * stride`` for ``u < output_size`` (Hermitian completion as in
    :func:`torch.fft.irfft2`: imaginary parts of the self-conjugate columns are ignored).

    Args:
        kept: complex ``(*band.kept_shape, *lead)`` (frequency-major; any strides).
        band: the kept set; ``band.signal_shape`` is the transform size.
        output_size: number of output positions per spatial dimension (default: the full size).
        stride: step between output positions per spatial dimension (default: 1).

    Returns:
        Real ``(*lead, *output_size)``.
    """
    ndim = band.ndim
    size = band.signal_shape
    output_size = size if output_size is None else tuple(output_size)
    stride = (1,) * ndim if stride is None else tuple(stride)
    lead = kept.shape[ndim:]
    count = math.prod(lead)
    cdtype = kept.dtype
    device = kept.device
    width = size[-1]
    # Columns other than DC and (even width) Nyquist stand for themselves and their conjugates.
    weights = tuple((1.0 if k == 0 or 2 * k == width else 2.0) / width for k in range(band.cols))
    cols = _phase_matrix(
        tuple(range(band.cols)),
        _positions(0, output_size[-1], stride[-1]),
        width,
        1.0,
        weights,
        cdtype,
        device,
    )
    # Re(sum_k Y_k c_k e^{i theta}) = sum_k (Re Y_k * Re e - Im Y_k * Im e): a real GEMM on
    # interleaved (re, im) rows.
    cols_real = torch.stack([cols.real, -cols.imag], dim=1).reshape(2 * band.cols, -1)
    if ndim == 1:
        spectrum = kept.reshape(band.cols, count).transpose(0, 1).contiguous()
    else:
        rows = _phase_matrix(
            _positions(0, output_size[0], stride[0]),
            _row_frequencies(band),
            size[0],
            1.0,
            (1.0 / size[0],) * output_size[0],
            cdtype,
            device,
        )
        num_rows = band.kept_shape[0]
        partial = rows @ kept.reshape(num_rows, band.cols * count)  # (H_out, K * count)
        spectrum = partial.view(output_size[0], band.cols, count).permute(2, 0, 1).contiguous()
    out = torch.view_as_real(spectrum).reshape(-1, 2 * band.cols) @ cols_real
    return out.view(*lead, *output_size)


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
    zero elsewhere (Hermitian completion as in :func:`torch.fft.irfft2`).

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
    ``band.signal_shape``, at the kept coefficients, computed from the taps with small DFT
    matrices (never an FFT of the filter padded to the map size).

    Args:
        weight: real ``(O, C_in / groups, *kernel_size)``.
        band: the kept set.
        dilation: per spatial dimension.
        dtype: complex dtype of the result.

    Returns:
        Complex ``(*band.kept_shape, O, C_in / groups)``, contiguous.
    """
    out_channels, group_in = weight.shape[:2]
    count = out_channels * group_in
    device = weight.device
    taps = weight.shape[-1]
    cols = _phase_matrix(
        tuple(range(band.cols)),
        _positions(0, taps, dilation[-1]),
        band.signal_shape[-1],
        -1.0,
        None,
        dtype,
        device,
    )
    if band.ndim == 1:
        # (K, taps) @ (taps, O * C/G): tiny.
        return (cols @ weight.reshape(count, taps).transpose(0, 1).to(dtype)).view(
            band.cols, out_channels, group_in
        )
    rows = _phase_matrix(
        _row_frequencies(band),
        _positions(0, weight.shape[-2], dilation[0]),
        band.signal_shape[0],
        -1.0,
        None,
        dtype,
        device,
    )
    # (n, kH, kW) @ (kW, K) -> (kH, K * n); then (R, kH) @ that -> (R, K, n). All tiny.
    taps_h = weight.shape[-2]
    partial = weight.reshape(count, taps_h, taps).to(dtype) @ cols.transpose(0, 1)
    spectrum = rows @ partial.permute(1, 2, 0).reshape(taps_h, band.cols * count)
    return spectrum.contiguous().view(*band.kept_shape, out_channels, group_in)


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


def spectral_contract(spectrum: torch.Tensor, filters: torch.Tensor, groups: int) -> torch.Tensor:
    """Per-frequency channel contraction ``Y[b, o] = sum_i X[b, i] * conj(W[o, i])``.

    This is a cross-correlation in the spatial domain (the convention of ``F.conv*``). It runs
    as one batched complex GEMM over kept frequencies and groups. Operands that are views of
    frequency-major storage (as produced by :func:`band_analysis` and :func:`filter_spectrum`)
    are read in place: the conjugate-transposed filter is a BLAS operand flag, not a copy, and
    for ``groups == 1`` the result is a view of frequency-major storage too.

    Args:
        spectrum: complex ``(B, C_in, *F)`` kept input spectrum (any strides).
        filters: complex ``(C_out, C_in / groups, *F)`` kept filter spectrum (any strides).
        groups: number of channel groups.

    Returns:
        Complex ``(B, C_out, *F)``.
    """
    batch = spectrum.shape[0]
    out_channels, group_in = filters.shape[:2]
    freq_shape = spectrum.shape[2:]
    num_freq = math.prod(freq_shape)
    group_out = out_channels // groups
    # (F, G, B, C/G) and (F, G, C/G, O/G), as views where the strides allow.
    x = spectrum.reshape(batch, groups, group_in, num_freq).permute(3, 1, 0, 2)
    w = filters.reshape(groups, group_out, group_in, num_freq).permute(3, 0, 2, 1).conj()
    # (F, G, B, O / G); squeeze/unsqueeze (views both ways) keep groups == 1 a plain bmm.
    y = torch.matmul(x.squeeze(1), w.squeeze(1)).unsqueeze(1) if groups == 1 else x @ w
    return y.permute(2, 1, 3, 0).reshape(batch, out_channels, *freq_shape)
