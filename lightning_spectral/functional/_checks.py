"""Argument normalisation and validation shared by the functional operators."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

__all__ = [
    "check_tensor",
    "compute_dtype",
    "fft_call",
    "fft_precision",
    "geometry_cache",
    "result_dtype",
    "to_tuple",
]


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
    """Real dtype an FFT region computes in: float64 (and complex128) stay in double precision,
    everything else (half, bfloat16, float32, complex64) is computed in float32."""
    return torch.float64 if dtype in (torch.float64, torch.complex128) else torch.float32


def result_dtype(dtype: torch.dtype, device: torch.device) -> torch.dtype:
    """Dtype of a convolution's result for an input of ``dtype``, the rule of ``F.conv*``.

    Convolutions are on torch's autocast lists of lower-precision ops (CPU and CUDA alike):
    inside an enabled autocast region a non-float64 input gives the autocast dtype (bfloat16 on
    the CPU, float16 on CUDA by default); float64, or no autocast, keeps the input's dtype.

    Example:
        >>> with torch.autocast("cpu", dtype=torch.bfloat16):
        ...     result_dtype(torch.float32, torch.device("cpu"))
        torch.bfloat16
        >>> result_dtype(torch.float32, torch.device("cpu"))
        torch.float32
    """
    if dtype != torch.float64 and torch.is_autocast_enabled(device.type):
        return torch.get_autocast_dtype(device.type)
    return dtype


@contextmanager
def fft_precision(device: torch.device) -> Iterator[None]:
    """Disable autocast inside an FFT region (FFTs run in float32 or float64, see
    ``docs/design.md``). Outside autocast it enters nothing, so traced and exported graphs
    carry no autocast context."""
    if torch.is_autocast_enabled(device.type):
        with torch.autocast(device_type=device.type, enabled=False):
            yield
    else:
        yield


def fft_call(
    fn: Callable[..., torch.Tensor],
    input: torch.Tensor,
    *others: torch.Tensor | None,
    **kwargs: Any,
) -> torch.Tensor:
    """The one rule for FFT regions: ``fn`` runs on the tensors cast to their compute dtype
    (:func:`compute_dtype` of their promoted dtype) with autocast off, and its result is cast to
    :func:`result_dtype` of ``input``, as a torch convolution returns.

    Args:
        fn: called as ``fn(input, *others, **kwargs)`` on the cast tensors; returns one tensor.
        input: decides the device and the result dtype.
        *others: further operands (weights); ``None`` entries (an absent bias) pass through.
        **kwargs: passed to ``fn`` unchanged.

    Returns:
        ``fn``'s result in :func:`result_dtype` of ``input``.

    Example:
        >>> x = torch.randn(2, 8, dtype=torch.bfloat16)
        >>> fft_call(lambda t: torch.fft.irfft(torch.fft.rfft(t), n=8), x).dtype
        torch.bfloat16
    """
    promoted = input.dtype
    for other in others:
        if other is not None:
            promoted = torch.promote_types(promoted, other.dtype)
    real = compute_dtype(promoted)
    out_dtype = result_dtype(input.dtype, input.device)
    with fft_precision(input.device):
        cast = [None if t is None else t.to(real) for t in others]
        result = fn(input.to(real), *cast, **kwargs)
    return result.to(out_dtype)


def geometry_cache(maxsize: int) -> Callable[[Callable[..., Any]], Any]:
    """``functools.lru_cache`` for pure geometry functions (plans, bands, DFT matrices) that
    steps aside under ``torch.compile``/``torch.export``: Dynamo traces the plain function
    (which it does anyway; this only avoids its warning about cache wrappers) and eager calls
    hit the cache. The wrapper keeps ``cache_clear`` and ``cache_info``.

    Example:
        >>> @geometry_cache(maxsize=8)
        ... def square(n: int) -> int:
        ...     return n * n
        >>> square(3), square.cache_info().currsize
        (9, 1)
    """

    def decorate(fn: Callable[..., Any]) -> Any:
        cached = functools.lru_cache(maxsize=maxsize)(fn)

        @functools.wraps(fn)
        def call(*args: Any) -> Any:
            if torch.compiler.is_compiling():
                return fn(*args)
            return cached(*args)

        call.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
        call.cache_info = cached.cache_info  # type: ignore[attr-defined]
        return call

    return decorate


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
