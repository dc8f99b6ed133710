"""Pruned real FFTs restricted to a band, the filter spectrum at kept frequencies, and the
frequency-domain channel contraction.

These are the building blocks of the band-limited convolution. All of them are linear maps
written with differentiable torch operations, so autograd gives their exact adjoints: the
gradient that flows back through :func:`band_rfft` is the zero-filled inverse of the kept
coefficients, i.e. it is projected onto the band.

Work is pruned, never masked: the transform along the height is computed only for the kept
columns, only the kept rows are stored, and the inverse starts from the kept coefficients.
"""

from __future__ import annotations

import math

import torch

from lightning_spectral.functional.band import Band

__all__ = [
    "band_irfft",
    "band_rfft",
    "filter_spectrum",
    "spectral_contract",
]


def _select_rows(spectrum: torch.Tensor, band: Band) -> torch.Tensor:
    """Kept rows (top then bottom) of a ``(..., H, M)`` spectrum along dim -2."""
    top = spectrum[..., : band.rows_top, :]
    if band.rows_bottom == 0:
        return top
    bottom = spectrum[..., spectrum.shape[-2] - band.rows_bottom :, :]
    return torch.cat([top, bottom], dim=-2)


def band_rfft(signal: torch.Tensor, band: Band) -> torch.Tensor:
    """One-sided spectrum of a real signal at the band's kept coefficients only.

    Args:
        signal: real tensor ``(..., N)`` (1D band) or ``(..., H, W)`` (2D band) whose trailing
            sizes equal ``band.signal_shape``.
        band: the kept set.

    Returns:
        Complex tensor ``(..., *band.kept_shape)``.
    """
    spectrum = torch.fft.rfft(signal, dim=-1)[..., : band.cols]
    if band.ndim == 1:
        return spectrum
    # Transform along the height only the kept columns, then keep only the kept rows.
    return _select_rows(torch.fft.fft(spectrum, dim=-2), band)


def band_irfft(kept: torch.Tensor, band: Band) -> torch.Tensor:
    """Inverse of :func:`band_rfft`: the real signal whose spectrum is ``kept`` on the band and
    zero elsewhere (Hermitian completion as in :func:`torch.fft.irfft2`).

    Args:
        kept: complex tensor ``(..., *band.kept_shape)``.
        band: the kept set.

    Returns:
        Real tensor ``(..., *band.signal_shape)``.
    """
    width = band.signal_shape[-1]
    if band.ndim == 2:
        height = band.signal_shape[0]
        if band.rows_top + band.rows_bottom < height:
            lead = kept.shape[:-2]
            gap = kept.new_zeros(*lead, height - band.rows_top - band.rows_bottom, band.cols)
            top, bottom = kept.split([band.rows_top, band.rows_bottom], dim=-2)
            kept = torch.cat([top, gap, bottom], dim=-2)
        kept = torch.fft.ifft(kept, dim=-2)
    # irfft zero-fills the missing high columns itself.
    return torch.fft.irfft(kept, n=width, dim=-1)


def _dft_matrix(
    frequencies: list[int] | range, size: int, taps: int, step: int, dtype: torch.dtype, device
) -> torch.Tensor:
    """``E[f, u] = exp(-2 pi i f (u * step) / size)`` as a complex ``(len(frequencies), taps)``."""
    freq = torch.as_tensor(list(frequencies), dtype=torch.float64, device=device)
    pos = torch.arange(taps, dtype=torch.float64, device=device) * step
    # Reduce the phase modulo the size in integers-as-floats before scaling: exact for all sizes.
    phase = torch.remainder(freq[:, None] * pos[None, :], size) * (-2.0 * math.pi / size)
    return torch.polar(torch.ones_like(phase), phase).to(dtype=dtype)


def filter_spectrum(
    weight: torch.Tensor, band: Band, dilation: tuple[int, ...], dtype: torch.dtype
) -> torch.Tensor:
    """DFT of a (dilated) filter zero-padded to ``band.signal_shape``, at the kept coefficients.

    Computed directly from the taps with small DFT matrices, never by an FFT of the filter
    padded to the map size.

    Args:
        weight: real ``(O, C_in / groups, *kernel_size)``.
        band: the kept set; ``band.signal_shape`` is the FFT size.
        dilation: per spatial dimension.
        dtype: complex dtype of the result.

    Returns:
        Complex ``(O, C_in / groups, *band.kept_shape)``.
    """
    device = weight.device
    width = band.signal_shape[-1]
    cols = _dft_matrix(range(band.cols), width, weight.shape[-1], dilation[-1], dtype, device)
    spectrum = torch.matmul(weight.to(dtype), cols.transpose(0, 1))
    if band.ndim == 1:
        return spectrum
    height = band.signal_shape[0]
    rows = _dft_matrix(band.row_indices(), height, weight.shape[-2], dilation[0], dtype, device)
    return torch.matmul(rows, spectrum)


def spectral_contract(spectrum: torch.Tensor, filters: torch.Tensor, groups: int) -> torch.Tensor:
    """Per-frequency channel contraction ``Y[b, o] = sum_i X[b, i] * conj(W[o, i])``.

    This is a cross-correlation in the spatial domain (the convention of ``F.conv*``). It runs
    as one batched complex GEMM over kept frequencies and groups.

    Args:
        spectrum: complex ``(B, C_in, *F)`` kept input spectrum.
        filters: complex ``(C_out, C_in / groups, *F)`` kept filter spectrum.
        groups: number of channel groups.

    Returns:
        Complex ``(B, C_out, *F)``.
    """
    batch = spectrum.shape[0]
    out_channels, group_in = filters.shape[:2]
    freq_shape = spectrum.shape[2:]
    num_freq = math.prod(freq_shape)
    group_out = out_channels // groups
    x = spectrum.reshape(batch, groups, group_in, num_freq).permute(3, 1, 0, 2)
    w = filters.reshape(groups, group_out, group_in, num_freq).permute(3, 0, 2, 1).conj()
    y = torch.matmul(x, w)  # (F, G, B, O / G)
    return y.permute(2, 1, 3, 0).reshape(batch, out_channels, *freq_shape)
