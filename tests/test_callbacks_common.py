"""What ``lightning_spectral.callbacks._common`` and the base class check in ``setup``: strategies,
launchers, callback order, checkpoint settings, idempotence."""

from __future__ import annotations

import re
import warnings
from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
from _lightning_helpers import LitClassifier, MixinClassifier
from pytorch_lightning.callbacks import (
    ModelCheckpoint,
    ModelPruning,
    StochasticWeightAveraging,
    WeightAveraging,
)
from pytorch_lightning.strategies import DeepSpeedStrategy, FSDPStrategy, ModelParallelStrategy
from pytorch_lightning.utilities.exceptions import MisconfigurationException

from lightning_spectral import (
    BandLimitCallback,
    EnergyCompressionMonitor,
    ResolutionDropoutScheduler,
    SpectralParametrizationCallback,
    SpectralPoolingCallback,
    transforms,
)
from lightning_spectral.nn import BandLimitedConv2d, SpectralPool2d

REWRITERS = [BandLimitCallback, SpectralParametrizationCallback, SpectralPoolingCallback]
ALL = [*REWRITERS, ResolutionDropoutScheduler, EnergyCompressionMonitor]


def _raises(error: type[Exception], bad: object):
    """``pytest.raises`` that also checks the message names the bad value."""
    return pytest.raises(error, match=re.escape(repr(bad)))


# --------------------------------------------------------------------------------------------
# Strategies and launchers
# --------------------------------------------------------------------------------------------


class _FakeDeepSpeed(DeepSpeedStrategy):
    def __init__(self) -> None:  # DeepSpeed is not installed: skip its import check
        pass


@pytest.mark.parametrize(
    "strategy",
    [FSDPStrategy, _FakeDeepSpeed, ModelParallelStrategy],
    ids=["fsdp", "deepspeed", "model_parallel"],
)
@pytest.mark.parametrize("cls", [*REWRITERS, EnergyCompressionMonitor], ids=lambda c: c.__name__)
def test_sharded_strategies_are_refused_in_setup(cls, strategy):
    trainer = SimpleNamespace(strategy=strategy(), callbacks=[], loggers=[object()])
    model = LitClassifier()
    before = [type(m) for m in model.modules()]
    with pytest.raises(MisconfigurationException, match="strategy='ddp'") as info:
        cls().setup(trainer, model, "fit")
    assert type(trainer.strategy).__name__ in str(info.value)
    assert [type(m) for m in model.modules()] == before  # refused before rewriting anything


@pytest.mark.parametrize("strategy", ["ddp_spawn", "ddp_fork"])
def test_multiprocessing_launchers_refuse_a_rewrite(strategy):
    trainer = pl.Trainer(strategy=strategy, accelerator="cpu", devices=2, logger=False)
    with pytest.raises(MisconfigurationException, match="strict=False") as info:
        BandLimitCallback().setup(trainer, LitClassifier(), "fit")
    assert "_MultiProcessingLauncher" in str(info.value)
    assert "before `trainer.fit`" in str(info.value)


def test_multiprocessing_launcher_accepts_a_model_rewritten_before_fit():
    trainer = pl.Trainer(strategy="ddp_spawn", accelerator="cpu", devices=2, logger=False)
    model = LitClassifier()
    transforms.band_limit_(model, compression=0.5)
    transforms.replace_pooling_(model)
    BandLimitCallback(compression=0.5).setup(trainer, model, "fit")
    SpectralPoolingCallback().setup(trainer, model, "fit")
    assert isinstance(model.net.features[0], BandLimitedConv2d)
    assert isinstance(model.net.features[2], SpectralPool2d)


def test_multiprocessing_recovery_keeps_pre_rewritten_weights():
    # What ddp_spawn does when the worker returns: load_state_dict(strict=False) into the
    # main process's model. Rewritten before fit, nothing is dropped.
    worker, main = LitClassifier(), LitClassifier()
    for model in (worker, main):
        transforms.band_limit_(model, compression=0.5)
    for p in worker.parameters():
        p.data.add_(1.0)
    result = main.load_state_dict(worker.state_dict(), strict=False)
    assert not result.missing_keys and not result.unexpected_keys
    for a, b in zip(worker.parameters(), main.parameters(), strict=True):
        assert a.equal(b)
    # Without the rewrite in the main process the spectral weights are dropped:
    parametrized = LitClassifier()
    transforms.parametrize_spectral_(parametrized)
    dropped = LitClassifier().load_state_dict(parametrized.state_dict(), strict=False)
    assert dropped.missing_keys and dropped.unexpected_keys


# --------------------------------------------------------------------------------------------
# Callback order and checkpoint settings
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "capturing",
    [
        lambda: StochasticWeightAveraging(swa_lrs=0.01),
        lambda: WeightAveraging(),
        lambda: ModelPruning("l1_unstructured", amount=0.5),
    ],
    ids=["swa", "weight_averaging", "pruning"],
)
@pytest.mark.parametrize("cls", REWRITERS, ids=lambda c: c.__name__)
def test_rewrite_after_a_capturing_callback_is_refused(cls, capturing):
    first = capturing()
    callback = cls()
    trainer = pl.Trainer(accelerator="cpu", logger=False, callbacks=[first, callback])
    with pytest.raises(MisconfigurationException, match="must come before") as info:
        callback.setup(trainer, LitClassifier(), "fit")
    assert type(first).__name__ in str(info.value)
    # The other order is fine.
    trainer = pl.Trainer(accelerator="cpu", logger=False, callbacks=[cls(), capturing()])
    if cls is SpectralParametrizationCallback and isinstance(trainer.callbacks[1], ModelPruning):
        # ...but default pruning targets would skip the parametrized filters: refused too.
        with pytest.raises(MisconfigurationException, match="default targets"):
            trainer.callbacks[0].setup(trainer, LitClassifier(), "fit")
    else:
        trainer.callbacks[0].setup(trainer, LitClassifier(), "fit")


def test_weights_only_checkpoints_warn_without_the_mixin():
    trainer = pl.Trainer(
        accelerator="cpu",
        logger=False,
        callbacks=[BandLimitCallback(), ModelCheckpoint(save_weights_only=True)],
    )
    with pytest.warns(UserWarning, match="SpectralCheckpointMixin"):
        trainer.callbacks[0].setup(trainer, LitClassifier(), "fit")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trainer.callbacks[0].setup(trainer, MixinClassifier(), "fit")


@pytest.mark.parametrize("stage", ["fit", "validate", "test", "predict"])
def test_setup_is_idempotent(stage):
    model = LitClassifier()
    trainer = pl.Trainer(accelerator="cpu", logger=False)
    callbacks = [
        SpectralParametrizationCallback(),
        BandLimitCallback(0.5),
        SpectralPoolingCallback(),
    ]
    for cb in callbacks:
        cb.setup(trainer, model, "fit")
    model.net.features[0].compression = 0.75  # e.g. trained with a schedule
    params = {name: id(p) for name, p in model.named_parameters()}
    modules = {name: id(m) for name, m in model.named_modules()}
    for cb in callbacks:
        cb.setup(trainer, model, stage)
    assert {name: id(p) for name, p in model.named_parameters()} == params
    assert {name: id(m) for name, m in model.named_modules()} == modules
    assert model.net.features[0].compression == 0.75
