"""Deployment of band-limited convolutions (``BandLimitedConv{1,2}d.deploy``): the real-only
form, ``torch.export`` without warnings, ONNX through onnxruntime, TorchScript. Whole models
(``transforms.deploy_``) are in ``tests/test_transforms_deploy.py``."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
from torch import nn

from lightning_spectral import transforms
from lightning_spectral.nn import BandLimitedConv1d, BandLimitedConv2d, BandLimitedConvExport

CASES = {
    "2d-stride-pad": (BandLimitedConv2d, {"padding": 1, "stride": 2}, (12, 10)),
    "2d-groups-dilation": (BandLimitedConv2d, {"groups": 2, "dilation": 2, "padding": 2}, (9, 9)),
    "2d-reflect-same": (BandLimitedConv2d, {"padding": "same", "padding_mode": "reflect"}, (8, 8)),
    "1d-stride": (BandLimitedConv1d, {"padding": 2, "stride": 3}, (20,)),
}


def _layer(name: str, compression: float = 0.5) -> tuple[nn.Module, tuple[int, ...]]:
    cls, kwargs, size = CASES[name]
    torch.manual_seed(0)
    layer = cls(4, 6, 3, compression=0.2, eval_compression=compression, **kwargs)
    return layer.eval(), size


class _Net(nn.Module):
    """A small band-limited model: conv, batch norm, ReLU, strided conv, pooling, linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = BandLimitedConv2d(3, 8, 3, padding=1, compression=0.5)
        self.norm = nn.BatchNorm2d(8)
        self.conv2 = BandLimitedConv2d(8, 8, 3, padding=1, stride=2, compression=0.75)
        self.head = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.norm(self.conv1(x)))
        x = torch.relu(self.conv2(x))
        return self.head(x.mean((-2, -1)))


def _net() -> tuple[nn.Module, nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    eager = _Net()
    eager.norm.running_mean.uniform_(-0.5, 0.5)
    eager.eval()
    x = torch.randn(3, 3, 16, 16)
    deployed = copy.deepcopy(eager)
    transforms.deploy_(deployed, x)
    return eager, deployed, x


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


@pytest.mark.parametrize("name", CASES)
def test_deployed_conv_equals_the_eval_layer(name: str) -> None:
    layer, size = _layer(name)
    x = torch.randn(2, 4, *size)
    deployed = layer.deploy(size)
    assert isinstance(deployed, BandLimitedConvExport)
    assert all(not b.is_complex() for b in deployed.buffers())
    with torch.no_grad():
        expected = layer(x)
        assert _rel(deployed(x), expected) <= 1e-5
        assert _rel(deployed(x[0]), expected[0]) <= 1e-5  # unbatched
        assert deployed(x[:0]).shape == (0, *expected.shape[1:])  # empty batch


def test_deploy_at_compression_zero_is_the_torch_conv() -> None:
    layer, size = _layer("2d-stride-pad", compression=0.0)
    deployed = layer.deploy(size)
    assert type(deployed) is nn.Conv2d and torch.equal(deployed.weight, layer.weight)
    with pytest.raises(TypeError, match="`input_size` must be an int or a sequence of 2 ints"):
        layer.deploy((8, 8, 8))
    with pytest.raises(ValueError, match="`input_size` must be >= 1"):
        layer.deploy((0, 8))


@pytest.mark.parametrize("name", CASES)
def test_torch_export_has_real_tensors_only_and_no_warnings(name: str) -> None:
    layer, size = _layer(name)
    x = torch.randn(2, 4, *size)
    deployed = layer.deploy(size)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        program = torch.export.export(deployed, (x,))
    dtypes = {
        node.meta["val"].dtype
        for node in program.graph.nodes
        if isinstance(node.meta.get("val"), torch.Tensor)
    }
    assert dtypes and not any(dtype.is_complex for dtype in dtypes)
    with torch.no_grad():
        assert _rel(program.module()(x), layer(x)) <= 1e-5


def test_a_small_model_exports_and_matches_eager() -> None:
    eager, deployed, x = _net()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        program = torch.export.export(deployed, (x,))
    with torch.no_grad():
        assert _rel(program.module()(x), eager(x)) <= 1e-5


@pytest.mark.parametrize("target", ["2d-stride-pad", "1d-stride"])
def test_onnx_export_runs_in_onnxruntime_equal_to_eager(target: str) -> None:
    pytest.importorskip("onnx", reason="the `export` extra (onnx) is not installed")
    ort = pytest.importorskip("onnxruntime", reason="the `export` extra is not installed")
    pytest.importorskip("onnxscript", reason="the dynamo ONNX exporter needs onnxscript")
    eager, size = _layer(target)
    x = torch.randn(2, 4, *size)
    deployed = eager.deploy(size)
    with warnings.catch_warnings():
        # The exporter's own progress notes are not ours to silence; ours must not warn.
        warnings.simplefilter("ignore", DeprecationWarning)
        onnx_program = torch.onnx.export(deployed, (x,), dynamo=True, verbose=False)
    session = ort.InferenceSession(
        onnx_program.model_proto.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    (output,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        assert _rel(torch.from_numpy(output), eager(x)) <= 1e-4


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_torchscript_scripts_the_deployed_conv_and_refuses_the_layer() -> None:
    layer, size = _layer("2d-reflect-same")
    x = torch.randn(2, 4, *size)
    scripted = torch.jit.script(layer.deploy(size))
    with torch.no_grad():
        assert _rel(scripted(x), layer(x)) <= 1e-5
    with pytest.raises(TypeError, match=r"cannot be scripted.*deploy\(input_size\)"):
        torch.jit.script(layer)


def test_deployment_page_examples_run(tmp_path, monkeypatch) -> None:
    from pathlib import Path

    page = (Path(__file__).parents[1] / "docs" / "deployment.md").read_text()
    blocks = [block.split("```")[0] for block in page.split("```python\n")[1:]]
    assert len(blocks) == 2, "docs/deployment.md lost an example (torch.export, ONNX)"
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # deploy_ and torch.export must not warn
        exec(compile(blocks[0], "docs/deployment.md example", "exec"), namespace)
    assert isinstance(namespace["net"].features[0], BandLimitedConvExport)
    assert namespace["report"].changed == ["features.0", "features.2", "features.3", "features.5"]
    pytest.importorskip("onnxscript", reason="the dynamo ONNX exporter needs onnxscript")
    pytest.importorskip("onnxruntime", reason="ONNX export needs the `export` extra")
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the exporter's own notes
        exec(compile(blocks[1], "docs/deployment.md ONNX example", "exec"), namespace)
    assert _rel(torch.from_numpy(namespace["logits"]), namespace["expected"]) <= 1e-4


def test_export_form_is_a_deprecated_alias_of_deploy() -> None:
    layer, size = _layer("2d-stride-pad")
    with pytest.warns(FutureWarning, match=r"export_form is deprecated: call `\.deploy"):
        old = layer.export_form(size)
    new = layer.deploy(size)
    assert type(old) is type(new)
    for (key, a), (_, b) in zip(old.state_dict().items(), new.state_dict().items(), strict=True):
        assert torch.equal(a, b), key


def test_torch_export_of_the_layer_itself_does_not_warn() -> None:
    """The geometry caches step aside under tracing, and the eval cache is off there."""
    layer, size = _layer("2d-stride-pad")
    x = torch.randn(2, 4, *size)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        program = torch.export.export(layer, (x,))
    with torch.no_grad():
        assert _rel(program.module()(x), layer(x)) <= 1e-5
