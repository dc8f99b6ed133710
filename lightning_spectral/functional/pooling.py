"""Spectral pooling (Rippel et al. 2015, Algorithms 1 and 2) and frequency dropout.

Spectral pooling keeps the central ``H x W`` block of the centred spectrum and transforms it
back. The crop is separable, so the 2D operator is the 1D operator applied along the height and
then along the width; each 1D step maps real signals to real signals, which is what Rippel's
``TREATCORNERCASES`` ensures.

**Even output sizes (Nyquist).** An even output size ``n`` has a single Nyquist bin ``n / 2``,
while a longer input has two distinct bins ``+n/2`` and ``-n/2``. Keeping only one of them (the
plain centred crop) would break conjugate symmetry. We *fold* them: the output's Nyquist bin is
``X[+n/2] + X[-n/2] = 2 Re X[n/2]`` (the convention of ``scipy.signal.resample``), so a cosine at
the new Nyquist frequency keeps its amplitude and the output is real. In 2D the corner bin gets
the sum of the four input corners. Pooling to the same size is the identity.

**Normalisation.** The kept coefficients are scaled by ``n / N`` per dimension, so a constant
map keeps its value (amplitude-preserving, like average pooling).

**Backward** is the exact adjoint (zero-padding of the cropped spectrum, with the folded Nyquist
bin copied back to both input bins); autograd derives it from the linear forward.

**Frequency dropout** (``cutoff``): additionally zero every frequency outside the central
``cutoff`` block of the output spectrum, keeping the output size. An odd cutoff ``c`` keeps
``|k| <= (c - 1) / 2``; an even one keeps ``|k| < c / 2`` fully and the pair ``+-c/2`` at half
weight, so the result stays real and exactly ``c`` frequencies' worth of bandwidth is kept per
dimension. ``cutoff == output size`` is no dropout.

**Empty batches.** An input with a zero-size batch (or channel) dimension gives the empty output
of the pooled shape, like ``torch.nn.functional.avg_pool2d``; its gradient is empty too.

**Precision.** The FFT region runs in float32 (float64 stays float64) with autocast off, and the
result returns in the input's dtype: pools are not on autocast's lists, so under
``torch.autocast`` the output dtype is the input dtype, as for ``torch.nn.functional.max_pool2d``.

**Matrix form.** Each 1D step is a real linear map, so pooling a fixed input size is a product
with a real ``(out, in)`` matrix per dimension (:func:`spectral_pool_matrix`). The deployment
form of the modules (``SpectralPool2d.deploy``) uses it, so its graph holds only real tensors.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lightning_spectral.functional._checks import (
    check_tensor,
    fft_call,
    fft_precision,
    to_tuple,
)

__all__ = ["check_pool_sizes", "spectral_pool1d", "spectral_pool2d", "spectral_pool_matrix"]


def _pool_last_dim(x: torch.Tensor, out_size: int, cutoff: int) -> torch.Tensor:
    """1D spectral pooling (+ optional frequency dropout) along the last dimension."""
    in_size = x.shape[-1]
    if out_size == in_size and cutoff == out_size:
        return x
    spectrum = torch.fft.rfft(x, dim=-1)[..., : out_size // 2 + 1]
    if out_size % 2 == 0 and out_size < in_size:
        nyquist = spectrum[..., -1:]
        spectrum = torch.cat([spectrum[..., :-1], (2 * nyquist.real).to(spectrum.dtype)], dim=-1)
    scale = torch.full((spectrum.shape[-1],), out_size / in_size, dtype=x.dtype, device=x.device)
    if cutoff < out_size:
        # Odd c keeps bins 0..(c-1)/2; even c also keeps bin c/2, halved below.
        scale[cutoff // 2 + 1 :] = 0.0
        if cutoff % 2 == 0:
            scale[cutoff // 2] *= 0.5
    return torch.fft.irfft(spectrum * scale, n=out_size, dim=-1)


def check_pool_sizes(
    in_size: Sequence[int],
    output_size: int | Sequence[int],
    cutoff: int | Sequence[int] | None,
    ndim: int,
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Validated output size and cutoff of a spectral pool, one int per dimension.

    The argument rule of :func:`spectral_pool1d` / :func:`spectral_pool2d`, for callers that
    pool on another backend.

    Args:
        in_size: the spatial input size (``ndim`` ints).
        output_size: int or ``ndim`` ints, each in ``[1, input size]``.
        cutoff: int or ``ndim`` ints, each in ``[1, output size]``; ``None`` for no dropout.
        ndim: 1 or 2.

    Returns:
        ``(output_size, cutoff)`` as tuples (``cutoff == output_size`` when ``None``).

    Raises:
        TypeError: for a size that is not an int or a sequence of ``ndim`` ints.
        ValueError: for a size out of its range.

    Example:
        >>> check_pool_sizes((9, 8), 4, (3, 4), ndim=2)
        ((4, 4), (3, 4))
    """
    in_size = tuple(in_size)
    out_size = to_tuple(output_size, ndim, "output_size")
    if any(o > i for o, i in zip(out_size, in_size, strict=True)):
        raise ValueError(
            f"`output_size` must be <= the input size {in_size}, got {tuple(out_size)}"
        )
    cut = out_size if cutoff is None else to_tuple(cutoff, ndim, "cutoff")
    if any(c > o for c, o in zip(cut, out_size, strict=True)):
        raise ValueError(f"`cutoff` must be in [1, output_size={out_size}], got {cutoff!r}")
    return out_size, cut


def _pool_dims(x: torch.Tensor, out_size: tuple[int, ...], cutoff: tuple[int, ...]) -> torch.Tensor:
    """Pool the last ``len(out_size)`` dims of ``x`` one after the other (the crop is separable)."""
    first = x.dim() - len(out_size)
    for axis, (size, cut) in enumerate(zip(out_size, cutoff, strict=True)):
        dim = first + axis
        x = _pool_last_dim(x.movedim(dim, -1), size, cut).movedim(-1, dim)
    return x


def _spectral_pool(
    input: torch.Tensor,
    output_size: int | Sequence[int],
    cutoff: int | Sequence[int] | None,
    ndim: int,
) -> torch.Tensor:
    check_tensor(input, "input", (ndim + 1, ndim + 2))
    out_size, cut = check_pool_sizes(tuple(input.shape[-ndim:]), output_size, cutoff, ndim)
    if input.numel() == 0:
        # The FFT libraries refuse empty batches; a crop of the empty input has the pooled shape
        # and an (empty) gradient path, like torch's pools.
        y = input
        for axis, size in enumerate(out_size):
            y = y.narrow(input.dim() - ndim + axis, 0, size)
        return y.clone()
    # Pools are not on autocast's lists: with autocast off around the FFT region too, the result
    # dtype of `fft_call` is the input's dtype, as for `max_pool2d`.
    with fft_precision(input.device):
        return fft_call(_pool_dims, input, out_size=out_size, cutoff=cut)


def spectral_pool1d(
    input: torch.Tensor, output_size: int, cutoff: int | None = None
) -> torch.Tensor:
    """Spectral pooling of 1D signals.

    Args:
        input: ``(B, C, L)`` or ``(C, L)``.
        output_size: ``L_out <= L`` (odd or even).
        cutoff: frequency-dropout bandwidth in ``[1, L_out]``; ``None`` for none.

    Returns:
        ``(B, C, L_out)`` (or unbatched), real, in the input's dtype.

    Example:
        >>> import torch
        >>> t = torch.arange(16) / 16
        >>> x = torch.cos(2 * torch.pi * 3 * t).expand(2, 1, 16)  # 3 cycles over 16 samples
        >>> y = spectral_pool1d(x, 8)  # the same 3 cycles over 8 samples
        >>> y.shape
        torch.Size([2, 1, 8])
        >>> torch.allclose(y, torch.cos(2 * torch.pi * 3 * torch.arange(8) / 8), atol=1e-6)
        True
    """
    return _spectral_pool(input, output_size, cutoff, ndim=1)


def spectral_pool2d(
    input: torch.Tensor,
    output_size: int | Sequence[int],
    cutoff: int | Sequence[int] | None = None,
) -> torch.Tensor:
    """Spectral pooling of 2D maps (Rippel et al. 2015, Alg. 1; backward is Alg. 2).

    Args:
        input: ``(B, C, H, W)`` or ``(C, H, W)``.
        output_size: ``(H_out, W_out)`` or an int for both, each at most the input size.
        cutoff: frequency-dropout bandwidth (int or pair), each in ``[1, output size]``;
            ``None`` for none.

    Returns:
        ``(B, C, H_out, W_out)`` (or unbatched), real, in the input's dtype.

    Example:
        >>> import torch
        >>> x = torch.randn(8, 3, 32, 32)
        >>> spectral_pool2d(x, (16, 15)).shape
        torch.Size([8, 3, 16, 15])
        >>> spectral_pool2d(torch.full((1, 6, 6), 2.0), 3)  # amplitude-preserving
        tensor([[[2., 2., 2.],
                 [2., 2., 2.],
                 [2., 2., 2.]]])
    """
    return _spectral_pool(input, output_size, cutoff, ndim=2)


def spectral_pool_matrix(
    input_size: int,
    output_size: int,
    cutoff: int | None = None,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The real matrix of 1D spectral pooling of a fixed input length.

    ``spectral_pool1d(x, output_size, cutoff) == x @ M.T``: the operator is real and linear, so
    it is the pooling of the unit vectors, computed here by the FFT reference in float64. The
    2D pool is separable: ``spectral_pool2d(x, (h, w)) == M_h @ x @ M_w.T``.

    Args:
        input_size: ``L >= 1``.
        output_size: ``L_out`` in ``[1, L]``.
        cutoff: frequency-dropout bandwidth in ``[1, L_out]``; ``None`` for none.
        dtype: floating dtype of the result (default: torch's default dtype).
        device: device of the result (default: CPU).

    Returns:
        ``(L_out, L)`` real matrix.

    Example:
        >>> import torch
        >>> m = spectral_pool_matrix(8, 4)
        >>> m.shape
        torch.Size([4, 8])
        >>> x = torch.randn(2, 3, 8)
        >>> torch.allclose(x @ m.T, spectral_pool1d(x, 4), atol=1e-6)
        True
    """
    if isinstance(input_size, bool) or not isinstance(input_size, int):
        raise TypeError(f"`input_size` must be an int, got {input_size!r}")
    if input_size < 1:
        raise ValueError(f"`input_size` must be >= 1, got {input_size}")
    if dtype is None:
        dtype = torch.get_default_dtype()
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"`dtype` must be a floating torch.dtype, got {dtype!r}")
    (out,), (cut,) = check_pool_sizes((input_size,), output_size, cutoff, ndim=1)
    with fft_precision(torch.device(device or "cpu")):
        eye = torch.eye(input_size, dtype=torch.float64, device=device)
        # Row t of the pooled identity is the image of the unit vector e_t: column t of M.
        return _pool_last_dim(eye, out, cut).T.to(dtype).contiguous()
