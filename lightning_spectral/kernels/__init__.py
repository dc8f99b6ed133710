"""Kernel dispatch. Until the Triton kernels land, this re-exports the torch reference path."""

from lightning_spectral.functional import (
    bandlimited_conv1d,
    bandlimited_conv2d,
    spectral_pool1d,
    spectral_pool2d,
)

__all__ = ["bandlimited_conv1d", "bandlimited_conv2d", "spectral_pool1d", "spectral_pool2d"]
