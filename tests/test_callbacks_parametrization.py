"""``SpectralParametrizationCallback`` (``lightning_spectral.callbacks.parametrization``) with
``ModelPruning``."""

from __future__ import annotations

import warnings

import pytest
from _lightning_helpers import LitClassifier, loader
from _lightning_helpers import trainer as make_trainer
from pytorch_lightning.callbacks import ModelPruning
from pytorch_lightning.utilities.exceptions import MisconfigurationException

from lightning_spectral import (
    SpectralParametrizationCallback,
)
from lightning_spectral.nn import (
    is_spectrally_parametrized,
)

CONVS = {"net.features.0": (18, 18), "net.features.3": (10, 10)}  # padded input sizes
PER_LAYER = ("train_compression", "eval_compression", "input_energy", "filter_energy")


def test_model_pruning_of_a_parametrized_weight_fails_clearly(tmp_path):
    model = LitClassifier()
    conv = model.net.features[0]
    callbacks = [
        SpectralParametrizationCallback(),
        ModelPruning("l1_unstructured", amount=0.5, parameters_to_prune=[(conv, "weight")]),
    ]
    trainer = make_trainer(tmp_path, callbacks)
    with pytest.raises(MisconfigurationException, match="spectrally parametrized"):
        trainer.fit(model, loader())


def test_model_pruning_default_targets_with_parametrized_filters_are_refused(tmp_path):
    # Default targets would silently prune every weight but the parametrized filters.
    callbacks = [SpectralParametrizationCallback(), ModelPruning("l1_unstructured", amount=0.5)]
    trainer = make_trainer(tmp_path, callbacks, max_epochs=1, limit_val_batches=0)
    with pytest.raises(MisconfigurationException, match=r"default targets.*bake_"):
        trainer.fit(LitClassifier(), loader())


def test_model_pruning_of_named_plain_layers_with_parametrized_filters(tmp_path):
    model = LitClassifier()
    callbacks = [
        SpectralParametrizationCallback(),
        ModelPruning(
            "l1_unstructured", amount=0.5, parameters_to_prune=[(model.net.head, "weight")]
        ),
    ]
    trainer = make_trainer(tmp_path, callbacks, max_epochs=1, limit_val_batches=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(model, loader())
    assert is_spectrally_parametrized(model.net.features[0])
    assert (model.net.head.weight == 0).float().mean().item() == pytest.approx(0.5, abs=0.02)
