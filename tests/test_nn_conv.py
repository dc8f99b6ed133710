"""BandLimitedConv1d/2d: drop-in parity with nn.Conv, train/eval compression, state dict,
statistics and energy mode, and torch.compile behaviour."""

from __future__ import annotations

import io
import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch._dynamo.testing import CompileCounter
from torch.nn.utils import parametrize

from lightning_spectral.functional import (
    band_energy_fraction,
    band_for,
    band_for_energy,
    bandlimited_conv,
    bandlimited_conv1d,
    bandlimited_conv2d,
    power_map,
)
from lightning_spectral.nn import BandLimitedConv1d, BandLimitedConv2d, band_limit_config
from lightning_spectral.nn import conv as conv_module
from lightning_spectral.transforms import set_compression_

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")

PADDING_MODES = ["zeros", "reflect", "replicate", "circular"]


def _fft(module):
    """Force the FFT path even where the band is full (parity tests must exercise it)."""
    module.direct_full_band = False
    return module


# ---------------------------------------------------------------------------------------------
# Parity with nn.Conv at compression 0, reference at compression > 0
# ---------------------------------------------------------------------------------------------


@settings(max_examples=25)
@given(
    padding_mode=st.sampled_from(PADDING_MODES),
    padding=st.sampled_from([0, 1, 2, (2, 1), "same", "valid"]),
    kernel=st.sampled_from([1, 2, 3, (3, 2)]),
    stride=st.sampled_from([1, 2, (2, 1)]),
    dilation=st.sampled_from([1, 2]),
    groups=st.sampled_from([1, 2]),
    bias=st.booleans(),
    size=st.tuples(st.integers(7, 12), st.integers(7, 12)),
    unbatched=st.booleans(),
)
def test_conv2d_matches_torch_at_zero_compression(
    padding_mode, padding, kernel, stride, dilation, groups, bias, size, unbatched
):
    if padding == "same" and stride != 1:
        stride = 1  # torch refuses "same" with strides
    conv = nn.Conv2d(
        4, 6, kernel, stride, padding, dilation, groups, bias, padding_mode, dtype=torch.float64
    )
    ours = _fft(BandLimitedConv2d.from_conv(conv))
    x = (
        torch.randn(4, *size, dtype=torch.float64)
        if unbatched
        else torch.randn(2, 4, *size, dtype=torch.float64)
    )
    torch.testing.assert_close(ours(x), conv(x), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("padding_mode", PADDING_MODES)
def test_conv1d_matches_torch_at_zero_compression(padding_mode):
    conv = nn.Conv1d(3, 5, 4, stride=2, padding=2, dilation=2, padding_mode=padding_mode)
    ours = _fft(BandLimitedConv1d.from_conv(conv))
    x = torch.randn(2, 3, 21)
    torch.testing.assert_close(ours(x), conv(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("padding_mode", PADDING_MODES)
def test_nonzero_padding_modes_pad_then_band_limit(padding_mode):
    """Non-zero padding modes: the explicit pad, then the band-limited conv with no padding."""
    conv = BandLimitedConv2d(3, 4, 3, padding=(2, 1), padding_mode=padding_mode, compression=0.6)
    x = torch.randn(2, 3, 10, 9)
    mode = "constant" if padding_mode == "zeros" else padding_mode
    padded = F.pad(x, [1, 1, 2, 2], mode=mode)
    expected = bandlimited_conv2d(padded, conv.weight, conv.bias, compression=0.6)
    torch.testing.assert_close(conv(x), expected)
    assert conv.last_signal_shape == (14, 11)


def test_train_and_eval_use_their_compressions():
    conv = BandLimitedConv2d(3, 4, 3, padding=1, compression=0.7, eval_compression=0.3)
    x = torch.randn(2, 3, 12, 12)
    train = bandlimited_conv2d(x, conv.weight, conv.bias, padding=1, compression=0.7)
    evaluation = bandlimited_conv2d(x, conv.weight, conv.bias, padding=1, compression=0.3)
    assert not torch.allclose(train, evaluation)
    torch.testing.assert_close(conv(x), train)
    assert conv.active_compression == 0.7
    conv.eval()
    torch.testing.assert_close(conv(x), evaluation)
    assert conv.active_compression == 0.3
    # Tied eval follows train.
    conv.eval_compression = None
    assert conv.eval_tied and conv.eval_compression == 0.7
    torch.testing.assert_close(conv(x), train)
    # Run-time change without recreating the module.
    conv.compression = 0.4
    expected = bandlimited_conv2d(x, conv.weight, conv.bias, padding=1, compression=0.4)
    torch.testing.assert_close(conv(x), expected)


def test_conv1d_compression_matches_functional():
    conv = BandLimitedConv1d(2, 3, 5, padding=2, compression=0.5)
    x = torch.randn(3, 2, 30)
    expected = bandlimited_conv1d(x, conv.weight, conv.bias, padding=2, compression=0.5)
    torch.testing.assert_close(conv(x), expected)
    assert conv.band() == band_for((34,), 0.5)


def test_direct_path_only_at_zero_compression(monkeypatch):
    calls = []
    fft_conv = conv_module.bandlimited_conv

    def spy(*args, **kwargs):
        calls.append(args[4])  # the compression
        return fft_conv(*args, **kwargs)

    monkeypatch.setattr(conv_module, "bandlimited_conv", spy)
    conv = BandLimitedConv2d(2, 2, 3, padding=1)
    x = torch.randn(1, 2, 8, 8)
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight, conv.bias, padding=1))
    assert calls == []  # compression 0 -> direct convolution
    _fft(conv)(x)
    assert calls == [0.0]  # forced FFT path
    conv.direct_full_band = True
    conv.compression = 0.5
    conv(x)
    assert calls == [0.0, 0.5]


def test_gradcheck_module():
    conv = BandLimitedConv2d(1, 2, 2, padding=1, compression=0.5, dtype=torch.float64)
    x = torch.randn(1, 1, 5, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, w, b: conv._conv_forward(x, w, b), (x, conv.weight, conv.bias)
    )


# ---------------------------------------------------------------------------------------------
# Configuration, validation, state dict
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"compression": 1.0}, ValueError, r"compression.*\[0, 1\)"),
        ({"compression": -0.1}, ValueError, "compression"),
        ({"compression": float("nan")}, ValueError, "compression"),
        ({"compression": "0.5"}, TypeError, "compression"),
        ({"eval_compression": 1.5}, ValueError, "eval_compression"),
        ({"mode": "adaptive"}, ValueError, "mode"),
        ({"mode": "energy"}, ValueError, "energy"),
        ({"mode": "energy", "energy": 0.0}, ValueError, r"\(0, 1\]"),
        ({"mode": "energy", "energy": 1.2}, ValueError, "energy"),
        ({"energy": 0.9}, ValueError, "only used with mode='energy'"),
    ],
)
def test_bad_configuration_fails_at_construction(kwargs, error, match):
    with pytest.raises(error, match=match):
        BandLimitedConv2d(1, 1, 3, **kwargs)
    with pytest.raises(error, match=match):
        band_limit_config(**kwargs)


def test_setters_validate():
    conv = BandLimitedConv2d(1, 1, 3)
    with pytest.raises(ValueError, match="compression"):
        conv.compression = 1.0
    with pytest.raises(ValueError, match="eval_compression"):
        conv.eval_compression = -1
    assert conv.compression == 0.0
    conv.compression = 0.25
    assert isinstance(conv.compression, float) and conv.compression == 0.25


def test_plain_conv_state_dict_loads_strictly_and_keeps_configuration():
    plain = nn.Conv2d(3, 4, 3, padding=1)
    conv = BandLimitedConv2d(3, 4, 3, padding=1, compression=0.5, eval_compression=0.25)
    result = conv.load_state_dict(plain.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert torch.equal(conv.weight, plain.weight) and torch.equal(conv.bias, plain.bias)
    assert (conv.compression, conv.eval_compression) == (0.5, 0.25)
    assert set(conv.state_dict()) == {"weight", "bias", "_extra_state"}


def test_state_dict_round_trip_through_weights_only_load():
    conv = BandLimitedConv2d(2, 2, 3, compression=0.3, mode="energy", energy=0.95)
    conv.eval_compression = 0.1
    buffer = io.BytesIO()
    torch.save(conv.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    fresh = BandLimitedConv2d(2, 2, 3)
    fresh.load_state_dict(state)
    assert (fresh.compression, fresh.eval_compression) == (0.3, 0.1)
    assert (fresh.mode, fresh.energy) == ("energy", 0.95)
    assert torch.equal(fresh.weight, conv.weight)


def test_newer_state_version_is_refused():
    conv = BandLimitedConv2d(1, 1, 3)
    state = conv.get_extra_state()
    state["version"] = 99
    with pytest.raises(ValueError, match="newer"):
        conv.set_extra_state(state)


def test_from_conv_keeps_device_dtype_weights_and_flags():
    conv = nn.Conv2d(3, 6, 3, stride=2, padding=1, groups=3, bias=False, dtype=torch.float64)
    conv.weight.requires_grad_(False)
    conv.eval()
    ours = BandLimitedConv2d.from_conv(conv, compression=0.4)
    assert ours.weight.dtype == torch.float64 and ours.weight.device == conv.weight.device
    assert torch.equal(ours.weight, conv.weight) and ours.weight is not conv.weight
    assert ours.bias is None and not ours.weight.requires_grad and not ours.training
    assert (ours.stride, ours.padding, ours.groups) == (conv.stride, conv.padding, conv.groups)
    assert ours.compression == 0.4
    with pytest.raises(TypeError, match="Conv2d"):
        BandLimitedConv2d.from_conv(nn.Conv1d(1, 1, 3))
    with pytest.raises(TypeError, match="Conv1d"):
        BandLimitedConv1d.from_conv(nn.Conv2d(1, 1, 3))


def test_extra_repr_shows_requested_and_achieved():
    conv = BandLimitedConv2d(1, 2, 3, padding=1, compression=0.5, eval_compression=0.2)
    assert "compression=0.5" in repr(conv) and "achieved" not in repr(conv)
    conv(torch.randn(1, 1, 10, 10))
    train = band_for((12, 12), 0.5).compression
    evaluation = band_for((12, 12), 0.2).compression
    text = repr(conv)
    assert "eval_compression=0.2" in text
    assert f"achieved={train:.4f}/{evaluation:.4f} at (12, 12)" in text


# ---------------------------------------------------------------------------------------------
# Statistics and energy mode
# ---------------------------------------------------------------------------------------------


def test_statistics_accumulate_padded_input_power_in_training_only():
    conv = BandLimitedConv2d(2, 2, 3, padding=1, padding_mode="reflect", compression=0.5)
    x1, x2 = torch.randn(3, 2, 8, 8), torch.randn(2, 2, 8, 8)
    conv(x1)
    assert conv.stats_power is None  # off by default in fixed mode
    conv.track_stats = True
    conv(x1)
    conv(x2)
    conv.eval()
    conv(torch.randn(5, 2, 8, 8))  # eval forwards do not count
    expected = power_map(F.pad(x1, [1, 1, 1, 1], mode="reflect"), 2) + power_map(
        F.pad(x2, [1, 1, 1, 1], mode="reflect"), 2
    )
    torch.testing.assert_close(conv.stats_power, expected)
    assert int(conv.stats_count) == 5 and conv.stats_signal_shape == (10, 10)
    band = band_for((10, 10), 0.5)
    torch.testing.assert_close(conv.input_energy_fraction(), band_energy_fraction(expected, band))
    conv.reset_stats()
    assert conv.input_energy_fraction() is None and int(conv.stats_count) == 0


def test_zero_padding_statistics_include_the_padding():
    conv = BandLimitedConv1d(1, 1, 3, padding=2, compression=0.5)
    conv.track_stats = True
    x = torch.randn(2, 1, 11)
    conv(x)
    torch.testing.assert_close(conv.stats_power, power_map(F.pad(x, [2, 2]), 1))
    conv(torch.randn(1, 1, 20))  # a new size restarts the statistics
    assert conv.stats_signal_shape == (24,) and int(conv.stats_count) == 1


def test_filter_energy_fraction_and_saved_bytes():
    conv = BandLimitedConv2d(3, 4, 3, padding=1, dilation=2, compression=0.6)
    assert conv.filter_energy_fraction() is None
    with pytest.raises(RuntimeError, match="forward"):
        conv.saved_spectrum_bytes(8)
    conv(torch.randn(1, 3, 9, 9))
    shape = conv.last_signal_shape
    assert shape == (11, 11)
    # Oracle: full rfft2 of the dilated filters zero-padded to the map, Parseval weights, mask.
    canvas = torch.zeros(4, 3, *shape)
    canvas[..., 0:5:2, 0:5:2] = conv.weight.detach()
    spectrum = torch.fft.rfft2(canvas).abs().square().sum((0, 1))
    weights = torch.full((shape[1] // 2 + 1,), 2.0)
    weights[0] = 1.0
    power = spectrum * weights
    band = band_for(shape, 0.6)
    expected = power[band.mask()].sum() / power.sum()
    torch.testing.assert_close(conv.filter_energy_fraction(), expected)
    torch.testing.assert_close(conv.filter_power(), power)
    kept, full = conv.saved_spectrum_bytes(8)
    assert (kept, full) == (8 * 3 * band.num_kept * 8, 8 * 3 * band.num_total * 8)
    assert kept < full


def test_energy_mode_accumulates_and_updates_band_on_request():
    conv = BandLimitedConv2d(1, 1, 3, padding=1, compression=0.0, mode="energy", energy=0.9)
    # Smooth (low-frequency) inputs: a high compression keeps 90% of their energy.
    grid = torch.linspace(0, 2 * math.pi, 16)
    x = (torch.sin(grid)[:, None] * torch.cos(grid)[None, :]).expand(4, 1, 16, 16)
    x = x + 0.01 * torch.randn(4, 1, 16, 16)
    conv(x)
    assert int(conv.stats_count) == 4  # energy mode accumulates without track_stats
    assert conv.compression == 0.0  # nothing changes until asked
    power = conv.stats_power.clone()
    band = conv.update_band()
    assert band == band_for_energy(power, (18, 18), 0.9)
    assert conv.compression == band.compression > 0.5
    assert conv.eval_compression == band.compression  # tied eval follows
    assert int(conv.stats_count) == 0  # statistics reset
    assert conv.band(training=True) == band


def test_update_band_uses_the_given_power_and_keeps_untied_eval():
    conv = BandLimitedConv1d(1, 1, 3, mode="energy", energy=0.5, eval_compression=0.1)
    conv(torch.randn(1, 1, 16))
    power = torch.zeros(9)
    power[0] = 1.0  # all energy at DC: the smallest band suffices
    band = conv.update_band(power)
    assert band.cols == 1 and conv.compression == band.compression
    assert conv.eval_compression == 0.1


def test_update_band_refuses_without_statistics_or_outside_energy_mode():
    with pytest.raises(RuntimeError, match="mode='energy'"):
        BandLimitedConv2d(1, 1, 3).update_band()
    conv = BandLimitedConv2d(1, 1, 3, mode="energy", energy=0.9)
    with pytest.raises(RuntimeError, match="no input statistics"):
        conv.update_band()
    conv.configure(compression=0.2, eval_compression=None, mode="fixed", energy=None)
    assert (conv.mode, conv.energy, conv.compression) == ("fixed", None, 0.2)


# ---------------------------------------------------------------------------------------------
# torch.compile
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def torch_backend(monkeypatch):
    """The torch path of the kernel dispatch (CPU), as documented in the contract."""
    monkeypatch.setenv("LIGHTNING_SPECTRAL_BACKEND", "torch")
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.slow
def test_compile_one_graph_per_mode_and_per_compression(torch_backend):
    conv = BandLimitedConv2d(2, 3, 3, padding=1, compression=0.5, eval_compression=0.25)
    counter = CompileCounter()
    compiled = torch.compile(conv, backend=counter)
    x = torch.randn(2, 2, 10, 10)
    for training in (True, False, True, False):
        conv.train(training)
        torch.testing.assert_close(compiled(x), conv(x))
    assert counter.frame_count == 2  # one graph per mode, no graph breaks
    conv.train()
    for value in (0.3, 0.5, 0.3):  # a new value recompiles once; known values hit the cache
        conv.compression = value
        expected = bandlimited_conv2d(x, conv.weight, conv.bias, padding=1, compression=value)
        torch.testing.assert_close(compiled(x), expected)
    # A float attribute would have turned symbolic after its first change (and broken the
    # band choice into graph breaks); the integer ratios keep it a guarded constant.
    assert counter.frame_count == 3


# ---------------------------------------------------------------------------------------------
# Degenerate input, autocast, restored state
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["fixed", "energy"])
@pytest.mark.parametrize("ndim", [1, 2])
def test_modules_take_an_empty_batch_like_torch(ndim: int, mode: str) -> None:
    cls, plain_cls = (BandLimitedConv1d, nn.Conv1d) if ndim == 1 else (BandLimitedConv2d, nn.Conv2d)
    energy = 0.9 if mode == "energy" else None
    conv = cls(3, 4, 3, padding=1, stride=2, compression=0.5, mode=mode, energy=energy)
    plain = plain_cls(3, 4, 3, padding=1, stride=2)
    plain.load_state_dict(conv.state_dict(), strict=False)
    x = torch.randn(0, 3, *([9] * ndim), requires_grad=True)
    for training in (True, False):
        conv.train(training)
        y = conv(x)
        expected = plain(x)
        assert y.shape == expected.shape
        y.sum().backward()
        assert torch.equal(conv.weight.grad, torch.zeros_like(conv.weight))
        conv.zero_grad()


@pytest.mark.parametrize("compression", [0.0, 0.5])
def test_module_under_autocast_returns_the_autocast_dtype_at_every_compression(compression):
    conv = BandLimitedConv2d(2, 3, 3, padding=1, compression=compression)
    x = torch.randn(2, 2, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = nn.Conv2d.forward(conv, x).dtype  # torch's own rule
        assert conv(x).dtype == expected == torch.bfloat16
        conv.eval()
        assert conv(x).dtype == torch.bfloat16


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"version": -1}, ValueError, r"`version` must be >= 1, got -1"),
        ({"version": True}, TypeError, r"`version` must be an int, got True"),
        ({"version": "1"}, TypeError, r"`version` must be an int, got '1'"),
        ({"compression": "0.5"}, TypeError, "compression"),
        ({"compression": 1.5}, ValueError, r"compression.*\[0, 1\)"),
        ({"eval_compression": -0.1}, ValueError, "eval_compression"),
        ({"mode": 3}, TypeError, "`mode` must be one of"),
        ({"mode": "energy", "energy": "high"}, TypeError, "energy"),
        ({"surprise": 1}, ValueError, r"keys must be among"),
    ],
)
def test_restored_state_is_validated_like_constructor_arguments(change, error, match):
    conv = BandLimitedConv2d(1, 1, 3, compression=0.25)
    state = conv.state_dict()
    state["_extra_state"] = {**state["_extra_state"], **change}
    with pytest.raises(error, match=match):
        conv.load_state_dict(state)
    assert conv.compression == 0.25  # nothing changed
    with pytest.raises(TypeError, match="must be a dict"):
        conv.set_extra_state([("compression", 0.5)])


def test_nonfinite_samples_are_skipped_counted_and_warned_once():
    conv = BandLimitedConv2d(1, 1, 3, padding=1, mode="energy", energy=0.9, compression=0.3)
    clean = torch.randn(3, 1, 8, 8)
    dirty = clean.clone()
    dirty[1, 0, 2, 2] = float("nan")
    conv(dirty)
    assert int(conv.stats_count) == 2 and int(conv.stats_skipped) == 1
    reference = BandLimitedConv2d(1, 1, 3, padding=1, mode="energy", energy=0.9)
    reference(clean[[0, 2]])
    torch.testing.assert_close(conv.stats_power, reference.stats_power)
    with pytest.warns(UserWarning, match=r"layer conv1: 1 input sample\(s\) with nan/inf"):
        band = conv.update_band(name="conv1")
    assert band == reference.update_band()
    conv(dirty)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per layer
        conv.update_band(name="conv1")


def test_band_is_kept_when_no_finite_sample_was_seen():
    conv = BandLimitedConv2d(1, 1, 3, padding=1, mode="energy", energy=0.9, compression=0.3)
    conv(torch.full((2, 1, 8, 8), float("inf")))
    assert int(conv.stats_count) == 0 and int(conv.stats_skipped) == 2
    with pytest.warns(UserWarning) as record:
        band = conv.update_band(power=conv.stats_power, name="conv1")
    messages = [str(w.message) for w in record]
    assert any("2 input sample(s) with nan/inf" in m for m in messages)
    assert any("no finite energy" in m for m in messages)
    assert conv.compression == 0.3 and band == band_for((10, 10), 0.3)


# ---------------------------------------------------------------------------------------------
# Eval-mode filter spectrum cache
# ---------------------------------------------------------------------------------------------


def _uncached(conv, x):
    """The eval output computed from scratch: the truth a cached forward must equal."""
    return bandlimited_conv(
        x, conv.weight, conv.bias, conv._conv_spec(), conv.eval_compression
    ).detach()


def _eval_conv(ndim=2, **kwargs):
    cls = BandLimitedConv1d if ndim == 1 else BandLimitedConv2d
    torch.manual_seed(0)
    return cls(3, 4, 3, padding=1, compression=0.5, **kwargs).eval()


@pytest.mark.parametrize("ndim", [1, 2])
def test_cache_gives_equal_eval_outputs_and_reports_its_bytes(ndim):
    conv = _eval_conv(ndim)
    x = torch.randn(2, 3, *([10] * ndim))
    assert conv.cache_bytes == 0
    with torch.no_grad():
        first = conv(x)
        cached = conv._cache_value
        second = conv(x)
    assert cached is not None and conv._cache_value is cached  # reused, not recomputed
    band = conv.band()
    assert conv.cache_bytes == band.num_kept * 4 * 3 * 8  # complex64 (kept, O, C)
    assert f"cache_bytes={conv.cache_bytes}" in repr(conv)
    torch.testing.assert_close(first, _uncached(conv, x), rtol=0, atol=0)
    torch.testing.assert_close(second, first, rtol=0, atol=0)
    conv.spectrum_cache = False
    assert conv.cache_bytes == 0 and "spectrum_cache=off" in repr(conv)
    with torch.no_grad():
        torch.testing.assert_close(conv(x), first, rtol=0, atol=0)
    assert conv._cache_value is None


def _assert_fresh(conv, x):
    with torch.no_grad():
        got = conv(x)
    torch.testing.assert_close(got, _uncached(conv, x), rtol=0, atol=0)


def test_cache_invalidation_paths():
    conv = _eval_conv()
    x = torch.randn(2, 3, 10, 10)
    _assert_fresh(conv, x)
    with torch.no_grad():  # in-place update: the version counter moves
        conv.weight.mul_(-2.0)
    _assert_fresh(conv, x)
    other = _eval_conv()
    with torch.no_grad():
        other.weight.normal_()
    conv.load_state_dict(other.state_dict())  # load_state_dict
    _assert_fresh(conv, x)
    set_compression_(conv, eval_compression=0.75)  # the band changes
    _assert_fresh(conv, x)
    conv.eval_compression = 0.25
    _assert_fresh(conv, x)
    _assert_fresh(conv, torch.randn(1, 3, 12, 9))  # another input size
    conv.to(torch.float64)  # dtype (and storage) change
    assert conv.cache_bytes == 0
    _assert_fresh(conv, x.double())
    assert conv._cache_value.dtype == torch.complex128
    conv.train()  # training never uses (and drops) the cache
    assert conv.cache_bytes == 0
    conv.eval()
    _assert_fresh(conv, x.double())
    conv.weight.data.mul_(3.0)  # bypasses the version counter: documented, clear by hand
    conv.clear_spectrum_cache()
    _assert_fresh(conv, x.double())


def test_cache_follows_a_parametrized_weight():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.factor = nn.Parameter(torch.tensor(1.0))

        def forward(self, weight):
            return weight * self.factor

    conv = _eval_conv()
    parametrize.register_parametrization(conv, "weight", Scale())
    x = torch.randn(2, 3, 10, 10)
    _assert_fresh(conv, x)
    cached = conv._cache_value
    _assert_fresh(conv, x)
    assert conv._cache_value is cached  # recomputed weight, same sources: a hit
    with torch.no_grad():
        conv.parametrizations.weight[0].factor.fill_(-3.0)
    _assert_fresh(conv, x)
    with torch.no_grad():
        conv.parametrizations.weight.original.add_(1.0)
    _assert_fresh(conv, x)


def test_cache_is_bypassed_when_the_weight_needs_a_gradient():
    conv = _eval_conv()
    x = torch.randn(2, 3, 10, 10)
    y = conv(x)  # eval, grad enabled, weight requires grad
    assert conv._cache_value is None
    y.sum().backward()
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0
    with torch.inference_mode():
        conv(x)
    assert conv._cache_value.is_inference()
    x_leaf = x.clone().requires_grad_()
    conv.weight.requires_grad_(False)  # frozen weight, gradient w.r.t. the input only
    conv(x_leaf).sum().backward()  # the inference-mode spectrum is not saved for backward
    assert x_leaf.grad is not None


def test_cache_budget_and_switch_are_validated():
    conv = _eval_conv()
    x = torch.randn(2, 3, 10, 10)
    conv.spectrum_cache_budget = 16
    with torch.no_grad(), pytest.warns(UserWarning, match="over spectrum_cache_budget=16"):
        conv(x)
    assert conv.cache_bytes == 0
    conv.spectrum_cache_budget = None
    _assert_fresh(conv, x)
    assert conv.cache_bytes > 0
    conv.spectrum_cache_budget = 0  # lowering the budget frees what is over it
    assert conv.cache_bytes == 0
    with pytest.raises(TypeError, match="`spectrum_cache` must be a bool, got 1"):
        conv.spectrum_cache = 1
    with pytest.raises(ValueError, match=r"`spectrum_cache_budget` must be >= 0 bytes, got -1"):
        conv.spectrum_cache_budget = -1
    with pytest.raises(TypeError, match="`spectrum_cache_budget` must be an int or None"):
        conv.spectrum_cache_budget = 1.5


# ---------------------------------------------------------------------------------------------
# transform_size="full": the transform size of Dziedzic et al.'s code
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("padding_mode", PADDING_MODES)
def test_full_transform_size_module_is_the_functional_operator(padding_mode):
    conv = BandLimitedConv2d(
        3, 4, 3, padding=1, padding_mode=padding_mode, compression=0.5, transform_size="full"
    ).double()
    x = torch.randn(2, 3, 9, 11, dtype=torch.float64)
    if padding_mode == "zeros":
        source, padding = x, 1
    else:
        source, padding = F.pad(x, [1, 1, 1, 1], mode=padding_mode), 0
    expected = bandlimited_conv2d(
        source, conv.weight, conv.bias, padding=padding, compression=0.5, transform_size="full"
    )
    torch.testing.assert_close(conv(x), expected)
    assert conv.last_signal_shape == (11 + 9 - 1, 13 + 11 - 1)
    assert conv.band().signal_shape == conv.last_signal_shape
    assert "transform_size='full'" in repr(conv)
    # The deployment form bakes the same operator.
    conv.eval()
    torch.testing.assert_close(conv.deploy((9, 11))(x), conv(x))


def test_full_transform_size_statistics_are_the_zero_extended_input_power():
    conv = BandLimitedConv1d(1, 2, 3, padding=2, mode="energy", energy=0.9, transform_size="full")
    x = torch.randn(3, 1, 11)
    conv(x)
    padded = F.pad(x, [2, 2])  # 15 samples; output 13 > kernel 3: 15 + 13 - 1 = 27
    assert conv.stats_signal_shape == (27,)
    torch.testing.assert_close(conv.stats_power, power_map(F.pad(padded, [0, 12]), 1))
    band = conv.update_band()
    assert band.signal_shape == (27,) and conv.compression == band.compression


def test_transform_size_in_the_state_dict_and_older_states():
    conv = BandLimitedConv2d(2, 2, 3, compression=0.3, transform_size="full")
    state = conv.get_extra_state()
    assert state["version"] == 2 and state["transform_size"] == "full"
    buffer = io.BytesIO()
    torch.save(conv.state_dict(), buffer)
    buffer.seek(0)
    fresh = BandLimitedConv2d(2, 2, 3)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    assert fresh.transform_size == "full" and fresh.compression == 0.3
    # A default layer writes the format of earlier releases (version 1, no key), which they
    # read; a version-1 state (written before the option existed) loads as "padded".
    default = BandLimitedConv2d(2, 2, 3, compression=0.3).get_extra_state()
    assert default["version"] == 1 and "transform_size" not in default
    fresh.set_extra_state(default)
    assert fresh.transform_size == "padded"
    with pytest.raises(ValueError, match=r"`transform_size` must be one of .*got 'paper'"):
        fresh.set_extra_state({**state, "transform_size": "paper"})


def test_changing_the_transform_size_drops_statistics_and_the_cached_spectrum():
    conv = BandLimitedConv2d(2, 2, 3, padding=1, compression=0.5)
    conv.track_stats = True
    conv(torch.randn(1, 2, 8, 8))
    conv.eval()
    with torch.no_grad():
        conv(torch.randn(1, 2, 8, 8))
    assert conv.stats_power is not None and conv.cache_bytes > 0
    conv.configure(compression=0.5, eval_compression=None, mode="fixed", energy=None)
    assert conv.stats_power is not None and conv.cache_bytes > 0  # same size: kept
    conv.configure(
        compression=0.5, eval_compression=None, mode="fixed", energy=None, transform_size="full"
    )
    assert conv.stats_power is None and conv.stats_signal_shape is None and conv.cache_bytes == 0
    assert conv.last_signal_shape is None and conv.band() is None  # no stale (10, 10) band
    y = conv(torch.randn(1, 2, 8, 8))
    assert y.shape == (1, 2, 8, 8) and conv.last_signal_shape == (17, 17)
    # configure() without transform_size keeps the layer's (it names another operator).
    conv.configure(compression=0.3, eval_compression=None, mode="fixed", energy=None)
    assert conv.transform_size == "full" and conv.last_signal_shape == (17, 17)
