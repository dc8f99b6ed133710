"""``SpectralRewriteCallback`` (``lightning_spectral.callbacks.rewrite``): the public base of the
rewriting callbacks; nothing it does is a silent no-op."""

from __future__ import annotations

import warnings

import pytest
import pytorch_lightning as pl
from _lightning_helpers import LitClassifier
from pytorch_lightning.utilities.exceptions import MisconfigurationException

from lightning_spectral import (
    BandLimitCallback,
    SpectralParametrizationCallback,
    SpectralPoolingCallback,
    SpectralRewriteCallback,
    transforms,
)
from lightning_spectral.transforms import SpectralTransformWarning

REWRITERS = [BandLimitCallback, SpectralParametrizationCallback, SpectralPoolingCallback]


def _trainer(*callbacks: pl.Callback) -> pl.Trainer:
    return pl.Trainer(accelerator="cpu", logger=False, callbacks=list(callbacks))


@pytest.mark.parametrize("cls", REWRITERS, ids=lambda c: c.__name__)
def test_a_second_instance_selecting_the_same_layers_is_refused_naming_both(cls):
    first, second = cls(), cls(include="net.features.*")
    trainer = _trainer(first, second)
    model = LitClassifier()
    first.setup(trainer, model, "fit")
    with pytest.raises(MisconfigurationException, match=f"two {cls.__name__} instances") as info:
        second.setup(trainer, model, "fit")
    message = str(info.value)
    assert "#0" in message and "#1" in message and "include=['net.features.*']" in message


@pytest.mark.parametrize("cls", [BandLimitCallback, SpectralParametrizationCallback])
def test_instances_with_disjoint_selections_work_together(cls):
    first, second = cls(include="net.features.0"), cls(include="net.features.3")
    trainer = _trainer(first, second)
    model = LitClassifier()
    for stage in ("fit", "validate"):  # setup runs again: still no conflict
        first.setup(trainer, model, stage)
        second.setup(trainer, model, stage)


def test_different_rewriting_callbacks_together_are_fine():
    trainer = _trainer(*(cls() for cls in REWRITERS))
    model = LitClassifier()
    for callback in trainer.callbacks:
        if isinstance(callback, SpectralRewriteCallback):
            callback.setup(trainer, model, "fit")
    assert transforms.spectral_modules(model) and transforms.spectral_pools(model)


@pytest.mark.parametrize("cls", REWRITERS, ids=lambda c: c.__name__)
def test_a_callback_whose_selection_is_empty_warns(cls):
    callback = cls(include="nett.*")
    trainer = _trainer(callback)
    with pytest.warns(UserWarning) as record:
        callback.setup(trainer, LitClassifier(), "fit")
    messages = [str(w.message) for w in record]
    assert any("changed no layer" in m and cls.__name__ in m for m in messages), messages
    assert any(
        issubclass(w.category, SpectralTransformWarning) and "include='nett.*'" in str(w.message)
        for w in record
    )


@pytest.mark.parametrize("cls", REWRITERS, ids=lambda c: c.__name__)
def test_a_repeated_setup_of_an_already_rewritten_model_does_not_warn(cls):
    callback = cls()
    trainer = _trainer(callback)
    model = LitClassifier()
    callback.setup(trainer, model, "fit")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        callback.setup(trainer, model, "validate")


def test_a_user_rewrite_callback_must_return_a_report():
    class Broken(SpectralRewriteCallback):
        def rewrite(self, pl_module):
            return None

    with pytest.raises(TypeError, match=r"Broken\.rewrite must return a TransformReport"):
        Broken().setup(_trainer(), LitClassifier(), "fit")
    with pytest.raises(NotImplementedError, match="must implement `rewrite"):
        SpectralRewriteCallback().setup(_trainer(), LitClassifier(), "fit")
