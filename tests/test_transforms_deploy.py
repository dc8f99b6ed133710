"""``transforms.deploy_`` (``lightning_spectral.transforms.deploy``): whole models to their
all-real deployment form, equal to eager eval, through ``torch.export`` and ONNX."""

from __future__ import annotations

import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lightning_spectral import transforms
from lightning_spectral.models import FCN, RippelGenericCNN
from lightning_spectral.nn import BandLimitedConv2d, BandLimitedConvExport, SpectralPool2d
from lightning_spectral.nn.pooling import DeployedSpectralPool1d, DeployedSpectralPool2d
from lightning_spectral.transforms import SpectralTransformWarning


def _rippel() -> tuple[nn.Module, torch.Tensor]:
    """Rippel's generic CNN, both convs band-limited (another eval compression for the second),
    both max pools spectral; batch norm with non-trivial running statistics."""
    net = RippelGenericCNN(
        in_channels=2, input_size=15, channels=(4, 6), hidden_features=(16, 8), batch_norm=True
    )
    transforms.band_limit_(net, compression=0.5)
    transforms.set_compression_(net, eval_compression=0.75, include="features.4")
    transforms.replace_pooling_(net, dropout_min=0.5)  # dropout: training only
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 1.5)
    return net.eval(), torch.randn(3, 2, 15, 15)


def _fcn() -> tuple[nn.Module, torch.Tensor]:
    """The 1D FCN: "same" padding with even kernels, global average pooling made spectral."""
    net = FCN(in_channels=1, num_classes=3, channels=(4, 6), kernel_sizes=(8, 3))
    transforms.band_limit_(net, compression=0.5)
    transforms.replace_pooling_(net, kinds="adaptive_avg")
    return net.eval(), torch.randn(3, 1, 40)


MODELS = {"rippel-2d": _rippel, "fcn-1d": _fcn}


def _rel(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return float((actual - expected).abs().max() / expected.abs().max().clamp_min(1e-12))


def _deployed(kind: str) -> tuple[nn.Module, nn.Module, torch.Tensor]:
    """(eager eval model, deployed copy, example input)."""
    eager, x = MODELS[kind]()
    deployed, _ = MODELS[kind]()
    deployed.load_state_dict(eager.state_dict())
    deployed.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every layer is reached: no warning
        report = transforms.deploy_(deployed, x)
    assert report.changed and not report.skipped and not report.unchanged
    return eager, deployed, x


def _graph_dtypes_and_targets(program: torch.export.ExportedProgram) -> tuple[set, set]:
    graphs = [
        m.graph for m in program.graph_module.modules() if isinstance(m, torch.fx.GraphModule)
    ]
    values = [node.meta.get("val") for graph in graphs for node in graph.nodes]
    dtypes = {v.dtype for v in values if isinstance(v, torch.Tensor)}
    targets = {str(node.target) for graph in graphs for node in graph.nodes}
    return dtypes, targets


# ---------------------------------------------------------------------------------------------
# Whole models: eager equality, torch.export, ONNX
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", MODELS)
def test_deployed_model_equals_eager_eval_and_exports_with_a_dynamic_batch(kind: str) -> None:
    eager, deployed, x = _deployed(kind)
    kinds = {type(m) for m in deployed.modules()}
    assert BandLimitedConvExport in kinds
    assert kinds & {DeployedSpectralPool1d, DeployedSpectralPool2d}
    assert not transforms.spectral_modules(deployed) and not transforms.spectral_pools(deployed)
    with torch.no_grad():
        assert _rel(deployed(x), eager(x)) <= 1e-4
    batch = torch.export.Dim("batch", min=1, max=64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        program = torch.export.export(deployed, (x,), dynamic_shapes=({0: batch},))
    dtypes, targets = _graph_dtypes_and_targets(program)
    assert dtypes and not any(dtype.is_complex for dtype in dtypes), dtypes
    assert not any("fft" in target for target in targets), targets
    for n in (1, 5):
        other = torch.randn(n, *x.shape[1:])
        with torch.no_grad():
            assert _rel(program.module()(other), eager(other)) <= 1e-4


@pytest.mark.parametrize("kind", MODELS)
def test_onnx_export_with_a_dynamic_batch_runs_in_onnxruntime_equal_to_eager(
    kind: str, tmp_path
) -> None:
    pytest.importorskip("onnxscript", reason="the dynamo ONNX exporter needs onnxscript")
    onnx = pytest.importorskip("onnx", reason="ONNX export needs the `export` extra")
    ort = pytest.importorskip("onnxruntime", reason="ONNX export needs the `export` extra")
    eager, deployed, x = _deployed(kind)
    path = tmp_path / "model.onnx"
    batch = torch.export.Dim("batch", min=1, max=64)
    with warnings.catch_warnings():
        # The exporter's own deprecation notes are not ours to silence; ours must not warn.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            deployed, (x,), str(path), dynamo=True, dynamic_shapes=({0: batch},), verbose=False
        )
    graph = onnx.load(str(path)).graph
    assert not {node.op_type for node in graph.node} & {"DFT", "STFT"}
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for n in (1, 4):
        other = torch.randn(n, *x.shape[1:])
        (y,) = session.run(None, {session.get_inputs()[0].name: other.numpy()})
        with torch.no_grad():
            assert _rel(torch.from_numpy(y), eager(other)) <= 1e-4


@settings(max_examples=10, deadline=None)
@given(
    size=st.integers(6, 14),
    compression=st.sampled_from([0.0, 0.3, 0.6, 0.9]),
    stride=st.sampled_from([1, 2]),
)
def test_deployed_equals_eager_for_sizes_and_compressions(size, compression, stride) -> None:
    net = nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1, stride=stride), nn.ReLU(), nn.AvgPool2d(2, ceil_mode=True)
    )
    transforms.band_limit_(net, compression=0.5, eval_compression=compression)
    transforms.replace_pooling_(net)
    net.eval()
    x = torch.randn(2, 2, size, size + 1)
    with torch.no_grad():
        expected = net(x)
        transforms.deploy_(net, x)
        assert _rel(net(x), expected) <= 1e-4
    # At eval compression 0 the convolution is the torch one (what the layer runs too).
    assert isinstance(net[0], nn.Conv2d if compression == 0.0 else BandLimitedConvExport)


def test_float64_examples_deploy_float64_pools_and_parametrized_weights_are_baked() -> None:
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.MaxPool2d(2)).double()
    transforms.band_limit_(net, compression=0.5)
    transforms.replace_pooling_(net)
    transforms.parametrize_spectral_(net)  # deployed as the current weight, no bake_ needed
    net.eval()
    x = torch.randn(2, 1, 10, 10, dtype=torch.float64)
    with torch.no_grad():
        expected = net(x)
        transforms.deploy_(net, x)
        assert net[1].matrix0.dtype == torch.float64
        torch.testing.assert_close(net(x), expected, rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------------------------------------
# What it refuses, warns about and reports
# ---------------------------------------------------------------------------------------------


def test_a_model_in_training_mode_is_refused_and_left_untouched() -> None:
    net, x = _rippel()
    net.features.train()  # e.g. a submodule switched back
    with pytest.raises(ValueError, match=r"eval mode.*features, features\.0.*model\.eval\(\)"):
        transforms.deploy_(net, x)
    assert isinstance(net.features[0], BandLimitedConv2d)
    assert all(p.dropout_draws == 0 for _, p in transforms.spectral_pools(net))  # no forward


@pytest.mark.parametrize(
    ("model", "example", "message"),
    [
        ("net", [torch.randn(1, 1, 8, 8)], "`example_input` must be a tensor or a tuple"),
        ("net", None, "got NoneType"),
        (lambda x: x, torch.randn(1), "`model` must be an nn.Module, got function"),
    ],
)
def test_bad_argument_types_are_type_errors(model, example, message) -> None:
    module = nn.Sequential(BandLimitedConv2d(1, 1, 3)).eval() if model == "net" else model
    with pytest.raises(TypeError, match=message):
        transforms.deploy_(module, example)


def test_a_layer_seen_with_two_input_sizes_is_named() -> None:
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = BandLimitedConv2d(2, 2, 3, padding=1, compression=0.5)
            self.pool = SpectralPool2d(scale=0.5)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.pool(self.conv(self.conv(x)))[..., :4, :4] + self.conv(x[..., ::2, ::2])

    net = Twice().eval()
    with pytest.raises(ValueError, match=r"layer 'conv' sees two input sizes.*\[8, 8\].*\[4, 4\]"):
        transforms.deploy_(net, torch.randn(1, 2, 8, 8))
    assert isinstance(net.conv, BandLimitedConv2d)  # nothing was swapped
    assert not net.conv._forward_pre_hooks  # and the recording hooks are gone
    # Excluded, it stays the layer; the same size twice is one size.
    report = transforms.deploy_(net, torch.randn(1, 2, 8, 8), exclude="conv")
    assert report.changed == ["pool"] and isinstance(net.conv, BandLimitedConv2d)


def test_layers_the_forward_does_not_reach_are_skipped_with_one_warning() -> None:
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.used = BandLimitedConv2d(1, 2, 3, padding=1, compression=0.5)
            self.spare = BandLimitedConv2d(1, 2, 3, padding=1, compression=0.5)
            self.unused_pool = SpectralPool2d(2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.used(x)

    net = Branchy().eval()
    with pytest.warns(SpectralTransformWarning) as record:
        report = transforms.deploy_(net, torch.randn(1, 1, 6, 6), include=["used", "spare", "*ool"])
    (warning,) = record
    assert "spare (not reached by the forward" in str(warning.message)
    assert "unused_pool (not reached" in str(warning.message)
    assert report.changed == ["used"] and set(report.skipped) == {"spare", "unused_pool"}
    assert isinstance(net.spare, BandLimitedConv2d) and isinstance(net.used, BandLimitedConvExport)


def test_idempotent_patterns_hooks_tuples_and_the_root() -> None:
    net, x = _rippel()
    seen = []
    net.features[0].register_forward_hook(lambda module, args, out: seen.append(type(module)))
    with pytest.warns(SpectralTransformWarning, match=r"include='nope\.\*'.*features\.0"):
        report = transforms.deploy_(net, (x,), include=["features.*", "nope.*"])
    assert report.unmatched == ["include='nope.*'"]
    assert len(report.changed) == 4
    with torch.no_grad():
        net(x)
    # The user's hook ran on the layer in the recording forward, and moved to its form.
    assert seen == [BandLimitedConv2d, BandLimitedConvExport]
    again = transforms.deploy_(net, x)
    assert again.changed == [] and sorted(again.unchanged) == sorted(report.changed)
    root = BandLimitedConv2d(1, 1, 3, compression=0.5).eval()
    with pytest.warns(SpectralTransformWarning, match="root module cannot be replaced"):
        assert transforms.deploy_(root, torch.randn(1, 1, 5, 5)).skipped


def test_a_deployed_model_is_not_in_plans() -> None:
    net, x = _rippel()
    assert transforms.plan_of(net)["band_limit"]
    transforms.deploy_(net, x)
    plan = transforms.plan_of(net)
    assert not plan.get("band_limit") and not plan.get("spectral_pool")


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_torchscript_scripts_the_deployed_model_and_refuses_the_eager_one() -> None:
    eager, deployed, x = _deployed("rippel-2d")
    scripted = torch.jit.script(deployed)
    with torch.no_grad():
        assert _rel(scripted(x), eager(x)) <= 1e-4
    with pytest.raises(TypeError, match=r"cannot be scripted.*transforms\.deploy_"):
        torch.jit.script(eager)
