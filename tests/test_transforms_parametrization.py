"""``lightning_spectral.transforms.parametrization``: ``parametrize_spectral_`` and ``bake_``."""

from __future__ import annotations

import pytest
import torch
from _transform_helpers import CustomConv, Net, Zoo
from torch import nn
from torch.nn.utils import parametrize

from lightning_spectral import transforms as T
from lightning_spectral.nn import (
    BandLimitedConv2d,
    is_spectrally_parametrized,
)


def test_parametrize_skips_and_bake_restores_plain_weights():
    model = Zoo()
    with pytest.warns(T.SpectralTransformWarning, match="lazy"):
        report = T.parametrize_spectral_(model)
    # Transposed and 3D convolutions have kernel dims last too: they are supported.
    assert set(report.changed) == {"stem", "body.0", "up", "vol", "custom", "line"}
    assert set(report.skipped) == {"lazy"}
    again = T.parametrize_spectral_(model, exclude="lazy")
    assert again.changed == [] and len(again.unchanged) == 6
    assert [name for name, _ in T.spectrally_parametrized(model)] == [
        "stem",
        "body.0",
        "up",
        "vol",
        "custom",
        "line",
    ]
    baked = T.bake_(model)
    assert set(baked.changed) == set(report.changed)
    assert not any(parametrize.is_parametrized(m) for m in model.modules())
    assert type(model.custom) is CustomConv and isinstance(model.stem.weight, nn.Parameter)
    assert T.bake_(model).changed == []


def test_parametrize_refuses_other_parametrizations_and_bake_skips_mixed_chains():
    conv = nn.Conv2d(2, 2, 3)
    parametrize.register_parametrization(conv, "weight", nn.Identity())
    model = nn.Sequential(conv)
    with pytest.warns(T.SpectralTransformWarning, match="Identity"):
        report = T.parametrize_spectral_(model)
    assert "already has parametrizations" in report.skipped["0"]

    mixed = nn.Sequential(nn.Conv2d(2, 2, 3))
    T.parametrize_spectral_(mixed)
    parametrize.register_parametrization(mixed[0], "weight", nn.Identity())
    with pytest.warns(T.SpectralTransformWarning, match="other parametrizations"):
        baked = T.bake_(mixed)
    assert "0" in baked.skipped and is_spectrally_parametrized(mixed[0])


def test_bake_keeps_outputs():
    torch.manual_seed(0)
    model = Net().eval()
    x = torch.randn(2, 3, 12, 12)
    T.band_limit_(model, compression=0.3)
    T.parametrize_spectral_(model)
    before = model(x)
    T.bake_(model)
    assert isinstance(model.stem, BandLimitedConv2d) and not parametrize.is_parametrized(model.stem)
    torch.testing.assert_close(model(x), before, rtol=0, atol=1e-6)
