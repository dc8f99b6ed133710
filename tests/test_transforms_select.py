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


# ---------------------------------------------------------------------------------------------
# filter_fn: a predicate besides the patterns (as torchao's quantize_)
# ---------------------------------------------------------------------------------------------


def _mixed() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(4, 4, 3, padding=1),
        nn.Conv2d(4, 4, 1),
        nn.Conv2d(4, 4, 3, padding=1, groups=4),
        nn.MaxPool2d(2),
        nn.AvgPool2d(2),
    )


def _band_limited(model: nn.Module) -> nn.Module:
    T.band_limit_(model)
    return model


def test_filter_fn_selects_by_kernel_size_and_groups():
    model = _mixed()
    report = T.band_limit_(model, filter_fn=lambda m, name: m.kernel_size == (3, 3))
    assert report.changed == ["0", "2"]
    assert type(model[1]) is nn.Conv2d
    # Combined with patterns: both must select the layer.
    report = T.set_compression_(model, compression=0.25, filter_fn=lambda m, _: m.groups > 1)
    assert report == ["2"]
    assert model[0].compression == 0.5 and model[2].compression == 0.25
    fresh = _mixed()
    report = T.parametrize_spectral_(
        fresh, include=["0", "2"], filter_fn=lambda m, name: m.groups == 1
    )
    assert report.changed == ["0"]


def test_filter_fn_receives_the_fully_qualified_name_and_selects_pools():
    model = nn.Sequential(nn.Sequential(nn.MaxPool2d(2)), nn.AvgPool2d(2))
    seen = []

    def by_name(module: nn.Module, name: str) -> bool:
        seen.append((type(module).__name__, name))
        return name.startswith("0.")

    assert T.replace_pooling_(model, filter_fn=by_name).changed == ["0.0"]
    assert ("MaxPool2d", "0.0") in seen and ("AvgPool2d", "1") in seen
    assert type(model[1]) is nn.AvgPool2d


@pytest.mark.parametrize(
    "transform",
    [
        lambda m, **kw: T.band_limit_(m, **kw),
        lambda m, **kw: T.replace_pooling_(m, **kw),
        lambda m, **kw: T.parametrize_spectral_(m, **kw),
        lambda m, **kw: T.set_compression_(_band_limited(m), **kw),
    ],
    ids=["band_limit_", "replace_pooling_", "parametrize_spectral_", "set_compression_"],
)
def test_a_filter_fn_that_selects_nothing_warns_like_a_pattern(transform):
    def large_kernels(module: nn.Module, name: str) -> bool:
        return getattr(module, "kernel_size", 0) in ((7, 7), 7)

    with pytest.warns(T.SpectralTransformWarning, match=r"filter_fn=.*large_kernels") as record:
        transform(_mixed(), filter_fn=large_kernels)
    assert len(record) == 1


def test_a_filter_fn_that_returns_a_non_bool_is_a_type_error():
    with pytest.raises(TypeError, match=r"`filter_fn` must return a bool, got \(3, 3\)"):
        T.band_limit_(_mixed(), filter_fn=lambda m, name: m.kernel_size)
