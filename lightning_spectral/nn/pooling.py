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

**Deployment.** :meth:`SpectralPool2d.deploy` (and ``SpectralPool1d.deploy``) gives the eval-mode
operator for one input size as real matrix products (:class:`DeployedSpectralPool2d`): its graph
holds no complex tensor, so ``torch.export``, ``torch.onnx.export(..., dynamo=True)`` and
onnxruntime take it, and TorchScript scripts it. TorchScript refuses the training module itself
with an error that points to ``deploy`` (its output size and dropout draws are Python logic).

**Restored state** (``load_state_dict``) is validated like constructor arguments: a wrong type is
a ``TypeError``, a negative draw counter, a missing or unknown key or a newer state version a
``ValueError``.
"""

from __future__ import annotations

import math
import operator
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NoReturn

import torch
from torch import nn

from lightning_spectral import kernels
from lightning_spectral.functional._checks import fft_precision, to_tuple
from lightning_spectral.functional.pooling import spectral_pool_matrix
from lightning_spectral.functional.validation import check_bool, check_int, check_number
from lightning_spectral.nn._scripting import refuse_scripting
from lightning_spectral.nn._state import OptionalExtraState

__all__ = [
    "DeployedSpectralPool1d",
    "DeployedSpectralPool2d",
    "PoolWindow",
    "SpectralPool1d",
    "SpectralPool2d",
]

_STATE_VERSION = 1
# Guards floor(c * n) against round-off such as 0.29 * 100 = 28.999999999999996.
_FLOOR_EPS = 1e-9


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


def _output_size(value: Any, ndim: int) -> tuple[int | None, ...]:
    """``ndim`` output sizes, each a positive int or ``None`` (keep the input size)."""
    items = (value,) * ndim if isinstance(value, int) or value is None else value
    if (
        not isinstance(items, Sequence)
        or isinstance(items, str)
        or len(items) != ndim
        or not all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in items)
    ):
        raise TypeError(f"`output_size` must be an int or {ndim} ints (or None), got {value!r}")
    if any(v is not None and v < 1 for v in items):
        raise ValueError(f"`output_size` must be >= 1 (or None), got {value!r}")
    return tuple(items)


def _scale(value: Any, ndim: int) -> tuple[float, ...]:
    """``ndim`` scale factors, each a real number in ``(0, 1]``."""
    items = (value,) * ndim if isinstance(value, (int, float)) else value
    if (
        not isinstance(items, Sequence)
        or isinstance(items, str)
        or len(items) != ndim
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items)
    ):
        raise TypeError(f"`scale` must be a float or {ndim} floats in (0, 1], got {value!r}")
    return tuple(check_number(v, "scale", 0.0, 1.0, low_open=True) for v in items)


@dataclass(frozen=True)
class PoolWindow:
    """Geometry of a sliding-window pool, used to reproduce its output size.

    Attributes:
        kernel_size: per dimension.
        stride: per dimension.
        padding: per dimension (each side).
        dilation: per dimension (1 for average pools).
        ceil_mode: PyTorch's ``ceil_mode``.

    Example:
        >>> window = PoolWindow((3, 3), (2, 2), (1, 1), (1, 1))
        >>> window.output_size((32, 15))  # as nn.MaxPool2d(3, stride=2, padding=1)
        (16, 8)
        >>> PoolWindow.from_dict(window.to_dict()) == window
        True
    """

    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    ceil_mode: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.kernel_size, Sequence) or isinstance(self.kernel_size, str):
            raise TypeError(
                f"`kernel_size` must be a sequence of ints (one per dimension), "
                f"got {self.kernel_size!r}"
            )
        ndim = len(self.kernel_size)
        if ndim not in (1, 2):
            raise ValueError(f"`kernel_size` must have 1 or 2 entries, got {self.kernel_size!r}")
        check_bool(self.ceil_mode, "ceil_mode")
        object.__setattr__(self, "kernel_size", to_tuple(self.kernel_size, ndim, "kernel_size", 1))
        object.__setattr__(self, "stride", to_tuple(self.stride, ndim, "stride", 1))
        object.__setattr__(self, "padding", to_tuple(self.padding, ndim, "padding", 0))
        object.__setattr__(self, "dilation", to_tuple(self.dilation, ndim, "dilation", 1))
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
        if not isinstance(data, dict):
            raise TypeError(f"a pool window must be a dict with the keys {keys}, got {data!r}")
        if set(data) != set(keys):
            raise ValueError(
                f"a pool window needs exactly the keys {keys}, got {sorted(data, key=str)}"
            )
        return cls(*(data[key] for key in keys))


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
            self.output_size = _output_size(output_size, ndim)
        elif scale is not None:
            self.scale = _scale(scale, ndim)
        else:
            geometry = PoolWindow.from_dict(window) if isinstance(window, dict) else window
            if not isinstance(geometry, PoolWindow):
                raise TypeError(f"`window` must be a PoolWindow or its dict, got {window!r}")
            if geometry.ndim != ndim:
                raise ValueError(f"`window` must be a {ndim}D PoolWindow, got {window!r}")
            self.window = geometry
        self.dropout_min = dropout_min
        self.dropout_seed = check_int(dropout_seed, "dropout_seed")
        self._dropout_draws = 0

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
            value = check_number(value, "dropout_min", 0.0, 1.0)
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

    @property
    def dropout_draws(self) -> int:
        """Number of frequency-dropout cutoffs drawn so far (the position in the sequence)."""
        return self._dropout_draws

    @dropout_draws.setter
    def dropout_draws(self, value: int) -> None:
        self._dropout_draws = check_int(value, "dropout_draws", minimum=0)

    def get_extra_state(self) -> dict[str, Any]:
        """The frequency-dropout draw counter (plain data)."""
        return {"version": _STATE_VERSION, "dropout_draws": self.dropout_draws}

    def set_extra_state(self, state: Any) -> None:
        """Restore the draw counter written by :meth:`get_extra_state`, validating every field.

        Raises:
            TypeError: for a state that is not a dict, or a field of the wrong type.
            ValueError: for missing or unknown keys, a version newer than this package's, or a
                negative draw counter.
        """
        keys = {"version", "dropout_draws"}
        if not isinstance(state, dict):
            raise TypeError(
                f"spectral-pool state must be a dict with keys {sorted(keys)}, got {state!r}"
            )
        if "dropout_draws" not in state or not set(state) <= keys:
            raise ValueError(
                f"spectral-pool state must have the keys {sorted(keys)} ('version' optional), "
                f"got {sorted(state, key=str)}"
            )
        version = state.get("version", _STATE_VERSION)
        if isinstance(version, bool) or not isinstance(version, int):
            raise TypeError(f"spectral-pool state `version` must be an int, got {version!r}")
        if version > _STATE_VERSION:
            raise ValueError(
                f"spectral-pool state version {version} is newer than this "
                f"lightning-spectral supports ({_STATE_VERSION}); upgrade the package"
            )
        if version < 1:
            raise ValueError(f"spectral-pool state `version` must be >= 1, got {version}")
        self.dropout_draws = state["dropout_draws"]  # validated by the setter

    # ---------------------------------------------------------------------------------------
    # Deployment: the all-real matrix form
    # ---------------------------------------------------------------------------------------

    def deploy(
        self,
        input_size: int | Sequence[int],
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> DeployedSpectralPool1d | DeployedSpectralPool2d:
        """The eval-mode operator for one spatial input size, as real matrix products.

        The result computes what this module computes in eval mode (no frequency dropout) with
        one real ``(out, in)`` matrix per dimension (:func:`spectral_pool_matrix`), so its graph
        holds only real tensors: ``torch.export``, ONNX and TorchScript take it. The band-limited
        convolutions' ``deploy`` is the same verb;
        :func:`lightning_spectral.transforms.deploy_` deploys every layer of a model.

        Args:
            input_size: the spatial input size (an int for each dimension, or one int for all).
            dtype: dtype of the matrices, in which the deployed pool computes.
            device: device of the matrices.

        Returns:
            A :class:`DeployedSpectralPool1d` or :class:`DeployedSpectralPool2d`, in eval mode.

        Example:
            >>> import torch
            >>> deployed = SpectralPool2d(scale=0.5).deploy((32, 32))
            >>> program = torch.export.export(deployed, (torch.randn(1, 3, 32, 32),))
            >>> program.module()(torch.randn(1, 3, 32, 32)).shape
            torch.Size([1, 3, 16, 16])
        """
        size = to_tuple(input_size, self._ndim, "input_size")
        deployed = _DEPLOYED[self._ndim](size, self.output_size_for(size), dtype=dtype)
        deployed = deployed.to(device) if device is not None else deployed
        return deployed.eval()  # as the convolutions' deployment form: an inference module

    def __prepare_scriptable__(self) -> NoReturn:
        refuse_scripting(
            self,
            "its output size and frequency-dropout draws are Python logic",
            "`pool.deploy(input_size)` (or `transforms.deploy_(model, example_input)`)",
        )

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
        kernel = to_tuple(pool.kernel_size, ndim, "kernel_size", 1)
        stride = kernel if pool.stride is None else to_tuple(pool.stride, ndim, "stride", 1)
        window = PoolWindow(
            kernel,
            stride,
            to_tuple(pool.padding, ndim, "padding", 0),
            to_tuple(getattr(pool, "dilation", 1), ndim, "dilation", 1),
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

    Example:
        >>> import torch
        >>> pool = SpectralPool1d(scale=0.5, dropout_min=0.5)
        >>> pool(torch.randn(4, 3, 21)).shape  # training: a random cutoff, the same size
        torch.Size([4, 3, 10])
        >>> pool.dropout_draws
        1
        >>> SpectralPool1d.from_pool(torch.nn.MaxPool1d(3, stride=2, padding=1))(
        ...     torch.randn(4, 3, 21)
        ... ).shape
        torch.Size([4, 3, 11])
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

    Example:
        >>> import torch
        >>> pool = SpectralPool2d.from_pool(torch.nn.MaxPool2d(2))
        >>> pool
        SpectralPool2d(window(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0)))
        >>> pool(torch.randn(8, 16, 32, 31)).shape
        torch.Size([8, 16, 16, 15])
        >>> SpectralPool2d((8, None))(torch.randn(2, 3, 16, 12)).shape  # None keeps the width
        torch.Size([2, 3, 8, 12])
    """

    _ndim = 2
    _window_pools = (nn.MaxPool2d, nn.AvgPool2d)
    _adaptive_pools = (nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool2d)


class _DeployedSpectralPoolNd(nn.Module):
    """Shared construction of :class:`DeployedSpectralPool1d` and :class:`DeployedSpectralPool2d`.

    The matrices are non-persistent buffers: they are derived from the sizes (the state dict is
    empty), follow ``.to(...)``, and are constants of an exported graph.
    """

    _ndim: ClassVar[int]

    def __init__(
        self,
        input_size: int | Sequence[int],
        output_size: int | Sequence[int],
        *,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        ndim = self._ndim
        self.ndim = ndim  # an instance attribute: TorchScript does not see class variables
        self.input_size: tuple[int, ...] = to_tuple(input_size, ndim, "input_size")
        self.output_size: tuple[int, ...] = to_tuple(output_size, ndim, "output_size")
        for axis, (n, o) in enumerate(zip(self.input_size, self.output_size, strict=True)):
            self.register_buffer(
                f"matrix{axis}", spectral_pool_matrix(n, o, dtype=dtype), persistent=False
            )

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, output_size={self.output_size}"

    def _products(self, input: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError  # each subclass: its matrix products

    def _autocast_off(self, input: torch.Tensor) -> torch.Tensor:
        # As the FFT form: computed without autocast, the result in the input dtype. Outside an
        # autocast region no context is entered, so an exported graph is the bare products.
        if torch.jit.is_scripting():
            return self._products(input)
        if not torch.is_autocast_enabled(input.device.type):
            return self._products(input)
        with fft_precision(input.device):
            return self._products(input)

    def _check_input(self, input: torch.Tensor, spatial: list[int]) -> None:
        # TorchScript-compatible checks (no f-strings): the matrices fit one input size only.
        if input.dim() != self.ndim + 1 and input.dim() != self.ndim + 2:
            raise ValueError(
                "`input` must have "
                + str(self.ndim + 1)
                + " or "
                + str(self.ndim + 2)
                + " dimensions, got shape "
                + str(list(input.shape))
            )
        if not input.is_floating_point():
            raise TypeError("`input` must be a floating tensor, got " + str(input.dtype))
        if spatial != list(self.input_size):
            raise ValueError(
                "this deployed spectral pool was built for the input size "
                + str(list(self.input_size))
                + ", got "
                + str(spatial)
                + "; deploy the pool for each input size it sees"
            )


class DeployedSpectralPool1d(_DeployedSpectralPoolNd):
    """Eval-mode 1D spectral pooling of a fixed input length as a real matrix product.

    Built by :meth:`SpectralPool1d.deploy`; computes ``input @ M.T`` with the
    :func:`~lightning_spectral.functional.pooling.spectral_pool_matrix` ``M`` (in ``M``'s dtype,
    the result in the input's dtype), so the graph holds only real tensors.

    Args:
        input_size: ``L`` (int or 1-tuple).
        output_size: ``L_out`` in ``[1, L]``.
        dtype: dtype of the matrix.

    Shape:
        ``(B, C, L)`` or ``(C, L)`` -> ``(B, C, L_out)`` or ``(C, L_out)``.

    Example:
        >>> import torch
        >>> pool = SpectralPool1d(scale=0.5)
        >>> deployed = pool.deploy(20)
        >>> deployed
        DeployedSpectralPool1d(input_size=(20,), output_size=(10,))
        >>> x = torch.randn(4, 3, 20)
        >>> torch.allclose(deployed(x), pool.eval()(x), atol=1e-5)
        True
    """

    _ndim = 1

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Pool the last dimension.

        Args:
            input: ``(B, C, L)`` or ``(C, L)`` with ``L == input_size``.

        Returns:
            ``(B, C, L_out)`` (or unbatched), in the input's dtype.
        """
        self._check_input(input, [input.shape[-1]])
        return self._autocast_off(input)

    def _products(self, input: torch.Tensor) -> torch.Tensor:
        y = torch.matmul(input.to(self.matrix0.dtype), self.matrix0.T)
        return y.to(input.dtype)


class DeployedSpectralPool2d(_DeployedSpectralPoolNd):
    """Eval-mode 2D spectral pooling of a fixed input size as real matrix products.

    Built by :meth:`SpectralPool2d.deploy`; computes ``M_h @ input @ M_w.T`` with the
    :func:`~lightning_spectral.functional.pooling.spectral_pool_matrix` of each dimension (in
    their dtype, the result in the input's dtype), so the graph holds only real tensors.

    Args:
        input_size: ``(H, W)`` or an int for both.
        output_size: ``(H_out, W_out)`` or an int for both, each at most the input size.
        dtype: dtype of the matrices.

    Shape:
        ``(B, C, H, W)`` or ``(C, H, W)`` -> ``(B, C, H_out, W_out)`` or unbatched.

    Example:
        >>> import torch
        >>> pool = SpectralPool2d.from_pool(torch.nn.MaxPool2d(2))
        >>> deployed = pool.deploy((9, 12))
        >>> deployed
        DeployedSpectralPool2d(input_size=(9, 12), output_size=(4, 6))
        >>> x = torch.randn(2, 3, 9, 12)
        >>> torch.allclose(deployed(x), pool.eval()(x), atol=1e-5)
        True
    """

    _ndim = 2

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Pool the last two dimensions.

        Args:
            input: ``(B, C, H, W)`` or ``(C, H, W)`` with ``(H, W) == input_size``.

        Returns:
            ``(B, C, H_out, W_out)`` (or unbatched), in the input's dtype.
        """
        self._check_input(input, [input.shape[-2], input.shape[-1]])
        return self._autocast_off(input)

    def _products(self, input: torch.Tensor) -> torch.Tensor:
        y = torch.matmul(self.matrix0, input.to(self.matrix0.dtype))
        y = torch.matmul(y, self.matrix1.T)
        return y.to(input.dtype)


_DEPLOYED: dict[int, type[DeployedSpectralPool1d] | type[DeployedSpectralPool2d]] = {
    1: DeployedSpectralPool1d,
    2: DeployedSpectralPool2d,
}
