"""Band geometry: kept set, Hermitian safety, the nested chain and the quantization rule."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lightning_spectral.functional import Band, band_chain, band_for, check_compression
from lightning_spectral.functional import band as band_module
from lightning_spectral.functional.band import spectrum_shape

sizes = st.integers(1, 40)
shapes_1d = st.tuples(sizes)
shapes_2d = st.tuples(sizes, sizes)
shapes = st.one_of(shapes_1d, shapes_2d)
compressions = st.floats(0.0, 1.0, exclude_max=True, allow_nan=False)


def _level_set(shape: tuple[int, int], level: Fraction) -> torch.Tensor:
    """Documented rule: keep (f_r, f_c) with |f_r| / H <= t and f_c / W <= t."""
    height, width = shape
    rows = torch.tensor([Fraction(min(r, height - r), height) <= level for r in range(height)])
    cols = torch.tensor([Fraction(c, width) <= level for c in range(width // 2 + 1)])
    return rows[:, None] & cols[None, :]


def _two_sided_mask(band: Band) -> torch.Tensor:
    """The one-sided mask extended to the full ``fft2`` grid by conjugate symmetry: bin (r, c)
    with c > W // 2 is the conjugate of the one-sided bin (-r, W - c)."""
    height, width = band.signal_shape
    rows = torch.arange(height)[:, None]
    cols = torch.arange(width)[None, :]
    mirrored = cols > width // 2
    source_rows = torch.where(mirrored, (-rows) % height, rows)
    source_cols = torch.where(mirrored, width - cols, cols)
    return band.mask()[source_rows, source_cols]


@given(shape=shapes, compression=compressions)
def test_mask_matches_slices(shape: tuple[int, ...], compression: float) -> None:
    band = band_for(shape, compression)
    mask = band.mask()
    assert tuple(mask.shape) == spectrum_shape(shape) == band.spectrum_shape
    assert int(mask.sum()) == band.num_kept == math.prod(band.kept_shape)
    assert band.num_total == mask.numel()
    assert band.compression == pytest.approx(1 - band.num_kept / band.num_total, abs=0)
    expected = torch.zeros_like(mask)
    if len(shape) == 1:
        assert band.rows_bottom == 0 and band.kept_shape == (band.cols,)
        expected[: band.cols] = True
    else:
        height = shape[0]
        expected[: band.rows_top, : band.cols] = True
        expected[height - band.rows_bottom :, : band.cols] = True
        assert band.row_indices() == sorted(set(band.row_indices()))  # no row kept twice
        assert band.kept_shape == (band.rows_top + band.rows_bottom, band.cols)
    assert torch.equal(mask, expected)


@settings(max_examples=50)
@given(shape=shapes_2d, compression=compressions)
def test_band_is_hermitian_safe(shape: tuple[int, int], compression: float) -> None:
    band = band_for(shape, compression)
    height = shape[0]
    rows = set(band.row_indices())
    assert rows == {(-r) % height for r in rows}
    # Masking the one-sided spectrum is the same as masking the full two-sided spectrum with a
    # conjugate-symmetric mask, whose inverse is real.
    gen = torch.Generator().manual_seed(sum(shape))
    x = torch.randn(shape, generator=gen, dtype=torch.float64)
    one_sided = torch.fft.irfft2(torch.fft.rfft2(x) * band.mask(), s=shape)
    two_sided = torch.fft.ifft2(torch.fft.fft2(x) * _two_sided_mask(band))
    assert two_sided.imag.abs().max() < 1e-12
    torch.testing.assert_close(one_sided, two_sided.real, rtol=0, atol=1e-12)


@given(shape=shapes)
def test_chain_is_nested_from_dc_to_full(shape: tuple[int, ...]) -> None:
    chain = band_chain(shape)
    assert chain[0].num_kept == 1 and bool(chain[0].mask().flatten()[0])
    assert chain[-1].is_full and chain[-1].compression == 0.0
    for smaller, larger in itertools.pairwise(chain):
        assert smaller.num_kept < larger.num_kept
        assert bool((smaller.mask() <= larger.mask()).all())  # strict subset
    if len(shape) == 1:
        assert [b.cols for b in chain] == list(range(1, shape[0] // 2 + 2))
        return
    # Documented rule: the level sets at every level where a row pair or a column enters are
    # all in the chain; where both enter at once, the column-only step comes in between.
    height, width = shape
    levels = {Fraction(f, height) for f in range(height // 2 + 1)}
    levels |= {Fraction(j, width) for j in range(width // 2 + 1)}
    masks = [band.mask() for band in chain]
    level_sets = [_level_set(shape, t) for t in sorted(levels)]
    for level_set in level_sets:
        assert any(torch.equal(level_set, m) for m in masks)
    for index, band in enumerate(chain):
        if not any(torch.equal(masks[index], ls) for ls in level_sets):
            before, after = chain[index - 1], chain[index + 1]
            assert band.row_half == before.row_half and band.cols > before.cols
            assert band.cols == after.cols and after.row_half > band.row_half
            assert any(torch.equal(masks[index + 1], ls) for ls in level_sets)


@given(shape=shapes, data=st.data())
def test_achieved_compression_is_closest_in_chain(shape: tuple[int, ...], data) -> None:
    chain = band_chain(shape)
    if data.draw(st.booleans(), label="midpoint") and len(chain) > 1:
        # Half way between two neighbours: the tie-breaking case.
        i = data.draw(st.integers(0, len(chain) - 2), label="pair")
        compression = (chain[i].compression + chain[i + 1].compression) / 2
    else:
        compression = data.draw(compressions, label="compression")
    band = band_for(shape, compression)
    assert band in chain
    errors = [abs(b.compression - compression) for b in chain]
    best = min(errors)
    assert abs(band.compression - compression) == best
    # Ties go to the larger band (less compression).
    tied = [b for b, e in zip(chain, errors, strict=True) if e == best]
    assert band == max(tied, key=lambda b: b.num_kept)


@given(shape=shapes, low=compressions, high=compressions)
def test_higher_compression_keeps_a_subset(shape, low: float, high: float) -> None:
    low, high = sorted((low, high))
    keep_low, keep_high = band_for(shape, low).mask(), band_for(shape, high).mask()
    assert bool((keep_high <= keep_low).all())


@given(shape=shapes)
def test_extremes(shape: tuple[int, ...]) -> None:
    assert band_for(shape, 0.0).is_full
    assert band_for(shape, 0).mask().all()
    dc_only = band_for(shape, 1.0 - 1e-9)
    assert dc_only.num_kept == 1 and bool(dc_only.mask().flatten()[0])


def test_deterministic_and_history_free() -> None:
    requests = [((34, 18), 0.5), ((7,), 0.3), ((5, 12), 0.9), ((34, 18), 0.25)]
    first = [band_for(shape, c) for shape, c in requests]
    # Clearing the caches and asking in another order gives the same bands.
    band_chain.cache_clear()
    band_module._band_for.cache_clear()
    again = [band_for(shape, c) for shape, c in reversed(requests)][::-1]
    assert first == again
    assert [b.kept_shape for b in first] == [b.kept_shape for b in again]


@pytest.mark.parametrize(
    ("shape", "compression", "kept"),
    [
        ((8,), 0.0, (5,)),
        ((8,), 0.5, (3,)),  # 5 coefficients: keep 3 (0.4) and 2 (0.6) tie -> larger band
        ((8,), 0.8, (1,)),
        # (8, 8) chain keeps 1, 2, 6, 9, 15, 20, 28, 35, 40 of 40 (column steps in between).
        ((8, 8), 0.75, (3, 3)),  # 9 kept: 0.775 beats 0.625 and 0.85
        ((8, 8), 0.5, (5, 4)),  # 20 kept: exactly 0.5
        ((4, 16), 0.5, (3, 6)),  # non-square: rows {0, +-1}, cols 0..5 of 9: exactly 0.5
    ],
)
def test_known_bands(shape, compression, kept) -> None:
    assert band_for(shape, compression).kept_shape == kept


def test_band_repr_and_rows() -> None:
    band = band_for((8, 8), 0.5)
    assert "compression=0.5000" in repr(band)
    assert band.row_indices() == [0, 1, 2, 6, 7]
    with pytest.raises(ValueError, match="1D band has no rows"):
        band_for((8,), 0.5).row_indices()


def test_check_compression_accepts_numbers_and_scalar_tensors() -> None:
    assert check_compression(0) == 0.0 and isinstance(check_compression(0), float)
    assert check_compression(torch.tensor(0.25)) == 0.25


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (-0.1, ValueError, r"`compression` must be in \[0, 1\), got -0.1"),
        (1.0, ValueError, r"`compression` must be in \[0, 1\), got 1.0"),
        (1.5, ValueError, r"got 1.5"),
        (float("nan"), ValueError, r"`compression`.*got nan"),
        (float("inf"), ValueError, r"`compression`.*got inf"),
        ("0.5", TypeError, r"`compression`.*got '0.5'"),
        (None, TypeError, r"`compression`.*got None"),
        (True, TypeError, r"`compression`.*got True"),
        (torch.tensor([0.1, 0.2]), TypeError, r"`compression`"),
    ],
)
def test_bad_compression(value, error, match) -> None:
    with pytest.raises(error, match=match):
        band_for((8, 8), value)
    with pytest.raises(error, match=match):
        check_compression(value)


@pytest.mark.parametrize("shape", [(), (0,), (4, 0), (2, 3, 4), (-1, 4)])
def test_bad_signal_shape(shape) -> None:
    with pytest.raises(ValueError, match=r"`signal_shape` must be 1 or 2 positive sizes"):
        band_chain(shape)
    with pytest.raises(ValueError, match=r"`signal_shape`"):
        band_for(shape, 0.5)
