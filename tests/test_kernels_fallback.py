"""``auto`` falls back to the torch path when a Triton kernel fails; forced ``triton`` raises.

Kernel failures are injected on the CPU: the kernels run under the Triton interpreter
(``TRITON_INTERPRET=1``), ``dispatch.resolve_backend`` is patched to pick Triton for CPU tensors
as ``auto`` does for CUDA ones, and a launch is replaced by one that raises what Triton raises
when a tile does not fit (``OutOfResources``). Rules: ``kernels/fallback.py``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import pytest
import torch

from lightning_spectral import functional as Fn
from lightning_spectral import kernels
from lightning_spectral.kernels import dispatch
from lightning_spectral.kernels.fallback import FallbackKey, record_failure

TRITON_OK, TRITON_REASON = dispatch.triton_status()
pytestmark = pytest.mark.skipif(not TRITON_OK, reason=TRITON_REASON)


def _out_of_resources() -> Exception:
    from triton.runtime.errors import OutOfResources

    return OutOfResources(262144, 232448, "shared memory")


@pytest.fixture(autouse=True)
def _auto_triton_on_cpu(monkeypatch: pytest.MonkeyPatch):
    """``auto`` mode that resolves to Triton (interpreted on CPU); no remembered decisions."""
    monkeypatch.delenv(dispatch.ENV_VAR, raising=False)
    monkeypatch.setattr(dispatch, "_setting", None)
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    monkeypatch.setattr(dispatch, "resolve_backend", lambda device: "triton")
    kernels.clear_fallbacks()
    yield
    kernels.clear_fallbacks()


def _grads(fn: Callable[..., torch.Tensor], *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    leaves = tuple(t.detach().clone().requires_grad_() for t in inputs)
    out = fn(*leaves)
    grad = torch.randn(out.shape, generator=torch.Generator().manual_seed(3), dtype=out.dtype)
    return (out.detach(), *torch.autograd.grad(out, leaves, grad))


def _assert_close_all(ours: tuple[torch.Tensor, ...], ref: tuple[torch.Tensor, ...]) -> None:
    for index, (a, b) in enumerate(zip(ours, ref, strict=True)):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9, msg=f"item {index}")


def _patch_cbmm(monkeypatch: pytest.MonkeyPatch, fail: Callable[[dict], bool]) -> list[str]:
    """Replace the contraction launch: raise when ``fail(kwargs)``; record every launch.

    A launch that does not fail still runs, and then poisons its output with NaN, so a result
    that mixed a Triton half with a torch half would show.
    """
    from lightning_spectral.kernels import contract_triton

    original = contract_triton._cbmm
    launches: list[str] = []

    def launch(*args, **kwargs):
        name = {(False, True): "forward", (False, False): "grad_input"}.get(
            (kwargs["conj_a"], kwargs["conj_b"]), "grad_filters"
        )
        launches.append(name)
        if fail(kwargs | {"name": name, "sizes": args[6]}):
            raise _out_of_resources()
        original(*args, **kwargs)
        if name != "forward":
            args[4].fill_(float("nan"))  # `out`: a torch result must replace it entirely

    monkeypatch.setattr(contract_triton, "_cbmm", launch)
    return launches


CONV = (torch.randn(2, 3, 7, 6, dtype=torch.float64), torch.randn(4, 3, 3, 3, dtype=torch.float64))


def _conv(x: torch.Tensor, w: torch.Tensor, op=kernels.bandlimited_conv2d) -> torch.Tensor:
    return op(x, w, padding=1, compression=0.5)


def test_contract_forward_failure_falls_back_once(monkeypatch: pytest.MonkeyPatch) -> None:
    launches = _patch_cbmm(monkeypatch, lambda k: k["name"] == "forward")
    ref = _grads(lambda x, w: _conv(x, w, Fn.bandlimited_conv2d), *CONV)
    with pytest.warns(kernels.TritonFallbackWarning) as record:
        ours = _grads(_conv, *CONV)
    _assert_close_all(ours, ref)
    assert launches == ["forward"]  # the backward went through torch's autograd
    (warning,) = record
    message = str(warning.message)
    assert "contract" in message and "forward" in message and "OutOfResources" in message
    (key,) = kernels.fallbacks()
    assert str(key.shapes[0]) in message and key.dtype == "torch.complex128"
    # Remembered: the next call with these shapes does not try the kernel, and does not warn.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _assert_close_all(_grads(_conv, *CONV), ref)
    assert launches == ["forward"]


@pytest.mark.parametrize("failing", ["grad_input", "grad_filters"])
def test_contract_backward_failure_recomputes_all_gradients(
    failing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    launches = _patch_cbmm(monkeypatch, lambda k: k["name"] == failing)
    ref = _grads(lambda x, w: _conv(x, w, Fn.bandlimited_conv2d), *CONV)
    with pytest.warns(kernels.TritonFallbackWarning, match=r"backward: OutOfResources"):
        ours = _grads(_conv, *CONV)
    # The launch that succeeded wrote NaN: both gradients come from torch, not half of each.
    _assert_close_all(ours, ref)
    assert launches[0] == "forward" and launches[-1] == failing
    count = len(launches)
    _assert_close_all(_grads(_conv, *CONV), ref)  # remembered: torch end to end
    assert len(launches) == count


def test_contract_failure_of_one_shape_keeps_others_on_triton(monkeypatch) -> None:
    launches = _patch_cbmm(monkeypatch, lambda k: k["sizes"][1] == 2)  # batch 2 fails
    x, w = CONV
    with pytest.warns(kernels.TritonFallbackWarning):
        _conv(x, w)
    _conv(x[:1], w)
    assert launches == ["forward", "forward"]
    assert len(kernels.fallbacks()) == 1


def test_forced_triton_raises_kernel_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    _patch_cbmm(monkeypatch, lambda k: k["name"] == "forward")
    with kernels.use_backend("triton"), pytest.raises(Exception, match="out of resource"):
        _conv(*CONV)
    monkeypatch.undo()  # restore the launch, then fail the backward only
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    _patch_cbmm(monkeypatch, lambda k: k["name"] == "grad_filters")
    x, w = (t.clone().requires_grad_() for t in CONV)
    with kernels.use_backend("triton"):
        y = _conv(x, w)
    # The mode of the forward call decides, even if the backward runs after the context.
    with pytest.raises(Exception, match="out of resource"):
        y.sum().backward()
    assert kernels.fallbacks() == {}


def test_out_of_memory_is_not_a_kernel_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    from lightning_spectral.kernels import contract_triton

    def oom(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (test)")

    monkeypatch.setattr(contract_triton, "_cbmm", oom)
    with pytest.raises(torch.cuda.OutOfMemoryError):
        _conv(*CONV)
    assert kernels.fallbacks() == {}


class _Raising:
    """Stands in for a ``DualKernel``: ``kernel[grid](...)`` raises."""

    def __getitem__(self, grid):
        def launch(*args, **kwargs):
            raise _out_of_resources()

        return launch


POOL = torch.randn(2, 3, 9, 8, dtype=torch.float64)


def test_pool_forward_failure_falls_back_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from lightning_spectral.kernels import pool_triton

    monkeypatch.setattr(pool_triton, "_FORWARD", _Raising())
    ref = _grads(lambda t: Fn.spectral_pool2d(t, (5, 4), (3, 4)), POOL)
    with pytest.warns(kernels.TritonFallbackWarning, match=r"spectral_pool.*\(2, 3, 9, 8\)"):
        ours = _grads(lambda t: kernels.spectral_pool2d(t, (5, 4), (3, 4)), POOL)
    _assert_close_all(ours, ref)
    spy = []
    monkeypatch.setattr(pool_triton, "triton_spectral_pool", lambda *a, **k: spy.append(1))
    kernels.spectral_pool2d(POOL, (5, 4), (3, 4))
    assert spy == []  # remembered: the reference ran without trying Triton


@pytest.mark.parametrize(
    ("size", "out", "cutoff"),
    [
        ((9, 8), (4, 6), None),
        ((8, 6), (5, 4), (3, 2)),
        ((6, 6), (6, 6), (2, 5)),
        ((1, 9), (1, 4), None),
    ],
)
def test_pool_backward_failure_uses_torch_twin(
    size, out, cutoff, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lightning_spectral.kernels import pool_triton

    monkeypatch.setattr(pool_triton, "_ADJOINT", _Raising())
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    ref = _grads(lambda t: Fn.spectral_pool2d(t, out, cutoff), x)
    with pytest.warns(kernels.TritonFallbackWarning, match="backward"):
        ours = _grads(lambda t: kernels.spectral_pool2d(t, out, cutoff), x)
    _assert_close_all(ours, ref)


def test_pool_forced_triton_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    from lightning_spectral.kernels import pool_triton

    monkeypatch.setattr(pool_triton, "_FORWARD", _Raising())
    with kernels.use_backend("triton"), pytest.raises(Exception, match="out of resource"):
        kernels.spectral_pool1d(POOL[0], 5)
    monkeypatch.setattr(
        pool_triton, "_FORWARD", pool_triton.DualKernel(pool_triton._pool_forward_kernel)
    )
    monkeypatch.setattr(pool_triton, "_ADJOINT", _Raising())
    x = POOL.clone().requires_grad_()
    with kernels.use_backend("triton"):
        y = kernels.spectral_pool2d(x, 4)
    with pytest.raises(Exception, match="out of resource"):
        y.sum().backward()
    assert kernels.fallbacks() == {}


@pytest.mark.parametrize(
    ("in_size", "out_size"),
    [((7, 9), (4, 6)), ((8, 6), (5, 4)), ((6, 7), (6, 3)), ((5, 8), (2, 8))],
)
def test_pool_torch_twin_matches_kernel(in_size, out_size) -> None:
    from lightning_spectral.kernels.pool_triton import (
        _PoolSpectrum,
        axis_weights,
        pool_spectrum_torch,
    )

    cols = out_size[1] // 2 + 1
    spectrum = torch.randn(3, in_size[0], cols, dtype=torch.complex128)
    rows_w = axis_weights(in_size[0], out_size[0], 3, True, torch.float64, "cpu")
    cols_w = axis_weights(in_size[1], out_size[1], 2, False, torch.float64, "cpu")
    fold_cols = out_size[1] % 2 == 0 and out_size[1] < in_size[1]
    kernel = _PoolSpectrum.apply(spectrum, out_size[0], rows_w, cols_w, fold_cols, None)
    twin = pool_spectrum_torch(spectrum, out_size[0], rows_w, cols_w, fold_cols)
    torch.testing.assert_close(kernel, twin, rtol=1e-12, atol=1e-12)


def test_record_failure_warns_once_per_key() -> None:
    key = FallbackKey.of("contract", ((1, 2, 3), (2, 2, 3), 1), torch.complex64, "cpu")
    with pytest.warns(kernels.TritonFallbackWarning, match=r"\(1, 2, 3\).*ValueError: bad tile"):
        record_failure(key, ValueError("bad tile\nsecond line"), "forward")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        record_failure(key, RuntimeError("other"), "backward")
    assert kernels.fallbacks() == {key: "forward: ValueError: bad tile"}
    kernels.clear_fallbacks()
    assert kernels.fallbacks() == {}
