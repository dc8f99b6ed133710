"""Property-based tests: the public functionals and modules over random arguments and shapes.

Hypothesis draws valid and invalid arguments and shapes, including the edges (batch 0, 1x1 maps,
a kernel as large as the (padded) input, dilation and stride larger than the kernel). The
properties:

* valid input -> a finite output of the shape ``torch.nn.functional.conv*`` (or the pool's
  rule) gives, and the same values as torch at compression 0;
* invalid input -> ``TypeError`` or ``ValueError`` whose message names the argument; never
  another exception type (an ``IndexError``, a reshape ``RuntimeError``, an FFT library error).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lightning_spectral.functional import (
    band_energy_fraction,
    band_for,
    band_for_energy,
    bandlimited_conv1d,
    bandlimited_conv2d,
    power_map,
    retained_energy,
    spectral_pool1d,
    spectral_pool2d,
)
from lightning_spectral.functional.band import band_chain
from lightning_spectral.nn import (
    BandLimitedConv1d,
    BandLimitedConv2d,
    SpectralPool1d,
    SpectralPool2d,
)

# Small shapes keep every example in milliseconds; the limits keep the whole file in seconds.
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
CONV = {1: (bandlimited_conv1d, F.conv1d), 2: (bandlimited_conv2d, F.conv2d)}
MODULES = {1: BandLimitedConv1d, 2: BandLimitedConv2d}
#: What a bad argument may raise: a wrong type or a wrong value, never anything else.
ARGUMENT_ERRORS = (TypeError, ValueError)


@st.composite
def conv_case(draw, ndim: int):
    """A valid convolution: shapes, geometry, groups and a compression."""
    groups = draw(st.sampled_from([1, 2]))
    c_in = groups * draw(st.integers(1, 2))
    c_out = groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(ndim))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    stride = tuple(draw(st.integers(1, 6)) for _ in range(ndim))  # may exceed the kernel
    padding = tuple(draw(st.integers(0, 2)) for _ in range(ndim))
    # Input at least the dilated kernel minus the padding (a kernel as large as the padded
    # input is drawn as the smallest size).
    size = tuple(
        max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, 5))
        for k, d, p in zip(kernel, dilation, padding, strict=True)
    )
    batch = draw(st.sampled_from([0, 1, 2]))
    compression = draw(st.sampled_from([0.0, 0.25, 0.5, 0.9]))
    return {
        "input": (batch, c_in, *size),
        "weight": (c_out, c_in // groups, *kernel),
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "groups": groups,
        "compression": compression,
    }


def _tensors(case: dict, dtype=torch.float64):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(case["input"], generator=generator, dtype=dtype)
    w = torch.randn(case["weight"], generator=generator, dtype=dtype)
    b = torch.randn(case["weight"][0], generator=generator, dtype=dtype)
    return x, w, b


def _geometry(case: dict) -> dict:
    return {k: case[k] for k in ("stride", "padding", "dilation", "groups")}


@pytest.mark.parametrize("ndim", [1, 2])
@SETTINGS
@given(data=st.data())
def test_valid_convolutions_have_torchs_shape_and_are_finite(ndim, data):
    case = data.draw(conv_case(ndim))
    ours, theirs = CONV[ndim]
    x, w, b = _tensors(case)
    expected = theirs(x, w, b, **_geometry(case))
    out = ours(x, w, b, **_geometry(case), compression=case["compression"])
    assert out.shape == expected.shape
    assert out.dtype == x.dtype
    assert torch.isfinite(out).all()
    if case["compression"] == 0.0:
        torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("ndim", [1, 2])
@SETTINGS
@given(data=st.data())
def test_valid_modules_match_torchs_shape_forward_and_backward(ndim, data):
    case = data.draw(conv_case(ndim))
    module = MODULES[ndim](
        case["weight"][1] * case["groups"],
        case["weight"][0],
        case["weight"][2:],
        **_geometry(case),
        compression=case["compression"],
    ).double()
    x = torch.randn(case["input"], dtype=torch.float64, requires_grad=True)
    out = module(x)
    expected_shape = CONV[ndim][1](x, module.weight, module.bias, **_geometry(case)).shape
    assert out.shape == expected_shape and torch.isfinite(out).all()
    out.sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape and torch.isfinite(x.grad).all()
    assert torch.isfinite(module.weight.grad).all()


# ------------------------------------------------------------------------------------------
# Invalid convolution arguments
# ------------------------------------------------------------------------------------------

BAD_CONV_ARGUMENTS = {
    "stride": [0, -1, 1.5, "1", None, (1, 2, 3), True],
    "padding": [-1, 1.5, "bogus", None, (1, 2, 3)],
    "dilation": [0, -2, 1.0, "1", None, (1, 2, 3)],
    "groups": [0, -1, 1.5, "1", None, True, 3],
    "compression": [-0.1, 1.0, 2, math.nan, math.inf, "0.5", None, True],
}


@pytest.mark.parametrize("ndim", [1, 2])
@SETTINGS
@given(
    data=st.data(),
    argument=st.sampled_from(sorted(BAD_CONV_ARGUMENTS)),
)
def test_invalid_convolution_arguments_are_type_or_value_errors_naming_them(ndim, data, argument):
    case = data.draw(conv_case(ndim))
    case["groups"] = 1
    case["weight"] = (case["weight"][0], case["input"][1], *case["weight"][2:])
    bad = data.draw(st.sampled_from(BAD_CONV_ARGUMENTS[argument]))
    x, w, b = _tensors(case)
    kwargs = {**_geometry(case), "compression": case["compression"], argument: bad}
    ours = CONV[ndim][0]
    with pytest.raises(ARGUMENT_ERRORS) as error:
        ours(x, w, b, **kwargs)
    assert argument in str(error.value)


@pytest.mark.parametrize("ndim", [1, 2])
@SETTINGS
@given(data=st.data())
def test_mismatched_tensors_are_value_or_type_errors(ndim, data):
    case = data.draw(conv_case(ndim))
    x, w, b = _tensors(case)
    ours = CONV[ndim][0]
    kind = data.draw(st.sampled_from(["channels", "rank", "bias", "dtype", "too_small", "type"]))
    if kind == "channels":
        x = torch.randn(case["input"][0], case["input"][1] + 1, *case["input"][2:]).double()
        name = "input"
    elif kind == "rank":
        x = torch.randn(*[2] * (ndim + 3)).double()
        name = "input"
    elif kind == "bias":
        b = torch.randn(case["weight"][0] + 1).double()
        name = "bias"
    elif kind == "dtype":
        x = x.long()
        name = "input"
    elif kind == "type":
        x = x.tolist()
        name = "input"
    else:  # input smaller than the dilated kernel after padding
        span = [d * (k - 1) + 1 for k, d in zip(case["weight"][2:], case["dilation"], strict=True)]
        if all(s <= 1 for s in span):
            return  # a 1-wide kernel fits every input
        case["padding"] = (0,) * ndim
        x = torch.randn(*case["input"][:2], *[max(1, s - 1) for s in span]).double()
        name = "input"
    with pytest.raises(ARGUMENT_ERRORS) as error:
        ours(x, w, b, **_geometry(case), compression=case["compression"])
    message = str(error.value)
    # The message names the argument, or the quantity the arguments disagree on.
    assert any(word in message for word in (name, "kernel", "channels", "groups")), message


# ------------------------------------------------------------------------------------------
# Spectral pools
# ------------------------------------------------------------------------------------------

POOLS = {1: spectral_pool1d, 2: spectral_pool2d}
POOL_MODULES = {1: SpectralPool1d, 2: SpectralPool2d}


@pytest.mark.parametrize("ndim", [1, 2])
@SETTINGS
@given(data=st.data())
def test_valid_spectral_pools_give_the_requested_shape_and_are_finite(ndim, data):
    size = tuple(data.draw(st.integers(1, 9)) for _ in range(ndim))
    out_size = tuple(data.draw(st.integers(1, n)) for n in size)
    cutoff = data.draw(st.none() | st.just(tuple(data.draw(st.integers(1, o)) for o in out_size)))
    batch = data.draw(st.sampled_from([0, 1, 3]))
    x = torch.randn(batch, 2, *size, dtype=torch.float64, requires_grad=True)
    out = POOLS[ndim](
        x, out_size[0] if ndim == 1 else out_size, cutoff and (cutoff[0] if ndim == 1 else cutoff)
    )
    assert out.shape == (batch, 2, *out_size) and torch.isfinite(out).all()
    out.sum().backward()
    assert x.grad.shape == x.shape and torch.isfinite(x.grad).all()
    module = POOL_MODULES[ndim](out_size if ndim == 2 else out_size[0])
    assert module(x.detach()).shape == (batch, 2, *out_size)


BAD_POOL_SIZES = [0, -1, 1.5, "2", None, True, 100]


@pytest.mark.parametrize("ndim", [1, 2])
@SETTINGS
@given(data=st.data())
def test_invalid_spectral_pool_arguments_are_type_or_value_errors_naming_them(ndim, data):
    size = tuple(data.draw(st.integers(1, 9)) for _ in range(ndim))
    x = torch.randn(1, 2, *size)
    argument = data.draw(st.sampled_from(["output_size", "cutoff"]))
    bad = data.draw(st.sampled_from(BAD_POOL_SIZES))
    if argument == "cutoff" and bad is None:
        return  # None is "no dropout", a valid cutoff
    kwargs = {"output_size": 1, "cutoff": None, argument: bad}
    with pytest.raises(ARGUMENT_ERRORS) as error:
        POOLS[ndim](x, **kwargs)
    assert argument in str(error.value)
    with pytest.raises(ARGUMENT_ERRORS) as error:
        POOLS[ndim](x.long(), 1)
    assert "input" in str(error.value)


# ------------------------------------------------------------------------------------------
# Energy functions
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ndim", [1, 2])
@SETTINGS
@given(data=st.data())
def test_energy_functions_give_fractions_in_0_1(ndim, data):
    size = tuple(data.draw(st.integers(1, 9)) for _ in range(ndim))
    batch = data.draw(st.integers(1, 3))
    signal = torch.randn(batch, 2, *size, dtype=torch.float64)
    power = power_map(signal, ndim)
    chain = band_chain(size)
    fractions = retained_energy(power, chain)
    assert fractions.shape == (len(chain),) and torch.isfinite(fractions).all()
    assert (fractions >= -1e-12).all() and (fractions <= 1 + 1e-9).all()
    compression = data.draw(st.sampled_from([0.0, 0.3, 0.7, 0.95]))
    fraction = band_energy_fraction(power, band_for(size, compression))
    assert 0.0 <= float(fraction) <= 1.0 + 1e-9
    energy = data.draw(st.sampled_from([0.5, 0.9, 1.0]))
    band = band_for_energy(power, size, energy)
    assert float(band_energy_fraction(power, band)) >= energy - 1e-6


@SETTINGS
@given(energy=st.one_of(st.floats(allow_nan=True), st.text(max_size=2), st.booleans(), st.none()))
def test_band_for_energy_rejects_bad_energy_with_type_or_value_error(energy):
    if isinstance(energy, float) and 0.0 < energy <= 1.0:
        return
    with pytest.raises(ARGUMENT_ERRORS) as error:
        band_for_energy(torch.ones(4, 3), (4, 4), energy)
    assert "`energy`" in str(error.value)
    expected = TypeError if not isinstance(energy, float) else ValueError
    assert type(error.value) is expected


# ------------------------------------------------------------------------------------------
# Module constructors
# ------------------------------------------------------------------------------------------

BAD_MODULE_ARGUMENTS = {
    "kernel_size": [0, -1, 1.5, "3", None, (3, 3, 3)],
    "stride": [0, 1.5, "1"],
    "dilation": [0, 2.0],
    "groups": [0, 3, 1.5, True],
    "compression": [1.0, -0.5, math.nan, "0.1", True],
    "eval_compression": [1.0, math.inf, "0.1"],
    "mode": ["Fixed", None, 1],
    "padding_mode": ["mirror", None],
}
BAD_POOL_MODULE_ARGUMENTS = {
    "output_size": [0, -2, 1.5, "4", (4, 4, 4)],
    "dropout_min": [-0.1, 1.5, math.nan, "0.5", True],
    "dropout_seed": [1.5, "0", None, True],
}


@pytest.mark.parametrize("ndim", [1, 2])
@SETTINGS
@given(data=st.data())
def test_invalid_module_arguments_are_type_or_value_errors_naming_them(ndim, data):
    argument = data.draw(st.sampled_from(sorted(BAD_MODULE_ARGUMENTS)))
    bad = data.draw(st.sampled_from(BAD_MODULE_ARGUMENTS[argument]))
    kwargs = {"in_channels": 2, "out_channels": 2, "kernel_size": 3, argument: bad}
    with pytest.raises(ARGUMENT_ERRORS) as error:
        MODULES[ndim](**kwargs)
    assert argument in str(error.value) or (
        argument == "groups" and "channels" in str(error.value)
    ), str(error.value)


@pytest.mark.parametrize("ndim", [1, 2])
@SETTINGS
@given(data=st.data())
def test_invalid_pool_module_arguments_are_type_or_value_errors_naming_them(ndim, data):
    argument = data.draw(st.sampled_from(sorted(BAD_POOL_MODULE_ARGUMENTS)))
    bad = data.draw(st.sampled_from(BAD_POOL_MODULE_ARGUMENTS[argument]))
    kwargs = {"output_size": 4, argument: bad}
    with pytest.raises(ARGUMENT_ERRORS) as error:
        POOL_MODULES[ndim](**kwargs)
    assert argument in str(error.value), str(error.value)
