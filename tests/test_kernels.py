"""Triton kernels vs their torch twins, backend dispatch, and the GPU benchmark's report logic.

Every kernel test runs on the CPU under the Triton interpreter (``TRITON_INTERPRET=1``, set per
test: the kernels pick the interpreter at launch time, see ``kernels/_jit.py``) and, when a CUDA
device is present, compiled for real on it (the ``device`` fixture). Without a GPU the kernels are
also compiled offline for sm_80/sm_90 (``test_kernels_compile_for_cuda``), which catches what the
interpreter does not check (layouts, 3D ``tl.dot`` shapes, shared-memory budget).

The interpreter is slow, so shapes are tiny; float64 keeps the comparisons tight.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_spectral import functional as Fn
from lightning_spectral import kernels
from lightning_spectral.kernels import dispatch

ROOT = Path(__file__).resolve().parents[1]
TRITON_OK, TRITON_REASON = dispatch.triton_status()
needs_triton = pytest.mark.skipif(not TRITON_OK, reason=TRITON_REASON)
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(params=["interpreter", pytest.param("cuda", marks=needs_cuda)])
def device(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> torch.device:
    """CPU tensors under the Triton interpreter, or CUDA tensors with compiled kernels."""
    if not TRITON_OK:
        pytest.skip(TRITON_REASON)
    if request.param == "cuda":
        monkeypatch.delenv("TRITON_INTERPRET", raising=False)
        return torch.device("cuda")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    return torch.device("cpu")


@pytest.fixture(autouse=True)
def _default_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from ``auto`` with no environment override."""
    monkeypatch.delenv(dispatch.ENV_VAR, raising=False)
    monkeypatch.setattr(dispatch, "_setting", None)


def _spy(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> list[int]:
    """Count calls of ``module.name`` (a kernel launcher) while delegating to it."""
    calls: list[int] = []
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def _grads(
    fn: Callable[..., torch.Tensor], inputs: tuple[torch.Tensor, ...], seed: int = 1
) -> tuple[torch.Tensor, ...]:
    """Output and gradients of ``fn(*inputs)`` for a fixed random output gradient."""
    leaves = tuple(t.detach().clone().requires_grad_() for t in inputs)
    out = fn(*leaves)
    generator = torch.Generator().manual_seed(seed)
    # Drawn in double precision so that float32 and float64 runs see the same gradient.
    wide = torch.complex128 if out.is_complex() else torch.float64
    grad = torch.randn(out.shape, dtype=wide, generator=generator).to(out.dtype)
    grads = torch.autograd.grad(out, leaves, grad.to(out.device))
    return (out, *grads)


def _assert_close_all(ours: tuple[torch.Tensor, ...], ref: tuple[torch.Tensor, ...], tol: float):
    for index, (a, b) in enumerate(zip(ours, ref, strict=True)):
        torch.testing.assert_close(a.cpu(), b.cpu(), rtol=tol, atol=tol, msg=f"item {index}")


# ------------------------------------------------------------------------------------------
# Channel contraction
# ------------------------------------------------------------------------------------------


def _contract_operands(
    batch: int,
    in_channels: int,
    out_channels: int,
    groups: int,
    freq: tuple[int, ...],
    layout: str,
    dtype: torch.dtype,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Spectrum ``(B, C, *F)`` and filters ``(O, C/G, *F)`` in a given memory layout."""
    ndim = len(freq)
    x_shape = (batch, in_channels, *freq)
    w_shape = (out_channels, in_channels // groups, *freq)
    if layout == "contiguous":
        return (
            torch.randn(x_shape, dtype=dtype, device=device),
            torch.randn(w_shape, dtype=dtype, device=device),
        )
    if layout == "frequency-major":  # as functional.spectral.band_analysis stores them
        x = torch.randn((*freq, batch, in_channels), dtype=dtype, device=device)
        w = torch.randn((*freq, *w_shape[:2]), dtype=dtype, device=device)
        dims = tuple(range(ndim))
        return x.movedim(dims, tuple(d - ndim for d in dims)), w.movedim(
            dims, tuple(d - ndim for d in dims)
        )
    # "sliced": a band that is a strided slice of a larger one-sided spectrum
    wide = (*x_shape[:-1], x_shape[-1] + 3)
    x = torch.randn(wide, dtype=dtype, device=device)[..., : x_shape[-1]]
    w = torch.randn(w_shape, dtype=dtype, device=device).conj()  # lazily conjugated
    return x, w


CONTRACT_CASES = [
    # batch, in, out, groups, freq, layout
    (2, 3, 5, 1, (7,), "contiguous"),
    (3, 4, 6, 2, (3, 5), "frequency-major"),
    (2, 4, 4, 4, (5, 3), "sliced"),  # depthwise
    (1, 6, 3, 3, (9,), "frequency-major"),
    (5, 2, 2, 1, (1, 1), "contiguous"),  # a single kept coefficient (DC)
]


@needs_triton
@pytest.mark.parametrize("gauss", [False, True], ids=["4mult", "gauss"])
@pytest.mark.parametrize("case", CONTRACT_CASES, ids=lambda c: f"{c[:5]}-{c[5]}")
def test_contract_matches_torch_twin(case, gauss: bool, device: torch.device) -> None:
    from lightning_spectral.kernels.contract_triton import triton_contract

    *sizes, layout = case
    x, w = _contract_operands(*sizes, layout, torch.complex128, device)
    groups = sizes[3]
    ours = _grads(lambda a, b: triton_contract(a, b, groups, gauss=gauss), (x, w))
    ref = _grads(lambda a, b: Fn.spectral_contract(a, b, groups), (x, w))
    _assert_close_all(ours, ref, 1e-10)


@needs_triton
def test_contract_float32_accumulates_accurately(device: torch.device) -> None:
    from lightning_spectral.kernels.contract_triton import triton_contract

    x, w = _contract_operands(4, 40, 8, 1, (3, 2), "frequency-major", torch.complex64, device)
    ours = _grads(lambda a, b: triton_contract(a, b, 1), (x, w))
    ref = _grads(
        lambda a, b: Fn.spectral_contract(a, b, 1), (x.to(torch.complex128), w.to(torch.complex128))
    )
    _assert_close_all(ours, tuple(t.to(torch.complex64) for t in ref), 1e-4)


@needs_triton
@settings(max_examples=5)
@given(
    batch=st.integers(1, 3),
    group_in=st.integers(1, 3),
    group_out=st.integers(1, 3),
    groups=st.integers(1, 3),
    freq=st.lists(st.integers(1, 6), min_size=1, max_size=2).map(tuple),
)
def test_contract_random_shapes(
    batch: int, group_in: int, group_out: int, groups: int, freq: tuple[int, ...]
) -> None:
    from lightning_spectral.kernels.contract_triton import triton_contract

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRITON_INTERPRET", "1")
        x, w = _contract_operands(
            batch,
            group_in * groups,
            group_out * groups,
            groups,
            freq,
            "frequency-major",
            torch.complex128,
            torch.device("cpu"),
        )
        ours = _grads(lambda a, b: triton_contract(a, b, groups), (x, w))
    ref = _grads(lambda a, b: Fn.spectral_contract(a, b, groups), (x, w))
    _assert_close_all(ours, ref, 1e-10)


@needs_triton
def test_contract_gradcheck(device: torch.device) -> None:
    from lightning_spectral.kernels.contract_triton import triton_contract

    x = torch.randn(2, 2, 2, dtype=torch.complex128, device=device, requires_grad=True)
    w = torch.randn(2, 1, 2, dtype=torch.complex128, device=device, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: triton_contract(a, b, 2), (x, w), fast_mode=True)


@needs_triton
def test_contract_output_follows_operand_layout(device: torch.device) -> None:
    from lightning_spectral.kernels.contract_triton import triton_contract

    x, w = _contract_operands(2, 3, 4, 1, (3, 4), "frequency-major", torch.complex128, device)
    x.requires_grad_()
    w.requires_grad_()
    y = triton_contract(x, w, 1)
    # Frequency-major like the spectrum: the inverse transform reads it without a copy.
    assert y.movedim((2, 3), (0, 1)).is_contiguous()
    grad_x, grad_w = torch.autograd.grad(y, (x, w), torch.ones_like(y))
    assert grad_x.stride() == x.stride()
    assert grad_w.stride() == w.stride()


@needs_triton
def test_contract_saves_only_kept_coefficients(device: torch.device) -> None:
    from lightning_spectral.kernels.contract_triton import triton_contract

    full = torch.randn(2, 3, 40, dtype=torch.complex128, device=device)
    x = full[..., :4].requires_grad_()  # a view that keeps the whole spectrum alive
    w = torch.randn(2, 3, 4, dtype=torch.complex128, device=device, requires_grad=True)
    saved: list[int] = []

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        saved.append(tensor.untyped_storage().nbytes())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        triton_contract(x, w, 1)
    assert saved and max(saved) == x.numel() * x.element_size()


@needs_triton
def test_contract_empty_batch(device: torch.device) -> None:
    from lightning_spectral.kernels.contract_triton import triton_contract

    x = torch.randn(0, 2, 3, dtype=torch.complex128, device=device, requires_grad=True)
    w = torch.randn(4, 2, 3, dtype=torch.complex128, device=device, requires_grad=True)
    y = triton_contract(x, w, 1)
    assert y.shape == (0, 4, 3)
    grad_x, grad_w = torch.autograd.grad(y, (x, w), torch.ones_like(y))
    assert grad_x.shape == x.shape
    assert torch.equal(grad_w, torch.zeros_like(w))  # a sum over an empty batch


@needs_triton
def test_contract_rejects_unsupported_operands() -> None:
    from lightning_spectral.kernels.contract_triton import (
        contract_unsupported_reason,
        triton_contract,
    )

    x = torch.randn(2, 4, 3, dtype=torch.complex64)
    w = torch.randn(6, 2, 3, dtype=torch.complex64)
    assert contract_unsupported_reason(x, w, 2) is None
    assert "dtype" in contract_unsupported_reason(x.real, w.real, 2)
    assert "differs" in contract_unsupported_reason(x, w.to(torch.complex128), 2)
    assert "groups=3" in contract_unsupported_reason(x, w, 3)
    assert "frequency" in contract_unsupported_reason(x[..., :2], w, 2)
    cube = torch.randn(2, 4, 3, 3, 3, dtype=torch.complex64)
    assert "1 or 2 frequency dims" in contract_unsupported_reason(cube, cube[:, :2], 2)
    with pytest.raises(ValueError, match="triton_contract"):
        triton_contract(x, w, 3)


@needs_triton
def test_contract_on_cpu_needs_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    from lightning_spectral.kernels.contract_triton import triton_contract

    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    x = torch.randn(2, 4, 3, dtype=torch.complex64)
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
        triton_contract(x, torch.randn(2, 4, 3, dtype=torch.complex64), 1)


# ------------------------------------------------------------------------------------------
# Band-limited convolution through the dispatcher (Triton contraction inside the torch FFTs)
# ------------------------------------------------------------------------------------------

CONV_CASES = [
    # ndim, input, weight, kwargs
    (2, (2, 4, 7, 9), (6, 4, 3, 3), {"padding": 1}),
    (
        2,
        (1, 4, 8, 5),
        (4, 2, 3, 2),
        {"stride": 2, "padding": (1, 0), "dilation": (1, 2), "groups": 2},
    ),
    (2, (3, 6, 6), (3, 1, 3, 3), {"padding": "same", "groups": 3}),  # unbatched depthwise
    (1, (2, 3, 17), (4, 3, 5), {"padding": 2}),
    (1, (2, 3, 16), (6, 1, 4), {"stride": 3, "dilation": 2, "groups": 3}),
]


@needs_triton
@pytest.mark.parametrize("compression", [0.0, 0.5, 0.95])
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"{c[0]}d-{c[1]}-{c[2]}")
def test_bandlimited_conv_matches_functional(
    case, compression: float, device: torch.device, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lightning_spectral.kernels import contract_triton

    ndim, x_shape, w_shape, kwargs = case
    ours_op = kernels.bandlimited_conv1d if ndim == 1 else kernels.bandlimited_conv2d
    ref_op = Fn.bandlimited_conv1d if ndim == 1 else Fn.bandlimited_conv2d
    x = torch.randn(x_shape, dtype=torch.float64, device=device)
    w = torch.randn(w_shape, dtype=torch.float64, device=device)
    b = torch.randn(w_shape[0], dtype=torch.float64, device=device)
    launches = _spy(monkeypatch, contract_triton, "_cbmm")
    with kernels.use_backend("triton"):
        ours = _grads(lambda *t: ours_op(*t, compression=compression, **kwargs), (x, w, b))
    assert len(launches) == 3  # forward, input gradient, filter gradient
    ref = _grads(lambda *t: ref_op(*t, compression=compression, **kwargs), (x, w, b))
    _assert_close_all(ours, ref, 1e-9)


@needs_triton
def test_bandlimited_conv_float32_keeps_dtype(device: torch.device) -> None:
    x = torch.randn(2, 3, 10, 10, device=device)
    w = torch.randn(5, 3, 3, 3, device=device)
    with kernels.use_backend("triton"):
        y = kernels.bandlimited_conv2d(x, w, padding=1, compression=0.5)
    ref = Fn.bandlimited_conv2d(x, w, padding=1, compression=0.5)
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, ref, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------------------
# Spectral pooling
# ------------------------------------------------------------------------------------------

POOL2D_CASES = [
    # input (H, W), output (h, w), cutoff
    ((7, 9), (4, 6), None),  # folds both Nyquists (rows and columns)
    ((8, 6), (5, 4), (3, 2)),  # odd rows, folded columns, odd and even cutoffs
    ((6, 7), (6, 3), (4, 3)),  # rows unchanged (dropout only), odd columns
    ((5, 8), (2, 8), None),  # even row fold, columns unchanged
    ((9, 5), (1, 1), None),  # down to the mean
    ((6, 6), (6, 6), (2, 5)),  # identity size with frequency dropout
]


@needs_triton
@pytest.mark.parametrize("case", POOL2D_CASES, ids=str)
def test_spectral_pool2d_matches_functional(
    case, device: torch.device, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lightning_spectral.kernels import pool_triton

    in_size, out_size, cutoff = case
    x = torch.randn(2, 3, *in_size, dtype=torch.float64, device=device)
    launches = _spy(monkeypatch, pool_triton._PoolSpectrum, "apply")
    with kernels.use_backend("triton"):
        ours = _grads(lambda t: kernels.spectral_pool2d(t, out_size, cutoff), (x,))
    assert len(launches) == 1
    ref = _grads(lambda t: Fn.spectral_pool2d(t, out_size, cutoff), (x,))
    _assert_close_all(ours, ref, 1e-10)


@needs_triton
@pytest.mark.parametrize(
    ("length", "out", "cutoff"),
    [(9, 4, None), (8, 5, 2), (10, 10, 3), (7, 6, 6), (6, 1, None), (11, 8, 5)],
)
def test_spectral_pool1d_matches_functional(
    length: int, out: int, cutoff: int | None, device: torch.device
) -> None:
    x = torch.randn(3, length, dtype=torch.float64, device=device)  # unbatched
    with kernels.use_backend("triton"):
        ours = _grads(lambda t: kernels.spectral_pool1d(t, out, cutoff), (x,))
    ref = _grads(lambda t: Fn.spectral_pool1d(t, out, cutoff), (x,))
    _assert_close_all(ours, ref, 1e-10)


@needs_triton
@settings(max_examples=8)
@given(
    in_size=st.tuples(st.integers(1, 8), st.integers(1, 8)),
    data=st.data(),
)
def test_spectral_pool2d_random_geometry(in_size: tuple[int, int], data: st.DataObject) -> None:
    out_size = tuple(data.draw(st.integers(1, n)) for n in in_size)
    cutoff = data.draw(st.none() | st.tuples(*(st.integers(1, n) for n in out_size)))
    x = torch.randn(1, 2, *in_size, dtype=torch.float64)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRITON_INTERPRET", "1")
        with kernels.use_backend("triton"):
            ours = _grads(lambda t: kernels.spectral_pool2d(t, out_size, cutoff), (x,))
    ref = _grads(lambda t: Fn.spectral_pool2d(t, out_size, cutoff), (x,))
    _assert_close_all(ours, ref, 1e-10)


@needs_triton
@pytest.mark.parametrize(
    ("in_size", "out_size"), [((7, 6), (4, 4)), ((6, 9), (6, 5)), ((1, 8), (1, 4))]
)
def test_pool_kernels_are_adjoint(
    in_size: tuple[int, int], out_size: tuple[int, int], device: torch.device
) -> None:
    """``<P s, g> == <s, P* g>`` (real inner product) for arbitrary complex ``s`` and ``g``."""
    from lightning_spectral.kernels.pool_triton import _PoolSpectrum, axis_weights

    cols = out_size[1] // 2 + 1
    spectrum = torch.randn(3, in_size[0], cols, dtype=torch.complex128, device=device)
    rows_w = axis_weights(in_size[0], out_size[0], out_size[0], True, torch.float64, device)
    cols_w = axis_weights(in_size[1], out_size[1], out_size[1], False, torch.float64, device)
    fold_cols = out_size[1] % 2 == 0 and out_size[1] < in_size[1]
    s = spectrum.clone().requires_grad_()
    pooled = _PoolSpectrum.apply(s, out_size[0], rows_w, cols_w, fold_cols, None)
    g = torch.randn_like(pooled)
    (adjoint,) = torch.autograd.grad(pooled, s, g)
    lhs = (pooled.conj() * g).real.sum()
    rhs = (spectrum.conj() * adjoint).real.sum()
    torch.testing.assert_close(lhs, rhs, rtol=1e-12, atol=1e-12)


@needs_triton
def test_pool_kernel_reads_a_strided_lazily_conjugated_spectrum(device: torch.device) -> None:
    """The launch takes the strides of the resolved operand (resolving a non-dense conjugate
    view copies it into a new layout; the strides of the view would read the copy wrongly)."""
    from lightning_spectral.kernels.pool_triton import (
        _PoolSpectrum,
        axis_weights,
        pool_spectrum_torch,
    )

    wide = torch.randn(3, 7, 9, dtype=torch.complex128, device=device)
    spectrum = wide[:, :, :4].conj()
    rows_w = axis_weights(7, 4, 4, True, torch.float64, device)
    cols_w = axis_weights(8, 6, 6, False, torch.float64, device)
    ours = _PoolSpectrum.apply(spectrum, 4, rows_w, cols_w, True, None)
    twin = pool_spectrum_torch(spectrum, 4, rows_w, cols_w, True)
    torch.testing.assert_close(ours, twin, rtol=1e-12, atol=1e-12)


@needs_triton
def test_spectral_pool_keeps_dtype_and_identity(device: torch.device, monkeypatch) -> None:
    from lightning_spectral.kernels import pool_triton

    x = torch.randn(2, 3, 8, 8, device=device, dtype=torch.float16)
    launches = _spy(monkeypatch, pool_triton._PoolSpectrum, "apply")
    with kernels.use_backend("triton"):
        y = kernels.spectral_pool2d(x, (5, 4), cutoff=(3, 4))
        same = kernels.spectral_pool2d(x, 8)
    assert y.dtype == torch.float16 and y.shape == (2, 3, 5, 4)
    torch.testing.assert_close(y, Fn.spectral_pool2d(x, (5, 4), cutoff=(3, 4)))
    assert torch.equal(same, x)
    assert len(launches) == 1  # the identity does no transform at all


@needs_triton
def test_spectral_pool_empty_batch_under_triton(device: torch.device) -> None:
    x = torch.randn(0, 3, 8, 8, device=device, requires_grad=True)
    with kernels.use_backend("triton"):
        y = kernels.spectral_pool2d(x, (5, 4))
        y1 = kernels.spectral_pool1d(x[:, :, 0], 3)
    assert y.shape == (0, 3, 5, 4) and y1.shape == (0, 3, 3)
    y.sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape


def test_spectral_pool_errors_match_functional(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    x = torch.randn(1, 2, 6, 6)
    with kernels.use_backend("triton" if TRITON_OK else "torch"):
        with pytest.raises(ValueError, match="output_size"):
            kernels.spectral_pool2d(x, (7, 3))
        with pytest.raises(ValueError, match="cutoff"):
            kernels.spectral_pool2d(x, 4, cutoff=5)
        with pytest.raises(ValueError, match="dimensions"):
            kernels.spectral_pool1d(x, 3)


# ------------------------------------------------------------------------------------------
# Offline compilation for real GPU targets (no GPU needed)
# ------------------------------------------------------------------------------------------


def _compile(raw: Callable, pointers: int, dtype: str, constexprs: dict, arch: int, **options):
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    fn = triton.jit(raw)
    signature = {name: "i32" for name in fn.arg_names}
    for name in fn.arg_names[:pointers]:
        signature[name] = f"*{dtype}"
    for name in constexprs:
        signature[name] = "constexpr"
    source = ASTSource(
        fn=fn,
        signature=signature,
        constexprs={(fn.arg_names.index(k),): v for k, v in constexprs.items()},
    )
    return triton.compile(source, target=GPUTarget("cuda", arch, 32), options=options)


def _nvidia_backend() -> bool:
    if not TRITON_OK:
        return False
    import triton.backends

    return "nvidia" in triton.backends.backends


COMPILE_CASES = [
    # dtype, (M, N, K, F), gauss, arch
    ("fp32", (128, 64, 64, 300), False, 90),
    pytest.param("fp32", (8, 8, 8, 300), True, 80, marks=pytest.mark.slow),
    pytest.param("fp64", (128, 128, 128, 40), False, 80, marks=pytest.mark.slow),
]


@pytest.mark.skipif(not _nvidia_backend(), reason="triton's NVIDIA backend is not installed")
@pytest.mark.parametrize(("dtype", "sizes", "gauss", "arch"), COMPILE_CASES)
def test_kernels_compile_for_cuda(
    dtype: str, sizes: tuple[int, int, int, int], gauss: bool, arch: int, monkeypatch
) -> None:
    """The contraction compiles to a cubin at the tiles the launcher picks, within the budget."""
    import triton.language as tl

    from lightning_spectral.kernels import contract_triton as ct

    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    torch_dtype = torch.complex64 if dtype == "fp32" else torch.complex128
    block_m, block_n, block_k, block_f = ct._blocks(*sizes, torch_dtype)
    constexprs = {
        "CONJ_A": False,
        "CONJ_B": True,
        "GAUSS": gauss,
        "ACC_DTYPE": tl.float32 if dtype == "fp32" else tl.float64,
        "PRECISION": "tf32" if dtype == "fp32" else "ieee",
        "BLOCK_F": block_f,
        "BLOCK_M": block_m,
        "BLOCK_N": block_n,
        "BLOCK_K": block_k,
    }
    kernel = _compile(
        ct._cbmm_kernel,
        3,
        dtype,
        constexprs,
        arch,
        num_warps=ct._NUM_WARPS,
        num_stages=ct._NUM_STAGES,
    )
    assert kernel.asm["cubin"]
    assert kernel.metadata.shared <= ct._MAX_SHARED_BYTES


@pytest.mark.skipif(not _nvidia_backend(), reason="triton's NVIDIA backend is not installed")
def test_pool_kernels_compile_for_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    from lightning_spectral.kernels import pool_triton as pt

    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    forward = {"FOLD_ROWS": True, "FOLD_COLS": True, "BLOCK": pt._BLOCK}
    adjoint = {"SAME_ROWS": False, **forward}
    for raw, constexprs in ((pt._pool_forward_kernel, forward), (pt._pool_adjoint_kernel, adjoint)):
        assert _compile(raw, 4, "fp32", constexprs, 80).asm["cubin"]


# ------------------------------------------------------------------------------------------
# Dispatch
# ------------------------------------------------------------------------------------------


def test_auto_uses_torch_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRITON_INTERPRET", "1")  # even where the kernels could run
    monkeypatch.setattr(dispatch, "triton_status", lambda: (True, "triton (test)"))
    calls = _spy(monkeypatch, dispatch, "spectral_contract")
    assert kernels.get_backend() == "auto"
    assert kernels.resolve_backend("cpu") == "torch"
    x, w = torch.randn(2, 3, 8, 8), torch.randn(4, 3, 3, 3)
    y = kernels.bandlimited_conv2d(x, w, padding=1, compression=0.5)
    torch.testing.assert_close(y, Fn.bandlimited_conv2d(x, w, padding=1, compression=0.5))
    assert len(calls) == 1


def test_auto_picks_triton_for_gpu_tensors_only_when_usable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dispatch, "triton_status", lambda: (True, "triton (test)"))
    assert kernels.resolve_backend(torch.device("cuda")) == "triton"
    assert kernels.resolve_backend("cuda:1") == "triton"
    with monkeypatch.context() as patch:  # inductor compiles the torch path itself
        patch.setattr(torch.compiler, "is_compiling", lambda: True)
        assert kernels.resolve_backend("cuda") == "torch"
    monkeypatch.setattr(dispatch, "triton_status", lambda: (False, "triton cannot be imported"))
    assert kernels.resolve_backend("cuda") == "torch"
    with kernels.use_backend("triton"), pytest.raises(RuntimeError, match="cannot be imported"):
        kernels.resolve_backend("cuda")


@pytest.mark.parametrize(("value", "expected"), [("torch", "torch"), (" Triton ", "triton")])
def test_environment_variable_forces_backend(
    value: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dispatch, "triton_status", lambda: (True, "triton (test)"))
    monkeypatch.setenv(kernels.ENV_VAR, value)
    assert kernels.get_backend() == expected
    assert kernels.resolve_backend("cuda") == expected


def test_environment_variable_rejects_unknown_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(kernels.ENV_VAR, "cuda")
    with pytest.raises(ValueError, match=r"LIGHTNING_SPECTRAL_BACKEND.*'cuda'"):
        kernels.bandlimited_conv1d(torch.randn(1, 2, 8), torch.randn(2, 2, 3))


def test_setting_overrides_environment_and_restores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(kernels.ENV_VAR, "triton")
    with kernels.use_backend("torch"):
        assert kernels.get_backend() == "torch"
        with kernels.use_backend(None):
            assert kernels.get_backend() == "triton"
        assert kernels.get_backend() == "torch"
    assert kernels.get_backend() == "triton"
    kernels.set_backend("auto")
    assert kernels.get_backend() == "auto"
    with pytest.raises(ValueError, match="must be one of"):
        kernels.set_backend("fast")


@pytest.mark.parametrize("backend", [None, "torch"])
def test_cpu_dispatch_traces_into_one_graph(backend: str | None, monkeypatch) -> None:
    """The dispatcher (env read, backend choice) adds no graph break under torch.compile."""
    if backend is not None:
        monkeypatch.setenv(kernels.ENV_VAR, backend)
    torch._dynamo.reset()
    try:
        compiled = torch.compile(
            lambda x, w: (
                kernels.bandlimited_conv2d(x, w, padding=1, compression=0.5)
                + kernels.spectral_pool2d(x, 3).sum()
            ),
            backend="eager",
            fullgraph=True,
        )
        x, w = torch.randn(2, 3, 6, 6), torch.randn(3, 3, 3, 3)
        expected = Fn.bandlimited_conv2d(x, w, padding=1, compression=0.5)
        torch.testing.assert_close(compiled(x, w), expected + Fn.spectral_pool2d(x, 3).sum())
    finally:
        torch._dynamo.reset()


@needs_triton
def test_forced_triton_on_cpu_needs_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    x = torch.randn(1, 2, 6, 6)
    with kernels.use_backend("triton"):
        with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
            kernels.bandlimited_conv2d(x, torch.randn(2, 2, 3, 3))
        with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
            kernels.spectral_pool2d(x, 3)


@needs_triton
def test_unsupported_operands_fall_back_or_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    from lightning_spectral.kernels import contract_triton

    monkeypatch.setenv("TRITON_INTERPRET", "1")
    monkeypatch.setattr(contract_triton, "contract_unsupported_reason", lambda *a: "too big")
    monkeypatch.setattr(dispatch, "resolve_backend", lambda device: "triton")
    torch_calls = _spy(monkeypatch, dispatch, "spectral_contract")
    x, w = torch.randn(1, 2, 6, 6), torch.randn(2, 2, 3, 3)
    kernels.bandlimited_conv2d(x, w)  # auto: the torch path takes over
    assert len(torch_calls) == 1
    with kernels.use_backend("triton"), pytest.raises(ValueError, match="too big"):
        kernels.bandlimited_conv2d(x, w)


def test_triton_status_reports_import_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    dispatch.triton_status.cache_clear()
    monkeypatch.setitem(sys.modules, "triton", None)  # makes `import triton` raise ImportError
    try:
        usable, reason = dispatch.triton_status()
        assert not usable and "triton cannot be imported (ModuleNotFoundError" in reason
        assert kernels.resolve_backend("cuda") == "torch"
        with kernels.use_backend("triton"), pytest.raises(RuntimeError, match="cannot be imported"):
            kernels.spectral_pool1d(torch.randn(1, 2, 8), 4)
    finally:
        dispatch.triton_status.cache_clear()


def test_package_imports_without_or_with_broken_triton(tmp_path: Path) -> None:
    broken = tmp_path / "triton"
    broken.mkdir()
    (broken / "__init__.py").write_text("raise RuntimeError('broken install')\n")
    script = textwrap.dedent(
        """
        import sys
        sys.path.insert(0, sys.argv[1])
        import torch
        import lightning_spectral.kernels as k
        from lightning_spectral.kernels import dispatch
        assert "triton" not in sys.modules, "importing the package imported triton"
        x, w = torch.randn(1, 2, 8, 8), torch.randn(3, 2, 3, 3)
        assert k.bandlimited_conv2d(x, w, compression=0.5).shape == (1, 3, 6, 6)
        print(dispatch.triton_status())
        dispatch.triton_status.cache_clear()
        sys.modules["triton"] = None
        print(dispatch.triton_status())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert "RuntimeError: broken install" in lines[0] and "False" in lines[0]
    assert "ModuleNotFoundError" in lines[1] and "False" in lines[1]


# ------------------------------------------------------------------------------------------
# GPU benchmark: importable here, report logic without a GPU
# ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _benchmark(name: str):
    """``benchmarks/<name>.py`` imported as module ``name`` for the duration."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their module by name
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)


@pytest.fixture(scope="module")
def bench_gpu():
    with _benchmark("bench_gpu") as module:
        yield module


def test_bench_gpu_report_and_targets(bench_gpu, tmp_path: Path) -> None:
    shapes = [
        bench_gpu.ConvShape("r18", 2, 8, 16, 16, (8, 8), (3, 3), 1, 1),
        bench_gpu.ConvShape("long", 1, 4, 8, 8, (128,), (64,), 1, "same"),
    ]
    M = bench_gpu.Measurement
    rows = [
        M("r18", "cudnn", None, None, 1.0, 2.0, 10.0),
        M("r18", "torch", 0.5, 0.5, 3.0, 9.0, 12.0),
        M("r18", "triton", 0.5, 0.5, 1.5, 5.0, 11.0),  # 1.8x over torch, 2.5x cuDNN
        M("r18", "fft-conv-pytorch", None, None, 9.0, 20.0, 30.0),  # 4x slower than triton
        M("long", "cudnn", None, None, 2.0, 4.0, 5.0),
        M("long", "torch", 0.5, 0.4, 2.0, 4.0, 6.0),
        M("long", "triton", 0.5, 0.4, 1.0, 3.0, 6.0),  # 1.33x over torch, faster than cuDNN
    ]
    verdicts = {(t, s): (v, r) for t, s, v, r in bench_gpu.check_targets(rows, shapes)}
    assert verdicts[("triton >= 1.5x faster than torch path", "r18")] == ("pass", 1.8)
    assert verdicts[("triton >= 1.5x faster than torch path", "long")][0] == "FAIL"
    assert verdicts[("3x3 within 2x of cuDNN", "r18")] == ("FAIL", 2.5)
    assert verdicts[(">= 3x faster than fft-conv-pytorch", "r18")] == ("pass", 4.0)
    assert verdicts[(">= 3x faster than fft-conv-pytorch", "long")] == ("n/a", None)
    assert verdicts[("faster than cuDNN", "long")] == ("pass", 0.75)
    assert ("faster than cuDNN", "r18") not in verdicts

    steps = [
        bench_gpu.StepMeasurement(128, "cudnn", None, 30.0, 900.0),
        bench_gpu.StepMeasurement(128, "triton", 0.5, 40.0, 700.0),
    ]
    info = {"gpu": "Test GPU", "torch": torch.__version__, "triton": "x"}
    report = bench_gpu.write_results(rows, steps, shapes, info, tmp_path / "gpu-test")
    assert "| r18 | 0.50 | 0.500 | triton | 1.500 | 5.000 | 11.0 |" in report
    assert "| r18 | 0.50 | 1.80 | 2.50 | 4.00 | - |" in report  # ratio row; no gauss measured
    assert "| 128 | triton | 0.50 | 40.00 | 700.0 |" in report
    payload = json.loads((tmp_path / "gpu-test.json").read_text())
    assert payload["machine"]["gpu"] == "Test GPU"
    assert len(payload["layers"]) == len(rows) and payload["resnet18_step"][1]["peak_mib"] == 700.0
    assert (tmp_path / "gpu-test.md").read_text() == report
    output = bench_gpu.default_output("NVIDIA H100 80GB HBM3", quick=False)
    assert output.name == "gpu-nvidia-h100-80gb-hbm3"


def test_profile_gpu_sorts_kernels_and_derives_the_torch_contraction(bench_gpu) -> None:
    with _benchmark("profile_gpu") as profile_gpu:
        kinds = [
            profile_gpu.kernel_kind(name)
            for name in (
                "_cbmm_kernel",
                "void cutlass::Kernel2<cutlass_80_tensorop_s1688gemm_64x64_32x6_nn_align4>",
                "sm90_xmma_fprop_implicit_gemm_tf32f32",
                "void vector_fft<64u, 16u>(kernel_arguments_t)",
                "void at::native::elementwise_kernel<128, 4>",
            )
        ]
        assert kinds == ["contraction", "gemm", "gemm", "fft", "other"]
        P = profile_gpu.Profile
        rows = [
            P("r18", "cudnn", 0.5, 1.0, 0.5, 19, 0.0, 0.4, 0.0, 0.1),
            P("r18", "torch", 0.5, 3.0, 0.6, 28, 0.0, 0.4, 0.0, 0.2),
            P("r18", "triton", 0.5, 4.0, 1.5, 27, 1.0, 0.3, 0.0, 0.2),
            P("stem", "torch", 0.5, 2.0, 0.5, 30, 0.0, 0.3, 0.1, 0.1),  # no Triton row: no ratio
        ]
        # Triton's kernels besides the contraction: 1.5 - 1.0 = 0.5 ms, shared with the torch path,
        # whose contraction is then 0.6 - 0.5 = 0.1 ms.
        ((shape, torch_ms, triton_ms, ratio),) = profile_gpu.contraction_rows(rows)
        assert shape == "r18" and (torch_ms, triton_ms, ratio) == pytest.approx((0.1, 1.0, 0.1))
        report = profile_gpu.markdown(rows, "Test GPU")
        assert (
            "| r18 | torch | 0.50 | 3.000 | 0.600 | 20% | 28 | 0.000 | 0.400 | 0.000 | 0.200 |"
            in report
        )
        assert (
            "| r18 | 0.100 | 1.000 | 0.10 |" in report
            and "| stem | 0." not in report.split("##")[-1]
        )


@needs_triton
def test_bench_gpu_measurement_code_runs(bench_gpu, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every method's call path once, on the CPU (timers stubbed: CUDA events need a GPU)."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    calls: list[str] = []

    def fake_time(fn, warmup, min_run_time):
        fn()
        calls.append(kernels.get_backend())
        return 1.0

    monkeypatch.setattr(bench_gpu, "time_ms", fake_time)
    monkeypatch.setattr(bench_gpu, "peak_mib", lambda fn, device: (fn(), 2.0)[1])
    shape = bench_gpu.ConvShape("tiny", 2, 1, 2, 2, (5, 5), (3, 3), 1, 1)
    rows = bench_gpu.measure_layer(shape, [0.5], 0, 1, device="cpu")
    methods = [row.method for row in rows]
    assert methods[:4] == ["cudnn", "torch", "triton", "triton-gauss"]
    assert "triton" in calls and "torch" in calls  # the backend was forced while timing
    assert rows[2].achieved == Fn.band_for((7, 7), 0.5).compression


@pytest.mark.slow
def test_bench_gpu_resnet_step_code_runs(bench_gpu, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_gpu, "time_ms", lambda fn, warmup, min_run_time: (fn(), 1.0)[1])
    monkeypatch.setattr(bench_gpu, "peak_mib", lambda fn, device: (fn(), 2.0)[1])
    steps = bench_gpu.measure_resnet18([0.5], 2, 0, 1, device="cpu", backends=("torch",))
    assert [(s.method, s.compression) for s in steps] == [("cudnn", None), ("torch", 0.5)]


def test_bench_gpu_exits_clearly_without_a_gpu(bench_gpu, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit, match="needs a CUDA device"):
        bench_gpu.main(["--quick"])
