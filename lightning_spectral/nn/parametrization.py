"""Spectral parametrization of convolution filters (Rippel et al. 2015, Sec. 3.2 and 4).

A convolution's ``weight`` is registered with
:func:`torch.nn.utils.parametrize.register_parametrization` so that the stored (learned) tensor
holds the filter's **orthonormal real spectral coordinates** and the spatial filter is computed
from them on every access (the maps are
:func:`lightning_spectral.functional.parametrization.filter_to_spectral` and
:func:`~lightning_spectral.functional.parametrization.spectral_to_filter`):

* stored: real ``(C_out, C_in / groups, prod(kernel_size))``; per filter, the self-conjugate
  bins of ``rfftn(weight, norm="ortho")`` once (real) and each conjugate pair as ``sqrt(2)`` times
  its real and imaginary parts. Exactly ``k1 * k2`` reals for a ``k1 x k2`` filter (9 for 3x3),
  no dead coordinates, and no complex ``Parameter``, so optimizers, DDP and checkpoints see a
  plain real tensor.
* weight: the inverse map, ``(C_out, C_in / groups, *kernel_size)``.

The map is a rotation (orthogonal matrix), so plain SGD, with or without momentum and weight
decay, produces the same filters as the spatial parametrization; only optimizers with
per-coordinate scaling (Adam, RMSProp) behave differently, which is the effect the paper studies.
``right_inverse`` is exact, so registering the parametrization leaves the layer's outputs
unchanged (to float round-off); ``state_dict`` keys become ``parametrizations.weight.original``.

**Earlier layout.** Versions before the orthonormal coordinates stored
``view_as_real(rfftn(weight, norm="ortho"))``, ``(C_out, C_in / groups, *kernel_size[:-1],
kernel_size[-1] // 2 + 1, 2)``. A state dict in that layout is converted when it is loaded
into a layer parametrized by :func:`register_spectral_parametrization` (the filters are kept
exactly, with a warning); optimizer state saved with it does not carry over.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

from lightning_spectral.functional.parametrization import (
    check_kernel_size,
    filter_bin_magnitudes,
    filter_from_rfft,
    filter_to_spectral,
    spectral_to_filter,
)

__all__ = [
    "SpectralFilterParametrization",
    "is_spectrally_parametrized",
    "register_spectral_parametrization",
    "spectral_sparsity",
]


class SpectralFilterParametrization(nn.Module):
    """``weight = spectral_to_filter(stored, kernel_size)``: filters from orthonormal spectral
    coordinates.

    Args:
        kernel_size: the filter's spatial size (1 to 3 ints).

    Shape:
        stored ``(O, I, prod(kernel_size))`` -> weight ``(O, I, *kernel_size)``, in the stored
        tensor's dtype.

    Example:
        >>> param = SpectralFilterParametrization((3, 3))
        >>> stored = param.right_inverse(torch.randn(8, 4, 3, 3))
        >>> tuple(stored.shape), tuple(param(stored).shape)
        ((8, 4, 9), (8, 4, 3, 3))
    """

    def __init__(self, kernel_size: Sequence[int]) -> None:
        super().__init__()
        self.kernel_size = check_kernel_size(kernel_size, "kernel_size")

    def forward(self, stored: torch.Tensor) -> torch.Tensor:
        """Spatial filters from the stored coordinates."""
        return spectral_to_filter(stored, self.kernel_size)

    @torch.no_grad()
    def right_inverse(self, weight: torch.Tensor) -> torch.Tensor:
        """Stored coordinates of spatial filters (exact inverse of :meth:`forward`)."""
        return filter_to_spectral(weight, self.kernel_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}"


def is_spectrally_parametrized(module: nn.Module, tensor_name: str = "weight") -> bool:
    """Whether ``module.<tensor_name>`` carries a :class:`SpectralFilterParametrization`.

    Example:
        >>> is_spectrally_parametrized(register_spectral_parametrization(nn.Conv1d(1, 1, 3)))
        True
    """
    if not parametrize.is_parametrized(module, tensor_name):
        return False
    return any(
        isinstance(p, SpectralFilterParametrization)
        for p in module.parametrizations[tensor_name]  # type: ignore[union-attr]
    )


_LEGACY_WARNING = (
    "converted spectral parametrization coefficients saved in the earlier "
    "view_as_real(rfftn(weight)) layout to orthonormal coordinates (the filters are unchanged; "
    "optimizer state saved with them does not apply). Save the model again to store the new layout."
)


def _convert_legacy_layout(
    chain: parametrize.ParametrizationList, state_dict: dict[str, Any], prefix: str, *_: Any
) -> None:
    """Load-state-dict pre-hook of a parametrization chain: earlier layout -> coordinates."""
    key = prefix + "original"
    param = chain[0]
    stored = state_dict.get(key)
    if not isinstance(param, SpectralFilterParametrization) or not isinstance(stored, torch.Tensor):
        return
    size = param.kernel_size
    legacy = (*size[:-1], size[-1] // 2 + 1, 2)
    if (
        stored.dim() != chain.original.dim() + len(size)
        or tuple(stored.shape[stored.dim() - len(legacy) :]) != legacy
    ):
        return  # the current layout, or a mismatch that load_state_dict reports itself
    state_dict[key] = filter_to_spectral(filter_from_rfft(stored, size), size)
    warnings.warn(_LEGACY_WARNING, UserWarning, stacklevel=2)


def register_spectral_parametrization(conv: nn.Module) -> nn.Module:
    """Store ``conv.weight`` as its orthonormal spectral coordinates (in place; idempotent).

    Also installs the converter of state dicts saved in the earlier storage layout (see the
    module docstring); calling it again on a parametrized layer only re-installs that converter.

    Args:
        conv: a module with a ``weight`` of shape ``(O, I, *kernel_size)`` and a
            ``kernel_size`` attribute (``nn.Conv1d``/``nn.Conv2d`` and subclasses).

    Returns:
        ``conv``.

    Raises:
        TypeError: if ``conv`` has no ``kernel_size``/``weight``.

    Example:
        >>> conv = register_spectral_parametrization(nn.Conv2d(3, 8, 3))
        >>> tuple(conv.parametrizations.weight.original.shape)  # 9 reals per 3x3 filter
        (8, 3, 9)
    """
    if not isinstance(getattr(conv, "kernel_size", None), tuple) or not hasattr(conv, "weight"):
        raise TypeError(
            f"`conv` must be a convolution with `weight` and `kernel_size`, got "
            f"{type(conv).__name__}"
        )
    if not is_spectrally_parametrized(conv):
        parametrize.register_parametrization(
            conv, "weight", SpectralFilterParametrization(conv.kernel_size)
        )
    chain = conv.parametrizations["weight"]  # type: ignore[index]
    if not getattr(chain, "_lightning_spectral_converter", False):
        chain._register_load_state_dict_pre_hook(_convert_legacy_layout, with_module=True)
        chain._lightning_spectral_converter = True
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

    Raises:
        TypeError: if ``threshold`` is not a real number.
        ValueError: if ``threshold`` is negative or not finite.

    Example:
        >>> conv = nn.Conv2d(1, 1, 4, bias=False)
        >>> _ = conv.weight.data.fill_(1.0)  # a constant filter: only DC is non-zero
        >>> round(spectral_sparsity(conv).item(), 4)  # 11 of the 4 x 3 one-sided bins
        0.9167
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise TypeError(f"`threshold` must be a real number, got {threshold!r}")
    if not math.isfinite(threshold) or threshold < 0:
        raise ValueError(f"`threshold` must be a finite number >= 0, got {threshold!r}")
    weight = conv.weight.detach()
    magnitude = filter_bin_magnitudes(weight, tuple(weight.shape[2:]))
    dims = tuple(range(2, weight.dim()))
    limit: torch.Tensor | float = threshold
    if relative:
        limit = magnitude.amax(dim=dims, keepdim=True) * threshold
    return (magnitude <= limit).float().mean()
