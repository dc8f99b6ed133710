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
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lightning_spectral.functional._checks import (
    check_tensor,
    compute_dtype,
    fft_precision,
    to_tuple,
)

__all__ = ["spectral_pool1d", "spectral_pool2d"]


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


def _spectral_pool(
    input: torch.Tensor,
    output_size: int | Sequence[int],
    cutoff: int | Sequence[int] | None,
    ndim: int,
) -> torch.Tensor:
    check_tensor(input, "input", (ndim + 1, ndim + 2))
    in_size = tuple(input.shape[-ndim:])
    out_size = to_tuple(output_size, ndim, "output_size")
    if any(o > i for o, i in zip(out_size, in_size, strict=True)):
        raise ValueError(
            f"`output_size` must be <= the input size {in_size}, got {tuple(out_size)}"
        )
    cut = out_size if cutoff is None else to_tuple(cutoff, ndim, "cutoff")
    if any(c > o for c, o in zip(cut, out_size, strict=True)):
        raise ValueError(f"`cutoff` must be in [1, output_size={out_size}], got {cutoff!r}")
    with fft_precision(input.device):
        y = input.to(compute_dtype(input.dtype))
        for axis in range(ndim):
            dim = input.dim() - ndim + axis
            y = _pool_last_dim(y.movedim(dim, -1), out_size[axis], cut[axis]).movedim(-1, dim)
    return y.to(input.dtype)


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
    """
    return _spectral_pool(input, output_size, cutoff, ndim=2)
