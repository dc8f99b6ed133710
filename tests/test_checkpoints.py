"""The life of a trained spectral model: checkpoints, resume, loading without callbacks, bake."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch
from _lightning_helpers import (
    LitClassifier,
    MixinClassifier,
    TinyNet,
    loader,
    predictions,
    scalars,
)
from _lightning_helpers import trainer as make_trainer
from pytorch_lightning.callbacks import ModelCheckpoint

from lightning_spectral import (
    BandLimitCallback,
    EnergyCompressionMonitor,
    ResolutionDropoutScheduler,
    SpectralParametrizationCallback,
    SpectralPoolingCallback,
    inference_checkpoint,
    load_from_checkpoint,
    plan_from_checkpoint,
    restore_,
)
from lightning_spectral.checkpoint import CHECKPOINT_KEY
from lightning_spectral.nn import BandLimitedConv2d, SpectralPool2d, is_spectrally_parametrized
from lightning_spectral.transforms import PLAN_FORMAT


def _callbacks() -> list[pl.Callback]:
    return [
        SpectralParametrizationCallback(),
        BandLimitCallback(compression=0.5, eval_compression=0.25, schedule={1: 0.6}),
        SpectralPoolingCallback(),
        ResolutionDropoutScheduler(),
    ]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One fit with every rewriting callback, best and last checkpoints."""
    root = tmp_path_factory.mktemp("trained")
    # Lightning 2.6 writes last.ckpt only with a save: a second, unmonitored checkpoint does.
    best = ModelCheckpoint(dirpath=root / "ckpt", monitor="val_loss", filename="best-{epoch}")
    last = ModelCheckpoint(dirpath=root / "ckpt", save_last=True)
    trainer = make_trainer(root, [*_callbacks(), best, last], max_epochs=2, limit_val_batches=2)
    model = LitClassifier()
    trainer.fit(model, loader(), loader(seed=1))
    return SimpleNamespace(
        trainer=trainer,
        model=model,
        last=root / "ckpt" / "last.ckpt",
        best=best.best_model_path,
        expected=predictions(model),
    )


def test_checkpoint_plan_is_plain_data(trained):
    checkpoint = torch.load(trained.last, weights_only=True)
    entry = checkpoint[CHECKPOINT_KEY]
    assert json.loads(json.dumps(entry)) == entry
    plan = entry["plan"]
    assert plan["format"] == PLAN_FORMAT
    assert set(plan["band_limit"]) == {"net.features.0", "net.features.3"}
    assert plan["band_limit"]["net.features.0"]["eval_compression"] == 0.25
    assert set(plan["spectral_pool"]) == {"net.features.2", "net.features.5"}
    assert set(plan["spectral_parametrization"]) == {"net.features.0", "net.features.3"}
    assert plan_from_checkpoint(trained.last) == plan


def test_plain_lightning_loading_cannot_restore_the_rewrite(trained):
    with pytest.raises(RuntimeError, match="parametrizations"):
        LitClassifier.load_from_checkpoint(trained.last)


@pytest.mark.parametrize(
    "load",
    [
        lambda path: load_from_checkpoint(LitClassifier, path),
        lambda path: MixinClassifier.load_from_checkpoint(path),
        lambda path: load_from_checkpoint(MixinClassifier, path),
        lambda path: load_from_checkpoint(LitClassifier, open(path, "rb")),  # noqa: SIM115
    ],
    ids=["helper", "mixin", "helper_with_mixin", "helper_stream"],
)
def test_load_without_callbacks_gives_the_same_predictions(trained, load):
    model = load(trained.last)
    assert isinstance(model.net.features[0], BandLimitedConv2d)
    assert is_spectrally_parametrized(model.net.features[0])
    assert isinstance(model.net.features[2], SpectralPool2d)
    assert model.net.features[0].compression == 0.6
    assert model.net.features[0].eval_compression == 0.25
    torch.testing.assert_close(predictions(model), trained.expected, rtol=0, atol=0)


def test_bake_for_deployment(trained, tmp_path):
    baked = load_from_checkpoint(LitClassifier, trained.last, bake=True)
    assert not baked.training
    assert not is_spectrally_parametrized(baked.net.features[0])
    assert isinstance(baked.net.features[0].weight, torch.nn.Parameter)
    torch.testing.assert_close(predictions(baked), trained.expected, atol=1e-5, rtol=1e-5)
    # A plain-PyTorch artefact of the bare network, rebuilt without Lightning.
    path = tmp_path / "deploy.pt"
    torch.save(inference_checkpoint(baked.net), path)
    net = TinyNet()
    report = restore_(net, torch.load(path, weights_only=True))
    assert set(report.changed) >= {"features.0", "features.2", "features.3", "features.5"}
    torch.testing.assert_close(predictions(net), trained.expected, atol=1e-5, rtol=1e-5)


def test_fit_then_test_best_then_predict_on_the_same_trainer(trained):
    trainer, model = trained.trainer, trained.model
    parameters = {name: id(p) for name, p in model.named_parameters()}
    [result] = trainer.test(model, loader(seed=2), ckpt_path="best", verbose=False)
    assert trainer.ckpt_path == trained.best
    assert torch.isfinite(torch.tensor(result["test_loss"]))
    # setup ran again: nothing rebuilt; the settings are the best checkpoint's
    assert {name: id(p) for name, p in model.named_parameters()} == parameters
    saved = torch.load(trained.best, weights_only=True)["state_dict"]
    assert model.net.features[0].get_extra_state() == saved["net.features.0._extra_state"]
    batches = trainer.predict(model, loader(n=8, seed=123))
    best = load_from_checkpoint(LitClassifier, trained.best)
    torch.testing.assert_close(batches[0], predictions(best))


def test_trainer_restores_a_mixin_model_without_callbacks(trained, tmp_path):
    trainer = make_trainer(tmp_path, [])
    [result] = trainer.test(
        MixinClassifier(), loader(seed=2), ckpt_path=trained.last, verbose=False
    )
    [expected] = make_trainer(tmp_path, _callbacks()).test(
        LitClassifier(), loader(seed=2), ckpt_path=trained.last, verbose=False
    )
    assert result["test_loss"] == pytest.approx(expected["test_loss"], abs=1e-6)


def test_weights_only_checkpoints_carry_the_plan_with_the_mixin(tmp_path):
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_weights_only=True, save_last=True)
    trainer = make_trainer(tmp_path, [*_callbacks(), checkpoint], max_epochs=1)
    model = MixinClassifier()
    trainer.fit(model, loader(), loader(seed=1))
    path = tmp_path / "ckpt" / "last.ckpt"
    assert "optimizer_states" not in torch.load(path, weights_only=True)
    assert plan_from_checkpoint(path) is not None
    expected = predictions(model)
    torch.testing.assert_close(predictions(MixinClassifier.load_from_checkpoint(path)), expected)
    torch.testing.assert_close(predictions(load_from_checkpoint(LitClassifier, path)), expected)


def _resume_callbacks() -> list[pl.Callback]:
    # Two band-limit callbacks: an energy-mode first layer and a scheduled second one.
    return [
        SpectralParametrizationCallback(),
        BandLimitCallback(compression=0.2, mode="energy", energy=0.6, include="net.features.0"),
        BandLimitCallback(compression=0.3, include="net.features.3", schedule={2: 0.6}),
        SpectralPoolingCallback(),
        ResolutionDropoutScheduler(alpha=0.6, beta=0.4, scheduling={1: [0.5, 0.3]}),
        EnergyCompressionMonitor(),
    ]


def test_resume_continues_like_an_uninterrupted_run(tmp_path):
    def run(root, max_epochs, ckpt_path=None):
        pl.seed_everything(7)
        # last.ckpt written at validation end, before any on_train_epoch_end hook runs.
        checkpoint = ModelCheckpoint(
            dirpath=root / "ckpt", save_last=True, save_top_k=-1, save_on_train_epoch_end=False
        )
        trainer = make_trainer(root, [*_resume_callbacks(), checkpoint], max_epochs=max_epochs)
        model = LitClassifier(drift=1.0)
        trainer.fit(model, loader(), loader(seed=1), ckpt_path=ckpt_path)
        return trainer, model

    _, uninterrupted = run(tmp_path / "a", 3)
    first, _ = run(tmp_path / "b", 2)
    resumed_trainer, resumed = run(
        tmp_path / "c", 3, ckpt_path=tmp_path / "b" / "ckpt" / "last.ckpt"
    )

    assert len(uninterrupted.losses) == 6 and len(resumed.losses) == 2
    assert resumed.losses == pytest.approx(uninterrupted.losses[4:], abs=1e-6)
    for (name, a), b in zip(
        uninterrupted.state_dict().items(), resumed.state_dict().values(), strict=True
    ):
        if isinstance(a, torch.Tensor):
            torch.testing.assert_close(b, a, atol=1e-6, rtol=1e-6, msg=name)
        else:
            assert a == b, name
    bands = [
        band[1]
        for band in scalars(first.logger.log_dir)["spectral/net.features.0/train_compression"]
    ]
    assert bands[0] < bands[1]  # the drift moved the energy band
    assert resumed.net.features[0].compression == uninterrupted.net.features[0].compression
    assert resumed.net.features[3].compression == 0.6
    assert resumed.net.features[2].dropout_draws == 6
    # The resumed run's epoch-2 statistics equal the uninterrupted run's.
    a = scalars(first.logger.log_dir.replace("/b/", "/a/"))
    c = scalars(resumed_trainer.logger.log_dir)
    for tag in (
        "spectral/net.features.0/input_energy",
        "spectral/net.features.3/train_compression",
    ):
        assert c[tag][-1][1] == pytest.approx(a[tag][-1][1], abs=1e-6)
