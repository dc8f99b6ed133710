"""``ResolutionDropoutScheduler`` (``lightning_spectral.callbacks.resolution_dropout``): its
arguments."""

from __future__ import annotations

import math
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
