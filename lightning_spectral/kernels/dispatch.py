"""Backend selection between the torch reference path and the Triton kernels.

Rules (``auto``, the default):

* CUDA tensors use the Triton kernels when triton imports and the operands are supported
  (see :func:`~lightning_spectral.kernels.contract_triton.contract_unsupported_reason`),
  otherwise the torch path of :mod:`lightning_spectral.functional`.
* CPU tensors use the torch path, and so does code traced by ``torch.compile`` (inductor compiles
  the torch path itself; the Triton kernels here are for eager mode).

A backend can be forced, for tests and for users who hit a problem, with the environment variable
``LIGHTNING_SPECTRAL_BACKEND=auto|torch|triton`` (read at every call) or from Python with
:func:`set_backend` / the :func:`use_backend` context manager, which take precedence over the
variable. Forcing ``triton`` runs the kernels on CUDA tensors, and on CPU tensors only under the
Triton interpreter (``TRITON_INTERPRET=1``); otherwise, or when triton is missing or the operands
are unsupported, the call fails with the reason instead of silently using torch.

In ``auto`` mode a kernel that cannot compile or launch for a shape falls back to the torch path
with one warning per shape; :mod:`lightning_spectral.kernels.fallback` has the rules. A forced
``triton`` backend raises instead.

Triton is imported lazily, on the first call that may use it: importing this package works
without triton, or with a broken installation.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

import torch

from lightning_spectral.functional import conv as _conv
from lightning_spectral.functional import pooling as _pooling
from lightning_spectral.functional._checks import (
    check_tensor,
    compute_dtype,
    fft_call,
    fft_precision,
)
from lightning_spectral.functional.conv import Padding
from lightning_spectral.functional.spectral import spectral_contract
from lightning_spectral.kernels.fallback import FallbackKey, fallback_reason, record_failure

__all__ = [
    "BACKENDS",
    "ENV_VAR",
    "bandlimited_conv1d",
    "bandlimited_conv2d",
    "contract",
    "get_backend",
    "resolve_backend",
    "set_backend",
    "spectral_pool1d",
    "spectral_pool2d",
    "triton_status",
    "use_backend",
]

BACKENDS: tuple[str, ...] = ("auto", "torch", "triton")
ENV_VAR = "LIGHTNING_SPECTRAL_BACKEND"

_setting: str | None = None


def _check_backend(backend: str, source: str) -> str:
    value = backend.strip().lower() if isinstance(backend, str) else backend
    if value not in BACKENDS:
        raise ValueError(f"{source} must be one of {BACKENDS}, got {backend!r}")
    return value


def set_backend(backend: str | None) -> None:
    """Force a backend for this process, or ``None`` to follow ``LIGHTNING_SPECTRAL_BACKEND``.

    Args:
        backend: ``"auto"``, ``"torch"``, ``"triton"`` or ``None``.

    Raises:
        ValueError: for any other value.
    """
    global _setting
    _setting = None if backend is None else _check_backend(backend, "`backend`")


def get_backend() -> str:
    """The requested backend: the :func:`set_backend` value, else the environment variable,
    else ``"auto"``.

    Raises:
        ValueError: if the environment variable holds an unknown value.
    """
    if _setting is not None:
        return _setting
    value = os.environ.get(ENV_VAR, "").strip()
    return _check_backend(value, f"environment variable {ENV_VAR}") if value else "auto"


@contextmanager
def use_backend(backend: str | None) -> Iterator[None]:
    """Context manager form of :func:`set_backend`; restores the previous setting on exit."""
    global _setting
    previous = _setting
    set_backend(backend)
    try:
        yield
    finally:
        _setting = previous


@functools.cache
def triton_status() -> tuple[bool, str]:
    """Whether the Triton kernels can be used in this process, and why not (cached).

    Returns:
        ``(True, "triton <version>")`` or ``(False, <reason>)``. Any failure while importing
        triton (missing, or a broken installation raising something else) counts as unusable.
    """
    try:
        triton = importlib.import_module("triton")
        importlib.import_module("lightning_spectral.kernels._jit")
    except Exception as error:  # a broken triton may raise anything at import
        return False, f"triton cannot be imported ({type(error).__name__}: {error})"
    return True, f"triton {getattr(triton, '__version__', '?')}"


def _interpreting() -> bool:
    from lightning_spectral.kernels._jit import interpreting

    return interpreting()


def resolve_backend(device: torch.device | str) -> Literal["torch", "triton"]:
    """The backend a call on ``device`` uses, before the per-call operand check.

    Args:
        device: the device of the operands.

    Returns:
        ``"torch"`` or ``"triton"``.

    Raises:
        RuntimeError: ``triton`` is forced but triton is unusable, or the device is not CUDA and
            ``TRITON_INTERPRET=1`` is not set.
    """
    device = torch.device(device)
    backend = get_backend()
    if backend == "torch":
        return "torch"
    if backend == "auto":
        # CPU tensors never probe triton, and under torch.compile the torch path is what
        # inductor compiles (tracing the import probe or a kernel launch would break the graph).
        if device.type != "cuda" or torch.compiler.is_compiling():
            return "torch"
        return "triton" if triton_status()[0] else "torch"
    usable, reason = triton_status()
    if not usable:
        raise RuntimeError(f"{ENV_VAR}/set_backend forces 'triton', but {reason}")
    if device.type != "cuda" and not _interpreting():
        raise RuntimeError(
            f"backend 'triton' is forced for tensors on {device}: the Triton kernels run on CUDA "
            "devices, or on the CPU under the Triton interpreter (set TRITON_INTERPRET=1)"
        )
    return "triton"


def _unsupported(reason: str | None) -> bool:
    """``True`` to fall back to torch; raises if ``triton`` was forced and cannot run."""
    if reason is None:
        return False
    if get_backend() == "triton":
        raise ValueError(f"backend 'triton' is forced but cannot run this call: {reason}")
    return True


def _fallback_key(key: FallbackKey) -> FallbackKey | None:
    """``key`` when a kernel failure may fall back (``auto``), ``None`` when it must raise."""
    return None if get_backend() == "triton" else key


def contract(spectrum: torch.Tensor, filters: torch.Tensor, groups: int) -> torch.Tensor:
    """The channel contraction of the selected backend (hook of ``functional.bandlimited_conv``).

    In ``auto`` mode a Triton failure falls back to the torch path for this call and, remembered
    per :class:`~lightning_spectral.kernels.fallback.FallbackKey`, for later calls with the same
    shapes (rules in :mod:`lightning_spectral.kernels.fallback`).

    Args:
        spectrum: complex ``(B, C_in, *F)`` kept input spectrum (any strides).
        filters: complex ``(C_out, C_in / groups, *F)`` kept filter spectrum (any strides).
        groups: number of channel groups.

    Returns:
        Complex ``(B, C_out, *F)``, as :func:`lightning_spectral.functional.spectral_contract`.
    """
    if resolve_backend(spectrum.device) == "triton":
        from lightning_spectral.kernels.contract_triton import (
            contract_unsupported_reason,
            triton_contract,
        )

        if not _unsupported(contract_unsupported_reason(spectrum, filters, groups)):
            shapes = (tuple(spectrum.shape), tuple(filters.shape), groups)
            key = _fallback_key(FallbackKey.of("contract", shapes, spectrum.dtype, spectrum.device))
            if key is None:
                return triton_contract(spectrum, filters, groups)
            if fallback_reason(key) is None:
                try:
                    return triton_contract(spectrum, filters, groups, fallback=key)
                except Exception as error:  # any compile/launch failure; OOM is re-raised
                    record_failure(key, error, "forward")
    return spectral_contract(spectrum, filters, groups)


def bandlimited_conv1d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int | Sequence[int] = 1,
    padding: Padding = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    compression: float = 0.0,
    *,
    transform_size: str = "padded",
) -> torch.Tensor:
    """Band-limited 1D convolution on the selected backend.

    Same arguments and result as :func:`lightning_spectral.functional.bandlimited_conv1d`; the
    channel contraction runs in Triton when the backend resolves to it.

    Args:
        input: ``(B, C_in, L)`` or ``(C_in, L)``.
        weight: ``(C_out, C_in / groups, k)``.
        bias: optional ``(C_out,)``.
        stride: int or 1-tuple.
        padding: int, 1-tuple, ``"same"`` or ``"valid"`` (zeros).
        dilation: int or 1-tuple.
        groups: channel groups.
        compression: fraction of one-sided coefficients discarded, in ``[0, 1)``.
        transform_size: ``"padded"`` or ``"full"``
            (:func:`lightning_spectral.functional.transform_shape`).

    Returns:
        ``(B, C_out, L_out)`` (or ``(C_out, L_out)``), in the input's dtype.
    """
    return _conv.bandlimited_conv1d(
        input,
        weight,
        bias,
        stride,
        padding,
        dilation,
        groups,
        compression,
        contract=contract,
        transform_size=transform_size,
    )


def bandlimited_conv2d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int | Sequence[int] = 1,
    padding: Padding = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    compression: float = 0.0,
    *,
    transform_size: str = "padded",
) -> torch.Tensor:
    """Band-limited 2D convolution on the selected backend.

    Same arguments and result as :func:`lightning_spectral.functional.bandlimited_conv2d`; the
    channel contraction runs in Triton when the backend resolves to it.

    Args:
        input: ``(B, C_in, H, W)`` or ``(C_in, H, W)``.
        weight: ``(C_out, C_in / groups, kH, kW)``.
        bias: optional ``(C_out,)``.
        stride: int or 2-tuple.
        padding: int, 2-tuple, ``"same"`` or ``"valid"`` (zeros).
        dilation: int or 2-tuple.
        groups: channel groups.
        compression: fraction of the transformed map's one-sided coefficients discarded, in
            ``[0, 1)``.
        transform_size: ``"padded"`` or ``"full"``
            (:func:`lightning_spectral.functional.transform_shape`).

    Returns:
        ``(B, C_out, H_out, W_out)`` (or unbatched), in the input's dtype.
    """
    return _conv.bandlimited_conv2d(
        input,
        weight,
        bias,
        stride,
        padding,
        dilation,
        groups,
        compression,
        contract=contract,
        transform_size=transform_size,
    )


def _pool(
    input: torch.Tensor,
    output_size: int | Sequence[int],
    cutoff: int | Sequence[int] | None,
    ndim: int,
) -> torch.Tensor:
    reference = _pooling.spectral_pool1d if ndim == 1 else _pooling.spectral_pool2d
    check_tensor(input, "input", (ndim + 1, ndim + 2))
    if resolve_backend(input.device) == "torch":
        return reference(input, output_size, cutoff)
    in_size = tuple(input.shape[-ndim:])
    out_size, cut = _pooling.check_pool_sizes(in_size, output_size, cutoff, ndim)
    if input.numel() == 0 or (out_size == in_size and cut == out_size):
        # an empty batch or the identity: the reference answers without a transform
        return reference(input, output_size, cutoff)
    from lightning_spectral.kernels.pool_triton import pool_unsupported_reason, triton_spectral_pool

    if _unsupported(pool_unsupported_reason(input)):
        return reference(input, output_size, cutoff)
    real = compute_dtype(input.dtype)
    key = _fallback_key(
        FallbackKey.of("spectral_pool", (tuple(input.shape), out_size, cut), real, input.device)
    )
    if key is not None and fallback_reason(key) is not None:
        return reference(input, output_size, cutoff)
    # The reference's precision rule: autocast off around `fft_call`, so the result keeps the
    # input's dtype (pools are not on autocast's lists).
    with fft_precision(input.device):
        try:
            return fft_call(
                triton_spectral_pool, input, out_size=out_size, cutoff=cut, fallback=key
            )
        except Exception as error:  # any compile/launch failure; OOM is re-raised
            if key is None:
                raise
            record_failure(key, error, "forward")
    return reference(input, output_size, cutoff)


def spectral_pool1d(
    input: torch.Tensor, output_size: int, cutoff: int | None = None
) -> torch.Tensor:
    """Spectral pooling of 1D signals on the selected backend.

    Same arguments and result as :func:`lightning_spectral.functional.spectral_pool1d`.

    Args:
        input: ``(B, C, L)`` or ``(C, L)``.
        output_size: ``L_out <= L``.
        cutoff: frequency-dropout bandwidth in ``[1, L_out]``; ``None`` for none.

    Returns:
        ``(B, C, L_out)`` (or unbatched), in the input's dtype.
    """
    return _pool(input, output_size, cutoff, 1)


def spectral_pool2d(
    input: torch.Tensor,
    output_size: int | Sequence[int],
    cutoff: int | Sequence[int] | None = None,
) -> torch.Tensor:
    """Spectral pooling of 2D maps on the selected backend.

    Same arguments and result as :func:`lightning_spectral.functional.spectral_pool2d`.

    Args:
        input: ``(B, C, H, W)`` or ``(C, H, W)``.
        output_size: ``(H_out, W_out)`` or an int for both, each at most the input size.
        cutoff: frequency-dropout bandwidth (int or pair), each in ``[1, output size]``;
            ``None`` for none.

    Returns:
        ``(B, C, H_out, W_out)`` (or unbatched), in the input's dtype.
    """
    return _pool(input, output_size, cutoff, 2)
