"""Callback arguments, strategy and order checks: no training loop runs here."""

from __future__ import annotations

import math
import re
import warnings
from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import yaml
from _lightning_helpers import LitClassifier, MixinClassifier
from jsonargparse import ArgumentParser
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
# Misconfiguration: every argument
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "bad"),
    [
        ({"compression": 1.0}, ValueError, 1.0),
        ({"compression": -0.1}, ValueError, -0.1),
        ({"compression": math.nan}, ValueError, math.nan),
        ({"compression": "0.5"}, TypeError, "0.5"),
        ({"compression": True}, TypeError, True),
        ({"eval_compression": 1.5}, ValueError, 1.5),
        ({"eval_compression": [0.5]}, TypeError, [0.5]),
        ({"mode": "banana"}, ValueError, "banana"),
        ({"mode": "energy"}, ValueError, None),
        ({"mode": "energy", "energy": 0.0}, ValueError, 0.0),
        ({"mode": "energy", "energy": 1.2}, ValueError, 1.2),
        ({"mode": "energy", "energy": "high"}, TypeError, "high"),
        ({"energy": 0.9}, ValueError, 0.9),
        ({"include": 3}, TypeError, 3),
        ({"include": ["net.*", 3]}, TypeError, 3),
        ({"include": ""}, ValueError, ""),
        ({"include": "re:(unclosed"}, ValueError, "re:(unclosed"),
        ({"exclude": {"a": 1}}, TypeError, {"a": 1}),
        ({"exclude": ["re:[", "x"]}, ValueError, "re:["),
        ({"schedule": {0: 1.0}}, ValueError, 1.0),
        ({"schedule": {-1: 0.5}}, ValueError, -1),
        ({"schedule": {"first": 0.5}}, ValueError, "first"),
        ({"schedule": {0.5: 0.5}}, ValueError, 0.5),
        ({"schedule": [0.5]}, TypeError, [0.5]),
        ({"schedule": {}}, TypeError, {}),
        ({"schedule": {0: 0.5}, "mode": "energy", "energy": 0.9}, ValueError, {0: 0.5}),
    ],
)
def test_band_limit_rejects(kwargs, error, bad):
    with _raises(error, bad):
        BandLimitCallback(**kwargs)


@pytest.mark.parametrize("cls", [SpectralParametrizationCallback, SpectralPoolingCallback])
@pytest.mark.parametrize(
    ("kwargs", "error", "bad"),
    [
        ({"include": 1.5}, TypeError, 1.5),
        ({"include": [None]}, TypeError, None),
        ({"include": ["ok", ""]}, ValueError, ["ok", ""]),
        ({"exclude": "re:*"}, ValueError, "re:*"),
        ({"exclude": "re:"}, ValueError, "re:"),
    ],
)
def test_selection_patterns_rejected(cls, kwargs, error, bad):
    with _raises(error, bad):
        cls(**kwargs)


@pytest.mark.parametrize(
    ("kinds", "error"),
    [("max", TypeError), ([], ValueError), (["min"], ValueError), (["max", "max"], ValueError)],
)
def test_pooling_kinds_rejected(kinds, error):
    with _raises(error, kinds):
        SpectralPoolingCallback(kinds=kinds)


@pytest.mark.parametrize(
    ("kwargs", "error", "bad"),
    [
        ({"alpha": -0.1}, ValueError, -0.1),
        ({"alpha": 1.1}, ValueError, 1.1),
        ({"alpha": "0.3"}, TypeError, "0.3"),
        ({"beta": math.nan}, ValueError, math.nan),
        ({"beta": None}, TypeError, None),
        ({"scheduling": {0: [0.1]}}, TypeError, [0.1]),
        ({"scheduling": {0: "ab"}}, TypeError, "ab"),
        ({"scheduling": {0: [0.1, 2.0]}}, ValueError, 2.0),
        ({"scheduling": {-2: [0.1, 0.2]}}, ValueError, -2),
        ({"scheduling": [[0.1, 0.2]]}, TypeError, [[0.1, 0.2]]),
    ],
)
def test_resolution_dropout_rejects(kwargs, error, bad):
    with _raises(error, bad):
        ResolutionDropoutScheduler(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "bad"),
    [
        ({"logging_interval": "batch"}, "batch"),
        ({"logging_interval": None}, None),
        ({"log_spectra_every_n_epochs": 0}, 0),
        ({"log_spectra_every_n_epochs": -1}, -1),
        ({"log_spectra_every_n_epochs": 1.5}, 1.5),
        ({"log_spectra_every_n_epochs": True}, True),
    ],
)
def test_monitor_rejects(kwargs, bad):
    with _raises(ValueError, bad):
        EnergyCompressionMonitor(**kwargs)


def test_valid_arguments_are_normalised():
    cb = BandLimitCallback(
        compression=0.25,
        mode="fixed",
        include="net.features.*",
        exclude=["re:.*head.*"],
        schedule={"3": 0.75, 0: 0.25},
    )
    assert cb.include == ["net.features.*"]
    assert cb.exclude == ["re:.*head.*"]
    assert cb.schedule == {0: 0.25, 3: 0.75}
    assert [cb.compression_at(e) for e in range(5)] == [0.25, 0.25, 0.25, 0.75, 0.75]
    late = BandLimitCallback(compression=0.1, schedule={2: 0.6})
    assert [late.compression_at(e) for e in range(4)] == [0.1, 0.1, 0.6, 0.6]
    energy = BandLimitCallback(mode="energy", energy=1)
    assert energy.energy == 1.0 and isinstance(energy.energy, float)
    drop = ResolutionDropoutScheduler(alpha=0.3, beta=0.1, scheduling={2: [0.5, 0.4]})
    assert [drop.coefficients_at(e) for e in (0, 1, 2, 9)] == [(0.3, 0.1)] * 2 + [(0.5, 0.4)] * 2


# --------------------------------------------------------------------------------------------
# LightningCLI compatibility: plain YAML in, documented arguments
# --------------------------------------------------------------------------------------------

YAML_CONFIGS = {
    BandLimitCallback: """
        compression: 0.5
        eval_compression: 0.25
        include: [net.features.0]
        schedule: {0: 0.25, 2: 0.5}
    """,
    SpectralParametrizationCallback: "exclude: 're:.*head.*'",
    SpectralPoolingCallback: "kinds: [max]",
    ResolutionDropoutScheduler: "alpha: 0.4\nbeta: 0.2\nscheduling: {3: [0.5, 0.25]}",
    EnergyCompressionMonitor: "logging_interval: step\nlog_spectra_every_n_epochs: 2",
}


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_arguments_parse_from_yaml_with_docs(cls):
    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(cls, "callback")
    config = parser.parse_object({"callback": yaml.safe_load(YAML_CONFIGS[cls])})
    callback = parser.instantiate(config).callback
    assert isinstance(callback, cls)
    for key, value in yaml.safe_load(YAML_CONFIGS[cls]).items():
        assert getattr(config.callback, key) == value
    # Google-style Args become --help text.
    help_text = parser.format_help()
    for name in yaml.safe_load(YAML_CONFIGS[cls]):
        assert f"--callback.{name}" in help_text
    assert "(type:" in help_text and "default:" in help_text
    described = re.findall(r"--callback\.\w+ .*\n\s+(\S.*)", help_text)
    assert described and all(not line.startswith("(type:") for line in described)


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
