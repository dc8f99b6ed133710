"""``BandLimitCallback`` (``lightning_spectral.callbacks.band_limit``): its arguments."""

from __future__ import annotations

import math

import pytest
from _assertions import raises_naming

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
