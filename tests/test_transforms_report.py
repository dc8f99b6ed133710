"""``lightning_spectral.transforms.report``: the report and the one warning per call."""

from __future__ import annotations

import warnings

import pytest

from lightning_spectral.transforms import SpectralTransformWarning, TransformReport
from lightning_spectral.transforms.report import warn_report


def test_str_lists_skipped_layers_and_unmatched_patterns():
    report = TransformReport("band_limit_", changed=["a"], skipped={"b": "3D"})
    report.unmatched.append("include='nett.*'")
    assert str(report) == (
        "band_limit_: 1 changed, 0 unchanged, 1 skipped\n"
        "  skipped b: 3D\n"
        "  matched no layer: include='nett.*'"
    )


def test_extend_combines_steps_without_repeating_a_pattern():
    total = TransformReport("apply_plan_", unmatched=["include='x'"])
    total.extend(TransformReport("s", changed=["a"], skipped={"b": "r"}, unmatched=["include='x'"]))
    assert (total.changed, total.skipped, total.unmatched) == (["a"], {"b": "r"}, ["include='x'"])


def test_warn_report_emits_one_warning_for_skips_and_patterns_and_none_when_clean():
    report = TransformReport("t", skipped={"a": "why"}, unmatched=["exclude='q'"])
    with pytest.warns(SpectralTransformWarning) as record:
        assert warn_report(report, "hint here") is report
    assert len(record) == 1
    assert "a (why)" in str(record[0].message) and "exclude='q' (hint here)" in str(
        record[0].message
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_report(TransformReport("t", changed=["a"]))
