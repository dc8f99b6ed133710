"""Spectral pooling modules with frequency dropout (Rippel et al. 2015, Sec. 3 and 5.1).

The pooling itself is :func:`lightning_spectral.kernels.spectral_pool1d` / ``spectral_pool2d``
(central crop of the centred spectrum, Nyquist folding, amplitude-preserving; see
:mod:`lightning_spectral.functional.pooling`). These modules choose the output size and, in
training, the random frequency-dropout cutoff.

**Output size**, exactly one of:

* ``output_size``: fixed sizes, ``None`` entries keep the input size (as adaptive pools);
* ``scale``: ``floor(scale * N)`` per dimension (at least 1), any factor in ``(0, 1]``;
* ``window``: the geometry of a replaced ``MaxPool``/``AvgPool`` (:class:`PoolWindow`), so the
  output size equals that pool's for every input size.

The output can never be larger than the input (spectral pooling does not upsample): such an
input raises a ``ValueError`` naming both sizes.

**Frequency dropout** (training only): with ``dropout_min = c`` set, every training forward draws
one ``u ~ U[0, 1)`` and keeps, per dimension of output size ``n``, the central
``cutoff = low + floor(u * (n - low + 1))`` frequencies with ``low = max(1, floor(c * n))``: a
cutoff uniform over the integers ``[floor(c * n), n]``, as in Rippel's random resolution
reduction. Non-square maps share the single draw ``u``, so both dimensions keep the same quantile
of their range (for square maps this is exactly Rippel's scheme, one cutoff for both). In eval
mode there is no dropout.

The draws come from a module-owned generator (``random.Random``) seeded from ``dropout_seed`` and
the number of draws made so far; that counter is saved in the state dict (``_extra_state``), so
every DDP rank draws the same cutoff and a resumed run continues the sequence. Under
``torch.compile`` the dropout forward runs eagerly (its cutoff changes every step); the eval path
and the no-dropout path compile normally.
"""

from __future__ import annotations

import math
import operator
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from lightning_spectral import kernels
from lightning_spectral.nn._state import OptionalExtraState

__all__ = ["PoolWindow", "SpectralPool1d", "SpectralPool2d"]

_STATE_VERSION = 1
# Guards floor(c * n) against round-off such as 0.29 * 100 = 28.999999999999996.
_FLOOR_EPS = 1e-9


def _ints(value: Any, ndim: int, name: str, minimum: int) -> tuple[int, ...]:
    items = (value,) * ndim if isinstance(value, int) else tuple(value)
    if len(items) != ndim or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in items
    ):
        raise ValueError(f"`{name}` must be {ndim} int(s) >= {minimum}, got {value!r}")
    return items


def _pool_output_size(
    size: int, kernel: int, padding: int, stride: int, dilation: int, ceil_mode: bool
) -> int:
    """Output length of a max/avg pool window (PyTorch's rule, including ``ceil_mode``)."""
    span = dilation * (kernel - 1) + 1
    out = (size + 2 * padding - span + (stride - 1 if ceil_mode else 0)) // stride + 1
    # In ceil mode the last window must start inside the input or the left padding.
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


@dataclass(frozen=True)
class PoolWindow:
    """Geometry of a sliding-window pool, used to reproduce its output size.

    Attributes:
        kernel_size: per dimension.
        stride: per dimension.
        padding: per dimension (each side).
        dilation: per dimension (1 for average pools).
        ceil_mode: PyTorch's ``ceil_mode``.
    """

    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    ceil_mode: bool = False

    def __post_init__(self) -> None:
        ndim = len(self.kernel_size)
        object.__setattr__(self, "kernel_size", _ints(self.kernel_size, ndim, "kernel_size", 1))
        object.__setattr__(self, "stride", _ints(self.stride, ndim, "stride", 1))
        object.__setattr__(self, "padding", _ints(self.padding, ndim, "padding", 0))
        object.__setattr__(self, "dilation", _ints(self.dilation, ndim, "dilation", 1))
        object.__setattr__(self, "ceil_mode", bool(self.ceil_mode))
        for k, p, d, s in zip(
            self.kernel_size, self.padding, self.dilation, self.stride, strict=True
        ):
            if s == 1 and 2 * p > d * (k - 1):
                raise ValueError(
                    f"a pool window with kernel_size={self.kernel_size}, stride={self.stride}, "
                    f"padding={self.padding} makes its output larger than its input; spectral "
                    "pooling cannot upsample"
                )

    @property
    def ndim(self) -> int:
        """Number of spatial dimensions."""
        return len(self.kernel_size)

    def output_size(self, input_size: Sequence[int]) -> tuple[int, ...]:
        """Output size of the window pool for ``input_size`` (one int per dimension)."""
        return tuple(
            _pool_output_size(n, k, p, s, d, self.ceil_mode)
            for n, k, p, s, d in zip(
                input_size, self.kernel_size, self.padding, self.stride, self.dilation, strict=True
            )
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (lists and bools) for plans and configs."""
        return {
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": list(self.padding),
            "dilation": list(self.dilation),
            "ceil_mode": self.ceil_mode,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PoolWindow:
        """Inverse of :meth:`to_dict`."""
        keys = ("kernel_size", "stride", "padding", "dilation", "ceil_mode")
        if not isinstance(data, dict) or any(key not in data for key in keys):
            raise ValueError(f"a pool window needs the keys {keys}, got {data!r}")
        return cls(
            tuple(data["kernel_size"]),
            tuple(data["stride"]),
            tuple(data["padding"]),
            tuple(data["dilation"]),
            bool(data["ceil_mode"]),
        )


class _SpectralPoolNd(OptionalExtraState, nn.Module):
    """Shared implementation of :class:`SpectralPool1d` and :class:`SpectralPool2d`."""

    _ndim: ClassVar[int]
    _window_pools: ClassVar[tuple[type[nn.Module], ...]]
    _adaptive_pools: ClassVar[tuple[type[nn.Module], ...]]

    def __init__(
        self,
        output_size: int | Sequence[int | None] | None = None,
        *,
        scale: float | Sequence[float] | None = None,
        window: PoolWindow | dict[str, Any] | None = None,
        dropout_min: float | None = None,
        dropout_seed: int = 0,
    ) -> None:
        super().__init__()
        ndim = self._ndim
        given = [
            name
            for name, v in (("output_size", output_size), ("scale", scale), ("window", window))
            if v is not None
        ]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of `output_size`, `scale`, `window`, got {given or 'none'}"
            )
        self.output_size: tuple[int | None, ...] | None = None
        self.scale: tuple[float, ...] | None = None
        self.window: PoolWindow | None = None
        if output_size is not None:
            items = (output_size,) * ndim if isinstance(output_size, int) else tuple(output_size)
            if len(items) != ndim or not all(
                v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 1)
                for v in items
            ):
                raise ValueError(
                    f"`output_size` must be {ndim} positive int(s) (or None), got {output_size!r}"
                )
            self.output_size = items
        elif scale is not None:
            items = (scale,) * ndim if isinstance(scale, (int, float)) else tuple(scale)
            if len(items) != ndim or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 < v <= 1.0
                for v in items
            ):
                raise ValueError(f"`scale` must be {ndim} factor(s) in (0, 1], got {scale!r}")
            self.scale = tuple(float(v) for v in items)
        else:
            geometry = PoolWindow.from_dict(window) if isinstance(window, dict) else window
            if not isinstance(geometry, PoolWindow) or geometry.ndim != ndim:
                raise ValueError(f"`window` must be a {ndim}D PoolWindow, got {window!r}")
            self.window = geometry
        self.dropout_min = dropout_min
        if isinstance(dropout_seed, bool) or not isinstance(dropout_seed, int):
            raise ValueError(f"`dropout_seed` must be an int, got {dropout_seed!r}")
        self.dropout_seed = dropout_seed
        self.dropout_draws = 0

    # ---------------------------------------------------------------------------------------
    # Configuration
    # ---------------------------------------------------------------------------------------

    @property
    def dropout_min(self) -> float | None:
        """Rippel's lower bound ``c`` in ``[0, 1]`` of the dropout cutoff; ``None`` disables."""
        return self._dropout_min

    @dropout_min.setter
    def dropout_min(self, value: float | None) -> None:
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"`dropout_min` must be None or a float in [0, 1], got {value!r}")
            value = float(value)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"`dropout_min` must be None or a float in [0, 1], got {value!r}")
        self._dropout_min = value

    def config(self) -> dict[str, Any]:
        """Plain-data constructor arguments (for plans): ``type(self)(**config())`` rebuilds it."""
        return {
            "output_size": None if self.output_size is None else list(self.output_size),
            "scale": None if self.scale is None else list(self.scale),
            "window": None if self.window is None else self.window.to_dict(),
            "dropout_min": self._dropout_min,
            "dropout_seed": self.dropout_seed,
        }

    def output_size_for(self, input_size: Sequence[int]) -> tuple[int, ...]:
        """Output size for a spatial input size.

        Raises:
            ValueError: if it would exceed the input size (spectral pooling cannot upsample) or
                be empty.
        """
        # operator.index: torch.compile specialises on the size rather than tracing it.
        size = tuple(operator.index(n) for n in input_size)
        if self.window is not None:
            out = self.window.output_size(size)
        elif self.scale is not None:
            out = tuple(
                max(1, math.floor(f * n + _FLOOR_EPS))
                for f, n in zip(self.scale, size, strict=True)
            )
        else:
            out = tuple(n if o is None else o for o, n in zip(self.output_size, size, strict=True))  # type: ignore[arg-type]
        if any(o < 1 or o > n for o, n in zip(out, size, strict=True)):
            raise ValueError(
                f"{type(self).__name__}: output size {out} for input size {size} is not in "
                f"[1, input size]; spectral pooling cannot upsample"
            )
        return out

    def draw_cutoff(self, output_size: Sequence[int]) -> tuple[int, ...]:
        """Draw the next frequency-dropout cutoff (advances the persistent draw counter).

        Args:
            output_size: the pooled size, one int per dimension.

        Returns:
            Per-dimension cutoff, each uniform over ``[max(1, floor(c * n)), n]`` (one shared
            quantile for all dimensions, see the module docstring).
        """
        c = self._dropout_min
        if c is None:
            raise RuntimeError("draw_cutoff needs `dropout_min` to be set")
        rng = random.Random(f"lightning-spectral/{self.dropout_seed}/{self.dropout_draws}")
        self.dropout_draws += 1
        u = rng.random()
        cutoff = []
        for n in output_size:
            low = min(n, max(1, math.floor(c * n + _FLOOR_EPS)))
            cutoff.append(low + min(n - low, math.floor(u * (n - low + 1))))
        return tuple(cutoff)

    # ---------------------------------------------------------------------------------------
    # Forward
    # ---------------------------------------------------------------------------------------

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Spectral pooling (with frequency dropout in training when ``dropout_min`` is set).

        Args:
            input: ``(B, C, *spatial)`` or ``(C, *spatial)``.

        Returns:
            ``(B, C, *output_size_for(spatial))`` (or unbatched), in the input's dtype.
        """
        out = self.output_size_for(input.shape[-self._ndim :])
        if self.training and self._dropout_min is not None:
            return self._dropout_forward(input, out)
        return self._pool(input, out, None)

    @torch.compiler.disable
    def _dropout_forward(self, input: torch.Tensor, out: tuple[int, ...]) -> torch.Tensor:
        # Eager: the cutoff is a new Python int every step (a graph per value otherwise).
        return self._pool(input, out, self.draw_cutoff(out))

    def _pool(
        self, input: torch.Tensor, out: tuple[int, ...], cutoff: tuple[int, ...] | None
    ) -> torch.Tensor:
        if self._ndim == 1:
            return kernels.spectral_pool1d(input, out[0], None if cutoff is None else cutoff[0])
        return kernels.spectral_pool2d(input, out, cutoff)

    # ---------------------------------------------------------------------------------------
    # State: the draw counter
    # ---------------------------------------------------------------------------------------

    def get_extra_state(self) -> dict[str, Any]:
        """The frequency-dropout draw counter (plain data)."""
        return {"version": _STATE_VERSION, "dropout_draws": self.dropout_draws}

    def set_extra_state(self, state: Any) -> None:
        """Restore the draw counter written by :meth:`get_extra_state`."""
        if not isinstance(state, dict) or "dropout_draws" not in state:
            raise ValueError(f"unrecognised spectral-pool state {state!r}")
        if state.get("version", _STATE_VERSION) > _STATE_VERSION:
            raise ValueError(
                f"spectral-pool state version {state['version']} is newer than this "
                f"lightning-spectral supports ({_STATE_VERSION}); upgrade the package"
            )
        self.dropout_draws = int(state["dropout_draws"])

    # ---------------------------------------------------------------------------------------
    # Construction from a torch pool, representation
    # ---------------------------------------------------------------------------------------

    @classmethod
    def from_pool(cls, pool: nn.Module, **options: Any) -> Any:
        """A spectral pool whose output size equals ``pool``'s for every input size.

        Args:
            pool: ``MaxPool{N}d``/``AvgPool{N}d`` (window geometry) or
                ``AdaptiveMaxPool{N}d``/``AdaptiveAvgPool{N}d`` (output size), ``N`` matching
                this class.
            **options: ``dropout_min``, ``dropout_seed``.

        Raises:
            TypeError: for another module type or a max pool with ``return_indices=True``.
            ValueError: for a window that can make its output larger than its input.
        """
        ndim = cls._ndim
        if isinstance(pool, cls._adaptive_pools):
            if getattr(pool, "return_indices", False):
                raise TypeError("a pool with return_indices=True returns a tuple; not replaceable")
            return cls(pool.output_size, **options)
        if not isinstance(pool, cls._window_pools):
            raise TypeError(f"{cls.__name__}.from_pool cannot replace {type(pool).__name__}")
        if getattr(pool, "return_indices", False):
            raise TypeError("a pool with return_indices=True returns a tuple; not replaceable")
        kernel = _ints(pool.kernel_size, ndim, "kernel_size", 1)
        stride = kernel if pool.stride is None else _ints(pool.stride, ndim, "stride", 1)
        window = PoolWindow(
            kernel,
            stride,
            _ints(pool.padding, ndim, "padding", 0),
            _ints(getattr(pool, "dilation", 1), ndim, "dilation", 1),
            bool(pool.ceil_mode),
        )
        return cls(window=window, **options)

    def extra_repr(self) -> str:
        if self.window is not None:
            w = self.window
            geometry = (
                f"window(kernel_size={w.kernel_size}, stride={w.stride}, padding={w.padding}"
                f"{f', dilation={w.dilation}' if any(d != 1 for d in w.dilation) else ''}"
                f"{', ceil_mode=True' if w.ceil_mode else ''})"
            )
        elif self.scale is not None:
            geometry = f"scale={self.scale}"
        else:
            geometry = f"output_size={self.output_size}"
        if self._dropout_min is not None:
            geometry += f", dropout_min={self._dropout_min:g}, dropout_seed={self.dropout_seed}"
        return geometry


class SpectralPool1d(_SpectralPoolNd):
    """Spectral pooling of 1D signals (see the module docstring for the options).

    Args:
        output_size: int (or 1-tuple, ``None`` keeps the input length).
        scale: factor in ``(0, 1]``: ``L_out = max(1, floor(scale * L))``.
        window: :class:`PoolWindow` (or its dict) of a replaced 1D pool.
        dropout_min: Rippel's ``c`` in ``[0, 1]``; ``None`` disables frequency dropout.
        dropout_seed: seed of the dropout draws.

    Shape:
        ``(B, C, L)`` or ``(C, L)`` -> ``(B, C, L_out)`` or ``(C, L_out)``.
    """

    _ndim = 1
    _window_pools = (nn.MaxPool1d, nn.AvgPool1d)
    _adaptive_pools = (nn.AdaptiveMaxPool1d, nn.AdaptiveAvgPool1d)


class SpectralPool2d(_SpectralPoolNd):
    """Spectral pooling of 2D maps (see the module docstring for the options).

    Args:
        output_size: int or pair (``None`` entries keep the input size).
        scale: factor (or pair) in ``(0, 1]``: ``H_out = max(1, floor(scale * H))``.
        window: :class:`PoolWindow` (or its dict) of a replaced 2D pool.
        dropout_min: Rippel's ``c`` in ``[0, 1]``; ``None`` disables frequency dropout.
        dropout_seed: seed of the dropout draws.

    Shape:
        ``(B, C, H, W)`` or ``(C, H, W)`` -> ``(B, C, H_out, W_out)`` or unbatched.
    """

    _ndim = 2
    _window_pools = (nn.MaxPool2d, nn.AvgPool2d)
    _adaptive_pools = (nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool2d)
