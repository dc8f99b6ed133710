"""Selection (``lightning_spectral.transforms._select``): patterns that match nothing are never
silent, in every transform and in ``set_compression_``."""

from __future__ import annotations

import warnings

import pytest
from torch import nn

from lightning_spectral import transforms as T


def _net() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2), nn.Conv2d(2, 2, 3))


@pytest.mark.parametrize(
    "transform",
    [
        lambda m, **kw: T.band_limit_(m, **kw),
        lambda m, **kw: T.replace_pooling_(m, **kw),
        lambda m, **kw: T.parametrize_spectral_(m, **kw),
    ],
    ids=["band_limit_", "replace_pooling_", "parametrize_spectral_"],
)
def test_an_include_that_matches_nothing_warns_with_the_pattern_and_layer_names(transform):
    model = _net()
    with pytest.warns(T.SpectralTransformWarning, match=r"include='nett\.\*'") as record:
        report = transform(model, include="nett.*")
    assert report.changed == [] and report.unmatched == ["include='nett.*'"]
    message = str(record[0].message)
    assert "layers include: 0" in message or "layers include: 1" in message


def test_only_the_patterns_that_matched_nothing_are_named():
    with pytest.warns(T.SpectralTransformWarning) as record:
        report = T.band_limit_(_net(), include=["0", "9"], exclude=["2", "re:x.*"])
    assert report.changed == ["0"]
    assert report.unmatched == ["include='9'", "exclude='re:x.*'"]
    assert "include='0'" not in str(record[0].message)


def test_a_pattern_naming_a_layer_of_another_kind_matched_nothing():
    # "1" is the max pool: band limiting considers convolutions only.
    with pytest.warns(T.SpectralTransformWarning, match="include='1'.*ConvNd layers include"):
        T.band_limit_(_net(), include="1")


def test_patterns_that_all_match_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        T.band_limit_(_net(), include="*", exclude="2")


def test_set_compression_selection_that_matches_nothing_warns():
    model = _net()
    T.band_limit_(model, compression=0.5, include="0")
    with pytest.warns(T.SpectralTransformWarning, match=r"set_compression_.*include='2'"):
        assert T.set_compression_(model, compression=0.25, include="2") == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert T.set_compression_(model, compression=0.25, include="0") == ["0"]
