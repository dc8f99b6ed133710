"""Band-limited convolution (Dziedzic et al. 2019) through real FFTs.

The operator is ``irfft(band(rfft(x)) * conj(band(rfft(w))))``, cropped to the valid outputs
and subsampled by the stride: a cross-correlation, as ``torch.nn.functional.conv*``. Compression
keeps the low-frequency band of :mod:`lightning_spectral.functional.band` for the input spectrum
and the filter spectrum.

**Transform size** (``transform_size``). ``"padded"`` (the default) transforms at the padded
input size ``Np``: only the valid (non-wrapping) outputs are read, so no extra padding is
needed. ``"full"`` transforms at ``Np + max(K, G) - 1`` per dimension (``K`` the dilated kernel,
``G = Np - K + 1`` the stride-1 output size), the size of Dziedzic et al.'s code, at which
the filter and the output gradient both correlate with the input without wrap-around. Both are
exact at compression 0; at the same compression they are different operators (the band is a
fraction of a longer spectrum; docs/concepts.md measures the difference). The larger size is
an implicit zero extension after the signal: the same plans, band and transforms, only
``band.signal_shape`` grows. The transforms of
:mod:`lightning_spectral.functional.spectral` carry explicit adjoints as their backward (the
synthesis backward is the analysis of the output gradient on the band, the analysis backward the
zero-filled inverse), so all three gradients live on the kept frequencies, only band-sized
spectra are saved, and the backward computes in float32/float64 even inside an autocast region.

At ``compression=0`` the result equals ``F.conv1d`` / ``F.conv2d`` up to floating-point error.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F

from lightning_spectral.functional._checks import (
    check_tensor,
    compute_dtype,
    fft_call,
    fft_precision,
    geometry_cache,
    to_tuple,
)
from lightning_spectral.functional.band import Band, band_for, check_compression
from lightning_spectral.functional.spectral import (
    analysis_plan,
    apply_analysis,
    apply_synthesis,
    spectral_contract,
    synthesis_plan,
)
from lightning_spectral.functional.validation import check_choice, check_int

__all__ = [
    "TRANSFORM_SIZES",
    "ConvPlan",
    "ConvSpec",
    "RealOperators",
    "bandlimited_conv",
    "bandlimited_conv1d",
    "bandlimited_conv2d",
    "conv_filter_spectrum",
    "conv_padding",
    "conv_plan",
    "conv_spec",
    "real_bandlimited_conv",
    "real_operators",
    "transform_shape",
]

Padding = int | Sequence[int] | str
#: Transform sizes of a band-limited convolution: the padded input size, or the full
#: correlation size of Dziedzic et al.'s code (module docstring).
TRANSFORM_SIZES = ("padded", "full")
#: ``contract(spectrum (B, C, *F), filters (O, C / G, *F), groups) -> (B, O, *F)``.
Contract = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]


def conv_padding(
    padding: Padding,
    kernel_size: tuple[int, ...],
    dilation: tuple[int, ...],
    stride: tuple[int, ...],
) -> tuple[tuple[int, int], ...]:
    """Per-dimension ``(before, after)`` zero padding with the meaning of ``F.conv*``.

    ``"same"`` pads ``dilation * (k - 1)`` in total with the extra element after, as PyTorch
    does, and like PyTorch it requires stride 1.
    """
    ndim = len(kernel_size)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * ndim
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"padding='same' requires stride 1, got stride={stride}")
            pads = []
            for k, d in zip(kernel_size, dilation, strict=True):
                total = d * (k - 1)
                pads.append((total // 2, total - total // 2))
            return tuple(pads)
        raise ValueError(f"`padding` must be an int, a tuple, 'same' or 'valid', got {padding!r}")
    return tuple((p, p) for p in to_tuple(padding, ndim, "padding", minimum=0))


@dataclass(frozen=True)
class ConvSpec:
    """Checked, normalised arguments of a band-limited convolution that do not depend on the
    input: built once by :func:`conv_spec` (a module builds it at construction), then every call
    only checks the tensors.

    Attributes:
        ndim: number of spatial dimensions (1 or 2).
        kernel_size: spatial filter size.
        stride: per spatial dimension.
        dilation: per spatial dimension.
        pads: per spatial dimension ``(before, after)`` zero padding.
        groups: channel groups.
        transform_size: one of :data:`TRANSFORM_SIZES`.
    """

    ndim: int
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    pads: tuple[tuple[int, int], ...]
    groups: int
    transform_size: str = "padded"


def conv_spec(
    ndim: int,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] = 1,
    padding: Padding = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    transform_size: str = "padded",
) -> ConvSpec:
    """Check the input-independent arguments of a band-limited convolution once.

    Args:
        ndim: 1 or 2 spatial dimensions.
        kernel_size: int or ``ndim`` ints, each >= 1.
        stride: int or ``ndim`` ints, each >= 1.
        padding: int or ``ndim`` ints >= 0, ``"same"`` (stride 1 only) or ``"valid"``.
        dilation: int or ``ndim`` ints, each >= 1.
        groups: positive int.
        transform_size: ``"padded"`` (the padded input size) or ``"full"`` (the size of
            Dziedzic et al.'s code, see :func:`transform_shape`).

    Returns:
        The :class:`ConvSpec` for :func:`bandlimited_conv`.

    Raises:
        TypeError: an argument of the wrong type (the message names it and the value).
        ValueError: an argument out of range.

    Example:
        >>> conv_spec(2, 3, padding="same").pads
        ((1, 1), (1, 1))
    """
    if ndim not in (1, 2):
        raise ValueError(f"`ndim` must be 1 or 2, got {ndim!r}")
    kernel_t = to_tuple(kernel_size, ndim, "kernel_size")
    stride_t = to_tuple(stride, ndim, "stride")
    dilation_t = to_tuple(dilation, ndim, "dilation")
    check_int(groups, "groups", minimum=1)
    check_choice(transform_size, "transform_size", TRANSFORM_SIZES)
    pads = conv_padding(padding, kernel_t, dilation_t, stride_t)
    return ConvSpec(ndim, kernel_t, stride_t, dilation_t, pads, groups, transform_size)


def transform_shape(spec: ConvSpec, padded_shape: Sequence[int]) -> tuple[int, ...]:
    """The transform size of a band-limited convolution for a padded input size.

    ``"padded"``: the padded size ``Np`` itself. ``"full"``: ``Np + max(K, G) - 1`` per
    dimension, with ``K`` the dilated kernel span and ``G = Np - K + 1`` the stride-1 output
    size (Dziedzic et al.'s code; a padded size smaller than ``K`` is left to
    :func:`conv_plan` to refuse).

    Args:
        spec: from :func:`conv_spec`.
        padded_shape: the padded input size ``(N,)`` or ``(H, W)``.

    Returns:
        The size the bands and transforms use (``band.signal_shape``).

    Example:
        >>> transform_shape(conv_spec(2, 3, padding=1), (34, 34))
        (34, 34)
        >>> transform_shape(conv_spec(2, 3, padding=1, transform_size="full"), (34, 34))
        (65, 65)
    """
    padded = tuple(operator.index(n) for n in padded_shape)
    if spec.transform_size == "padded":
        return padded
    spans = (d * (k - 1) + 1 for k, d in zip(spec.kernel_size, spec.dilation, strict=True))
    return tuple(n + max(span, n - span + 1) - 1 for n, span in zip(padded, spans, strict=True))


@dataclass(frozen=True)
class ConvPlan:
    """Everything a band-limited convolution derives from one input size: built once per
    ``(spec, spatial size, compression)`` by :func:`conv_plan` and reused by every call.

    Attributes:
        band: the kept frequencies of the transform size (:func:`transform_shape`).
        out_shape: spatial output size.
        input_plan: analysis geometry of the (implicitly padded) input.
        filter_plan: analysis geometry of the (dilated) filter.
        output_plan: synthesis geometry of the strided, cropped output.
    """

    band: Band
    out_shape: tuple[int, ...]
    input_plan: Any
    filter_plan: Any
    output_plan: Any


@geometry_cache(maxsize=1024)
def _conv_plan(spec: ConvSpec, spatial: tuple[int, ...], compression: float) -> ConvPlan:
    # The padding is never materialised: it is a phase offset in the analysis matrices.
    signal_shape = tuple(
        n + before + after for n, (before, after) in zip(spatial, spec.pads, strict=True)
    )
    out_shape = []
    for size, k, d, s in zip(
        signal_shape, spec.kernel_size, spec.dilation, spec.stride, strict=True
    ):
        span = d * (k - 1) + 1
        if size < span:
            raise ValueError(
                f"padded input size {signal_shape} is smaller than the dilated kernel "
                f"{spec.kernel_size} (dilation {spec.dilation})"
            )
        out_shape.append((size - span) // s + 1)
    band = band_for(transform_shape(spec, signal_shape), compression)
    ones = (1,) * spec.ndim
    return ConvPlan(
        band=band,
        out_shape=tuple(out_shape),
        input_plan=analysis_plan(band, tuple(p for p, _ in spec.pads), ones, spatial),
        filter_plan=analysis_plan(band, (0,) * spec.ndim, spec.dilation, spec.kernel_size),
        output_plan=synthesis_plan(band, tuple(out_shape), spec.stride),
    )


def conv_plan(spec: ConvSpec, spatial: Sequence[int], compression: float) -> ConvPlan:
    """The per-input-size geometry of a band-limited convolution (cached per argument set).

    Args:
        spec: from :func:`conv_spec`.
        spatial: the input's spatial size (before padding).
        compression: in ``[0, 1)``.

    Returns:
        The :class:`ConvPlan`.

    Raises:
        ValueError: the padded input is smaller than the dilated kernel, or a bad compression.

    Example:
        >>> plan = conv_plan(conv_spec(2, 3, padding=1), (32, 32), 0.5)
        >>> plan.out_shape, plan.band.signal_shape
        ((32, 32), (34, 34))
        >>> full = conv_spec(2, 3, padding=1, transform_size="full")
        >>> conv_plan(full, (32, 32), 0.5).band.signal_shape
        (65, 65)
    """
    compression = check_compression(compression)
    return _conv_plan(spec, tuple(operator.index(n) for n in spatial), compression)


def conv_filter_spectrum(weight: torch.Tensor, plan: ConvPlan) -> torch.Tensor:
    """Frequency-major spectrum of the (dilated) filter bank at the plan's kept frequencies.

    This is the filter half of :func:`bandlimited_conv`; modules cache it in eval mode and
    pass it back as ``filters``.

    Args:
        weight: real ``(C_out, C_in / groups, *kernel_size)``; computed in float32 (float64
            stays).

    Returns:
        Complex ``(*band.kept_shape, C_out, C_in / groups)``, contiguous.
    """
    return apply_analysis(weight.to(compute_dtype(weight.dtype)), plan.filter_plan)


def _check_operands(
    input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, spec: ConvSpec
) -> None:
    """The per-call checks: only what depends on the tensors."""
    ndim = spec.ndim
    check_tensor(input, "input", (ndim + 1, ndim + 2))
    check_tensor(weight, "weight", (ndim + 2,))
    groups = spec.groups
    in_channels = input.shape[-ndim - 1]
    out_channels = weight.shape[0]
    if in_channels % groups or out_channels % groups:
        raise ValueError(
            f"`groups`={groups} must divide in_channels={in_channels} and "
            f"out_channels={out_channels}"
        )
    if weight.shape[1] * groups != in_channels:
        raise ValueError(
            f"`weight` expects {weight.shape[1] * groups} input channels "
            f"(shape {tuple(weight.shape)}, groups={groups}), `input` has {in_channels}"
        )
    if tuple(weight.shape[2:]) != spec.kernel_size:
        raise ValueError(
            f"`weight` has kernel size {tuple(weight.shape[2:])}, the spec expects "
            f"{spec.kernel_size}"
        )
    if bias is not None:
        check_tensor(bias, "bias", (1,))
        if tuple(bias.shape) != (out_channels,):
            raise ValueError(f"`bias` must have shape ({out_channels},), got {tuple(bias.shape)}")


def _compute(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    filters: torch.Tensor | None,
    spec: ConvSpec,
    plan: ConvPlan,
    contract: Contract,
) -> torch.Tensor:
    """The computation, on batched operands already in the compute dtype."""
    ndim = spec.ndim
    if x.shape[0] == 0:
        # An empty batch: the direct convolution gives torch's empty result (and zero weight
        # and bias gradients), which the transforms cannot (their reshapes need a batch).
        flat_pads = [p for pair in reversed(spec.pads) for p in pair]
        direct = F.conv1d if ndim == 1 else F.conv2d
        return direct(F.pad(x, flat_pads), weight, bias, spec.stride, 0, spec.dilation, spec.groups)
    if filters is None:
        filters = conv_filter_spectrum(weight, plan)
    # Frequency-major spectra, handed to `contract` as (B, C, *F) / (O, C/G, *F) views.
    spectrum = apply_analysis(x, plan.input_plan)
    freq_dims = tuple(range(ndim))
    last = tuple(d - ndim for d in freq_dims)
    product = contract(
        spectrum.movedim(freq_dims, last),
        filters.to(spectrum.dtype).movedim(freq_dims, last),
        spec.groups,
    )
    # Inverse only at the strided, cropped output positions.
    y = apply_synthesis(product.movedim(tuple(range(2, 2 + ndim)), freq_dims), plan.output_plan)
    if bias is not None:
        y = y + bias.view(-1, *([1] * ndim))
    return y


def bandlimited_conv(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    spec: ConvSpec,
    compression: float,
    *,
    contract: Contract = spectral_contract,
    filters: torch.Tensor | None = None,
    plan: ConvPlan | None = None,
) -> torch.Tensor:
    """Band-limited convolution with pre-checked arguments: the entry point of the kernels'
    dispatch and of the modules (which build ``spec`` once).

    Args:
        input: ``(B, C_in, *spatial)`` or ``(C_in, *spatial)``.
        weight: ``(C_out, C_in / groups, *kernel_size)``.
        bias: optional ``(C_out,)``.
        spec: from :func:`conv_spec`.
        compression: in ``[0, 1)``.
        contract: the channel contraction (``kernels`` passes a fused one).
        filters: a precomputed :func:`conv_filter_spectrum` of ``weight`` for this plan (the
            eval cache of the modules), or ``None`` to compute it.
        plan: the :func:`conv_plan` of this input size, or ``None`` to look it up.

    Returns:
        ``(B, C_out, *spatial_out)`` (or unbatched), in :func:`result_dtype` of the input: the
        input's dtype, or the autocast dtype inside an autocast region, as ``F.conv*``. The
        transforms always compute in float32 (float64 stays).

    Example:
        >>> spec = conv_spec(1, 3, padding=1)
        >>> bandlimited_conv(torch.randn(2, 4, 16), torch.randn(5, 4, 3), None, spec, 0.5).shape
        torch.Size([2, 5, 16])
    """
    _check_operands(input, weight, bias, spec)
    unbatched = input.dim() == spec.ndim + 1
    x = input.unsqueeze(0) if unbatched else input
    if plan is None:
        plan = conv_plan(spec, x.shape[2:], compression)
    y = fft_call(
        _compute, x, weight, bias, filters=filters, spec=spec, plan=plan, contract=contract
    )
    return y.squeeze(0) if unbatched else y


def _functional(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: int | Sequence[int],
    padding: Padding,
    dilation: int | Sequence[int],
    groups: int,
    compression: float,
    ndim: int,
    contract: Contract,
    transform_size: str,
) -> torch.Tensor:
    """The ``F.conv*``-style signature: check the tensors' ranks first (their message names the
    tensor), then the arguments, then run."""
    check_tensor(input, "input", (ndim + 1, ndim + 2))
    check_tensor(weight, "weight", (ndim + 2,))
    compression = check_compression(compression)
    spec = conv_spec(
        ndim, tuple(weight.shape[2:]), stride, padding, dilation, groups, transform_size
    )
    return bandlimited_conv(input, weight, bias, spec, compression, contract=contract)


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
    contract: Contract = spectral_contract,
    transform_size: str = "padded",
) -> torch.Tensor:
    """Band-limited 1D convolution; arguments as :func:`torch.nn.functional.conv1d`.

    Args:
        input: ``(B, C_in, L)`` or ``(C_in, L)``.
        weight: ``(C_out, C_in / groups, k)``.
        bias: optional ``(C_out,)``.
        stride: int or 1-tuple.
        padding: int, 1-tuple, ``"same"`` or ``"valid"`` (zeros).
        dilation: int or 1-tuple.
        groups: channel groups.
        compression: fraction of one-sided coefficients of the transform length discarded from
            the input, filter and output-gradient spectra, in ``[0, 1)``.
        contract: the channel contraction (the kernels' dispatch passes its own).
        transform_size: ``"padded"`` (the padded length) or ``"full"`` (Dziedzic et al.'s
            size, :func:`transform_shape`).

    Returns:
        ``(B, C_out, L_out)`` (or ``(C_out, L_out)``), in the input's dtype.
    """
    return _functional(
        input,
        weight,
        bias,
        stride,
        padding,
        dilation,
        groups,
        compression,
        1,
        contract,
        transform_size,
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
    contract: Contract = spectral_contract,
    transform_size: str = "padded",
) -> torch.Tensor:
    """Band-limited 2D convolution; arguments as :func:`torch.nn.functional.conv2d`.

    Args:
        input: ``(B, C_in, H, W)`` or ``(C_in, H, W)``.
        weight: ``(C_out, C_in / groups, kH, kW)``.
        bias: optional ``(C_out,)``.
        stride: int or 2-tuple.
        padding: int, 2-tuple, ``"same"`` or ``"valid"`` (zeros).
        dilation: int or 2-tuple.
        groups: channel groups.
        compression: fraction of the ``Ht x (Wt // 2 + 1)`` one-sided coefficients of the
            transform (the padded map by default) discarded from the input, filter and
            output-gradient spectra, in ``[0, 1)``.
        contract: the channel contraction (the kernels' dispatch passes its own).
        transform_size: ``"padded"`` (the padded map) or ``"full"`` (Dziedzic et al.'s size,
            :func:`transform_shape`).

    Returns:
        ``(B, C_out, H_out, W_out)`` (or unbatched), in the input's dtype.
    """
    return _functional(
        input,
        weight,
        bias,
        stride,
        padding,
        dilation,
        groups,
        compression,
        2,
        contract,
        transform_size,
    )


class RealOperators(NamedTuple):
    """A band-limited convolution at one input size as real matrices (no complex numbers).

    Attributes:
        analysis: ``(2, N_in, F)``: the real and imaginary parts of the map from the flattened
            input (``N_in`` spatial positions, before padding) to the ``F`` kept coefficients.
        filters: ``(2, G, C_out / G, C_in / G, F)``: the filter spectrum's real and imaginary
            parts.
        synthesis: ``(2, F, N_out)``: the output positions from the real and the imaginary
            parts of the kept product.
        out_shape: spatial output size.
    """

    analysis: torch.Tensor
    filters: torch.Tensor
    synthesis: torch.Tensor
    out_shape: tuple[int, ...]


def real_operators(
    weight: torch.Tensor, spec: ConvSpec, spatial: Sequence[int], compression: float
) -> RealOperators:
    """Bake a band-limited convolution at one input size into real matrices.

    The operators are read off the pruned transforms themselves (applied to the unit basis),
    so :func:`real_bandlimited_conv` computes the same operator as :func:`bandlimited_conv`
    with real GEMMs only: the form to export (``torch.export``, ONNX) or script.

    Args:
        weight: ``(C_out, C_in / groups, *kernel_size)``.
        spec: from :func:`conv_spec`.
        spatial: the input's spatial size (before padding).
        compression: in ``[0, 1)``.

    Returns:
        The :class:`RealOperators`, in float32 (float64 for a float64 weight), detached.

    Example:
        >>> spec = conv_spec(1, 3, padding=1)
        >>> w, x = torch.randn(5, 4, 3), torch.randn(2, 4, 16)
        >>> ops = real_operators(w, spec, (16,), 0.5)
        >>> y = real_bandlimited_conv(x, ops, None, spec.groups)
        >>> torch.allclose(y, bandlimited_conv(x, w, None, spec, 0.5), atol=1e-5)
        True
    """
    check_tensor(weight, "weight", (spec.ndim + 2,))
    plan = conv_plan(spec, spatial, compression)
    real = compute_dtype(weight.dtype)
    n_in = math.prod(plan.input_plan[d].count for d in range(spec.ndim))
    kept = plan.band.num_kept
    with torch.no_grad(), fft_precision(weight.device):
        basis = torch.eye(n_in, dtype=real, device=weight.device)
        analysis = apply_analysis(basis.view(n_in, *spatial), plan.input_plan).reshape(kept, n_in)
        filters = conv_filter_spectrum(weight.detach(), plan)  # (*kept, O, C / G)
        out_channels, group_in = filters.shape[-2:]
        groups = spec.groups
        filters = filters.reshape(kept, groups, out_channels // groups, group_in)
        filters = filters.permute(1, 2, 3, 0)
        unit = torch.eye(kept, dtype=analysis.dtype, device=weight.device)
        unit = unit.view(*plan.band.kept_shape, kept)
        parts = [apply_synthesis(u, plan.output_plan).reshape(kept, -1) for u in (unit, 1j * unit)]
    return RealOperators(
        analysis=torch.stack([analysis.real.T, analysis.imag.T]).contiguous(),
        filters=torch.stack([filters.real, filters.imag]).contiguous(),
        synthesis=torch.stack(parts).contiguous(),
        out_shape=plan.out_shape,
    )


def real_bandlimited_conv(
    input: torch.Tensor, operators: RealOperators, bias: torch.Tensor | None, groups: int
) -> torch.Tensor:
    """The band-limited convolution from :func:`real_operators`: real GEMMs, no FFT, no complex.

    ``Y = X * conj(W)`` per kept frequency becomes
    ``Re Y = Xr Wr + Xi Wi`` and ``Im Y = Xi Wr - Xr Wi``.

    Args:
        input: batched ``(B, C_in, *spatial)`` of the size the operators were baked for.
        operators: from :func:`real_operators`.
        bias: optional ``(C_out,)``.
        groups: channel groups (``spec.groups``).

    Returns:
        ``(B, C_out, *out_shape)`` in the operators' dtype.
    """
    return _real_conv(
        input,
        operators.analysis,
        operators.filters,
        operators.synthesis,
        bias,
        groups,
        list(operators.out_shape),
    )


def _real_conv(
    input: torch.Tensor,
    analysis: torch.Tensor,
    filters: torch.Tensor,
    synthesis: torch.Tensor,
    bias: torch.Tensor | None,
    groups: int,
    out_shape: list[int],
) -> torch.Tensor:
    # Plain tensors and lists only: TorchScript compiles this function.
    batch, channels = input.shape[0], input.shape[1]
    kept = analysis.shape[-1]
    flat = input.flatten(2).to(analysis.dtype)
    x_re = (flat @ analysis[0]).reshape(batch, groups, channels // groups, kept)
    x_im = (flat @ analysis[1]).reshape(batch, groups, channels // groups, kept)
    w_re, w_im = filters[0], filters[1]
    y_re = torch.einsum("bgcf,gocf->bgof", x_re, w_re) + torch.einsum("bgcf,gocf->bgof", x_im, w_im)
    y_im = torch.einsum("bgcf,gocf->bgof", x_im, w_re) - torch.einsum("bgcf,gocf->bgof", x_re, w_im)
    out_channels = y_re.shape[1] * y_re.shape[2]
    y = y_re.reshape(batch, out_channels, kept) @ synthesis[0]
    y = y + y_im.reshape(batch, out_channels, kept) @ synthesis[1]
    y = y.reshape([batch, out_channels] + out_shape)  # noqa: RUF005 (TorchScript: no starred)
    if bias is not None:
        y = y + bias.to(y.dtype).reshape([-1] + [1] * len(out_shape))
    return y
