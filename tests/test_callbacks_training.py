"""Real ``Trainer`` runs (CPU, tiny models) of every callback, read back from TensorBoard."""

from __future__ import annotations

import warnings

import pytest
import pytorch_lightning as pl
import torch
from _lightning_helpers import LitClassifier, dataset, loader, predictions, scalars
from _lightning_helpers import trainer as make_trainer
from pytorch_lightning.callbacks import ModelPruning, StochasticWeightAveraging, WeightAveraging
from pytorch_lightning.utilities.exceptions import MisconfigurationException
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.nn import functional as F

from lightning_spectral import (
    BandLimitCallback,
    EnergyCompressionMonitor,
    ResolutionDropoutScheduler,
    SpectralParametrizationCallback,
    SpectralPoolingCallback,
    load_from_checkpoint,
)
from lightning_spectral.functional import band_for, band_for_energy, power_map
from lightning_spectral.nn import (
    BandLimitedConv2d,
    SpectralPool2d,
    is_spectrally_parametrized,
)

CONVS = {"net.features.0": (18, 18), "net.features.3": (10, 10)}  # padded input sizes
PER_LAYER = ("train_compression", "eval_compression", "input_energy", "filter_energy")


def _values(series: dict, tag: str) -> list[float]:
    return [value for _, value in series[tag]]


def test_band_limit_schedule_logs_per_layer_curves(tmp_path):
    callbacks = [
        BandLimitCallback(compression=0.2, eval_compression=0.1, schedule={1: 0.7}),
        EnergyCompressionMonitor(log_spectra_every_n_epochs=2),
    ]
    trainer = make_trainer(tmp_path, callbacks)
    model = LitClassifier()
    trainer.fit(model, loader(), loader(seed=1))

    for name in CONVS:
        layer = model.get_submodule(name)
        assert isinstance(layer, BandLimitedConv2d)
        assert (layer.compression, layer.eval_compression) == (0.7, 0.1)
    series = scalars(trainer.logger.log_dir)
    for name, shape in CONVS.items():
        for quantity in PER_LAYER:
            assert len(series[f"spectral/{name}/{quantity}"]) == 2, quantity
        train = _values(series, f"spectral/{name}/train_compression")
        expected = [band_for(shape, 0.2).compression, band_for(shape, 0.7).compression]
        assert train == pytest.approx(expected, abs=1e-6)
        evaluation = _values(series, f"spectral/{name}/eval_compression")
        assert evaluation == pytest.approx([band_for(shape, 0.1).compression] * 2, abs=1e-6)
        # More compression keeps less of the input's and of the filters' energy.
        energy = _values(series, f"spectral/{name}/input_energy")
        assert 0 < energy[1] < energy[0] <= 1
        filters = _values(series, f"spectral/{name}/filter_energy")
        assert 0 < filters[1] < filters[0] <= 1
    saved = _values(series, "spectral/saved_spectrum_bytes")
    full = _values(series, "spectral/full_spectrum_bytes")
    assert saved[1] < saved[0] < full[0] == full[1]
    # 8 samples x 1 channel x 18 x 10 coefficients (+ 8 x 4 x 10 x 6) of complex64.
    assert full[0] == 8 * 8 * (18 * 10 + 4 * 10 * 6)
    for mean in ("train_compression", "eval_compression", "input_energy", "filter_energy"):
        assert len(series[f"spectral/mean_{mean}"]) == 2
    # Spectra every 2 epochs: once, at the global step of the second epoch's end.
    events = EventAccumulator(trainer.logger.log_dir, size_guidance={"images": 0, "histograms": 0})
    events.Reload()
    for name in CONVS:
        images = events.Images(f"spectral/{name}/input_power")
        assert [image.step for image in images] == [4]
        assert [h.step for h in events.Histograms(f"spectral/{name}/filter_power")] == [4]


def test_energy_mode_picks_bands_from_epoch_statistics(tmp_path):
    callbacks = [
        EnergyCompressionMonitor(),  # before the band update on purpose: order must not matter
        BandLimitCallback(compression=0.0, mode="energy", energy=0.6),
    ]
    trainer = make_trainer(tmp_path, callbacks)
    model = LitClassifier()
    trainer.fit(model, loader(), loader(seed=1))

    first = model.get_submodule("net.features.0")
    # The first layer sees the same two raw batches every epoch: its band is the smallest one
    # keeping 60% of their summed (padded) power.
    images = dataset().tensors[0][:16]
    power = power_map(F.pad(images, (1, 1, 1, 1)), 2)
    expected = band_for_energy(power, (18, 18), 0.6)
    assert first.compression == pytest.approx(expected.compression)
    assert first.compression > 0.2
    series = scalars(trainer.logger.log_dir)
    train = _values(series, "spectral/net.features.0/train_compression")
    energy = _values(series, "spectral/net.features.0/input_energy")
    assert train[0] == 0.0 and energy[0] == pytest.approx(1.0)
    assert train[1] == pytest.approx(expected.compression)
    assert 0.6 - 1e-6 <= energy[1] < 1.0
    # Eval follows train (tied): this epoch's validation already used the updated band.
    evaluation = _values(series, "spectral/net.features.0/eval_compression")
    assert evaluation == pytest.approx([expected.compression] * 2)


def test_parametrization_trains_spectral_coefficients(tmp_path):
    model = LitClassifier()
    x = dataset(4, seed=5).tensors[0]
    before = model(x).detach()
    trainer = make_trainer(
        tmp_path,
        [SpectralParametrizationCallback(exclude="net.features.3"), EnergyCompressionMonitor()],
    )
    callback = trainer.callbacks[0]
    callback.setup(trainer, model, "fit")
    torch.testing.assert_close(model(x), before, atol=1e-5, rtol=1e-5)  # exact map
    stored = model.net.features[0].parametrizations.weight.original
    initial = stored.detach().clone()
    trainer.fit(model, loader(), loader(seed=1))

    assert is_spectrally_parametrized(model.net.features[0])
    assert not is_spectrally_parametrized(model.net.features[3])
    assert "weight" not in model.net.features[0]._parameters
    optimized = {id(p) for group in trainer.optimizers[0].param_groups for p in group["params"]}
    assert id(stored) in optimized
    assert not torch.equal(stored.detach(), initial)
    # Parametrized but not band-limited: only the spectral sparsity is logged.
    logged = [tag for tag in scalars(trainer.logger.log_dir) if tag.startswith("spectral/")]
    assert logged == ["spectral/net.features.0/spectral_sparsity"]


def test_pooling_with_resolution_dropout_schedule(tmp_path):
    callbacks = [
        ResolutionDropoutScheduler(alpha=0.5, beta=0.1, scheduling={1: [0.9, 0.7]}),
        SpectralPoolingCallback(),
        EnergyCompressionMonitor(),
    ]
    trainer = make_trainer(tmp_path, callbacks)
    model = LitClassifier()
    trainer.fit(model, loader(), loader(seed=1))

    pools = [model.net.features[2], model.net.features[5]]
    assert all(isinstance(pool, SpectralPool2d) for pool in pools)
    assert [pool.dropout_draws for pool in pools] == [4, 4]  # one cutoff per training step
    series = scalars(trainer.logger.log_dir)
    # c_m = alpha + (m / M)(beta - alpha), m = 1, 2 of M = 2.
    assert _values(series, "spectral/net.features.2/dropout_min") == pytest.approx([0.3, 0.8])
    assert _values(series, "spectral/net.features.5/dropout_min") == pytest.approx([0.1, 0.7])


def test_resolution_dropout_warns_without_spectral_pools():
    trainer = pl.Trainer(accelerator="cpu", logger=False)
    with pytest.warns(UserWarning, match="no spectral pooling layers"):
        ResolutionDropoutScheduler().on_fit_start(trainer, LitClassifier())


def test_resolution_dropout_warns_about_batch_norm_statistics_naming_the_layers():
    from torch import nn

    from lightning_spectral import transforms

    trainer = pl.Trainer(accelerator="cpu", logger=False)
    model = LitClassifier()
    transforms.replace_pooling_(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # spectral pools and no batch norm: nothing to say
        ResolutionDropoutScheduler().on_fit_start(trainer, model)
    model.net.features[1] = nn.Sequential(nn.BatchNorm2d(4), nn.ReLU())
    with pytest.warns(UserWarning, match=r"batch norm layers \(net\.features\.1\.0\)"):
        ResolutionDropoutScheduler().on_fit_start(trainer, model)


# --------------------------------------------------------------------------------------------
# Callbacks that capture the model: SWA, WeightAveraging, ModelPruning
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "averaging",
    [
        lambda: StochasticWeightAveraging(swa_lrs=0.01, swa_epoch_start=1),
        lambda: WeightAveraging(),
    ],
    ids=["swa", "weight_averaging"],
)
def test_weight_averaging_after_spectral_callbacks(tmp_path, averaging):
    callbacks = [
        SpectralParametrizationCallback(),
        BandLimitCallback(compression=0.5),
        SpectralPoolingCallback(),
        averaging(),
    ]
    trainer = make_trainer(tmp_path, callbacks, limit_val_batches=0)
    model = LitClassifier()
    trainer.fit(model, loader())
    assert is_spectrally_parametrized(model.net.features[0])
    assert isinstance(model.net.features[0], BandLimitedConv2d)
    path = tmp_path / "averaged.ckpt"
    trainer.save_checkpoint(path)
    expected = predictions(model)
    assert torch.isfinite(expected).all()
    torch.testing.assert_close(predictions(load_from_checkpoint(LitClassifier, path)), expected)


def test_weight_averaging_before_spectral_callback_fails_clearly(tmp_path):
    trainer = make_trainer(tmp_path, [StochasticWeightAveraging(swa_lrs=0.01), BandLimitCallback()])
    with pytest.raises(MisconfigurationException, match="must come before"):
        trainer.fit(LitClassifier(), loader())


def test_model_pruning_after_band_limit(tmp_path):
    callbacks = [
        BandLimitCallback(compression=0.5),
        ModelPruning("l1_unstructured", amount=0.5, parameter_names=["weight"], verbose=0),
    ]
    trainer = make_trainer(tmp_path, callbacks, limit_val_batches=0)
    model = LitClassifier()
    trainer.fit(model, loader())
    assert isinstance(model.net.features[3], BandLimitedConv2d)
    # Globally pruned twice by 50% of the remaining weights, permanent at the end of training.
    weights = torch.cat([m.weight.flatten() for m in model.modules() if hasattr(m, "weight")])
    assert (weights == 0).float().mean().item() == pytest.approx(0.75, abs=0.01)
    assert (model.net.features[3].weight == 0).any()
    path = tmp_path / "pruned.ckpt"
    trainer.save_checkpoint(path)
    torch.testing.assert_close(
        predictions(load_from_checkpoint(LitClassifier, path)), predictions(model)
    )
