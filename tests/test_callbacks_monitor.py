"""``EnergyCompressionMonitor`` (``lightning_spectral.callbacks.monitor``): its arguments (the
training runs are in ``tests/test_callbacks_training.py``)."""

from __future__ import annotations

import pytest
from _assertions import raises_naming

from lightning_spectral import (
    EnergyCompressionMonitor,
)


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
    with raises_naming(ValueError, bad):
        EnergyCompressionMonitor(**kwargs)
