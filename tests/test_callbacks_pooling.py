"""``SpectralPoolingCallback`` (``lightning_spectral.callbacks.pooling``): its arguments."""

from __future__ import annotations

import pytest
from _assertions import raises_naming

from lightning_spectral import (
    SpectralPoolingCallback,
)


@pytest.mark.parametrize(
    ("kinds", "error"),
    [
        ({"max"}, TypeError),
        ([3], TypeError),
        ([], ValueError),
        (["min"], ValueError),
        (["max", "max"], ValueError),
    ],
)
def test_pooling_kinds_rejected(kinds, error):
    with raises_naming(error, kinds):
        SpectralPoolingCallback(kinds=kinds)
