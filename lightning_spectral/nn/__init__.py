"""Modules: band-limited convolutions, spectral pooling, spectral filter parametrization.

Modules hold configuration and statistics; the math is a call into
:mod:`lightning_spectral.kernels` (dispatch) and :mod:`lightning_spectral.functional`.
"""

from lightning_spectral.nn.conv import (
    MODES,
    BandLimitedConv1d,
    BandLimitedConv2d,
    BandLimitedConvExport,
    band_limit_config,
)
from lightning_spectral.nn.parametrization import (
    SpectralFilterParametrization,
    is_spectrally_parametrized,
    register_spectral_parametrization,
    spectral_sparsity,
)
from lightning_spectral.nn.pooling import PoolWindow, SpectralPool1d, SpectralPool2d

__all__ = [
    "MODES",
    "BandLimitedConv1d",
    "BandLimitedConv2d",
    "BandLimitedConvExport",
    "PoolWindow",
    "SpectralFilterParametrization",
    "SpectralPool1d",
    "SpectralPool2d",
    "band_limit_config",
    "is_spectrally_parametrized",
    "register_spectral_parametrization",
    "spectral_sparsity",
]
