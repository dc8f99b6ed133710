"""``SpectralPoolingCallback`` (``lightning_spectral.callbacks.pooling``): its arguments."""

from __future__ import annotations

import re

import pytest

from lightning_spectral import (
    BandLimitCallback,
    EnergyCompressionMonitor,
    ResolutionDropoutScheduler,
    SpectralParametrizationCallback,
    SpectralPoolingCallback,
)

REWRITERS = [BandLimitCallback, SpectralParametrizationCallback, SpectralPoolingCallback]
ALL = [*REWRITERS, ResolutionDropoutScheduler, EnergyCompressionMonitor]


def _raises(error: type[Exception], bad: object):
    """``pytest.raises`` that also checks the message names the bad value."""
    return pytest.raises(error, match=re.escape(repr(bad)))


@pytest.mark.parametrize(
    ("kinds", "error"),
    [("max", TypeError), ([], ValueError), (["min"], ValueError), (["max", "max"], ValueError)],
)
def test_pooling_kinds_rejected(kinds, error):
    with _raises(error, kinds):
        SpectralPoolingCallback(kinds=kinds)
