"""Triton kernels that run compiled on a GPU or under the Triton interpreter, chosen per launch.

``triton.jit`` decides between the compiler and the interpreter once, when the decorated function
is defined, from ``TRITON_INTERPRET``. Our kernels are imported lazily and may be imported before a
test (or a user) sets the variable, so :class:`DualKernel` keeps the plain Python function and
builds the compiled or the interpreted variant at launch time from the *current* setting.

The interpreter only runs a kernel whose callees are interpreted as well. Triton's own
``@triton.jit`` helpers (``tl.zeros``, ``tl.sum``, ``tl.cdiv``, ...) are fixed at ``import triton``,
so the kernels of this package use builtins only (``tl.full``, ``tl.dot``, ``tl.where``, ...).
This module imports triton: import it only after :func:`lightning_spectral.kernels.dispatch.
triton_status` said triton is usable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import triton
from triton.runtime.interpreter import InterpretedFunction

__all__ = ["DualKernel", "interpreting"]


def interpreting() -> bool:
    """Whether Triton kernels run under the interpreter (``TRITON_INTERPRET=1``), read now."""
    return bool(triton.knobs.runtime.interpret)


class DualKernel:
    """A kernel launched as ``kernel[grid](*args, **constexprs)`` in either execution mode.

    Args:
        fn: the undecorated kernel function (builtins of ``triton.language`` only).
    """

    def __init__(self, fn: Callable[..., None]) -> None:
        self.fn = fn
        self._compiled: Any = None
        self._interpreted: Any = None

    def __getitem__(self, grid: tuple[int, ...]) -> Callable[..., Any]:
        if interpreting():
            if self._interpreted is None:
                self._interpreted = InterpretedFunction(self.fn)
            return self._interpreted[grid]
        if self._compiled is None:
            # TRITON_INTERPRET is off here, so triton.jit returns a compiling JITFunction.
            self._compiled = triton.jit(self.fn)
        return self._compiled[grid]
