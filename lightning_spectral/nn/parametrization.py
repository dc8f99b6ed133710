"""Spectral parametrization of convolution filters (Rippel et al. 2015, Sec. 4).

A convolution's ``weight`` is registered with
:func:`torch.nn.utils.parametrize.register_parametrization` so that the stored (learned) tensor is
the filter's spectrum and the spatial filter is computed from it on every access:

* stored: ``view_as_real(rfftn(weight, s=kernel_size, norm="ortho"))``, a **real** tensor of shape
  ``(C_out, C_in / groups, *kernel_size[:-1], kernel_size[-1] // 2 + 1, 2)`` (real and imaginary
  parts last). No complex ``Parameter`` ever exists, so optimizers, DDP and checkpoints see a
  plain real tensor.
* weight: ``irfftn(stored as complex, s=kernel_size, norm="ortho")``.

``right_inverse`` is the forward transform, so registering the parametrization on a trained or
freshly initialised layer leaves the layer's outputs unchanged (up to float round-off, ~1e-7
relative in float32); ``state_dict`` keys become ``parametrizations.weight.original``.

**Dead coefficients.** A ``k1 x k2`` real filter has ``k1 * k2`` degrees of freedom, the stored
tensor ``2 * k1 * (k2 // 2 + 1)`` reals. The inverse real FFT reads only the Hermitian part of
the columns that are their own mirror image (column 0 and, for even ``k2``, column ``k2 / 2``):
there the imaginary parts of the self-conjugate bins (DC, and the Nyquist rows for even ``k1``)
and the anti-Hermitian combination of rows ``r`` and ``-r`` do not affect the filter. Those
directions get exactly zero gradient and ``right_inverse`` sets them to zero, so they stay zero
under any gradient-based optimizer (weight decay only pulls them further to zero). For a 3x3
filter: 18 stored reals, 9 live. In 1D the dead ones are the imaginary parts of the DC bin and,
for even ``k``, of the Nyquist bin.

Interior columns stand for a conjugate pair, so the gradient of their coefficients is twice that
of the self-conjugate ones (the exact derivative; the map is not an isometry, which is what
changes the optimisation geometry relative to the spatial parametrization).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils import parametrize

__all__ = [
    "SpectralFilterParametrization",
    "is_spectrally_parametrized",
    "register_spectral_parametrization",
    "spectral_sparsity",
]


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    # FFTs run in float32 (float64 stays): CPU has no half-precision FFT.
    return torch.float64 if dtype == torch.float64 else torch.float32


class SpectralFilterParametrization(nn.Module):
    """``weight = irfftn(complex(stored), s=kernel_size, norm="ortho")`` over the kernel dims.

    Args:
        kernel_size: the filter's spatial size (1 to 3 ints), the inverse transform's ``s``.

    Shape:
        stored ``(O, I, *kernel_size[:-1], kernel_size[-1] // 2 + 1, 2)`` ->
        weight ``(O, I, *kernel_size)``, in the stored tensor's dtype.
    """

    def __init__(self, kernel_size: Sequence[int]) -> None:
        super().__init__()
        size = tuple(int(k) for k in kernel_size)
        if not 1 <= len(size) <= 3 or any(k < 1 for k in size):
            raise ValueError(f"`kernel_size` must be 1 to 3 positive ints, got {kernel_size!r}")
        self.kernel_size = size

    @property
    def _dims(self) -> tuple[int, ...]:
        return tuple(range(-len(self.kernel_size), 0))

    def forward(self, stored: torch.Tensor) -> torch.Tensor:
        """Spatial filter from the stored real spectrum."""
        real = _compute_dtype(stored.dtype)
        with torch.autocast(device_type=stored.device.type, enabled=False):
            s = stored.to(real)
            spectrum = torch.complex(s[..., 0], s[..., 1])
            weight = torch.fft.irfftn(spectrum, s=self.kernel_size, dim=self._dims, norm="ortho")
        return weight.to(stored.dtype)

    @torch.no_grad()
    def right_inverse(self, weight: torch.Tensor) -> torch.Tensor:
        """Stored real spectrum of a spatial filter (exact inverse of :meth:`forward`)."""
        if tuple(weight.shape[-len(self.kernel_size) :]) != self.kernel_size:
            raise ValueError(
                f"weight of shape {tuple(weight.shape)} does not end in kernel_size "
                f"{self.kernel_size}"
            )
        real = _compute_dtype(weight.dtype)
        with torch.autocast(device_type=weight.device.type, enabled=False):
            spectrum = torch.fft.rfftn(weight.to(real), dim=self._dims, norm="ortho")
            stored = torch.stack([spectrum.real, spectrum.imag], dim=-1)
        return stored.to(weight.dtype)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}"


def is_spectrally_parametrized(module: nn.Module, tensor_name: str = "weight") -> bool:
    """Whether ``module.<tensor_name>`` carries a :class:`SpectralFilterParametrization`."""
    if not parametrize.is_parametrized(module, tensor_name):
        return False
    return any(
        isinstance(p, SpectralFilterParametrization)
        for p in module.parametrizations[tensor_name]  # type: ignore[union-attr]
    )


def register_spectral_parametrization(conv: nn.Module) -> nn.Module:
    """Store ``conv.weight`` as its real spectrum (in place; no-op if already done).

    Args:
        conv: a module with a ``weight`` of shape ``(O, I, *kernel_size)`` and a
            ``kernel_size`` attribute (``nn.Conv1d``/``nn.Conv2d`` and subclasses).

    Returns:
        ``conv``.
    """
    if not is_spectrally_parametrized(conv):
        parametrize.register_parametrization(
            conv, "weight", SpectralFilterParametrization(conv.kernel_size)
        )
    return conv


@torch.no_grad()
def spectral_sparsity(
    conv: nn.Module, threshold: float = 1e-3, relative: bool = True
) -> torch.Tensor:
    """Fraction of the filters' one-sided spectral coefficients that are (near) zero.

    Args:
        conv: a convolution (spectrally parametrized or not; its current ``weight`` is used).
        threshold: a coefficient counts as zero when its magnitude is ``<= threshold`` times
            the largest magnitude of its own filter (``relative=True``) or ``<= threshold``.
        relative: see ``threshold``.

    Returns:
        0-dim float tensor in ``[0, 1]`` on the weight's device (no host synchronisation).
    """
    if threshold < 0:
        raise ValueError(f"`threshold` must be >= 0, got {threshold!r}")
    weight = conv.weight.detach()
    dims = tuple(range(2, weight.dim()))
    with torch.autocast(device_type=weight.device.type, enabled=False):
        magnitude = torch.fft.rfftn(
            weight.to(_compute_dtype(weight.dtype)), dim=dims, norm="ortho"
        ).abs()
    limit = threshold
    if relative:
        limit = magnitude.amax(dim=dims, keepdim=True) * threshold
    return (magnitude <= limit).float().mean()
