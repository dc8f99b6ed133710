"""The Triton path against the torch path, dtype by dtype, on a real GPU (and where cheap, on CPU).

A green run of this module on a CUDA device means the compiled kernels give the torch path's
values and gradients for float32, float16 and bfloat16 inputs, odd sizes, groups and depthwise
layers, compressions 0 and 0.95, non-contiguous inputs, and a whole band-limited ResNet-18, and
that ``auto`` picks them without falling back. Cases cheap enough for the Triton interpreter
also run on the CPU (the ``interpreter`` parameter); the others skip there with the reason.

``benchmarks/gpu_check.sh`` selects the GPU cases with ``-k cuda``: every GPU case has ``cuda``
in its test id (this module's name, or the ``device`` parameter).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable

import pytest
import torch

from lightning_spectral import kernels
from lightning_spectral.kernels import dispatch

TRITON_OK, TRITON_REASON = dispatch.triton_status()
CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA device (Triton compiled for real)")

# Tolerances of the comparison with the torch path, by input dtype. Both paths compute in float32
# (float64 for float64 inputs) and round to the input dtype at the end, so half precision may
# differ by a unit in the last place.
TOLERANCES = {
    torch.float64: 1e-9,
    torch.float32: 2e-4,
    torch.float16: 4e-3,
    torch.bfloat16: 3e-2,
}


@pytest.fixture(params=["interpreter", pytest.param("cuda", marks=needs_cuda)])
def device(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> torch.device:
    """CPU tensors under the Triton interpreter, or CUDA tensors with compiled kernels."""
    if not TRITON_OK:
        pytest.skip(TRITON_REASON)
    if request.param == "cuda":
        monkeypatch.delenv("TRITON_INTERPRET", raising=False)
        # cuBLAS (torch path) and tl.dot (Triton) both in full float32: a like-for-like check.
        monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
        return torch.device("cuda")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    return torch.device("cpu")


@pytest.fixture(autouse=True)
def _clean_dispatch(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(dispatch.ENV_VAR, raising=False)
    monkeypatch.setattr(dispatch, "_setting", None)
    kernels.clear_fallbacks()
    yield
    kernels.clear_fallbacks()


def _launches(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count Triton launches of the contraction and of the pooling step."""
    from lightning_spectral.kernels import contract_triton, pool_triton

    counts = {"contract": 0, "pool": 0}
    cbmm, apply = contract_triton._cbmm, pool_triton._PoolSpectrum.apply

    def count_cbmm(*args, **kwargs):
        counts["contract"] += 1
        return cbmm(*args, **kwargs)

    def count_pool(*args, **kwargs):
        counts["pool"] += 1
        return apply(*args, **kwargs)

    monkeypatch.setattr(contract_triton, "_cbmm", count_cbmm)
    monkeypatch.setattr(pool_triton._PoolSpectrum, "apply", count_pool)
    return counts


def _run(
    backend: str, fn: Callable[..., torch.Tensor], inputs: tuple[torch.Tensor, ...]
) -> tuple[torch.Tensor, ...]:
    """Output and gradients of ``fn(*inputs)`` on ``backend`` for a fixed output gradient."""
    leaves = tuple(t.detach().clone().requires_grad_() for t in inputs)
    with kernels.use_backend(backend):
        out = fn(*leaves)
        generator = torch.Generator().manual_seed(7)
        grad = torch.randn(out.shape, generator=generator).to(out.device, out.dtype)
        grads = torch.autograd.grad(out, leaves, grad)
    return (out, *grads)


def _compare(
    fn: Callable[..., torch.Tensor], inputs: tuple[torch.Tensor, ...], dtype: torch.dtype
) -> None:
    ours = _run("triton", fn, inputs)
    ref = _run("torch", fn, inputs)
    tol = TOLERANCES[dtype]
    for index, (a, b) in enumerate(zip(ours, ref, strict=True)):
        assert a.dtype == b.dtype == dtype, f"item {index}: {a.dtype} vs {b.dtype}"
        assert torch.isfinite(a).all(), f"item {index} has non-finite values"
        scale = max(b.abs().max().item(), 1.0)
        torch.testing.assert_close(a, b, rtol=tol, atol=tol * scale, msg=f"item {index}")


# The interpreter runs these in seconds on tiny sizes; CUDA runs them at the same sizes.
CONV_CASES = [
    # ndim, input, weight, kwargs
    (2, (2, 5, 9, 7), (6, 5, 3, 3), {"padding": 1}),  # odd sizes, odd channels
    (2, (2, 4, 11, 10), (4, 1, 3, 3), {"padding": 1, "groups": 4}),  # depthwise
    (2, (1, 6, 8, 9), (4, 3, 5, 3), {"stride": 2, "padding": (2, 1), "groups": 2}),
    (1, (2, 3, 33), (5, 3, 9), {"padding": "same"}),
    (1, (2, 4, 21), (4, 2, 4), {"stride": 3, "dilation": 2, "groups": 2}),
]
DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def _dtype_id(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _conv_inputs(case, dtype: torch.dtype, device: torch.device, layout: str = "contiguous"):
    ndim, x_shape, w_shape, kwargs = case
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(x_shape, generator=generator)
    w = torch.randn(w_shape, generator=generator) / (w_shape[1] * w_shape[-1] ** ndim) ** 0.5
    b = torch.randn(w_shape[0], generator=generator)
    x, w, b = (t.to(device, dtype) for t in (x, w, b))
    if layout == "channels_last" and ndim == 2:
        x = x.contiguous(memory_format=torch.channels_last)
    elif layout == "strided":  # every other sample and column of a larger tensor
        wide = torch.zeros((2 * x.shape[0], *x.shape[1:-1], 2 * x.shape[-1]), dtype=dtype)
        wide = wide.to(device)
        wide[::2, ..., ::2] = x
        x = wide[::2, ..., ::2]
        assert not x.is_contiguous()
    return (x, w, b), kwargs


def _conv_op(ndim: int) -> Callable[..., torch.Tensor]:
    return kernels.bandlimited_conv1d if ndim == 1 else kernels.bandlimited_conv2d


@pytest.mark.parametrize("compression", [0.0, 0.95])
@pytest.mark.parametrize("dtype", DTYPES, ids=_dtype_id)
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"{c[0]}d-{c[1]}-{c[2]}")
def test_conv_triton_matches_torch(
    case, dtype: torch.dtype, compression: float, device: torch.device, monkeypatch
) -> None:
    if device.type == "cpu" and dtype != torch.float32 and (compression or case[0] == 2):
        pytest.skip("the interpreter checks the half-precision casts on the cheap 1D cases")
    inputs, kwargs = _conv_inputs(case, dtype, device)
    counts = _launches(monkeypatch)
    op = _conv_op(case[0])
    _compare(lambda *t: op(*t, compression=compression, **kwargs), inputs, dtype)
    assert counts["contract"] == 3  # forward, input gradient, filter gradient on Triton


@pytest.mark.parametrize("layout", ["channels_last", "strided"])
@pytest.mark.parametrize("case", CONV_CASES[:2] + CONV_CASES[3:4], ids=lambda c: f"{c[0]}d")
def test_conv_triton_non_contiguous(case, layout: str, device: torch.device) -> None:
    if layout == "channels_last" and case[0] == 1:
        pytest.skip("channels_last is a 2D layout")
    inputs, kwargs = _conv_inputs(case, torch.float32, device, layout)
    op = _conv_op(case[0])
    _compare(lambda *t: op(*t, compression=0.5, **kwargs), inputs, torch.float32)


POOL_CASES = [
    # input (H, W), output, cutoff
    ((9, 7), (4, 6), None),
    ((8, 10), (5, 4), (3, 2)),
    ((7, 7), (7, 7), (2, 5)),  # identity size with frequency dropout
]


@pytest.mark.parametrize("dtype", DTYPES, ids=_dtype_id)
@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_pool_triton_matches_torch(case, dtype: torch.dtype, device: torch.device, monkeypatch):
    in_size, out_size, cutoff = case
    x = torch.randn(2, 3, *in_size, generator=torch.Generator().manual_seed(1)).to(device, dtype)
    counts = _launches(monkeypatch)
    _compare(lambda t: kernels.spectral_pool2d(t, out_size, cutoff), (x,), dtype)
    _compare(lambda t: kernels.spectral_pool1d(t, in_size[1] - 2, 2), (x[..., 0, :],), dtype)
    assert counts["pool"] == 2


@pytest.mark.parametrize("layout", ["channels_last", "strided"])
def test_pool_triton_non_contiguous(layout: str, device: torch.device) -> None:
    x = torch.randn(2, 3, 10, 9, generator=torch.Generator().manual_seed(2)).to(device)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    else:
        x = x.transpose(-1, -2)  # (2, 3, 9, 10)
    assert not x.is_contiguous()
    _compare(lambda t: kernels.spectral_pool2d(t, (5, 6), (4, 5)), (x,), torch.float32)


# ------------------------------------------------------------------------------------------
# GPU only: realistic sizes and the whole model (too slow for the interpreter)
# ------------------------------------------------------------------------------------------


@needs_cuda
@pytest.mark.skipif(not TRITON_OK, reason=TRITON_REASON)
@pytest.mark.parametrize("compression", [0.0, 0.5, 0.95])
@pytest.mark.parametrize(
    "case",
    [
        (2, (16, 64, 32, 32), (64, 64, 3, 3), {"padding": 1}),
        (2, (8, 512, 4, 4), (512, 512, 3, 3), {"padding": 1}),
        (2, (2, 3, 224, 224), (64, 3, 7, 7), {"stride": 2, "padding": 3}),
        (2, (4, 96, 15, 15), (96, 1, 3, 3), {"padding": 1, "groups": 96}),
        (1, (4, 64, 512), (64, 64, 255), {"padding": "same"}),
    ],
    ids=["r18-64x32", "r18-512x4", "stem7x7", "depthwise-odd", "long1d-k255"],
)
def test_cuda_layer_shapes_match_torch(case, compression: float, monkeypatch) -> None:
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    inputs, kwargs = _conv_inputs(case, torch.float32, torch.device("cuda"))
    counts = _launches(monkeypatch)
    op = _conv_op(case[0])
    _compare(lambda *t: op(*t, compression=compression, **kwargs), inputs, torch.float32)
    assert counts["contract"] == 3


def _relative_error(actual: torch.Tensor, exact: torch.Tensor) -> float:
    """``|actual - exact| / |exact|`` (Frobenius norms) against a float64 ``exact``."""
    return float((actual.double() - exact).norm() / exact.norm().clamp_min(1e-30))


@needs_cuda
@pytest.mark.skipif(not TRITON_OK, reason=TRITON_REASON)
@pytest.mark.parametrize("compression", [0.0, 0.5, 0.9])
@pytest.mark.parametrize(
    "case",
    [
        (2, (8, 3, 32, 32), (64, 3, 3, 3), {"padding": 1}),
        (2, (8, 64, 32, 32), (64, 64, 3, 3), {"padding": 1}),
        (2, (8, 128, 16, 16), (128, 128, 3, 3), {"padding": 1}),
        (2, (8, 512, 4, 4), (512, 512, 3, 3), {"padding": 1}),
    ],
    ids=["r18-stem", "r18-64x32", "r18-128x16", "r18-512x4"],
)
def test_cuda_layer_as_accurate_as_torch(
    case, compression: float, monkeypatch, record_property
) -> None:
    """Output and gradients of ResNet-18 layers (batch 8): Triton's float32 error against a
    float64 reference within 3x of the torch path's (on an H200 they agreed to 3%, 2.9e-7 to
    4.9e-7; a TF32-like or a missing-bin error is 100x above it)."""
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    inputs, kwargs = _conv_inputs(case, torch.float32, torch.device("cuda"))
    op = _conv_op(case[0])

    def fn(*t):
        return op(*t, compression=compression, **kwargs)

    exact = _run("torch", fn, tuple(t.double() for t in inputs))
    errors = {}
    for backend in ("triton", "torch"):
        results = _run(backend, fn, inputs)
        errors[backend] = [_relative_error(a, e) for a, e in zip(results, exact, strict=True)]
        record_property(f"max_error_{backend}", max(errors[backend]))
    for index, (ours, theirs) in enumerate(zip(errors["triton"], errors["torch"], strict=True)):
        what = ("output", "input gradient", "weight gradient", "bias gradient")[index]
        assert ours <= 3 * theirs + 1e-6, f"{what}: {ours:.2e} (triton) vs {theirs:.2e} (torch)"


def _resnet(compression: float) -> torch.nn.Module:
    from lightning_spectral.models import ResNet18
    from lightning_spectral.transforms import band_limit_

    torch.manual_seed(0)
    model = ResNet18(num_classes=10)
    band_limit_(model, compression=compression)
    for module in model.modules():
        if hasattr(module, "direct_full_band"):
            module.direct_full_band = False  # compression 0 runs the FFT path too
    return model.cuda()


def _training_step(
    net: torch.nn.Module, backend: str, dtype: torch.dtype, images, labels
) -> list[torch.Tensor]:
    """Loss and every parameter gradient of one forward/backward on ``backend``, under
    ``dtype`` autocast unless ``dtype`` is float32 or float64 (then in the images' dtype)."""
    with (
        kernels.use_backend(backend),
        torch.autocast("cuda", dtype, enabled=dtype not in (torch.float32, torch.float64)),
    ):
        loss = torch.nn.functional.cross_entropy(net(images), labels)
    loss.backward()
    return [loss.detach(), *(p.grad for p in net.parameters())]


@needs_cuda
@pytest.mark.skipif(not TRITON_OK, reason=TRITON_REASON)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=_dtype_id)
@pytest.mark.parametrize("compression", [0.0, 0.5, 0.9])
def test_cuda_resnet18_matches_torch_backend(
    compression: float, dtype: torch.dtype, monkeypatch, record_property
) -> None:
    """A band-limited ResNet-18 forward/backward on Triton is as close to a float64 reference as
    the torch path's: the typical (median) error of the loss and gradients within 3x of the torch
    path's, and none beyond the torch path's worst plus one jump.

    In aggregate because single gradients jump: an activation within rounding of zero flips
    its ReLU mask in one computation and not in another. On an H200 the median gradient errors
    of both backends were 7e-7 to 1e-6 in float32 and 0.04 to 0.09 under bfloat16 autocast, and
    single float32 gradients jumped to 4.7e-4 and 1.4e-3 on Triton (the torch path's worst: 1e-6
    and 2.5e-4; on the CPU the torch path hits the same 4.7e-4 on the stem at compression 0.5).
    Batch statistics over 8 samples spread such a jump over most gradients (median errors 5e-3
    and 6e-5 for the two backends at compression 0.5), hence batch norm on running statistics.
    A wrong forward or input-gradient kernel moves nearly every gradient and fails the median
    bound; an error confined to one layer's weight gradient is left to
    ``test_cuda_layer_as_accurate_as_torch``.
    """
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    model = _resnet(compression)
    for module in model.modules():  # running statistics: see the docstring
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()
    twin, reference = copy.deepcopy(model), copy.deepcopy(model).double()
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(8, 3, 32, 32, generator=generator).cuda()
    labels = torch.randint(0, 10, (8,), generator=generator).cuda()
    exact = _training_step(reference, "torch", torch.float64, images.double(), labels)
    counts = _launches(monkeypatch)
    ours = _training_step(model, "triton", dtype, images, labels)
    assert counts["contract"] == _contract_launches(model)
    theirs = _training_step(twin, "torch", dtype, images, labels)

    def errors(results: list[torch.Tensor]) -> torch.Tensor:
        return torch.tensor([_relative_error(a, e) for a, e in zip(results, exact, strict=True)])

    triton_errors, torch_errors = errors(ours), errors(theirs)
    summary = {
        f"{stat}_error_{name}": float(getattr(values, stat)())
        for name, values in (("triton", triton_errors), ("torch", torch_errors))
        for stat in ("median", "max")
    }
    for key, value in summary.items():
        record_property(key, value)
    assert summary["median_error_triton"] <= 3 * summary["median_error_torch"] + 1e-6, summary
    jump = 1e-2 if dtype == torch.float32 else 5e-2  # a flipped mask, see the docstring
    worst = int(triton_errors.argmax())
    assert summary["max_error_triton"] <= 5 * summary["max_error_torch"] + jump, (
        f"worst: {'loss' if worst == 0 else f'gradient {worst - 1}'}, {summary}"
    )


def _contract_launches(model: torch.nn.Module) -> int:
    """Launches of one training step: forward + 2 gradients per layer, no input gradient for
    the first layer (the images do not require one)."""
    layers = sum(hasattr(module, "direct_full_band") for module in model.modules())
    return 3 * layers - 1


@needs_cuda
@pytest.mark.skipif(not TRITON_OK, reason=TRITON_REASON)
def test_cuda_auto_uses_triton_without_fallback(monkeypatch) -> None:
    """``auto`` on CUDA runs the kernels for a training step, and none of them falls back."""
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    model = _resnet(0.5)
    counts = _launches(monkeypatch)
    images = torch.randn(4, 3, 32, 32, device="cuda")
    pool_input = images.clone().requires_grad_()
    with warnings.catch_warnings():
        warnings.simplefilter("error", kernels.TritonFallbackWarning)
        model(images).sum().backward()
        pooled = kernels.spectral_pool2d(pool_input, (15, 16))
        pooled.sum().backward()
    assert kernels.resolve_backend("cuda") == "triton"
    assert counts["contract"] == _contract_launches(model) and counts["pool"] == 1
    assert kernels.fallbacks() == {}
