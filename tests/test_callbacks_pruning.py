"""``ModelPruning`` with spectrally parametrized filters: refused at ``setup``, with a way out.

A parametrized ``weight`` is computed from the spectral coefficients, not an ``nn.Parameter``:
``ModelPruning``'s default targets (every ``weight``/``bias`` parameter) would skip those filters
without a word, and pruning one by name cannot work in place.
"""

from __future__ import annotations

import pytest
from _lightning_helpers import LitClassifier, loader
from _lightning_helpers import trainer as make_trainer
from pytorch_lightning.callbacks import ModelPruning
from pytorch_lightning.utilities.exceptions import MisconfigurationException

from lightning_spectral import SpectralParametrizationCallback, transforms
from lightning_spectral.nn import is_spectrally_parametrized

PARAMETRIZED = ["net.features.0.weight", "net.features.3.weight"]


def _fit(tmp_path, model, callbacks):
    trainer = make_trainer(tmp_path, callbacks, max_epochs=1, limit_val_batches=0)
    trainer.fit(model, loader())
    return trainer


def test_default_targets_with_parametrized_filters_are_refused(tmp_path):
    model = LitClassifier()
    callbacks = [SpectralParametrizationCallback(), ModelPruning("l1_unstructured", amount=0.5)]
    with pytest.raises(MisconfigurationException) as info:
        _fit(tmp_path, model, callbacks)
    message = str(info.value)
    assert "SpectralParametrizationCallback and ModelPruning" in message
    assert "silently skip" in message and str(PARAMETRIZED) in message
    assert "exclude=" in message and "bake_" in message and "parameter_names=['bias']" in message
    assert (model.net.head.weight != 0).all()  # refused before anything was pruned


def test_a_parametrized_target_named_explicitly_is_refused(tmp_path):
    model = LitClassifier()
    conv = model.net.features[0]
    pruning = ModelPruning("l1_unstructured", amount=0.5, parameters_to_prune=[(conv, "weight")])
    with pytest.raises(MisconfigurationException, match="cannot prune in place") as info:
        _fit(tmp_path, model, [SpectralParametrizationCallback(), pruning])
    assert "['net.features.0.weight']" in str(info.value)


def test_pruning_the_biases_only_is_allowed(tmp_path):
    model = LitClassifier()
    pruning = ModelPruning("l1_unstructured", amount=0.5, parameter_names=["bias"], verbose=0)
    _fit(tmp_path, model, [SpectralParametrizationCallback(), pruning])
    assert is_spectrally_parametrized(model.net.features[0])
    assert (model.net.head.bias == 0).any()


def test_filters_left_out_of_the_parametrization_are_pruned(tmp_path):
    model = LitClassifier()
    callbacks = [
        SpectralParametrizationCallback(exclude="net.features.3"),
        ModelPruning(
            "l1_unstructured", amount=0.5, parameters_to_prune=[(model.net.features[3], "weight")]
        ),
    ]
    _fit(tmp_path, model, callbacks)
    assert is_spectrally_parametrized(model.net.features[0])
    assert (model.net.features[3].weight == 0).float().mean().item() == pytest.approx(0.5, abs=0.05)


def test_baked_filters_are_pruned(tmp_path):
    model = LitClassifier()
    _fit(tmp_path / "spectral", model, [SpectralParametrizationCallback()])
    transforms.bake_(model)
    assert not is_spectrally_parametrized(model.net.features[0])
    _fit(tmp_path / "pruned", model, [ModelPruning("l1_unstructured", amount=0.5, verbose=0)])
    assert (model.net.features[0].weight == 0).any() and (model.net.features[3].weight == 0).any()
