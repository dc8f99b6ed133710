# ruff: noqa: N803  (Triton spells compile-time constants in upper case)
"""Spectral pooling with one fused Triton pass between the FFTs (twin of
``functional.spectral_pool1d/2d``).

The torch twin pools one axis at a time: per axis an rfft, a crop, a Nyquist fold, a dropout
mask, a scale and an irfft. Here the transforms stay in cuFFT and everything between them is one
elementwise kernel over the one-sided spectrum:

1. ``S = fft_H(rfft_W(x)[..., :w // 2 + 1])``: the width transform keeps only the output's
   columns, so the height transform runs on those alone (``(P, H, w // 2 + 1)``, ``P`` planes).
2. :func:`_pool_forward_kernel` maps ``S`` to the output's one-sided spectrum ``(P, h, w//2+1)``:
   each output row ``r`` (signed frequency ``k = r`` if ``2 r < h`` else ``r - h``) reads input
   row ``k mod H``; for an even ``h < H`` the Nyquist row ``h / 2`` adds input row ``h / 2``
   (the fold ``X[+h/2] + X[-h/2]``); for an even ``w < W`` the Nyquist column ``w / 2`` adds the
   conjugate of the mirrored row, ``conj(S[-j, w/2])``, which is ``X[j, -w/2]`` of the full
   spectrum. The result is multiplied by per-row and per-column weights: the normalisation
   ``h / H`` and ``w / W`` times the frequency-dropout mask (1, 1/2 at an even cutoff's edge,
   0 outside).
3. ``y = irfft2(., s=(h, w))``.

This equals the per-axis operator of the torch twin (folds, masks and scales are separable and
the one-sided output is Hermitian-consistent, so ``irfft2`` drops nothing). 1D is the same with a
single row. The backward of step 2 is its exact (real) adjoint, :func:`_pool_adjoint_kernel`:
every input coefficient gathers the weighted output coefficient it was copied to, plus the
conjugate of the mirrored one in a folded Nyquist column; coefficients outside the crop get zero.
Autograd differentiates the FFTs.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from lightning_spectral.kernels._jit import DualKernel, interpreting
from lightning_spectral.kernels.fallback import FallbackKey, record_failure

__all__ = ["axis_weights", "pool_spectrum_torch", "pool_unsupported_reason", "triton_spectral_pool"]

_BLOCK = 512
_MAX_ELEMENTS = 2**31 - 1


def _pool_forward_kernel(
    x_ptr,
    y_ptr,
    row_w_ptr,
    col_w_ptr,
    total,
    in_rows,
    out_rows,
    cols,
    x_sp,
    x_sr,
    x_sc,
    FOLD_ROWS: tl.constexpr,
    FOLD_COLS: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """``Y[p, r, c] = rw[r] * cw[c] * sum of the input coefficients folded into (r, c)``.

    ``x`` is a strided real view of the complex ``(P, in_rows, cols)`` input (strides in real
    elements); ``y`` is the contiguous complex ``(P, out_rows, cols)`` output.
    """
    idx = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = idx < total
    col = idx % cols
    rest = idx // cols
    row = rest % out_rows
    plane = rest // out_rows
    base = x_ptr + plane * x_sp + col * x_sc
    src = tl.where(2 * row < out_rows, row, row - out_rows + in_rows)
    re = tl.load(base + src * x_sr, mask=mask, other=0.0)
    im = tl.load(base + src * x_sr + 1, mask=mask, other=0.0)
    if FOLD_COLS:
        # X[j, -w/2] = conj(S[-j, w/2]) for a real signal.
        nyq_col = mask & (col == cols - 1)
        mirror = (in_rows - src) % in_rows
        re += tl.load(base + mirror * x_sr, mask=nyq_col, other=0.0)
        im -= tl.load(base + mirror * x_sr + 1, mask=nyq_col, other=0.0)
    if FOLD_ROWS:
        # Output Nyquist row h/2 (read from input row H - h/2 above) also gets input row h/2.
        nyq_row = mask & (2 * row == out_rows)
        half = out_rows // 2
        re += tl.load(base + half * x_sr, mask=nyq_row, other=0.0)
        im += tl.load(base + half * x_sr + 1, mask=nyq_row, other=0.0)
        if FOLD_COLS:
            nyq_corner = nyq_row & (col == cols - 1)
            mirror_half = in_rows - half
            re += tl.load(base + mirror_half * x_sr, mask=nyq_corner, other=0.0)
            im -= tl.load(base + mirror_half * x_sr + 1, mask=nyq_corner, other=0.0)
    weight = tl.load(row_w_ptr + row, mask=mask, other=0.0)
    weight *= tl.load(col_w_ptr + col, mask=mask, other=0.0)
    tl.store(y_ptr + 2 * idx, re * weight, mask=mask)
    tl.store(y_ptr + 2 * idx + 1, im * weight, mask=mask)


def _pool_adjoint_kernel(
    g_ptr,
    out_ptr,
    row_w_ptr,
    col_w_ptr,
    total,
    in_rows,
    out_rows,
    cols,
    g_sp,
    g_sr,
    g_sc,
    SAME_ROWS: tl.constexpr,
    FOLD_ROWS: tl.constexpr,
    FOLD_COLS: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """Adjoint of :func:`_pool_forward_kernel`: ``(P, out_rows, cols)`` -> ``(P, in_rows, cols)``.

    ``g`` is a strided real view of the complex output gradient; the result is contiguous.
    """
    idx = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = idx < total
    col = idx % cols
    rest = idx // cols
    row = rest % in_rows
    plane = rest // in_rows
    base = g_ptr + plane * g_sp + col * g_sc
    # Pass 0 gathers the output coefficient that input row `row` was copied to; with a folded
    # Nyquist column, pass 1 adds, in that column, the conjugate of the one the mirrored row
    # went to (adjoint of the conj in the fold).
    for fold in tl.static_range(1 + FOLD_COLS):
        src = row if fold == 0 else (in_rows - row) % in_rows
        # Output row that reads input row `src` (and whether one does).
        if SAME_ROWS:
            dst = src
            hit = mask
        else:
            freq = tl.where(2 * src <= in_rows, src, src - in_rows)
            mag = tl.where(freq < 0, -freq, freq)
            dst = tl.where(freq < 0, freq + out_rows, freq)
            hit = mask & (2 * mag < out_rows)
            if FOLD_ROWS:
                dst = tl.where(2 * mag == out_rows, out_rows // 2, dst)
                hit = hit | (mask & (2 * mag == out_rows))
        if fold == 1:
            hit = hit & (col == cols - 1)
        weight = tl.load(row_w_ptr + dst, mask=hit, other=0.0)
        part_re = weight * tl.load(base + dst * g_sr, mask=hit, other=0.0)
        part_im = weight * tl.load(base + dst * g_sr + 1, mask=hit, other=0.0)
        if fold == 0:
            re, im = part_re, part_im
        else:
            re += part_re
            im -= part_im
    col_weight = tl.load(col_w_ptr + col, mask=mask, other=0.0)
    tl.store(out_ptr + 2 * idx, re * col_weight, mask=mask)
    tl.store(out_ptr + 2 * idx + 1, im * col_weight, mask=mask)


_FORWARD = DualKernel(_pool_forward_kernel)
_ADJOINT = DualKernel(_pool_adjoint_kernel)


def axis_weights(
    in_size: int,
    out_size: int,
    cutoff: int,
    two_sided: bool,
    dtype: torch.dtype,
    device: torch.device | str,
) -> torch.Tensor:
    """Per-bin weight of one axis: normalisation ``out / in`` times the frequency-dropout mask.

    Follows :mod:`lightning_spectral.functional.pooling`: with ``cutoff < out_size``, frequency
    ``k`` keeps weight 1 when ``2 |k| < cutoff``, 1/2 when ``2 |k| == cutoff`` (even cutoff) and
    0 otherwise.

    Args:
        in_size: input size ``N`` of the axis.
        out_size: output size ``n``.
        cutoff: frequency-dropout bandwidth in ``[1, n]``.
        two_sided: ``True`` for an axis stored with all ``n`` bins (rows, signed frequency
            ``r`` or ``r - n``), ``False`` for the one-sided last axis (``n // 2 + 1`` bins).
        dtype: real dtype of the result.
        device: device of the result.

    Returns:
        Real ``(n,)`` or ``(n // 2 + 1,)`` tensor.
    """
    count = out_size if two_sided else out_size // 2 + 1
    index = torch.arange(count, device=device)
    freq = torch.where(2 * index < out_size, index, out_size - index) if two_sided else index
    weight = torch.full((count,), out_size / in_size, dtype=dtype, device=device)
    if cutoff < out_size:
        keep = torch.where(2 * freq < cutoff, 1.0, torch.where(2 * freq == cutoff, 0.5, 0.0))
        weight = weight * keep.to(dtype)
    return weight


def pool_spectrum_torch(
    spectrum: torch.Tensor,
    out_rows: int,
    row_weights: torch.Tensor,
    col_weights: torch.Tensor,
    fold_cols: bool,
) -> torch.Tensor:
    """Torch twin of :func:`_pool_forward_kernel` (differentiable by autograd).

    The kernel's backward falls back to autograd through this function when the adjoint kernel
    cannot launch, and the tests check the kernel against it.

    Args:
        spectrum: complex ``(P, H, cols)`` one-sided spectrum of the input, ``cols = w // 2 + 1``.
        out_rows: output rows ``h <= H``.
        row_weights: real ``(h,)`` per-row weights (:func:`axis_weights`, two-sided).
        col_weights: real ``(cols,)`` per-column weights (one-sided).
        fold_cols: fold the Nyquist column (an even ``w`` below the input width).

    Returns:
        Complex ``(P, h, cols)``.

    Example:
        >>> import torch
        >>> s = torch.fft.rfft(torch.arange(6.0))[None, None]  # (1, 1, 4): one row
        >>> ones = torch.ones(1), torch.ones(4)
        >>> torch.allclose(pool_spectrum_torch(s, 1, *ones, False), s)
        True
    """
    in_rows, cols = spectrum.shape[1], spectrum.shape[2]
    rows = torch.arange(out_rows, device=spectrum.device)
    src = torch.where(2 * rows < out_rows, rows, rows - out_rows + in_rows)
    out = spectrum[:, src, :]
    half = out_rows // 2
    fold_rows = out_rows % 2 == 0 and out_rows < in_rows
    at_half = (rows == half).to(spectrum.real.dtype)[None, :]
    if fold_rows:  # the Nyquist row h/2 also gets input row h/2
        out = out + at_half[..., None] * spectrum[:, half : half + 1, :]
    if fold_cols:  # the Nyquist column gets X[j, -w/2] = conj(S[-j, w/2])
        mirrored = spectrum[:, (in_rows - src) % in_rows, -1].conj()
        if fold_rows:
            mirrored = mirrored + at_half * spectrum[:, in_rows - half, -1:].conj()
        last = (torch.arange(cols, device=spectrum.device) == cols - 1).to(at_half.dtype)
        out = out + mirrored[..., None] * last
    return out * (row_weights[:, None] * col_weights[None, :])


def _launch(
    kernel: DualKernel,
    source: torch.Tensor,
    rows: int,
    in_rows: int,
    out_rows: int,
    row_weights: torch.Tensor,
    col_weights: torch.Tensor,
    fold_cols: bool,
    **constexprs: bool,
) -> torch.Tensor:
    """Launch the forward or the adjoint kernel: complex ``(P, *, cols)`` -> ``(P, rows, cols)``.

    ``source`` is read in place through its strides; the result is contiguous. ``rows`` is
    ``out_rows`` for the forward and ``in_rows`` for the adjoint.
    """
    source = source.resolve_conj().resolve_neg()  # view_as_real refuses lazy conjugates
    planes, _, cols = source.shape
    out = torch.empty((planes, rows, cols), dtype=source.dtype, device=source.device)
    total = out.numel()
    if total:
        kernel[(triton.cdiv(total, _BLOCK),)](
            torch.view_as_real(source),
            torch.view_as_real(out),
            row_weights,
            col_weights,
            total,
            in_rows,
            out_rows,
            cols,
            *(2 * s for s in source.stride()),
            FOLD_ROWS=out_rows % 2 == 0 and out_rows < in_rows,
            FOLD_COLS=fold_cols,
            BLOCK=_BLOCK,
            **constexprs,
        )
    return out


class _PoolSpectrum(torch.autograd.Function):
    """The fused crop/fold/mask/scale step; backward is its adjoint kernel.

    With a ``fallback`` key, a failed adjoint launch computes the gradient by autograd through
    :func:`pool_spectrum_torch` (see :mod:`lightning_spectral.kernels.fallback`); without one it
    raises.
    """

    @staticmethod
    def forward(
        ctx,
        spectrum: torch.Tensor,
        out_rows: int,
        row_weights: torch.Tensor,
        col_weights: torch.Tensor,
        fold_cols: bool,
        fallback: FallbackKey | None,
    ) -> torch.Tensor:
        in_rows = spectrum.shape[1]
        ctx.geometry = (in_rows, out_rows, fold_cols)
        ctx.fallback = fallback
        ctx.save_for_backward(row_weights, col_weights)
        return _launch(
            _FORWARD, spectrum, out_rows, in_rows, out_rows, row_weights, col_weights, fold_cols
        )

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        in_rows, out_rows, fold_cols = ctx.geometry
        row_weights, col_weights = ctx.saved_tensors
        planes, _, cols = grad.shape
        try:
            out = _launch(
                _ADJOINT,
                grad,
                in_rows,
                in_rows,
                out_rows,
                row_weights,
                col_weights,
                fold_cols,
                SAME_ROWS=in_rows == out_rows,
            )
        except Exception as error:
            if ctx.fallback is None:
                raise
            record_failure(ctx.fallback, error, "backward")
            # The step is linear: its gradient does not depend on the point it is taken at.
            with torch.enable_grad():
                point = torch.zeros(
                    (planes, in_rows, cols), dtype=grad.dtype, device=grad.device
                ).requires_grad_()
                pooled = pool_spectrum_torch(point, out_rows, row_weights, col_weights, fold_cols)
                (out,) = torch.autograd.grad(pooled, point, grad)
        return out, None, None, None, None, None


def pool_unsupported_reason(input: torch.Tensor) -> str | None:
    """Why :func:`triton_spectral_pool` cannot take ``input``, or ``None`` if it can."""
    # The one-sided spectrum has at most numel + planes * rows complex elements (x2 reals).
    if 4 * input.numel() + 4 > _MAX_ELEMENTS:
        return f"input {tuple(input.shape)} is too large for 32-bit offsets"
    return None


def triton_spectral_pool(
    input: torch.Tensor,
    out_size: tuple[int, ...],
    cutoff: tuple[int, ...],
    *,
    fallback: FallbackKey | None = None,
) -> torch.Tensor:
    """Spectral pooling of the last ``len(out_size)`` (1 or 2) dims through the fused kernel.

    Arguments are already validated (see :func:`lightning_spectral.kernels.spectral_pool2d`).

    Args:
        input: real ``(..., N)`` or ``(..., H, W)`` in float32 or float64 (the compute dtype).
        out_size: ``(n,)`` or ``(h, w)``, each at most the input size.
        cutoff: per-dim frequency-dropout bandwidth, each in ``[1, out]`` (``out`` = none).
        fallback: the dispatcher's key in ``auto`` mode: if the adjoint launch fails in
            backward, the gradient is computed on the torch path and the failure is recorded
            under it (see :mod:`lightning_spectral.kernels.fallback`). ``None`` (default): raise.

    Returns:
        Real ``(..., *out_size)`` in the input's dtype.

    Raises:
        RuntimeError: if a CPU tensor is given while Triton is not in interpreter mode.
        Exception: whatever Triton raises when the forward kernel cannot compile or launch.
    """
    if input.device.type != "cuda" and not interpreting():
        raise RuntimeError(
            f"triton_spectral_pool: a tensor on {input.device} needs CUDA, or TRITON_INTERPRET=1"
            " to run the kernel under the Triton interpreter"
        )
    ndim = len(out_size)
    lead = input.shape[:-ndim]
    in_w, out_w, cut_w = input.shape[-1], out_size[-1], cutoff[-1]
    in_h, out_h, cut_h = (input.shape[-2], out_size[0], cutoff[0]) if ndim == 2 else (1, 1, 1)
    cols = out_w // 2 + 1
    x = input.reshape(-1, in_h, in_w)
    spectrum = torch.fft.rfft(x, dim=-1)[..., :cols]
    if ndim == 2:
        spectrum = torch.fft.fft(spectrum, dim=-2)
    real = input.dtype
    row_weights = axis_weights(in_h, out_h, cut_h, True, real, input.device)
    col_weights = axis_weights(in_w, out_w, cut_w, False, real, input.device)
    fold_cols = out_w % 2 == 0 and out_w < in_w
    pooled = _PoolSpectrum.apply(spectrum, out_h, row_weights, col_weights, fold_cols, fallback)
    if ndim == 2:
        y = torch.fft.irfft2(pooled, s=(out_h, out_w))
    else:
        y = torch.fft.irfft(pooled.squeeze(-2), n=out_w)
    return y.reshape(*lead, *out_size)
