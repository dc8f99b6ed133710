"""Falling back from a Triton kernel that cannot compile or launch to the torch path.

In ``auto`` mode (see :mod:`lightning_spectral.kernels.dispatch`) a kernel that fails for a
shape (out of shared memory or registers, an unsupported dtype or architecture, any Triton or
compiler error) must not end a training run. The rules, one place for all kernels:

* The decision is keyed by :class:`FallbackKey`: the operation, its operand shapes and
  arguments, dtype and device. A failure is recorded once per key with one
  :class:`TritonFallbackWarning` naming the shape and the error; later calls with that key go
  straight to the torch path without trying the kernel again.
* A failure in the **forward** launch happens before any result exists: the dispatcher runs the
  whole call (forward and, through autograd, its backward) on the torch path.
* A failure in a **backward** launch (the gradient kernels are separate launches, compiled with
  their own tiles) recomputes *all* gradients of that call on the torch path: gradients are never
  half from Triton and half from torch, and a partially written gradient buffer is dropped.
* A forced ``triton`` backend never falls back: the error propagates.
* ``torch.cuda.OutOfMemoryError`` is not a kernel failure (the torch path needs memory too) and
  always propagates. Errors that CUDA reports asynchronously (an illegal memory access in a
  kernel that did launch) cannot be caught here and corrupt the CUDA context; the CUDA tests
  exist to rule them out.

This module imports neither triton nor Lightning.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass

import torch

__all__ = [
    "FallbackKey",
    "TritonFallbackWarning",
    "clear_fallbacks",
    "fallback_reason",
    "fallbacks",
    "record_failure",
]


class TritonFallbackWarning(RuntimeWarning):
    """A Triton kernel failed for a shape in ``auto`` mode; that shape now uses the torch path."""


@dataclass(frozen=True)
class FallbackKey:
    """What a fallback decision is remembered for.

    Attributes:
        operation: ``"contract"`` (channel contraction) or ``"spectral_pool"``.
        shapes: operand shapes and the integer arguments that choose the kernel's geometry.
        dtype: dtype of the kernel's operands, e.g. ``"torch.complex64"``.
        device: device of the operands, e.g. ``"cuda:0"``.

    Example:
        >>> import torch
        >>> key = FallbackKey.of("contract", ((8, 3, 5), (4, 3, 5), 1), torch.complex64, "cpu")
        >>> key.shapes, key.dtype, key.device
        (((8, 3, 5), (4, 3, 5), 1), 'torch.complex64', 'cpu')
    """

    operation: str
    shapes: tuple
    dtype: str
    device: str

    @classmethod
    def of(
        cls,
        operation: str,
        shapes: tuple,
        dtype: torch.dtype,
        device: torch.device | str,
    ) -> FallbackKey:
        """Build a key from torch objects (dtype and device are stored as strings)."""
        return cls(operation, shapes, str(dtype), str(torch.device(device)))


_lock = threading.Lock()
_decisions: dict[FallbackKey, str] = {}


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def record_failure(key: FallbackKey, error: Exception, stage: str) -> None:
    """Remember that ``key`` falls back to torch, warning the first time.

    Args:
        key: the failed call's key.
        error: what the kernel raised.
        stage: ``"forward"`` or ``"backward"``, named in the warning.

    Raises:
        torch.cuda.OutOfMemoryError: ``error`` itself, when it is one (not a kernel failure).
    """
    if isinstance(error, torch.cuda.OutOfMemoryError):
        raise error
    reason = f"{stage}: {_describe(error)}"
    with _lock:
        if key in _decisions:
            return
        _decisions[key] = reason
    warnings.warn(
        f"Triton kernel for {key.operation} failed on shapes {key.shapes} ({key.dtype}, "
        f"{key.device}) in the {reason}; this call and later calls with these shapes use the "
        "torch path. Set LIGHTNING_SPECTRAL_BACKEND=triton to make this an error, or =torch to "
        "skip the kernels.",
        TritonFallbackWarning,
        stacklevel=3,
    )


def fallback_reason(key: FallbackKey) -> str | None:
    """Why ``key`` falls back to torch, or ``None`` if its kernels have not failed.

    Example:
        >>> import torch
        >>> fallback_reason(FallbackKey.of("contract", ((1, 1, 1), (1, 1, 1), 1), torch.complex64,
        ...                                "cpu")) is None
        True
    """
    with _lock:
        return _decisions.get(key)


def fallbacks() -> dict[FallbackKey, str]:
    """Every remembered fallback decision of this process, with its reason (a copy).

    Example:
        >>> isinstance(fallbacks(), dict)
        True
    """
    with _lock:
        return dict(_decisions)


def clear_fallbacks() -> None:
    """Forget every decision, so that the kernels are tried again (e.g. after a driver fix).

    Example:
        >>> clear_fallbacks()
        >>> fallbacks()
        {}
    """
    with _lock:
        _decisions.clear()
