"""Spectral filter parametrization: k1 * k2 real coordinates, exact right inverse, the same SGD
trajectory as spatial filters, conversion of the earlier layout, spectral sparsity."""

from __future__ import annotations

import copy
import math
import warnings
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils import parametrize

from lightning_spectral import transforms as T
from lightning_spectral.nn import (
    BandLimitedConv2d,
    SpectralFilterParametrization,
    is_spectrally_parametrized,
    register_spectral_parametrization,
    spectral_sparsity,
)

FIXTURE = Path(__file__).parent / "fixtures" / "parametrization_v1.pt"


@settings(max_examples=20, deadline=None)
@given(
    kernel=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    groups=st.sampled_from([1, 2]),
    padding_mode=st.sampled_from(["zeros", "circular"]),
)
def test_registering_leaves_outputs_unchanged(kernel, groups, padding_mode):
    conv = nn.Conv2d(
        4, 6, kernel, padding=1, groups=groups, padding_mode=padding_mode, dtype=torch.float64
    )
    x = torch.randn(2, 4, 9, 8, dtype=torch.float64)
    before = conv(x)
    weight = conv.weight.detach().clone()
    register_spectral_parametrization(conv)
    torch.testing.assert_close(conv.weight, weight, rtol=0, atol=1e-13)
    torch.testing.assert_close(conv(x), before, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "kernel", [(1,), (2,), (5,), (7,), (1, 1), (2, 2), (3, 3), (4, 6), (7, 2), (5, 7), (7, 7)]
)
def test_stores_exactly_k1_k2_reals_per_filter(kernel):
    conv = (nn.Conv1d if len(kernel) == 1 else nn.Conv2d)(3, 5, kernel, dtype=torch.float64)
    weight = conv.weight.detach().clone()
    register_spectral_parametrization(conv)
    stored = conv.parametrizations.weight.original
    assert stored.shape == (5, 3, math.prod(kernel)) and not stored.is_complex()
    assert sum(p.numel() for p in conv.parameters()) == weight.numel() + 5  # + bias
    assert "parametrizations.weight.original" in conv.state_dict()
    # A rotation of the filter, not the filter itself (except for a single tap).
    torch.testing.assert_close(stored.square().sum(-1), weight.square().flatten(2).sum(-1))
    if math.prod(kernel) > 1:
        assert not torch.allclose(stored, weight.flatten(2))


def test_float32_round_trip_is_within_round_off():
    conv = nn.Conv1d(8, 8, 7)
    weight = conv.weight.detach().clone()
    register_spectral_parametrization(conv)
    torch.testing.assert_close(conv.weight, weight, rtol=1e-6, atol=1e-6)
    assert conv.parametrizations.weight.original.shape == (8, 8, 7)


def test_register_is_idempotent_and_detected():
    conv = nn.Conv2d(1, 1, 3)
    assert not is_spectrally_parametrized(conv)
    register_spectral_parametrization(conv)
    register_spectral_parametrization(conv)
    assert is_spectrally_parametrized(conv)
    assert len(conv.parametrizations.weight) == 1
    with pytest.raises(TypeError, match="Linear"):
        register_spectral_parametrization(nn.Linear(2, 2))


@pytest.mark.parametrize("kernel", [(3, 3), (4, 4), (2, 5), (4,), (5,)])
def test_jacobian_is_orthogonal_and_gradcheck(kernel):
    param = SpectralFilterParametrization(kernel)
    count = math.prod(kernel)
    stored = torch.randn(1, 1, count, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(param, (stored,))
    jacobian = torch.autograd.functional.jacobian(param, stored).reshape(count, count)
    eye = torch.eye(count, dtype=torch.float64)
    torch.testing.assert_close(jacobian @ jacobian.T, eye, rtol=0, atol=1e-13)


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(2, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 3, (2, 5), padding=(1, 2))
        self.c = nn.Conv1d(3, 2, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.tanh(self.b(torch.tanh(self.a(x))))
        return self.c(y.mean(-2))


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_with_momentum_and_weight_decay_follows_the_spatial_filters(nesterov):
    """The map is a rotation: SGD steps (momentum and weight decay are linear in the
    parameters) give the same filters in both parametrizations."""
    torch.manual_seed(0)
    spatial = _Net().double()
    spectral = copy.deepcopy(spatial)
    for conv in (spectral.a, spectral.b, spectral.c):
        register_spectral_parametrization(conv)
    options = {"lr": 0.2, "momentum": 0.9, "weight_decay": 0.05, "nesterov": nesterov}
    optimizers = [torch.optim.SGD(m.parameters(), **options) for m in (spatial, spectral)]
    x = torch.randn(4, 2, 7, 9, dtype=torch.float64)
    target = torch.randn(4, 2, 6, dtype=torch.float64)
    for _ in range(6):
        for model, optimizer in zip((spatial, spectral), optimizers, strict=True):
            optimizer.zero_grad()
            (model(x) - target).square().mean().backward()
            optimizer.step()
    moved = (spatial.a.weight - spectral.a.weight.detach()).abs().max()
    for name in ("a", "b", "c"):
        torch.testing.assert_close(
            getattr(spectral, name).weight, getattr(spatial, name).weight, rtol=0, atol=1e-9
        )
    assert moved < 1e-9
    # ... and the trajectory did move the filters (the comparison is not of two initialisations).
    torch.manual_seed(0)
    assert (spatial.a.weight - _Net().double().a.weight).abs().max() > 1e-2


def test_adam_takes_different_steps():
    """Per-coordinate scaling sees the rotation: the paper's mechanism, not a larger step."""
    torch.manual_seed(0)
    spatial = nn.Conv2d(2, 2, 3, dtype=torch.float64)
    spectral = register_spectral_parametrization(copy.deepcopy(spatial))
    x = torch.randn(3, 2, 6, 6, dtype=torch.float64)
    for model in (spatial, spectral):
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        model(x).square().mean().backward()
        optimizer.step()
    assert not torch.allclose(spatial.weight, spectral.weight, atol=1e-6)


def _v1_model() -> nn.ModuleDict:
    return nn.ModuleDict(
        {
            "conv3x3": nn.Conv2d(2, 3, 3, dtype=torch.float64),
            "conv3x4": nn.Conv2d(2, 2, (3, 4), dtype=torch.float64),
            "conv1d4": nn.Conv1d(2, 2, 4, dtype=torch.float64),
            "conv1d5": nn.Conv1d(1, 2, 5, dtype=torch.float64),
        }
    )


def test_state_dict_of_the_earlier_layout_converts_on_load():
    saved = torch.load(FIXTURE, weights_only=True)
    model = _v1_model()
    for conv in model.values():
        register_spectral_parametrization(conv)
    with pytest.warns(UserWarning, match="earlier"):
        model.load_state_dict(saved["state_dict"])
    for name, weight in saved["weights"].items():
        torch.testing.assert_close(model[name].weight, weight, rtol=0, atol=1e-12)
        assert model[name].parametrizations.weight.original.shape[-1] == weight[0, 0].numel()
    # Saving again writes the new layout, which loads without conversion.
    fresh = _v1_model()
    for conv in fresh.values():
        register_spectral_parametrization(conv)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fresh.load_state_dict(model.state_dict())
    torch.testing.assert_close(fresh["conv3x4"].weight, saved["weights"]["conv3x4"])


def test_re_registering_reinstalls_the_converter_after_a_move():
    """``parametrize.transfer_parametrizations_and_params`` (used when a parametrized conv is
    replaced) builds a new chain without the converter; registering again restores it."""
    saved = torch.load(FIXTURE, weights_only=True)
    model = _v1_model()
    T.parametrize_spectral_(model)
    T.band_limit_(model, compression=0.0)
    for conv in model.values():
        register_spectral_parametrization(conv)
    assert isinstance(model["conv3x4"], BandLimitedConv2d)
    with pytest.warns(UserWarning, match="earlier"):
        model.load_state_dict(saved["state_dict"], strict=False)
    torch.testing.assert_close(model["conv3x4"].weight, saved["weights"]["conv3x4"])


def test_band_limiting_a_parametrized_model_keeps_the_earlier_layout_converter():
    saved = torch.load(FIXTURE, weights_only=True)
    model = _v1_model()
    T.parametrize_spectral_(model)
    T.band_limit_(model, compression=0.0)  # replaces the parametrized convs
    assert isinstance(model["conv3x4"], BandLimitedConv2d)
    with pytest.warns(UserWarning, match="earlier"):
        model.load_state_dict(saved["state_dict"], strict=False)
    torch.testing.assert_close(model["conv3x4"].weight, saved["weights"]["conv3x4"])


def test_a_state_dict_of_another_shape_is_still_refused():
    conv = register_spectral_parametrization(nn.Conv2d(2, 3, 3))
    bad = {"bias": torch.zeros(3), "parametrizations.weight.original": torch.zeros(3, 2, 7)}
    with pytest.raises(RuntimeError, match="size mismatch"):
        conv.load_state_dict(bad)


def test_training_updates_the_coordinates_and_band_limited_convs_accept_them():
    conv = BandLimitedConv2d(2, 2, 3, padding=1, compression=0.5)
    register_spectral_parametrization(conv)
    x = torch.randn(2, 2, 8, 8)
    optimizer = torch.optim.SGD(conv.parameters(), lr=0.1)
    before = conv.parametrizations.weight.original.detach().clone()
    conv(x).square().mean().backward()
    optimizer.step()
    assert not torch.equal(conv.parametrizations.weight.original, before)
    assert conv.parametrizations.weight.original.grad is not None


def test_refuses_bad_kernel_size_and_mismatched_weight():
    with pytest.raises(ValueError, match="kernel_size"):
        SpectralFilterParametrization((0, 3))
    with pytest.raises(TypeError, match="kernel_size"):
        SpectralFilterParametrization((3.0, 3))
    with pytest.raises(TypeError, match="kernel_size"):
        SpectralFilterParametrization(3)
    with pytest.raises(ValueError, match="kernel_size"):
        SpectralFilterParametrization((3, 3)).right_inverse(torch.randn(1, 1, 3, 4))


def test_spectral_sparsity():
    conv = nn.Conv2d(2, 3, 4, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)  # constant filter: only DC survives
    # 4 x 3 one-sided bins per filter, 1 non-zero.
    torch.testing.assert_close(spectral_sparsity(conv), torch.tensor(11 / 12))
    assert spectral_sparsity(conv, threshold=0.0, relative=False).item() == pytest.approx(11 / 12)
    torch.manual_seed(1)
    dense = nn.Conv2d(2, 3, 4)
    assert spectral_sparsity(dense).item() < 0.1
    register_spectral_parametrization(dense)
    assert spectral_sparsity(dense).item() < 0.1  # same filters, same sparsity
    with pytest.raises(ValueError, match=r"threshold.*-1\.0"):
        spectral_sparsity(dense, threshold=-1.0)
    with pytest.raises(ValueError, match="threshold"):
        spectral_sparsity(dense, threshold=float("nan"))
    with pytest.raises(TypeError, match="threshold"):
        spectral_sparsity(dense, threshold="0.1")


def test_parametrize_is_removable_back_to_the_same_weight():
    conv = nn.Conv2d(2, 2, 3, dtype=torch.float64)
    weight = conv.weight.detach().clone()
    register_spectral_parametrization(conv)
    parametrize.remove_parametrizations(conv, "weight", leave_parametrized=True)
    assert type(conv) is nn.Conv2d
    torch.testing.assert_close(conv.weight.detach(), weight, rtol=0, atol=1e-13)
