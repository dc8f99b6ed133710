"""One rule, one place: every layer that takes an argument accepts and refuses the same values.

Each callback, the transform it wraps and (where they share an argument) the module constructor
run over one table of good and bad values; the outcomes must be identical: no error for the good
values, and for the bad ones the same exception type (``TypeError`` for a wrong type,
``ValueError`` for a wrong value) with the same message, which names the argument and the value.
The checks themselves (``lightning_spectral.functional.validation``) are tested at the end.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from torch import nn

from lightning_spectral import transforms
from lightning_spectral.callbacks import (
    BandLimitCallback,
    EnergyCompressionMonitor,
    ResolutionDropoutScheduler,
    SpectralParametrizationCallback,
    SpectralPoolingCallback,
)
from lightning_spectral.functional import (
    check_bool,
    check_callable,
    check_choice,
    check_int,
    check_number,
    check_subset,
)
from lightning_spectral.nn import BandLimitedConv1d, BandLimitedConv2d, SpectralPool2d


def _model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2), nn.Conv1d(2, 2, 3))


def outcome(build: Callable[[], Any]) -> tuple[str, str] | None:
    """``None`` if ``build()`` succeeds, else ``(exception type name, message)``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an unmatched pattern warns; not an outcome here
            build()
    except Exception as error:
        return type(error).__name__, str(error)
    return None


# ------------------------------------------------------------------------------------------
# The table: (argument, value, expected exception type or None)
# ------------------------------------------------------------------------------------------

COMPRESSION = [
    (0.0, None),
    (0.5, None),
    (1, ValueError),
    (-0.1, ValueError),
    (math.nan, ValueError),
    (math.inf, ValueError),
    ("0.5", TypeError),
    (True, TypeError),
    ([0.5], TypeError),
]
EVAL_COMPRESSION = [(None, None), *COMPRESSION]
# (mode, energy): the pair is checked together.
MODE_ENERGY = [
    (("fixed", None), None),
    (("energy", 0.9), None),
    (("energy", 1), None),
    (("energy", None), ValueError),
    (("energy", 0.0), ValueError),
    (("energy", 1.5), ValueError),
    (("energy", math.nan), ValueError),
    (("energy", "x"), TypeError),
    (("energy", False), TypeError),
    (("fixed", 0.9), ValueError),
    (("Fixed", None), ValueError),
    ((None, None), TypeError),
    ((1, None), TypeError),
]
PATTERNS = [
    (None, None),
    ("conv*", None),
    (["0", "re:[12]"], None),
    (("0",), None),
    ([""], ValueError),
    ("", ValueError),
    ("re:", ValueError),
    ("re:(", ValueError),
    ([3], TypeError),
    (3, TypeError),
    ({"0"}, TypeError),
    (b"0", TypeError),
]
KINDS = [
    ("max", None),
    (["max", "avg"], None),
    (("adaptive_avg",), None),
    ([], ValueError),
    (["max", "max"], ValueError),
    (["min"], ValueError),
    ("", ValueError),
    ({"max"}, TypeError),
    ([1], TypeError),
    (None, TypeError),
]
DROPOUT_MIN = [
    (None, None),
    (0.0, None),
    (1, None),
    (-0.5, ValueError),
    (1.5, ValueError),
    (math.nan, ValueError),
    ("0.5", TypeError),
    (True, TypeError),
]


def _ids(table: list[tuple[Any, Any]]) -> list[str]:
    return [f"{value!r}->{getattr(error, '__name__', 'ok')}" for value, error in table]


def _check(builders: dict[str, Callable[[], Any]], error: type[Exception] | None) -> None:
    outcomes = {layer: outcome(build) for layer, build in builders.items()}
    first = next(iter(outcomes.values()))
    assert all(o == first for o in outcomes.values()), f"layers disagree: {outcomes}"
    if error is None:
        assert first is None, f"a good value was refused: {outcomes}"
    else:
        assert first is not None, f"a bad value was accepted by every layer: {outcomes}"
        assert first[0] == error.__name__, f"expected {error.__name__}, got {first}"


@pytest.mark.parametrize(("value", "error"), COMPRESSION, ids=_ids(COMPRESSION))
@pytest.mark.parametrize("argument", ["compression", "eval_compression"])
def test_compression_is_one_rule(argument, value, error):
    builders = {
        "BandLimitCallback": lambda: BandLimitCallback(**{argument: value}),
        "band_limit_": lambda: transforms.band_limit_(_model(), **{argument: value}),
        "set_compression_": lambda: transforms.set_compression_(_model(), **{argument: value}),
        "BandLimitedConv2d": lambda: BandLimitedConv2d(1, 1, 3, **{argument: value}),
        "BandLimitedConv1d": lambda: BandLimitedConv1d(1, 1, 3, **{argument: value}),
    }
    _check(builders, error)
    if error is not None:
        assert f"`{argument}`" in outcome(builders["band_limit_"])[1]
        assert repr(value) in outcome(builders["band_limit_"])[1]


@pytest.mark.parametrize(("value", "error"), EVAL_COMPRESSION[:1], ids=["None->ok"])
def test_eval_compression_none_follows_train(value, error):
    _check(
        {
            "BandLimitCallback": lambda: BandLimitCallback(eval_compression=value),
            "band_limit_": lambda: transforms.band_limit_(_model(), eval_compression=value),
            "BandLimitedConv2d": lambda: BandLimitedConv2d(1, 1, 3, eval_compression=value),
        },
        error,
    )


@pytest.mark.parametrize(("pair", "error"), MODE_ENERGY, ids=_ids(MODE_ENERGY))
def test_mode_and_energy_are_one_rule(pair, error):
    mode, energy = pair
    kwargs = {"mode": mode, "energy": energy}
    _check(
        {
            "BandLimitCallback": lambda: BandLimitCallback(**kwargs),
            "band_limit_": lambda: transforms.band_limit_(_model(), **kwargs),
            "BandLimitedConv2d": lambda: BandLimitedConv2d(1, 1, 3, **kwargs),
            "BandLimitedConv1d": lambda: BandLimitedConv1d(1, 1, 3, **kwargs),
        },
        error,
    )


TRANSFORM_SIZE = [
    ("padded", None),
    ("full", None),
    ("Full", ValueError),
    ("", ValueError),
    (None, TypeError),
    (65, TypeError),
]


@pytest.mark.parametrize(("value", "error"), TRANSFORM_SIZE, ids=_ids(TRANSFORM_SIZE))
def test_transform_size_is_one_rule(value, error):
    import torch

    from lightning_spectral.functional import bandlimited_conv1d

    kwargs = {"transform_size": value}
    _check(
        {
            "BandLimitCallback": lambda: BandLimitCallback(**kwargs),
            "band_limit_": lambda: transforms.band_limit_(_model(), **kwargs),
            "BandLimitedConv2d": lambda: BandLimitedConv2d(1, 1, 3, **kwargs),
            "BandLimitedConv1d": lambda: BandLimitedConv1d(1, 1, 3, **kwargs),
            "bandlimited_conv1d": lambda: bandlimited_conv1d(
                torch.randn(1, 1, 8), torch.randn(1, 1, 3), compression=0.5, **kwargs
            ),
        },
        error,
    )


@pytest.mark.parametrize(("value", "error"), PATTERNS, ids=_ids(PATTERNS))
@pytest.mark.parametrize("argument", ["include", "exclude"])
def test_patterns_are_one_rule(argument, value, error):
    kwargs = {argument: value}
    builders = {
        "BandLimitCallback": lambda: BandLimitCallback(**kwargs),
        "band_limit_": lambda: transforms.band_limit_(_model(), **kwargs),
        "set_compression_": lambda: transforms.set_compression_(_model(), **kwargs),
        "SpectralPoolingCallback": lambda: SpectralPoolingCallback(**kwargs),
        "replace_pooling_": lambda: transforms.replace_pooling_(_model(), **kwargs),
        "SpectralParametrizationCallback": lambda: SpectralParametrizationCallback(**kwargs),
        "parametrize_spectral_": lambda: transforms.parametrize_spectral_(_model(), **kwargs),
        "check_patterns": lambda: transforms.check_patterns(value, argument),
    }
    _check(builders, error)
    if error is not None:
        message = outcome(builders["band_limit_"])[1]
        assert f"`{argument}`" in message
        assert repr(value) in message or repr(next(iter(value))) in message


@pytest.mark.parametrize(("value", "error"), KINDS, ids=_ids(KINDS))
def test_pool_kinds_are_one_rule(value, error):
    _check(
        {
            "SpectralPoolingCallback": lambda: SpectralPoolingCallback(kinds=value),
            "replace_pooling_": lambda: transforms.replace_pooling_(_model(), kinds=value),
            "check_pool_kinds": lambda: transforms.check_pool_kinds(value),
        },
        error,
    )
    if error is not None:
        message = outcome(lambda: SpectralPoolingCallback(kinds=value))[1]
        assert "`kinds`" in message and repr(value) in message


@pytest.mark.parametrize(("value", "error"), DROPOUT_MIN, ids=_ids(DROPOUT_MIN))
def test_dropout_min_is_one_rule(value, error):
    _check(
        {
            "replace_pooling_": lambda: transforms.replace_pooling_(_model(), dropout_min=value),
            "SpectralPool2d": lambda: SpectralPool2d(4, dropout_min=value),
        },
        error,
    )


@pytest.mark.parametrize(("value", "error"), [v for v in DROPOUT_MIN if v[0] is not None])
@pytest.mark.parametrize("argument", ["alpha", "beta"])
def test_resolution_dropout_coefficients_follow_the_number_rule(argument, value, error):
    # The scheduler's coefficients are fractions in [0, 1] like the pools' `dropout_min`.
    got = outcome(lambda: ResolutionDropoutScheduler(**{argument: value}))
    expected = outcome(lambda: check_number(value, argument, 0.0, 1.0))
    assert got == expected
    assert (got is None) == (error is None)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"logging_interval": "step"}, None),
        ({"logging_interval": "batch"}, ValueError),
        ({"logging_interval": None}, TypeError),
        ({"log_spectra_every_n_epochs": 2}, None),
        ({"log_spectra_every_n_epochs": 0}, ValueError),
        ({"log_spectra_every_n_epochs": 1.0}, TypeError),
        ({"log_spectra_every_n_epochs": True}, TypeError),
    ],
)
def test_monitor_arguments_use_the_shared_checks(kwargs, error):
    result = outcome(lambda: EnergyCompressionMonitor(**kwargs))
    assert (result is None) == (error is None)
    if error is not None:
        ((name, value),) = kwargs.items()
        assert result[0] == error.__name__ and f"`{name}`" in result[1] and repr(value) in result[1]


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_keep_existing_must_be_a_bool(value):
    with pytest.raises(TypeError, match=rf"`keep_existing` must be a bool, got {value!r}"):
        transforms.band_limit_(_model(), keep_existing=value)


@pytest.mark.parametrize(
    "transform",
    [
        transforms.band_limit_,
        transforms.set_compression_,
        transforms.replace_pooling_,
        transforms.parametrize_spectral_,
    ],
)
def test_filter_fn_must_be_callable_in_every_transform(transform):
    with pytest.raises(TypeError, match=r"`filter_fn` must be None or a callable, got 'conv'"):
        transform(_model(), filter_fn="conv")


# ------------------------------------------------------------------------------------------
# The checks themselves
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kwargs", "error"),
    [
        (0, {"low": 0.0, "low_open": True}, ValueError),
        (0, {"low": 0.0}, None),
        (1.0, {"high": 1.0, "high_open": True}, ValueError),
        (-math.inf, {}, ValueError),
        (math.nan, {}, ValueError),
        (1e300, {}, None),
        (None, {}, TypeError),
        (False, {}, TypeError),
        (1 + 0j, {}, TypeError),
    ],
)
def test_check_number(value, kwargs, error):
    if error is None:
        assert check_number(value, "x", **kwargs) == float(value)
        assert type(check_number(value, "x", **kwargs)) is float
    else:
        with pytest.raises(error, match=rf"^`x` must .*got {re.escape(repr(value))}$"):
            check_number(value, "x", **kwargs)


def test_check_int_bool_choice_subset_callable():
    assert check_int(0, "n", minimum=0) == 0
    with pytest.raises(ValueError, match="`n` must be an int >= 1, got 0"):
        check_int(0, "n", minimum=1)
    with pytest.raises(TypeError, match="`n` must be an int, got True"):
        check_int(True, "n")
    assert check_bool(False, "flag") is False
    with pytest.raises(TypeError, match="`flag` must be a bool, got 0"):
        check_bool(0, "flag")
    with pytest.raises(TypeError, match=r"`mode` must be one of \('a', 'b'\), got b'a'"):
        check_choice(b"a", "mode", ("a", "b"))
    assert check_subset(("b", "a"), "kinds", ("a", "b")) == ("b", "a")
    with pytest.raises(TypeError, match="`kinds`"):
        check_subset(iter(["a"]), "kinds", ("a",))
    assert check_callable(len, "fn") is len
    with pytest.raises(TypeError, match="`fn` must be None or a callable, got 3"):
        check_callable(3, "fn")
