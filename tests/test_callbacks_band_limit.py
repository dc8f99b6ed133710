"""``BandLimitCallback`` (``lightning_spectral.callbacks.band_limit``): its arguments, and the
warnings of energy-mode runs whose statistics decide nothing (they name the layer)."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from _assertions import raises_naming
from _lightning_helpers import CLASSES, IMAGE, LitClassifier
from _lightning_helpers import trainer as make_trainer
from torch.utils.data import DataLoader, TensorDataset

from lightning_spectral import (
    BandLimitCallback,
)

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
    with raises_naming(error, bad):
        BandLimitCallback(**kwargs)


# --------------------------------------------------------------------------------------------
# Energy-mode statistics that decide nothing: a warning naming the layer
# --------------------------------------------------------------------------------------------


def _energy_fit_warnings(tmp_path, fill: float) -> list[str]:
    """Messages warned by a one-epoch energy-mode fit on inputs that all equal ``fill``."""
    x = torch.full((16, 1, IMAGE, IMAGE), fill)
    data = DataLoader(TensorDataset(x, torch.randint(0, CLASSES, (16,))), batch_size=8)
    callback = BandLimitCallback(compression=0.25, mode="energy", energy=0.9)
    trainer = make_trainer(tmp_path, [callback], max_epochs=1, logger=False)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        trainer.fit(LitClassifier(), data)
    return [str(w.message) for w in record if "band-limited layer" in str(w.message)]


def test_all_non_finite_statistics_warn_naming_the_layer(tmp_path):
    # Every sample has a nan: the statistics count no sample, the layer is left out of the
    # reduction, and its band stays; before, nothing said so.
    messages = _energy_fit_warnings(tmp_path, math.nan)
    assert any(
        m.startswith("band-limited layer net.features.0: 16 input sample(s) with nan/inf")
        for m in messages
    ), messages


def test_statistics_without_energy_warn_naming_the_layer(tmp_path):
    # All-zero inputs: samples counted, no energy; update_band names the layer, not its repr.
    messages = _energy_fit_warnings(tmp_path, 0.0)
    assert any(
        m.startswith("band-limited layer net.features.0: its energy statistics hold no finite")
        for m in messages
    ), messages


# --------------------------------------------------------------------------------------------
# transform_size="full": fit, checkpoint, load without callbacks
# --------------------------------------------------------------------------------------------


def test_full_transform_size_trains_and_loads_without_callbacks(tmp_path):
    from _lightning_helpers import loader

    from lightning_spectral import load_from_checkpoint
    from lightning_spectral.nn import BandLimitedConv2d

    callback = BandLimitCallback(compression=0.5, transform_size="full")
    trainer = make_trainer(tmp_path, [callback], max_epochs=1, logger=False)
    model = LitClassifier()
    trainer.fit(model, loader())
    first = model.net.features[0]
    assert isinstance(first, BandLimitedConv2d) and first.transform_size == "full"
    assert first.last_signal_shape == (18 + 16 - 1,) * 2  # 16x16, 3x3, padding 1
    path = tmp_path / "full.ckpt"
    trainer.save_checkpoint(path)
    loaded = load_from_checkpoint(LitClassifier, path)
    assert loaded.net.features[0].transform_size == "full"
    x = torch.randn(4, 1, IMAGE, IMAGE)
    model.eval(), loaded.eval()
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


def test_layers_band_limited_before_with_another_transform_size_warn(tmp_path):
    from _lightning_helpers import loader

    from lightning_spectral import transforms

    model = LitClassifier()
    transforms.band_limit_(model, compression=0.5, include="net.features.0")
    callback = BandLimitCallback(compression=0.5, transform_size="full")
    trainer = make_trainer(tmp_path, [callback], max_epochs=1, logger=False)
    with pytest.warns(UserWarning, match=r"\['net\.features\.0'\] were band-limited before"):
        trainer.fit(model, loader())
    # Kept as they were; the plain convolution was converted at the callback's size.
    assert model.net.features[0].transform_size == "padded"
    assert model.net.features[3].transform_size == "full"
