"""Pure tensor functions: band geometry, band-limited convolutions, spectral pooling, energy.

This is the reference implementation: the kernels and modules call into it or are tested
against it. Nothing here knows about Lightning or holds state.
"""

from lightning_spectral.functional.band import (
    Band,
    band_chain,
    band_for,
    check_compression,
    spectrum_shape,
)
from lightning_spectral.functional.conv import (
    TRANSFORM_SIZES,
    ConvPlan,
    ConvSpec,
    RealOperators,
    bandlimited_conv,
    bandlimited_conv1d,
    bandlimited_conv2d,
    conv_filter_spectrum,
    conv_padding,
    conv_plan,
    conv_spec,
    real_bandlimited_conv,
    real_operators,
    transform_shape,
)
from lightning_spectral.functional.energy import (
    band_energy_fraction,
    band_for_energy,
    check_energy,
    parseval_weights,
    power_map,
    retained_energy,
)
from lightning_spectral.functional.parametrization import (
    filter_bin_magnitudes,
    filter_from_rfft,
    filter_to_spectral,
    spectral_basis,
    spectral_coordinates,
    spectral_to_filter,
)
from lightning_spectral.functional.pooling import (
    check_pool_sizes,
    spectral_pool1d,
    spectral_pool2d,
    spectral_pool_matrix,
)
from lightning_spectral.functional.spectral import (
    band_irfft,
    band_rfft,
    filter_spectrum,
    spectral_contract,
)
from lightning_spectral.functional.validation import (
    check_bool,
    check_callable,
    check_choice,
    check_int,
    check_number,
    check_subset,
)

__all__ = [
    "TRANSFORM_SIZES",
    "Band",
    "ConvPlan",
    "ConvSpec",
    "RealOperators",
    "band_chain",
    "band_energy_fraction",
    "band_for",
    "band_for_energy",
    "band_irfft",
    "band_rfft",
    "bandlimited_conv",
    "bandlimited_conv1d",
    "bandlimited_conv2d",
    "check_bool",
    "check_callable",
    "check_choice",
    "check_compression",
    "check_energy",
    "check_int",
    "check_number",
    "check_pool_sizes",
    "check_subset",
    "conv_filter_spectrum",
    "conv_padding",
    "conv_plan",
    "conv_spec",
    "filter_bin_magnitudes",
    "filter_from_rfft",
    "filter_spectrum",
    "filter_to_spectral",
    "parseval_weights",
    "power_map",
    "real_bandlimited_conv",
    "real_operators",
    "retained_energy",
    "spectral_basis",
    "spectral_contract",
    "spectral_coordinates",
    "spectral_pool1d",
    "spectral_pool2d",
    "spectral_pool_matrix",
    "spectral_to_filter",
    "spectrum_shape",
    "transform_shape",
]
