"""Filters <-> their orthonormal real spectral coordinates (Rippel et al. 2015, Sec. 3.2 and 4).

A real filter ``w`` of size ``k_1 x ... x k_d`` (``N = k_1 ... k_d`` taps) has the unitary DFT
``X = fftn(w, norm="ortho")``, Hermitian because ``w`` is real: ``X[-b] = conj(X[b])``. Its real
orthonormal coordinates are, for each bin ``b`` of the one-sided ``rfftn`` grid taken once:

* a **self-conjugate** bin (``b == -b`` modulo the kernel size: DC, and Nyquist rows/columns of
  even sizes): ``X[b]``, which is real;
* a **conjugate pair** ``{b, -b}``, represented by the bin that comes first in the ``rfftn``
  layout: ``sqrt(2) Re X[b]`` and ``sqrt(2) Im X[b]``.

That is ``N`` reals, no dead coordinates, and by Parseval ``sum(coords**2) == sum(w**2)``: the map
is a rotation (its matrix is orthogonal), so plain SGD follows the same filters in either
parametrization and only optimizers with per-coordinate scaling (Adam, RMSProp) see a difference,
which is the mechanism the paper relies on. Coordinates are ordered by their bin's position in the
``rfftn`` layout (row-major), the real part before the imaginary part of a pair.

The map is a small matrix (``N x N``, ``N <= 343`` for the kernels convolutions use), built once
per kernel size from ``rfftn`` of the unit filters in float64 and applied as a matrix product.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch

from lightning_spectral.functional._checks import compute_dtype, fft_precision

__all__ = [
    "check_kernel_size",
    "filter_bin_magnitudes",
    "filter_from_rfft",
    "filter_to_spectral",
    "spectral_basis",
    "spectral_coordinates",
    "spectral_to_filter",
]


def check_kernel_size(kernel_size: Sequence[int], name: str = "kernel_size") -> tuple[int, ...]:
    """``kernel_size`` as a tuple of 1 to 3 positive ints.

    Raises:
        TypeError: if it is not a sequence of ints.
        ValueError: if it has not 1 to 3 entries or one is ``< 1``.
    """
    if isinstance(kernel_size, (str, bytes)) or not isinstance(kernel_size, Sequence):
        raise TypeError(f"`{name}` must be a sequence of 1 to 3 ints, got {kernel_size!r}")
    if not all(isinstance(k, int) and not isinstance(k, bool) for k in kernel_size):
        raise TypeError(f"`{name}` must be a sequence of 1 to 3 ints, got {kernel_size!r}")
    size = tuple(kernel_size)
    if not 1 <= len(size) <= 3 or any(k < 1 for k in size):
        raise ValueError(f"`{name}` must be 1 to 3 ints >= 1, got {kernel_size!r}")
    return size


def _half_shape(size: tuple[int, ...]) -> tuple[int, ...]:
    return (*size[:-1], size[-1] // 2 + 1)


def _coordinate_list(size: tuple[int, ...]) -> tuple[tuple[tuple[int, ...], str], ...]:
    # Plain Python (no tensor ops), so torch.compile traces it without a graph break.
    half = _half_shape(size)
    coords: list[tuple[tuple[int, ...], str]] = []
    for flat in range(math.prod(half)):
        rest, bin_list = flat, []
        for extent in reversed(half):
            rest, index = divmod(rest, extent)
            bin_list.append(index)
        bin_ = tuple(reversed(bin_list))
        mirror = tuple((-b) % k for b, k in zip(bin_, size, strict=True))
        if mirror == bin_:
            coords.append((bin_, "real"))
        elif mirror[-1] >= half[-1] or mirror > bin_:
            # The pair's other bin is outside the one-sided grid or later in it: b represents it.
            coords.extend([(bin_, "real"), (bin_, "imag")])
    return tuple(coords)


_coordinates = functools.lru_cache(maxsize=64)(_coordinate_list)


def spectral_coordinates(kernel_size: Sequence[int]) -> tuple[tuple[tuple[int, ...], str], ...]:
    """What each orthonormal spectral coordinate is: ``(rfftn bin, "real" | "imag")``.

    Args:
        kernel_size: the filter's size, 1 to 3 ints.

    Returns:
        ``prod(kernel_size)`` entries in coordinate order; a coordinate of a self-conjugate bin is
        ``X[bin]``, one of a paired bin ``sqrt(2)`` times its real or imaginary part.

    Example:
        >>> spectral_coordinates((3,))
        (((0,), 'real'), ((1,), 'real'), ((1,), 'imag'))
    """
    return _coordinates(check_kernel_size(kernel_size))


def _build_basis(size: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    count = math.prod(size)
    units = torch.eye(count, dtype=torch.float64, device=device).reshape(count, *size)
    dims = tuple(range(1, len(size) + 1))
    spectra = torch.fft.rfftn(units, dim=dims, norm="ortho")  # (unit filter, *half)
    columns = []
    for bin_, part in _coordinate_list(size):
        value = spectra[(slice(None), *bin_)]
        value = value.real if part == "real" else value.imag
        paired = tuple((-b) % k for b, k in zip(bin_, size, strict=True)) != bin_
        columns.append(value * math.sqrt(2.0) if paired else value)
    # Column j holds coordinate j of every unit filter; rows of the transpose are the basis
    # filters. The matrix is orthogonal, so its transpose is the exact inverse.
    return torch.stack(columns, dim=1).T.contiguous().to(dtype)


@functools.lru_cache(maxsize=64)
def _cached_basis(size: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    if dtype != torch.float64 or device.type != "cpu":
        return _cached_basis(size, torch.float64, torch.device("cpu")).to(
            dtype=dtype, device=device
        )
    return _build_basis(size, dtype, device)


def _basis(size: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    if torch.compiler.is_compiling():
        # Dynamo does not use lru_cache; build the (tiny) matrix inside the graph instead.
        return _build_basis(size, dtype, device)
    return _cached_basis(size, dtype, device)


def spectral_basis(
    kernel_size: Sequence[int],
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The orthonormal spectral basis: row ``j`` is the filter of coordinate ``j``, flattened.

    Args:
        kernel_size: the filter's size, 1 to 3 ints.
        dtype: of the result (built in float64, then cast).
        device: of the result (CPU by default).

    Returns:
        ``(N, N)`` orthogonal matrix ``B``, ``N = prod(kernel_size)``:
        ``coords = w.flatten() @ B.T`` and ``w.flatten() = coords @ B``. Cached per kernel size,
        dtype and device; do not modify it in place.

    Example:
        >>> basis = spectral_basis((2, 3))
        >>> torch.allclose(basis @ basis.T, torch.eye(6, dtype=torch.float64))
        True
    """
    return _basis(check_kernel_size(kernel_size), dtype, torch.device(device or "cpu"))


def _kernel_dims_ok(tensor: torch.Tensor, size: tuple[int, ...], name: str) -> None:
    if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
        raise TypeError(f"`{name}` must be a real floating tensor, got {tensor!r:.60}")
    if tensor.dim() < len(size) or tuple(tensor.shape[tensor.dim() - len(size) :]) != size:
        raise ValueError(f"`{name}` of shape {tuple(tensor.shape)} must end in kernel_size {size}")


def filter_to_spectral(weight: torch.Tensor, kernel_size: Sequence[int]) -> torch.Tensor:
    """Orthonormal spectral coordinates of real filters.

    Args:
        weight: real ``(*batch, *kernel_size)`` (e.g. ``(C_out, C_in / groups, k1, k2)``).
        kernel_size: 1 to 3 ints, the trailing dimensions of ``weight``.

    Returns:
        ``(*batch, prod(kernel_size))`` in ``weight``'s dtype (computed in float32, or float64
        for float64 input, with autocast off).

    Example:
        >>> w = torch.tensor([1.0, 2.0, 3.0])
        >>> filter_to_spectral(w, (3,))  # X[0] = 6 / sqrt(3); sqrt(2) Re X[1], sqrt(2) Im X[1]
        tensor([ 3.4641, -1.2247,  0.7071])
        >>> round(filter_to_spectral(w, (3,)).square().sum().item(), 4)  # Parseval: sum(w**2)
        14.0
    """
    size = check_kernel_size(kernel_size)
    _kernel_dims_ok(weight, size, "weight")
    real = compute_dtype(weight.dtype)
    with fft_precision(weight.device):
        basis = _basis(size, real, weight.device)
        flat = weight.to(real).reshape(*weight.shape[: weight.dim() - len(size)], -1)
        coords = flat @ basis.T
    return coords.to(weight.dtype)


def spectral_to_filter(coords: torch.Tensor, kernel_size: Sequence[int]) -> torch.Tensor:
    """Real filters from their orthonormal spectral coordinates (exact inverse of
    :func:`filter_to_spectral`).

    Args:
        coords: real ``(*batch, prod(kernel_size))``.
        kernel_size: 1 to 3 ints.

    Returns:
        ``(*batch, *kernel_size)`` in ``coords``' dtype.

    Example:
        >>> w = torch.randn(4, 2, 3, 3, dtype=torch.float64)
        >>> torch.allclose(spectral_to_filter(filter_to_spectral(w, (3, 3)), (3, 3)), w)
        True
    """
    size = check_kernel_size(kernel_size)
    count = math.prod(size)
    if not isinstance(coords, torch.Tensor) or not coords.is_floating_point():
        raise TypeError(f"`coords` must be a real floating tensor, got {coords!r:.60}")
    if coords.dim() < 1 or coords.shape[-1] != count:
        raise ValueError(
            f"`coords` of shape {tuple(coords.shape)} must end in prod(kernel_size) = {count} "
            f"for kernel_size {size}"
        )
    real = compute_dtype(coords.dtype)
    with fft_precision(coords.device):
        weight = coords.to(real) @ _basis(size, real, coords.device)
    return weight.reshape(*coords.shape[:-1], *size).to(coords.dtype)


def filter_bin_magnitudes(weight: torch.Tensor, kernel_size: Sequence[int]) -> torch.Tensor:
    """Magnitudes of the filters' one-sided spectrum ``|rfftn(w, norm="ortho")|``.

    Args:
        weight: real ``(*batch, *kernel_size)``.
        kernel_size: 1 to 3 ints, the trailing dimensions of ``weight``.

    Returns:
        ``(*batch, *kernel_size[:-1], kernel_size[-1] // 2 + 1)`` in float32 (float64 for
        float64 input).

    Example:
        >>> filter_bin_magnitudes(torch.ones(2, 2), (2, 2))
        tensor([[2., 0.],
                [0., 0.]])
    """
    size = check_kernel_size(kernel_size)
    _kernel_dims_ok(weight, size, "weight")
    dims = tuple(range(-len(size), 0))
    with fft_precision(weight.device):
        spectrum = torch.fft.rfftn(weight.to(compute_dtype(weight.dtype)), dim=dims, norm="ortho")
    return spectrum.abs()


def filter_from_rfft(stored: torch.Tensor, kernel_size: Sequence[int]) -> torch.Tensor:
    """Filters from the earlier storage layout ``view_as_real(rfftn(w, norm="ortho"))``.

    That layout (``lightning_spectral`` before the orthonormal coordinates) had
    ``2 * k1 * ... * (k_d // 2 + 1)`` reals per filter, some of them ignored by the inverse
    transform; this is the inverse transform it used, kept to convert its state dicts.

    Args:
        stored: real ``(*batch, *kernel_size[:-1], kernel_size[-1] // 2 + 1, 2)``.
        kernel_size: 1 to 3 ints.

    Returns:
        ``(*batch, *kernel_size)`` in ``stored``'s dtype.

    Example:
        >>> w = torch.randn(2, 3, 4, dtype=torch.float64)
        >>> old = torch.view_as_real(torch.fft.rfftn(w, dim=(-2, -1), norm="ortho"))
        >>> torch.allclose(filter_from_rfft(old, (3, 4)), w)
        True
    """
    size = check_kernel_size(kernel_size)
    layout = (*_half_shape(size), 2)
    if not isinstance(stored, torch.Tensor) or not stored.is_floating_point():
        raise TypeError(f"`stored` must be a real floating tensor, got {stored!r:.60}")
    if stored.dim() < len(layout) or tuple(stored.shape[stored.dim() - len(layout) :]) != layout:
        raise ValueError(
            f"`stored` of shape {tuple(stored.shape)} must end in {layout} for kernel_size {size}"
        )
    real = compute_dtype(stored.dtype)
    dims = tuple(range(-len(size), 0))
    with fft_precision(stored.device):
        s = stored.to(real)
        weight = torch.fft.irfftn(
            torch.complex(s[..., 0], s[..., 1]), s=size, dim=dims, norm="ortho"
        )
    return weight.to(stored.dtype)
