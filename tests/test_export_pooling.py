"""Deployment form of the spectral pools (``SpectralPool{1,2}d.deploy``): real matrix products
equal to the eval-mode pool, exported by ``torch.export`` without warnings and by the ONNX
(dynamo) exporter to a model onnxruntime runs; TorchScript scripts it."""

from __future__ import annotations

import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lightning_spectral.functional import spectral_pool1d, spectral_pool2d
from lightning_spectral.nn import SpectralPool1d, SpectralPool2d
from lightning_spectral.nn.pooling import DeployedSpectralPool1d, DeployedSpectralPool2d

# (pool, input shape): odd and even input and output sizes, batched and unbatched, dropout set.
CASES = [
    pytest.param(lambda: SpectralPool2d((4, 5)), (2, 3, 9, 10), id="2d-odd-in-even-out"),
    pytest.param(lambda: SpectralPool2d.from_pool(nn.MaxPool2d(2)), (2, 3, 8, 8), id="2d-even"),
    pytest.param(
        lambda: SpectralPool2d(scale=0.5, dropout_min=0.3), (1, 2, 11, 7), id="2d-odd-dropout"
    ),
    pytest.param(lambda: SpectralPool2d((3, None)), (2, 6, 5), id="2d-unbatched"),
    pytest.param(lambda: SpectralPool1d(5), (2, 3, 9), id="1d-odd"),
    pytest.param(lambda: SpectralPool1d(6, dropout_min=0.5), (2, 3, 16), id="1d-even-dropout"),
    pytest.param(lambda: SpectralPool1d(scale=0.5), (3, 13), id="1d-unbatched"),
]

# ONNX export takes seconds per model: odd and even sizes of both pools are enough there.
ONNX_CASES = [CASES[0], CASES[1], CASES[4], CASES[5]]


def _deployed(make, shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module, torch.Tensor]:
    pool = make()
    ndim = 2 if isinstance(pool, SpectralPool2d) else 1
    torch.manual_seed(0)
    x = torch.randn(shape)
    return pool.eval(), pool.deploy(shape[-ndim:]).eval(), x


def _relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return float((actual - expected).abs().max() / expected.abs().max())


# ---------------------------------------------------------------------------------------------
# The deployed form is the eval-mode pool
# ---------------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    ndim=st.sampled_from([1, 2]),
    sizes=st.lists(st.integers(1, 17), min_size=2, max_size=2),
    fractions=st.lists(st.floats(0.05, 1.0), min_size=2, max_size=2),
    batch=st.sampled_from([(), (1,), (3,)]),
)
def test_deployed_equals_the_eval_pool(ndim, sizes, fractions, batch) -> None:
    size = tuple(sizes[:ndim])
    out = tuple(max(1, int(f * n)) for f, n in zip(fractions, size, strict=False))
    pool = (SpectralPool1d if ndim == 1 else SpectralPool2d)(out, dropout_min=0.25).eval()
    x = torch.randn(*batch, 2, *size, dtype=torch.float64)
    deployed = pool.deploy(size, dtype=torch.float64)
    torch.testing.assert_close(deployed(x), pool(x), rtol=0, atol=1e-12)
    # float32 matrices, the default: within float32 round-off of the FFT form.
    torch.testing.assert_close(pool.deploy(size)(x.float()), pool(x.float()), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("make", "shape"), CASES)
def test_eval_output_is_unchanged_and_deploy_has_no_side_effect(make, shape) -> None:
    pool, deployed, x = _deployed(make, shape)
    reference = spectral_pool2d if isinstance(pool, SpectralPool2d) else spectral_pool1d
    out = pool.output_size_for(shape[-pool._ndim :])
    expected = reference(x, out if pool._ndim == 2 else out[0])
    torch.testing.assert_close(pool(x), expected, rtol=0, atol=0)  # eval is still the FFT form
    assert pool.dropout_draws == 0 and not list(pool.buffers())
    assert deployed.output_size == out and not deployed.state_dict()


def test_deployed_from_a_training_pool_has_no_dropout() -> None:
    pool = SpectralPool2d(6, dropout_min=0.0)  # training mode, dropout on
    deployed = pool.deploy(12)
    x = torch.randn(2, 3, 12, 12)
    torch.testing.assert_close(deployed(x), spectral_pool2d(x, 6), rtol=1e-5, atol=1e-5)
    assert pool.dropout_draws == 0


def test_deployed_dtype_device_and_autocast() -> None:
    deployed = SpectralPool2d(3).deploy((7, 6))
    assert deployed.matrix0.dtype == torch.float32 and deployed.matrix1.shape == (3, 6)
    x = torch.randn(2, 7, 6, dtype=torch.float64)
    double = deployed.double()  # the matrices follow the module's dtype (float32-rounded values)
    assert double.matrix0.dtype == torch.float64 and double(x).dtype == torch.float64
    torch.testing.assert_close(double(x), spectral_pool2d(x, 3), rtol=0, atol=1e-6)
    exact = SpectralPool2d(3).deploy((7, 6), dtype=torch.float64)
    torch.testing.assert_close(exact(x), spectral_pool2d(x, 3), rtol=0, atol=1e-12)
    y = torch.randn(2, 7, 6)
    deployed = SpectralPool2d(3).deploy((7, 6), device="cpu")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z = deployed(y)
    assert z.dtype == torch.float32  # autocast off inside, like the FFT form
    torch.testing.assert_close(z, deployed(y), rtol=0, atol=0)
    assert deployed(y.bfloat16()).dtype == torch.bfloat16
    assert deployed(torch.randn(0, 4, 7, 6)).shape == (0, 4, 3, 3)  # an empty batch


def test_deployed_refuses_other_inputs() -> None:
    deployed = SpectralPool1d(4).deploy(10)
    with pytest.raises(ValueError, match=r"built for the input size \[10\], got \[11\]"):
        deployed(torch.randn(2, 3, 11))
    with pytest.raises(ValueError, match=r"`input` must have 2 or 3 dimensions, got shape"):
        deployed(torch.randn(10))
    with pytest.raises(TypeError, match=r"`input` must be a floating tensor, got torch.int64"):
        deployed(torch.ones(2, 10, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"output size \(4,\) for input size \(3,\)"):
        SpectralPool1d(4).deploy(3)  # the module's own size rule
    with pytest.raises(TypeError, match=r"`input_size` must be an int or a sequence of 2 ints"):
        SpectralPool2d(4).deploy((8, 8, 8))
    with pytest.raises(ValueError, match=r"`output_size` must be <= the input size"):
        DeployedSpectralPool2d((4, 4), (5, 4))


# ---------------------------------------------------------------------------------------------
# torch.export, ONNX, TorchScript
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("make", "shape"), CASES)
def test_torch_export_has_an_all_real_graph_and_no_warnings(make, shape) -> None:
    pool, deployed, x = _deployed(make, shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        program = torch.export.export(deployed, (x,))
    # Every graph, nested ones (higher-order ops such as autocast regions) included.
    graphs = [
        m.graph for m in program.graph_module.modules() if isinstance(m, torch.fx.GraphModule)
    ]
    values = [node.meta.get("val") for graph in graphs for node in graph.nodes]
    dtypes = {v.dtype for v in values if isinstance(v, torch.Tensor)}
    assert dtypes == {torch.float32}, dtypes
    targets = {str(node.target) for graph in graphs for node in graph.nodes}
    assert not any("fft" in target or "autocast" in target for target in targets), targets
    torch.testing.assert_close(program.module()(x), pool(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("make", "shape"), ONNX_CASES)
def test_onnx_export_runs_in_onnxruntime_equal_to_eager(make, shape, tmp_path) -> None:
    pytest.importorskip("onnxscript", reason="the dynamo ONNX exporter needs onnxscript")
    onnx = pytest.importorskip("onnx", reason="ONNX export needs the `export` extra")
    ort = pytest.importorskip("onnxruntime", reason="ONNX export needs the `export` extra")
    pool, deployed, x = _deployed(make, shape)
    path = tmp_path / "pool.onnx"
    torch.onnx.export(deployed, (x,), str(path), dynamo=True, verbose=False)
    graph = onnx.load(str(path)).graph
    assert not {node.op_type for node in graph.node} & {"DFT", "STFT"}
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    assert _relative_error(torch.from_numpy(y), pool(x)) <= 1e-4


def test_onnx_export_of_a_model_with_a_dynamic_batch(tmp_path) -> None:
    pytest.importorskip("onnxscript", reason="the dynamo ONNX exporter needs onnxscript")
    ort = pytest.importorskip("onnxruntime", reason="ONNX export needs the `export` extra")
    torch.manual_seed(0)
    pool = SpectralPool2d.from_pool(nn.MaxPool2d(3, stride=2, padding=1))
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), pool).eval()
    deployed = nn.Sequential(model[0], model[1], pool.deploy((15, 15))).eval()
    path = tmp_path / "model.onnx"
    batch = torch.export.Dim("batch", min=1, max=64)
    torch.onnx.export(
        deployed,
        (torch.randn(2, 1, 15, 15),),
        str(path),
        dynamo=True,
        dynamic_shapes=({0: batch},),
        verbose=False,
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for n in (1, 5):
        x = torch.randn(n, 1, 15, 15)
        (y,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
        with torch.no_grad():
            assert _relative_error(torch.from_numpy(y), model(x)) <= 1e-4


@pytest.mark.parametrize(("make", "shape"), CASES)
def test_torchscript_scripts_the_deployed_form(make, shape) -> None:
    pool, deployed, x = _deployed(make, shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script is deprecated
        scripted = torch.jit.script(deployed)
    torch.testing.assert_close(scripted(x), pool(x), rtol=1e-5, atol=1e-5)
    wrong = torch.randn(*shape[:-1], shape[-1] + 1)
    with pytest.raises(torch.jit.Error, match="built for the input size"):
        scripted(wrong)


def test_deployed_classes_match_the_pools_and_are_in_eval_mode() -> None:
    # Eval mode, as the convolutions' deploy: transforms.deploy_ refuses training modules.
    one, two = SpectralPool1d(2).deploy(4), SpectralPool2d(2).deploy(4, device="cpu")
    assert isinstance(one, DeployedSpectralPool1d) and not one.training
    assert isinstance(two, DeployedSpectralPool2d) and not two.training
