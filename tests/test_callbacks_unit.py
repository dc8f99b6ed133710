"""Arguments shared by the callbacks (selection patterns, normalisation, YAML): no training loop
runs here. Per-callback argument tables are in `tests/test_callbacks_<module>.py`."""

from __future__ import annotations

import re

import pytest
import yaml
from _assertions import raises_naming
from jsonargparse import ArgumentParser

from lightning_spectral import (
    BandLimitCallback,
    EnergyCompressionMonitor,
    ResolutionDropoutScheduler,
    SpectralParametrizationCallback,
    SpectralPoolingCallback,
)

REWRITERS = [BandLimitCallback, SpectralParametrizationCallback, SpectralPoolingCallback]
ALL = [*REWRITERS, ResolutionDropoutScheduler, EnergyCompressionMonitor]


@pytest.mark.parametrize("cls", [SpectralParametrizationCallback, SpectralPoolingCallback])
@pytest.mark.parametrize(
    ("kwargs", "error", "bad"),
    [
        ({"include": 1.5}, TypeError, 1.5),
        ({"include": [None]}, TypeError, None),
        ({"include": ["ok", ""]}, ValueError, ["ok", ""]),
        ({"exclude": "re:*"}, ValueError, "re:*"),
        ({"exclude": "re:"}, ValueError, "re:"),
    ],
)
def test_selection_patterns_rejected(cls, kwargs, error, bad):
    with raises_naming(error, bad):
        cls(**kwargs)


def test_valid_arguments_are_normalised():
    cb = BandLimitCallback(
        compression=0.25,
        mode="fixed",
        include="net.features.*",
        exclude=["re:.*head.*"],
        schedule={"3": 0.75, 0: 0.25},
    )
    assert cb.include == ["net.features.*"]
    assert cb.exclude == ["re:.*head.*"]
    assert cb.schedule == {0: 0.25, 3: 0.75}
    assert [cb.compression_at(e) for e in range(5)] == [0.25, 0.25, 0.25, 0.75, 0.75]
    late = BandLimitCallback(compression=0.1, schedule={2: 0.6})
    assert [late.compression_at(e) for e in range(4)] == [0.1, 0.1, 0.6, 0.6]
    energy = BandLimitCallback(mode="energy", energy=1)
    assert energy.energy == 1.0 and isinstance(energy.energy, float)
    drop = ResolutionDropoutScheduler(alpha=0.3, beta=0.1, scheduling={2: [0.5, 0.4]})
    assert [drop.coefficients_at(e) for e in (0, 1, 2, 9)] == [(0.3, 0.1)] * 2 + [(0.5, 0.4)] * 2


# --------------------------------------------------------------------------------------------
# LightningCLI compatibility: plain YAML in, documented arguments
# --------------------------------------------------------------------------------------------

YAML_CONFIGS = {
    BandLimitCallback: """
        compression: 0.5
        eval_compression: 0.25
        include: [net.features.0]
        schedule: {0: 0.25, 2: 0.5}
    """,
    SpectralParametrizationCallback: "exclude: 're:.*head.*'",
    SpectralPoolingCallback: "kinds: [max]",
    ResolutionDropoutScheduler: "alpha: 0.4\nbeta: 0.2\nscheduling: {3: [0.5, 0.25]}",
    EnergyCompressionMonitor: "logging_interval: step\nlog_spectra_every_n_epochs: 2",
}


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_arguments_parse_from_yaml_with_docs(cls):
    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(cls, "callback")
    config = parser.parse_object({"callback": yaml.safe_load(YAML_CONFIGS[cls])})
    callback = parser.instantiate(config).callback
    assert isinstance(callback, cls)
    for key, value in yaml.safe_load(YAML_CONFIGS[cls]).items():
        assert getattr(config.callback, key) == value
    # Google-style Args become --help text.
    help_text = parser.format_help()
    for name in yaml.safe_load(YAML_CONFIGS[cls]):
        assert f"--callback.{name}" in help_text
    assert "(type:" in help_text and "default:" in help_text
    described = re.findall(r"--callback\.\w+ .*\n\s+(\S.*)", help_text)
    assert described and all(not line.startswith("(type:") for line in described)
