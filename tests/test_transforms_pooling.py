"""``lightning_spectral.transforms.pooling``: ``replace_pooling_``."""

from __future__ import annotations

import warnings
import zlib

import pytest
import torch
import torchvision
from _transform_helpers import Zoo, transform_warnings
from torch import nn

from lightning_spectral import transforms as T
from lightning_spectral.nn import (
    SpectralPool2d,
)


def test_replace_pooling_kinds_skips_and_seeds():
    model = Zoo()
    with pytest.warns(T.SpectralTransformWarning) as record:
        report = T.replace_pooling_(model, dropout_min=0.3, seed=5)
    assert report.changed == ["body.2"]
    assert isinstance(model.body[2], SpectralPool2d) and model.body[2].dropout_min == 0.3
    assert model.body[2].dropout_seed == (5 + zlib.crc32(b"body.2")) % 2**31
    assert set(report.skipped) == {"pool3d", "indices", "widen"}
    assert "3D" in report.skipped["pool3d"]
    assert "return_indices" in report.skipped["indices"]
    assert "upsample" in report.skipped["widen"]
    assert len(transform_warnings(record)) == 1
    assert type(model.gap) is nn.AdaptiveAvgPool2d  # adaptive pools only when asked
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", T.SpectralTransformWarning)
        adaptive = T.replace_pooling_(model, kinds=["adaptive_avg"])
        again = T.replace_pooling_(model, kinds=["max", "adaptive_avg"])
    assert adaptive.changed == ["gap"] and isinstance(model.gap, SpectralPool2d)
    assert again.changed == [] and set(again.unchanged) == {"body.2", "gap"}
    assert [name for name, _ in T.spectral_pools(model)] == ["body.2", "gap"]
    with pytest.raises(ValueError, match="kinds"):
        T.replace_pooling_(model, kinds=["lp"])


def test_global_average_pool_replacement_keeps_resnet_logits():
    model = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        ref = model(x)
        report = T.replace_pooling_(model, kinds=("adaptive_avg",))
        assert report.changed == ["avgpool"]
        torch.testing.assert_close(model(x), ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())
