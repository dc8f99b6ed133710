"""Spectral filter parametrization: real storage, exact right inverse, dead coefficients,
gradients, spectral sparsity."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils import parametrize

from lightning_spectral.nn import (
    BandLimitedConv2d,
    SpectralFilterParametrization,
    is_spectrally_parametrized,
    register_spectral_parametrization,
    spectral_sparsity,
)


@settings(max_examples=20)
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


def test_storage_is_real_with_documented_shape_and_key():
    conv = nn.Conv2d(3, 5, (3, 4))
    register_spectral_parametrization(conv)
    stored = conv.parametrizations.weight.original
    assert stored.shape == (5, 3, 3, 3, 2) and not stored.is_complex()
    assert all(not p.is_complex() for p in conv.parameters())
    assert "parametrizations.weight.original" in conv.state_dict()
    expected = torch.view_as_real(torch.fft.rfft2(conv.weight.detach(), norm="ortho"))
    torch.testing.assert_close(stored.detach(), expected)


def test_float32_round_trip_is_within_round_off():
    conv = nn.Conv1d(8, 8, 7)
    weight = conv.weight.detach().clone()
    register_spectral_parametrization(conv)
    torch.testing.assert_close(conv.weight, weight, rtol=1e-6, atol=1e-7)
    assert conv.parametrizations.weight.original.shape == (8, 8, 4, 2)


def test_register_is_idempotent_and_detected():
    conv = nn.Conv2d(1, 1, 3)
    assert not is_spectrally_parametrized(conv)
    register_spectral_parametrization(conv)
    register_spectral_parametrization(conv)
    assert is_spectrally_parametrized(conv)
    assert len(conv.parametrizations.weight) == 1


@pytest.mark.parametrize("kernel", [(3, 3), (4, 4), (2, 5), (4,), (5,)])
def test_gradcheck_and_dead_coefficients(kernel):
    """The map stored -> weight is linear with rank prod(kernel) (the live coefficients); the
    rest of the stored reals are dead: zero Jacobian columns in the documented places."""
    param = SpectralFilterParametrization(kernel)
    shape = (*kernel[:-1], kernel[-1] // 2 + 1, 2)
    stored = torch.randn(1, 1, *shape, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(param, (stored,))
    jacobian = torch.autograd.functional.jacobian(param, stored).reshape(-1, stored.numel())
    assert torch.linalg.matrix_rank(jacobian) == torch.tensor(kernel).prod()
    dead = jacobian.abs().sum(0) < 1e-12
    imag = torch.zeros(shape, dtype=torch.bool)
    imag[..., 1] = True
    # The imaginary part of DC is always dead; of the Nyquist bin too for even sizes.
    assert dead.reshape(shape)[(0,) * (len(kernel)) + (1,)]
    if kernel[-1] % 2 == 0:
        assert dead.reshape(shape)[(0,) * (len(kernel) - 1) + (kernel[-1] // 2, 1)]
    # No real part of a bin in the first row is dead.
    assert not dead.reshape(shape)[(0,) * (len(kernel) - 1) + (slice(None), 0)].any()


def test_right_inverse_puts_nothing_in_dead_directions():
    param = SpectralFilterParametrization((3, 3))
    stored = param.right_inverse(torch.randn(2, 2, 3, 3, dtype=torch.float64))
    assert torch.all(stored[..., 0, 0, 1] == 0)  # imag(DC)
    # Column 0 is Hermitian along rows: X[-r, 0] = conj(X[r, 0]).
    torch.testing.assert_close(stored[..., 2, 0, 0], stored[..., 1, 0, 0])
    torch.testing.assert_close(stored[..., 2, 0, 1], -stored[..., 1, 0, 1])


def test_training_updates_the_spectrum_and_band_limited_convs_accept_it():
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
    with pytest.raises(ValueError, match="threshold"):
        spectral_sparsity(dense, threshold=-1.0)


def test_parametrize_is_removable_back_to_the_same_weight():
    conv = nn.Conv2d(2, 2, 3, dtype=torch.float64)
    weight = conv.weight.detach().clone()
    register_spectral_parametrization(conv)
    parametrize.remove_parametrizations(conv, "weight", leave_parametrized=True)
    assert type(conv) is nn.Conv2d
    torch.testing.assert_close(conv.weight.detach(), weight, rtol=0, atol=1e-13)
