"""SpectralPool1d/2d: output sizes (fixed, scale, a replaced pool's geometry), frequency dropout
(training only, Rippel's cutoff range, reproducible draws saved in the state dict)."""

from __future__ import annotations

import collections
import io
import math
import warnings

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from lightning_spectral.functional import spectral_pool1d, spectral_pool2d
from lightning_spectral.nn import PoolWindow, SpectralPool1d, SpectralPool2d

# ---------------------------------------------------------------------------------------------
# Output sizes
# ---------------------------------------------------------------------------------------------


@st.composite
def window_pools(draw):
    """A torch MaxPool2d/AvgPool2d that never upsamples, and an input size it accepts."""
    kind = draw(st.sampled_from(["max", "avg"]))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(2, 3)), draw(st.integers(1, 3)))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if kind == "max" else (1, 1)
    if stride[1] == 1 and 2 * padding[1] > dilation[1] * (kernel[1] - 1):
        padding = (padding[0], 0)
    ceil_mode = draw(st.booleans())
    span = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
    size = tuple(
        draw(st.integers(max(1, s - 2 * p), 17)) for s, p in zip(span, padding, strict=True)
    )
    if kind == "max":
        pool = nn.MaxPool2d(kernel, stride, padding, dilation, ceil_mode=ceil_mode)
    else:
        pool = nn.AvgPool2d(kernel, stride, padding, ceil_mode=ceil_mode)
    return pool, size


@settings(max_examples=60)
@given(window_pools())
def test_window_geometry_reproduces_the_torch_output_size(case):
    pool, size = case
    x = torch.randn(1, 2, *size)
    expected = pool(x).shape
    # ceil_mode with padding can make torch upsample a tiny input; spectral pooling refuses that
    # (tested below), so such draws are outside this property.
    assume(all(o <= s for o, s in zip(expected[-2:], size, strict=True)))
    spectral = SpectralPool2d.from_pool(pool)
    assert spectral.output_size_for(size) == tuple(expected[-2:])
    assert spectral(x).shape == expected


@pytest.mark.parametrize(
    "pool",
    [nn.MaxPool1d(3, 2, 1, ceil_mode=True), nn.AvgPool1d(2), nn.MaxPool1d(2, dilation=2)],
)
def test_window_geometry_1d(pool):
    for length in (5, 8, 13):
        x = torch.randn(2, 3, length)
        assert SpectralPool1d.from_pool(pool)(x).shape == pool(x).shape


def test_adaptive_pools_keep_their_output_size():
    x = torch.randn(2, 3, 9, 12)
    for pool in (nn.AdaptiveAvgPool2d((5, None)), nn.AdaptiveMaxPool2d(4)):
        spectral = SpectralPool2d.from_pool(pool)
        assert spectral(x).shape == pool(x).shape
    # Global average pooling is the DC coefficient: exactly the mean.
    torch.testing.assert_close(
        SpectralPool2d.from_pool(nn.AdaptiveAvgPool2d(1))(x), x.mean((-2, -1), keepdim=True)
    )
    assert SpectralPool1d.from_pool(nn.AdaptiveAvgPool1d(3))(torch.randn(2, 7)).shape == (2, 3)


def test_scale_sizes_and_forward_match_the_functional():
    pool = SpectralPool2d(scale=0.85)
    assert pool.output_size_for((20, 7)) == (17, 5)
    assert pool.output_size_for((1, 1)) == (1, 1)
    x = torch.randn(2, 3, 20, 7)
    torch.testing.assert_close(pool(x), spectral_pool2d(x, (17, 5)))
    assert SpectralPool2d(scale=(1.0, 0.5)).output_size_for((6, 6)) == (6, 3)
    one = SpectralPool1d(scale=0.5)
    x1 = torch.randn(2, 11)
    torch.testing.assert_close(one(x1), spectral_pool1d(x1, 5))


def test_fixed_output_size_with_none():
    pool = SpectralPool2d((4, None))
    x = torch.randn(1, 1, 9, 6)
    torch.testing.assert_close(pool(x), spectral_pool2d(x, (4, 6)))


def test_upsampling_is_refused_with_sizes():
    with pytest.raises(ValueError, match=r"output size \(7, 7\) for input size \(2, 2\)"):
        SpectralPool2d.from_pool(nn.AdaptiveAvgPool2d(7))(torch.randn(1, 1, 2, 2))
    with pytest.raises(ValueError, match="cannot upsample"):
        SpectralPool2d.from_pool(nn.AvgPool2d(2, stride=1, padding=1))
    x = torch.randn(1, 1, 6, 5)  # a "same" window is fine: the identity
    torch.testing.assert_close(SpectralPool2d.from_pool(nn.MaxPool2d(3, 1, 1))(x), x)
    with pytest.raises(ValueError, match="cannot upsample"):
        PoolWindow((2,), (1,), (1,), (1,))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({}, ValueError, "exactly one"),
        ({"output_size": 2, "scale": 0.5}, ValueError, "exactly one"),
        ({"output_size": 0}, ValueError, r"`output_size` must be >= 1 \(or None\), got 0"),
        ({"output_size": (2, 2, 2)}, TypeError, r"`output_size` must be an int or 2 ints"),
        ({"output_size": 2.0}, TypeError, r"`output_size`.*got 2.0"),
        ({"output_size": True}, TypeError, r"`output_size`.*got True"),
        ({"scale": 0.0}, ValueError, r"\(0, 1\]"),
        ({"scale": 1.5}, ValueError, r"\(0, 1\]"),
        ({"scale": float("nan")}, ValueError, r"`scale`.*got nan"),
        ({"scale": "0.5"}, TypeError, r"`scale` must be a float.*got '0.5'"),
        ({"window": {"kernel_size": [2]}}, ValueError, "needs exactly the keys"),
        ({"window": "2x2"}, TypeError, r"`window` must be a PoolWindow or its dict, got '2x2'"),
        ({"output_size": 2, "dropout_min": 1.5}, ValueError, r"\[0, 1\], got 1.5"),
        ({"output_size": 2, "dropout_min": float("nan")}, ValueError, r"`dropout_min`.*nan"),
        ({"output_size": 2, "dropout_min": "0.3"}, TypeError, r"`dropout_min`.*got '0.3'"),
        ({"output_size": 2, "dropout_seed": 0.5}, TypeError, r"`dropout_seed`.*got 0.5"),
    ],
)
def test_bad_configuration_fails_at_construction(kwargs, error, match):
    with pytest.raises(error, match=match):
        SpectralPool2d(**kwargs)


_WINDOW = {"kernel_size": [3, 3], "stride": [2, 2], "padding": [1, 1], "dilation": [1, 1]}


@pytest.mark.parametrize(
    ("window", "error", "match"),
    [
        ({**_WINDOW, "ceil_mode": "no"}, TypeError, r"`ceil_mode` must be a bool, got 'no'"),
        ({**_WINDOW, "ceil_mode": False, "extra": 1}, ValueError, "needs exactly the keys"),
        ({**_WINDOW, "kernel_size": 3, "ceil_mode": False}, TypeError, r"`kernel_size`.*got 3"),
        ({**_WINDOW, "stride": [0, 2], "ceil_mode": False}, ValueError, r"`stride` must be >= 1"),
        ({**_WINDOW, "padding": [-1, 0], "ceil_mode": False}, ValueError, "`padding` must be >= 0"),
        ({**_WINDOW, "dilation": [1.0, 1], "ceil_mode": False}, TypeError, "`dilation` must be"),
        ([3, 3], TypeError, "a pool window must be a dict"),
    ],
)
def test_pool_window_from_plan_data_is_validated(window, error, match):
    # Plans store windows as dicts: a hand-edited or corrupted one is refused like bad arguments.
    with pytest.raises(error, match=match):
        PoolWindow.from_dict(window)


def test_from_pool_refuses_other_modules():
    with pytest.raises(TypeError, match="return_indices"):
        SpectralPool2d.from_pool(nn.MaxPool2d(2, return_indices=True))
    with pytest.raises(TypeError, match="MaxPool1d"):
        SpectralPool2d.from_pool(nn.MaxPool1d(2))


def test_config_rebuilds_the_same_module():
    pool = SpectralPool2d.from_pool(nn.MaxPool2d(3, 2, 1), dropout_min=0.3, dropout_seed=7)
    twin = SpectralPool2d(**pool.config())
    assert twin.config() == pool.config() and twin.window == pool.window
    assert "window(kernel_size=(3, 3)" in repr(pool) and "dropout_min=0.3" in repr(pool)


# ---------------------------------------------------------------------------------------------
# Frequency dropout
# ---------------------------------------------------------------------------------------------


def test_dropout_only_in_training_with_the_drawn_cutoff():
    pool = SpectralPool2d(8, dropout_min=0.25, dropout_seed=3)
    x = torch.randn(2, 3, 16, 16)
    plain = spectral_pool2d(x, 8)
    pool.eval()
    torch.testing.assert_close(pool(x), plain)
    assert pool.dropout_draws == 0  # eval draws nothing
    pool.train()
    replay = SpectralPool2d(8, dropout_min=0.25, dropout_seed=3)
    dropped = 0
    for _ in range(6):
        cutoff = replay.draw_cutoff((8, 8))
        out = pool(x)
        torch.testing.assert_close(out, spectral_pool2d(x, 8, cutoff))
        dropped += cutoff != (8, 8)
    assert pool.dropout_draws == 6 and dropped > 0
    pool.dropout_min = None  # training without dropout: the plain pool
    torch.testing.assert_close(pool(x), plain)


def test_cutoff_is_uniform_over_rippels_range():
    pool = SpectralPool2d(10, dropout_min=0.35)
    counts = collections.Counter(pool.draw_cutoff((10, 10)) for _ in range(3000))
    assert set(counts) == {(c, c) for c in range(3, 11)}  # [floor(0.35 * 10), 10]
    expected = 3000 / 8
    assert all(abs(n - expected) < 5 * math.sqrt(expected) for n in counts.values())


def test_non_square_maps_share_one_quantile():
    pool = SpectralPool2d(scale=1.0, dropout_min=0.5)
    for _ in range(200):
        rows, cols = pool.draw_cutoff((8, 20))
        assert 4 <= rows <= 8 and 10 <= cols <= 20
        # The same u: both cutoffs sit at the same fraction of their ranges (within a bin).
        assert abs((rows - 4) / 5 - (cols - 10) / 11) < 1 / 5 + 1e-9


def test_draws_are_reproducible_per_seed_and_resume_from_the_state_dict():
    def sequence(pool, n):
        return [pool.draw_cutoff((12, 12)) for _ in range(n)]

    a, b = SpectralPool2d(12, dropout_min=0.1), SpectralPool2d(12, dropout_min=0.1)
    assert sequence(a, 20) == sequence(b, 20)  # two "ranks" agree
    other = SpectralPool2d(12, dropout_min=0.1, dropout_seed=1)
    assert sequence(other, 20) != sequence(SpectralPool2d(12, dropout_min=0.1), 20)

    run = SpectralPool2d(12, dropout_min=0.1)
    first = sequence(run, 5)
    buffer = io.BytesIO()
    torch.save(run.state_dict(), buffer)
    buffer.seek(0)
    resumed = SpectralPool2d(12, dropout_min=0.1)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    assert resumed.dropout_draws == 5
    full = sequence(SpectralPool2d(12, dropout_min=0.1), 10)
    assert first + sequence(resumed, 5) == full


def test_replaced_pool_state_dict_loads_strictly():
    pool = SpectralPool2d(4)
    result = pool.load_state_dict(nn.MaxPool2d(2).state_dict(), strict=True)
    assert not result.missing_keys
    with pytest.raises(ValueError, match="newer"):
        pool.set_extra_state({"version": 2, "dropout_draws": 0})


def test_dropout_1d_and_gradients():
    pool = SpectralPool1d(6, dropout_min=0.0)
    x = torch.randn(2, 3, 10, requires_grad=True)
    replay = SpectralPool1d(6, dropout_min=0.0)
    out = pool(x)
    torch.testing.assert_close(out, spectral_pool1d(x, 6, replay.draw_cutoff((6,))[0]))
    out.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


# ---------------------------------------------------------------------------------------------
# State restored from a checkpoint is validated like constructor arguments
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "error", "match"),
    [
        ({"version": 1, "dropout_draws": -1}, ValueError, r"`dropout_draws` must be an int >= 0"),
        ({"version": 1, "dropout_draws": 2.7}, TypeError, r"`dropout_draws`.*got 2.7"),
        ({"version": 1, "dropout_draws": "3"}, TypeError, r"`dropout_draws`.*got '3'"),
        ({"version": 1, "dropout_draws": True}, TypeError, r"`dropout_draws`.*got True"),
        ({"version": 0, "dropout_draws": 0}, ValueError, r"`version` must be >= 1, got 0"),
        ({"version": "1", "dropout_draws": 0}, TypeError, r"`version` must be an int, got '1'"),
        ({"version": 2, "dropout_draws": 0}, ValueError, "newer"),
        ({"version": 1}, ValueError, "must have the keys"),
        ({"version": 1, "dropout_draws": 0, "cutoff": 3}, ValueError, r"got \['cutoff', "),
        ([1, 0], TypeError, "must be a dict"),
    ],
)
def test_bad_extra_state_is_refused_on_load(state, error, match):
    pool = SpectralPool2d(4, dropout_min=0.5)
    pool.draw_cutoff((4, 4))
    state_dict = {"_extra_state": state}
    with pytest.raises(error, match=match):
        pool.load_state_dict(state_dict)
    assert pool.dropout_draws == 1  # a refused state changes nothing


def test_extra_state_without_version_and_the_counter_setter():
    pool = SpectralPool1d(4)
    pool.load_state_dict({"_extra_state": {"dropout_draws": 7}})
    assert pool.dropout_draws == 7
    with pytest.raises(ValueError, match=r"`dropout_draws` must be an int >= 0, got -2"):
        pool.dropout_draws = -2


# ---------------------------------------------------------------------------------------------
# Empty batches, autocast, TorchScript
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize(
    ("pool", "shape", "reference"),
    [
        (SpectralPool2d.from_pool(nn.MaxPool2d(2)), (0, 3, 9, 8), nn.MaxPool2d(2)),
        (SpectralPool2d(scale=0.5, dropout_min=0.2), (0, 3, 9, 8), nn.AvgPool2d(2)),
        (SpectralPool1d.from_pool(nn.AvgPool1d(3)), (0, 2, 10), nn.AvgPool1d(3)),
        (SpectralPool1d(4, dropout_min=0.0), (0, 2, 10), nn.AdaptiveAvgPool1d(4)),
    ],
)
def test_empty_batch_gives_torchs_empty_output(pool, shape, reference, training):
    pool.train(training)
    x = torch.randn(shape, requires_grad=True)
    y = pool(x)
    assert y.shape == reference(x).shape and y.dtype == x.dtype
    y.sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_autocast_keeps_the_input_dtype_like_torchs_pools(dtype):
    pool = SpectralPool2d(scale=0.5)
    x = torch.randn(2, 3, 12, 10).to(dtype)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = pool(x)
        expected_dtype = nn.functional.max_pool2d(x, 2).dtype
    assert y.dtype == expected_dtype == dtype
    # The FFT region ran in float32 whatever the autocast region: the result is the float32
    # pool of the input, rounded once to the input dtype.
    torch.testing.assert_close(y, pool(x.float()).to(dtype), rtol=0, atol=0)


def test_torchscript_refuses_the_module_with_a_clear_error():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), SpectralPool2d(scale=0.5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script is deprecated
        with pytest.raises(TypeError, match=r"SpectralPool2d cannot be scripted.*pool.deploy"):
            torch.jit.script(model)


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("output_size", [4, -1], ValueError),
        ("output_size", [4, "4"], TypeError),
        ("scale", [0.5, 2.0], ValueError),
        ("window", {"kernel_size": [2, 2]}, ValueError),
        ("dropout_min", -0.1, ValueError),
        ("dropout_min", [0.1], TypeError),
        ("dropout_seed", "7", TypeError),
    ],
)
def test_corrupted_plan_entries_are_refused_like_constructor_arguments(field, value, error):
    # A plan rebuilds a pool as type(pool)(**pool.config()); each field is checked on the way.
    source = {"output_size": SpectralPool2d(4), "scale": SpectralPool2d(scale=0.5)}
    pool = source.get(field, SpectralPool2d.from_pool(nn.MaxPool2d(2), dropout_min=0.2))
    config = pool.config()
    SpectralPool2d(**config)  # the written config rebuilds
    config[field] = value
    with pytest.raises(error, match=f"`{field}`|pool window"):
        SpectralPool2d(**config)
