"""Argument normalisation and validation shared by the functional operators."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager

import torch

__all__ = ["compute_dtype", "fft_precision", "to_tuple"]


def to_tuple(value: int | Sequence[int], ndim: int, name: str, minimum: int = 1) -> tuple[int, ...]:
    """Expand an int or a sequence of ``ndim`` ints, checking each is an int ``>= minimum``."""
    if isinstance(value, int):
        items = (value,) * ndim
    elif isinstance(value, Sequence) and not isinstance(value, str):
        items = tuple(value)
    else:
        items = ()  # not an int nor a sequence (e.g. a float): reported below
    if len(items) != ndim or not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        raise TypeError(f"`{name}` must be an int or a sequence of {ndim} ints, got {value!r}")
    if any(v < minimum for v in items):
        raise ValueError(f"`{name}` must be >= {minimum}, got {value!r}")
    return items


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """Real dtype the FFT region computes in: float64 stays, everything else is float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


@contextmanager
def fft_precision(device: torch.device):
    """Disable autocast inside FFT regions (DESIGN.md: FFTs run in float32 or float64)."""
    with torch.autocast(device_type=device.type, enabled=False):
        yield


def check_tensor(tensor: torch.Tensor, name: str, ranks: tuple[int, ...]) -> None:
    """Require a floating tensor of one of the given ranks."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"`{name}` must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.dim() not in ranks:
        raise ValueError(
            f"`{name}` must have {' or '.join(map(str, ranks))} dimensions, "
            f"got shape {tuple(tensor.shape)}"
        )
    if not tensor.is_floating_point():
        raise TypeError(f"`{name}` must be a floating tensor, got {tensor.dtype}")
