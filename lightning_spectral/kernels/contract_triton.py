# ruff: noqa: N803  (Triton spells compile-time constants in upper case)
"""Fused frequency-domain channel contraction in Triton (twin of ``functional.spectral_contract``).

For every kept frequency ``f`` and channel group ``g`` the band-limited convolution needs

* forward: ``Y[b, o, f] = sum_i X[b, i, f] * conj(W[o, i, f])``,
* input gradient: ``dX[b, i, f] = sum_o dY[b, o, f] * W[o, i, f]``,
* filter gradient: ``dW[o, i, f] = sum_b conj(dY[b, o, f]) * X[b, i, f]``.

The two gradients are PyTorch's conjugate-Wirtinger convention (the gradient of a real loss ``L``
with respect to ``z`` is ``dL/dRe z + i dL/dIm z``): per frequency ``Y = X @ conj(W)^T``, so
``dX = dY @ W`` and ``dW = conj(dY)^T @ X``. All three are one kernel, a batched complex GEMM
``C[f, g] = op(A[f, g]) @ op(B[f, g])`` with an optional conjugation of either operand.

Why a kernel: the torch twin reshapes and permutes the operands into a batched complex
``matmul`` and permutes the result back, which copies whenever the strides do not line up (groups,
or spectra not stored frequency-major). Here every operand is read in place through its strides
(any layout, 1 or 2 frequency dims), the result is written straight into the layout of the
operand it stands for (frequency-major for the spectra of ``functional.spectral.band_analysis``,
so the inverse transform reads it without a copy), and the real and imaginary planes
(``torch.view_as_real``) are multiplied with tiled ``tl.dot`` accumulating in float32 (float64 for
complex128). A program owns ``BLOCK_F`` frequencies of one group and a ``BLOCK_M x BLOCK_N``
output tile, and uses a batched (3D) ``tl.dot`` over the frequency block.

Two product forms are available: the 4-multiplication form (two accumulators) and the Gauss
3-multiplication form (three real products plus elementwise sums, three accumulators). The default
is the 4-multiplication form, chosen without GPU measurements: by arithmetic intensity the
per-frequency GEMMs of most CNN layers (e.g. 128 x 64 x 64 complex) are near the memory-bound
side on tensor cores, where a saved multiplication buys little, while the Gauss form costs a third
accumulator and loses accuracy by cancellation (notably with TF32 inputs).
``benchmarks/bench_gpu.py`` times both so that the default can follow measurements.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import triton
import triton.language as tl

from lightning_spectral.functional.spectral import spectral_contract
from lightning_spectral.kernels._jit import DualKernel, interpreting
from lightning_spectral.kernels.fallback import FallbackKey, record_failure

__all__ = ["contract_unsupported_reason", "triton_contract"]

# Offsets are int32 inside the kernel: refuse tensors whose real view has 2**31 elements or more.
_MAX_ELEMENTS = 2**31 - 1
# Register budget: BLOCK_F * BLOCK_M * BLOCK_N per accumulator plane (float32; half for float64).
_MAX_ACCUMULATORS = 4096
# Shared-memory budget. Measured on sm_80 and sm_90 builds at num_stages=2, the kernel uses
# 1 to 1.5 times 2 planes * itemsize * BLOCK_F * BLOCK_K * (BLOCK_M + BLOCK_N) bytes (1.25 for the
# 4-multiplication form, which stages the negated imaginary tile, 1.5 with "ieee" precision).
# 64 KiB fits every CUDA GPU that Triton supports (sm_80: 163 KiB, sm_86/89: 99 KiB, sm_90: 227).
_MAX_SHARED_BYTES = 64 * 1024
_SHARED_FACTOR = 1.5
_NUM_STAGES = 2
_NUM_WARPS = 4


def _cbmm_kernel(
    a_ptr,
    b_ptr,
    c_ptr,
    num_freq,
    freq_inner,
    size_m,
    size_n,
    size_k,
    freq_blocks,
    tiles_m,
    tiles_n,
    a_sf1,
    a_sf2,
    a_sg,
    a_sm,
    a_sk,
    b_sf1,
    b_sf2,
    b_sg,
    b_sk,
    b_sn,
    c_sf1,
    c_sf2,
    c_sg,
    c_sm,
    c_sn,
    CONJ_A: tl.constexpr,
    CONJ_B: tl.constexpr,
    GAUSS: tl.constexpr,
    ACC_DTYPE: tl.constexpr,
    PRECISION: tl.constexpr,
    BLOCK_F: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    """``C[f, g, m, n] = sum_k op(A[f, g, m, k]) * op(B[f, g, k, n])`` on interleaved complex.

    Pointers address real views (real part at offset 0, imaginary part at 1); every stride is in
    real elements. The frequency index ``f`` runs over ``num_freq = F1 * freq_inner`` and maps to
    ``(f // freq_inner, f % freq_inner)`` with strides ``(s_f1, s_f2)``, so 1D and 2D bands and
    non-contiguous views are read in place.
    """
    pid = tl.program_id(0)
    # Frequency blocks vary fastest: neighbouring programs read neighbouring memory.
    block_f = pid % freq_blocks
    rest = pid // freq_blocks
    tile_n = rest % tiles_n
    rest = rest // tiles_n
    tile_m = rest % tiles_m
    group = rest // tiles_m

    offs_f = block_f * BLOCK_F + tl.arange(0, BLOCK_F)
    offs_m = tile_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tile_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    f_outer = offs_f // freq_inner
    f_inner = offs_f - f_outer * freq_inner
    mask_f = (offs_f < num_freq)[:, None, None]
    mask_m = (offs_m < size_m)[None, :, None]
    mask_n = (offs_n < size_n)[None, None, :]

    a_rows = a_ptr + group * a_sg + (f_outer * a_sf1 + f_inner * a_sf2)[:, None, None]
    a_rows += offs_m[None, :, None] * a_sm
    b_cols = b_ptr + group * b_sg + (f_outer * b_sf1 + f_inner * b_sf2)[:, None, None]
    b_cols += offs_n[None, None, :] * b_sn

    acc_1 = tl.full((BLOCK_F, BLOCK_M, BLOCK_N), 0.0, ACC_DTYPE)
    acc_2 = tl.full((BLOCK_F, BLOCK_M, BLOCK_N), 0.0, ACC_DTYPE)
    if GAUSS:
        acc_3 = tl.full((BLOCK_F, BLOCK_M, BLOCK_N), 0.0, ACC_DTYPE)
    for k_start in range(0, size_k, BLOCK_K):
        k = k_start + offs_k
        a_ptrs = a_rows + k[None, None, :] * a_sk
        a_mask = mask_f & mask_m & (k < size_k)[None, None, :]
        a_re = tl.load(a_ptrs, mask=a_mask, other=0.0)
        a_im = tl.load(a_ptrs + 1, mask=a_mask, other=0.0)
        b_ptrs = b_cols + k[None, :, None] * b_sk
        b_mask = mask_f & (k < size_k)[None, :, None] & mask_n
        b_re = tl.load(b_ptrs, mask=b_mask, other=0.0)
        b_im = tl.load(b_ptrs + 1, mask=b_mask, other=0.0)
        if CONJ_A:
            a_im = -a_im
        if CONJ_B:
            b_im = -b_im
        # out_dtype must match a float64 accumulator: Triton 3.6 defaults it to float32 and
        # refuses the mismatch; 3.8 infers it from the accumulator.
        if GAUSS:
            # (a + ib)(c + id): k1 = (a + b) c, k2 = a (d - c), k3 = b (c + d);
            # real = k1 - k3, imag = k1 + k2.
            acc_1 = tl.dot(a_re + a_im, b_re, acc_1, input_precision=PRECISION, out_dtype=ACC_DTYPE)
            acc_2 = tl.dot(a_re, b_im - b_re, acc_2, input_precision=PRECISION, out_dtype=ACC_DTYPE)
            acc_3 = tl.dot(a_im, b_re + b_im, acc_3, input_precision=PRECISION, out_dtype=ACC_DTYPE)
        else:
            acc_1 = tl.dot(a_re, b_re, acc_1, input_precision=PRECISION, out_dtype=ACC_DTYPE)
            acc_1 = tl.dot(-a_im, b_im, acc_1, input_precision=PRECISION, out_dtype=ACC_DTYPE)
            acc_2 = tl.dot(a_re, b_im, acc_2, input_precision=PRECISION, out_dtype=ACC_DTYPE)
            acc_2 = tl.dot(a_im, b_re, acc_2, input_precision=PRECISION, out_dtype=ACC_DTYPE)
    if GAUSS:
        out_re = acc_1 - acc_3
        out_im = acc_1 + acc_2
    else:
        out_re = acc_1
        out_im = acc_2

    c_ptrs = c_ptr + group * c_sg + (f_outer * c_sf1 + f_inner * c_sf2)[:, None, None]
    c_ptrs += offs_m[None, :, None] * c_sm + offs_n[None, None, :] * c_sn
    c_mask = mask_f & mask_m & mask_n
    tl.store(c_ptrs, out_re, mask=c_mask)
    tl.store(c_ptrs + 1, out_im, mask=c_mask)


_CBMM = DualKernel(_cbmm_kernel)


def _pow2_clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, triton.next_power_of_2(max(value, 1))))


def _blocks(
    size_m: int, size_n: int, size_k: int, num_freq: int, dtype: torch.dtype
) -> tuple[int, int, int, int]:
    """Tile sizes ``(BLOCK_M, BLOCK_N, BLOCK_K, BLOCK_F)`` within the register/shared budgets.

    Matrix tiles come first (up to 64 x 64 x 32); the frequency block fills what is left of the
    budgets, so small channel counts still give each program a useful amount of work. Any
    layout coalesces: Triton vectorises the loads along whichever dim is contiguous (frequency
    for ``(B, C, *F)`` storage, channel for the frequency-major storage of ``band_analysis``).
    """
    block_m = _pow2_clamp(size_m, 16, 64)
    block_n = _pow2_clamp(size_n, 16, 64)
    block_k = _pow2_clamp(size_k, 16, 32)
    itemsize = 8 if dtype == torch.complex128 else 4
    accumulators = _MAX_ACCUMULATORS * 4 // itemsize
    block_f = _pow2_clamp(num_freq, 1, 16)

    def shared(block_f: int, block_k: int) -> float:
        return _SHARED_FACTOR * 2 * itemsize * block_f * block_k * (block_m + block_n)

    while block_f > 1 and (
        block_f * block_m * block_n > accumulators or shared(block_f, block_k) > _MAX_SHARED_BYTES
    ):
        block_f //= 2
    while block_k > 16 and shared(block_f, block_k) > _MAX_SHARED_BYTES:
        block_k //= 2
    return block_m, block_n, block_k, block_f


def _freq_strides(tensor: torch.Tensor) -> tuple[int, int, int]:
    """``(F2, s_f1, s_f2)`` of the trailing 1 or 2 frequency dims, strides in real elements."""
    if tensor.dim() == 3:
        return tensor.shape[2], 0, 2 * tensor.stride(2)
    return tensor.shape[3], 2 * tensor.stride(2), 2 * tensor.stride(3)


def _resolved(tensor: torch.Tensor) -> torch.Tensor:
    # view_as_real refuses lazily conjugated tensors (autograd may hand us one); resolve before
    # reading strides, since resolving may copy.
    return tensor.resolve_conj().resolve_neg()


def _empty_in_layout(reference: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Uninitialised tensor of ``shape`` whose dims are laid out in ``reference``'s order.

    The kernel writes any strides; matching the operand's layout (frequency-major for the
    spectra of :func:`lightning_spectral.functional.spectral.band_analysis`) lets the next
    transform consume the result without a permute copy.
    """
    order = sorted(range(reference.dim()), key=lambda d: (-reference.stride(d), d))
    buffer = torch.empty([shape[d] for d in order], dtype=reference.dtype, device=reference.device)
    return buffer.permute([order.index(d) for d in range(reference.dim())])


def _compact(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` itself if it owns no more storage than its elements, else a compact copy."""
    if tensor.untyped_storage().nbytes() > tensor.numel() * tensor.element_size():
        return tensor.contiguous()
    return tensor


def _precision(dtype: torch.dtype) -> str:
    """``tl.dot`` input precision following torch's float32 matmul setting."""
    if dtype == torch.complex64 and torch.backends.cuda.matmul.allow_tf32:
        return "tf32"
    return "ieee"


def _cbmm(
    a: torch.Tensor,
    a_strides: tuple[int, int, int],
    b: torch.Tensor,
    b_strides: tuple[int, int, int],
    out: torch.Tensor,
    out_strides: tuple[int, int, int],
    sizes: tuple[int, int, int, int],
    conj_a: bool,
    conj_b: bool,
    gauss: bool,
) -> None:
    """Launch ``out[f, g] = op(a[f, g]) @ op(b[f, g])``.

    ``a``, ``b``, ``out`` are complex tensors ``(d0, d1, *freq)`` with the same frequency shape;
    ``*_strides`` give, in complex elements, the (group, row, column) strides of each operand's
    matrix view; ``sizes`` is ``(groups, M, N, K)``.
    """
    groups, size_m, size_n, size_k = sizes
    if out.numel() == 0:
        return
    if size_k == 0:
        out.zero_()
        return
    freq_inner, a_f1, a_f2 = _freq_strides(a)
    _, b_f1, b_f2 = _freq_strides(b)
    _, c_f1, c_f2 = _freq_strides(out)
    num_freq = math.prod(out.shape[2:])
    block_m, block_n, block_k, block_f = _blocks(size_m, size_n, size_k, num_freq, out.dtype)
    freq_blocks = triton.cdiv(num_freq, block_f)
    tiles_m = triton.cdiv(size_m, block_m)
    tiles_n = triton.cdiv(size_n, block_n)
    grid = (freq_blocks * tiles_m * tiles_n * groups,)
    acc_dtype = tl.float64 if out.dtype == torch.complex128 else tl.float32
    _CBMM[grid](
        torch.view_as_real(a),
        torch.view_as_real(b),
        torch.view_as_real(out),
        num_freq,
        freq_inner,
        size_m,
        size_n,
        size_k,
        freq_blocks,
        tiles_m,
        tiles_n,
        a_f1,
        a_f2,
        *(2 * s for s in a_strides),
        b_f1,
        b_f2,
        *(2 * s for s in b_strides),
        c_f1,
        c_f2,
        *(2 * s for s in out_strides),
        CONJ_A=conj_a,
        CONJ_B=conj_b,
        GAUSS=gauss,
        ACC_DTYPE=acc_dtype,
        PRECISION=_precision(out.dtype),
        BLOCK_F=block_f,
        BLOCK_M=block_m,
        BLOCK_N=block_n,
        BLOCK_K=block_k,
        num_warps=_NUM_WARPS,
        num_stages=_NUM_STAGES,
    )


#: The three products of the module docstring, einsum-like over the letters ``b`` (batch), ``o``
#: (output channel) and ``i`` (input channel): the letter missing from the result is summed, and
#: ``*`` conjugates an operand.
_FORWARD = "bi,oi*->bo"  # Y = X @ conj(W)^T
_GRAD_INPUT = "bo,oi->bi"  # dX = dY @ W
_GRAD_FILTERS = "bo*,bi->oi"  # dW = conj(dY)^T @ X


def _extents(spectrum: torch.Tensor, filters: torch.Tensor, groups: int) -> dict[str, int]:
    """Per-group extent of every letter of the equations, and ``g``: the number of groups."""
    out_channels, group_in = filters.shape[:2]
    return {"g": groups, "b": spectrum.shape[0], "o": out_channels // groups, "i": group_in}


def _matrix_strides(
    tensor: torch.Tensor, letters: str, rows: str, cols: str, extents: dict[str, int]
) -> tuple[int, int, int]:
    """``(group, row, column)`` strides, in complex elements, of one operand's matrix view.

    ``letters`` name the operand's two leading dims. A channel dim is split into the groups:
    ``o`` where the operand has it (the filters ``(O, C / G)`` are blocked along their output
    channels), else ``i``.
    """
    grouped = "o" if "o" in letters else "i"
    return (
        extents[grouped] * tensor.stride(letters.index(grouped)),
        tensor.stride(letters.index(rows)),
        tensor.stride(letters.index(cols)),
    )


def _product(
    equation: str,
    a: torch.Tensor,
    b: torch.Tensor,
    layout: torch.Tensor,
    shape: Sequence[int],
    extents: dict[str, int],
    gauss: bool,
) -> torch.Tensor:
    """One of the three products: ``op(a) @ op(b)`` per frequency and group, as ``equation``.

    Args:
        equation: ``_FORWARD``, ``_GRAD_INPUT`` or ``_GRAD_FILTERS``.
        a: complex ``(d0, d1, *F)`` left operand, any strides.
        b: complex ``(d0, d1, *F)`` right operand, any strides.
        layout: the operand the result stands for; the result takes its memory layout.
        shape: the result's shape ``(d0, d1, *F)``.
        extents: from :func:`_extents`.
        gauss: the 3-multiplication product form.

    Returns:
        Complex tensor of ``shape``.
    """
    operands, result = equation.split("->")
    a_letters, b_letters = operands.split(",")
    conj_a, conj_b = a_letters.endswith("*"), b_letters.endswith("*")
    a_letters, b_letters = a_letters.rstrip("*"), b_letters.rstrip("*")
    (summed,) = set(a_letters) - set(result)
    rows, cols = result
    out = _empty_in_layout(layout, shape)
    _cbmm(
        a,
        _matrix_strides(a, a_letters, rows, summed, extents),
        b,
        _matrix_strides(b, b_letters, summed, cols, extents),
        out,
        _matrix_strides(out, result, rows, cols, extents),
        (extents["g"], extents[rows], extents[cols], extents[summed]),
        conj_a=conj_a,
        conj_b=conj_b,
        gauss=gauss,
    )
    return out


def _torch_grads(
    grad: torch.Tensor,
    spectrum: torch.Tensor,
    filters: torch.Tensor,
    groups: int,
    needs: tuple[bool, bool],
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Both gradients from the torch twin, for a backward whose kernel failed."""
    with torch.enable_grad():
        x = spectrum.detach().requires_grad_(needs[0])
        w = filters.detach().requires_grad_(needs[1])
        leaves = [t for t in (x, w) if t.requires_grad]
        grads = iter(torch.autograd.grad(spectral_contract(x, w, groups), leaves, grad))
    return tuple(next(grads) if need else None for need in needs)


class _Contract(torch.autograd.Function):
    """Autograd wrapper: forward and both backward products run the same Triton kernel.

    With a ``fallback`` key, a failed backward launch recomputes both gradients with the torch
    twin (see :mod:`lightning_spectral.kernels.fallback`); without one it raises.
    """

    @staticmethod
    def forward(
        ctx,
        spectrum: torch.Tensor,
        filters: torch.Tensor,
        groups: int,
        gauss: bool,
        fallback: FallbackKey | None,
    ) -> torch.Tensor:
        ctx.groups, ctx.gauss, ctx.fallback = groups, gauss, fallback
        spectrum, filters = _resolved(spectrum), _resolved(filters)
        extents = _extents(spectrum, filters, groups)
        shape = (spectrum.shape[0], filters.shape[0], *spectrum.shape[2:])
        out = _product(_FORWARD, spectrum, filters, spectrum, shape, extents, gauss)
        # The forward reads views in place, but a view keeps its whole base alive: save only the
        # kept coefficients for backward, as docs/design.md asks (a 1D band is a slice of the
        # rfft).
        ctx.save_for_backward(_compact(spectrum), _compact(filters))
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        spectrum, filters = ctx.saved_tensors
        grad = _resolved(grad)
        needs = (ctx.needs_input_grad[0], ctx.needs_input_grad[1])
        extents = _extents(spectrum, filters, ctx.groups)
        try:
            grad_spectrum = grad_filters = None
            if needs[0]:
                grad_spectrum = _product(
                    _GRAD_INPUT, grad, filters, spectrum, spectrum.shape, extents, ctx.gauss
                )
            if needs[1]:
                grad_filters = _product(
                    _GRAD_FILTERS, grad, spectrum, filters, filters.shape, extents, ctx.gauss
                )
        except Exception as error:
            if ctx.fallback is None:
                raise
            record_failure(ctx.fallback, error, "backward")
            grad_spectrum, grad_filters = _torch_grads(grad, spectrum, filters, ctx.groups, needs)
        return grad_spectrum, grad_filters, None, None, None


def contract_unsupported_reason(
    spectrum: torch.Tensor, filters: torch.Tensor, groups: int
) -> str | None:
    """Why :func:`triton_contract` cannot take these operands, or ``None`` if it can.

    Device placement is the dispatcher's business; this checks dtypes, ranks and sizes.
    """
    if spectrum.dtype not in (torch.complex64, torch.complex128):
        return f"spectrum dtype {spectrum.dtype} is not complex64/complex128"
    if filters.dtype != spectrum.dtype:
        return f"filters dtype {filters.dtype} differs from spectrum dtype {spectrum.dtype}"
    if spectrum.device != filters.device:
        return f"spectrum on {spectrum.device} but filters on {filters.device}"
    if spectrum.dim() not in (3, 4) or filters.dim() != spectrum.dim():
        return (
            f"expected (B, C, *F) and (O, C/G, *F) with 1 or 2 frequency dims, got "
            f"{tuple(spectrum.shape)} and {tuple(filters.shape)}"
        )
    if spectrum.shape[2:] != filters.shape[2:]:
        return f"frequency shapes differ: {tuple(spectrum.shape)} vs {tuple(filters.shape)}"
    out_channels, group_in = filters.shape[:2]
    if groups < 1 or group_in * groups != spectrum.shape[1] or out_channels % groups:
        return (
            f"groups={groups} does not fit spectrum {tuple(spectrum.shape)} and filters "
            f"{tuple(filters.shape)}"
        )
    output_elements = spectrum.shape[0] * out_channels * math.prod(spectrum.shape[2:])
    for name, tensor in (("spectrum", spectrum), ("filters", filters)):
        extent = 1 + sum(
            (size - 1) * stride for size, stride in zip(tensor.shape, tensor.stride(), strict=True)
        )
        if 2 * max(extent, tensor.numel()) > _MAX_ELEMENTS:
            return f"{name} {tuple(tensor.shape)} is too large for 32-bit offsets"
    if 2 * output_elements > _MAX_ELEMENTS:
        return "the output is too large for 32-bit offsets"
    return None


def triton_contract(
    spectrum: torch.Tensor,
    filters: torch.Tensor,
    groups: int,
    *,
    gauss: bool = False,
    fallback: FallbackKey | None = None,
) -> torch.Tensor:
    """Per-frequency channel contraction ``Y[b, o] = sum_i X[b, i] * conj(W[o, i])`` in Triton.

    Same contract as :func:`lightning_spectral.functional.spectral_contract` (differentiable in
    both operands; double backward is not supported). Runs compiled on CUDA tensors, or on any
    device under ``TRITON_INTERPRET=1``.

    Args:
        spectrum: complex ``(B, C_in, *F)`` kept input spectrum, 1 or 2 frequency dims, any
            strides.
        filters: complex ``(C_out, C_in / groups, *F)`` kept filter spectrum.
        groups: number of channel groups.
        gauss: use the 3-multiplication (Gauss) complex product instead of the 4-multiplication
            one.
        fallback: the dispatcher's key in ``auto`` mode: if a backward launch fails, both
            gradients are recomputed on the torch path and the failure is recorded under it
            (see :mod:`lightning_spectral.kernels.fallback`). ``None`` (default): raise.

    Returns:
        Complex ``(B, C_out, *F)``, contiguous.

    Raises:
        ValueError: if the operands are not supported (see :func:`contract_unsupported_reason`).
        RuntimeError: if CPU tensors are given while Triton is not in interpreter mode.
        Exception: whatever Triton raises when the forward kernel cannot compile or launch.
    """
    reason = contract_unsupported_reason(spectrum, filters, groups)
    if reason is not None:
        raise ValueError(f"triton_contract: {reason}")
    if spectrum.device.type != "cuda" and not interpreting():
        raise RuntimeError(
            f"triton_contract: tensors on {spectrum.device} need CUDA, or TRITON_INTERPRET=1 to "
            "run the kernel under the Triton interpreter"
        )
    return _Contract.apply(spectrum, filters, groups, gauss, fallback)
