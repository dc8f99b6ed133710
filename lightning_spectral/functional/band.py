"""Band geometry: which one-sided spectral coefficients a compression keeps.

Spectra follow the layout of :func:`torch.fft.rfft` / :func:`torch.fft.rfft2`. For a real signal
of shape ``(H, W)`` the one-sided spectrum has ``H x (W // 2 + 1)`` coefficients, DC at
``[0, 0]``, negative row frequencies at the bottom. For a 1D signal of length ``N`` it has
``N // 2 + 1`` coefficients.

The kept set ("band") is a low-frequency region:

* 1D: the first ``K`` coefficients (frequencies ``0 .. K - 1``).
* 2D: rows ``0 .. n`` and ``-n .. -1`` (top and bottom of the map) and columns ``0 .. m - 1``.
  The row set is symmetric, so the band is Hermitian-safe and the inverse transform stays real.

**Quantization rule.** In 2D the candidate bands form one nested chain: a frequency ``(f_r, f_c)``
is kept at level ``t`` when ``|f_r| / H <= t`` and ``f_c / W <= t`` (a square in normalised
frequency, so non-square maps get bands that follow their aspect ratio). Every ``t`` at which a
row or column enters gives the next, strictly larger, band; the smallest band is DC alone. In 1D
the chain is ``K = 1 .. N // 2 + 1``. For a requested compression ``c`` the chosen band is the
chain member whose *achieved* compression ``1 - kept / total`` is closest to ``c``; ties go to
the larger band (less compression). When a column and a row pair enter at the same level (square
maps), the column enters first, as its own step of the chain. Because the chain is nested and
"closest" is monotone, a higher requested compression always keeps a subset of what a lower one
keeps, and the same shapes give the same band on every process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lightning_spectral.functional._checks import geometry_cache
from lightning_spectral.functional.validation import check_number

__all__ = [
    "Band",
    "band_chain",
    "band_for",
    "check_compression",
    "spectrum_shape",
]


def check_compression(compression: float, name: str = "compression") -> float:
    """Validate a compression value and return it as a Python float.

    A one-element tensor is accepted (read back to the host once).

    Raises:
        TypeError: if it is not a real number.
        ValueError: if it is NaN, infinite or outside ``[0, 1)``.

    Examples:
        >>> check_compression(0.5)
        0.5
    """
    if isinstance(compression, torch.Tensor) and compression.numel() == 1:
        compression = compression.item()
    return check_number(compression, name, 0.0, 1.0, high_open=True)


def spectrum_shape(signal_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Shape of the one-sided spectrum of a real signal of ``signal_shape`` (1D or 2D)."""
    *lead, last = signal_shape
    return (*lead, last // 2 + 1)


@dataclass(frozen=True)
class Band:
    """A low-frequency kept set of a one-sided spectrum (see the module docstring).

    Attributes:
        signal_shape: the real signal's (FFT) size, ``(N,)`` or ``(H, W)``.
        row_half: 2D only: the largest kept ``|row frequency|`` ``n``; ``None`` in 1D.
        cols: number of kept one-sided columns (frequencies ``0 .. cols - 1``).
    """

    signal_shape: tuple[int, ...]
    row_half: int | None
    cols: int

    @property
    def ndim(self) -> int:
        """Number of spatial dimensions (1 or 2)."""
        return len(self.signal_shape)

    @property
    def rows_top(self) -> int:
        """Number of kept rows at the top of the map (frequencies ``0 .. n``)."""
        return 1 if self.row_half is None else self.row_half + 1

    @property
    def rows_bottom(self) -> int:
        """Number of kept rows at the bottom of the map (frequencies ``-n .. -1``)."""
        if self.row_half is None:
            return 0
        return max(0, min(self.row_half, self.signal_shape[0] - self.row_half - 1))

    @property
    def spectrum_shape(self) -> tuple[int, ...]:
        """Shape of the full one-sided spectrum."""
        return spectrum_shape(self.signal_shape)

    @property
    def kept_shape(self) -> tuple[int, ...]:
        """Shape of the kept (sliced) spectrum."""
        if self.ndim == 1:
            return (self.cols,)
        return (self.rows_top + self.rows_bottom, self.cols)

    @property
    def num_kept(self) -> int:
        """Number of kept one-sided coefficients."""
        return math.prod(self.kept_shape)

    @property
    def num_total(self) -> int:
        """Number of one-sided coefficients of the full spectrum."""
        return math.prod(self.spectrum_shape)

    @property
    def compression(self) -> float:
        """Achieved compression: the fraction of one-sided coefficients discarded."""
        return 1.0 - self.num_kept / self.num_total

    @property
    def is_full(self) -> bool:
        """Whether the band keeps every coefficient."""
        return self.num_kept == self.num_total

    def row_indices(self) -> list[int]:
        """Kept row indices in the one-sided map (2D), top rows then bottom rows."""
        if self.ndim == 1:
            raise ValueError("a 1D band has no rows")
        height = self.signal_shape[0]
        return list(range(self.rows_top)) + list(range(height - self.rows_bottom, height))

    def mask(self, device: torch.device | str | None = None) -> torch.Tensor:
        """Boolean mask of the kept set over the full one-sided spectrum (for tests, plots)."""
        mask = torch.zeros(self.spectrum_shape, dtype=torch.bool, device=device)
        if self.ndim == 1:
            mask[: self.cols] = True
        else:
            mask[self.row_indices(), : self.cols] = True
        return mask

    def __repr__(self) -> str:
        return (
            f"Band(signal_shape={self.signal_shape}, kept_shape={self.kept_shape}, "
            f"compression={self.compression:.4f})"
        )


def _check_signal_shape(signal_shape: tuple[int, ...]) -> tuple[int, ...]:
    shape = tuple(int(s) for s in signal_shape)
    if len(shape) not in (1, 2) or any(s < 1 for s in shape):
        raise ValueError(
            f"`signal_shape` must be 1 or 2 positive sizes, got {tuple(signal_shape)!r}"
        )
    return shape


@geometry_cache(maxsize=512)
def band_chain(signal_shape: tuple[int, ...]) -> tuple[Band, ...]:
    """All candidate bands for a signal shape, smallest (DC only) to full, strictly nested.

    Args:
        signal_shape: ``(N,)`` or ``(H, W)``.

    Returns:
        The chain of bands, each a strict superset of the previous one.
    """
    shape = _check_signal_shape(signal_shape)
    if len(shape) == 1:
        return tuple(Band(shape, None, k) for k in range(1, shape[0] // 2 + 2))
    height, width = shape
    num_cols = width // 2 + 1
    max_row = height // 2
    # Levels at which a row frequency |f| or a column frequency j enters the band, as f / H and
    # j / W scaled by H * W: exact integers, which torch.compile can trace (Fraction it cannot).
    levels = sorted({f * width for f in range(max_row + 1)} | {j * height for j in range(num_cols)})
    chain = [Band(shape, 0, 1)]
    for level in levels:
        row_half = min(max_row, level // width)
        cols = min(num_cols, level // height + 1)
        # When a column and a row pair enter at the same level (square maps), add the column
        # first and the rows second: two nested steps give a finer quantization than one.
        for band in (Band(shape, chain[-1].row_half, cols), Band(shape, row_half, cols)):
            if band.num_kept > chain[-1].num_kept:
                chain.append(band)
    return tuple(chain)


@geometry_cache(maxsize=4096)
def _band_for(signal_shape: tuple[int, ...], compression: float) -> Band:
    chain = band_chain(signal_shape)
    # Closest achieved compression; on a tie the larger band (iterate from the largest).
    return min(reversed(chain), key=lambda band: abs(band.compression - compression))


def band_for(signal_shape: tuple[int, ...], compression: float) -> Band:
    """The band that best achieves ``compression`` for a signal shape (see module docstring).

    Args:
        signal_shape: the real signal's FFT size, ``(N,)`` or ``(H, W)``.
        compression: requested fraction of one-sided coefficients to discard, in ``[0, 1)``.

    Returns:
        The chosen :class:`Band`; ``band.compression`` is the achieved compression.
    """
    compression = check_compression(compression)
    return _band_for(_check_signal_shape(signal_shape), compression)
