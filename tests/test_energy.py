"""Energy statistics: Parseval weighting, energy retained by a band, energy-based band choice."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lightning_spectral.functional import (
    band_chain,
    band_energy_fraction,
    band_for,
    band_for_energy,
    parseval_weights,
    power_map,
    retained_energy,
)

shapes = st.one_of(st.tuples(st.integers(1, 24)), st.tuples(st.integers(1, 24), st.integers(1, 24)))


def _signal(shape: tuple[int, ...], seed: int, lead: tuple[int, ...] = (2, 3)) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*lead, *shape, generator=gen, dtype=torch.float64)


def _folded_full_power(x: torch.Tensor, ndim: int) -> torch.Tensor:
    """|fftn|^2 summed over leading dims, each one-sided bin plus its distinct mirror bin."""
    dims = tuple(range(-ndim, 0))
    full = torch.fft.fftn(x, dim=dims).abs().square().reshape(-1, *x.shape[-ndim:]).sum(0)
    shape = tuple(x.shape[-ndim:])
    width = shape[-1]
    out = torch.zeros(*shape[:-1], width // 2 + 1, dtype=full.dtype)
    for index in itertools.product(*[range(n) for n in shape]):
        col = index[-1]
        if col <= width // 2:
            target = index
        else:  # the conjugate of (r, c) is (-r, -c): fold it onto its one-sided twin
            target = (*[(-i) % n for i, n in zip(index[:-1], shape[:-1], strict=True)], width - col)
        out[target] += full[index]
    return out


@pytest.mark.parametrize(
    ("size", "expected"), [(1, [1]), (2, [1, 1]), (5, [1, 2, 2]), (6, [1, 2, 2, 1])]
)
def test_parseval_weights(size: int, expected: list[float]) -> None:
    assert parseval_weights(size).tolist() == expected


@settings(max_examples=40)
@given(shape=shapes, seed=st.integers(0, 2**16))
def test_power_map_parseval_and_folding(shape: tuple[int, ...], seed: int) -> None:
    ndim = len(shape)
    x = _signal(shape, seed)
    power = power_map(x, ndim)
    assert power.dtype == torch.float64 and tuple(power.shape) == (
        *shape[:-1],
        shape[-1] // 2 + 1,
    )
    n = math.prod(shape)
    torch.testing.assert_close(power.sum(), n * x.square().sum(), rtol=1e-12, atol=0)
    # Bin by bin: each one-sided bin carries its own and its mirror's energy.
    torch.testing.assert_close(power, _folded_full_power(x, ndim), rtol=1e-10, atol=1e-10)


def test_power_map_precision_and_graph() -> None:
    x = torch.randn(4, 3, 9, 10, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        power = power_map(x, 2)
    assert power.dtype == torch.float32 and not power.requires_grad
    torch.testing.assert_close(power.sum(), 90 * x.detach().square().sum(), rtol=1e-5, atol=0)
    half = power_map(x.detach().to(torch.float16), 1)
    assert half.dtype == torch.float32 and torch.isfinite(half).all()


@settings(max_examples=40)
@given(shape=shapes, seed=st.integers(0, 2**16), compression=st.floats(0, 0.99))
def test_band_energy_fraction_is_the_masked_share(shape, seed: int, compression: float) -> None:
    power = power_map(_signal(shape, seed), len(shape))
    band = band_for(shape, compression)
    fraction = band_energy_fraction(power, band)
    expected = (power * band.mask()).sum() / power.sum()
    assert fraction.dim() == 0
    torch.testing.assert_close(fraction, expected, rtol=1e-12, atol=1e-12)
    assert 0.0 <= fraction.item() <= 1.0 + 1e-12


@settings(max_examples=30)
@given(shape=shapes, seed=st.integers(0, 2**16))
def test_retained_energy_along_the_chain(shape: tuple[int, ...], seed: int) -> None:
    power = power_map(_signal(shape, seed), len(shape))
    chain = band_chain(shape)
    fractions = retained_energy(power, chain)
    assert fractions.shape == (len(chain),)
    assert bool((fractions[1:] >= fractions[:-1] - 1e-12).all())  # monotone along the chain
    torch.testing.assert_close(fractions[-1], torch.tensor(1.0, dtype=torch.float64))
    for band, fraction in zip(chain, fractions, strict=True):
        torch.testing.assert_close(fraction, band_energy_fraction(power, band))


def test_zero_power_retains_everything() -> None:
    power = torch.zeros(8, 5)
    assert band_energy_fraction(power, band_for((8, 8), 0.9)).item() == 1.0
    assert band_for_energy(power, (8, 8), 0.99).num_kept == 1  # nothing to keep


@settings(max_examples=40)
@given(shape=shapes, seed=st.integers(0, 2**16), energy=st.floats(0.01, 1.0))
def test_band_for_energy_is_the_smallest_sufficient_band(shape, seed: int, energy: float) -> None:
    x = _signal(shape, seed)
    if len(shape) == 2:  # tilt the spectrum to low frequencies so that bands differ more
        x = x.cumsum(-1).cumsum(-2)
    power = power_map(x, len(shape))
    chain = band_chain(shape)
    fractions = [((power * b.mask()).sum() / power.sum()).item() for b in chain]
    assume(all(abs(f - energy) > 1e-5 for f in fractions))  # away from ties with round-off
    expected = next(b for b, f in zip(chain, fractions, strict=True) if f >= energy)
    chosen = band_for_energy(power, shape, energy)
    assert chosen == expected
    assert band_energy_fraction(power, chosen).item() >= energy
    if chosen != chain[0]:
        smaller = chain[chain.index(chosen) - 1]
        assert band_energy_fraction(power, smaller).item() < energy


def test_smooth_signals_get_high_compression() -> None:
    grid = torch.linspace(-1, 1, 32)
    blob = torch.exp(-(grid[:, None] ** 2 + grid[None, :] ** 2) / 0.3)  # smooth, low-pass
    images = blob * torch.randn(8, 3, 1, 1)
    smooth = band_for_energy(power_map(images, 2), (32, 32), 0.99)
    noise = band_for_energy(power_map(torch.randn(8, 3, 32, 32), 2), (32, 32), 0.99)
    assert smooth.compression > 0.9
    assert noise.compression < 0.05
    series = torch.sin(torch.linspace(0, 4 * math.pi, 256)) + 0.01 * torch.randn(4, 256)
    assert band_for_energy(power_map(series, 1), (256,), 0.95).compression > 0.95


def test_full_energy_keeps_the_full_band_for_noise() -> None:
    power = power_map(torch.randn(16, 2, 12, 9), 2)
    assert band_for_energy(power, (12, 9), 1.0).is_full


@pytest.mark.parametrize("energy", [0, 0.0, -0.5, 1.01, float("nan"), float("inf")])
def test_band_for_energy_bad_energy(energy) -> None:
    with pytest.raises(ValueError, match=r"`energy` must be (finite and )?in \(0, 1\], got "):
        band_for_energy(torch.ones(8, 5), (8, 8), energy)


@pytest.mark.parametrize("energy", ["0.9", None, True])
def test_band_for_energy_energy_of_wrong_type(energy) -> None:
    with pytest.raises(TypeError, match=r"`energy` must be a number in \(0, 1\], got "):
        band_for_energy(torch.ones(8, 5), (8, 8), energy)


def test_shape_mismatch() -> None:
    with pytest.raises(ValueError, match=r"`power` has shape \(8, 4\), expected \(8, 5\)"):
        band_for_energy(torch.ones(8, 4), (8, 8), 0.9)
    with pytest.raises(ValueError, match=r"`power` has shape \(8, 4\), the band expects \(8, 5\)"):
        band_energy_fraction(torch.ones(8, 4), band_for((8, 8), 0.5))
    with pytest.raises(ValueError, match=r"`signal_shape`"):
        band_for_energy(torch.ones(5), (8, 8, 8), 0.9)


@pytest.mark.parametrize("ndim", [1, 2])
def test_power_map_of_an_empty_batch_is_zero(ndim: int) -> None:
    from lightning_spectral.functional import power_map

    shape = (0, 3, 8) if ndim == 1 else (0, 3, 8, 6)
    power = power_map(torch.randn(shape), ndim)
    assert power.shape == ((5,) if ndim == 1 else (8, 4)) and not power.any()
