"""Triton kernels for the hot paths, behind a dispatcher that falls back to the torch path.

The operators have the signatures of their :mod:`lightning_spectral.functional` twins; modules
call these. On CUDA tensors the band-limited convolution's channel contraction and the spectral
pooling step run as fused Triton kernels when triton is importable and the operands are supported;
everything else (and every CPU tensor) uses the torch reference path. See
:mod:`lightning_spectral.kernels.dispatch` for the rules and for forcing a backend
(``LIGHTNING_SPECTRAL_BACKEND=auto|torch|triton``, :func:`set_backend`, :func:`use_backend`),
and :mod:`lightning_spectral.kernels.fallback` for what ``auto`` does when a kernel fails.

Importing this package never imports triton. The kernels themselves live in
:mod:`~lightning_spectral.kernels.contract_triton` and
:mod:`~lightning_spectral.kernels.pool_triton`.
"""

from lightning_spectral.kernels import dispatch as _dispatch
from lightning_spectral.kernels.dispatch import *  # noqa: F403 (its `__all__` is this package's)
from lightning_spectral.kernels.fallback import (
    FallbackKey,
    TritonFallbackWarning,
    clear_fallbacks,
    fallbacks,
)

# The dispatch's public names, and the fallback registry's user-facing ones (`fallback_reason`
# and `record_failure` are the dispatch's own bookkeeping).
__all__ = [
    *_dispatch.__all__,
    "FallbackKey",
    "TritonFallbackWarning",
    "clear_fallbacks",
    "fallbacks",
]
