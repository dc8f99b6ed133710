"""Band-limited convolution modules (Dziedzic et al. 2019): drop-in ``nn.Conv1d``/``nn.Conv2d``.

:class:`BandLimitedConv1d` and :class:`BandLimitedConv2d` subclass the torch convolutions: same
constructor, same ``weight``/``bias`` parameters and state-dict keys, so the weights of a plain
convolution load as they are. The forward pass is the band-limited FFT convolution of
:mod:`lightning_spectral.kernels` at the *train* compression in training mode and at the *eval*
compression in eval mode. Both are Python floats, saved in the state dict through
``get_extra_state`` (plain data), and changeable at run time.

**Compression** is the fraction of the one-sided spectrum of the *padded* input that is discarded;
the band is chosen per padded input size by :func:`lightning_spectral.functional.band_for`, so the
achieved value can differ from the requested one (see ``extra_repr`` and :meth:`band`). With
``transform_size="full"`` the spectrum is that of the input zero-extended to the size of Dziedzic
et al.'s code (:func:`lightning_spectral.functional.transform_shape`); the band, the statistics
and ``last_signal_shape`` then refer to that size.

**Padding modes.** ``"zeros"`` is passed to the kernel; ``"reflect"``, ``"replicate"`` and
``"circular"`` pad explicitly as ``nn.Conv*`` does and then convolve with no padding, so every
padding mode of ``nn.Conv*`` (and ``padding="same"`` with any kernel) works.

**Compression 0** runs ``F.conv1d``/``F.conv2d`` (the same operator, faster); set the attribute
``direct_full_band = False`` to force the FFT path (parity tests, benchmarks).

**Energy mode** (``mode="energy"``): in training the layer accumulates the Parseval-weighted power
map of its padded input (``stats_power``, ``stats_count``) with no host synchronisation;
:meth:`update_band` picks the smallest band keeping the target energy, when a caller asks (e.g. a
callback at epoch end, after summing ``stats_power`` over ranks). Until then the layer runs at
its ``compression``.

**Eval cache.** In eval mode the filter spectrum at the kept frequencies is computed once and
reused until the weight (version counter, storage, parametrization sources), the band, the dtype
or the device changes (``cache_bytes``, ``spectrum_cache``, ``spectrum_cache_budget``).
:meth:`~BandLimitedConv2d.deploy` bakes the layer into real tensors for ``torch.export``,
ONNX and TorchScript (:func:`lightning_spectral.transforms.deploy_` for a whole model).

**torch.compile.** The compressions are kept internally as integer ratios, which dynamo
specialises on (a plain float attribute would be turned into a symbolic float after its first
change). Switching ``train()``/``eval()`` therefore costs one graph per mode, and changing a
compression recompiles once per distinct value.
"""

from __future__ import annotations

import math
import operator
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from lightning_spectral.functional import (
    TRANSFORM_SIZES,
    Band,
    ConvSpec,
    band_energy_fraction,
    band_for,
    band_for_energy,
    bandlimited_conv,
    check_bool,
    check_choice,
    check_compression,
    check_energy,
    check_int,
    conv_filter_spectrum,
    conv_padding,
    conv_plan,
    conv_spec,
    power_map,
    real_operators,
    transform_shape,
)
from lightning_spectral.functional._checks import to_tuple
from lightning_spectral.functional.conv import RealOperators, _real_conv

# The backend's channel contraction (torch or Triton); see docs/design.md for why the module
# calls the functional entry point with it instead of the F.conv-style dispatch functions (the
# eval cache passes a precomputed filter spectrum).
from lightning_spectral.kernels.dispatch import contract as _backend_contract
from lightning_spectral.kernels.dispatch import resolve_backend
from lightning_spectral.nn._scripting import refuse_scripting
from lightning_spectral.nn._state import OptionalExtraState

__all__ = [
    "MODES",
    "BandLimitedConv1d",
    "BandLimitedConv2d",
    "BandLimitedConvExport",
    "band_limit_config",
]

#: Compression modes of a band-limited layer.
MODES = ("fixed", "energy")

# Version 2 added `transform_size`; a state with the default "padded" is still written as
# version 1, so files of default layers stay readable by releases that predate the option.
_STATE_VERSION = 2
_STATE_KEYS = ("version", "compression", "eval_compression", "mode", "energy", "transform_size")
# Elements per chunk when the filter bank is expanded to the map size for its power map.
_FILTER_CHUNK_ELEMENTS = 1 << 24


def _check_energy(mode: str, energy: float | None) -> float | None:
    check_choice(mode, "mode", MODES)
    if mode == "fixed":
        if energy is not None:
            raise ValueError(f"`energy` is only used with mode='energy', got energy={energy!r}")
        return None
    if energy is None:
        raise ValueError(f"mode='energy' needs `energy` as a fraction in (0, 1], got {energy!r}")
    return check_energy(energy)


def _check_geometry(
    ndim: int,
    in_channels: Any,
    out_channels: Any,
    kernel_size: Any,
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: Any,
) -> None:
    # Before nn.ConvNd.__init__, which fails on a float or negative kernel size with torch's
    # internal message (``empty(): argument 'size' ...``) instead of naming the argument.
    check_int(in_channels, "in_channels", minimum=1)
    check_int(out_channels, "out_channels", minimum=1)
    conv_spec(ndim, kernel_size, stride, padding, dilation, groups)


def band_limit_config(
    compression: float = 0.0,
    eval_compression: float | None = None,
    mode: str = "fixed",
    energy: float | None = None,
    transform_size: str = "padded",
) -> dict[str, Any]:
    """Validate a band-limit configuration and return it as plain data.

    Args:
        compression: train compression in ``[0, 1)``.
        eval_compression: eval compression in ``[0, 1)`` or ``None`` (follows ``compression``).
        mode: one of :data:`MODES`.
        energy: target energy fraction in ``(0, 1]`` for ``mode="energy"``, else ``None``.
        transform_size: one of :data:`~lightning_spectral.functional.TRANSFORM_SIZES`.

    Returns:
        ``{"compression", "eval_compression", "mode", "energy", "transform_size"}`` with Python
        floats.

    Raises:
        TypeError, ValueError: with the bad value and the allowed range.
    """
    return {
        "compression": check_compression(compression, "compression"),
        "eval_compression": None
        if eval_compression is None
        else check_compression(eval_compression, "eval_compression"),
        "mode": mode,
        "energy": _check_energy(mode, energy),
        "transform_size": check_choice(transform_size, "transform_size", TRANSFORM_SIZES),
    }


def _same_geometry(conv: nn.Module) -> dict[str, Any]:
    """Constructor arguments of a convolution with ``conv``'s geometry, bias flag, device and
    dtype (weights not copied): a band-limited conv from a torch one, and back."""
    return {
        "in_channels": conv.in_channels,
        "out_channels": conv.out_channels,
        "kernel_size": conv.kernel_size,
        "stride": conv.stride,
        "padding": conv.padding,
        "dilation": conv.dilation,
        "groups": conv.groups,
        "bias": conv.bias is not None,
        "padding_mode": conv.padding_mode,
        "device": conv.weight.device,
        "dtype": conv.weight.dtype,
    }


class _BandLimitedConvNd(OptionalExtraState):
    """Shared implementation of the 1D and 2D band-limited convolutions (a mixin over
    ``nn.ConvNd``; the concrete classes put it first in their bases)."""

    _ndim: ClassVar[int]
    _torch_conv: ClassVar[type[nn.Module]]

    # Attributes of nn.ConvNd used here, declared for type checkers.
    in_channels: int
    out_channels: int
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...] | str
    dilation: tuple[int, ...]
    groups: int
    padding_mode: str
    weight: torch.Tensor
    bias: torch.Tensor | None
    training: bool

    #: Accumulated power map of the padded input (see :meth:`reset_stats`), ``None`` until the
    #: first accumulating forward. A plain tensor attribute, not a buffer, so that DDP's buffer
    #: broadcast neither overwrites nor ships it every step.
    stats_power: torch.Tensor | None
    #: Number of samples accumulated into ``stats_power`` (0-dim int64 tensor) or ``None``.
    stats_count: torch.Tensor | None
    #: ``"padded"`` or ``"full"`` (class default: modules pickled before the option existed).
    _transform_size: str = "padded"

    def _init_conv(
        self, geometry: tuple[Any, ...], options: tuple[Any, ...], band: tuple[Any, ...]
    ) -> None:
        """The 1D/2D constructors' shared body: check the geometry before torch does (its errors
        do not name the argument), build the torch convolution, then the band-limit settings."""
        _check_geometry(self._ndim, *geometry)
        self._torch_conv.__init__(self, *geometry, *options)
        self._setup_band_limit(*band)

    def extra_repr(self) -> str:
        return f"{self._torch_conv.extra_repr(self)}, {self._spectral_repr()}"

    def _setup_band_limit(
        self,
        compression: float,
        eval_compression: float | None,
        mode: str,
        energy: float | None,
        transform_size: str,
    ) -> None:
        self.track_stats = False
        self.direct_full_band = True
        self.last_signal_shape: tuple[int, ...] | None = None
        self.stats_power = None
        self.stats_count = None
        self.stats_skipped: torch.Tensor | None = None
        self._stats_shape: tuple[int, ...] | None = None
        self._warned_nonfinite = False
        self._spec_key: tuple[Any, ...] | None = None
        self._spec: ConvSpec | None = None
        self._spectrum_cache_enabled = True
        self._spectrum_cache_budget: int | None = None
        self._cache_key: tuple[Any, ...] | None = None
        self._cache_value: torch.Tensor | None = None
        self._warned_budget = False
        # Checked here, not left to `configure`, where `None` means "keep the current size".
        self._transform_size = check_choice(transform_size, "transform_size", TRANSFORM_SIZES)
        self._conv_spec()  # the argument checks, once, at construction
        self.configure(
            compression=compression,
            eval_compression=eval_compression,
            mode=mode,
            energy=energy,
            transform_size=transform_size,
        )

    # ---------------------------------------------------------------------------------------
    # Configuration
    # ---------------------------------------------------------------------------------------

    def configure(
        self,
        *,
        compression: float,
        eval_compression: float | None,
        mode: str,
        energy: float | None,
        transform_size: str | None = None,
    ) -> None:
        """Set the whole band-limit configuration at once (validated before anything changes).

        Args:
            compression: train compression in ``[0, 1)`` (the starting point in energy mode).
            eval_compression: eval compression in ``[0, 1)``, or ``None`` to follow the train one.
            mode: ``"fixed"`` or ``"energy"``.
            energy: target retained energy fraction in ``(0, 1]`` for ``mode="energy"``, else
                ``None``.
            transform_size: ``"padded"`` or ``"full"``
                (:func:`~lightning_spectral.functional.transform_shape`); ``None`` keeps the
                current one.
        """
        if transform_size is None:
            transform_size = self._transform_size
        config = band_limit_config(compression, eval_compression, mode, energy, transform_size)
        evaluation = config["eval_compression"]
        if transform_size != self._transform_size:
            # Another operator: statistics, the cached spectrum and the last transform size
            # belong to the old size.
            self.stats_power = self.stats_count = self.stats_skipped = None
            self._stats_shape = None
            self.last_signal_shape = None
            self.clear_spectrum_cache()
        self._train_ratio = config["compression"].as_integer_ratio()
        self._eval_ratio = None if evaluation is None else evaluation.as_integer_ratio()
        self._mode = mode
        self._energy = config["energy"]
        self._transform_size = transform_size

    @property
    def compression(self) -> float:
        """Train compression (fraction of one-sided coefficients discarded), in ``[0, 1)``."""
        return self._train_ratio[0] / self._train_ratio[1]

    @compression.setter
    def compression(self, value: float) -> None:
        self._train_ratio = check_compression(value, "compression").as_integer_ratio()

    @property
    def eval_compression(self) -> float:
        """Eval compression; equals :attr:`compression` while tied (set ``None`` to tie)."""
        ratio = self._train_ratio if self._eval_ratio is None else self._eval_ratio
        return ratio[0] / ratio[1]

    @eval_compression.setter
    def eval_compression(self, value: float | None) -> None:
        self._eval_ratio = (
            None
            if value is None
            else check_compression(value, "eval_compression").as_integer_ratio()
        )

    @property
    def eval_tied(self) -> bool:
        """Whether the eval compression follows the train compression."""
        return self._eval_ratio is None

    @property
    def mode(self) -> str:
        """``"fixed"`` or ``"energy"`` (change with :meth:`configure`)."""
        return self._mode

    @property
    def energy(self) -> float | None:
        """Target retained energy fraction in energy mode, else ``None``."""
        return self._energy

    @property
    def transform_size(self) -> str:
        """``"padded"`` or ``"full"``: the size the layer transforms at (change with
        :meth:`configure`)."""
        return self._transform_size

    @property
    def active_compression(self) -> float:
        """The compression the next forward uses: train or eval, by ``self.training``."""
        if self.training or self._eval_ratio is None:
            return self._train_ratio[0] / self._train_ratio[1]
        return self._eval_ratio[0] / self._eval_ratio[1]

    def get_extra_state(self) -> dict[str, Any]:
        """Plain-data configuration stored in the state dict under ``_extra_state``."""
        state = {
            "version": 1,
            "compression": self.compression,
            "eval_compression": None if self._eval_ratio is None else self.eval_compression,
            "mode": self._mode,
            "energy": self._energy,
        }
        if self._transform_size != "padded":
            state.update(version=2, transform_size=self._transform_size)
        return state

    def set_extra_state(self, state: Any) -> None:
        """Restore the configuration written by :meth:`get_extra_state`, validated like the
        constructor's arguments (the state may come from an untrusted or edited file).

        Raises:
            TypeError: ``state`` is not a dict, or a value has the wrong type.
            ValueError: unknown keys, a bad version or an out-of-range value.
        """
        if not isinstance(state, dict):
            raise TypeError(f"band-limit state must be a dict, got {type(state).__name__}")
        unknown = sorted(map(str, set(state) - set(_STATE_KEYS)))
        if unknown or "compression" not in state:
            raise ValueError(
                f"unrecognised band-limit state {state!r}: keys must be among {_STATE_KEYS} "
                "and include 'compression'"
            )
        version = state.get("version", _STATE_VERSION)
        if isinstance(version, bool) or not isinstance(version, int):
            raise TypeError(f"band-limit state `version` must be an int, got {version!r}")
        if version < 1:
            raise ValueError(f"band-limit state `version` must be >= 1, got {version!r}")
        if version > _STATE_VERSION:
            raise ValueError(
                f"band-limit state version {version} is newer than this lightning-spectral "
                f"supports ({_STATE_VERSION}); upgrade the package"
            )
        self.configure(
            compression=state["compression"],
            eval_compression=state.get("eval_compression"),
            mode=state.get("mode", "fixed"),
            energy=state.get("energy"),
            transform_size=state.get("transform_size", "padded"),
        )

    # ---------------------------------------------------------------------------------------
    # Geometry
    # ---------------------------------------------------------------------------------------

    def _pads(self) -> tuple[tuple[int, int], ...]:
        return conv_padding(self.padding, self.kernel_size, self.dilation, self.stride)

    def band(
        self, training: bool | None = None, signal_shape: Sequence[int] | None = None
    ) -> Band | None:
        """The band used for a transform size.

        Args:
            training: which compression (train or eval); ``None`` for the current mode.
            signal_shape: transform size ``(N,)`` or ``(H, W)`` (the padded input size, or the
                full size with ``transform_size="full"``); ``None`` for the size of the last
                forward (``last_signal_shape``).

        Returns:
            The :class:`~lightning_spectral.functional.Band`, or ``None`` if no size is known.
        """
        shape = self.last_signal_shape if signal_shape is None else tuple(signal_shape)
        if shape is None:
            return None
        train = self.training if training is None else training
        return band_for(tuple(shape), self.compression if train else self.eval_compression)

    # ---------------------------------------------------------------------------------------
    # Forward
    # ---------------------------------------------------------------------------------------

    def _conv_spec(self) -> ConvSpec:
        """The checked geometry (:func:`~lightning_spectral.functional.conv_spec`), rebuilt only
        if a geometry attribute was reassigned after construction."""
        key = (
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
            self._transform_size,
        )
        if key != self._spec_key or self._spec is None:
            padding = self.padding if self.padding_mode == "zeros" else 0
            self._spec = conv_spec(
                self._ndim,
                self.kernel_size,
                self.stride,
                padding,
                self.dilation,
                self.groups,
                self._transform_size,
            )
            self._spec_key = key
        return self._spec

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Band-limited convolution of ``input``.

        Args:
            input: ``(B, C_in, *spatial)`` or ``(C_in, *spatial)``.

        Returns:
            ``(B, C_out, *spatial_out)`` (or unbatched), as the torch convolution would return.
        """
        return self._band_limited_forward(input, self.weight, self.bias, own_weight=True)

    def _conv_forward(
        self, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        # nn.ConvNd's hook for "convolve with these weights": code that calls it directly
        # (fused or wrapped convolutions) gets the band-limited operator too (never the cache:
        # these weights need not be the layer's).
        return self._band_limited_forward(input, weight, bias, own_weight=False)

    def _band_limited_forward(
        self,
        input: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        own_weight: bool,
    ) -> torch.Tensor:
        ndim = self._ndim
        pads = self._pads()
        flat_pads = [p for pair in reversed(pads) for p in pair]
        if self.padding_mode == "zeros":
            x, padding = input, self.padding
        else:
            x, padding = F.pad(input, flat_pads, mode=self.padding_mode), 0
        # operator.index makes torch.compile specialise on the spatial size (the band depends on
        # it) instead of tracing the band choice with symbolic sizes.
        padded_shape = tuple(
            operator.index(n) + (before + after if x is input else 0)
            for n, (before, after) in zip(x.shape[-ndim:], pads, strict=True)
        )
        spec = self._conv_spec()
        signal_shape = transform_shape(spec, padded_shape)
        self.last_signal_shape = signal_shape
        if self.training and (self.track_stats or self._mode == "energy"):
            # Statistics describe the signal the FFT sees: the padded input, zero-extended
            # after its end to the transform size (F.pad order: last dimension first).
            implicit = self.padding_mode == "zeros"  # else x is already padded
            widths = []
            for (before, after), n, t in reversed(
                list(zip(pads, padded_shape, signal_shape, strict=True))
            ):
                widths += [before if implicit else 0, (after if implicit else 0) + t - n]
            self._accumulate(F.pad(x, widths) if any(widths) else x, signal_shape)
        compression = self.active_compression
        if self.direct_full_band and compression == 0.0:
            # Full band: the same operator, and the direct convolution is faster (docs/design.md).
            # Tests and benchmarks set `direct_full_band = False` to force the FFT path.
            conv = F.conv1d if ndim == 1 else F.conv2d
            return conv(x, weight, bias, self.stride, padding, self.dilation, self.groups)
        plan = conv_plan(spec, x.shape[-ndim:], compression)
        filters = None
        if own_weight and self._cache_applies(weight):
            filters = self._cached_filters(weight, plan)
        return bandlimited_conv(
            x,
            weight,
            bias,
            spec,
            compression,
            contract=_backend_contract,
            filters=filters,
            plan=plan,
        )

    # ---------------------------------------------------------------------------------------
    # Eval-mode filter spectrum cache
    # ---------------------------------------------------------------------------------------

    @property
    def spectrum_cache(self) -> bool:
        """Whether eval forwards reuse the filter spectrum (default ``True``); ``False`` also
        frees the cached one."""
        return self._spectrum_cache_enabled

    @spectrum_cache.setter
    def spectrum_cache(self, value: bool) -> None:
        self._spectrum_cache_enabled = check_bool(value, "spectrum_cache")
        if not value:
            self.clear_spectrum_cache()

    @property
    def spectrum_cache_budget(self) -> int | None:
        """Largest filter spectrum, in bytes, the layer caches (``None``: no limit). A larger
        one is recomputed every call, with one warning."""
        return self._spectrum_cache_budget

    @spectrum_cache_budget.setter
    def spectrum_cache_budget(self, value: int | None) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"`spectrum_cache_budget` must be an int or None, got {value!r}")
        if value is not None and value < 0:
            raise ValueError(f"`spectrum_cache_budget` must be >= 0 bytes, got {value!r}")
        self._spectrum_cache_budget = value
        if value is not None and self.cache_bytes > value:
            self.clear_spectrum_cache()

    @property
    def cache_bytes(self) -> int:
        """Bytes held by the cached filter spectrum (0 when nothing is cached)."""
        value = self._cache_value
        return 0 if value is None else value.numel() * value.element_size()

    def clear_spectrum_cache(self) -> None:
        """Drop the cached filter spectrum. Call it after writing the weight through ``.data``
        (such writes bypass the version counter that invalidates the cache)."""
        self._cache_key = None
        self._cache_value = None

    def _cache_applies(self, weight: torch.Tensor) -> bool:
        if self.training or not self._spectrum_cache_enabled or torch.compiler.is_compiling():
            return False
        # With gradients on, the weight's gradient must flow through its spectrum.
        return not (torch.is_grad_enabled() and weight.requires_grad)

    def _weight_sources(self) -> list[torch.Tensor]:
        """The tensors the weight is computed from: itself, or a parametrization's parameters
        and buffers (the parametrized weight is recomputed on every access)."""
        if parametrize.is_parametrized(self, "weight"):
            plist = self.parametrizations["weight"]  # type: ignore[index]
            return [*plist.parameters(), *plist.buffers()]
        return [self._parameters["weight"]]  # type: ignore[list-item]

    def _cached_filters(self, weight: torch.Tensor, plan: Any) -> torch.Tensor:
        sources = self._weight_sources()
        inference = torch.is_inference_mode_enabled()
        key = (
            plan,
            weight.dtype,
            weight.device,
            tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in sources),
        )
        # The torch contraction reads conj(W) transposed: stored conjugated and handed over as
        # a lazy conj() view, the conjugations cancel and BLAS reads the cache in place (a
        # plain spectrum would be conjugated into a copy of the whole cache on every call).
        # The Triton contraction resolves conj views itself, so it gets the plain spectrum.
        conjugated = resolve_backend(weight.device) == "torch"
        key = (*key, conjugated)
        if key == self._cache_key and self._cache_value is not None:
            cached = self._cache_value
            # An inference tensor cannot enter an autograd graph outside inference mode.
            if not cached.is_inference() or inference or not torch.is_grad_enabled():
                return cached.conj() if conjugated else cached
        with torch.no_grad():
            filters = conv_filter_spectrum(weight, plan)
            stored = filters.conj().resolve_conj() if conjugated else filters
        size = filters.numel() * filters.element_size()
        budget = self._spectrum_cache_budget
        if budget is not None and size > budget:
            self.clear_spectrum_cache()
            if not self._warned_budget:
                self._warned_budget = True
                warnings.warn(
                    f"{type(self).__name__}({self.extra_repr()}): the filter spectrum needs "
                    f"{size} bytes, over spectrum_cache_budget={budget}; it is recomputed on "
                    "every eval forward",
                    UserWarning,
                    stacklevel=4,
                )
            return filters
        self._cache_key, self._cache_value = key, stored
        return stored.conj() if conjugated else stored

    def train(self, mode: bool = True) -> Any:
        if mode:
            self.clear_spectrum_cache()  # training recomputes the spectrum every step
        return super().train(mode)  # type: ignore[misc]

    def _apply(self, fn: Any, recurse: bool = True) -> Any:
        # .to()/.half()/.cuda(): the cached spectrum belongs to the old tensors.
        self.clear_spectrum_cache()
        return super()._apply(fn, recurse)  # type: ignore[misc]

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        self.clear_spectrum_cache()
        super()._load_from_state_dict(*args, **kwargs)  # type: ignore[misc]

    # ---------------------------------------------------------------------------------------
    # Statistics
    # ---------------------------------------------------------------------------------------

    def _accumulate(self, padded: torch.Tensor, signal_shape: tuple[int, ...]) -> None:
        batched = padded.dim() == self._ndim + 2
        samples = padded if batched else padded.unsqueeze(0)
        # Samples with a nan/inf are left out (counted in `stats_skipped`): one of them would
        # otherwise decide the band on its own. No host read: a mask, not a branch.
        finite = torch.isfinite(samples.detach()).flatten(1).all(1)
        clean = torch.where(finite.view(-1, *([1] * (samples.dim() - 1))), samples.detach(), 0.0)
        power = power_map(clean, self._ndim)
        kept = finite.sum()
        skipped = finite.numel() - kept
        stats = self.stats_power
        if (
            stats is None
            or self._stats_shape != signal_shape
            or stats.device != power.device
            or stats.dtype != power.dtype
        ):
            # First accumulation, or a new padded size: statistics restart for that size.
            self.stats_power = power
            self.stats_count = kept.to(torch.int64)
            self.stats_skipped = skipped.to(torch.int64)
            self._stats_shape = signal_shape
        else:
            stats.add_(power)
            self.stats_count.add_(kept)  # type: ignore[union-attr]
            if self.stats_skipped is None:
                self.stats_skipped = torch.zeros_like(self.stats_count)  # type: ignore[arg-type]
            self.stats_skipped.add_(skipped)

    def reset_stats(self) -> None:
        """Zero the accumulated statistics (in place, so compiled graphs stay valid)."""
        for stats in (self.stats_power, self.stats_count, self.stats_skipped):
            if stats is not None:
                stats.zero_()

    def warn_nonfinite(self, name: str | None = None) -> int:
        """Warn (once per layer) if samples with nan/inf were left out of the statistics.

        Reads one number back to the host: call it where :meth:`update_band` runs.

        Args:
            name: the layer's name in its model, for the message.

        Returns:
            The number of samples skipped since the last :meth:`reset_stats`.
        """
        skipped = 0 if self.stats_skipped is None else int(self.stats_skipped)
        if skipped and not self._warned_nonfinite:
            self._warned_nonfinite = True
            label = name if name is not None else f"{type(self).__name__}({self.extra_repr()})"
            warnings.warn(
                f"band-limited layer {label}: {skipped} input sample(s) with nan/inf were left "
                "out of its energy statistics (further skips are counted, not warned)",
                UserWarning,
                stacklevel=2,
            )
        return skipped

    @property
    def stats_signal_shape(self) -> tuple[int, ...] | None:
        """Padded input size the accumulated statistics belong to."""
        return self._stats_shape

    def _has_stats(self) -> bool:
        # Host read: only for the epoch-level API below, never in forward.
        return self.stats_count is not None and int(self.stats_count) > 0

    def input_energy_fraction(self) -> torch.Tensor | None:
        """Fraction of the accumulated input energy inside the current train band.

        Returns:
            0-dim tensor on the statistics' device, or ``None`` when nothing was accumulated
            since the last :meth:`reset_stats`.
        """
        if not self._has_stats():
            return None
        band = band_for(self._stats_shape, self.compression)  # type: ignore[arg-type]
        return band_energy_fraction(self.stats_power, band)  # type: ignore[arg-type]

    @torch.no_grad()
    def filter_power(self, signal_shape: Sequence[int] | None = None) -> torch.Tensor | None:
        """Parseval-weighted power map of the (dilated) filters zero-padded to a signal size,
        summed over output and input channels.

        Args:
            signal_shape: transform size (``last_signal_shape``); ``None`` for the last forward's.

        Returns:
            ``spectrum_shape(signal_shape)`` real tensor, or ``None`` if no size is known.
        """
        shape = self.last_signal_shape if signal_shape is None else tuple(signal_shape)
        if shape is None:
            return None
        weight = self.weight.detach()
        taps = tuple(
            slice(0, d * (k - 1) + 1, d)
            for k, d in zip(self.kernel_size, self.dilation, strict=True)
        )
        per_filter = weight.shape[1] * math.prod(shape)
        chunk = max(1, _FILTER_CHUNK_ELEMENTS // per_filter)
        total = None
        for start in range(0, weight.shape[0], chunk):
            part = weight[start : start + chunk]
            canvas = part.new_zeros(*part.shape[:2], *shape)
            canvas[(Ellipsis, *taps)] = part
            power = power_map(canvas, self._ndim)
            total = power if total is None else total + power
        return total

    def filter_energy_fraction(self) -> torch.Tensor | None:
        """Fraction of the filters' energy (zero-padded to the last transform size) inside
        the current train band; ``None`` before the first forward."""
        power = self.filter_power()
        if power is None:
            return None
        band = band_for(self.last_signal_shape, self.compression)  # type: ignore[arg-type]
        return band_energy_fraction(power, band)

    def saved_spectrum_bytes(
        self, batch_size: int, signal_shape: Sequence[int] | None = None
    ) -> tuple[int, int]:
        """Bytes of input spectrum the train band keeps for backward vs. the full spectrum.

        Args:
            batch_size: number of samples.
            signal_shape: transform size (``last_signal_shape``); ``None`` for the last forward's.

        Returns:
            ``(kept_bytes, full_bytes)``: the kept one-sided input spectrum and the
            uncompressed one-sided spectrum, complex64 (complex128 for float64 weights).

        Raises:
            RuntimeError: if no size is given and the layer has not run yet.
        """
        band = self.band(training=True, signal_shape=signal_shape)
        if band is None:
            raise RuntimeError(
                "saved_spectrum_bytes needs a signal size: run a forward pass first or pass "
                "`signal_shape`"
            )
        item = 16 if self.weight.dtype == torch.float64 else 8
        per_coefficient = int(batch_size) * self.in_channels * item
        return band.num_kept * per_coefficient, band.num_total * per_coefficient

    def update_band(self, power: torch.Tensor | None = None, name: str | None = None) -> Band:
        """Energy mode: set the train compression to the smallest band keeping ``energy``.

        Reads one small tensor back to the host: call it at epoch (or interval) boundaries.

        Args:
            power: power map to decide from, already summed across ranks by the caller, of
                shape ``spectrum_shape(stats_signal_shape)``; ``None`` for the local statistics.
            name: the layer's name, for the warnings.

        Returns:
            The chosen band; its achieved compression becomes :attr:`compression` (and the eval
            compression too while it is tied). A map with no finite energy (all samples
            skipped as non-finite, or all-zero input) decides nothing: the band is kept, with
            a warning. The statistics are reset.

        Raises:
            RuntimeError: outside energy mode or with no statistics to decide from.
        """
        if self._mode != "energy":
            raise RuntimeError(
                f"update_band needs mode='energy', this layer has mode={self._mode!r}"
            )
        shape = self._stats_shape
        if power is None:
            if not self._has_stats():
                raise RuntimeError(
                    "update_band: no input statistics accumulated since the last reset "
                    "(run training forwards first or pass `power`)"
                )
            power = self.stats_power
        if shape is None:
            shape = self.last_signal_shape
        if shape is None:
            raise RuntimeError("update_band: the layer has not run yet, its signal size is unknown")
        self.warn_nonfinite(name)
        total = float(power.sum())  # type: ignore[union-attr]
        if not (math.isfinite(total) and total > 0.0):
            label = name if name is not None else f"{type(self).__name__}({self.extra_repr()})"
            warnings.warn(
                f"band-limited layer {label}: its energy statistics hold no finite energy "
                f"(sum {total}); the band is kept at compression {self.compression:g}",
                UserWarning,
                stacklevel=2,
            )
            self.reset_stats()
            return band_for(shape, self.compression)
        band = band_for_energy(power, shape, self._energy)  # type: ignore[arg-type]
        self.compression = band.compression
        self.reset_stats()
        return band

    # ---------------------------------------------------------------------------------------
    # Deployment form
    # ---------------------------------------------------------------------------------------

    def deploy(self, input_size: int | Sequence[int]) -> nn.Module:
        """The layer at its eval compression for one input size, as real tensors only: the
        form to give ``torch.export``, ``torch.onnx.export`` or TorchScript (see the deployment
        page of the docs; :func:`lightning_spectral.transforms.deploy_` deploys a whole model).

        Args:
            input_size: the spatial input size ``(L,)`` or ``(H, W)`` it will serve.

        Returns:
            A :class:`BandLimitedConvExport` (its buffers are the baked operators), or a plain
            ``nn.Conv1d``/``nn.Conv2d`` with the same weights at eval compression 0.

        Raises:
            TypeError, ValueError: a bad ``input_size``.

        Example:
            >>> conv = BandLimitedConv2d(3, 4, 3, padding=1, compression=0.5).eval()
            >>> deployed = conv.deploy((16, 16))
            >>> x = torch.randn(2, 3, 16, 16)
            >>> torch.allclose(deployed(x), conv(x), atol=1e-5)
            True
        """
        spatial = to_tuple(input_size, self._ndim, "input_size")
        compression = self.eval_compression
        with torch.no_grad():
            weight = self.weight.detach()
            bias = None if self.bias is None else self.bias.detach()
        if self.direct_full_band and compression == 0.0:
            plain = self._torch_conv(**_same_geometry(self))
            with torch.no_grad():
                plain.weight.copy_(weight)
                if bias is not None:
                    plain.bias.copy_(bias)
            return plain.eval()
        pads = self._pads()
        explicit = self.padding_mode != "zeros"
        if explicit:  # the explicit pad runs in the exported graph, the band sees its result
            spatial = tuple(n + a + b for n, (a, b) in zip(spatial, pads, strict=True))
        operators = real_operators(weight, self._conv_spec(), spatial, compression)
        flat_pads = [p for pair in reversed(pads) for p in pair] if explicit else []
        deployed = BandLimitedConvExport(
            operators, bias, self.groups, self.padding_mode, flat_pads, self._ndim
        )
        return deployed.eval()

    def export_form(self, input_size: int | Sequence[int]) -> nn.Module:
        """Deprecated alias of :meth:`deploy` (one verb for every layer's deployment form).

        Warns:
            FutureWarning: always; call :meth:`deploy` instead.
        """
        warnings.warn(
            f"{type(self).__name__}.export_form is deprecated: call `.deploy(input_size)` (the "
            "spectral pools' verb too), or `transforms.deploy_(model, example_input)`",
            FutureWarning,
            stacklevel=2,
        )
        return self.deploy(input_size)

    def __prepare_scriptable__(self) -> nn.Module:
        refuse_scripting(
            self,
            "its transforms are planned in Python per input size",
            "`layer.deploy(input_size)`, which holds real tensors only "
            "(`transforms.deploy_(model, example_input)` swaps every layer),",
        )

    # ---------------------------------------------------------------------------------------
    # Construction from a torch convolution, representation
    # ---------------------------------------------------------------------------------------

    @classmethod
    def from_conv(cls, conv: nn.Module, **options: Any) -> Any:
        """Build a band-limited twin of a torch convolution (same device, dtype, weights).

        Args:
            conv: an ``nn.Conv1d`` (for the 1D class) or ``nn.Conv2d`` (2D); if it carries
                parametrizations, its current (evaluated) weight is copied.
            **options: ``compression``, ``eval_compression``, ``mode``, ``energy``,
                ``transform_size``.

        Returns:
            A new module in the same train/eval mode with copies of the weights.
        """
        if not isinstance(conv, cls._torch_conv):
            raise TypeError(
                f"{cls.__name__}.from_conv needs an {cls._torch_conv.__name__}, "
                f"got {type(conv).__name__}"
            )
        weight = conv.weight
        new = cls(**_same_geometry(conv), **options)
        with torch.no_grad():
            new.weight.copy_(weight)
            new.weight.requires_grad_(weight.requires_grad)
            if conv.bias is not None:
                new.bias.copy_(conv.bias)
                new.bias.requires_grad_(conv.bias.requires_grad)
        new.train(conv.training)
        return new

    def _spectral_repr(self) -> str:
        parts = [f"compression={self.compression:g}"]
        if self._eval_ratio is not None:
            parts.append(f"eval_compression={self.eval_compression:g}")
        if self._mode != "fixed":
            parts.append(f"mode={self._mode!r}, energy={self._energy:g}")
        if self._transform_size != "padded":
            parts.append(f"transform_size={self._transform_size!r}")
        if self.last_signal_shape is not None:
            train = self.band(training=True)
            evaluation = self.band(training=False)
            achieved = f"achieved={train.compression:.4f}"  # type: ignore[union-attr]
            if self._eval_ratio is not None:
                achieved += f"/{evaluation.compression:.4f}"  # type: ignore[union-attr]
            parts.append(f"{achieved} at {self.last_signal_shape}")
        if not self._spectrum_cache_enabled:
            parts.append("spectrum_cache=off")
        elif self._cache_value is not None:
            parts.append(f"cache_bytes={self.cache_bytes}")
        return ", ".join(parts)


class BandLimitedConv1d(_BandLimitedConvNd, nn.Conv1d):
    """Band-limited ``nn.Conv1d``: the input and filter spectra (and the output gradient's) are
    restricted to the low-frequency band of the padded length.

    The arguments ``in_channels`` to ``dtype`` are those of :class:`torch.nn.Conv1d`.

    Args:
        compression: train compression in ``[0, 1)`` (starting point in energy mode).
        eval_compression: eval compression, ``None`` to follow ``compression``.
        mode: ``"fixed"`` or ``"energy"``.
        energy: target retained energy fraction in ``(0, 1]`` for ``mode="energy"``.
        transform_size: ``"padded"`` (transform at the padded input size) or ``"full"`` (at the
            size of Dziedzic et al.'s code, :func:`~lightning_spectral.functional.transform_shape`).

    Shape:
        input ``(B, C_in, L)`` or ``(C_in, L)`` -> output ``(B, C_out, L_out)``, ``L_out`` as
        for :class:`torch.nn.Conv1d`.
    """

    _ndim = 1
    _torch_conv = nn.Conv1d

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int],
        stride: int | tuple[int] = 1,
        padding: str | int | tuple[int] = 0,
        dilation: int | tuple[int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        compression: float = 0.0,
        eval_compression: float | None = None,
        mode: str = "fixed",
        energy: float | None = None,
        transform_size: str = "padded",
    ) -> None:
        self._init_conv(
            (in_channels, out_channels, kernel_size, stride, padding, dilation, groups),
            (bias, padding_mode, device, dtype),
            (compression, eval_compression, mode, energy, transform_size),
        )


class BandLimitedConv2d(_BandLimitedConvNd, nn.Conv2d):
    """Band-limited ``nn.Conv2d``: the input and filter spectra (and the output gradient's) are
    restricted to the low-frequency band of the padded map (docs/design.md, "Conventions").

    The arguments ``in_channels`` to ``dtype`` are those of :class:`torch.nn.Conv2d`.

    Args:
        compression: train compression in ``[0, 1)`` (starting point in energy mode).
        eval_compression: eval compression, ``None`` to follow ``compression``.
        mode: ``"fixed"`` or ``"energy"``.
        energy: target retained energy fraction in ``(0, 1]`` for ``mode="energy"``.
        transform_size: ``"padded"`` (transform at the padded input size) or ``"full"`` (at the
            size of Dziedzic et al.'s code, :func:`~lightning_spectral.functional.transform_shape`).

    Shape:
        input ``(B, C_in, H, W)`` or ``(C_in, H, W)`` -> output ``(B, C_out, H_out, W_out)``,
        sizes as for :class:`torch.nn.Conv2d`.
    """

    _ndim = 2
    _torch_conv = nn.Conv2d

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: str | int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        compression: float = 0.0,
        eval_compression: float | None = None,
        mode: str = "fixed",
        energy: float | None = None,
        transform_size: str = "padded",
    ) -> None:
        self._init_conv(
            (in_channels, out_channels, kernel_size, stride, padding, dilation, groups),
            (bias, padding_mode, device, dtype),
            (compression, eval_compression, mode, energy, transform_size),
        )


class BandLimitedConvExport(nn.Module):
    """Deployment form of a band-limited convolution at one input size (from
    :meth:`BandLimitedConv2d.deploy`): baked real operators in buffers, real GEMMs in
    forward, no complex tensor, no FFT, no Python-side state. It exports with ``torch.export``
    and ``torch.onnx.export(..., dynamo=True)`` and scripts with ``torch.jit.script``.

    Shape:
        input ``(B, C_in, *input_size)`` or unbatched -> ``(B, C_out, *out_shape)``; the batch
        size is free, the spatial size is the one it was built for.
    """

    def __init__(
        self,
        operators: RealOperators,
        bias: torch.Tensor | None,
        groups: int,
        padding_mode: str,
        flat_pads: list[int],
        ndim: int,
    ) -> None:
        super().__init__()
        self.register_buffer("analysis", operators.analysis)
        self.register_buffer("filters", operators.filters)
        self.register_buffer("synthesis", operators.synthesis)
        self.register_buffer("bias", None if bias is None else bias.to(operators.analysis.dtype))
        self.groups = groups
        self.padding_mode = padding_mode
        # Never an empty list (TorchScript infers attribute types from the values).
        self.explicit_pad = len(flat_pads) > 0
        self.flat_pads = list(flat_pads) if flat_pads else [0] * (2 * ndim)
        self.ndim = ndim
        self.out_shape = list(operators.out_shape)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Band-limited convolution of ``input`` (see the class docstring for shapes)."""
        unbatched = input.dim() == self.ndim + 1
        x = input.unsqueeze(0) if unbatched else input
        if self.explicit_pad:
            x = F.pad(x, self.flat_pads, mode=self.padding_mode)
        y = _real_conv(
            x, self.analysis, self.filters, self.synthesis, self.bias, self.groups, self.out_shape
        ).to(input.dtype)
        return y.squeeze(0) if unbatched else y

    def extra_repr(self) -> str:
        kept = self.analysis.shape[-1]
        total = sum(b.numel() * b.element_size() for b in self.buffers())
        return f"kept={kept}, out_shape={tuple(self.out_shape)}, buffer_bytes={total}"
