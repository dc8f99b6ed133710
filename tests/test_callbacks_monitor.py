"""``EnergyCompressionMonitor`` (``lightning_spectral.callbacks.monitor``): its arguments (the
training runs are in ``tests/test_callbacks_training.py``)."""

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
