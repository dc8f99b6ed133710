"""``lightning_spectral.transforms.band_limit``: ``band_limit_`` and ``set_compression_``."""

from __future__ import annotations

import warnings

import pytest
import torch
from _transform_helpers import Net, Zoo, transform_warnings
from torch import nn

from lightning_spectral import transforms as T
from lightning_spectral.nn import (
    BandLimitedConv1d,
    BandLimitedConv2d,
    is_spectrally_parametrized,
)


def test_band_limit_replaces_supported_convs_and_skips_the_rest_with_one_warning():
    model = Zoo()
    before = {name: p for name, p in model.named_parameters()}
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        report = T.band_limit_(model, compression=0.5)
    assert report.changed == ["stem", "body.0", "line"]
    assert type(model.stem) is BandLimitedConv2d and type(model.line) is BandLimitedConv1d
    assert model.body[0].padding_mode == "reflect"
    assert set(report.skipped) == {"up", "vol", "lazy", "custom"}
    assert "transposed" in report.skipped["up"]
    assert "3D" in report.skipped["vol"]
    assert "lazy" in report.skipped["lazy"]
    assert "own behaviour" in report.skipped["custom"]
    messages = transform_warnings(record)
    assert len(messages) == 1 and all(name in messages[0] for name in report.skipped)
    # The very same Parameter objects: an optimizer built before still holds them.
    after = dict(model.named_parameters())
    assert all(after[name] is before[name] for name in before)
    keys = set(model.state_dict())
    assert {"stem._extra_state", "body.0._extra_state", "line._extra_state"} <= keys


def test_band_limit_is_idempotent_and_reconfigures():
    model = Net()
    T.band_limit_(model, compression=0.5)
    state = model.state_dict()
    again = T.band_limit_(model, compression=0.5)
    assert again.changed == [] and again.unchanged == ["stem", "conv"]
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items() if "extra" not in k)
    assert model.stem.get_extra_state() == state["stem._extra_state"]
    changed = T.band_limit_(model, compression=0.3, eval_compression=0.1, include="stem")
    assert changed.changed == ["stem"]
    assert (model.stem.compression, model.stem.eval_compression) == (0.3, 0.1)
    assert model.conv.compression == 0.5


def test_energy_mode_reapplication_keeps_the_learned_band():
    model = Net()
    T.band_limit_(model, compression=0.0, mode="energy", energy=0.9)
    model.stem.compression = 0.42  # as update_band() would after an epoch
    report = T.band_limit_(model, compression=0.0, mode="energy", energy=0.9)
    assert model.stem.compression == 0.42 and "stem" in report.unchanged
    T.band_limit_(model, compression=0.0, mode="energy", energy=0.8)  # a new target resets
    assert model.stem.compression == 0.0 and model.stem.energy == 0.8


def test_bad_arguments_fail_before_any_rewrite():
    model = Net()
    with pytest.raises(ValueError, match="compression"):
        T.band_limit_(model, compression=1.0)
    with pytest.raises(ValueError, match="energy"):
        T.band_limit_(model, mode="energy")
    with pytest.raises(ValueError, match="invalid regex"):
        T.band_limit_(model, include="re:(")
    with pytest.raises(TypeError, match="patterns"):
        T.band_limit_(model, include=[3])
    assert type(model.stem) is nn.Conv2d


@pytest.mark.parametrize(
    ("include", "exclude", "expected"),
    [
        (None, None, ["stem", "body.0", "line"]),
        ("body.*", None, ["body.0"]),
        (None, "stem", ["body.0", "line"]),
        ("re:(stem|line)", None, ["stem", "line"]),
        (["stem", "line"], "re:l.*", ["stem"]),
        ("re:body", None, []),  # a regex must match the whole name
    ],
)
def test_include_exclude_patterns(include, exclude, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", T.SpectralTransformWarning)
        report = T.band_limit_(Zoo(), include=include, exclude=exclude)
    assert report.changed == expected


def test_shared_modules_hooks_and_root():
    shared = nn.Conv2d(2, 2, 3, padding=1)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    seen = []
    shared.register_forward_hook(lambda module, args, out: seen.append(type(module).__name__))
    report = T.band_limit_(model, compression=0.0)
    assert report.changed == ["0"]
    assert model[0] is model[2] and type(model[0]) is BandLimitedConv2d
    model(torch.randn(1, 2, 6, 6))
    assert seen == ["BandLimitedConv2d", "BandLimitedConv2d"]
    with pytest.warns(T.SpectralTransformWarning, match="root module"):
        root = T.band_limit_(nn.Conv2d(1, 1, 3))
    assert root.skipped == {"<root>": "the root module cannot be replaced in place"}


def test_set_compression_and_listing():
    model = Net()
    T.band_limit_(model, compression=0.5)
    assert [name for name, _ in T.spectral_modules(model)] == ["stem", "conv"]
    assert T.set_compression_(model, compression=0.25, exclude="conv") == ["stem"]
    assert T.set_compression_(model, compression=0.25, exclude="conv") == []
    assert T.set_compression_(model, eval_compression=0.1) == ["stem", "conv"]
    assert model.conv.compression == 0.5 and model.conv.eval_compression == 0.1
    with pytest.raises(ValueError, match="compression"):
        T.set_compression_(model, compression=2.0)


def test_band_limit_and_parametrization_commute():
    torch.manual_seed(0)
    first, second = Net().double().eval(), Net().double().eval()
    second.load_state_dict(first.state_dict())
    x = torch.randn(2, 3, 12, 12, dtype=torch.float64)
    T.band_limit_(first, compression=0.4)
    T.parametrize_spectral_(first)
    T.parametrize_spectral_(second)
    T.band_limit_(second, compression=0.4)
    assert first.state_dict().keys() == second.state_dict().keys()
    torch.testing.assert_close(first(x), second(x), rtol=0, atol=1e-12)
    assert is_spectrally_parametrized(second.stem) and isinstance(second.stem, BandLimitedConv2d)
    # The original spectral tensor moved over as is (exact, same Parameter object).
    assert T.plan_of(first) == T.plan_of(second)


def test_keep_existing_leaves_band_limited_layers_as_they_are():
    model = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3))
    T.band_limit_(model, compression=0.75, include="0")
    report = T.band_limit_(model, compression=0.25, keep_existing=True)
    assert (report.changed, report.unchanged) == (["1"], ["0"])
    assert model[0].compression == 0.75 and model[1].compression == 0.25
    with pytest.raises(TypeError, match="`keep_existing` must be a bool, got 'yes'"):
        T.band_limit_(model, keep_existing="yes")


def test_transform_size_reaches_the_layers_and_the_plan():
    model = Net()
    T.band_limit_(model, compression=0.5, transform_size="full", include="stem")
    T.band_limit_(model, compression=0.5, include="conv")
    assert (model.stem.transform_size, model.conv.transform_size) == ("full", "padded")
    plan = T.plan_of(model)["band_limit"]
    # Only a non-default size is written, so plans of default layers read as before; a plan
    # that holds one is version 2, which releases that would ignore the key refuse.
    assert plan["stem"]["transform_size"] == "full" and "transform_size" not in plan["conv"]
    assert T.plan_of(model)["version"] == 2 == T.PLAN_VERSION
    default = Net()
    T.band_limit_(default, compression=0.5)
    assert T.plan_of(default)["version"] == 1
    fresh = Net()
    T.apply_plan_(fresh, T.plan_of(model))
    assert (fresh.stem.transform_size, fresh.conv.transform_size) == ("full", "padded")
    fresh.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 12, 12)
    model.eval(), fresh.eval()
    assert torch.equal(fresh(x), model(x))
    # Reconfiguring to the other size is a change; an energy band learned at one size is not
    # kept at the other (it names another operator).
    assert T.band_limit_(model, compression=0.5, include="stem").changed == ["stem"]
    assert model.stem.transform_size == "padded"
    T.band_limit_(model, compression=0.0, mode="energy", energy=0.9, include="stem")
    model.stem.compression = 0.42
    T.band_limit_(
        model, compression=0.0, mode="energy", energy=0.9, include="stem", transform_size="full"
    )
    assert model.stem.compression == 0.0 and model.stem.transform_size == "full"
    with pytest.raises(ValueError, match=r"`transform_size` must be one of .*got 'linear'"):
        T.band_limit_(model, transform_size="linear")
