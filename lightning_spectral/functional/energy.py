"""Spectral energy statistics on one-sided spectra.

By Parseval, ``sum(x ** 2) = sum(|X| ** 2) / N`` over the *full* spectrum. The one-sided layout
stores each interior column once for a conjugate pair, so energy computed on it weights the
interior columns twice and the DC column (and, for even widths, the Nyquist column) once.

"Energy retained" by a band is the energy inside the band divided by the total. Energy-based
compression picks the smallest band of the nested chain (:func:`band_chain`) that retains at
least a target fraction of the accumulated power.
"""

from __future__ import annotations

import torch

from lightning_spectral.functional._checks import compute_dtype, fft_precision
from lightning_spectral.functional.band import Band, band_chain, spectrum_shape
from lightning_spectral.functional.validation import check_number

__all__ = [
    "band_energy_fraction",
    "band_for_energy",
    "check_energy",
    "parseval_weights",
    "power_map",
    "retained_energy",
]


def check_energy(energy: float, name: str = "energy") -> float:
    """Validate a retained-energy target, a fraction in ``(0, 1]``, and return it as a float.

    Raises:
        TypeError: if it is not a real number.
        ValueError: if it is NaN or outside ``(0, 1]``.

    Examples:
        >>> check_energy(0.9)
        0.9
    """
    return check_number(energy, name, 0.0, 1.0, low_open=True)


def parseval_weights(
    signal_size: int, device: torch.device | str | None = None, dtype=torch.float32
) -> torch.Tensor:
    """Weights of one-sided columns for Parseval sums: 1 for DC (and even Nyquist), else 2.

    Returns:
        ``(signal_size // 2 + 1,)``.
    """
    weights = torch.full((signal_size // 2 + 1,), 2.0, device=device, dtype=dtype)
    weights[0] = 1.0
    if signal_size % 2 == 0:
        weights[-1] = 1.0
    return weights


def power_map(signal: torch.Tensor, ndim: int) -> torch.Tensor:
    """Parseval-weighted power ``w * |rfftn(x)| ** 2`` summed over all leading dimensions.

    The map's sum equals ``N * sum(x ** 2)`` with ``N`` the product of the signal sizes.

    Args:
        signal: real ``(..., N)`` (``ndim=1``) or ``(..., H, W)`` (``ndim=2``).
        ndim: number of trailing signal dimensions.

    Returns:
        Real ``spectrum_shape(signal.shape[-ndim:])`` in float32 (float64 for float64 input).
    """
    real = compute_dtype(signal.dtype)
    x = signal.detach().to(real)
    if x.numel() == 0:  # an empty batch carries no power (and MKL refuses empty transforms)
        return x.new_zeros(spectrum_shape(tuple(x.shape[-ndim:])))
    with fft_precision(signal.device):
        spectrum = torch.fft.rfftn(x, dim=tuple(range(-ndim, 0)))
        power = spectrum.real.square() + spectrum.imag.square()
        power = power.reshape(-1, *power.shape[-ndim:]).sum(0)
    return power * parseval_weights(x.shape[-1], device=x.device, dtype=real)


def band_energy_fraction(power: torch.Tensor, band: Band) -> torch.Tensor:
    """Fraction of the power map's energy inside ``band`` (a 0-dim tensor, no host sync).

    An all-zero map retains everything (fraction 1).
    """
    if tuple(power.shape) != spectrum_shape(band.signal_shape):
        raise ValueError(
            f"`power` has shape {tuple(power.shape)}, the band expects "
            f"{spectrum_shape(band.signal_shape)}"
        )
    return retained_energy(power, (band,))[0]


def retained_energy(power: torch.Tensor, bands: tuple[Band, ...]) -> torch.Tensor:
    """Energy fraction retained by each of several bands of the same signal shape.

    Args:
        power: ``spectrum_shape`` power map (see :func:`power_map`).
        bands: bands of one signal shape.

    Returns:
        ``(len(bands),)`` fractions in ``[0, 1]``.
    """
    total = power.sum()
    # Prefix sums over rows and columns give every band's energy without a mask per band.
    prefix = power.cumsum(-1)
    if power.dim() == 1:
        index = torch.tensor([b.cols - 1 for b in bands], device=power.device)
        inside = prefix[index]
    else:
        prefix = torch.nn.functional.pad(prefix.cumsum(0), (0, 0, 1, 0))
        height = power.shape[0]
        cols = torch.tensor([b.cols - 1 for b in bands], device=power.device)
        top = torch.tensor([b.rows_top for b in bands], device=power.device)
        bottom = torch.tensor([height - b.rows_bottom for b in bands], device=power.device)
        inside = prefix[top, cols] + prefix[height, cols] - prefix[bottom, cols]
    return torch.where(total > 0, inside / total.clamp_min(torch.finfo(power.dtype).tiny), 1.0)


def band_for_energy(power: torch.Tensor, signal_shape: tuple[int, ...], energy: float) -> Band:
    """Smallest band of the chain for ``signal_shape`` retaining at least ``energy`` of ``power``.

    Reads one small tensor back to the host: call it at epoch boundaries, not per step.

    Args:
        power: accumulated power map of shape ``spectrum_shape(signal_shape)``.
        signal_shape: ``(N,)`` or ``(H, W)``.
        energy: target fraction in ``(0, 1]``.

    Returns:
        The chosen :class:`Band` (its ``compression`` is the achieved compression).
    """
    energy = check_energy(energy)
    chain = band_chain(tuple(signal_shape))
    if tuple(power.shape) != chain[0].spectrum_shape:
        raise ValueError(
            f"`power` has shape {tuple(power.shape)}, expected {chain[0].spectrum_shape} "
            f"for signal shape {tuple(signal_shape)}"
        )
    fractions = retained_energy(power, chain).tolist()
    # Guard against round-off on the full band (fraction 1 up to float error).
    for band, fraction in zip(chain, fractions, strict=True):
        if fraction >= energy - 1e-6:
            return band
    return chain[-1]
