"""Band-limited convolution (Dziedzic et al. 2019) through real FFTs.

The operator is ``irfft(band(rfft(x)) * conj(band(rfft(w))))``, cropped to the valid outputs
and subsampled by the stride: a cross-correlation, as ``torch.nn.functional.conv*``. The FFT size
is the padded input size; since only the valid (non-wrapping) outputs are read, no extra padding
is needed. Compression keeps the low-frequency band of :mod:`lightning_spectral.functional.band`
for the input spectrum and the filter spectrum. The transforms of
:mod:`lightning_spectral.functional.spectral` carry explicit adjoints as their backward (the
synthesis backward is the analysis of the output gradient on the band, the analysis backward the
zero-filled inverse), so all three gradients live on the kept frequencies, only band-sized
spectra are saved, and the backward computes in float32/float64 even inside an autocast region.

At ``compression=0`` the result equals ``F.conv1d`` / ``F.conv2d`` up to floating-point error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from lightning_spectral.functional._checks import (
    check_tensor,
    compute_dtype,
    fft_precision,
    to_tuple,
)
from lightning_spectral.functional.band import band_for, check_compression
from lightning_spectral.functional.spectral import (
    band_analysis,
    band_synthesis,
    filter_spectrum_fm,
    spectral_contract,
)

__all__ = ["bandlimited_conv1d", "bandlimited_conv2d", "conv_padding"]

Padding = int | Sequence[int] | str


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


def _bandlimited_conv(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: int | Sequence[int],
    padding: Padding,
    dilation: int | Sequence[int],
    groups: int,
    compression: float,
    ndim: int,
    contract: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor] = spectral_contract,
) -> torch.Tensor:
    """Shared 1D/2D implementation; ``contract`` lets ``kernels`` swap in a fused contraction."""
    check_tensor(input, "input", (ndim + 1, ndim + 2))
    check_tensor(weight, "weight", (ndim + 2,))
    compression = check_compression(compression)
    stride_t = to_tuple(stride, ndim, "stride")
    dilation_t = to_tuple(dilation, ndim, "dilation")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"`groups` must be a positive int, got {groups!r}")
    unbatched = input.dim() == ndim + 1
    x = input.unsqueeze(0) if unbatched else input
    in_channels, out_channels = x.shape[1], weight.shape[0]
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
    if bias is not None:
        check_tensor(bias, "bias", (1,))
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(f"`bias` must have shape ({out_channels},), got {tuple(bias.shape)}")
    kernel_size = tuple(weight.shape[2:])
    pads = conv_padding(padding, kernel_size, dilation_t, stride_t)

    real = compute_dtype(torch.promote_types(input.dtype, weight.dtype))
    complex_dtype = torch.complex128 if real == torch.float64 else torch.complex64
    with fft_precision(x.device):
        x = x.to(real)
        # The padding is never materialised: it is a phase offset in the analysis matrices.
        signal_shape = tuple(
            n + before + after for n, (before, after) in zip(x.shape[2:], pads, strict=True)
        )
        out_shape = []
        for size, k, d, s in zip(signal_shape, kernel_size, dilation_t, stride_t, strict=True):
            span = d * (k - 1) + 1
            if size < span:
                raise ValueError(
                    f"padded input size {signal_shape} is smaller than the dilated kernel "
                    f"{kernel_size} (dilation {dilation_t})"
                )
            out_shape.append((size - span) // s + 1)
        band = band_for(signal_shape, compression)
        # Frequency-major spectra, handed to `contract` as (B, C, *F) / (O, C/G, *F) views.
        spectrum = band_analysis(x, band, origin=[before for before, _ in pads])
        filters = filter_spectrum_fm(weight.to(real), band, dilation_t, complex_dtype)
        freq_dims = tuple(range(ndim))
        product = contract(
            spectrum.movedim(freq_dims, tuple(d - ndim for d in freq_dims)),
            filters.movedim(freq_dims, tuple(d - ndim for d in freq_dims)),
            groups,
        )
        # Inverse only at the strided, cropped output positions.
        y = band_synthesis(
            product.movedim(tuple(range(2, 2 + ndim)), freq_dims), band, out_shape, stride_t
        )
        if bias is not None:
            y = y + bias.to(real).view(-1, *([1] * ndim))
    y = y.to(input.dtype)
    return y.squeeze(0) if unbatched else y


def bandlimited_conv1d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int | Sequence[int] = 1,
    padding: Padding = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    compression: float = 0.0,
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
        compression: fraction of one-sided coefficients of the padded length discarded from the
            input, filter and output-gradient spectra, in ``[0, 1)``.

    Returns:
        ``(B, C_out, L_out)`` (or ``(C_out, L_out)``), in the input's dtype.
    """
    return _bandlimited_conv(
        input, weight, bias, stride, padding, dilation, groups, compression, ndim=1
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
        compression: fraction of the ``Hp x (Wp // 2 + 1)`` one-sided coefficients of the padded
            map discarded from the input, filter and output-gradient spectra, in ``[0, 1)``.

    Returns:
        ``(B, C_out, H_out, W_out)`` (or unbatched), in the input's dtype.
    """
    return _bandlimited_conv(
        input, weight, bias, stride, padding, dilation, groups, compression, ndim=2
    )
