"""Real ``Trainer`` runs and deployment on a CUDA device (skipped without one).

The kernel tests (``test_kernels_cuda.py``) check the operators; these check what a user runs on
a GPU end to end: the callbacks' statistics, schedules and TensorBoard scalars with CUDA tensors,
a checkpoint written on the GPU read back on the CPU, frequency dropout and the spectral
parametrization training on the GPU, and the deployment form computed on the GPU.
"""

from __future__ import annotations

import math
import warnings

import pytest
import pytorch_lightning as pl
import torch
from _lightning_helpers import LitClassifier, dataset, loader, scalars
from _lightning_helpers import trainer as make_trainer

from lightning_spectral import (
    BandLimitCallback,
    EnergyCompressionMonitor,
    ResolutionDropoutScheduler,
    SpectralParametrizationCallback,
    SpectralPoolingCallback,
    load_from_checkpoint,
    transforms,
)
from lightning_spectral.models import RippelGenericCNN
from lightning_spectral.nn import BandLimitedConv2d, SpectralPool2d, is_spectrally_parametrized

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


class _Devices(pl.Callback):
    """Device types of every parameter, read during training (Lightning's teardown moves the
    model back to the CPU after ``fit``)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.seen |= {parameter.device.type for parameter in pl_module.parameters()}


def _gpu_fit(root, callbacks) -> tuple[pl.Trainer, LitClassifier]:
    devices = _Devices()
    trainer = make_trainer(
        root, [*callbacks, devices], accelerator="gpu", max_epochs=2, limit_train_batches=3
    )
    model = LitClassifier()
    trainer.fit(model, loader(), loader(seed=1))
    assert devices.seen == {"cuda"}
    return trainer, model


def _outputs(model: torch.nn.Module, device: str) -> torch.Tensor:
    model.eval().to(device)
    with torch.no_grad():
        return model(dataset(8, seed=123).tensors[0].to(device)).cpu()


def test_cuda_fit_energy_mode_logs_and_checkpoint_loads_on_cpu(tmp_path) -> None:
    callbacks = [
        BandLimitCallback(compression=0.0, mode="energy", energy=0.7),
        EnergyCompressionMonitor(log_spectra_every_n_epochs=1),
    ]
    trainer, model = _gpu_fit(tmp_path, callbacks)

    assert all(math.isfinite(loss) for loss in model.losses) and len(model.losses) == 6
    first = model.get_submodule("net.features.0")
    assert isinstance(first, BandLimitedConv2d)
    assert 0 < first.compression < 1  # the energy band came from the GPU statistics
    series = scalars(trainer.logger.log_dir)
    energy = [value for _, value in series["spectral/net.features.0/input_energy"]]
    assert len(energy) == 2 and 0.7 - 1e-6 <= energy[1] <= 1.0

    on_gpu = _outputs(model, "cuda")
    loaded = load_from_checkpoint(
        LitClassifier, trainer.checkpoint_callback.best_model_path, map_location="cpu"
    )
    restored = loaded.get_submodule("net.features.0")
    assert restored.compression == pytest.approx(first.compression)
    torch.testing.assert_close(_outputs(loaded, "cpu"), on_gpu, atol=1e-4, rtol=1e-4)


def test_cuda_fit_pooling_dropout_and_spectral_parametrization(tmp_path) -> None:
    callbacks = [
        ResolutionDropoutScheduler(alpha=0.5, beta=0.1),
        SpectralPoolingCallback(),
        SpectralParametrizationCallback(),
        EnergyCompressionMonitor(),
    ]
    trainer, model = _gpu_fit(tmp_path, callbacks)

    assert all(math.isfinite(loss) for loss in model.losses) and len(model.losses) == 6
    pools = [model.net.features[2], model.net.features[5]]
    assert all(isinstance(pool, SpectralPool2d) for pool in pools)
    assert [pool.dropout_draws for pool in pools] == [6, 6]
    conv = model.net.features[0]
    assert is_spectrally_parametrized(conv)
    assert "spectral/net.features.2/dropout_min" in scalars(trainer.logger.log_dir)
    # The CPU copy of the trained model computes what the GPU computes.
    on_gpu = _outputs(model, "cuda")
    torch.testing.assert_close(_outputs(model, "cpu"), on_gpu, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("compression", [0.0, 0.5, 0.9])
def test_cuda_deployed_model_equals_eager_eval(compression: float) -> None:
    net = RippelGenericCNN(
        in_channels=3, input_size=32, channels=(16, 32), hidden_features=(64, 10), batch_norm=True
    )
    transforms.band_limit_(net, compression=compression)
    transforms.replace_pooling_(net)
    net = net.cuda().eval()
    x = torch.randn(4, 3, 32, 32, device="cuda")
    with torch.no_grad():
        first, second = net(x), net(x)  # the second forward uses the cached filter spectra
        torch.testing.assert_close(second, first)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # every layer is reached: no warning
            report = transforms.deploy_(net, x)
        assert report.changed and not report.skipped
        deployed = net(x)
        assert all(p.device.type == "cuda" for p in net.parameters())
    torch.testing.assert_close(deployed, first, atol=1e-4, rtol=1e-4)
    batch = torch.export.Dim("batch", min=1, max=64)
    program = torch.export.export(net, (x,), dynamic_shapes=({0: batch},))
    other = torch.randn(7, 3, 32, 32, device="cuda")
    with torch.no_grad():
        torch.testing.assert_close(program.module()(other), net(other), atol=1e-5, rtol=1e-5)
