"""In-place model rewrites: selection, reports and warnings, idempotence, plans, and the
acceptance checks on torchvision architectures and under torch.compile."""

from __future__ import annotations

import json
import warnings
import zlib

import pytest
import torch
import torchvision
from torch import nn
from torch._dynamo.testing import CompileCounter
from torch.nn.utils import parametrize

from lightning_spectral import transforms as T
from lightning_spectral.nn import (
    BandLimitedConv1d,
    BandLimitedConv2d,
    SpectralPool2d,
    is_spectrally_parametrized,
)


class CustomConv(nn.Conv2d):
    """A user subclass with its own forward: replacing it would drop the behaviour."""

    def forward(self, x):
        return super().forward(x) * 2


class Zoo(nn.Module):
    """Supported and unsupported layers side by side (structure only, no forward)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.body = nn.Sequential(
            nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect"), nn.ReLU(), nn.MaxPool2d(2)
        )
        self.up = nn.ConvTranspose2d(4, 4, 2, stride=2)
        self.vol = nn.Conv3d(1, 1, 3)
        self.lazy = nn.LazyConv2d(4, 3)
        self.custom = CustomConv(4, 4, 3)
        self.line = nn.Conv1d(2, 2, 3)
        self.pool3d = nn.MaxPool3d(2)
        self.indices = nn.MaxPool2d(2, return_indices=True)
        self.widen = nn.AvgPool2d(2, stride=1, padding=1)
        self.gap = nn.AdaptiveAvgPool2d(1)


class Net(nn.Module):
    """A small runnable network."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, padding=1)
        self.norm = nn.BatchNorm2d(6)
        self.pool = nn.MaxPool2d(2)
        self.conv = nn.Conv2d(6, 6, 3, padding=1, groups=3, padding_mode="circular")
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 4))

    def forward(self, x):
        x = self.pool(torch.relu(self.norm(self.stem(x))))
        return self.head(torch.relu(self.conv(x)))


def _transform_warnings(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, T.SpectralTransformWarning)]


# ---------------------------------------------------------------------------------------------
# band_limit_
# ---------------------------------------------------------------------------------------------


def test_band_limit_replaces_supported_convs_and_skips_the_rest_with_one_warning():
    model = Zoo()
    before = {name: p for name, p in model.named_parameters()}
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        report = T.band_limit_(model, compression=0.5)
    assert report.changed == ["stem", "body.0", "line"]
    assert type(model.stem) is BandLimitedConv2d and type(model.line) is BandLimitedConv1d
    assert model.body[0].padding_mode == "reflect"
    assert set(report.skipped) == {"up", "vol", "lazy", "custom"}
    assert "transposed" in report.skipped["up"]
    assert "3D" in report.skipped["vol"]
    assert "lazy" in report.skipped["lazy"]
    assert "own behaviour" in report.skipped["custom"]
    messages = _transform_warnings(record)
    assert len(messages) == 1 and all(name in messages[0] for name in report.skipped)
    # The very same Parameter objects: an optimizer built before still holds them.
    after = dict(model.named_parameters())
    assert all(after[name] is before[name] for name in before)
    keys = set(model.state_dict())
    assert {"stem._extra_state", "body.0._extra_state", "line._extra_state"} <= keys


def test_band_limit_is_idempotent_and_reconfigures():
    model = Net()
    T.band_limit_(model, compression=0.5)
    state = model.state_dict()
    again = T.band_limit_(model, compression=0.5)
    assert again.changed == [] and again.unchanged == ["stem", "conv"]
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items() if "extra" not in k)
    assert model.stem.get_extra_state() == state["stem._extra_state"]
    changed = T.band_limit_(model, compression=0.3, eval_compression=0.1, include="stem")
    assert changed.changed == ["stem"]
    assert (model.stem.compression, model.stem.eval_compression) == (0.3, 0.1)
    assert model.conv.compression == 0.5


def test_energy_mode_reapplication_keeps_the_learned_band():
    model = Net()
    T.band_limit_(model, compression=0.0, mode="energy", energy=0.9)
    model.stem.compression = 0.42  # as update_band() would after an epoch
    report = T.band_limit_(model, compression=0.0, mode="energy", energy=0.9)
    assert model.stem.compression == 0.42 and "stem" in report.unchanged
    T.band_limit_(model, compression=0.0, mode="energy", energy=0.8)  # a new target resets
    assert model.stem.compression == 0.0 and model.stem.energy == 0.8


def test_bad_arguments_fail_before_any_rewrite():
    model = Net()
    with pytest.raises(ValueError, match="compression"):
        T.band_limit_(model, compression=1.0)
    with pytest.raises(ValueError, match="energy"):
        T.band_limit_(model, mode="energy")
    with pytest.raises(ValueError, match="invalid regex"):
        T.band_limit_(model, include="re:(")
    with pytest.raises(TypeError, match="patterns"):
        T.band_limit_(model, include=[3])
    assert type(model.stem) is nn.Conv2d


@pytest.mark.parametrize(
    ("include", "exclude", "expected"),
    [
        (None, None, ["stem", "body.0", "line"]),
        ("body.*", None, ["body.0"]),
        (None, "stem", ["body.0", "line"]),
        ("re:(stem|line)", None, ["stem", "line"]),
        (["stem", "line"], "re:l.*", ["stem"]),
        ("re:body", None, []),  # a regex must match the whole name
    ],
)
def test_include_exclude_patterns(include, exclude, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", T.SpectralTransformWarning)
        report = T.band_limit_(Zoo(), include=include, exclude=exclude)
    assert report.changed == expected


def test_shared_modules_hooks_and_root():
    shared = nn.Conv2d(2, 2, 3, padding=1)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    seen = []
    shared.register_forward_hook(lambda module, args, out: seen.append(type(module).__name__))
    report = T.band_limit_(model, compression=0.0)
    assert report.changed == ["0"]
    assert model[0] is model[2] and type(model[0]) is BandLimitedConv2d
    model(torch.randn(1, 2, 6, 6))
    assert seen == ["BandLimitedConv2d", "BandLimitedConv2d"]
    with pytest.warns(T.SpectralTransformWarning, match="root module"):
        root = T.band_limit_(nn.Conv2d(1, 1, 3))
    assert root.skipped == {"<root>": "the root module cannot be replaced in place"}


def test_set_compression_and_listing():
    model = Net()
    T.band_limit_(model, compression=0.5)
    assert [name for name, _ in T.spectral_modules(model)] == ["stem", "conv"]
    assert T.set_compression_(model, compression=0.25, exclude="conv") == ["stem"]
    assert T.set_compression_(model, compression=0.25, exclude="conv") == []
    assert T.set_compression_(model, eval_compression=0.1) == ["stem", "conv"]
    assert model.conv.compression == 0.5 and model.conv.eval_compression == 0.1
    with pytest.raises(ValueError, match="compression"):
        T.set_compression_(model, compression=2.0)


def test_band_limit_and_parametrization_commute():
    torch.manual_seed(0)
    first, second = Net().double().eval(), Net().double().eval()
    second.load_state_dict(first.state_dict())
    x = torch.randn(2, 3, 12, 12, dtype=torch.float64)
    T.band_limit_(first, compression=0.4)
    T.parametrize_spectral_(first)
    T.parametrize_spectral_(second)
    T.band_limit_(second, compression=0.4)
    assert first.state_dict().keys() == second.state_dict().keys()
    torch.testing.assert_close(first(x), second(x), rtol=0, atol=1e-12)
    assert is_spectrally_parametrized(second.stem) and isinstance(second.stem, BandLimitedConv2d)
    # The original spectral tensor moved over as is (exact, same Parameter object).
    assert T.plan_of(first) == T.plan_of(second)


# ---------------------------------------------------------------------------------------------
# replace_pooling_
# ---------------------------------------------------------------------------------------------


def test_replace_pooling_kinds_skips_and_seeds():
    model = Zoo()
    with pytest.warns(T.SpectralTransformWarning) as record:
        report = T.replace_pooling_(model, dropout_min=0.3, seed=5)
    assert report.changed == ["body.2"]
    assert isinstance(model.body[2], SpectralPool2d) and model.body[2].dropout_min == 0.3
    assert model.body[2].dropout_seed == (5 + zlib.crc32(b"body.2")) % 2**31
    assert set(report.skipped) == {"pool3d", "indices", "widen"}
    assert "3D" in report.skipped["pool3d"]
    assert "return_indices" in report.skipped["indices"]
    assert "upsample" in report.skipped["widen"]
    assert len(_transform_warnings(record)) == 1
    assert type(model.gap) is nn.AdaptiveAvgPool2d  # adaptive pools only when asked
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", T.SpectralTransformWarning)
        adaptive = T.replace_pooling_(model, kinds=["adaptive_avg"])
        again = T.replace_pooling_(model, kinds=["max", "adaptive_avg"])
    assert adaptive.changed == ["gap"] and isinstance(model.gap, SpectralPool2d)
    assert again.changed == [] and set(again.unchanged) == {"body.2", "gap"}
    assert [name for name, _ in T.spectral_pools(model)] == ["body.2", "gap"]
    with pytest.raises(ValueError, match="kinds"):
        T.replace_pooling_(model, kinds=["lp"])


def test_global_average_pool_replacement_keeps_resnet_logits():
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        ref = model(x)
        report = T.replace_pooling_(model, kinds=("adaptive_avg",))
        assert report.changed == ["avgpool"]
        torch.testing.assert_close(model(x), ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())


# ---------------------------------------------------------------------------------------------
# parametrize_spectral_ and bake_
# ---------------------------------------------------------------------------------------------


def test_parametrize_skips_and_bake_restores_plain_weights():
    model = Zoo()
    with pytest.warns(T.SpectralTransformWarning, match="lazy"):
        report = T.parametrize_spectral_(model)
    # Transposed and 3D convolutions have kernel dims last too: they are supported.
    assert set(report.changed) == {"stem", "body.0", "up", "vol", "custom", "line"}
    assert set(report.skipped) == {"lazy"}
    again = T.parametrize_spectral_(model, exclude="lazy")
    assert again.changed == [] and len(again.unchanged) == 6
    assert [name for name, _ in T.spectrally_parametrized(model)] == [
        "stem",
        "body.0",
        "up",
        "vol",
        "custom",
        "line",
    ]
    baked = T.bake_(model)
    assert set(baked.changed) == set(report.changed)
    assert not any(parametrize.is_parametrized(m) for m in model.modules())
    assert type(model.custom) is CustomConv and isinstance(model.stem.weight, nn.Parameter)
    assert T.bake_(model).changed == []


def test_parametrize_refuses_other_parametrizations_and_bake_skips_mixed_chains():
    conv = nn.Conv2d(2, 2, 3)
    parametrize.register_parametrization(conv, "weight", nn.Identity())
    model = nn.Sequential(conv)
    with pytest.warns(T.SpectralTransformWarning, match="Identity"):
        report = T.parametrize_spectral_(model)
    assert "already has parametrizations" in report.skipped["0"]

    mixed = nn.Sequential(nn.Conv2d(2, 2, 3))
    T.parametrize_spectral_(mixed)
    parametrize.register_parametrization(mixed[0], "weight", nn.Identity())
    with pytest.warns(T.SpectralTransformWarning, match="other parametrizations"):
        baked = T.bake_(mixed)
    assert "0" in baked.skipped and is_spectrally_parametrized(mixed[0])


def test_bake_keeps_outputs():
    torch.manual_seed(0)
    model = Net().eval()
    x = torch.randn(2, 3, 12, 12)
    T.band_limit_(model, compression=0.3)
    T.parametrize_spectral_(model)
    before = model(x)
    T.bake_(model)
    assert isinstance(model.stem, BandLimitedConv2d) and not parametrize.is_parametrized(model.stem)
    torch.testing.assert_close(model(x), before, rtol=0, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Plans
# ---------------------------------------------------------------------------------------------


def _rewritten_net() -> Net:
    model = Net()
    T.band_limit_(model, compression=0.5, eval_compression=0.25, exclude="conv")
    T.band_limit_(model, compression=0.0, mode="energy", energy=0.5, include="conv")
    T.replace_pooling_(model, kinds=("max", "adaptive_avg"), dropout_min=0.5)
    T.parametrize_spectral_(model, include="stem")
    return model


def test_plan_round_trip_through_json_restores_identical_outputs():
    torch.manual_seed(0)
    model = _rewritten_net()
    model.train()
    model(torch.randn(4, 3, 12, 12))  # energy statistics, BN statistics, a dropout draw
    model.conv.update_band()
    plan = json.loads(json.dumps(T.plan_of(model)))
    assert plan["format"] == T.PLAN_FORMAT and plan["version"] == T.PLAN_VERSION
    assert set(plan["band_limit"]) == {"stem", "conv"}
    assert set(plan["spectral_pool"]) == {"pool", "head.0"}
    assert plan["spectral_parametrization"] == ["stem"]
    fresh = Net()
    report = T.apply_plan_(fresh, plan)
    assert set(report.changed) >= {"stem", "conv", "pool", "head.0"}
    fresh.load_state_dict(model.state_dict())  # strict
    assert fresh.conv.compression == model.conv.compression > 0  # the learned band
    assert fresh.pool.dropout_draws == model.pool.dropout_draws == 1
    x = torch.randn(2, 3, 12, 12)
    model.eval(), fresh.eval()
    assert torch.equal(fresh(x), model(x))
    assert T.plan_of(fresh) == plan
    assert T.apply_plan_(fresh, plan).changed == []  # idempotent


def test_plan_errors_are_clear():
    plan = T.plan_of(_rewritten_net())
    with pytest.raises(ValueError, match="newer than this lightning-spectral supports"):
        T.apply_plan_(Net(), {**plan, "version": T.PLAN_VERSION + 1})
    with pytest.raises(ValueError, match="not a lightning-spectral plan"):
        T.apply_plan_(Net(), {"version": 1})
    with pytest.raises(ValueError, match=r"does not have: block\.9"):
        T.apply_plan_(Net(), {**plan, "band_limit": {"block.9": plan["band_limit"]["stem"]}})
    with pytest.raises(ValueError, match="cannot band-limit 'norm'"):
        T.apply_plan_(Net(), {**plan, "band_limit": {"norm": plan["band_limit"]["stem"]}})
    with pytest.raises(ValueError, match="spectral pool"):
        T.apply_plan_(Net(), {**plan, "spectral_pool": {"stem": plan["spectral_pool"]["pool"]}})


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
