"""Acceptance of the transforms on torchvision architectures and under torch.compile (the
per-module tests are in ``tests/test_transforms_<module>.py``)."""

from __future__ import annotations

import json

import pytest
import torch
import torchvision
from torch import nn
from torch._dynamo.testing import CompileCounter

from lightning_spectral import transforms as T

# ---------------------------------------------------------------------------------------------
# Acceptance: torchvision architectures
# ---------------------------------------------------------------------------------------------


def _output_shapes(model: nn.Module, x: torch.Tensor) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}

    def record(name):
        def hook(module, args, out) -> None:  # returns None: the output is left alone
            shapes.setdefault(name, tuple(out.shape))

        return hook

    handles = [module.register_forward_hook(record(name)) for name, module in model.named_modules()]
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    return shapes


ARCHITECTURES = ["resnet18", "vgg11_bn", "mobilenet_v3_small", "shufflenet_v2_x0_5"]


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_torchvision_acceptance(arch):
    """band_limit_ at 0 and parametrize_spectral_ keep the logits, replace_pooling_ keeps every
    output shape, compression 0.5 trains, and the plan restores identical outputs."""
    torch.manual_seed(0)
    build = getattr(torchvision.models, arch)
    model = build(weights=None).eval()
    x = torch.randn(1, 3, 32, 32)
    shapes = _output_shapes(model, x)
    with torch.no_grad():
        ref = model(x)
    tolerance = 1e-4 * ref.abs().max().item()

    report = T.band_limit_(model, compression=0.0)
    assert report.changed and not report.skipped
    for _, module in T.spectral_modules(model):
        module.direct_full_band = False  # the FFT path, not the direct fallback
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref, rtol=0, atol=tolerance)

    report = T.parametrize_spectral_(model)
    assert len(report.changed) == len(T.spectral_modules(model))
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref, rtol=0, atol=tolerance)

    T.replace_pooling_(model)
    after = _output_shapes(model, x)  # (parametrizations add modules of their own)
    assert {name: after[name] for name in shapes} == shapes

    T.set_compression_(model, compression=0.5)
    model.train()
    model(torch.randn(2, 3, 32, 32)).square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)

    model.eval()
    plan = json.loads(json.dumps(T.plan_of(model)))
    fresh = build(weights=None)
    T.apply_plan_(fresh, plan)
    fresh.load_state_dict(model.state_dict())
    fresh.eval()
    for _, module in T.spectral_modules(fresh):
        module.direct_full_band = False
    with torch.no_grad():
        assert torch.equal(fresh(x), model(x))


# ---------------------------------------------------------------------------------------------
# Acceptance: torch.compile
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def torch_backend(monkeypatch):
    monkeypatch.setenv("LIGHTNING_SPECTRAL_BACKEND", "torch")
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _small_rewritten() -> nn.Module:
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 2, 3)
    )
    T.band_limit_(model, compression=0.5, eval_compression=0.25)
    T.replace_pooling_(model)
    T.parametrize_spectral_(model)
    return model


@pytest.mark.slow
def test_compile_matches_eager_with_one_graph_per_mode(torch_backend):
    torch.manual_seed(0)
    model = _small_rewritten()
    counter = CompileCounter()
    compiled = torch.compile(model, backend=counter)
    x = torch.randn(2, 3, 12, 12)
    for training in (True, False, True, False):
        model.train(training)
        torch.testing.assert_close(compiled(x), model(x))
    assert counter.frame_count == 2


@pytest.mark.slow
def test_compile_inductor_runs_and_matches_eager(torch_backend):
    torch.manual_seed(0)
    model = _small_rewritten().eval()
    x = torch.randn(2, 3, 12, 12)
    torch.testing.assert_close(torch.compile(model)(x), model(x), rtol=1e-4, atol=1e-5)
