"""``ResolutionDropoutScheduler`` (``lightning_spectral.callbacks.resolution_dropout``): its
arguments."""

from __future__ import annotations

import math

import pytest
from _assertions import raises_naming

from lightning_spectral import (
    ResolutionDropoutScheduler,
)


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
    with raises_naming(error, bad):
        ResolutionDropoutScheduler(**kwargs)
